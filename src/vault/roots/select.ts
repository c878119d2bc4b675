// Chooses the root provider: the one a vault was sealed with, else the configured one,
// else the first present in the order Pi OTP → TPM → file (file only when allowed).
import { resolve } from 'node:path';
import type { Config } from '../../config/index.ts';
import { VaultError } from '../errors.ts';
import { fileRoot } from './file.ts';
import { piOtpRoot } from './pi-otp.ts';
import type { RootName, RootProvider } from './root.ts';
import { tpmRoot } from './tpm.ts';

export function rootKeyFile(config: Config): string {
  return resolve(config.rootKey.file ?? `${config.dataDir}/root.key`);
}

function build(name: RootName, config: Config): RootProvider {
  const rk = config.rootKey;
  switch (name) {
    case 'pi-otp':
      return piOtpRoot(rk.piOtp);
    case 'tpm':
      return tpmRoot({ tcti: rk.tpm.tcti });
    case 'file':
      if (!rk.allowFile) {
        throw new VaultError(
          'root-unavailable',
          'the file root key is for development only and rootKey.allowFile is false; use a Pi OTP or TPM root, or set rootKey.allowFile=true (OUTPOST_ROOT_KEY__ALLOW_FILE=true) knowingly',
        );
      }
      return fileRoot({ path: rootKeyFile(config) });
  }
}

/** `sealedWith` is the provider recorded in an existing vault, undefined for a new one. */
export async function selectRoot(config: Config, sealedWith: RootName | undefined): Promise<RootProvider> {
  const wanted = config.rootKey.provider;
  if (sealedWith) {
    if (wanted !== 'auto' && wanted !== sealedWith) {
      throw new VaultError(
        'provider-mismatch',
        `this vault is sealed with the ${sealedWith} root but rootKey.provider is ${wanted}; refusing to open`,
      );
    }
    return build(sealedWith, config);
  }
  if (wanted !== 'auto') return build(wanted, config);
  for (const name of ['pi-otp', 'tpm'] as const) {
    const provider = build(name, config);
    if (await provider.available()) return provider;
  }
  if (config.rootKey.allowFile) return build('file', config);
  throw new VaultError(
    'root-unavailable',
    'no hardware root found (no Raspberry Pi OTP mailbox, no TPM) and rootKey.allowFile is false',
  );
}
