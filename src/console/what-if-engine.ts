import type { Kysely } from 'kysely';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { AbuseEngine, noopEnforcer, type ActionKind } from '../abuse/engine.js';
import { fromRow } from '../abuse/pipeline.js';
import { signupEventOf, type SignupEvent } from '../abuse/signup.js';
import { WIRED_DEFAULT_POLICY } from '../abuse/service.js';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import type { IpIntel } from '../net/index.js';
import type { CompiledPolicy } from '../policy/index.js';

/**
 * The what-if's second half: the candidate's abuse engine (its detectors, clustering and action
 * thresholds) replayed over the stored lookup events of the window, with the sign-ups of the
 * accounts created in it and the day before. The engine is a fresh one in memory with the no-op
 * enforcer: it writes no decision, sends no webhook, opens no campaign and touches no live table
 * (its verdicts are only counted here). It starts cold at `from`, so an attack already running
 * before the window is judged on what the window shows of it.
 *
 * Cost bounds: at most MAX_ENGINE_EVENTS events; an evaluation every minute of event time (as the
 * live engine) on windows up to a day, and at most EVALUATIONS evaluations over longer ones; the
 * event loop gets a turn after every page and every evaluation, so a long replay slows this node's
 * other requests a little instead of stopping them; one engine replay at a time per process.
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
const EVALUATIONS = 1440;
const MINUTE = 60_000;
const PAGE = 5000;
const LEVEL: Record<ActionKind, number> = { throttle: 1, challenge: 2, 'suspend-account': 3, 'suspend-cluster': 3 };
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

export async function replayEngine(deps: EngineReplayDeps, policy: CompiledPolicy, from: number, to: number, classes: AccountClasses): Promise<EngineWhatIf> {
  if (running) throw new AppError('unavailable', 'another what-if is replaying the abuse engine on this node; retry when it is done', undefined, { 'retry-after': '10' });
  running = true;
  try {
    return await replay(deps, policy, from, to, classes);
  } finally {
    running = false;
  }
}

async function replay(deps: EngineReplayDeps, policy: CompiledPolicy, from: number, to: number, classes: AccountClasses): Promise<EngineWhatIf> {
  const abuse = policy.source.abuse ?? WIRED_DEFAULT_POLICY;
  const engine = new AbuseEngine({ policy: abuse, enforcer: noopEnforcer });
  const every = Math.max(MINUTE, Math.ceil((to - from) / EVALUATIONS / MINUTE) * MINUTE);
  const signups = await signupsOf(deps, policy, from - engine.policy.features.dayWindowMs, to);
  const strongest = new Map<string, ActionKind>();
  const seen = new Set<string>();
  let clusters = 0;
  let evaluations = 0;
  let events = 0;
  let truncated = false;
  let next = 0;
  let last = Number.NEGATIVE_INFINITY;

  const evaluate = async (now: number): Promise<void> => {
    evaluations++;
    for (const d of await engine.evaluate(now)) {
      if (d.action === 'suspend-cluster') clusters++;
      for (const id of d.accountIds) {
        const had = strongest.get(id);
        if (!had || LEVEL[d.action] > LEVEL[had]) strongest.set(id, d.action);
      }
    }
    await yieldToLoop();
  };

  let after: { at: number; id: string } | undefined;
  for (;;) {
    let q = deps.db.selectFrom('lookup_events').selectAll().where('at', '>=', from).where('at', '<', to);
    if (after) {
      const a = after;
      q = q.where((eb) => eb.or([eb('at', '>', a.at), eb.and([eb('at', '=', a.at), eb('id', '>', a.id)])]));
    }
    const page = await q.orderBy('at').orderBy('id').limit(PAGE).execute();
    for (const row of page) {
      if (events >= MAX_ENGINE_EVENTS) {
        truncated = true;
        break;
      }
      const e = fromRow(row);
      while (next < signups.length && signups[next]!.at <= e.at) engine.signup(signups[next++]!);
      engine.observe(e);
      events++;
      seen.add(e.accountId);
      // Evaluated by event time, as the live engine (AbuseService.handle) is.
      if (e.at - last >= every) {
        last = e.at;
        await evaluate(e.at);
      }
    }
    if (truncated || page.length < PAGE) break;
    const tail = page[page.length - 1]!;
    after = { at: Number(tail.at), id: tail.id };
    await yieldToLoop();
  }
  // The last minutes of the window are judged too.
  if (events > 0) await evaluate(Math.min(to, last + every));

  const out: EngineWhatIf = {
    mode: engine.policy.shadow ? 'shadow' : 'enforce',
    events,
    signups: next,
    truncated,
    evaluations,
    evaluateEveryMs: every,
    clusters,
    suspend: { accounts: 0, campaign: 0, organic: 0 },
    challenge: { accounts: 0, campaign: 0, organic: 0 },
    throttle: { accounts: 0, campaign: 0, organic: 0 },
    campaignAccounts: 0,
    campaignCaught: 0,
    organicAccounts: 0,
    organicTouched: 0,
  };
  for (const id of strongest.keys()) seen.add(id);
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
