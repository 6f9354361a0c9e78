import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { RevealedFacts } from '../../src/abuse/detectors/revelation.js';
import type { Decision, Enforcer } from '../../src/abuse/engine.js';
import type { LookupEvent } from '../../src/abuse/events.js';
import { partitionOf } from '../../src/abuse/partitions.js';
import { PartitionStage, type SummarySink } from '../../src/abuse/stages.js';
import { DAY, HOUR, T0, Traffic, friendsScene, listerScene, merge, organicScene, sparseBooksScene } from '../../src/abuse/synthetic.js';
import { DEFAULT_ABUSE_POLICY, type AbusePolicy } from '../../src/policy/index.js';

/**
 * Found in review of the revelation graph across partitions (test/review/sharded-revelation-friends):
 * a call that named another partition's accounts waited for "every live partition" in event time,
 * at most 10 minutes of it. A partition behind (a backlog after a restart or a take-over replays
 * days in minutes) or not reporting yet counted as caught up, so its stored-later events read as
 * "never named the caller", and the people were suspended again. Now the call waits until every
 * partition, silent ones included, has stored up to it, bounded on the deployment's clock.
 */
const END = T0 + 3 * DAY;
const realtime = { ...DEFAULT_ABUSE_POLICY.realtime, answers: { ...DEFAULT_ABUSE_POLICY.realtime.answers!, minBaselineNumbers: 1000 } };
const policy: AbusePolicy = { ...DEFAULT_ABUSE_POLICY, mode: 'enforce', realtime };
const PEOPLE = ['early', 'keen', 'newcomer', 'friendly'];

/** Both partitions fed in turn, or partition 1 behind (it stores a few calls, then partition 0 its whole share, then 1 the rest), or absent until 0 is done. */
async function run(mode: 'lockstep' | 'behind' | 'absent'): Promise<Set<string>> {
  const t = new Traffic(43);
  const all = merge(organicScene(t, 3), sparseBooksScene(t), ...PEOPLE.map((c, k) => friendsScene(t, c, k)), listerScene(t));
  const suspended = new Set<string>();
  const enforcer: Enforcer = {
    throttle: async () => undefined,
    challenge: async () => undefined,
    suspend: async (ids: readonly string[], _r, _e, d?: Decision) => void (d && ids.forEach((id) => suspended.add(id))),
  };
  const progress = new Map<number, number>();
  const sink: SummarySink = { publish: async () => undefined, findings: async () => undefined, progress: async (p, at) => void progress.set(p, at) };
  const stored: LookupEvent[] = [];
  const created = new Map<string, number>();
  for (const sg of all.signups) created.set(sg.accountId, sg.at);
  for (const e of all.events) if (!created.has(e.accountId)) created.set(e.accountId, e.accountCreatedAt);
  const revealedFacts: RevealedFacts = {
    createdAt: async (ids) => new Map(ids.filter((id) => created.has(id)).map((id) => [id, created.get(id)!])),
    firstNamed: async (caller, ids, since, until) => {
      const first = new Map<string, number>();
      for (const e of stored) {
        if (ids.includes(e.accountId) && e.at >= since && e.at <= until && e.outcome === 'allowed' && e.revealed.includes(caller)) first.set(e.accountId, Math.min(first.get(e.accountId) ?? e.at, e.at));
      }
      return first;
    },
  };
  const readStoredUpTo = async () => (progress.size === 2 ? Math.min(...progress.values()) : undefined);
  // The deployment's clock stands still: the backlog is replayed within the wait.
  const deps = { enforcer, logger: pino({ level: 'silent' }), clock: { now: () => END }, policy, evaluateEveryMs: HOUR, revealedFacts, readStoredUpTo };
  const stages = [0, 1].map((p) => new PartitionStage(deps, p, 2, sink));
  const batchesOf = (p: number) => {
    const mine = all.events.filter((e) => partitionOf(e.accountId, 2) === p);
    return Array.from({ length: Math.ceil(mine.length / 200) }, (_, i) => mine.slice(i * 200, (i + 1) * 200));
  };
  const feed = async (p: number, b: LookupEvent[]) => {
    for (const sg of all.signups) if (partitionOf(sg.accountId, 2) === p && sg.at <= b[b.length - 1]!.at && sg.at >= b[0]!.at) await stages[p]!.signup(sg);
    stored.push(...b);
    await stages[p]!.handle(b);
  };
  const [b0, b1] = [batchesOf(0), batchesOf(1)];
  if (mode === 'lockstep') {
    for (let i = 0; i < Math.max(b0.length, b1.length); i++) {
      if (b0[i]) await feed(0, b0[i]!);
      if (b1[i]) await feed(1, b1[i]!);
    }
  } else {
    if (mode === 'behind') {
      const first = b1.shift()!;
      await feed(1, first.slice(0, 5));
      b1.unshift(first.slice(5));
    }
    for (const b of b0) await feed(0, b);
    for (const b of b1) await feed(1, b);
  }
  for (const st of stages) await st.evaluate(END);
  return suspended;
}

describe('review: the revelation graph while a partition is behind', () => {
  for (const mode of ['lockstep', 'behind', 'absent'] as const) {
    it(`${mode}: the list is suspended, the people are not`, async () => {
      const s = await run(mode);
      expect(PEOPLE.filter((c) => s.has(c))).toEqual([]);
      expect(s.has('lister')).toBe(true);
    });
  }
});
