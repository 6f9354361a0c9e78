import { readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { ENV_NAMES } from './env.js';
import { ConfigError } from './errors.js';
import { SECRETS_FILE } from './secrets.js';

const GROUP_OR_OTHER = 0o077;
const WRITABLE = 0o022;

/**
 * Checks an existing data folder before findguard uses it, as ssh checks private keys.
 * Refused (ConfigError naming the path):
 * - the folder writable by group or others, sticky or not: whoever can write there can swap
 *   secrets.json or the database, or plant them before the first start;
 * - any file in it writable by group or others (the directory, enforcement state, events);
 * - secrets.json with any group or other permission: the JWT secret mints tokens for any
 *   account and the hash keys turn every stored hash back into a number, so they may already be
 *   known; findguard will not quietly chmod it and carry on with keys that need rotating.
 * Warned (returned, start-up goes on): the folder, or a file in it, readable by group or others
 *   (findguard sets its own database files to 0600 as it opens them).
 * A folder that does not exist yet is created 0700 later; nothing to check.
 */
export function checkDataDir(dir: string): string[] {
  if (process.platform === 'win32') return [];
  const folder = statOrUndefined(dir);
  if (!folder) return [];
  if (!folder.isDirectory()) throw new ConfigError(ENV_NAMES.dataDir, `${dir} is not a folder`);
  const warnings: string[] = [];
  const mode = folder.mode & 0o7777;
  if (mode & WRITABLE) {
    throw new ConfigError(
      ENV_NAMES.dataDir,
      `${dir} is writable by ${who(mode & WRITABLE)} (mode ${octal(mode)}): anyone with that access can replace the secrets or the database in it. ` +
        'chmod 700 it and check its files, or point FINDGUARD_DATA_DIR at a folder of its own (findguard creates a missing one with mode 0700)',
    );
  }
  if (mode & GROUP_OR_OTHER) warnings.push(`${dir} is readable by ${who(mode & GROUP_OR_OTHER)} (mode ${octal(mode)}): chmod 700 it`);
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const file = statOrUndefined(path);
    if (!file?.isFile()) continue;
    const fileMode = file.mode & 0o777;
    if (name === SECRETS_FILE && fileMode & GROUP_OR_OTHER) {
      throw new ConfigError(
        ENV_NAMES.dataDir,
        `${path} is accessible by ${who(fileMode & GROUP_OR_OTHER)} (mode ${octal(fileMode)}): its JWT secret, service key and hash keys may be known. ` +
          'If anyone else could read it, rotate them (a new JWT secret and service key, a new hash key first in FINDGUARD_HASH_KEYS); then chmod 600 it',
      );
    }
    if (fileMode & WRITABLE) {
      throw new ConfigError(ENV_NAMES.dataDir, `${path} is writable by ${who(fileMode & WRITABLE)} (mode ${octal(fileMode)}): check it has not been altered, then chmod 600 it`);
    }
    if (fileMode & GROUP_OR_OTHER) warnings.push(`${path} is readable by ${who(fileMode & GROUP_OR_OTHER)} (mode ${octal(fileMode)}): chmod 600 it (findguard does so for its database files as it opens them)`);
  }
  return warnings;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(ENV_NAMES.dataDir, `${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function who(bits: number): string {
  const group = (bits & 0o070) !== 0;
  const others = (bits & 0o007) !== 0;
  return group && others ? 'group and others' : group ? 'group' : 'others';
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}
