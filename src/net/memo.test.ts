import { describe, expect, it } from 'vitest';
import { canonicalAddress, memo, proxyTrust } from './client-address.js';

describe('memo (an address reading remembered per text)', () => {
  it('reads each text once, undefined answers included, and answers as the reading does', () => {
    const asked: string[] = [];
    const read = memo((a: string) => {
      asked.push(a);
      return canonicalAddress(a);
    });
    expect(read('10.0.0.1:443')).toBe('10.0.0.1');
    expect(read('10.0.0.1:443')).toBe('10.0.0.1');
    expect(read('not an address')).toBeUndefined();
    expect(read('not an address')).toBeUndefined();
    expect(asked).toEqual(['10.0.0.1:443', 'not an address']);
  });

  it('stays bounded: past 10,000 texts it starts again', () => {
    let reads = 0;
    const read = memo((a: string) => (reads++, a.length));
    for (let i = 0; i < 10_001; i++) read(`a${i}`);
    read('a0');
    expect(reads).toBe(10_002);
  });

  it('a remembered trust answers as proxyTrust did, hop after hop', () => {
    const trust = proxyTrust(['10.0.0.0/8', '::1']);
    for (let i = 0; i < 2; i++) {
      expect(trust('10.1.2.3')).toBe(true);
      expect(trust('10.1.2.3:8080')).toBe(true);
      expect(trust('::1')).toBe(true);
      expect(trust('11.1.2.3')).toBe(false);
      expect(trust('garbage')).toBe(false);
    }
  });
});
