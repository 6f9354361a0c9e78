/**
 * What a database driver's error means for the caller, read from node-postgres' and Node's error
 * codes (better-sqlite3 raises none of these). A store the service cannot reach is an outage
 * (503, retry), a value PostgreSQL cannot hold is the request's fault (400): neither is a bug.
 */
export type StoreFailure = 'unreachable' | 'invalid_text';

// Class 08: connection exception. 57P01-57P03: the server shutting down or starting up.
// 53300: too many connections. Node's socket errors, as pg raises them while (re)connecting.
const UNREACHABLE_CODES = new Set(['57P01', '57P02', '57P03', '53300', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
// pg's own errors carry no code: a connection that dropped, or the pool's connect timeout.
const UNREACHABLE_MESSAGES = [/^Connection terminated/, /timeout exceeded when trying to connect/, /Client has encountered a connection error/, /not currently accepting connections/];
// 22021 character_not_in_repertoire (a NUL in text), 22P05 untranslatable_character.
const INVALID_TEXT_CODES = new Set(['22021', '22P05']);

export function storeFailure(err: unknown): StoreFailure | null {
  // The driver's error may sit under a wrapper's cause, or among an AggregateError's (IPv4 and IPv6 both refused).
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0 && seen.size < 20) {
    const e = queue.shift();
    if (!(e instanceof Error) || seen.has(e)) continue;
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (INVALID_TEXT_CODES.has(code)) return 'invalid_text';
      if (UNREACHABLE_CODES.has(code) || code.startsWith('08')) return 'unreachable';
    }
    if (UNREACHABLE_MESSAGES.some((m) => m.test(e.message))) return 'unreachable';
    queue.push(e.cause);
    if (e instanceof AggregateError) queue.push(...(e.errors as unknown[]));
  }
  return null;
}

/**
 * A UNIQUE (or primary key) constraint refused a write: PostgreSQL's 23505, better-sqlite3's
 * SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY. For writes that race another transaction making the
 * same row, whose caller then reads the row the other one made.
 */
export function isUniqueViolation(err: unknown): boolean {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
