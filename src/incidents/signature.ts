import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures, Stripe's scheme: `Findguard-Signature: t=<unix seconds>,v1=<hex>` where
 * the hex is HMAC-SHA-256(secret, "<t>.<raw body>"). The timestamp inside the MAC lets a
 * receiver refuse replays of an old delivery. Kept free of findguard internals so the client
 * SDK can re-export it for app backends.
 */

export const SIGNATURE_HEADER = 'Findguard-Signature';
export const EVENT_ID_HEADER = 'Findguard-Event-Id';
/** Five minutes, as Stripe: enough for clock skew and slow queues, short for replays. */
export const DEFAULT_TOLERANCE_S = 300;

function mac(secret: string, t: number, body: string | Uint8Array): Buffer {
  const h = createHmac('sha256', secret);
  h.update(`${t}.`);
  h.update(body);
  return h.digest();
}

/** The header value for a body sent at `t` (unix seconds). */
export function signWebhook(secret: string, body: string | Uint8Array, t: number): string {
  return `t=${t},v1=${mac(secret, t, body).toString('hex')}`;
}

/**
 * Checks a delivery: the raw body exactly as received (not re-serialised JSON), the header,
 * and `nowMs` (epoch milliseconds, e.g. Date.now()). True only if some v1 signature matches
 * and the timestamp is within `toleranceS` seconds of now. Several v1 entries are accepted so a
 * sender may sign with an old and a new secret during a rotation.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | undefined,
  body: string | Uint8Array,
  nowMs: number,
  toleranceS: number = DEFAULT_TOLERANCE_S,
): boolean {
  if (!header || header.length > 4096) return false;
  let t: number | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) t = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) candidates.push(Buffer.from(value, 'hex'));
  }
  if (t === undefined || candidates.length === 0) return false;
  if (Math.abs(nowMs / 1000 - t) > toleranceS) return false;
  const expected = mac(secret, t, body);
  let ok = false;
  // Compare every candidate: how many matched, or which, must not show in the timing.
  for (const c of candidates) ok = timingSafeEqual(c, expected) || ok;
  return ok;
}
