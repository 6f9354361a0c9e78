import { assertRegion, normaliseContact } from '../directory/contact-value.js';
import type { ContactKind } from '../directory/hashing.js';
import type { CallerStatusCache } from './caller-cache.js';
import { AppError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { AccountRef, CallerInfo, CallerStatus, DiscoveryStore, Match } from './store.js';
import type { SyncTokens, TokenHolder } from './sync-token.js';

export interface LookupRequest {
  phone?: string;
  email?: string;
  region?: string;
}

export interface SyncRequest {
  region?: string;
  contacts?: string[];
  emails?: string[];
  previous?: { token: string; contacts?: string[]; emails?: string[] };
}

export interface IndexedMatch extends Match {
  index: number;
}

export interface SyncResponse {
  matches: IndexedMatch[];
  /** Matches among `previous` (indices into previous.contacts / previous.emails): re-checked for free. */
  previousMatches: IndexedMatch[];
  invalid: Array<{ index: number; code: 'invalid_phone' | 'invalid_email' }>;
  token: string;
}

/** What a sync cost: consumed by the limits and the abuse engine. */
export interface SyncAccounting {
  kind: ContactKind;
  /** Distinct valid values outside the token-covered previous set: the ones that cost budget. */
  newValues: string[];
  matched: number;
}

export interface PreparedLookup {
  kind: ContactKind;
  value: string;
}

interface Normalised {
  normalised: Array<string | undefined>;
  invalid: SyncResponse['invalid'];
}

export interface PreparedSync {
  kind: ContactKind;
  /** Whom the call's token is for (its account, as first mirrored). */
  holder: TokenHolder;
  /** The default region of this call: what the new token's strings are read under. */
  region: string | undefined;
  /** previous (with a valid token) was sent. */
  incremental: boolean;
  /** The token previous was sent with (verified): what this account had paid for before the call. */
  previousToken?: string;
  values: readonly string[];
  previousValues: readonly string[];
  cur: Normalised;
  /** previous, read under this call's region: what previousMatches answers for. */
  prev: Normalised;
  /** Every distinct valid value this call answers for, contacts and previous alike. */
  answered: string[];
  /**
   * Distinct values answered that the token does not cover (the values previous meant when it was
   * charged): the ones that cost budget.
   */
  newValues: string[];
}

export interface DiscoveryDeps {
  store: DiscoveryStore;
  callers: CallerStatusCache;
  tokens: SyncTokens;
  clock: Clock;
  /** How long a sync token is honoured (the policy's syncTokenLifetime); older ones are unknown. */
  tokenLifetimeMs: number;
  /**
   * Keeps a "my contacts" owner's latest synced book (the directory's recordBook). Without it no
   * book is kept and contacts-mode points match nobody: the setting fails closed.
   */
  books?: { recordBook(holder: AccountRef, numbers: readonly string[]): Promise<void> };
}

/**
 * The steps of a discovery call over the directory: authorize the caller, read and cost the
 * request, answer it. It is no entry point: it answers whatever it is asked, so only the
 * DiscoveryGate (gate.ts), which puts the guard, the limits and the record between these steps,
 * calls it on a caller's behalf.
 */
export class DiscoveryService {
  constructor(private readonly deps: DiscoveryDeps) {}

  /** The caller's account must be mirrored and active; a suspended caller learns nothing. */
  async authorizeCaller(accountId: string): Promise<CallerInfo> {
    return authorized(await this.deps.callers.get(accountId));
  }

  /**
   * authorizeCaller() without a promise when the caller's status is cached (the same checks, the
   * same errors); undefined when it must be read: then call authorizeCaller().
   */
  authorizeCached(accountId: string): CallerInfo | undefined {
    const caller = this.deps.callers.cached(accountId);
    return caller === null ? undefined : authorized(caller);
  }

  /** Checks and normalises a lookup without touching the directory (limits run in between). */
  prepareLookup(req: LookupRequest): PreparedLookup {
    const kind: ContactKind = req.email !== undefined ? 'email' : 'phone';
    const input = kind === 'email' ? req.email : req.phone;
    if (input === undefined || (req.email !== undefined && req.phone !== undefined)) {
      throw new AppError('invalid_request', 'send exactly one of phone or email');
    }
    assertRegion(req.region);
    const normalised = normaliseContact(kind, input, req.region);
    if (!normalised.ok) throw new AppError(normalised.code, `not a valid ${kind === 'phone' ? 'phone number' : 'email address'}`);
    return { kind, value: normalised.value };
  }

  /** caller: whom the answer is for ("my contacts" points match only the people in their owner's book). */
  async completeLookup(p: PreparedLookup, caller: AccountRef): Promise<{ match: Match | null }> {
    const [match] = await this.deps.store.match(p.kind, [p.value], caller);
    return { match: match ? { accountId: match.accountId, handle: match.handle } : null };
  }

  /**
   * Checks the request and the token and works out which values are new (the ones that cost
   * budget), without touching the directory: the limits decide in between.
   *
   * The token covers its strings only as read under the region it was issued with, since that is
   * what they were charged as. previous is answered under this call's region; whatever that
   * reading gives outside the covered values (a region given now that was not then, another
   * region) is new like any contact: charged, guarded and recorded.
   */
  prepareSync(holder: TokenHolder, req: SyncRequest): PreparedSync {
    const kind = syncKind(req);
    assertRegion(req.region);
    const values = (kind === 'phone' ? req.contacts : req.emails) ?? [];
    const previous = req.previous;
    const previousValues = previous ? ((kind === 'phone' ? previous.contacts : previous.emails) ?? []) : [];
    if (previous && (kind === 'phone' ? previous.emails : previous.contacts) !== undefined) {
      throw new AppError('invalid_request', 'previous must list the same kind of contact as this sync');
    }
    const verified = previous && this.deps.tokens.verify(previous.token, holder, kind, previousValues, this.deps.clock.now(), this.deps.tokenLifetimeMs);
    if (previous && !verified) {
      throw new AppError('invalid_token', 'the sync token does not match this account and previous set; sync again without previous');
    }

    const cur = this.normaliseAll(kind, values, req.region);
    const prev = this.normaliseAll(kind, previousValues, req.region);
    // Emails read the same under every region; numbers only under the token's own.
    const sameReading = kind === 'email' || verified === undefined || verified.region === (req.region ?? '');
    const covered = new Set<string>();
    const coveredReading = sameReading ? prev : this.normaliseAll(kind, previousValues, verified.region || undefined);
    for (const v of coveredReading.normalised) if (v !== undefined) covered.add(v);

    const answered = new Set<string>();
    for (const v of cur.normalised) if (v !== undefined) answered.add(v);
    for (const v of prev.normalised) if (v !== undefined) answered.add(v);
    const newValues: string[] = [];
    for (const v of answered) if (!covered.has(v)) newValues.push(v);
    const prepared: PreparedSync = { kind, holder, region: req.region, incremental: previous !== undefined, values, previousValues, cur, prev, answered: [...answered], newValues };
    if (previous) prepared.previousToken = previous.token;
    return prepared;
  }

  /**
   * charged: false when the limits let the call through without charging it (a store out of reach
   * under `onStoreError: open`). The answer is the policy's trade for the outage, but the token is
   * the proof that the account paid for its set, and would make every number answered now free to
   * ask again for as long as tokens are renewed, long after the store is back. Such a call gets
   * back what it had paid for before instead: the token it sent (covering previous exactly as
   * before), or, for a full sync, a token for the empty set. Sent with the set answered now, either
   * is refused (400 invalid_token) and the client pays for that set in a sync of its own.
   */
  async completeSync(p: PreparedSync, charged = true): Promise<{ response: SyncResponse; accounting: SyncAccounting }> {
    const { kind, cur, prev, values, previousValues } = p;
    // Matched for the account the token was checked against: one erased and mirrored again meanwhile is refused.
    const byValue = await this.matchValues(kind, p.answered, p.holder);

    const matches = indexMatches(cur.normalised, byValue);
    const previousMatches = indexMatches(prev.normalised, byValue);
    const token = charged
      ? this.deps.tokens.issue(p.holder, kind, p.region, concat(previousValues, values), this.deps.clock.now())
      : (p.previousToken ?? this.deps.tokens.issue(p.holder, kind, p.region, [], this.deps.clock.now()));
    return {
      response: { matches, previousMatches, invalid: cur.invalid, token },
      accounting: { kind, newValues: p.newValues, matched: matches.length },
    };
  }

  /**
   * After an answered phone sync: the caller's book, if they are in "my contacts" mode, becomes
   * every number this sync answered for (its previous set and its new numbers). The directory
   * decides whether the mode is on: the caller's status here may be a node's cached copy from
   * before the owner turned it on, and a book skipped then would leave an older one in force.
   * Kept for the account the sync was matched for (p.holder, as the token and the match): the
   * directory writes nothing if the id was erased and mirrored again meanwhile.
   */
  async rememberBook(p: PreparedSync): Promise<void> {
    if (p.kind !== 'phone' || !this.deps.books) return;
    await this.deps.books.recordBook(p.holder, p.answered);
  }

  private normaliseAll(kind: ContactKind, values: readonly string[], region: string | undefined): Normalised {
    const normalised: Array<string | undefined> = new Array(values.length);
    const invalid: SyncResponse['invalid'] = [];
    for (let i = 0; i < values.length; i++) {
      const r = normaliseContact(kind, values[i]!, region);
      if (r.ok) normalised[i] = r.value;
      else invalid.push({ index: i, code: r.code });
    }
    return { normalised, invalid };
  }

  private async matchValues(kind: ContactKind, list: readonly string[], caller: AccountRef): Promise<Map<string, Match>> {
    const found = await this.deps.store.match(kind, list, caller);
    const byValue = new Map<string, Match>();
    for (let i = 0; i < list.length; i++) {
      const m = found[i];
      if (m) byValue.set(list[i]!, m);
    }
    return byValue;
  }
}

/** The caller's account must be mirrored and active; a suspended caller learns nothing. */
function authorized(caller: CallerStatus): CallerInfo {
  if (!caller) throw new AppError('unauthenticated', 'account is not known to findguard');
  if (caller.status !== 'active') throw new AppError('account_suspended', 'account is suspended');
  return caller;
}

function syncKind(req: SyncRequest): ContactKind {
  if (req.contacts !== undefined && req.emails !== undefined) {
    throw new AppError('invalid_request', 'a sync carries either contacts (phone numbers) or emails, not both');
  }
  if (req.emails !== undefined) return 'email';
  if (req.contacts !== undefined) return 'phone';
  if (req.previous?.emails !== undefined) return 'email';
  return 'phone';
}

function indexMatches(normalised: ReadonlyArray<string | undefined>, byValue: Map<string, Match>): IndexedMatch[] {
  const out: IndexedMatch[] = [];
  for (let i = 0; i < normalised.length; i++) {
    const v = normalised[i];
    const m = v === undefined ? undefined : byValue.get(v);
    if (m) out.push({ index: i, accountId: m.accountId, handle: m.handle });
  }
  return out;
}

function concat(a: readonly string[], b: readonly string[]): string[] {
  return a.length === 0 ? (b as string[]) : [...a, ...b];
}
