import pino, { type DestinationStream, type Logger } from 'pino';
import { canonicalAddress } from './net/client-address.js';

/**
 * Paths that could ever hold a credential or a contact value. Request bodies are never logged,
 * and these are censored as a second line of defence should an object reach a log call.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-findguard-proof"]',
  'req.headers.cookie',
  '*.phone',
  '*.email',
  '*.contacts',
  '*.emails',
  '*.value',
  '*.previous',
  'body',
  '*.body',
];

interface LoggedRequest {
  method?: string;
  ip?: string;
  routeOptions?: { url?: string };
}

/**
 * A request in a log line (Fastify's `incoming request` and any `{ req }`): the route it matched,
 * never the URL as sent, whose query string or unknown path may carry a phone number in any
 * encoding; the client address as findguard reads it, never the header's text.
 */
function requestSummary(req: LoggedRequest): Record<string, unknown> {
  let route: string | undefined;
  try {
    route = req.routeOptions?.url;
  } catch {
    // Requests Fastify refuses before routing (frameworkErrors) have no route to read.
  }
  return { method: req.method, route: route ?? null, remoteAddress: canonicalAddress(req.ip) ?? 'unreadable' };
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ name: 'findguard', level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, serializers: { req: requestSummary } }, destination);
}
