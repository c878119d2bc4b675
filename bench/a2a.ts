// A2A credential read beside its baseline: authenticated GET /iso/pam/credential/{id} on the real
// service (`outpost serve`, a child process) against a bare Hono handler answering a JSON body of
// the same size through the same HTTPS listener (src/http/server.ts: same certificate, ciphers,
// timeouts), both loaded by autocannon from a third process over keep-alive connections with
// the very same request (the bare handler ignores its bearer token), so the two differ only in
// what the server does with it.
// Servers are pinned to core 0 and the load generator to core 1 where `taskset` exists. Each
// round starts every side afresh (a new Outpost with its own data, a new bare server), warms
// them up and times one run of each, in alternating order; we print each run, the medians and
// their ratio.
//   node --import tsx bench/a2a.ts            (npm run bench:a2a)
//   node --import tsx bench/a2a.ts --profile  one Outpost run under --cpu-prof; prints the top costs
//   node --import tsx bench/a2a.ts --duties   adds a third side for context (bench/a2a-duties.ts)
//   node --import tsx bench/a2a.ts --hold     the service set up as here, kept until Ctrl-C: prints
//                                             its pid, URL and header for perf, strace or A/B loads
// BENCH_ROUNDS and BENCH_SECONDS shorten it for a quick look (defaults 5 and 10).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Hono } from 'hono';
import { selfSignedCertificate } from '../src/http/tls.ts';
import { dutiesServer } from './a2a-duties.ts';
import { serveBaseline } from './baseline-listener.ts';
import { printProfile, type CpuProfile } from './cpu-profile.ts';

const REPO = resolve(import.meta.dirname, '..');
const OUTPOST = join(REPO, 'bin/outpost.mjs');
const AUTOCANNON = join(REPO, 'node_modules/autocannon/autocannon.js');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5); // timed runs of each side, alternating
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10); // per run
const WARMUP_SECONDS = 4; // per side, before the timed runs
const CONNECTIONS = 10;
const PIPELINING = 1;
const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 10;
const SERVER_CPU = '0';
const LOAD_CPU = '1';

interface Run {
  rps: number; // mean requests per second over the run
  p50: number; // ms
  p99: number; // ms
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  serverCpuUs: number; // server process CPU time (all threads) per request, µs
  loadCoreBusy: number | null; // share of the load generator's core in use, 0–1 (pinned runs only)
}

interface Side {
  name: string;
  pid: number;
  url: string;
  headers: string[];
  runs: Run[];
}

// ---- the baseline server (this file run with --bare, in its own process) ----

async function bare(certFile: string, keyFile: string, bodyFile: string): Promise<void> {
  const body = JSON.parse(readFileSync(bodyFile, 'utf8')) as unknown;
  const app = new Hono();
  app.get('/iso/pam/credential/:id', (c) => c.json(body as Record<string, unknown>));
  await serveBaseline(app, certFile, keyFile);
}

// ---- the harness ----

const children = new Set<ChildProcess>();

function pinned(cpu: string, command: string[]): string[] {
  return canPin() ? ['taskset', '-c', cpu, ...command] : command;
}

let pinnable: boolean | undefined;
function canPin(): boolean {
  pinnable ??= cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  return pinnable;
}

function start(command: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(command[0]!, command.slice(1), { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Resolves with the first line of `stream` that `match` accepts; rejects if the child exits first. */
function lineFrom(child: ChildProcess, stream: 'stdout' | 'stderr', match: (line: string) => boolean, what: string): Promise<string> {
  return new Promise((done, fail) => {
    const seen: string[] = [];
    let rest = '';
    const timer = setTimeout(() => fail(new Error(`${what}: nothing within 60 s\n${seen.join('\n')}`)), 60_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      fail(new Error(`${what}: exited (${code}) first\n${seen.join('\n')}`));
    };
    child.once('exit', onExit);
    child[stream]!.on('data', function read(chunk: Buffer) {
      const parts = (rest + chunk.toString('utf8')).split('\n');
      rest = parts.pop()!;
      for (const line of parts) {
        seen.push(line);
        if (!match(line)) continue;
        clearTimeout(timer);
        child.off('exit', onExit);
        child[stream]!.off('data', read);
        child[stream]!.resume();
        done(line);
        return;
      }
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function cli(args: string[], env: NodeJS.ProcessEnv): Record<string, unknown> {
  const r = spawnSync(process.execPath, [OUTPOST, ...args, '--json'], { cwd: REPO, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`outpost ${args.join(' ')}: exit ${r.status}\n${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

function call(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, rejectUnauthorized: false, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

/** utime + stime of a process and all its threads, in µs. */
function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of proc(5)
  return (ticks * 1e6) / 100; // USER_HZ is 100 on Linux
}

/** CPU time (µs) of a process's threads: its main thread, and the rest (libuv pool, LMDB writer, V8), user and system. */
function threadCpuUs(pid: number): Record<'mainUser' | 'mainSys' | 'otherUser' | 'otherSys', number> {
  const out = { mainUser: 0, mainSys: 0, otherUser: 0, otherSys: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const main = tid === String(pid);
    out[main ? 'mainUser' : 'otherUser'] += (Number(fields[11]) * 1e6) / 100;
    out[main ? 'mainSys' : 'otherSys'] += (Number(fields[12]) * 1e6) / 100;
  }
  return out;
}

/** Busy and total jiffies of one CPU, from /proc/stat. */
function coreTimes(cpu: string): { busy: number; total: number } | null {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) return null;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats?: Record<string, { count: number }>;
}

async function load(side: Side, seconds: number): Promise<Run> {
  const args = ['--json', '-c', String(CONNECTIONS), '-p', String(PIPELINING), '-d', String(seconds)];
  for (const h of side.headers) args.push('-H', h);
  const cpuBefore = processCpuUs(side.pid);
  const coreBefore = canPin() ? coreTimes(LOAD_CPU) : null;
  const child = start(pinned(LOAD_CPU, [process.execPath, AUTOCANNON, ...args, side.url]), process.env);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => out.push(c));
  child.stderr!.on('data', (c: Buffer) => err.push(c));
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  const coreAfter = canPin() ? coreTimes(LOAD_CPU) : null;
  const cpuUsed = processCpuUs(side.pid) - cpuBefore;
  if (code !== 0) throw new Error(`autocannon exited ${code}: ${Buffer.concat(err).toString()}`);
  const r = JSON.parse(Buffer.concat(out).toString('utf8')) as AutocannonResult;
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    serverCpuUs: r.requests.total > 0 ? cpuUsed / r.requests.total : 0,
    loadCoreBusy: coreBefore && coreAfter ? (coreAfter.busy - coreBefore.busy) / Math.max(1, coreAfter.total - coreBefore.total) : null,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const int = (x: number) => Math.round(x).toLocaleString('en-US');
const ms = (x: number) => x.toFixed(1);

function describe(name: string, r: Run): string {
  const faults = r.non2xx + r.errors + r.timeouts;
  return (
    `${name.padEnd(8)} ${int(r.rps).padStart(7)} req/s  p50 ${ms(r.p50)} ms  p99 ${ms(r.p99)} ms  ` +
    `server ${Math.round(r.serverCpuUs)} µs CPU/req` +
    (r.loadCoreBusy === null ? '' : `  load core ${Math.round(r.loadCoreBusy * 100)} % busy`) +
    (faults ? `  INVALID: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts` : '')
  );
}

/** The service, an application, an authorization, a token and a credential to read. */
async function setUp(dir: string, certFile: string, keyFile: string, profileDir: string | undefined) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OUTPOST_')));
  const env: NodeJS.ProcessEnv = {
    ...base,
    OUTPOST_DATA_DIR: join(dir, 'data'),
    OUTPOST_ROOT_KEY__FILE: join(dir, 'root.key'),
    OUTPOST_ROOT_KEY__ALLOW_FILE: 'true',
    OUTPOST_HTTP__PORT: '0',
    OUTPOST_HTTP__HOST: '127.0.0.1',
    OUTPOST_HTTP__TLS__CERT_FILE: certFile,
    OUTPOST_HTTP__TLS__KEY_FILE: keyFile,
    // info: the "listening" line carries the port; per-request lines are debug.
    OUTPOST_LOG__LEVEL: 'info',
  };
  const node = profileDir ? [process.execPath, '--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [process.execPath];
  const service = start(pinned(SERVER_CPU, [...node, OUTPOST, 'serve']), env);
  const listening = await lineFrom(service, 'stderr', (l) => l.includes('"listening on'), 'outpost serve');
  const port = (JSON.parse(listening) as { port: number }).port;

  const app = cli(['app', 'add', '--name', 'bench'], env);
  const authz = cli(['authz', 'add', '--app', String(app.id), '--resources', 'pam', '--pam-permission', 'read-write'], env);
  const basic = Buffer.from(`${authz.client_id}:${authz.client_secret}`).toString('base64');
  const token = await call(port, 'POST', '/iso/oauth2/token', { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' }, 'grant_type=client_credentials');
  if (token.status !== 200) throw new Error(`token: ${token.status} ${token.body}`);
  const bearer = (JSON.parse(token.body) as { access_token: string }).access_token;
  const auth = { authorization: `Bearer ${bearer}` };
  const created = await call(
    port,
    'POST',
    '/iso/pam/credential',
    { ...auth, 'content-type': 'application/json' },
    JSON.stringify({ hostname: 'bench-host', ip: '10.20.30.40', username: 'root', identifier: 'bench-credential', content: 'correct horse battery staple' }),
  );
  if (created.status !== 200 && created.status !== 201) throw new Error(`credential: ${created.status} ${created.body}`);
  const id = (JSON.parse(created.body) as { credential: { id: string } }).credential.id;
  const path = `/iso/pam/credential/${id}`;
  const read = await call(port, 'GET', path, auth);
  if (read.status !== 200) throw new Error(`GET ${path}: ${read.status} ${read.body}`);
  return { service, port, path, bearer, body: read.body };
}

async function main(): Promise<void> {
  const began = Date.now();
  const profile = process.argv.includes('--profile');
  const withDuties = process.argv.includes('--duties');
  const dir = await mkdtemp(join(tmpdir(), 'outpost-bench-a2a-'));
  const cleanUp = async () => {
    await Promise.all([...children].map(stop));
    await rm(dir, { recursive: true, force: true });
  };
  const onSignal = () => void cleanUp().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const made = selfSignedCertificate('outpost-bench', ['localhost', '127.0.0.1']);
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    await writeFile(certFile, made.cert);
    await writeFile(keyFile, made.key, { mode: 0o600 });
    const profileDir = profile ? join(dir, 'profile') : undefined;

    /** Outpost set up afresh in `roundDir`, and its baselines answering the same bytes. */
    const startSides = async (roundDir: string, withProfile: string | undefined, baselines = true) => {
      await mkdir(roundDir, { recursive: true });
      const outpost = await setUp(roundDir, certFile, keyFile, withProfile);
      const bodyBytes = Buffer.byteLength(outpost.body);
      const bodyFile = join(roundDir, 'body.json');
      await writeFile(bodyFile, outpost.body);
      const outpostSide: Side = { name: 'outpost', pid: outpost.service.pid!, url: `https://127.0.0.1:${outpost.port}${outpost.path}`, headers: [`authorization=Bearer ${outpost.bearer}`], runs: [] };
      /** A baseline server: this file run with `mode` in its own process, checked to answer Outpost's bytes. */
      const baseline = async (name: string, mode: string[]): Promise<Side> => {
        const child = start(pinned(SERVER_CPU, [process.execPath, '--import', 'tsx', join(REPO, 'bench/a2a.ts'), ...mode]), process.env);
        const port = (JSON.parse(await lineFrom(child, 'stdout', (l) => l.startsWith('{'), `${name} server`)) as { port: number }).port;
        const check = await call(port, 'GET', outpost.path, { authorization: `Bearer ${outpost.bearer}` });
        if (check.status !== 200 || Buffer.byteLength(check.body) !== bodyBytes) throw new Error(`${name} server: ${check.status}, ${Buffer.byteLength(check.body)} bytes`);
        return { name, pid: child.pid!, url: `https://127.0.0.1:${port}${outpost.path}`, headers: outpostSide.headers, runs: [] };
      };
      if (!baselines) return { outpost, bodyBytes, sides: [outpostSide] };
      const bareSide = await baseline('bare', ['--bare', certFile, keyFile, bodyFile]);
      // For context only: the duties a credential read cannot skip, done plainly (bench/a2a-duties.ts).
      const dutiesSide = withDuties ? await baseline('duties', ['--duties-server', certFile, keyFile, bodyFile, outpost.bearer, roundDir]) : undefined;
      return { outpost, bodyBytes, sides: dutiesSide ? [outpostSide, bareSide, dutiesSide] : [outpostSide, bareSide] };
    };

    const header = (path: string, bodyBytes: number) => {
      console.log(`${cpus().length} × ${cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}, load ${loadavg()[0]!.toFixed(2)} (1 min)`);
      console.log(
        `GET ${path} (${bodyBytes}-byte JSON body) over HTTPS, autocannon ${CONNECTIONS} keep-alive connections, pipelining ${PIPELINING}, ` +
          (canPin() ? `servers on core ${SERVER_CPU}, load generator on core ${LOAD_CPU}` : 'unpinned (no taskset or one core)'),
      );
    };

    if (process.argv.includes('--hold') || profile) {
      const { outpost, bodyBytes, sides } = await startSides(join(dir, 'held'), profileDir, false);
      header(outpost.path, bodyBytes);
      const outpostSide = sides[0]!;
      if (!profile) {
        // For comparing builds side by side or profiling one: the same service, credential and token.
        console.log(JSON.stringify({ pid: outpost.service.pid, url: outpostSide.url, header: `authorization: Bearer ${outpost.bearer}` }));
        // Ctrl-C (SIGINT) or SIGTERM cleans up through onSignal; SIGUSR2 ends it through finally.
        await new Promise((done) => process.once('SIGUSR2', done));
        return;
      }
      await load(outpostSide, WARMUP_SECONDS);
      const before = threadCpuUs(outpostSide.pid);
      const run = await load(outpostSide, SECONDS);
      const after = threadCpuUs(outpostSide.pid);
      console.log(describe('outpost', run));
      const per = (k: keyof typeof before) => Math.round((after[k] - before[k]) / run.requests);
      console.log(
        `server CPU per request: main thread ${per('mainUser')} µs user + ${per('mainSys')} µs system; ` +
          `other threads (LMDB writer, libuv pool, V8) ${per('otherUser')} µs user + ${per('otherSys')} µs system`,
      );
      await stop(outpost.service);
      const file = (await readdir(profileDir!)).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error('the service wrote no CPU profile');
      printProfile(JSON.parse(await readFile(join(profileDir!, file), 'utf8')) as CpuProfile, REPO);
      return;
    }

    // Every round on fresh processes: two Outpost processes of the same build, loaded the same
    // way, differ by up to ~18 % in CPU per request for as long as they live, so one process per
    // side would make the figure that process's luck (docs/benchmarks.md, eighth round). The bare
    // handler varies far less, but gets the same treatment.
    const runs = new Map<string, Run[]>();
    let bodyBytes = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const roundDir = join(dir, `round-${round}`);
      const set = await startSides(roundDir, undefined);
      if (round === 1) {
        header(set.outpost.path, set.bodyBytes);
        console.log(`${ROUNDS} rounds, each on fresh servers: a ${WARMUP_SECONDS} s warm-up of each side, then one timed run of ${SECONDS} s of each (order alternating by round):`);
      }
      ({ bodyBytes } = set);
      const order = round % 2 === 1 ? set.sides : [...set.sides].reverse();
      for (const side of order) await load(side, WARMUP_SECONDS);
      for (const side of order) {
        const r = await load(side, SECONDS);
        runs.set(side.name, [...(runs.get(side.name) ?? []), r]);
        console.log(`  ${round}  ${describe(side.name, r)}`);
      }
      await Promise.all([...children].map(stop));
      await rm(roundDir, { recursive: true, force: true }); // its API log alone is tens of MB
    }
    const faults = [...runs.values()].flat().reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0);
    const o = summarise(runs.get('outpost') ?? []);
    const b = summarise(runs.get('bare') ?? []);
    const ratio = o.rps / b.rps;
    // Server CPU per request, bare ÷ outpost: moves less than req/s when other work shares the machine.
    const cpuRatio = b.serverCpuUs / o.serverCpuUs;
    const met = faults === 0 && ratio >= TARGET_RATIO && o.p99 < TARGET_P99_MS;
    console.log('');
    console.log(`load ${loadavg()[0]!.toFixed(2)} (1 min) at the end; server CPU per request: outpost ${o.serverCpuUs} µs, bare ${b.serverCpuUs} µs (ratio ${cpuRatio.toFixed(2)})`);
    console.log(
      `a2a: outpost ${int(o.rps)} req/s p99 ${ms(o.p99)} ms; bare hono ${int(b.rps)} req/s p99 ${ms(b.p99)} ms; ` +
        `ratio ${ratio.toFixed(2)} (target ≥ ${TARGET_RATIO}, p99 < ${TARGET_P99_MS} ms)` +
        (faults ? ` — INVALID: ${faults} failed responses` : met ? ' — met' : ' — NOT met'),
    );
    const d = withDuties ? summarise(runs.get('duties') ?? []) : undefined;
    if (d) {
      console.log(
        `context, not the target: the plain duties server ${int(d.rps)} req/s p99 ${ms(d.p99)} ms, ${d.serverCpuUs} µs CPU/req; ` +
          `outpost ÷ duties ${(o.rps / d.rps).toFixed(2)} (CPU ${(d.serverCpuUs / o.serverCpuUs).toFixed(2)}); duties ÷ bare ${(d.rps / b.rps).toFixed(2)}`,
      );
    }
    console.log(
      JSON.stringify({
        bench: 'a2a',
        path: '/iso/pam/credential/{id}',
        bodyBytes,
        connections: CONNECTIONS,
        pipelining: PIPELINING,
        secondsPerRun: SECONDS,
        rounds: ROUNDS,
        pinned: canPin(),
        seconds: Math.round((Date.now() - began) / 100) / 10,
        node: process.version,
        cpus: cpus().length,
        cpu: cpus()[0]?.model ?? null,
        outpost: o,
        bare: b,
        ...(d ? { duties: d, dutiesRatio: Math.round((o.rps / d.rps) * 1000) / 1000 } : {}),
        ratio: Math.round(ratio * 1000) / 1000,
        cpuRatio: Math.round(cpuRatio * 1000) / 1000,
        load: Math.round(loadavg()[0]! * 100) / 100,
        faults,
        target: { ratio: TARGET_RATIO, p99Ms: TARGET_P99_MS },
        met,
      }),
    );
    if (faults) process.exitCode = 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanUp();
  }
}

function summarise(runs: Run[]) {
  const round1 = (x: number) => Math.round(x * 10) / 10;
  return {
    rps: Math.round(median(runs.map((r) => r.rps))),
    rpsMin: Math.round(Math.min(...runs.map((r) => r.rps))),
    rpsMax: Math.round(Math.max(...runs.map((r) => r.rps))),
    p50: round1(median(runs.map((r) => r.p50))),
    p99: round1(median(runs.map((r) => r.p99))),
    serverCpuUs: round1(median(runs.map((r) => r.serverCpuUs))),
    requests: runs.reduce((n, r) => n + r.requests, 0),
  };
}

if (process.argv[2] === '--bare') {
  await bare(process.argv[3]!, process.argv[4]!, process.argv[5]!);
} else if (process.argv[2] === '--duties-server') {
  await dutiesServer(process.argv[3]!, process.argv[4]!, process.argv[5]!, process.argv[6]!, process.argv[7]!);
} else {
  if (!existsSync(AUTOCANNON)) throw new Error('autocannon is missing: npm install');
  await main();
}
