import { describe, expect, it } from 'vitest';
import { DecisionCache, type DecisionSource } from '../src/incidents/decision-cache.js';
import type { StandingDecision } from '../src/incidents/decisions.js';
import { createLogger } from '../src/logger.js';
import { ManualClock } from '../src/util/clock.js';
import { sleep } from './helpers/processes.js';

/**
 * The decision cache's backstop: every `fullReadMs` a node reads the whole active set and it
 * replaces the view, so a change its incremental reads somehow missed (here: all of them) stands,
 * or stops standing, within that bound rather than until a restart.
 */

const T = Date.parse('2026-11-01T12:00:00Z');

function decision(id: string, subject: string): StandingDecision {
  return {
    id, scope: 'account', subject, action: 'suspend', reason: 'r', source: 'engine', actor: 'engine', createdAt: T, expiresAt: null,
    liftedAt: null, liftedBy: null, liftReason: null, clusterId: null, campaignId: null, actionId: null, batchId: null, changedAt: T,
  };
}

/** A database whose incremental reads see nothing, ever. */
class BlindSource implements DecisionSource {
  rows: StandingDecision[] = [];
  fullReads = 0;
  /** While set, a full read waits for it (taking its rows as they were when it began). */
  gate: Promise<void> | undefined;
  async active(): Promise<StandingDecision[]> {
    this.fullReads++;
    const rows = this.rows;
    await this.gate;
    return rows;
  }
  async changedAfter(): Promise<StandingDecision[]> {
    return [];
  }
}

describe('DecisionCache backstop', () => {
  it('a full read replaces the view: a missed decision comes in, a missed lift takes one out; one applied meanwhile stays', async () => {
    const source = new BlindSource();
    source.rows = [decision('old', 'lifted-elsewhere')];
    const c = new DecisionCache({ source, clock: new ManualClock(T), logger: createLogger('silent'), pollMs: 10, fullReadMs: 200 });
    await c.start();
    expect(c.standing('lifted-elsewhere', { createdAt: 0 }, T)?.id).toBe('old');

    // Another node lifts "old" and suspends "missed"; no incremental read shows either.
    source.rows = [decision('missed', 'missed')];
    await sleep(100);
    expect(c.standing('lifted-elsewhere', { createdAt: 0 }, T)?.id).toBe('old');
    expect(c.standing('missed', { createdAt: 0 }, T)).toBeUndefined();
    // Committed and applied in this process while a full read whose snapshot predates it runs: it stays.
    let open!: () => void;
    source.gate = new Promise((ok) => (open = ok));
    const reads = source.fullReads;
    while (source.fullReads === reads) await sleep(10);
    c.changed([decision('local', 'local')]);
    open();
    source.gate = undefined;
    await sleep(50);
    expect(c.standing('lifted-elsewhere', { createdAt: 0 }, T)).toBeUndefined();
    expect(c.standing('missed', { createdAt: 0 }, T)?.id).toBe('missed');
    expect(c.standing('local', { createdAt: 0 }, T)?.id).toBe('local');
    await c.close();
  });
});
