// The SSO datagram socket driven for real, as document 000's clients drive it: a bound
// unix-dgram client and the document's Python client; replies, every refusal, malformed
// datagrams, unbound senders, the socket's mode and group, and stale socket files.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import unix from 'unix-dgram';
import { NO_PORTAL_ACCESS, NO_SUCH_USER, startSsoSocket } from '../../../src/identity/sso/index.ts';
import { tempDir } from '../../helpers/vault.ts';
import { harness } from './harness.ts';

const h = await harness();
after(() => h.close());

const LINK = /^https:\/\/localhost:(\d+)\/sso\/login\/([A-Za-z0-9_-]{43})\/$/;

test('a listed user gets {"username","redirect_to"} and nothing else', async () => {
  const reply = await h.ask({ username: 'peter', next: '/detections/reseller/' });
  assert.ok(reply);
  assert.deepEqual(Object.keys(reply).sort(), ['redirect_to', 'username']);
  assert.equal(reply.username, 'peter');
  const m = LINK.exec(String(reply.redirect_to));
  assert.ok(m, String(reply.redirect_to));
  assert.equal(Number(m[1]), h.listener.port);
  // Only a hash of the token is stored.
  const stored = [...h.s.links.db.getRange({})];
  assert.ok(stored.length >= 1);
  assert.ok(stored.every(({ key }) => /^[0-9a-f]{64}$/.test(key) && key !== m[2]));
  assert.ok(!h.lines.some((l) => l.includes(m[2]!)), 'the token is never logged');
});

test('every listed level gets a link: end user, reseller, administrator; next is optional', async () => {
  for (const username of ['john', 'peter', 'root']) {
    const reply = await h.ask({ username });
    assert.match(String(reply?.redirect_to), LINK, username);
  }
  const blank = await h.ask({ username: 'john', next: '' });
  assert.match(String(blank?.redirect_to), LINK);
});

test('refusals answer without redirect_to, with document 000 texts in username and a detail', async () => {
  assert.deepEqual(await h.ask({ username: 'nobody' }), { username: NO_SUCH_USER, detail: NO_SUCH_USER });
  assert.equal(NO_SUCH_USER, 'This user does not exist.');
  assert.deepEqual(await h.ask({ username: 'suzy' }), { username: NO_PORTAL_ACCESS, detail: 'This user is suspended.' });
  assert.deepEqual(await h.ask({ username: 'carol' }), { username: NO_PORTAL_ACCESS, detail: 'This user is not listed in the portal-access file.' });
  assert.equal(NO_PORTAL_ACCESS, "This user can't access the portal.");
});

test('the portal-access file is re-read when it changes', async () => {
  const file = h.s.portalAccess.file;
  await writeFile(file, 'john,user\ncarol,user\n');
  assert.match(String((await h.ask({ username: 'carol' }))?.redirect_to), LINK);
  assert.equal((await h.ask({ username: 'peter' }))?.username, NO_PORTAL_ACCESS);
  await writeFile(file, 'peter,reseller\n');
  assert.match(String((await h.ask({ username: 'peter' }))?.redirect_to), LINK, 'reseller alone suffices');
  assert.equal((await h.ask({ username: 'carol' }))?.username, NO_PORTAL_ACCESS);
  await writeFile(file, 'root,user\njohn,user\npeter,user\npeter,reseller\n');
});

test('malformed datagrams get an error reply with a detail and the socket keeps serving', async () => {
  const cases: Array<[Buffer, Record<string, unknown>]> = [
    [Buffer.from('not json'), { detail: /^JSON parse error - / }],
    [Buffer.from(''), { detail: /^JSON parse error - / }],
    [Buffer.from('{"username": "peter"'), { detail: /^JSON parse error - / }],
    [Buffer.from('[1,2]'), { detail: 'Invalid data. Expected a dictionary, but got list.' }],
    [Buffer.from('"peter"'), { detail: 'Invalid data. Expected a dictionary, but got str.' }],
    [Buffer.from('null'), { detail: 'Invalid data. Expected a dictionary, but got null.' }],
    [Buffer.from('{}'), { username: 'This field is required.', detail: 'username: This field is required.' }],
    [Buffer.from('{"next":"/"}'), { username: 'This field is required.' }],
    [Buffer.from('{"username":null}'), { username: 'This field may not be null.' }],
    [Buffer.from('{"username":42}'), { username: 'Not a valid string.' }],
    [Buffer.from('{"username":["peter"]}'), { username: 'Not a valid string.' }],
    [Buffer.from('{"username":"  "}'), { username: 'This field may not be blank.' }],
    [Buffer.from(JSON.stringify({ username: 'x'.repeat(256) })), { username: 'Ensure this field has no more than 255 characters.' }],
    [Buffer.from('{"username":"peter","next":5}'), { next: 'Not a valid string.', detail: 'next: Not a valid string.' }],
    [Buffer.from('{"username":"peter","next":null}'), { next: 'This field may not be null.' }],
    [Buffer.from('{"username":"peter","next":"https://evil.com/"}'), { next: 'Only a same-site path is allowed.', detail: /^next must be a path/ }],
    [Buffer.from([0x7b, 0x22, 0x75, 0xff, 0xfe, 0x22, 0x7d]), { detail: 'Request is not valid UTF-8.' }],
    [Buffer.from([0xc0, 0xaf]), { detail: 'Request is not valid UTF-8.' }],
    [Buffer.from(JSON.stringify({ username: 'peter', pad: 'x'.repeat(8200) })), { detail: 'Request too large: at most 8192 bytes.' }],
    [Buffer.alloc(60_000, 0x20), { detail: 'Request too large: at most 8192 bytes.' }],
  ];
  for (const [bytes, expected] of cases) {
    const reply = await h.ask(undefined, { raw: bytes });
    assert.ok(reply, `no reply to ${bytes.subarray(0, 40).toString('latin1')}`);
    assert.equal(reply.redirect_to, undefined);
    assert.ok(typeof reply.detail === 'string' && reply.detail.length > 0);
    for (const [key, want] of Object.entries(expected)) {
      if (want instanceof RegExp) assert.match(String(reply[key]), want, bytes.subarray(0, 40).toString('latin1'));
      else assert.equal(reply[key], want, bytes.subarray(0, 40).toString('latin1'));
    }
  }
  // Unknown keys are ignored, as the legacy API (Django REST framework) ignored them.
  assert.match(String((await h.ask({ username: 'john', extra: [1] }))?.redirect_to), LINK);
});

test('a datagram from an unbound socket is dropped and logged; the service carries on', async () => {
  const before = h.lines.length;
  const reply = await h.ask({ username: 'peter' }, { bound: false, timeoutMs: 300 });
  assert.equal(reply, undefined);
  assert.ok(h.lines.slice(before).some((l) => l.includes('unbound socket dropped')));
  assert.match(String((await h.ask({ username: 'peter' }))?.redirect_to), LINK);
});

test('a client that leaves before the reply does not disturb the service', async () => {
  const path = join(h.dir, 'gone.sock');
  const client = unix.createSocket('unix_dgram');
  client.bind(path);
  const bytes = Buffer.from('{"username":"peter"}');
  client.send(bytes, 0, bytes.length, h.socket.path);
  client.close();
  await new Promise((r) => setTimeout(r, 100));
  assert.match(String((await h.ask({ username: 'peter' }))?.redirect_to), LINK);
});

test('many concurrent clients each get their own reply', async () => {
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => h.ask({ username: i % 2 ? 'john' : 'nobody' })));
  replies.forEach((r, i) => (i % 2 ? assert.match(String(r?.redirect_to), LINK) : assert.equal(r?.username, NO_SUCH_USER)));
  const links = new Set(replies.filter((r) => r?.redirect_to).map((r) => r!.redirect_to));
  assert.equal(links.size, 25, 'every link is distinct');
});

test("document 000's Python reference client gets a link", async () => {
  const run = promisify(execFile);
  const client = join(import.meta.dirname, 'client.py');
  const ok = await run('python3', [client, h.socket.path, 'peter', '/detections/reseller/'], { timeout: 10_000 });
  assert.match(ok.stdout, /^HTTP\/1\.1 302 Found\r\nLocation: https:\/\/localhost:\d+\/sso\/login\/[A-Za-z0-9_-]{43}\/\r\n/);
  const location = /Location: (\S+)\r/.exec(ok.stdout)![1]!;
  const followed = await h.get(location);
  assert.equal(followed.status, 302);
  assert.equal(followed.headers.location, '/detections/reseller/');
  const refused = await run('python3', [client, h.socket.path, 'nobody'], { timeout: 10_000 });
  assert.equal(refused.stdout.trim(), `ERROR ${JSON.stringify({ username: NO_SUCH_USER, detail: NO_SUCH_USER }).replace(/,/g, ', ').replace(/":/g, '": ')}`);
});

test('the socket is 0600 in a 0750 runtime directory by default, under <dataDir>/run', async () => {
  assert.equal(h.socket.path, join(h.dir, 'data', 'run', 'sso.sock'));
  const st = await lstat(h.socket.path);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal((await stat(join(h.dir, 'data', 'run'))).mode & 0o777, 0o750);
});

test('with a group the socket is 0660 and group-owned, the runtime directory too; a numeric group works', async () => {
  const dir = await tempDir('outpost-sso-group-');
  try {
    const groupFile = join(dir.path, 'group');
    // Only root may give a file to any group; others use groups they belong to.
    const root = process.getuid!() === 0;
    const gidA = root ? 4242 : process.getgid!();
    const gidB = root ? 4243 : (process.getgroups!().find((g) => g !== gidA) ?? gidA);
    await writeFile(groupFile, `root:x:0:\npanel:x:${gidA}:www-data\n`);
    const runDir = join(dir.path, 'r');
    const g = await harness({ runDir, identity: { sso: { group: 'panel' } } }, { groupFile });
    try {
      const st = await lstat(g.socket.path);
      assert.equal(g.socket.path, join(runDir, 'sso.sock'));
      assert.equal(st.mode & 0o777, 0o660);
      assert.equal(st.gid, gidA);
      const d = await stat(runDir);
      assert.equal(d.mode & 0o777, 0o750);
      assert.equal(d.gid, gidA);
      assert.match(String((await g.ask({ username: 'john' }))?.redirect_to), LINK);
    } finally {
      await g.close();
    }
    const socket = join(dir.path, 'elsewhere', 'outpost-sso.sock');
    const n = await harness({ identity: { sso: { group: String(gidB), socket } } }, { groupFile });
    try {
      assert.equal(n.socket.path, socket);
      assert.equal((await lstat(socket)).gid, gidB);
      assert.equal((await lstat(socket)).mode & 0o777, 0o660);
    } finally {
      await n.close();
    }
    await assert.rejects(harness({ identity: { sso: { group: 'nosuch' } } }, { groupFile }), /no group named "nosuch"/);
  } finally {
    await dir.remove();
  }
});

test('start removes a stale socket file, refuses a live one and a file that is not a socket; close removes the socket', async () => {
  const dir = await tempDir('outpost-sso-stale-');
  try {
    const path = join(dir.path, 'sso.sock');
    const stale = unix.createSocket('unix_dgram');
    stale.bind(path);
    stale.close(); // the file stays behind, as after a crash
    const s1 = await startSsoSocket({ ...h.s, socketPath: path, ownsSocketDir: false });
    try {
      assert.equal((await lstat(path)).mode & 0o777, 0o600);
      await assert.rejects(startSsoSocket({ ...h.s, socketPath: path, ownsSocketDir: false }), /another process is serving the SSO socket/);
    } finally {
      await s1.close();
    }
    await assert.rejects(lstat(path), { code: 'ENOENT' });

    await writeFile(path, 'precious');
    await assert.rejects(startSsoSocket({ ...h.s, socketPath: path, ownsSocketDir: false }), /exists and is not a socket/);
    const long = join(dir.path, 'x'.repeat(120), 'sso.sock');
    await assert.rejects(startSsoSocket({ ...h.s, socketPath: long, ownsSocketDir: false }), /at most 107 bytes/);
  } finally {
    await dir.remove();
  }
});
