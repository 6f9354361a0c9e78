import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newestFirst, type Keyset } from './resume.js';

/** A table's rows newest first by (at, id), served a page at a time after a key, as the keyset queries do. */
function table(rows: Keyset[], pageSize: number) {
  const sorted = [...rows].sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const pages: Array<Keyset | undefined> = [];
  const page = async (before: Keyset | undefined) => {
    pages.push(before);
    const after = before ? sorted.filter((r) => r.at < before.at || (r.at === before.at && r.id < before.id)) : sorted;
    return after.slice(0, pageSize);
  };
  return { sorted, page, pages };
}

describe('newestFirst (keyset paging of the resume reads)', () => {
  it('visits every row once, newest first, across pages, ties at one time included', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.record({ at: fc.integer({ min: 0, max: 5 }), id: fc.string({ minLength: 1, maxLength: 3 }) }), { selector: (r) => `${r.at}\n${r.id}`, maxLength: 40 }), fc.integer({ min: 1, max: 7 }), async (rows, pageSize) => {
        const t = table(rows, pageSize);
        const seen: Keyset[] = [];
        const visit = (r: Keyset) => {
          seen.push(r);
          return false;
        };
        await newestFirst(t.page, (r) => r, visit, pageSize);
        expect(seen).toEqual(t.sorted);
        // One read past the last full page, none more.
        expect(t.pages.length).toBe(Math.floor(rows.length / pageSize) + 1);
      }),
    );
  });

  it('stops at the row the visitor stops at, reading no further page', async () => {
    const rows = Array.from({ length: 10 }, (_, i) => ({ at: i, id: `r${i}` }));
    const t = table(rows, 3);
    const seen: string[] = [];
    await newestFirst(t.page, (r) => r, (r) => seen.push(r.id) === 4, 3);
    expect(seen).toEqual(['r9', 'r8', 'r7', 'r6']);
    expect(t.pages).toEqual([undefined, { at: 7, id: 'r7' }]);
  });
});
