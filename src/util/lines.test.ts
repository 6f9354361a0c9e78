import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readLines } from './lines.js';

async function collect(chunks: string[], max = 16): Promise<Array<string | undefined>> {
  const out: Array<string | undefined> = [];
  for await (const l of readLines(Readable.from(chunks.map((c) => Buffer.from(c))), max)) out.push(l);
  return out;
}

describe('readLines', () => {
  it('splits across chunk boundaries, strips CR, keeps a last line without newline', async () => {
    expect(await collect(['ab', 'c\nde', 'f\r\n\ng', 'h'])).toEqual(['abc', 'def', '', 'gh']);
  });

  it('keeps multi-byte characters split across chunks intact', async () => {
    const text = Buffer.from('héllo\nwörld\n');
    const out: Array<string | undefined> = [];
    for await (const l of readLines(Readable.from([text.subarray(0, 2), text.subarray(2, 9), text.subarray(9)]), 64)) out.push(l);
    expect(out).toEqual(['héllo', 'wörld']);
  });

  it('yields undefined for an over-long line and carries on', async () => {
    expect(await collect(['short\n', 'x'.repeat(10), 'y'.repeat(10), '\nafter\n', 'z'.repeat(40)], 16)).toEqual(['short', undefined, 'after', undefined]);
  });

  it('reports bytes read', async () => {
    let n = 0;
    for await (const _ of readLines(Readable.from([Buffer.from('a\nb\n')]), 8, (b) => (n += b))) void _;
    expect(n).toBe(4);
  });
});
