import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { ManualClock } from '../util/clock.js';
import { DecisionCache, EXPIRY_SKEW_MS, type DecisionSource } from './decision-cache.js';
import type { StandingDecision } from './decisions.js';

/**
 * The cache's own ordering and freshness rules, with a source the test holds back or breaks at
 * will (test/incidents-decisions.test.ts runs it against both databases and Redis).
 */

const T = Date.parse('2026-11-01T12:00:00Z');

function decision(id: string, over: Partial<StandingDecision> = {}): StandingDecision {
  return {
    id,
    scope: 'account',
    subject: 'acct',
    action: 'challenge',
    reason: 'r',
    source: 'engine',
    actor: 'engine',
    createdAt: T,
    expiresAt: null,
    liftedAt: null,
    liftedBy: null,
    liftReason: null,
    clusterId: null,
    campaignId: null,
    actionId: null,
    batchId: null,
    changedAt: T,
    ...over,
  };
}

/** A source whose next incremental read waits for release() (or fails with fail()). */
class HeldSource implements DecisionSource {
  private waiting: Array<{ ok: (rows: StandingDecision[]) => void; no: (err: Error) => void }> = [];
  async active(): Promise<StandingDecision[]> {
    return [];
  }
  changedAfter(): Promise<StandingDecision[]> {
    return new Promise((ok, no) => this.waiting.push({ ok, no }));
  }
  release(rows: StandingDecision[] = []): void {
    for (const w of this.waiting.splice(0)) w.ok(rows);
  }
  fail(): void {
    for (const w of this.waiting.splice(0)) w.no(new Error('database away'));
  }
}

function cache(source: DecisionSource, mono: { t: number }) {
  return new DecisionCache({ source, clock: new ManualClock(T), logger: createLogger('silent'), pollMs: 3_600_000, maxAgeMs: 5000, monotonic: () => mono.t });
}

describe('DecisionCache', () => {
  it('a read that began before a lift was applied cannot bring the lifted row back; rows written meanwhile stay', async () => {
    const source = new HeldSource();
    const mono = { t: 0 };
    const c = cache(source, mono);
    await c.start();
    c.changed([decision('d1')]);
    const reading = c.refresh();
    // Committed and applied while the read (which saw d1 still standing) is in flight.
    c.changed([decision('d1', { liftedAt: T, changedAt: T })]);
    c.changed([decision('d2', { subject: 'other', action: 'throttle' })]);
    source.release([decision('d1')]);
    await reading;
    expect(c.standing('acct', { createdAt: T - 1 }, T)).toBeUndefined();
    expect(c.standing('other', { createdAt: T - 1 }, T)?.id).toBe('d2');
    await c.close();
  });

  it('the strongest decision in force wins; an expired one counts for nothing', async () => {
    const source = new HeldSource();
    const c = cache(source, { t: 0 });
    await c.start();
    c.changed([decision('t', { action: 'throttle' }), decision('c', { action: 'challenge', expiresAt: T + 10 }), decision('s', { action: 'suspend', subject: 'x' })]);
    expect(c.standing('acct', { createdAt: 0 }, T)?.id).toBe('c');
    // Past its expiry by less than EXPIRY_SKEW_MS it still stands (a node ahead must not end it early).
    expect(c.standing('acct', { createdAt: 0 }, T + 10 + EXPIRY_SKEW_MS - 1)?.id).toBe('c');
    expect(c.standing('acct', { createdAt: 0 }, T + 10 + EXPIRY_SKEW_MS)?.id).toBe('t');
    expect(c.standing('x', { createdAt: 0 }, T)?.action).toBe('suspend');
    await c.close();
  });

  it('turns unreadable only when reads fail or hang past the bound, not when none was due', async () => {
    const source = new HeldSource();
    const mono = { t: 0 };
    const c = cache(source, mono);
    expect(c.readable()).toBe(false);
    await c.start();
    // A loop busy elsewhere for a minute read nothing: the view is old, but nothing failed.
    mono.t = 60_000;
    expect(c.readable()).toBe(true);

    let reading = c.refresh();
    source.fail();
    await reading;
    // The last good read began at 0: failing since, the view is too old.
    expect(c.readable()).toBe(false);
    reading = c.refresh();
    source.release();
    await reading;
    expect(c.readable()).toBe(true);

    // A read that does not answer: fine for the bound, then unreadable until it does.
    reading = c.refresh();
    mono.t += 4000;
    expect(c.readable()).toBe(true);
    mono.t += 2000;
    expect(c.readable()).toBe(false);
    source.release();
    await reading;
    expect(c.readable()).toBe(true);
    await c.close();
  });
});
