// The contract every hardware root provider meets: hand the vault a 32-byte root secret
// that never leaves this board, plus whatever non-secret state it needs to find it again.

export type RootName = 'pi-otp' | 'tpm' | 'file';

/** Non-secret state a provider keeps in the vault's clear metadata (e.g. TPM sealed blobs). */
export type RootState = Record<string, string>;

export interface RootOpenRequest {
  /** State this provider returned when the vault was created; undefined on first initialisation. */
  state: RootState | undefined;
  /** True only while initialising a new vault: the provider may create/seal/program its key. */
  create: boolean;
}

export interface RootOpened {
  /** 32 bytes of root key material. The caller zeroes it after deriving the KEK. */
  secret: Buffer;
  /** State to persist with the vault (only read back when `create` was true). */
  state: RootState;
  /** One line for logs and status: where the key lives (never the key). */
  detail: string;
}

export interface RootProvider {
  readonly name: RootName;
  /** Cheap probe used by auto-detection: is this kind of root present on this board? */
  available(): Promise<boolean>;
  open(request: RootOpenRequest): Promise<RootOpened>;
}

/** An expected refusal from a root provider: missing device, wrong key, unprogrammed OTP. */
export class RootError extends Error {
  constructor(
    readonly provider: RootName,
    message: string,
  ) {
    super(`${provider} root: ${message}`);
    this.name = 'RootError';
  }
}
