// The Raspberry Pi root: the 256-bit "device private key" burnt into the SoC's OTP, read and
// (once, if asked) programmed through the firmware mailbox with vcmailbox, exactly as
// rpi-otp-private-key does. See docs/root-pi-otp.md for the formats and where they come from.
import { execFile, type ExecFileException } from 'node:child_process';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { RootError, type RootOpened, type RootOpenRequest, type RootProvider } from './root.ts';

const GET_PRIVATE_KEY = 0x00030081;
const SET_PRIVATE_KEY = 0x00038081;
const ROWS = 8;
const VALUE_BYTES = 8 + ROWS * 4; // offset + count + 8 rows: the "40 40" in the command line
const STATUS_OK = 0x80000000;
const TIMEOUT_MS = 10_000;
// The P-256 group order: the firmware's rpi-fw-crypto service wants the OTP key to be a valid
// P-256 private scalar, so a key we program stays below it and can serve that service later.
const P256_ORDER = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');

const HOW_TO_PROGRAM =
  'program it once with `rpi-otp-private-key -w $(openssl rand -hex 32)` (irreversible), ' +
  'or set rootKey.piOtp.program=true and initialise the vault so Outpost programs a random key';

function fingerprint(key: Buffer): string {
  return 'sha256:' + createHash('sha256').update('outpost/root-fingerprint').update(key).digest('hex').slice(0, 16);
}

function hexWord(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

/** Turns a failed run into a message that names the likely cause; never echoes stdout (it can hold the key). */
function explainFailure(err: ExecFileException, stdout: string, tool: string, tag: number): string {
  if (err.code === 'ENOENT') return `cannot run ${tool}: not found (install raspi-utils or set rootKey.piOtp.vcmailbox)`;
  if (err.code === 'EACCES') return `cannot run ${tool}: permission denied`;
  if (err.killed || err.signal) return `${tool} did not answer within ${TIMEOUT_MS / 1000} s`;
  if (stdout.includes("Can't open device file")) {
    return `${tool} cannot open the mailbox device (it needs root or the video group)`;
  }
  if (stdout.includes('ioctl_set_msg failed')) {
    return tag === SET_PRIVATE_KEY
      ? 'the firmware refused to program the OTP private key (OTP programming disabled, or rows already partly set)'
      : 'the firmware refused the private-key mailbox request; the key may be locked ' +
          '(lock_device_private_key=1 in config.txt), or the firmware is too old for tag 0x00030081';
  }
  return `${tool} failed (exit ${typeof err.code === 'number' ? err.code : 'unknown'})`;
}

function run(tool: string, args: string[], tag: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      tool,
      args,
      { encoding: 'utf8', timeout: TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 64 * 1024, windowsHide: true },
      (err, stdout) => {
        if (err) reject(new RootError('pi-otp', explainFailure(err, String(stdout ?? ''), tool, tag)));
        else resolve(stdout);
      },
    );
  });
}

/**
 * Checks one vcmailbox answer word by word. vcmailbox prints every buffer word as `0x%08x `:
 * size, status, tag, value size, 0x80000000|response length, offset, count, 8 rows, end tag.
 */
function parseAnswer(stdout: string, tag: number): Buffer {
  const fail = (why: string): never => {
    throw new RootError('pi-otp', `unexpected vcmailbox answer for tag ${hexWord(tag)}: ${why}`);
  };
  const tokens = stdout.trim().split(/\s+/);
  const words = 7 + ROWS + 1;
  if (tokens.length !== words || !tokens.every((t) => /^0x[0-9a-f]{8}$/.test(t))) {
    fail(`expected ${words} words of the form 0x%08x`);
  }
  const w = tokens.map((t) => Number.parseInt(t.slice(2), 16));
  if (w[0] !== words * 4) fail('buffer size does not match the request');
  if (w[1] === 0x80000001) fail('the firmware reported an error parsing the request');
  if (w[1] !== STATUS_OK) fail(`status ${hexWord(w[1]!)} is not success (0x80000000)`);
  if (w[2] !== tag) fail('the tag was not echoed');
  if (w[3] !== VALUE_BYTES) fail('value buffer size changed');
  // Firmware ignores tags it does not know and leaves bit 31 clear; the rows would read as zero.
  if ((w[4]! & 0x80000000) === 0) {
    fail('the firmware did not answer the tag (firmware too old, or not a Pi 4/5 with an OTP private key)');
  }
  if ((w[4]! & 0x7fffffff) !== VALUE_BYTES) fail(`response length ${w[4]! & 0x7fffffff} is not ${VALUE_BYTES}`);
  if (w[5] !== 0 || w[6] !== ROWS) fail('row offset/count not echoed');
  if (w[7 + ROWS] !== 0) fail('missing end tag');
  const key = Buffer.alloc(ROWS * 4);
  for (let i = 0; i < ROWS; i++) key.writeUInt32BE(w[7 + i]!, i * 4);
  return key;
}

async function readKey(tool: string): Promise<Buffer> {
  // Same words as rpi-otp-private-key's read: tag, value size, request size, offset 0, 8 rows, 8 zeros.
  const args = [hexWord(GET_PRIVATE_KEY), String(VALUE_BYTES), String(VALUE_BYTES), '0', String(ROWS)];
  for (let i = 0; i < ROWS; i++) args.push('0');
  return parseAnswer(await run(tool, args, GET_PRIVATE_KEY), GET_PRIVATE_KEY);
}

async function writeKey(tool: string, key: Buffer): Promise<void> {
  // vcmailbox takes the rows as argv words; the firmware tool has no other input (see the doc).
  const args = [hexWord(SET_PRIVATE_KEY), String(VALUE_BYTES), String(VALUE_BYTES), '0', String(ROWS)];
  for (let i = 0; i < ROWS; i++) args.push(hexWord(key.readUInt32BE(i * 4)));
  const answer = parseAnswer(await run(tool, args, SET_PRIVATE_KEY), SET_PRIVATE_KEY);
  answer.fill(0);
}

function freshKey(): Buffer {
  for (;;) {
    const key = randomBytes(32);
    if (Buffer.compare(key, P256_ORDER) < 0 && key.some((b) => b !== 0)) return key;
    key.fill(0);
  }
}

async function executable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function resolvable(tool: string): Promise<boolean> {
  if (tool.includes('/')) return tool.startsWith('/') && executable(tool);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && (await executable(join(dir, tool)))) return true;
  }
  return false;
}

export function piOtpRoot(opts: { vcmailbox: string; device: string; program: boolean }): RootProvider {
  const { vcmailbox, device, program } = opts;
  return {
    name: 'pi-otp',
    async available() {
      try {
        await access(device, constants.F_OK);
        return await resolvable(vcmailbox);
      } catch {
        return false;
      }
    },
    async open(request: RootOpenRequest): Promise<RootOpened> {
      const stored = request.create ? undefined : request.state?.fingerprint;
      let key = await readKey(vcmailbox);
      let programmed = false;
      if (key.every((b) => b === 0)) {
        if (stored) {
          throw new RootError('pi-otp', `this vault belongs to another board: this board's OTP private key is not programmed`);
        }
        if (!(request.create && program)) {
          throw new RootError('pi-otp', `the OTP private key is not programmed; ${HOW_TO_PROGRAM}`);
        }
        const fresh = freshKey();
        try {
          await writeKey(vcmailbox, fresh);
          key = await readKey(vcmailbox);
          if (!timingSafeEqual(key, fresh)) {
            key.fill(0);
            throw new RootError(
              'pi-otp',
              'the OTP private key read back differs from the key just written; the OTP may be partly programmed, check it with rpi-otp-private-key before retrying',
            );
          }
        } finally {
          fresh.fill(0);
        }
        programmed = true;
      }
      const fp = fingerprint(key);
      if (stored && stored !== fp) {
        key.fill(0);
        throw new RootError('pi-otp', `this vault belongs to another board (sealed with OTP key ${stored}, this board has ${fp})`);
      }
      return {
        secret: key,
        state: { fingerprint: fp },
        detail: `${programmed ? 'newly programmed ' : ''}OTP device private key via ${vcmailbox} (${fp})`,
      };
    },
  };
}
