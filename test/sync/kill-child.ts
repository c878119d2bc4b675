// For the SIGKILL tests of the apply: a child that applies snapshots one after another and says
// `applied <seq>` after each, killed some time after its first one (so the next is mid-apply).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from '../helpers/vault.ts';

/** Runs `node --import tsx <script> ...args`, waits for its first `applied N`, then `ms`, SIGKILLs it; returns N. */
export async function killAfterFirstApply(script: string, args: string[], ms: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, script), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let buffer = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const applied = await new Promise<number>((done, fail) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      const first = lines.find((line) => line.startsWith('applied '));
      if (first) done(Number(first.slice(8)));
    });
    child.once('exit', (code) => fail(new Error(`${script} exited ${code}: ${stderr}`)));
  });
  await new Promise((r) => setTimeout(r, ms));
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGKILL');
  await exited;
  return applied;
}
