// The configuration schema: every key the service reads, its type, bounds and default.
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);

export const configSchema = z
  .object({
    /** Where the vault and runtime state live. Relative paths resolve against the working directory. */
    dataDir: z.string().min(1).default('/var/lib/outpost'),
    /** Runtime files (sockets, pid file). Defaults to `<dataDir>/run`. */
    runDir: z.string().min(1).optional(),
    /** Stable identifier of this appliance; salts the KEK. Defaults to the board serial, else a random id made at init. */
    applianceId: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash or underscore, at most 64')
      .optional(),
    http: z
      .object({
        host: z.string().min(1).default('::'),
        port: port.default(8443),
        /** PEM files; when absent a self-signed certificate is made on first start and kept in the vault. */
        tls: z
          .object({ certFile: z.string().min(1).optional(), keyFile: z.string().min(1).optional() })
          .strict()
          .prefault({}),
        bodyLimit: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
        keepAliveTimeoutMs: z.number().int().min(1000).max(600_000).default(65_000),
        requestTimeoutMs: z.number().int().min(1000).max(600_000).default(30_000),
        /** A connection with no traffic for this long is closed, whether or not it ever sent a request. */
        idleTimeoutMs: z.number().int().min(1000).max(3_600_000).default(65_000),
        /** A connection that has not finished its TLS handshake by then is closed (Node's default: 120 s). */
        handshakeTimeoutMs: z.number().int().min(500).max(120_000).default(10_000),
        /** Connections open at once; more are closed as they arrive. Each open TLS connection holds ~32 KB. */
        maxConnections: z.number().int().min(1).max(100_000).default(1024),
      })
      .strict()
      .prefault({}),
    rootKey: z
      .object({
        provider: z.enum(['auto', 'pi-otp', 'tpm', 'file']).default('auto'),
        /** The file root is for development and CI only; it is refused unless this is true. */
        allowFile: z.boolean().default(false),
        /** File root key path. Defaults to `<dataDir>/root.key`, outside the LMDB files. */
        file: z.string().min(1).optional(),
        tpm: z
          .object({
            /** tpm2-tools TCTI, e.g. `device:/dev/tpmrm0` or `swtpm:host=127.0.0.1,port=2321`. */
            tcti: z.string().min(1).default('device:/dev/tpmrm0'),
          })
          .strict()
          .prefault({}),
        piOtp: z
          .object({
            /** The firmware mailbox tool. */
            vcmailbox: z.string().min(1).default('vcmailbox'),
            /** The mailbox device whose presence marks a Raspberry Pi for auto-detection. */
            device: z.string().min(1).default('/dev/vcio'),
            /** Program a random key into an all-zero OTP on init. OTP is write-once: off unless asked. */
            program: z.boolean().default(false),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    vault: z
      .object({
        /** Records re-encrypted per transaction during key rotation. */
        rotationBatch: z.number().int().min(1).max(100_000).default(500),
        /** LMDB map size in bytes (address space reserved, not disk used). */
        mapSize: z.number().int().min(1 << 20).default(1 << 30),
        /**
         * Writes are refused while the vault's filesystem has less free than this, so that LMDB
         * never meets a full disk (src/vault/disk-space.ts); at most a tenth of the filesystem;
         * 0 turns the check off.
         */
        reserveBytes: z.number().int().min(0).default(32 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    a2a: z
      .object({
        /** OAuth 2.0 access token lifetime (document 004: one day by default). */
        tokenLifetimeSeconds: z.number().int().min(60).max(30 * 86400).default(86400),
        /** OAuth 1.0: how far oauth_timestamp may be from the appliance clock. */
        oauth1WindowSeconds: z.number().int().min(30).max(3600).default(300),
        cache: z
          .object({
            /** Cache lifetime of a secret whose upstream rotation period is unknown. */
            defaultTtlSeconds: z.number().int().min(60).default(86400),
            /** What to do with a secret past its lifetime while the upstream cannot refresh it. */
            grace: z.enum(['serve', 'serve-and-warn', 'refuse']).default('serve-and-warn'),
            /** With grace 'refuse' (and as the hard limit for the others): refuse this many hours after expiry. */
            refuseAfterHours: z.number().min(0).max(24 * 365).default(72),
          })
          .strict()
          .prefault({}),
        apiLog: z
          .object({ retentionDays: z.number().int().min(1).max(3650).default(90) })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    identity: z
      .object({
        directory: z
          .object({
            /** How the host platform feeds the user directory (document 000): scripts, files, or not at all. */
            mode: z.enum(['none', 'scripts', 'files']).default('none'),
            scripts: z
              .object({
                userData: z.string().min(1).optional(),
                paths: z.string().min(1).optional(),
                changedUsers: z.string().min(1).optional(),
                timeoutSeconds: z.number().int().min(1).max(600).default(30),
              })
              .strict()
              .prefault({}),
            files: z
              .object({
                /** Directory holding one `<username>.json` per user. */
                usersDir: z.string().min(1).optional(),
                paths: z.string().min(1).optional(),
                userChanges: z.string().min(1).optional(),
              })
              .strict()
              .prefault({}),
            pollIntervalSeconds: z.number().int().min(5).max(86400).default(300),
          })
          .strict()
          .prefault({}),
        notifications: z
          .object({
            /** Document 000's "Notified user level" policy. */
            notify: z.enum(['administrator', 'reseller', 'affected-user', 'descendant-of-administrator']).default('affected-user'),
            smtp: z
              .object({
                host: z.string().min(1).optional(),
                port: port.default(25),
                from: z.string().min(3).default('outpost@localhost'),
                secure: z.boolean().default(false),
              })
              .strict()
              .prefault({}),
          })
          .strict()
          .prefault({}),
        login: z
          .object({
            /** Document 003: session_duration, 86400 s by default. */
            sessionDurationSeconds: z.number().int().min(60).max(30 * 86400).default(86400),
            /** Document 003: allow_origins (CORS). Empty = no cross-origin access. */
            allowOrigins: z.array(z.string().min(1)).default([]),
            maxFailuresPerUser: z.number().int().min(1).max(1000).default(5),
            maxFailuresPerAddress: z.number().int().min(1).max(10000).default(20),
            failureWindowSeconds: z.number().int().min(10).max(86400).default(900),
          })
          .strict()
          .prefault({}),
        sso: z
          .object({
            /** The UNIX datagram socket (document 000). Defaults to `<runDir>/sso.sock`. */
            socket: z.string().min(1).optional(),
            /** Group allowed to use the socket (mode 0660); without it the mode is 0600. */
            group: z.string().min(1).optional(),
            /** Lifetime of a one-time login link. */
            linkTtlSeconds: z.number().int().min(5).max(3600).default(60),
            /** Base URL of the appliance in links, e.g. https://outpost-1234.local:8443. Defaults to the HTTPS listener on localhost. */
            publicUrl: z.string().url().optional(),
            /** Portal-access file (`username,level` lines). Defaults to `<dataDir>/portal-access`. */
            portalAccessFile: z.string().min(1).optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    sync: z
      .object({
        /** Run the sync link when the appliance is enrolled; false keeps an enrolled appliance standalone (upstream state 'none'). */
        enabled: z.boolean().default(true),
        /** How often a health report goes into the outbox. */
        healthIntervalSeconds: z.number().int().min(1).max(86_400).default(60),
        /** The readers that move the API log, custody events, notifications and local changes into the outbox. */
        tail: z
          .object({
            /** How often each source is read for new records. */
            intervalMs: z.number().int().min(10).max(60_000).default(1000),
            /** Most records moved from one source in one transaction. */
            batch: z.number().int().min(1).max(10_000).default(500),
          })
          .strict()
          .prefault({}),
        /** The MQTT link (src/sync/link.ts). */
        link: z
          .object({
            reconnectPeriodMs: z.number().int().min(100).max(600_000).default(2000),
            keepaliveSeconds: z.number().int().min(5).max(3600).default(30),
            /** How long the broker keeps the session and queued downstream messages while the appliance is away (MQTT 5). */
            sessionExpiryHours: z.number().int().min(1).max(8760).default(168),
            /** Resend unconfirmed upstream entries after this long without a confirmation from the centre. */
            resendSeconds: z.number().int().min(1).max(3600).default(30),
          })
          .strict()
          .prefault({}),
        /** The durable upstream outbox (SPEC §4): bounded by count and age. */
        outbox: z
          .object({
            maxEntries: z.number().int().min(1).max(100_000_000).default(100_000),
            maxAgeDays: z.number().min(0.001).max(3650).default(30),
            /** When full: drop the oldest entries (counted in a metric) or refuse new ones. */
            policy: z.enum(['drop-oldest', 'refuse-new']).default('drop-oldest'),
          })
          .strict()
          .prefault({}),
        /** The centre (`outpost centre …`): its own vault, separate from the appliance's. */
        centre: z
          .object({
            /** The centre's data dir. Defaults to `<dataDir>/centre`; `--data-dir` overrides. */
            dataDir: z.string().min(1).optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
