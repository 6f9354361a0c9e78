import type { Logger } from 'pino';
import type { ContactKind } from '../directory/hashing.js';
import { AppError } from '../errors.js';
import type { LimitVerdict } from '../limits/index.js';
import { SCOPES, type CompiledPolicy, type Network, type Operation, type Scope } from '../policy/index.js';
import { lookupIp, type IpInfo, type IpIntel } from '../net/index.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import type { EventBus } from '../abuse/bus.js';
import { blocksOf, newEventId, originSubnet, withOriginDetails, type EventOutcome, type LookupEvent } from '../abuse/events.js';
import type { PreparedLookup, PreparedSync, SyncResponse } from './service.js';
import type { CallerInfo } from './store.js';

/**
 * How the discovery use case (gate.ts) emits lookup events: around the limits check (refusals and
 * challenges: fire-and-forget, never failing or slowing the call) and once the answer is known,
 * before it is sent (allowed calls: the answer waits until its event is durable).
 */

/** The parts of the context emission needs (the AppContext has them all). */
export interface RecordDeps {
  events: EventBus;
  ipIntel: IpIntel;
  limits: { readonly policy: Pick<CompiledPolicy, 'networkOf'> };
  clock: Clock;
  random: Random;
  logger: Logger;
}

/** One discovery call, as the limits are about to judge it. */
export interface DiscoveryCall {
  accountId: string;
  deviceId?: string;
  ip: string;
  account: CallerInfo;
  operation: Operation;
  kind: ContactKind;
  /** Distinct valid normalised values the call answers for: only their number blocks leave this module. */
  values: readonly string[];
  newNumbers: number;
}

interface CallerFacts {
  accountId: string;
  deviceId?: string;
  ip: string;
}

export function lookupCall(caller: CallerFacts, account: CallerInfo, p: PreparedLookup): DiscoveryCall {
  return discoveryCall(caller, account, 'lookup', p.kind, [p.value], 1);
}

/** Every value the sync answers for, previous included: a token-covered book is still asked again. */
export function syncCall(caller: CallerFacts, account: CallerInfo, p: PreparedSync): DiscoveryCall {
  return discoveryCall(caller, account, p.incremental ? 'incremental-sync' : 'full-sync', p.kind, p.answered, p.newValues.length);
}

/**
 * Built property by property, as every discovery call builds one: on Node 20 an object literal
 * that begins by spreading another object costs ~1 µs per property after the spread (see
 * limitRequest in src/http/public/caller.ts).
 */
function discoveryCall(caller: CallerFacts, account: CallerInfo, operation: Operation, kind: ContactKind, values: string[], newNumbers: number): DiscoveryCall {
  const call: DiscoveryCall = { accountId: caller.accountId, ip: caller.ip, account, operation, kind, values, newNumbers };
  if (caller.deviceId !== undefined) call.deviceId = caller.deviceId;
  return call;
}

/** What an allowed sync revealed: distinct matched values among contacts and previous, and every account in the answer. */
export function syncAnswer(p: PreparedSync, response: Pick<SyncResponse, 'matches' | 'previousMatches'>): { matched: number; revealed: string[] } {
  const matchedValues = new Set<string>();
  const revealed = new Set<string>();
  for (const m of response.matches) {
    const v = p.cur.normalised[m.index];
    if (v !== undefined) matchedValues.add(v);
    revealed.add(m.accountId);
  }
  for (const m of response.previousMatches) {
    const v = p.prev.normalised[m.index];
    if (v !== undefined) matchedValues.add(v);
    revealed.add(m.accountId);
  }
  return { matched: matchedValues.size, revealed: [...revealed] };
}

/**
 * Distinct matched values among the ones the call paid for (outside the token-covered previous set):
 * the answers rule counts them, the below-book rule judges each number's country; and the accounts
 * they matched, one per value, which the answer pool tells apart from those answered before.
 */
export function newMatchedValues(p: PreparedSync, response: Pick<SyncResponse, 'matches' | 'previousMatches'>): { values: Set<string>; accounts: string[] } {
  const fresh = new Set(p.newValues);
  const values = new Set<string>();
  const accounts: string[] = [];
  const note = (v: string | undefined, accountId: string) => {
    if (v === undefined || !fresh.has(v) || values.has(v)) return;
    values.add(v);
    accounts.push(accountId);
  };
  for (const m of response.matches) note(p.cur.normalised[m.index], m.accountId);
  for (const m of response.previousMatches) note(p.prev.normalised[m.index], m.accountId);
  return { values, accounts };
}

/**
 * Records a call refused after matching (the abuse engine's answers rule): outcome refused at
 * account scope, with the count of matches withheld and no account revealed, so the engine can act
 * on it. Waits for the event to be durable like an answer would; if it cannot be, the refusal
 * stands all the same (nothing was answered) and the bus logs its own failure.
 */
export async function recordWithheld(deps: RecordDeps, call: DiscoveryCall, verdict: LimitVerdict, matched: number): Promise<void> {
  try {
    await deps.events.emitDurable(buildEvent(deps, call, { outcome: 'refused', scope: 'account', network: verdict.network, info: verdict.ip, tier: verdict.tier, matched, revealed: [] }));
  } catch (err) {
    warnOnce(deps, err);
  }
}

/**
 * Runs the limits check; a refusal (429) or challenge (428) is emitted as an event and rethrown
 * unchanged. Other failures (503: the limits store is down) decide nothing and emit nothing.
 */
export async function checkLimitsRecorded(deps: RecordDeps, call: DiscoveryCall, check: () => Promise<LimitVerdict>): Promise<LimitVerdict> {
  try {
    return await check();
  } catch (err) {
    recordRefusal(deps, call, err);
    throw err;
  }
}

/**
 * What checkLimitsRecorded does with a failed check, for a caller that runs the check itself (the
 * lookup path, which saves the closure and the async frame): emits the event of a refusal or
 * challenge, fire-and-forget; any other error emits nothing. The caller rethrows.
 */
export function recordRefusal(deps: RecordDeps, call: DiscoveryCall, err: unknown): void {
  const outcome = refusalOf(err);
  if (!outcome) return;
  safely(deps, () => {
    const info = lookupIp(deps.ipIntel, call.ip);
    const network = deps.limits.policy.networkOf(info?.ip ?? call.ip, info);
    deps.events.emit(buildEvent(deps, call, { outcome: outcome.outcome, ...(outcome.scope ? { scope: outcome.scope } : {}), network, info }));
  });
}

/**
 * Records the event of an allowed call once its answer is known, before it is sent: resolves when
 * the event is durable (stored, or in the Redis stream), so no account is revealed that the
 * exposure records could miss. Fails closed: when the event cannot be made durable (the store or
 * stream failing, the buffer full, or a bug building it), rejects with 503 unavailable, and the
 * answer is never sent; the call stays charged to its budgets. Not an async function: the
 * durable promise is handed back as it is, without a frame of its own to resolve.
 */
export function recordAllowed(deps: RecordDeps, call: DiscoveryCall, verdict: LimitVerdict, answer: { matched: number; revealed: readonly string[] }): Promise<void> {
  let durable: Promise<void>;
  try {
    durable = deps.events.emitDurable(
      buildEvent(deps, call, { outcome: 'allowed', network: verdict.network, info: verdict.ip, tier: verdict.tier, matched: answer.matched, revealed: answer.revealed }),
    );
  } catch (err) {
    warnOnce(deps, err);
    return Promise.reject(unrecorded());
  }
  // The bus logs and counts its own failures.
  return durable.then(undefined, () => {
    throw unrecorded();
  });
}

function unrecorded(): AppError {
  return new AppError('unavailable', 'discovery is unavailable for a moment; retry later', undefined, { 'retry-after': '5' });
}

interface Decided {
  outcome: EventOutcome;
  scope?: Scope;
  network: Network;
  info: IpInfo | undefined;
  tier?: string;
  matched?: number;
  revealed?: readonly string[];
}

/** Property by property: a conditional spread costs ~1 µs on Node 20, and this ran eight of them per call. */
function buildEvent(deps: RecordDeps, call: DiscoveryCall, d: Decided): LookupEvent {
  const at = deps.clock.now();
  const info = d.info;
  const ip = info?.ip ?? call.ip;
  const event: LookupEvent = {
    v: 1,
    id: newEventId(deps.random, at),
    at,
    accountId: call.accountId,
    ip,
    subnet: originSubnet(ip, info),
    network: d.network,
    operation: call.operation,
    outcome: d.outcome,
    kind: call.kind,
    numbers: call.values.length,
    newNumbers: call.newNumbers,
    matched: d.matched ?? 0,
    revealed: d.revealed ? d.revealed.slice() : [],
    blocks: blocksOf(call.kind, call.values),
    accountCreatedAt: call.account.createdAt,
  };
  if (call.deviceId !== undefined) event.deviceId = call.deviceId;
  withOriginDetails(event, info);
  if (d.tier !== undefined) event.tier = d.tier;
  if (d.scope !== undefined) event.scope = d.scope;
  if (call.account.phoneRegion) event.phoneRegion = call.account.phoneRegion;
  return event;
}

function refusalOf(err: unknown): { outcome: EventOutcome; scope?: Scope } | undefined {
  if (!(err instanceof AppError)) return undefined;
  const outcome: EventOutcome | undefined = err.code === 'rate_limited' ? 'refused' : err.code === 'challenge_required' ? 'challenged' : undefined;
  if (!outcome) return undefined;
  const scope = (err.details as { scope?: unknown } | undefined)?.scope;
  return { outcome, ...(typeof scope === 'string' && (SCOPES as readonly string[]).includes(scope) ? { scope: scope as Scope } : {}) };
}

const warnedBuses = new WeakSet<EventBus>();
/** For refusals and challenges, which reveal nothing: a bug here must never cost the caller its answer. */
function safely(deps: RecordDeps, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    warnOnce(deps, err);
  }
}

/** Once per bus, without the call's details. */
function warnOnce(deps: RecordDeps, err: unknown): void {
  if (warnedBuses.has(deps.events)) return;
  warnedBuses.add(deps.events);
  deps.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'could not emit a lookup event');
}
