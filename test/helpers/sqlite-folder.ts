import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { openDb, type Db } from '../../src/db/dialect.js';

export interface SqliteFolder {
  /** The directory's file in this test's folder (its events' and limits' files sit beside it). */
  readonly path: string;
  /** Opens the directory's file, closing the handle opened before (a restart on the same folder). */
  open(): Promise<Db>;
  /** Closes the open handle, if any: before removing one of the folder's files, say. */
  close(): Promise<void>;
}

/**
 * A data folder per test, as `findguard serve` would make one: call in a test file's body; each
 * test gets its folder from `folder()`, and its handle is closed and the folder removed after it.
 */
export function sqliteFolderPerTest(prefix: string): () => SqliteFolder {
  let dir: string | undefined;
  let db: Db | undefined;
  afterEach(async () => {
    await db?.close();
    db = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return () => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    const path = join(dir, 'findguard.sqlite');
    const close = async () => {
      await db?.close();
      db = undefined;
    };
    return {
      path,
      open: async () => {
        await close();
        db = openDb({ dialect: 'sqlite', path });
        return db;
      },
      close,
    };
  };
}
