import type { LookupEvent } from '../../src/abuse/events.js';

/** A valid lookup event for pipeline tests; `i` makes its id (and block) unique. */
export function makeEvent(i: number, over: Partial<LookupEvent> = {}): LookupEvent {
  return {
    v: 1,
    id: `evt-${String(i).padStart(12, '0')}-test`,
    at: Date.parse('2026-11-01T12:00:00Z') + i,
    accountId: `acct-${i % 7}`,
    ip: '198.51.100.7',
    subnet: '198.51.100.0/24',
    asn: 64501,
    country: 'GB',
    network: 'other',
    tier: 'standard',
    operation: 'full-sync',
    outcome: 'allowed',
    kind: 'phone',
    numbers: 2,
    newNumbers: 2,
    matched: 0,
    revealed: [],
    blocks: { [`+4915120${String(i % 10_000).padStart(4, '0')}`]: 2 },
    accountCreatedAt: Date.parse('2026-01-01T00:00:00Z'),
    ...over,
  };
}

/**
 * Answered lookups for the incident tests: `answer(caller, revealed, minute)` is `caller` shown
 * `revealed` at `t0` + that many minutes, one number asked and matched; ids count up from `base`.
 */
export function answerer(base: number, t0: number): (caller: string, revealed: string, minute: number) => LookupEvent {
  let n = 0;
  return (caller, revealed, minute) => makeEvent(++n + base, { accountId: caller, at: t0 + minute * 60_000, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });
}
