/**
 * A match worker: its own read-only connection to the SQLite file, hashing and matching batches
 * off the event loop so a large sync uses the machine's other cores.
 */
import SQLite from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import type { HashKey } from '../config/config.js';
import { ContactHasher, type ContactKind } from '../directory/hashing.js';
import { AppError, type ErrorCode } from '../errors.js';
import { createSqliteMatcher, type AccountRef } from './sqlite-matcher.js';

export interface MatchWorkerData {
  path: string;
  keys: Array<{ version: number; key: Uint8Array }>;
}

export interface MatchRequest {
  id: number;
  kind: ContactKind;
  values: string[];
  /** Read again here, with the batch: its status and verified phones may have changed while it was queued. */
  caller: AccountRef;
}

export interface MatchReply {
  id: number;
  /** Aligned with values: [accountId, handle] or null. */
  results?: Array<[string, string] | null>;
  /** The caller was refused (suspended, erased): the main thread throws this, as the inline match does. */
  refused?: { code: ErrorCode; message: string };
  error?: string;
}

const data = workerData as MatchWorkerData;
const sqlite = new SQLite(data.path, { readonly: true, fileMustExist: true });
sqlite.pragma('busy_timeout = 5000');
sqlite.pragma('cache_size = -65536');
const keys: HashKey[] = data.keys.map((k) => ({ version: k.version, key: Buffer.from(k.key) }));
const match = createSqliteMatcher(sqlite, new ContactHasher(keys));

parentPort!.on('message', (req: MatchRequest) => {
  let reply: MatchReply;
  try {
    reply = { id: req.id, results: match(req.kind, req.values, req.caller).map((m) => (m ? [m.accountId, m.handle] : null)) };
  } catch (err) {
    reply = err instanceof AppError ? { id: req.id, refused: { code: err.code, message: err.message } } : { id: req.id, error: 'match failed' };
  }
  parentPort!.postMessage(reply);
});
