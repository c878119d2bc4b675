// A simulated Raspberry Pi for tests: a temp dir with a mailbox device file, an OTP file,
// and a `vcmailbox` wrapper that runs the stand-in firmware tool (fake-vcmailbox.mjs).
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FAKE_VCMAILBOX = fileURLToPath(new URL('./fake-vcmailbox.mjs', import.meta.url));

export interface PiBoard {
  dir: string;
  /** The simulated OTP rows (hex); absent = unprogrammed. */
  otp: string;
  vcmailbox: string;
  device: string;
}

export async function piBoard(opts: { key?: string; mode?: string } = {}): Promise<PiBoard> {
  const dir = await mkdtemp(join(tmpdir(), 'pi-otp-'));
  const otp = join(dir, 'otp');
  if (opts.key) await writeFile(otp, opts.key + '\n');
  const device = join(dir, 'vcio');
  await writeFile(device, '');
  const vcmailbox = join(dir, 'vcmailbox');
  const mode = opts.mode ? `FAKE_VCMAILBOX_MODE='${opts.mode}' ` : '';
  await writeFile(vcmailbox, `#!/bin/sh\n${mode}FAKE_VCMAILBOX_OTP='${otp}' exec '${FAKE_VCMAILBOX}' "$@"\n`);
  await chmod(vcmailbox, 0o755);
  return { dir, otp, vcmailbox, device };
}
