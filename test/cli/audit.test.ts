// `outpost audit` as a real child process: entries written to the API log are read back by
// time range (ISO or relative), client and limit, as JSON Lines or text; bad flags exit 64.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { ApiLog, type ApiLogEntry } from '../../src/a2a/apilog.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/log.ts';
import { parseTime } from '../../src/cli/audit.ts';
import { Vault } from '../../src/vault/index.ts';
import { startServe, type ServeChild } from '../e2e/service.ts';
import { fileRootEnv, runCli, tempDir } from '../helpers/vault.ts';

const dir = await tempDir('outpost-cli-audit-test-');
const children: ServeChild[] = [];
after(async () => {
  for (const c of children) await c.stop('SIGKILL');
  await dir.remove();
});
const env = fileRootEnv(dir.path);
const NOW = Date.now();
const MIN = 60_000;

function entry(minutesAgo: number, clientId: string | null, url: string): Omit<ApiLogEntry, 'id'> {
  return {
    request_id: null,
    client_id: clientId,
    client: clientId ? `app-${clientId}` : null,
    authorization_id: clientId ? '1' : null,
    ip: '10.1.2.3',
    resource: 'pam',
    event: 'credential.get',
    method: 'GET',
    status: clientId ? 200 : 401,
    url,
    error: clientId ? null : '1001: Unauthorized',
    duration_ms: 2.25,
    time: new Date(NOW - minutesAgo * MIN).toISOString(),
  };
}

before(async () => {
  assert.equal((await runCli(['init', '--json'], env)).code, 0);
  const vault = await Vault.open(loadConfig({ env }).config, { create: false, log: createLogger({ level: 'silent' }) });
  try {
    const log = new ApiLog(vault);
    const seed: Array<[number, string | null, string]> = [
      [3 * 24 * 60, 'aaa', '/iso/three-days'],
      [180, 'aaa', '/iso/three-hours'],
      [30, 'bbb', '/iso/half-hour'],
      [10, null, '/iso/ten-minutes'],
      [1, 'aaa', '/iso/one-minute'],
    ];
    for (const [ago, client, url] of seed) log.record(entry(ago, client, url), NOW - ago * MIN);
    await log.close();
  } finally {
    await vault.close();
  }
});

async function urls(args: string[]): Promise<string[]> {
  const r = await runCli(['audit', ...args, '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as ApiLogEntry).url);
}

test('time ranges: relative, ISO, the 24h default, --until', async () => {
  assert.deepEqual(await urls(['--since', '1h']), ['/iso/half-hour', '/iso/ten-minutes', '/iso/one-minute']);
  assert.deepEqual(await urls([]), ['/iso/three-hours', '/iso/half-hour', '/iso/ten-minutes', '/iso/one-minute']);
  assert.deepEqual(await urls(['--since', '7d']), ['/iso/three-days', '/iso/three-hours', '/iso/half-hour', '/iso/ten-minutes', '/iso/one-minute']);
  assert.deepEqual(await urls(['--since', new Date(NOW - 200 * MIN).toISOString(), '--until', new Date(NOW - 20 * MIN).toISOString()]), ['/iso/three-hours', '/iso/half-hour']);
  assert.deepEqual(await urls(['--since', '2h', '--until', '5m']), ['/iso/half-hour', '/iso/ten-minutes']);
  assert.deepEqual(await urls(['--since', '30s']), []);
});

test('--client and --limit; every field in each JSON line', async () => {
  assert.deepEqual(await urls(['--since', '7d', '--client', 'aaa']), ['/iso/three-days', '/iso/three-hours', '/iso/one-minute']);
  assert.deepEqual(await urls(['--since', '7d', '--client', 'aaa', '--limit', '2']), ['/iso/three-days', '/iso/three-hours']);
  const r = await runCli(['audit', '--since', '15m', '--json'], env);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as ApiLogEntry);
  assert.equal(lines.length, 2);
  assert.deepEqual(Object.keys(lines[1]!).sort(), ['authorization_id', 'client', 'client_id', 'duration_ms', 'error', 'event', 'id', 'ip', 'method', 'request_id', 'resource', 'status', 'time', 'url']);
  assert.equal(lines[0]!.status, 401);
  assert.equal(lines[0]!.error, '1001: Unauthorized');
  assert.equal(lines[1]!.client, 'app-aaa');
});

test('text output: one line per entry and a count on stderr', async () => {
  const r = await runCli(['audit', '--since', '1h'], env);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /200\s+GET\s+\/iso\/half-hour\s+app-bbb\/1\s+10\.1\.2\.3\s+pam:credential\.get\s+2\.25ms/);
  assert.match(lines[1]!, /401 .*1001: Unauthorized$/);
  assert.match(r.stderr, /3 entries since/);
});

test('bad flags exit 64', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--since', 'yesterday'], /--since must be an ISO time/],
    [['--since', '5x'], /--since/],
    [['--since', '1'], /--since/],
    [['--until', 'soon'], /--until/],
    [['--since', '1h', '--until', '2h'], /--until is before --since/],
    [['--limit', '0'], /--limit/],
    [['--limit', 'ten'], /--limit/],
    [['--verbose'], /verbose/],
    [['extra'], /unexpected arguments/],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(['audit', ...args, '--json'], env)));
  results.forEach((r, i) => {
    assert.equal(r.code, 64, `${cases[i]![0].join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, cases[i]![1]);
    assert.equal(JSON.parse(r.stdout).error.code, 'usage');
  });
});

test('parseTime', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');
  assert.equal(parseTime('15m', now, '--since'), now - 15 * MIN);
  assert.equal(parseTime('2h', now, '--since'), now - 120 * MIN);
  assert.equal(parseTime('7d', now, '--since'), now - 7 * 24 * 60 * MIN);
  assert.equal(parseTime('1w', now, '--since'), now - 7 * 24 * 60 * MIN);
  assert.equal(parseTime('2025-01-31T00:00:00Z', now, '--since'), Date.parse('2025-01-31T00:00:00Z'));
  assert.equal(parseTime('2025-01-31', now, '--since'), Date.parse('2025-01-31'));
  assert.throws(() => parseTime('March', now, '--since'), /ISO time/);
});

function https(port: number, path: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, rejectUnauthorized: false, agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => done({ status: res.statusCode!, text }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

test('calls to the running service are in `outpost audit`, attributed, without their secrets', async () => {
  const json = async (args: string[]) => {
    const r = await runCli([...args, '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, string>;
  };
  const app = await json(['app', 'add', '--name', 'e2e-audit']);
  const authz = await json(['authz', 'add', '--app', app.id!, '--resources', 'dashboards', '--ips', '127.0.0.1', '--without-oauth']);
  const service = await startServe({ ...env, OUTPOST_LOG__LEVEL: 'trace' });
  children.push(service);
  const since = new Date().toISOString();

  const basic = `Basic ${Buffer.from(`${authz.client_id}:${authz.client_secret}`).toString('base64')}`;
  const token = await https(service.port, '/iso/oauth2/token', 'POST', { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, 'grant_type=client_credentials');
  assert.equal(token.status, 200, token.text);
  const accessToken = (JSON.parse(token.text) as { access_token: string }).access_token;
  const unknown = await https(service.port, '/iso/not/a/route?x=1', 'GET', { authorization: `Bearer ${accessToken}` });
  assert.equal(unknown.status, 404);
  await https(service.port, `/iso/not/a/route?oauth_consumer_key=${authz.client_id}&oauth_token=${authz.token}`, 'GET', {});
  await https(service.port, `/iso/pam/credential/1?password=${authz.token_secret}`, 'GET', { authorization: 'Bearer nope' });
  assert.equal(await service.stop('SIGTERM'), 0);

  const r = await runCli(['audit', '--since', since, '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const entries = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as ApiLogEntry);
  assert.deepEqual(entries.map((e) => [e.method, e.status]), [['POST', 200], ['GET', 404], ['GET', 404], ['GET', 401]]);
  const second = entries[1]!;
  assert.equal(second.client_id, authz.client_id);
  assert.equal(second.client, 'e2e-audit');
  assert.equal(second.authorization_id, authz.id);
  assert.equal(second.ip, '127.0.0.1');
  assert.equal(second.url, '/iso/not/a/route?x=1');
  assert.equal(entries[2]!.url, '/iso/not/a/route?oauth_consumer_key=[redacted]&oauth_token=[redacted]');
  assert.equal(entries[3]!.client_id, null);
  assert.ok(service.stderr.some((l) => l.includes(second.request_id!)), 'the request id joins the entry to the service log');

  const everything = [r.stdout, ...service.stderr, ...service.stdout].join('\n');
  for (const secret of [authz.client_secret!, authz.token_secret!, authz.token!, accessToken]) assert.ok(!everything.includes(secret), 'a secret reached the API log or the service log');
});
