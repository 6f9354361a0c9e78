import { Secret, TOTP } from 'otpauth';
import type { Random } from '../util/random.js';

/** RFC 6238 defaults every authenticator app reads: SHA-1, 6 digits, 30 s. */
const PERIOD = 30;
const DIGITS = 6;
/** One step either side: a code typed as it rolls over, or a clock a little off, still works. */
const WINDOW = 1;
const ISSUER = 'findguard';

/** A new TOTP secret (160 bits, base32) from the injected Random. */
export function newTotpSecret(random: Random): string {
  const bytes = random.bytes(20);
  return new Secret({ buffer: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) }).base32;
}

function totp(secret: string, label: string): TOTP {
  return new TOTP({ issuer: ISSUER, label, secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: DIGITS, period: PERIOD });
}

/** The otpauth:// URI an authenticator app scans or imports. */
export function totpUri(secret: string, operatorName: string): string {
  return totp(secret, operatorName).toString();
}

/**
 * The time step (30 s periods since the epoch) whose code `code` is, within one step of `now`;
 * null when it matches none. The caller accepts it only if the step is later than the last one
 * accepted for that operator, which makes each code good once.
 */
export function totpStep(secret: string, code: string, now: number): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const delta = TOTP.validate({ token: code, secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: DIGITS, period: PERIOD, timestamp: now, window: WINDOW });
  if (delta === null) return null;
  return TOTP.counter({ period: PERIOD, timestamp: now }) + delta;
}

/** The code for `now` (tests and `operators add`'s check that the app was set up right). */
export function totpCode(secret: string, now: number): string {
  return TOTP.generate({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: DIGITS, period: PERIOD, timestamp: now });
}
