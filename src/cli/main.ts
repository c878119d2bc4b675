// The `outpost` command: one subcommand group per file, dispatched from these lists.
import { appCommands, authzCommands } from './a2a.ts';
import { adduser } from './adduser.ts';
import { audit } from './audit.ts';
import { centreCommands } from './centre.ts';
import { directoryCommands, notifications } from './directory.ts';
import { enrolCommands } from './enrol.ts';
import { runCommand, type Command } from './run.ts';
import { serve } from './serve.ts';
import { init, rotateKeys, status } from './vault.ts';

const commands: Record<string, Command> = {
  serve,
  init,
  status,
  'rotate-keys': rotateKeys,
  audit,
  notifications,
  adduser,
};

/** Commands with subcommands: `outpost app add …`. */
const groups: Record<string, { about: string; commands: Record<string, Command> }> = {
  app: { about: 'A2A applications: add, list, show, disable, enable, rotate-secret', commands: appCommands },
  authz: { about: 'A2A authorizations: add, list, show, disable, enable, rotate-secret', commands: authzCommands },
  directory: { about: 'the platform user feed (document 000): check, sync', commands: directoryCommands },
  enrol: { about: 'enrolment with a centre: request, accept, status', commands: enrolCommands },
  centre: { about: 'the upstream centre: init, enrol, group, broker-cert, push, serve, audit, status', commands: centreCommands },
};

const summary = (c: Command) => c.usage.split('\n')[1]?.trim() ?? '';

function help(): string {
  return [
    'usage: outpost <command> [options]',
    '',
    'commands:',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${summary(c)}`),
    ...Object.entries(groups).map(([name, g]) => `  ${name.padEnd(12)} ${g.about}`),
    '',
    'every command takes --config FILE and --json; `outpost <command> --help` for more',
  ].join('\n');
}

function groupHelp(name: string): string {
  const g = groups[name]!;
  return [`usage: outpost ${name} <subcommand> [options]`, '', ...Object.values(g.commands).map((c) => c.usage), ''].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === 'help') {
    process.stdout.write(help() + '\n');
    return name ? 0 : 64;
  }
  const group = Object.hasOwn(groups, name) ? groups[name] : undefined;
  if (group) {
    const [sub, ...args] = rest;
    if (!sub || sub === '--help' || sub === 'help') {
      process.stdout.write(groupHelp(name) + '\n');
      return sub ? 0 : 64;
    }
    const command = Object.hasOwn(group.commands, sub) ? group.commands[sub] : undefined;
    if (!command) return unknown(`${name} ${sub}`, rest.includes('--json'), groupHelp(name));
    return runCommand(command, args);
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) return unknown(name, rest.includes('--json'), help());
  return runCommand(command, rest);
}

function unknown(what: string, json: boolean, usage: string): number {
  const message = `unknown command ${JSON.stringify(what)}`;
  if (json) process.stdout.write(JSON.stringify({ error: { code: 'usage', message } }) + '\n');
  process.stderr.write(`outpost: ${message}\n${usage}\n`);
  return 64;
}

process.exitCode = await main(process.argv.slice(2));
