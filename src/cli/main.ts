// The `outpost` command: one subcommand group per file, dispatched from this list.
import { runCommand, type Command } from './run.ts';
import { serve } from './serve.ts';
import { init, rotateKeys, status } from './vault.ts';

const commands: Record<string, Command> = {
  serve,
  init,
  status,
  'rotate-keys': rotateKeys,
};

function help(): string {
  return ['usage: outpost <command> [options]', '', 'commands:', ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.usage.split('\n')[1]?.trim() ?? ''}`), '', 'every command takes --config FILE and --json; `outpost <command> --help` for more'].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === 'help') {
    process.stdout.write(help() + '\n');
    return name ? 0 : 64;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`outpost: unknown command ${JSON.stringify(name)}\n${help()}\n`);
    return 64;
  }
  return runCommand(command, rest);
}

process.exitCode = await main(process.argv.slice(2));
