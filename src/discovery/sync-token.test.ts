import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseHashKeys } from '../config/config.js';
import { SeededRandom } from '../util/random.js';
import { SyncTokens } from './sync-token.js';

const keysV1 = parseHashKeys(`v1:${Buffer.alloc(32, 1).toString('base64')}`);
const keysV2 = parseHashKeys(`v2:${Buffer.alloc(32, 2).toString('base64')},v1:${Buffer.alloc(32, 1).toString('base64')}`);
const T = Date.parse('2026-11-25T00:00:00Z');

describe('sync tokens', () => {
  const tokens = new SyncTokens(keysV1, new SeededRandom(1));

  it('verifies for the same account, kind and set in any order or with repeats', () => {
    const t = tokens.issue('acct-1', 'phone', ['+14155552671', '+447911123456'], T);
    expect(tokens.verify(t, 'acct-1', 'phone', ['+447911123456', '+14155552671', '+447911123456'])).toEqual({ issuedAt: T });
  });

  it('refuses another account, kind, set, or a tampered token', () => {
    const set = ['+14155552671', '+447911123456'];
    const t = tokens.issue('acct-1', 'phone', set, T);
    expect(tokens.verify(t, 'acct-2', 'phone', set)).toBeUndefined();
    expect(tokens.verify(t, 'acct-1', 'email', set)).toBeUndefined();
    expect(tokens.verify(t, 'acct-1', 'phone', set.slice(1))).toBeUndefined();
    expect(tokens.verify(t, 'acct-1', 'phone', [...set, '+33612345678'])).toBeUndefined();
    const raw = Buffer.from(t, 'base64url');
    for (let i = 0; i < raw.length; i++) {
      const bad = Buffer.from(raw);
      bad[i] = bad[i]! ^ 1;
      expect(tokens.verify(bad.toString('base64url'), 'acct-1', 'phone', set)).toBeUndefined();
    }
    expect(tokens.verify('', 'acct-1', 'phone', set)).toBeUndefined();
    expect(tokens.verify('x'.repeat(500), 'acct-1', 'phone', set)).toBeUndefined();
  });

  it('binds values exactly as sent: no two distinct sets share a token (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string(), { maxLength: 8 }), fc.uniqueArray(fc.string(), { maxLength: 8 }), (a, b) => {
        const same = new Set(a).size === new Set(b).size && a.every((x) => b.includes(x));
        const t = tokens.issue('acct', 'phone', a, T);
        expect(tokens.verify(t, 'acct', 'phone', b) !== undefined).toBe(same);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps old tokens valid during a key rotation and refuses them once the key is gone', () => {
    const old = tokens.issue('acct-1', 'phone', ['+14155552671'], T);
    const rotating = new SyncTokens(keysV2, new SeededRandom(2));
    expect(rotating.verify(old, 'acct-1', 'phone', ['+14155552671'])).toBeDefined();
    const onlyNew = new SyncTokens(parseHashKeys(`v2:${Buffer.alloc(32, 2).toString('base64')}`), new SeededRandom(3));
    expect(onlyNew.verify(old, 'acct-1', 'phone', ['+14155552671'])).toBeUndefined();
  });
});
