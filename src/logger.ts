import pino, { type DestinationStream, type Logger } from 'pino';

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

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ name: 'findguard', level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}
