import pino from 'pino';
import type { RevealedFacts } from '../../src/abuse/detectors/revelation.js';
import type { Finding } from '../../src/abuse/detectors/types.js';
import { AbuseEngine, type ActionKind, type Decision, type Enforcer } from '../../src/abuse/engine.js';
import { decodeEvent, type LookupEvent } from '../../src/abuse/events.js';
import { partitionOf } from '../../src/abuse/partitions.js';
import type { SignupEvent } from '../../src/abuse/signup.js';
import { GlobalStage, PartitionStage, type SummarySink } from '../../src/abuse/stages.js';
import type { Scene } from '../../src/abuse/synthetic.js';
import type { AbusePolicy } from '../../src/policy/index.js';

/**
 * The same event sequence through the single-leader engine and through the sharded one (P
 * partition stages and the global stage), in one process: the stages wired to each other as the
 * summaries stream and the findings hash wire them, and every recorded action read back into
 * every engine's ledger as the database does between processes (ActionSync).
 */

export const LEVEL: Record<ActionKind, number> = { throttle: 1, challenge: 2, 'suspend-account': 3, 'suspend-cluster': 3 };

export interface Recorded {
  stage: string;
  decision: Decision;
}

/** In time order, in batches as a consumer reads them, sign-ups first at the same instant. */
function batches(s: Scene, size: number): Array<{ events: LookupEvent[]; signups: SignupEvent[] }> {
  const out: Array<{ events: LookupEvent[]; signups: SignupEvent[] }> = [];
  let j = 0;
  for (let i = 0; i < s.events.length; i += size) {
    const events = s.events.slice(i, i + size);
    const last = events[events.length - 1]!.at;
    const signups: SignupEvent[] = [];
    while (j < s.signups.length && s.signups[j]!.at <= last) signups.push(s.signups[j++]!);
    out.push({ events, signups });
  }
  return out;
}

export async function replaySingle(s: Scene, policy: AbusePolicy, every: number, end: number, batchSize = 500): Promise<Recorded[]> {
  const recorded: Recorded[] = [];
  const engine = new AbuseEngine({ policy, enforcer: recorder((d) => recorded.push({ stage: 'single', decision: d })) });
  let last = Number.NEGATIVE_INFINITY;
  for (const b of batches(s, batchSize)) {
    for (const sg of b.signups) engine.signup(sg);
    await engine.handle(b.events);
    const now = b.events[b.events.length - 1]!.at;
    if (now - last >= every) {
      last = now;
      await engine.evaluate(now);
    }
  }
  await engine.evaluate(end);
  return recorded;
}

export interface ShardedRun {
  recorded: Recorded[];
  summaries: number;
  events: number;
  partitionOfAccount: (id: string) => number;
}

export async function replaySharded(s: Scene, policy: AbusePolicy, every: number, end: number, partitions: number, batchSize = 500): Promise<ShardedRun> {
  const recorded: Recorded[] = [];
  const logger = pino({ level: 'silent' });
  const clock = { now: () => end };
  const queue: Array<['e' | 's', string]> = [];
  const findings = new Map<number, Finding[]>();
  const progress = new Map<number, number>();
  const engines: AbuseEngine[] = [];
  // What the database does between stages: an action recorded by one is in every ledger at its next evaluation.
  const share = (stage: string) =>
    recorder((d) => {
      recorded.push({ stage, decision: d });
      for (const e of engines) for (const id of d.accountIds) e.restore(id, { action: d.action, until: d.until ?? Number.POSITIVE_INFINITY, clusterId: d.clusterId });
    });
  const sink: SummarySink = {
    publish: async (entries) => void queue.push(...entries.map(([f, j]) => [f, j] as ['e' | 's', string])),
    findings: async (p, _at, list) => void findings.set(p, [...list]),
    progress: async (p, at) => void progress.set(p, at),
  };
  // What the database holds for the partitions to read of each other's accounts: the events and
  // sign-ups handed to a stage so far (its pipeline stores them first), as dbRevealedFacts reads them.
  const stored: LookupEvent[] = [];
  const created = new Map<string, number>();
  const revealedFacts: RevealedFacts = {
    createdAt: async (ids) => new Map(ids.filter((id) => created.has(id)).map((id) => [id, created.get(id)!])),
    firstNamed: async (caller, ids, since, until) => {
      const wanted = new Set(ids);
      const first = new Map<string, number>();
      for (const e of stored) {
        if (!wanted.has(e.accountId) || e.at < since || e.at > until || e.outcome !== 'allowed' || !e.revealed.includes(caller)) continue;
        first.set(e.accountId, Math.min(first.get(e.accountId) ?? e.at, e.at));
      }
      return first;
    },
  };
  const readWatermark = async () => (progress.size > 0 ? Math.min(...progress.values()) : undefined);
  const readStoredUpTo = async () => (progress.size === partitions ? Math.min(...progress.values()) : undefined);
  const stages = Array.from(
    { length: partitions },
    (_, p) => new PartitionStage({ enforcer: share(`partition ${p}`), logger, clock, policy, evaluateEveryMs: every, revealedFacts, readStoredUpTo }, p, partitions, sink),
  );
  const global = new GlobalStage({ enforcer: share('global'), logger, clock, policy, evaluateEveryMs: every, readFindings: async () => [...findings.values()].flat(), readWatermark });
  engines.push(...stages.map((st) => st.engine), global.engine);
  let summaries = 0;
  const drain = async () => {
    const entries = queue.splice(0);
    let run: LookupEvent[] = [];
    for (const [field, json] of entries) {
      if (field === 'e') {
        run.push(decodeEvent(json)!);
        continue;
      }
      if (run.length > 0) await global.process(run);
      summaries += run.length;
      run = [];
      await global.signup(JSON.parse(json) as SignupEvent);
    }
    if (run.length > 0) await global.process(run);
    summaries += run.length;
  };
  for (const b of batches(s, batchSize)) {
    for (const sg of b.signups) {
      created.set(sg.accountId, sg.at);
      await stages[partitionOf(sg.accountId, partitions)]!.signup!(sg);
    }
    for (const e of b.events) {
      stored.push(e);
      created.set(e.accountId, e.accountCreatedAt);
    }
    for (let p = 0; p < partitions; p++) {
      const mine = b.events.filter((e) => partitionOf(e.accountId, partitions) === p);
      if (mine.length > 0) await stages[p]!.handle(mine);
    }
    await drain();
  }
  for (const st of stages) await st.evaluate(end);
  await drain();
  await global.evaluate(end);
  return { recorded, summaries, events: s.events.length, partitionOfAccount: (id) => partitionOf(id, partitions) };
}

/** The strongest action each account ended under. */
export function strongest(recorded: readonly Recorded[]): Map<string, ActionKind> {
  const out = new Map<string, ActionKind>();
  for (const { decision } of recorded) {
    for (const id of decision.accountIds) {
      const cur = out.get(id);
      if (!cur || LEVEL[decision.action] > LEVEL[cur]) out.set(id, decision.action);
    }
  }
  return out;
}

function recorder(push: (d: Decision) => void): Enforcer {
  return {
    throttle: async (_ids, _until, d) => void push(d),
    challenge: async (_ids, _until, d) => void push(d),
    suspend: async (_ids, _reason, _evidence, d) => void (d && push(d)),
  };
}
