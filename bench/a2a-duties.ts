// A third side for `bench/a2a.ts --duties`, for context only (the target is against the bare
// handler): the duties a credential read cannot skip, done the plainest way on the same HTTPS
// listener. It checks the bearer token (SHA-256 of it looked up in LMDB, expiry and active flag,
// on every call), reads the credential's record from LMDB, answers with Outpost's own body and
// extra headers (X-Request-Id, X-Outpost-Cache, X-Outpost-Cache-Age), and appends an API-log
// entry written in 50 ms LMDB batches. No encryption, custody, rules, metrics or middleware.
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hono } from 'hono';
import { open } from 'lmdb';
import { serveBaseline } from './baseline-listener.ts';

interface Grant {
  authzId: string;
  clientId: string;
  active: boolean;
  expiresAt: number;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export async function dutiesServer(certFile: string, keyFile: string, bodyFile: string, token: string, dir: string): Promise<void> {
  const body = JSON.parse(readFileSync(bodyFile, 'utf8')) as { credential: { id: string | number } };
  const env = open({ path: join(dir, 'duties'), maxDbs: 4 });
  const tokens = env.openDB<Grant, string>('tokens', {});
  const records = env.openDB<unknown, string>('credentials', {});
  const apiLog = env.openDB<Record<string, unknown>, string>('apilog', {});
  await tokens.put(sha256(token), { authzId: '1', clientId: 'bench', active: true, expiresAt: Date.now() + 86_400_000 });
  await records.put(String(body.credential.id), body);

  let waiting: Array<Record<string, unknown>> = [];
  let timer: NodeJS.Timeout | undefined;
  let seq = 0;
  const write = () => {
    timer = undefined;
    const batch = waiting;
    waiting = [];
    void apiLog.batch(() => {
      for (const entry of batch) void apiLog.put(entry.id as string, entry);
    });
  };

  const app = new Hono();
  app.get('/iso/pam/credential/:id', (c) => {
    const started = performance.now();
    const header = c.req.header('authorization');
    const grant = header?.startsWith('Bearer ') ? tokens.get(sha256(header.slice(7))) : undefined;
    const requestId = randomUUID();
    let answer: Response;
    if (!grant || !grant.active || grant.expiresAt <= Date.now()) answer = c.json({ error: 'unauthorized' }, 401);
    else {
      const record = records.get(c.req.param('id'));
      answer = record
        ? c.json(record as Record<string, unknown>, 200, { 'x-request-id': requestId, 'x-outpost-cache': 'hit', 'x-outpost-cache-age': '0' })
        : c.json({ error: 'not found' }, 404);
    }
    const now = Date.now();
    waiting.push({
      id: `${String(now).padStart(15, '0')}-${String((seq = (seq + 1) % 1_000_000)).padStart(6, '0')}`,
      request_id: requestId,
      client_id: grant?.clientId ?? null,
      authorization_id: grant?.authzId ?? null,
      ip: (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress ?? null,
      resource: 'pam',
      event: 'credential.get',
      method: 'GET',
      status: answer.status,
      url: c.req.path,
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
      time: new Date(now).toISOString(),
    });
    timer ??= setTimeout(write, 50);
    return answer;
  });

  await serveBaseline(app, certFile, keyFile, () => env.close());
}
