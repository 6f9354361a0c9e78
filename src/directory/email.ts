export type EmailResult = { ok: true; value: string } | { ok: false; code: 'invalid_email' };

// Deliberately conservative: one @, a dotted domain, no spaces or control characters. The app
// has already verified the address; this only makes one address hash to one value.
const EMAIL = /^[^\s@\u0000-\u001f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/**
 * An unpaired surrogate, or U+FFFD where undecodable bytes were: the keyed hash is taken over the
 * value's UTF-8, in which every such character is U+FFFD, so two different addresses would be one
 * contact point (test/review/email-lone-surrogate). No address the app verified holds one.
 */
const UNENCODABLE = /[\p{Cs}\uFFFD]/u;

/** Trimmed and lower-cased, as DESIGN §2 defines the canonical email. */
export function normaliseEmail(input: string): EmailResult {
  const value = input.trim().toLowerCase();
  if (value.length > 254 || !EMAIL.test(value) || UNENCODABLE.test(value)) return { ok: false, code: 'invalid_email' };
  return { ok: true, value };
}
