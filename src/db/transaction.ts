import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

/** Work that must see only committed data: cache invalidation, change notices, pokes. */
export type AfterCommit = () => unknown;

/**
 * A transaction that collects work to run once it has committed (after atproto ozone's
 * `Database.transaction`/`onCommit`). It is the Kysely transaction itself, so every query
 * function that takes a `Kysely<Database>` runs inside it unchanged.
 */
export type Tx = Transaction<Database> & {
  /** Runs cb once after the outermost commit; never on rollback. A failure is logged, not thrown. */
  onCommit(cb: AfterCommit): void;
};

/** Where a failed after-commit callback is reported (a pino logger fits). */
export interface CommitLog {
  error(obj: object, msg: string): void;
}

export function isTx(db: Kysely<Database>): db is Tx {
  return db.isTransaction && typeof (db as unknown as Partial<Tx>).onCommit === 'function';
}

/**
 * Runs fn in a transaction. Given a Tx (a caller's transaction), fn joins it: its onCommit
 * callbacks wait for that transaction's commit. Otherwise a new transaction starts; once it has
 * committed, its callbacks run in the order they were registered, each once, and the result is
 * returned whatever they do. A rollback (fn or the commit throwing) drops them.
 */
export async function transaction<T>(db: Kysely<Database>, fn: (tx: Tx) => Promise<T>, log?: CommitLog): Promise<T> {
  if (isTx(db)) return fn(db);
  if (db.isTransaction) throw new Error('transaction(): a Kysely transaction not opened by transaction() cannot be joined');
  const callbacks: AfterCommit[] = [];
  const result = await db.transaction().execute((trx) => {
    const tx = Object.assign(trx, { onCommit: (cb: AfterCommit) => void callbacks.push(cb) });
    return fn(tx);
  });
  for (const cb of callbacks) {
    try {
      const r = cb();
      if (r instanceof Promise) r.catch((err: unknown) => report(log, err));
    } catch (err) {
      report(log, err);
    }
  }
  return result;
}

function report(log: CommitLog | undefined, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  if (log) log.error({ err: message }, 'an after-commit callback failed (the transaction had committed)');
  else process.emitWarning(`an after-commit callback failed (the transaction had committed): ${message}`);
}
