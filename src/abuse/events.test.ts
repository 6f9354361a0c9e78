import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../util/random.js';
import { LookupEventSchema, newEventId } from './events.js';

describe('newEventId', () => {
  it('sorts as the events\' times do, stays unique within one millisecond, and fits the schema\'s id', () => {
    const random = new SeededRandom(1);
    const times = [0, 1, 15, 16, 255, 256, Date.parse('2026-11-25T12:00:00Z'), Date.parse('2026-11-25T12:00:00Z') + 1, 2 ** 47];
    const ids = times.map((t) => newEventId(random, t));
    expect([...ids].sort()).toEqual(ids);
    const sameMs = Array.from({ length: 1000 }, () => newEventId(random, times[6]!));
    expect(new Set(sameMs).size).toBe(1000);
    const pattern = new RegExp((LookupEventSchema.properties.id as unknown as { pattern: string }).pattern);
    for (const id of [...ids, ...sameMs]) expect(id).toMatch(pattern);
    expect(ids[6]!.slice(0, 12)).toBe('01a21293b600');
    expect(ids[0]!.slice(0, 12)).toBe('000000000000');
  });
});
