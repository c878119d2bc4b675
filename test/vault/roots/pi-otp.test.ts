// The Pi OTP root against a stand-in vcmailbox that prints what the firmware prints.
// Each "board" is a temp dir: a mailbox device file, an OTP file, and a wrapper that runs the fake.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { piOtpRoot } from '../../../src/vault/roots/pi-otp.ts';
import { RootError } from '../../../src/vault/roots/root.ts';
import { FAKE_VCMAILBOX, piBoard } from '../../helpers/pi-board.ts';

const KEY = 'f8dbc7b0a4fcfb1d706e298ac9d0485c2226ce8df7f7596ac77337bd09fbe160';
const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

interface Board {
  dir: string;
  otp: string;
  root(program?: boolean): ReturnType<typeof piOtpRoot>;
}

async function board(opts: { key?: string; mode?: string } = {}): Promise<Board> {
  const b = await piBoard(opts);
  dirs.push(b.dir);
  return { ...b, root: (program = false) => piOtpRoot({ vcmailbox: b.vcmailbox, device: b.device, program }) };
}

/** Every refusal is a RootError whose message never carries key material. */
async function refuses(promise: Promise<unknown>, pattern: RegExp, key = KEY): Promise<void> {
  const err = await promise.then(
    () => assert.fail('expected a RootError'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RootError, `not a RootError: ${String(err)}`);
  assert.match(err.message, pattern);
  assert.ok(!err.message.toLowerCase().includes(key.slice(0, 8)), 'key material in the message');
  const withoutTags = err.message.replace(/0x0003(0|8)081/g, '');
  assert.doesNotMatch(withoutTags, /0x[0-9a-f]{8}/i, 'mailbox words in the message');
}

test('reads a programmed key, and the same key on re-open', async () => {
  const b = await board({ key: KEY });
  const first = await b.root().open({ state: undefined, create: true });
  assert.equal(first.secret.toString('hex'), KEY);
  assert.match(first.state.fingerprint!, /^sha256:[0-9a-f]{16}$/);
  assert.ok(!first.detail.includes(KEY.slice(0, 8)));
  const again = await b.root().open({ state: first.state, create: false });
  assert.equal(again.secret.toString('hex'), KEY);
  assert.deepEqual(again.state, first.state);
});

test('unprogrammed OTP with program=false refuses and says how to program it', async () => {
  const b = await board();
  await refuses(b.root(false).open({ state: undefined, create: true }), /not programmed.*rpi-otp-private-key -w/);
  await assert.rejects(readFile(b.otp), { code: 'ENOENT' }, 'nothing was written');
});

test('unprogrammed OTP with program=true programs a key once; re-open returns it', async () => {
  const b = await board();
  const made = await b.root(true).open({ state: undefined, create: true });
  assert.equal(made.secret.length, 32);
  assert.ok(made.secret.some((x) => x !== 0));
  assert.match(made.detail, /newly programmed/);
  assert.equal((await readFile(b.otp, 'utf8')).trim(), made.secret.toString('hex'));
  const again = await b.root(true).open({ state: made.state, create: false });
  assert.ok(again.secret.equals(made.secret));
  assert.doesNotMatch(again.detail, /newly/);
});

test('program=true does not program when only opening an existing vault', async () => {
  const b = await board();
  await refuses(b.root(true).open({ state: undefined, create: false }), /not programmed/);
});

test('another board refuses the stored fingerprint', async () => {
  const mine = await board({ key: KEY });
  const { state } = await mine.root().open({ state: undefined, create: true });
  const other = await board({ key: KEY.replace(/^f8/, 'f9') });
  await refuses(other.root().open({ state, create: false }), /belongs to another board/);
  const blank = await board();
  await refuses(blank.root(true).open({ state, create: false }), /belongs to another board/);
});

for (const [mode, pattern] of [
  ['locked', /firmware refused.*lock_device_private_key/],
  ['error', /error parsing the request/],
  ['garbage', /unexpected vcmailbox answer/],
  ['unsupported', /did not answer the tag/],
  ['nodevice', /cannot open the mailbox device/],
] as const) {
  test(`mailbox mode ${mode} is a clear RootError`, async () => {
    const b = await board({ key: KEY, mode });
    await refuses(b.root().open({ state: undefined, create: true }), pattern);
    const blank = await board({ mode });
    await refuses(blank.root(true).open({ state: undefined, create: true }), pattern);
    await assert.rejects(readFile(blank.otp), { code: 'ENOENT' }, 'nothing was programmed');
  });
}

test('a refused write is a RootError that does not echo the key vcmailbox printed', async () => {
  const b = await board({ mode: 'readonly' });
  const err = await b
    .root(true)
    .open({ state: undefined, create: true })
    .catch((e: unknown) => e);
  assert.ok(err instanceof RootError);
  assert.match(err.message, /firmware refused to program/);
  assert.doesNotMatch(err.message.replace(/0x0003(0|8)081/g, ''), /[0-9a-f]{8}/i);
  await assert.rejects(readFile(b.otp), { code: 'ENOENT' });
});

test('a missing or non-executable vcmailbox is a RootError, not a crash', async () => {
  const b = await board({ key: KEY });
  const missing = piOtpRoot({ vcmailbox: join(b.dir, 'nope'), device: join(b.dir, 'vcio'), program: false });
  await refuses(missing.open({ state: undefined, create: true }), /not found/);
  assert.equal(await missing.available(), false);
  const plain = join(b.dir, 'not-executable');
  await writeFile(plain, '#!/bin/sh\n');
  const denied = piOtpRoot({ vcmailbox: plain, device: join(b.dir, 'vcio'), program: false });
  await refuses(denied.open({ state: undefined, create: true }), /permission denied/);
  assert.equal(await denied.available(), false);
});

test('available() needs the mailbox device and a runnable vcmailbox', async () => {
  const b = await board({ key: KEY });
  assert.equal(await b.root().available(), true);
  const tool = join(b.dir, 'vcmailbox');
  assert.equal(await piOtpRoot({ vcmailbox: tool, device: join(b.dir, 'no-vcio'), program: false }).available(), false);
  assert.equal(await piOtpRoot({ vcmailbox: 'no-such-vcmailbox-tool', device: join(b.dir, 'vcio'), program: false }).available(), false);
  assert.equal(await piOtpRoot({ vcmailbox: 'relative/vcmailbox', device: join(b.dir, 'vcio'), program: false }).available(), false);
  assert.equal(await piOtpRoot({ vcmailbox: 'sh', device: join(b.dir, 'vcio'), program: false }).available(), true);
});

test('the stand-in keeps OTP write-once: a write that would clear bits is refused', async () => {
  const b = await board({ key: KEY });
  const env = { ...process.env, FAKE_VCMAILBOX_OTP: b.otp };
  const args = ['0x00038081', '40', '40', '0', '8', '0', '0', '0', '0', '0', '0', '0', '0'];
  const code = await new Promise<number | null>((resolve) => {
    execFile(FAKE_VCMAILBOX, args, { env }, (err) => resolve(err ? (err.code as number) : 0));
  });
  assert.equal(code, 255);
  assert.equal((await readFile(b.otp, 'utf8')).trim(), KEY);
});
