/**
 * What the discovery contract (DESIGN §3) fixes for both ends: the server's schemas enforce these
 * caps and the client splits its work by them, so they are defined once, here.
 */

/** Numbers (or emails) one sync may send as new. */
export const MAX_SYNC_VALUES = 5000;
/** Entries `previous` may carry: the whole book a token can cover. */
export const MAX_PREVIOUS_VALUES = 20_000;

/** Scopes a `429 rate_limited` answer can name. */
export const RATE_LIMIT_SCOPES = ['account', 'device', 'ip', 'subnet', 'asn', 'country', 'global'] as const;
export type RateLimitScope = (typeof RATE_LIMIT_SCOPES)[number];

/** The installation's id, optional on every discovery call. */
export const DEVICE_HEADER = 'X-Device-Id';

/** Every error answer's body. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}
