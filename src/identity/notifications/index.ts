// Notifications about users (document 000): routed by the policy table, recorded, and
// delivered to the log, the upstream outbox and (when configured) an SMTP relay.
import type { Config } from '../../config/index.ts';
import type { Logger } from '../../log.ts';
import type { Vault } from '../../vault/index.ts';
import { smtpChannel } from './email.ts';
import { Notifier } from './notifier.ts';
import type { OutboxSink } from './outbox.ts';
import type { Hierarchy } from './route.ts';
import { NotificationStore } from './store.ts';

export { Notifier, type NotifierOptions, type NotifyInput } from './notifier.ts';
export { noOutbox, type OutboxSink } from './outbox.ts';
export { recipientFor, type Hierarchy, type NotifyPolicy } from './route.ts';
export { NotificationStore, notificationsSince, type Notification, type EmailStatus, type OutboxStatus } from './store.ts';
export { smtpChannel, addressesOf, type EmailChannel, type Mail } from './email.ts';

/** The notifier main.ts builds: policy and SMTP relay from `identity.notifications`. */
export function createNotifier(options: {
  config: Config['identity']['notifications'];
  vault: Vault;
  users: Hierarchy;
  log: Logger;
  outbox?: OutboxSink;
  now?: () => number;
}): Notifier {
  return new Notifier({
    users: options.users,
    store: new NotificationStore(options.vault),
    policy: options.config.notify,
    log: options.log,
    outbox: options.outbox,
    email: smtpChannel(options.config.smtp),
    now: options.now,
  });
}
