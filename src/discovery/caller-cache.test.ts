import { describe, expect, it } from 'vitest';
import { ManualClock } from '../util/clock.js';
import { CallerStatusCache } from './caller-cache.js';
import type { CallerStatus } from './store.js';

describe('caller status cache', () => {
  it('serves from memory within the TTL, reloads after it, and forgets on invalidation', async () => {
    const clock = new ManualClock(0);
    const statuses = new Map<string, CallerStatus>([['a', { status: 'active', createdAt: 0, mirroredAt: 0 }]]);
    let loads = 0;
    const cache = new CallerStatusCache(async (id) => (loads++, statuses.get(id)), clock, 1000);
    expect((await cache.get('a'))?.status).toBe('active');
    statuses.set('a', { status: 'suspended', createdAt: 0, mirroredAt: 0 });
    clock.advance(999);
    expect((await cache.get('a'))?.status).toBe('active');
    clock.advance(1);
    expect((await cache.get('a'))?.status).toBe('suspended');
    statuses.set('a', { status: 'active', createdAt: 0, mirroredAt: 0 });
    cache.invalidate(['a']);
    expect((await cache.get('a'))?.status).toBe('active');
    expect(await cache.get('nobody')).toBeUndefined();
    expect(loads).toBe(4);
  });

  it('stays bounded', async () => {
    const cache = new CallerStatusCache(async () => ({ status: 'active' as const, createdAt: 0, mirroredAt: 0 }), new ManualClock(0), 1000, 10);
    for (let i = 0; i < 100; i++) await cache.get(`a${i}`);
    expect((cache as unknown as { entries: Map<string, unknown> }).entries.size).toBe(10);
  });
});
