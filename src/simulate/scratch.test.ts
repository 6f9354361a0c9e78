import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scratchRoot } from './driver.js';

/** A run's scratch data goes to memory only where there is room: a container's 64 MB /dev/shm would fill. */
describe('scratchRoot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-scratch-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes the folder when it has the room asked for', () => {
    expect(scratchRoot(dir, 1)).toBe(dir);
  });

  it('falls back to the temporary folder when the room is short, or the folder is missing or not a folder', () => {
    expect(scratchRoot(dir, Number.MAX_SAFE_INTEGER)).toBe(tmpdir());
    expect(scratchRoot(join(dir, 'missing'), 1)).toBe(tmpdir());
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    expect(scratchRoot(file, 1)).toBe(tmpdir());
  });
});
