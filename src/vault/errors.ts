// The vault's expected failures, each with a stable code that the CLI and routes render.

export type VaultErrorCode =
  | 'not-initialised'
  | 'already-initialised'
  | 'root-mismatch'
  | 'root-unavailable'
  | 'provider-mismatch'
  | 'record-corrupt'
  | 'record-key-unknown'
  | 'bad-name'
  | 'write-failed'
  | 'disk-full';

export class VaultError extends Error {
  constructor(
    readonly code: VaultErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'VaultError';
  }
}

/** Process exit status for each refusal, so scripts and systemd can tell them apart. */
export function exitCodeFor(code: VaultErrorCode): number {
  switch (code) {
    case 'root-mismatch':
    case 'provider-mismatch':
      return 3;
    case 'root-unavailable':
      return 4;
    case 'not-initialised':
      return 5;
    default:
      return 1;
  }
}
