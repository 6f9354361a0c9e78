import type { ErrorBody } from './protocol/index.js';

/**
 * Every coded error findguard answers with, and its HTTP status, in one place. Clients and the
 * acceptance tests match on `code`; messages are for people and never carry contact values.
 */
export const ERRORS = {
  invalid_request: 400,
  invalid_token: 400,
  invalid_phone: 400,
  invalid_email: 400,
  invalid_region: 400,
  invalid_client_address: 400,
  discoverability_conflict: 400,
  unauthenticated: 401,
  /** The operator console and admin API (src/http/admin/auth.ts). */
  not_signed_in: 401,
  invalid_credentials: 401,
  forbidden: 403,
  forbidden_role: 403,
  csrf_invalid: 403,
  account_suspended: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  /** Incidents (src/incidents/incident-lifecycle.ts): a move the lifecycle does not allow, an approved report phase edited, a second approval by the same operator, notify without a notifier. */
  illegal_transition: 409,
  phase_locked: 409,
  already_approved: 409,
  notifier_unavailable: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  challenge_required: 428,
  rate_limited: 429,
  headers_too_large: 431,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERRORS[code];
  }
}

export type { ErrorBody };

export function errorBody(code: string, message: string, details?: unknown): ErrorBody {
  return details === undefined ? { error: { code, message } } : { error: { code, message, details } };
}
