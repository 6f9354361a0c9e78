import type { Kysely } from 'kysely';
import { parse as parseYaml } from 'yaml';
import type { HashKey } from '../config/config.js';
import type { Database } from '../db/schema.js';
import { AppError } from '../errors.js';
import { Challenges, LimitMetrics, Limiter, MemoryLimitStore, type LimitRequest } from '../limits/index.js';
import { createLogger } from '../logger.js';
import type { IpIntel } from '../net/index.js';
import { BUILT_IN_POLICIES, compilePolicy, loadPolicy, PolicyError, type CompiledPolicy, type Operation, type Policy } from '../policy/index.js';
import { ManualClock } from '../util/clock.js';
import { SeededRandom } from '../util/random.js';
import { replayEngine, type EngineWhatIf } from './what-if-engine.js';

/**
 * The policy as readable tables, and the what-if: a candidate policy replayed over the stored
 * lookup events of a window, in a scratch limiter of its own (an in-memory store, its own clock
 * set to each event's time, its own metrics), never touching the live limits; then the
 * candidate's abuse engine over the same events in an engine of its own that acts on nothing
 * (what-if-engine.ts). It shows what the candidate's limits would have refused and what its
 * detectors would have suspended, challenged or throttled, split into campaign accounts caught
 * and organic-looking accounts touched.
 */

export interface PolicyTables {
  name: string;
  tiers: Array<{ name: string; description: string | null; when: Record<string, unknown> | null }>;
  layers: Array<{
    id: string;
    description: string | null;
    subject: string;
    cost: string;
    on: string[];
    shadow: boolean;
    onStoreError: 'open' | 'closed';
    limits: Array<{ tier: string; burst: number | null; refill: number | null; per: string | null; challengeBelow: number | null }>;
  }>;
  breaker: Record<string, unknown> | null;
  challenge: Record<string, unknown> | null;
  abuse: { mode: string; settings: Record<string, unknown> } | null;
  other: Record<string, unknown>;
}

export interface WhatIfResult {
  policy: string;
  from: number;
  to: number;
  /** Events replayed, oldest first; capped at MAX_EVENTS (then `truncated`). */
  events: number;
  truncated: boolean;
  actual: { refused: number; challenged: number };
  wouldRefuse: number;
  wouldChallenge: number;
  wouldRefuseByScope: Record<string, number>;
  /** Accounts with at least one call the candidate would have refused or challenged. */
  accountsTouched: number;
  /** Of those, accounts in no campaign and never acted on by the engine: what looks organic. */
  organicTouched: number;
  organicAccounts: number;
  /** Campaign accounts active in the window, and those the candidate would have refused or challenged. */
  campaignAccounts: number;
  campaignCaught: number;
  /** The candidate's abuse engine over the same window; null when not asked for. */
  engine: EngineWhatIf | null;
}

export const MAX_WINDOW_MS = 7 * 86_400_000;
export const MAX_EVENTS = 500_000;
const PAGE = 5000;

export interface PolicyDeps {
  db: Kysely<Database>;
  policy: CompiledPolicy;
  ipIntel: IpIntel;
  hashKeys: readonly HashKey[];
}

export class ConsolePolicy {
  constructor(private readonly deps: PolicyDeps) {}

  tables(): PolicyTables {
    return policyTables(this.deps.policy.source);
  }

  /** The candidate: a built-in policy's name, or a policy document in YAML (or JSON). */
  candidate(text: string): CompiledPolicy {
    const name = text.trim();
    if (Object.hasOwn(BUILT_IN_POLICIES, name)) return loadPolicy(name);
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (err) {
      throw new AppError('invalid_request', `the policy is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    // One word that is no built-in policy's name reads as a YAML string, which the policy schema
    // would refuse as "must be object": name what was meant instead.
    if (typeof parsed === 'string' && /^[A-Za-z0-9_-]+$/.test(name)) {
      throw new AppError('invalid_request', `no built-in policy is named "${name}" (built-in: ${Object.keys(BUILT_IN_POLICIES).join(', ')}); or send a policy document in YAML`);
    }
    // A Tor list names files on the server: a candidate sent over the API reads none.
    if (parsed && typeof parsed === 'object' && 'torExitLists' in parsed) throw new AppError('invalid_request', 'torExitLists cannot be replayed from the console');
    try {
      return compilePolicy(parsed, 'candidate');
    } catch (err) {
      if (err instanceof PolicyError) throw new AppError('invalid_request', err.message);
      throw err;
    }
  }

  async whatIf(text: string, from: number, to: number, opts: { engine?: boolean } = {}): Promise<WhatIfResult> {
    if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from < to)) throw new AppError('invalid_request', 'from must be before to (epoch ms)');
    if (to - from > MAX_WINDOW_MS) throw new AppError('invalid_request', 'the window is at most 7 days');
    const policy = this.candidate(text);
    const clock = new ManualClock(from);
    const store = new MemoryLimitStore();
    const metrics = new LimitMetrics(undefined, { defaultMetrics: false });
    const limiter = new Limiter({
      policy,
      store,
      ipIntel: this.deps.ipIntel,
      challenges: new Challenges(this.deps.hashKeys, new SeededRandom(1), store),
      metrics,
      clock,
      logger: createLogger('silent'),
    });
    const campaignMembers = new Set((await this.deps.db.selectFrom('campaign_accounts').select('account_id').distinct().execute()).map((r) => r.account_id));
    const out: WhatIfResult = {
      policy: policy.name,
      from,
      to,
      events: 0,
      truncated: false,
      actual: { refused: 0, challenged: 0 },
      wouldRefuse: 0,
      wouldChallenge: 0,
      wouldRefuseByScope: {},
      accountsTouched: 0,
      organicTouched: 0,
      organicAccounts: 0,
      campaignAccounts: 0,
      campaignCaught: 0,
      engine: null,
    };
    const seen = new Set<string>();
    const touched = new Set<string>();
    let after: { at: number; id: string } | undefined;
    try {
      for (;;) {
        let q = this.deps.db
          .selectFrom('lookup_events')
          .select(['id', 'at', 'account_id', 'device_id', 'ip', 'operation', 'outcome', 'new_numbers', 'account_created_at', 'phone_region'])
          .where('at', '>=', from)
          .where('at', '<', to);
        if (after) {
          const a = after;
          q = q.where((eb) => eb.or([eb('at', '>', a.at), eb.and([eb('at', '=', a.at), eb('id', '>', a.id)])]));
        }
        const page = await q.orderBy('at').orderBy('id').limit(PAGE).execute();
        // The sign-up's attestation is a fact of the account, not of the event: read it as it stands.
        const attested = await this.attestedAmong(page.map((e) => e.account_id));
        for (const e of page) {
          if (out.events >= MAX_EVENTS) {
            out.truncated = true;
            break;
          }
          out.events++;
          seen.add(e.account_id);
          if (e.outcome === 'refused') out.actual.refused++;
          if (e.outcome === 'challenged') out.actual.challenged++;
          clock.set(Number(e.at));
          const req: LimitRequest = {
            accountId: e.account_id,
            ip: e.ip,
            account: { createdAt: Number(e.account_created_at), ...(e.phone_region ? { phoneRegion: e.phone_region } : {}), ...(attested.has(e.account_id) ? { signupAttested: true } : {}) },
            operation: e.operation as Operation,
            newNumbers: e.new_numbers,
          };
          if (e.device_id !== null) req.deviceId = e.device_id;
          try {
            await limiter.check(req);
          } catch (err) {
            if (!(err instanceof AppError)) throw err;
            const scope = (err.details as { scope?: string } | undefined)?.scope ?? 'unknown';
            if (err.code === 'rate_limited') {
              out.wouldRefuse++;
              out.wouldRefuseByScope[scope] = (out.wouldRefuseByScope[scope] ?? 0) + 1;
            } else if (err.code === 'challenge_required') out.wouldChallenge++;
            else throw err;
            touched.add(e.account_id);
          }
        }
        if (out.truncated || page.length < PAGE) break;
        const last = page[page.length - 1]!;
        after = { at: Number(last.at), id: last.id };
      }
    } finally {
      await store.close();
    }
    const actedOn = await this.actedOn([...seen]);
    for (const id of seen) {
      const campaign = campaignMembers.has(id);
      const organic = !campaign && !actedOn.has(id);
      if (campaign) out.campaignAccounts++;
      if (organic) out.organicAccounts++;
      if (!touched.has(id)) continue;
      out.accountsTouched++;
      if (campaign) out.campaignCaught++;
      if (organic) out.organicTouched++;
    }
    if (opts.engine !== false) {
      out.engine = await replayEngine({ db: this.deps.db, ipIntel: this.deps.ipIntel }, policy, from, to, { campaign: campaignMembers, actedOn: (ids) => this.actedOn(ids) });
    }
    return out;
  }

  /** Accounts the engine ever acted on: not counted as organic-looking. */
  private async actedOn(ids: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < ids.length; i += 1000) {
      const rows = await this.deps.db.selectFrom('enforcement_actions').select('account_id').distinct().where('actor', '=', 'engine').where('account_id', 'in', ids.slice(i, i + 1000)).execute();
      for (const r of rows) out.add(r.account_id);
    }
    return out;
  }

  /** Of these accounts, those whose sign-up the app attested (a tier fact of the default policy). */
  private async attestedAmong(ids: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    const distinct = [...new Set(ids)];
    for (let i = 0; i < distinct.length; i += 1000) {
      const rows = await this.deps.db.selectFrom('accounts').select('id').where('signup_attested', '=', 1).where('id', 'in', distinct.slice(i, i + 1000)).execute();
      for (const r of rows) out.add(r.id);
    }
    return out;
  }
}

export function policyTables(p: Policy): PolicyTables {
  const tierNames = p.tiers.map((t) => t.name);
  const { name, tiers, layers, breaker, challenge, abuse, description: _d, ...other } = p;
  return {
    name,
    tiers: tiers.map((t) => ({ name: t.name, description: t.description ?? null, when: (t.when as Record<string, unknown> | undefined) ?? null })),
    layers: layers.map((l) => ({
      id: l.id,
      description: l.description ?? null,
      subject: l.subject,
      cost: l.cost,
      on: l.on ?? ['lookup', 'full-sync', 'incremental-sync'],
      shadow: l.shadow ?? false,
      onStoreError: l.onStoreError ?? 'closed',
      limits: tierNames.map((tier): PolicyTables['layers'][number]['limits'][number] => {
        const lim = Object.hasOwn(l.limits, tier) ? l.limits[tier] : l.limits.default;
        return lim
          ? { tier, burst: lim.burst, refill: lim.refill, per: String(lim.per), challengeBelow: lim.challengeBelow ?? null }
          : { tier, burst: null, refill: null, per: null, challengeBelow: null };
      }),
    })),
    breaker: (breaker as Record<string, unknown> | undefined) ?? null,
    challenge: (challenge as Record<string, unknown> | undefined) ?? null,
    abuse: abuse ? { mode: (abuse as { mode?: string }).mode ?? 'enforce', settings: abuse as unknown as Record<string, unknown> } : null,
    other: other as Record<string, unknown>,
  };
}
