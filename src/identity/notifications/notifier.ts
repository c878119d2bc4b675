// Raising a notification: pick the recipient by policy (route.ts), record it, then deliver
// it on every channel (the log, the upstream outbox, and e-mail when a relay is set) and
// record how each went. A channel failing never throws to the caller.
import type { Logger } from '../../log.ts';
import { addressesOf, type EmailChannel } from './email.ts';
import { noOutbox, type OutboxSink } from './outbox.ts';
import { recipientFor, type Hierarchy, type NotifyPolicy } from './route.ts';
import type { EmailStatus, Notification, NotificationStore } from './store.ts';

export interface NotifierOptions {
  users: Hierarchy;
  store: NotificationStore;
  policy: NotifyPolicy;
  log: Logger;
  outbox?: OutboxSink;
  email?: EmailChannel;
  now?: () => number;
}

export interface NotifyInput {
  /** The user the notification is about. */
  subject: string;
  /** A short machine name: `custody.released`, `directory.suspended`, … */
  kind: string;
  text: string;
}

export class Notifier {
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #now: () => number;

  constructor(readonly options: NotifierOptions) {
    this.#now = options.now ?? Date.now;
  }

  /** Records and delivers one notification; resolves with its final record. */
  notify(input: NotifyInput): Promise<Notification> {
    const run = this.#notify(input);
    this.#inflight.add(run);
    void run.finally(() => this.#inflight.delete(run)).catch(() => undefined);
    return run;
  }

  async #notify({ subject, kind, text }: NotifyInput): Promise<Notification> {
    const { users, store, policy, log, email } = this.options;
    const outbox = this.options.outbox ?? noOutbox;
    const at = this.#now();
    const recipient = recipientFor(users, subject, policy);
    const addresses = recipient ? addressesOf(recipient.email) : [];
    let emailStatus: EmailStatus;
    if (!recipient) emailStatus = 'no-recipient';
    else if (!email) emailStatus = 'not-configured';
    else if (recipient.suspended) emailStatus = 'recipient-suspended';
    else if (addresses.length === 0) emailStatus = 'no-address';
    else emailStatus = 'pending';

    const n: Notification = {
      id: store.newId(at),
      time: new Date(at).toISOString(),
      kind,
      subject,
      recipient: recipient?.username ?? null,
      policy,
      text,
      delivery: { status: 'pending', outbox: 'pending', email: emailStatus, addresses: emailStatus === 'pending' ? addresses : [] },
    };
    await store.put(n);
    log.info({ notification: { id: n.id, kind, subject, recipient: n.recipient, policy, text } }, `notification ${kind} about ${subject} for ${n.recipient ?? '(nobody: unknown user)'}`);

    const errors: string[] = [];
    const { delivery: _pending, ...payload } = n;
    try {
      await outbox.append('notification', payload);
      n.delivery.outbox = 'sent';
    } catch (err) {
      n.delivery.outbox = 'failed';
      errors.push(`outbox: ${(err as Error).message}`);
    }
    if (email && emailStatus === 'pending') {
      try {
        await email.send({ to: addresses, subject: `Outpost: ${kind} (${subject})`, text: `${text}\n\n--\nThis notification concerns user ${subject}; it was sent to ${n.recipient} (policy: ${policy}).\n` });
        n.delivery.email = 'sent';
      } catch (err) {
        n.delivery.email = 'failed';
        errors.push(`email: ${(err as Error).message}`);
      }
    }
    n.delivery.status = errors.length > 0 ? 'failed' : 'delivered';
    if (errors.length > 0) {
      n.delivery.error = errors.join('; ');
      log.warn({ notification: { id: n.id, kind, recipient: n.recipient }, error: n.delivery.error }, 'notification delivery failed');
    }
    await store.put(n);
    return n;
  }

  /** Waits for notifications being delivered and closes the SMTP connection pool. */
  async close(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
    this.options.email?.close();
  }
}
