// Notifications recorded and delivered: the record (id, time, subject, recipient, kind,
// text, delivery status) read back by time; the upstream outbox hook; e-mail through a real
// SMTP server on a loopback port to the recipient's addresses; suspended recipients, users
// without an address, unknown subjects and a relay that is down.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { configSchema } from '../../../src/config/index.ts';
import {
  createNotifier,
  NotificationStore,
  Notifier,
  notificationsSince,
  smtpChannel,
  type Notification,
  type OutboxSink,
} from '../../../src/identity/notifications/index.ts';
import { memoryLog, tempDir } from '../../helpers/vault.ts';
import { EXAMPLE, openVault, silent, userOf } from '../directory/fixture.ts';

const dir = await tempDir('outpost-notify-');
const { vault, users } = await openVault(dir.path);
const closers: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of closers.reverse()) await c();
  await vault.close();
  await dir.remove();
});
for (const [username, parent, level] of EXAMPLE) await users.put(userOf(username, { parent, level }));
await users.put(userOf('reseller_user_2', { parent: 'admin_user_1', level: 2, email: 'r2@example.com, r2-alt@example.org' }));
await users.put(userOf('end_user_2', { parent: 'admin_user_1', level: 3, suspended: true }));
await users.put(userOf('end_user_3', { parent: 'reseller_user_3', level: 3, email: '' }));

interface Received {
  from: string;
  to: string[];
  data: string;
}

async function smtpServer(): Promise<{ port: number; received: Received[] }> {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = (server as unknown as { server: { address(): { port: number } } }).server.address();
  return { port: address.port, received };
}

const store = new NotificationStore(vault);

function notifier(options: Partial<ConstructorParameters<typeof Notifier>[0]> = {}): Notifier {
  const n = new Notifier({ users, store, policy: 'reseller', log: silent, ...options });
  closers.push(() => n.close());
  return n;
}

test('a notification is recorded with its route and delivery status, and logged', async () => {
  const { log, lines } = memoryLog();
  const at = Date.parse('2030-01-01T10:00:00Z');
  const n = await notifier({ log, now: () => at }).notify({ subject: 'end_user_1', kind: 'custody.released', text: 'Password of db01 released' });
  assert.deepEqual(
    { ...n, id: undefined },
    {
      id: undefined,
      time: '2030-01-01T10:00:00.000Z',
      kind: 'custody.released',
      subject: 'end_user_1',
      recipient: 'reseller_user_2',
      policy: 'reseller',
      text: 'Password of db01 released',
      delivery: { status: 'delivered', outbox: 'sent', email: 'not-configured', addresses: [] },
    },
  );
  assert.match(n.id, /^00\d{13}-\d{6}$/);
  assert.deepEqual(store.get(n.id), n);
  assert.ok(lines.some((l) => l.includes('"kind":"custody.released"') && l.includes('"recipient":"reseller_user_2"')));
});

test('notificationsSince reads back by time, oldest first, with a limit', async () => {
  let t = Date.parse('2031-05-01T00:00:00Z');
  const nf = notifier({ now: () => t });
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    ids.push((await nf.notify({ subject: 'end_user_1', kind: 'k', text: `n${i}` })).id);
    t += 60_000;
  }
  const since = Date.parse('2031-05-01T00:01:00Z');
  assert.deepEqual(notificationsSince(store, since).map((n) => n.text), ['n1', 'n2', 'n3']);
  assert.deepEqual(notificationsSince(store, since, { limit: 2 }).map((n) => n.text), ['n1', 'n2']);
  assert.deepEqual(notificationsSince(store, since, { untilMs: Date.parse('2031-05-01T00:02:00Z') }).map((n) => n.text), ['n1', 'n2']);
  assert.deepEqual(notificationsSince(store, Date.parse('2032-01-01T00:00:00Z')), []);
});

test('the outbox hook gets every notification; a failing outbox is recorded, never thrown', async () => {
  const appended: Array<[string, unknown]> = [];
  const sink: OutboxSink = { append: async (kind, payload) => void appended.push([kind, payload]) };
  const n = await notifier({ outbox: sink, policy: 'administrator' }).notify({ subject: 'end_user_3', kind: 'k', text: 't' });
  assert.equal(n.recipient, 'admin_user_2');
  assert.equal(appended.length, 1);
  assert.equal(appended[0]![0], 'notification');
  assert.deepEqual(appended[0]![1], { id: n.id, time: n.time, kind: 'k', subject: 'end_user_3', recipient: 'admin_user_2', policy: 'administrator', text: 't' });

  const broken: OutboxSink = { append: async () => Promise.reject(new Error('outbox full')) };
  const failed = await notifier({ outbox: broken }).notify({ subject: 'end_user_1', kind: 'k', text: 't' });
  assert.equal(failed.delivery.status, 'failed');
  assert.equal(failed.delivery.outbox, 'failed');
  assert.equal(failed.delivery.error, 'outbox: outbox full');
  assert.deepEqual(store.get(failed.id)!.delivery, failed.delivery);
});

test('e-mail through a real SMTP server goes to every address of the recipient', async () => {
  const smtp = await smtpServer();
  const config = configSchema.parse({ identity: { notifications: { notify: 'reseller', smtp: { host: '127.0.0.1', port: smtp.port, from: 'outpost@branch.example' } } } }).identity.notifications;
  const nf = createNotifier({ config, vault, users, log: silent });
  closers.push(() => nf.close());
  const n = await nf.notify({ subject: 'end_user_1', kind: 'login.failed', text: 'Five failed logins for end_user_1' });
  assert.equal(n.recipient, 'reseller_user_2');
  assert.deepEqual(n.delivery, { status: 'delivered', outbox: 'sent', email: 'sent', addresses: ['r2@example.com', 'r2-alt@example.org'] });
  assert.equal(smtp.received.length, 1);
  const mail = smtp.received[0]!;
  assert.equal(mail.from, 'outpost@branch.example');
  assert.deepEqual(mail.to, ['r2@example.com', 'r2-alt@example.org']);
  assert.match(mail.data, /Subject: Outpost: login\.failed \(end_user_1\)/);
  assert.match(mail.data, /Five failed logins for end_user_1/);

  // Suspended recipients get no e-mail; users without an address neither; unknown subjects reach nobody.
  const suspended = await nf.notify({ subject: 'end_user_2', kind: 'k', text: 't' });
  assert.equal(suspended.recipient, 'admin_user_1', 'the reseller column for end_user_2');
  assert.equal(suspended.delivery.email, 'sent');
  const affected = createNotifier({ config: { ...config, notify: 'affected-user' }, vault, users, log: silent });
  closers.push(() => affected.close());
  const s2 = await affected.notify({ subject: 'end_user_2', kind: 'k', text: 't' });
  assert.equal(s2.recipient, 'end_user_2');
  assert.equal(s2.delivery.email, 'recipient-suspended');
  assert.equal(s2.delivery.status, 'delivered', 'log and outbox still carry it');
  const none = await affected.notify({ subject: 'end_user_3', kind: 'k', text: 't' });
  assert.equal(none.delivery.email, 'no-address');
  const unknown = await affected.notify({ subject: 'ghost', kind: 'k', text: 't' });
  assert.equal(unknown.recipient, null);
  assert.equal(unknown.delivery.email, 'no-recipient');
  assert.equal(smtp.received.length, 2, 'only the two deliverable mails were sent');
});

test('a relay that is down: the e-mail is recorded as failed with the reason', async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const email = smtpChannel({ host: '127.0.0.1', port, from: 'outpost@localhost', secure: false })!;
  const n: Notification = await notifier({ email }).notify({ subject: 'end_user_1', kind: 'k', text: 't' });
  assert.equal(n.delivery.email, 'failed');
  assert.equal(n.delivery.status, 'failed');
  assert.match(n.delivery.error!, /^email: .*ECONNREFUSED/);
});

test('no relay configured: no channel', () => {
  assert.equal(smtpChannel({ port: 25, from: 'x@y.z', secure: false }), undefined);
});
