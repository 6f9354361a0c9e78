import { describe, expect, it } from 'vitest';
import { MemoryLimitStore } from './memory-store.js';
import { NotSoleNodeError, type ApplyInput } from './store.js';

const T0 = Date.parse('2026-11-01T12:00:00Z');
const input = (now: number): ApplyInput => ({
  charges: [{ layer: 'account', scope: 'account', key: 'account:a', cost: 1, burst: 2, rate: 0, perMs: 3_600_000, shadow: false }],
  proof: false,
  strikeWindowMs: 86_400_000,
  now,
});

describe('a memory store that is no longer the only one', () => {
  it('charges and answers nothing while another node holds the lock, and goes on as it was once it is sole again', async () => {
    const store = new MemoryLimitStore();
    let sole = true;
    store.soleWhile(() => sole);
    expect((await store.apply(input(T0))).outcome).toBe('allowed');
    sole = false;
    await expect(store.apply(input(T0 + 1))).rejects.toBeInstanceOf(NotSoleNodeError);
    await expect(store.useOnce('proof:x', 60_000, T0 + 1)).rejects.toBeInstanceOf(NotSoleNodeError);
    sole = true;
    // The refused calls charged nothing: one token is left of two, and the proof was never used.
    expect((await store.apply(input(T0 + 2))).outcome).toBe('allowed');
    expect((await store.apply(input(T0 + 3))).outcome).toBe('refused');
    expect(await store.useOnce('proof:x', 60_000, T0 + 3)).toBe(true);
    await store.close();
  });
});
