// The feed the configuration names (scripts.ts or files.ts), apart from feed.ts so that the
// two feeds can take their shapes from feed.ts without a circle of imports.
import { ConfigError } from '../../config/index.ts';
import type { Config } from '../../config/index.ts';
import type { Logger } from '../../log.ts';
import type { Feed } from './feed.ts';
import { FilesFeed } from './files.ts';
import { ScriptsFeed } from './scripts.ts';

type DirectoryConfig = Config['identity']['directory'];

/** The feed the configuration names; undefined for mode `none`. Missing paths are a ConfigError naming the key. */
export function createFeed(config: DirectoryConfig, log: Logger): Feed | undefined {
  if (config.mode === 'none') return undefined;
  const missing = (keys: string[]) => {
    if (keys.length > 0) throw new ConfigError(keys.map((k) => `identity.directory.${config.mode}.${k}: required when identity.directory.mode is "${config.mode}"`));
  };
  if (config.mode === 'scripts') {
    const { userData, paths, changedUsers, timeoutSeconds } = config.scripts;
    missing(Object.entries({ userData, paths, changedUsers }).filter(([, v]) => !v).map(([k]) => k));
    return new ScriptsFeed({ userData: userData!, paths: paths!, changedUsers: changedUsers!, timeoutMs: timeoutSeconds * 1000 }, log);
  }
  const { usersDir, paths, userChanges } = config.files;
  missing(Object.entries({ usersDir, paths, userChanges }).filter(([, v]) => !v).map(([k]) => k));
  return new FilesFeed({ usersDir: usersDir!, paths: paths!, userChanges: userChanges! });
}
