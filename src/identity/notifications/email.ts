// The SMTP channel: plain mail through the configured relay (identity.notifications.smtp),
// with nodemailer. STARTTLS is used when the relay offers it, and its certificate checked.
import nodemailer from 'nodemailer';
import type { Config } from '../../config/index.ts';

export interface Mail {
  to: string[];
  subject: string;
  text: string;
}

export interface EmailChannel {
  send(mail: Mail): Promise<void>;
  close(): void;
}

type SmtpConfig = Config['identity']['notifications']['smtp'];

/** undefined when no relay is configured. */
export function smtpChannel(config: SmtpConfig): EmailChannel | undefined {
  if (!config.host) return undefined;
  const transport = nodemailer.createTransport({
    host: config.host,
    port: config.port,
    secure: config.secure,
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
    socketTimeout: 30_000,
  });
  return {
    async send(mail) {
      await transport.sendMail({ from: config.from, to: mail.to, subject: mail.subject, text: mail.text });
    },
    close() {
      transport.close();
    },
  };
}

/** `a@x.com, b@y.org` → addresses; '' → none. */
export function addressesOf(email: string): string[] {
  return email
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
}
