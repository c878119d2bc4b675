#!/usr/bin/env node
// A stand-in for the Pi firmware's vcmailbox (raspberrypi/utils vcmailbox/vcmailbox.c) that
// answers the OTP private-key tags as the firmware does, so pi-otp can be tested off a Pi.
//   FAKE_VCMAILBOX_OTP   file holding the 8 key rows as 64 hex digits; absent = unprogrammed (zeros)
//   FAKE_VCMAILBOX_MODE  locked | error | garbage | unsupported | nodevice: a failing board;
//                        readonly: reads work, programming is refused (OTP programming disabled)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const GET_PRIVATE_KEY = 0x00030081;
const SET_PRIVATE_KEY = 0x00038081;
const ROWS = 8; // Pi 4 (BCM2711); a Pi 5 has 16 rows, of which rpi-otp-private-key uses 8 by default
const STATUS_OK = 0x80000000;
const STATUS_ERROR = 0x80000001;

// vcmailbox parses each argument with strtoul(arg, 0, 0): 0x hex, leading-0 octal, else decimal,
// stopping at the first bad digit; the result is stored in a 32-bit word.
function strtoul(text) {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(text);
  if (!m) return 0;
  const body = m[2];
  let n = /^0[xX]/.test(body) ? BigInt(body) : body.length > 1 && body[0] === '0' ? BigInt('0o' + body.slice(1)) : BigInt(body);
  if (m[1] === '-') n = -n;
  return Number(BigInt.asUintN(32, n));
}

function print(words) {
  // Exactly vcmailbox's printf("0x%08x ", ...) per word, then a newline.
  process.stdout.write(words.map((w) => '0x' + (w >>> 0).toString(16).padStart(8, '0') + ' ').join('') + '\n');
}

// What a real kernel does when the firmware fails the whole request: the ioctl returns an
// error, the buffer is not copied back, and vcmailbox prints the request as sent and exits -1.
function refuse(words) {
  process.stdout.write('ioctl_set_msg failed:-1\n');
  print(words);
  process.exit(255);
}

function loadOtp(path) {
  if (!path || !existsSync(path)) return new Array(ROWS).fill(0);
  const hex = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`fake vcmailbox: ${path} must hold 64 hex digits`);
  return Array.from({ length: ROWS }, (_, i) => Number.parseInt(hex.slice(i * 8, i * 8 + 8), 16));
}

function saveOtp(path, rows) {
  writeFileSync(path, rows.map((r) => (r >>> 0).toString(16).padStart(8, '0')).join('') + '\n');
}

const argv = process.argv.slice(2);
const mode = process.env.FAKE_VCMAILBOX_MODE ?? '';
const otpPath = process.env.FAKE_VCMAILBOX_OTP;

if (mode === 'nodevice') {
  process.stdout.write("Can't open device file: /dev/vcio\n");
  process.stdout.write('Try creating a device file with: sudo mknod /dev/vcio c 100 0\n');
  process.exit(255);
}
if (argv.length < 1 || argv.length + 2 >= 256) {
  process.stdout.write('Usage vcmailbox [word0] [word1] ...\n');
  process.exit(1);
}

// The buffer vcmailbox builds: size in bytes, request code 0, the argument words, end tag 0.
const words = [(argv.length + 3) * 4, 0, ...argv.map(strtoul), 0];

if (mode === 'garbage') {
  process.stdout.write('0x00000040 0x8000zzzz ???\n');
  process.exit(0);
}
if (mode === 'locked') refuse(words);

// A single tag at word 2: tag, value buffer size, request code, then the value buffer.
const [tag, valueSize] = [words[2], words[3]];
const start = words[5];
const count = words[6];
const known = tag === GET_PRIVATE_KEY || tag === SET_PRIVATE_KEY;

if (mode === 'error') {
  // An answer with the error status, as firmware gives for a request it cannot parse.
  words[1] = STATUS_ERROR;
  print(words);
  process.exit(0);
}
if (!known || mode === 'unsupported') {
  // Firmware ignores unknown tags: success status, bit 31 of the tag's response word left clear.
  words[1] = STATUS_OK;
  print(words);
  process.exit(0);
}
const fits =
  words.length >= 8 &&
  valueSize >= 8 + count * 4 &&
  start + count <= ROWS &&
  count >= 1 &&
  words.length >= 7 + count + 1;
if (!fits) refuse(words);

const otp = loadOtp(otpPath);
if (tag === SET_PRIVATE_KEY) {
  if (mode === 'readonly') refuse(words);
  const rows = otp.slice();
  for (let i = 0; i < count; i++) {
    const want = words[7 + i] >>> 0;
    const have = otp[start + i] >>> 0;
    // OTP bits are fuses: a write may only add bits. The firmware checks that the new value
    // equals (current | new) and refuses otherwise, as rpi-otp-private-key's help says.
    if (((have | want) >>> 0) !== want) refuse(words);
    rows[start + i] = (have | want) >>> 0;
  }
  if (!otpPath) refuse(words);
  saveOtp(otpPath, rows);
  for (let i = 0; i < count; i++) words[7 + i] = rows[start + i];
} else {
  for (let i = 0; i < count; i++) words[7 + i] = otp[start + i];
}
words[1] = STATUS_OK;
words[4] = (STATUS_OK | (8 + count * 4)) >>> 0;
print(words);
process.exit(0);
