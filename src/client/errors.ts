import type { TransportResponse } from './transport.js';

import type { RateLimitScope } from '../protocol/discovery.js';

export type { RateLimitScope };

/**
 * Every failure the client reports: a coded findguard error answer, or a response that is not
 * one (code `unexpected_response`). Callers switch on `code`, as the contract promises.
 */
export class FindguardError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  /** For 429: which limit refused the request. */
  readonly scope?: RateLimitScope | string;
  /** For 429: seconds the server asked to wait. */
  readonly retryAfter?: number;

  constructor(init: { status: number; code: string; message: string; details?: unknown; scope?: string; retryAfter?: number }) {
    super(init.message);
    this.name = 'FindguardError';
    this.status = init.status;
    this.code = init.code;
    this.details = init.details;
    if (init.scope !== undefined) this.scope = init.scope;
    if (init.retryAfter !== undefined) this.retryAfter = init.retryAfter;
  }
}

/** Reads `{"error": {code, message, details}}`; anything else becomes `unexpected_response`. */
export function errorFromResponse(res: TransportResponse, retryAfter?: number): FindguardError {
  let code = 'unexpected_response';
  let message = `unexpected HTTP ${res.status}`;
  let details: unknown;
  try {
    const parsed: unknown = JSON.parse(res.body);
    const err = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : undefined;
    if (err && typeof err.code === 'string') {
      code = err.code;
      if (typeof err.message === 'string') message = err.message;
      details = err.details;
    }
  } catch {
    // A proxy's HTML error page or an empty body: keep unexpected_response.
  }
  const scope = isRecord(details) && typeof details.scope === 'string' ? details.scope : undefined;
  return new FindguardError({
    status: res.status,
    code,
    message,
    details,
    ...(scope === undefined ? {} : { scope }),
    ...(retryAfter === undefined ? {} : { retryAfter }),
  });
}

/**
 * Seconds to wait from `Retry-After` (delta-seconds or HTTP-date, RFC 9110 §10.2.3), falling
 * back to `details.retryAfter`. undefined when neither says.
 */
export function retryAfterSeconds(header: string | undefined, details: unknown, now: number): number | undefined {
  if (header !== undefined) {
    const trimmed = header.trim();
    if (/^\d+$/.test(trimmed)) return Number(trimmed);
    const date = Date.parse(trimmed);
    if (!Number.isNaN(date)) return Math.max(0, Math.ceil((date - now) / 1000));
  }
  if (isRecord(details) && typeof details.retryAfter === 'number' && Number.isFinite(details.retryAfter) && details.retryAfter >= 0) {
    return details.retryAfter;
  }
  return undefined;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
