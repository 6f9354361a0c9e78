import type { Kysely } from 'kysely';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { ActionKind } from '../abuse/engine.js';
import type { LookupEvent } from '../abuse/events.js';
import { fromRow } from '../abuse/pipeline.js';
import { signupEventOf, type SignupEvent } from '../abuse/signup.js';
import { WIRED_DEFAULT_POLICY } from '../abuse/service.js';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { IpIntel } from '../net/index.js';
import { compileAbusePolicy, type CompiledPolicy } from '../policy/index.js';
import { EngineReplay, type ReplayInit, type ReplayOutcome } from './what-if-replay.js';

/**
 * The what-if's second half: the candidate's abuse engine (its detectors, clustering and action
 * thresholds) replayed over the stored lookup events of the window, with the sign-ups of the
 * accounts created in it and the day before. The engine is a fresh one in memory with the no-op
 * enforcer: it writes no decision, sends no webhook, opens no campaign and touches no live table
 * (its verdicts are only counted here). It starts cold at `from`, so an attack already running
 * before the window is judged on what the window shows of it.
 *
 * Cost bounds: at most MAX_ENGINE_EVENTS events; an evaluation every minute of event time (as the
 * live engine) on windows up to a day, and at most EVALUATIONS evaluations over longer ones; a
 * window of INLINE_EVENTS events or more is replayed in a worker thread (what-if-worker.ts, fed a
 * page at a time), so the engine's CPU is never spent on the serving node's event loop; smaller
 * ones run inline, yielding after every page; one engine replay at a time per process.
 */

export interface EngineActionCounts {
  /** Accounts whose strongest verdict was this action. */
  accounts: number;
  /** Of those, members of a campaign findguard opened. */
  campaign: number;
  /** Of those, accounts in no campaign and never acted on by the engine: what looks organic. */
  organic: number;
}

export interface EngineWhatIf {
  /** The candidate's abuse mode; `shadow` too when it has no abuse section (the default detectors, not enforced). */
  mode: 'enforce' | 'shadow';
  events: number;
  signups: number;
  truncated: boolean;
  evaluations: number;
  evaluateEveryMs: number;
  /** Replayed in a worker thread (windows of INLINE_EVENTS events or more), not on the serving node's event loop. */
  worker: boolean;
  /** Suspensions of whole clusters: the campaigns it would have opened. */
  clusters: number;
  suspend: EngineActionCounts;
  challenge: EngineActionCounts;
  throttle: EngineActionCounts;
  /** Campaign accounts active in the window, and those it would have suspended. */
  campaignAccounts: number;
  campaignCaught: number;
  /** Organic-looking accounts active in the window, and those it would have acted on at all. */
  organicAccounts: number;
  organicTouched: number;
}

export const MAX_ENGINE_EVENTS = 500_000;
/** Windows with fewer events are replayed inline: a worker costs more to start than they take. */
export const INLINE_EVENTS = 20_000;
const EVALUATIONS = 1440;
const MINUTE = 60_000;
const PAGE = 5000;
const KIND: Record<ActionKind, 'suspend' | 'challenge' | 'throttle'> = { throttle: 'throttle', challenge: 'challenge', 'suspend-account': 'suspend', 'suspend-cluster': 'suspend' };

let running = false;

export interface EngineReplayDeps {
  db: Kysely<Database>;
  ipIntel: IpIntel;
}

/** How accounts are classed: members of a campaign, and accounts the engine ever acted on (not organic). */
export interface AccountClasses {
  campaign: ReadonlySet<string>;
  actedOn: (ids: readonly string[]) => Promise<Set<string>>;
}

export async function replayEngine(deps: EngineReplayDeps, policy: CompiledPolicy, from: number, to: number, classes: AccountClasses, opts: { inlineBelow?: number } = {}): Promise<EngineWhatIf> {
  if (running) throw new AppError('unavailable', 'another what-if is replaying the abuse engine on this node; retry when it is done', undefined, { 'retry-after': '10' });
  running = true;
  try {
    return await replay(deps, policy, from, to, classes, opts.inlineBelow ?? INLINE_EVENTS);
  } finally {
    running = false;
  }
}

/** Where the pages go: an engine in this thread, or one in a worker thread. */
interface Sink {
  push(events: LookupEvent[]): Promise<void>;
  finish(to: number): Promise<ReplayOutcome>;
  close(): void;
}

async function replay(deps: EngineReplayDeps, policy: CompiledPolicy, from: number, to: number, classes: AccountClasses, inlineBelow: number): Promise<EngineWhatIf> {
  const abuse = policy.source.abuse ?? WIRED_DEFAULT_POLICY;
  const every = Math.max(MINUTE, Math.ceil((to - from) / EVALUATIONS / MINUTE) * MINUTE);
  const dayWindowMs = compileAbusePolicy(abuse).features.dayWindowMs;
  const init: ReplayInit = { abuse, every, signups: await signupsOf(deps, policy, from - dayWindowMs, to) };
  const counted = await deps.db.selectFrom('lookup_events').select(deps.db.fn.countAll<number>().as('n')).where('at', '>=', from).where('at', '<', to).executeTakeFirstOrThrow();
  const total = Number(counted.n);
  const sink = total < inlineBelow ? inlineSink(init) : workerSink(init);
  let events = 0;
  let truncated = false;
  let outcome: ReplayOutcome;
  try {
    let after: { at: number; id: string } | undefined;
    for (;;) {
      let q = deps.db.selectFrom('lookup_events').selectAll().where('at', '>=', from).where('at', '<', to);
      if (after) {
        const a = after;
        q = q.where((eb) => eb.or([eb('at', '>', a.at), eb.and([eb('at', '=', a.at), eb('id', '>', a.id)])]));
      }
      const page = await q.orderBy('at').orderBy('id').limit(PAGE).execute();
      const room = MAX_ENGINE_EVENTS - events;
      if (page.length > room) truncated = true;
      const batch = page.slice(0, room).map(fromRow);
      events += batch.length;
      if (batch.length > 0) await sink.push(batch);
      if (truncated || page.length < PAGE) break;
      const tail = page[page.length - 1]!;
      after = { at: Number(tail.at), id: tail.id };
      await yieldToLoop();
    }
    outcome = await sink.finish(to);
  } finally {
    sink.close();
  }

  const out: EngineWhatIf = {
    mode: outcome.shadow ? 'shadow' : 'enforce',
    events,
    signups: outcome.signups,
    truncated,
    evaluations: outcome.evaluations,
    evaluateEveryMs: every,
    worker: total >= inlineBelow,
    clusters: outcome.clusters,
    suspend: { accounts: 0, campaign: 0, organic: 0 },
    challenge: { accounts: 0, campaign: 0, organic: 0 },
    throttle: { accounts: 0, campaign: 0, organic: 0 },
    campaignAccounts: 0,
    campaignCaught: 0,
    organicAccounts: 0,
    organicTouched: 0,
  };
  const strongest = new Map(outcome.strongest);
  const seen = new Set([...outcome.seen, ...strongest.keys()]);
  const actedOn = await classes.actedOn([...seen]);
  for (const id of seen) {
    const campaign = classes.campaign.has(id);
    const organic = !campaign && !actedOn.has(id);
    if (campaign) out.campaignAccounts++;
    if (organic) out.organicAccounts++;
    const action = strongest.get(id);
    if (!action) continue;
    const counts = out[KIND[action]];
    counts.accounts++;
    if (campaign) counts.campaign++;
    if (organic) counts.organic++;
    if (campaign && KIND[action] === 'suspend') out.campaignCaught++;
    if (organic) out.organicTouched++;
  }
  return out;
}

function inlineSink(init: ReplayInit): Sink {
  const r = new EngineReplay(init);
  return {
    // The event loop gets a turn after every page (the reader awaits the database and yields too).
    push: async (events) => {
      await r.push(events);
      await yieldToLoop();
    },
    finish: (to) => r.finish(to),
    close: () => {},
  };
}

/** A worker thread of its own per replay (what-if-worker.ts); each page waits for the one before to be replayed. */
function workerSink(init: ReplayInit): Sink {
  // Under the TypeScript test runner the worker is a .ts file and needs tsx's loader (as layout.ts).
  const worker = import.meta.url.endsWith('.ts')
    ? new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(new URL('./what-if-worker.ts', import.meta.url).href)}); });`, { eval: true, workerData: init })
    : new Worker(new URL('./what-if-worker.js', import.meta.url), { workerData: init });
  type Reply = { type: 'ack' } | { type: 'done'; outcome: ReplayOutcome } | { type: 'error'; message: string };
  let waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;
  let failed: Error | undefined;
  const fail = (err: Error) => {
    failed ??= err;
    waiting?.reject(err);
    waiting = undefined;
  };
  worker.on('message', (r: Reply) => {
    if (r.type === 'error') return fail(new Error(`what-if worker: ${r.message}`));
    const w = waiting;
    waiting = undefined;
    w?.resolve(r);
  });
  worker.once('error', fail);
  worker.once('exit', (code) => fail(new Error(`what-if worker exited (${code})`)));
  const ask = (message: unknown): Promise<Reply> => {
    if (failed) return Promise.reject(failed);
    return new Promise<Reply>((resolve, reject) => {
      waiting = { resolve, reject };
      worker.postMessage(message);
    });
  };
  return {
    push: async (events) => void (await ask({ type: 'events', events })),
    finish: async (to) => {
      const r = await ask({ type: 'end', to });
      if (r.type !== 'done') throw new Error('what-if worker: no outcome');
      return r.outcome;
    },
    close: () => void worker.terminate(),
  };
}

/** Sign-ups of the accounts created in [since, to), oldest first, as the engine hears of them live. */
async function signupsOf(deps: EngineReplayDeps, policy: CompiledPolicy, since: number, to: number): Promise<SignupEvent[]> {
  const rows = await deps.db
    .selectFrom('accounts')
    .select(['id', 'created_at', 'signup_ip', 'signup_device'])
    .where('created_at', '>=', since)
    .where('created_at', '<', to)
    .where('signup_ip', 'is not', null)
    .orderBy('created_at')
    .limit(MAX_ENGINE_EVENTS)
    .execute();
  const out: SignupEvent[] = [];
  for (const r of rows) {
    const s = signupEventOf(r.id, Number(r.created_at), { ip: r.signup_ip!, ...(r.signup_device !== null ? { deviceId: r.signup_device } : {}) }, deps.ipIntel, policy);
    if (s) out.push(s);
  }
  return out;
}
