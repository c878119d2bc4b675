// The shared logger's throttle: a failure repeated many times a second makes a few lines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { throttle } from '../src/log.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('throttle: the first report at once, the rest of the window as one line with its count', async () => {
  const lines: Array<[string, number]> = [];
  const report = throttle<string>((latest, repeated) => lines.push([latest, repeated]), 150);
  report('a');
  assert.deepEqual(lines, [['a', 1]]);
  for (let i = 0; i < 1000; i++) report(`b${i}`);
  assert.equal(lines.length, 1, 'held until the window ends');
  await sleep(250);
  assert.deepEqual(lines, [['a', 1], ['b999', 1000]]);
  // Within the next window: held again, then one line.
  report('c');
  assert.equal(lines.length, 2);
  await sleep(250);
  assert.deepEqual(lines.at(-1), ['c', 1]);
  // After a quiet window: at once again.
  await sleep(200);
  report('d');
  assert.deepEqual(lines.at(-1), ['d', 1]);
  assert.equal(lines.length, 4);
});
