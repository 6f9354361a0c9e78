import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseHashKeys } from '../config/config.js';
import { SeededRandom } from '../util/random.js';
import { SyncTokens } from './sync-token.js';

const keysV1 = parseHashKeys(`v1:${Buffer.alloc(32, 1).toString('base64')}`);
const keysV2 = parseHashKeys(`v2:${Buffer.alloc(32, 2).toString('base64')},v1:${Buffer.alloc(32, 1).toString('base64')}`);
const T = Date.parse('2026-11-25T00:00:00Z');
const DAY = 86_400_000;
const LIFE = 90 * DAY;
/** An account as first mirrored at T. */
const h = (accountId: string, mirroredAt = T) => ({ accountId, mirroredAt });

describe('sync tokens', () => {
  const tokens = new SyncTokens(keysV1, new SeededRandom(1));
  const verify = (t: string, account: string, kind: 'phone' | 'email', set: string[], now = T) => tokens.verify(t, h(account), kind, set, now, LIFE);

  it('verifies for the same account, kind and set in any order or with repeats, and gives back the region', () => {
    const t = tokens.issue(h('acct-1'), 'phone', 'GB', ['+14155552671', '07911 123456'], T);
    expect(verify(t, 'acct-1', 'phone', ['07911 123456', '+14155552671', '07911 123456'])).toEqual({ issuedAt: T, region: 'GB' });
    const none = tokens.issue(h('acct-1'), 'phone', undefined, ['+14155552671'], T);
    expect(verify(none, 'acct-1', 'phone', ['+14155552671'])).toEqual({ issuedAt: T, region: '' });
  });

  it('refuses the same id mirrored again after an erasure (another account)', () => {
    const set = ['+14155552671'];
    const t = tokens.issue(h('acct-1', T - DAY), 'phone', undefined, set, T);
    expect(tokens.verify(t, h('acct-1', T - DAY), 'phone', set, T, LIFE)).toBeDefined();
    expect(tokens.verify(t, h('acct-1', T - DAY + 1), 'phone', set, T, LIFE)).toBeUndefined();
  });

  it('refuses another account, kind, set, or a tampered token', () => {
    const set = ['+14155552671', '+447911123456'];
    const t = tokens.issue(h('acct-1'), 'phone', 'US', set, T);
    expect(verify(t, 'acct-2', 'phone', set)).toBeUndefined();
    expect(verify(t, 'acct-1', 'email', set)).toBeUndefined();
    expect(verify(t, 'acct-1', 'phone', set.slice(1))).toBeUndefined();
    expect(verify(t, 'acct-1', 'phone', [...set, '+33612345678'])).toBeUndefined();
    const raw = Buffer.from(t, 'base64url');
    for (let i = 0; i < raw.length; i++) {
      const bad = Buffer.from(raw);
      bad[i] = bad[i]! ^ 1;
      expect(verify(bad.toString('base64url'), 'acct-1', 'phone', set)).toBeUndefined();
    }
    expect(verify('', 'acct-1', 'phone', set)).toBeUndefined();
    expect(verify('x'.repeat(500), 'acct-1', 'phone', set)).toBeUndefined();
  });

  it('binds the region: the region bytes cannot be swapped (they are under the MAC)', () => {
    const t = tokens.issue(h('acct-1'), 'phone', 'GB', ['07400 550003'], T);
    const raw = Buffer.from(t, 'base64url');
    raw.write('US', 5, 2, 'latin1');
    expect(verify(raw.toString('base64url'), 'acct-1', 'phone', ['07400 550003'])).toBeUndefined();
  });

  it('accepts one canonical encoding only', () => {
    const set = ['+14155552671'];
    const t = tokens.issue(h('acct-1'), 'phone', undefined, set, T);
    expect(verify(t, 'acct-1', 'phone', set)).toBeDefined();
    // Standard base64 with padding, whitespace or junk that Node's decoder skips, and changed
    // trailing bits all decode to the same bytes: none is the token.
    const std = Buffer.from(t, 'base64url').toString('base64');
    const lastBitsFlipped = t.slice(0, -1) + (t.at(-1) === 'A' ? 'B' : 'A');
    for (const variant of [std, `${t}=`, `${t} `, ` ${t}`, `${t.slice(0, 10)}.${t.slice(10)}`, `${t}\n`, lastBitsFlipped]) {
      expect(verify(variant, 'acct-1', 'phone', set)).toBeUndefined();
    }
  });

  it('expires after its lifetime and refuses one issued in the future', () => {
    const set = ['+14155552671'];
    const t = tokens.issue(h('acct-1'), 'phone', undefined, set, T);
    expect(verify(t, 'acct-1', 'phone', set, T + LIFE)).toBeDefined();
    expect(verify(t, 'acct-1', 'phone', set, T + LIFE + 1000)).toBeUndefined();
    expect(tokens.verify(t, h('acct-1'), 'phone', set, T + 2 * DAY, DAY)).toBeUndefined();
    // Another node's clock a minute behind still takes it; one an hour behind does not.
    expect(verify(t, 'acct-1', 'phone', set, T - 60_000)).toBeDefined();
    expect(verify(t, 'acct-1', 'phone', set, T - 3_600_000)).toBeUndefined();
  });

  it('refuses the first version (raw strings without their region)', () => {
    const t = tokens.issue(h('acct-1'), 'phone', undefined, ['+14155552671'], T);
    const raw = Buffer.from(t, 'base64url');
    raw.writeUInt8(1, 0);
    expect(verify(raw.toString('base64url'), 'acct-1', 'phone', ['+14155552671'])).toBeUndefined();
  });

  it('binds values exactly as sent: no two distinct sets share a token (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string(), { maxLength: 8 }), fc.uniqueArray(fc.string(), { maxLength: 8 }), (a, b) => {
        const same = new Set(a).size === new Set(b).size && a.every((x) => b.includes(x));
        const t = tokens.issue(h('acct'), 'phone', 'DE', a, T);
        expect(verify(t, 'acct', 'phone', b) !== undefined).toBe(same);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps old tokens valid during a key rotation and refuses them once the key is gone', () => {
    const old = tokens.issue(h('acct-1'), 'phone', undefined, ['+14155552671'], T);
    const rotating = new SyncTokens(keysV2, new SeededRandom(2));
    expect(rotating.verify(old, h('acct-1'), 'phone', ['+14155552671'], T, LIFE)).toBeDefined();
    const onlyNew = new SyncTokens(parseHashKeys(`v2:${Buffer.alloc(32, 2).toString('base64')}`), new SeededRandom(3));
    expect(onlyNew.verify(old, h('acct-1'), 'phone', ['+14155552671'], T, LIFE)).toBeUndefined();
  });
});
