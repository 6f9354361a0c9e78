import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cryptoRandom, type Random } from '../util/random.js';
import { ConfigError } from './errors.js';

/** Secrets the embedded default generates on first start and keeps in the data folder. */
export interface LocalSecrets {
  jwtSecret: string;
  serviceKey: string;
  hashKeys: string;
}

export const SECRETS_FILE = 'secrets.json';

/**
 * Loads the data folder's secrets, generating (and persisting with mode 0600) any that are
 * missing. Generated once, so restarts keep every hash and token valid.
 */
export function loadOrCreateSecrets(dataDir: string, random: Random = cryptoRandom): LocalSecrets {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, SECRETS_FILE);
  let stored: Partial<LocalSecrets> = {};
  if (existsSync(path)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      throw new ConfigError(path, 'is not valid JSON; restore it from a backup (deleting it invalidates every stored hash)');
    }
    if (parsed && typeof parsed === 'object') stored = parsed as Partial<LocalSecrets>;
  }
  const secrets: LocalSecrets = {
    jwtSecret: stored.jwtSecret ?? random.bytes(32).toString('base64url'),
    serviceKey: stored.serviceKey ?? `fgsk_${random.bytes(24).toString('base64url')}`,
    hashKeys: stored.hashKeys ?? `v1:${random.bytes(32).toString('base64')}`,
  };
  const changed =
    stored.jwtSecret !== secrets.jwtSecret ||
    stored.serviceKey !== secrets.serviceKey ||
    stored.hashKeys !== secrets.hashKeys;
  if (changed) writeFileSync(path, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
  // writeFileSync's mode only applies on creation; enforce it on every start.
  chmodSync(path, 0o600);
  return secrets;
}
