import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Random } from './random.js';

/**
 * Writes a file only its owner may read (0600), whether or not it exists already. writeFileSync's
 * mode applies only when it creates the file: over an existing 0644 file it kept 0644 and wrote
 * the new contents there. A new file is created 0600 beside the target and renamed over it, so no
 * moment exists where the contents sit under the old mode, and a reader holding the old file open
 * keeps reading the old contents.
 */
export function writePrivateFile(path: string, contents: string, random: Random): void {
  const temp = join(dirname(path), `.${basename(path)}.${random.bytes(6).toString('hex')}.tmp`);
  // 'wx': never through a file (or link) someone placed under that name.
  writeFileSync(temp, contents, { mode: 0o600, flag: 'wx' });
  try {
    renameSync(temp, path);
  } catch (err) {
    unlinkSync(temp);
    throw err;
  }
}
