import { deriveKey, oldestHashKey } from '../util/derive-key.js';
import { isTextLine } from '../util/text.js';
import { ConfigError } from './errors.js';
import { ENV_NAMES, type RawEnv } from './env.js';

/**
 * The seed of the Ed25519 key that signs exported incident reports. FINDGUARD_REPORT_SIGNING_KEY
 * (32 bytes, base64) pins it; without it the seed is derived from the oldest hash key, as the
 * session key is: the embedded default generates that key in its data folder on first start, and
 * every node of a scaled-out setup shares it, so all nodes sign with the same key and publish the
 * same public key with nothing more to distribute. Pin it before retiring the oldest hash key, or
 * the published key changes (reports signed before still verify with the key they name).
 */
export function parseReportSigningSeed(raw: RawEnv, hashKeys: ReadonlyArray<{ key: Buffer }>): Buffer {
  if (raw.reportSigningKey) {
    const seed = Buffer.from(raw.reportSigningKey, 'base64');
    if (seed.length !== 32) throw new ConfigError(ENV_NAMES.reportSigningKey, 'must be 32 bytes, base64 (an Ed25519 seed: openssl rand -base64 32)');
    return seed;
  }
  return deriveKey(oldestHashKey(hashKeys), 'incident report signing key');
}

const MAX_DPO_CONTACT = 500;

/** Free text (a name, an address, a mailbox): printed in reports, so bounded and without control characters. */
export function parseDpoContact(value: string | undefined): string | null {
  if (value === undefined) return null;
  // eslint-disable-next-line no-control-regex
  if (value.length > MAX_DPO_CONTACT || !isTextLine(value)) {
    throw new ConfigError(ENV_NAMES.dpoContact, `must be at most ${MAX_DPO_CONTACT} characters without control characters`);
  }
  return value;
}
