import { randomInt } from 'node:crypto';
import { MAX_CLIENT_DIFFICULTY, parseChallenge, PROOF_HEADER, formatProof, solveChallenge, type Challenge, type Solution } from './challenge.js';
import { errorFromResponse, FindguardError, retryAfterSeconds } from './errors.js';
import { chunk, cloneState, fieldOf, MAX_PREVIOUS_VALUES, MAX_SYNC_VALUES, parseState, type ContactKind, type SyncState } from './sync-state.js';
import { headerValue, type Transport, type TransportResponse } from './transport.js';

export * from './challenge.js';
export { FindguardError, type RateLimitScope } from './errors.js';
export { MAX_PREVIOUS_VALUES, MAX_SYNC_VALUES, type ContactKind, type KindSyncState, type SyncState } from './sync-state.js';
export * from './transport.js';

/** Time source; the simulator passes its simulated clock. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** Randomness for retry jitter; the simulator passes a seeded one. */
export interface Random {
  /** Uniform float in [0, 1). */
  float(): number;
}

export const LOOKUP_PATH = '/v1/discovery/lookup';
export const SYNC_PATH = '/v1/discovery/sync';

export interface Match {
  accountId: string;
  handle: string;
}
export interface ValueMatch extends Match {
  /** The caller's input string, exactly as given. */
  value: string;
}

export interface SyncResult {
  /** Matches among the values sent for the first time by this call. */
  matches: ValueMatch[];
  /** Matches among values synced before (re-checked at no budget cost), limited to this call's input. */
  previousMatches: ValueMatch[];
  /** Input values the server could not parse, including ones remembered from earlier syncs. */
  invalid: Array<{ value: string; code: string }>;
  /** Values sent as new (each costs budget). */
  sent: number;
  /** HTTP sync calls made (chunks of at most 5,000 new values, plus a resync if the token was refused). */
  requests: number;
  /** True when the server refused the stored token and everything was sent again. */
  resynced: boolean;
}

export type ClientEvent =
  | { type: 'request'; at: number; method: string; path: string; attempt: number; proof: boolean }
  | { type: 'response'; at: number; method: string; path: string; attempt: number; status: number; code?: string }
  | { type: 'retry'; at: number; path: string; attempt: number; reason: 'rate_limited' | 'unavailable'; waitMs: number; scope?: string }
  | { type: 'challenge'; at: number; path: string; id: string; difficulty: number; hashes: number }
  | { type: 'resync'; at: number; kind: ContactKind; reason: 'invalid_token' };

/** Running totals, so a simulated user's cost can be read without subscribing to events. */
export interface ClientStats {
  requests: number;
  retries: number;
  challenges: number;
  hashes: number;
  resyncs: number;
}

export interface SyncOptions {
  region?: string;
  kind?: ContactKind;
  /**
   * When the book no longer holds a number synced before, sync it whole without the stored set
   * (every number is sent, and paid for, again) instead of carrying the removed ones along as
   * previous. For users whose number is discoverable by their contacts only: findguard matches
   * them against the numbers of their latest sync, previous included, so a removed contact keeps
   * finding them until a sync leaves it out.
   */
  forgetRemoved?: boolean;
}

export interface FindguardClientOptions {
  transport: Transport;
  /** The app's JWT, or a function asked before every attempt (so expiring tokens can be refreshed). */
  token: string | (() => string | Promise<string>);
  /** Sent as X-Device-Id. */
  deviceId?: string;
  clock?: Clock;
  /** How waiting happens; the simulator advances its clock instead of sleeping. Default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** Retries after 429 and 503, together, per call (default 3). */
  maxRetries?: number;
  /** A 429 asking to wait longer than this throws at once instead (default 3600). */
  maxRetryAfterSeconds?: number;
  /** Jitter source for 503 backoff (default crypto). */
  random?: Random;
  /** 503 backoff: first delay and ceiling, in ms (defaults 500 and 30,000). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Challenges above this difficulty are not attempted; the 428 is thrown (default 28). */
  maxChallengeDifficulty?: number;
  /** Challenges answered per call before giving up (default 3): a server that keeps asking is not going to answer. */
  maxChallenges?: number;
  /** Replaces the proof-of-work solver (e.g. a worker thread); must return a valid nonce and the hashes spent. */
  solveChallenge?: (challenge: Challenge) => Promise<Solution>;
  onEvent?: (event: ClientEvent) => void;
}

interface SyncWire {
  matches: Array<{ index: number; accountId: string; handle: string }>;
  previousMatches?: Array<{ index: number; accountId: string; handle: string }>;
  invalid: Array<{ index: number; code: string }>;
  token: string;
}

const cryptoFloat: Random = { float: () => randomInt(2 ** 48) / 2 ** 48 };
const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The typed findguard discovery client. It keeps the sync token and the synced set so apps send
 * each number once, waits out 429s and 503s, answers proof-of-work challenges, and reports all
 * of it through `onEvent` so the attack simulator can count what each simulated user spent.
 */
export class FindguardClient {
  readonly stats: ClientStats = { requests: 0, retries: 0, challenges: 0, hashes: 0, resyncs: 0 };
  private state: SyncState = { version: 1 };
  // Two overlapping syncs of one kind would both chain from the same token and one would lose;
  // queueing them per kind keeps the stored set equal to what the newest token covers.
  private readonly queues = new Map<ContactKind, Promise<unknown>>();
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: Random;

  constructor(private readonly options: FindguardClientOptions) {
    this.clock = options.clock ?? { now: () => Date.now() };
    this.sleep = options.sleep ?? realSleep;
    this.random = options.random ?? cryptoFloat;
  }

  /** One number (`{phone}`, parsed against `region` unless E.164) or one email. */
  async lookup(query: { phone: string } | { email: string }, opts: { region?: string } = {}): Promise<{ match: Match | null }> {
    const body = 'phone' in query ? { phone: query.phone } : { email: query.email };
    const res = await this.request<{ match: Match | null }>(LOOKUP_PATH, { ...body, ...(opts.region ? { region: opts.region } : {}) });
    return { match: res.match ? { accountId: res.match.accountId, handle: res.match.handle } : null };
  }

  /**
   * Syncs the caller's whole address book (of one kind): only values never sent before go out
   * as new, the stored set goes along with its token, and results come back keyed by the
   * caller's own strings. On `invalid_token` the state is dropped and everything sent again once.
   */
  async sync(values: readonly string[], opts: SyncOptions = {}): Promise<SyncResult> {
    const kind = opts.kind ?? 'phone';
    const prior = this.queues.get(kind) ?? Promise.resolve();
    const run = prior.catch(() => undefined).then(() => {
      // The token binds the stored set exactly, so a number removed from the book can only leave
      // the server's copy by starting over without it.
      const stored = this.state[kind];
      if (opts.forgetRemoved && stored) {
        const now = new Set(values);
        if (stored.values.some((v) => !now.has(v))) delete this.state[kind];
      }
      return this.syncNow(kind, values, opts.region, true);
    });
    this.queues.set(kind, run);
    try {
      return await run;
    } finally {
      if (this.queues.get(kind) === run) this.queues.delete(kind);
    }
  }

  /** The sync memory, to persist a user's state between sessions (JSON-safe copy). */
  exportState(): SyncState {
    return cloneState(this.state);
  }

  /** Restores `exportState()` output; throws TypeError on a malformed value. */
  importState(state: unknown): void {
    this.state = parseState(state);
  }

  /** Forgets the sync state (one kind or all): the next sync sends everything and pays for it. */
  resetSync(kind?: ContactKind): void {
    if (kind) delete this.state[kind];
    else this.state = { version: 1 };
  }

  private async syncNow(kind: ContactKind, input: readonly string[], region: string | undefined, mayResync: boolean): Promise<SyncResult> {
    const stored = this.state[kind];
    const covered = new Set(stored?.values ?? []);
    const unique = [...new Set(input)];
    const fresh = unique.filter((v) => !covered.has(v));
    // The next sync must send the whole covered set as previous, which the server caps; past it
    // the token could never be used again, so refuse before spending anything.
    if (covered.size + fresh.length > MAX_PREVIOUS_VALUES) {
      throw new FindguardError({
        status: 400,
        code: 'invalid_request',
        message: `a sync state can cover at most ${MAX_PREVIOUS_VALUES} values (this sync would make ${covered.size + fresh.length})`,
        details: { limit: MAX_PREVIOUS_VALUES, local: true },
      });
    }
    const result: SyncResult = { matches: [], previousMatches: [], invalid: [], sent: 0, requests: 0, resynced: false };
    if (!stored && fresh.length === 0) return result;

    const field = fieldOf(kind);
    const newMatches = new Map<string, Match>();
    const prevMatches = new Map<string, Match>();
    const invalid = new Map<string, string>(stored?.invalid.map((i) => [i.value, i.code]) ?? []);
    let current = stored ? { token: stored.token, values: stored.values } : undefined;
    // With nothing new, one call still re-checks the stored set for free (new accounts appear).
    const chunks = fresh.length > 0 ? chunk(fresh, MAX_SYNC_VALUES) : [[]];
    try {
      for (const [n, part] of chunks.entries()) {
        const body = {
          ...(region ? { region } : {}),
          [field]: part,
          ...(current ? { previous: { token: current.token, [field]: current.values } } : {}),
        };
        result.requests++;
        const res = await this.request<SyncWire>(SYNC_PATH, body);
        for (const m of res.matches) {
          const value = part[m.index];
          if (value !== undefined) newMatches.set(value, { accountId: m.accountId, handle: m.handle });
        }
        // Later chunks' previous includes earlier chunks, whose matches are already in hand.
        if (n === 0 && current) {
          for (const m of res.previousMatches ?? []) {
            const value = current.values[m.index];
            if (value === undefined) continue;
            prevMatches.set(value, { accountId: m.accountId, handle: m.handle });
            invalid.delete(value); // parsed after all (e.g. a region now given)
          }
        }
        for (const i of res.invalid) {
          const value = part[i.index];
          if (value !== undefined) invalid.set(value, i.code);
        }
        result.sent += part.length;
        current = { token: res.token, values: current ? current.values.concat(part) : [...part] };
        // Committed per chunk: if a later chunk fails, what was paid for stays covered.
        this.state[kind] = { token: current.token, values: current.values, invalid: [...invalid].map(([value, code]) => ({ value, code })) };
      }
    } catch (err) {
      if (err instanceof FindguardError && err.code === 'invalid_token' && mayResync) {
        delete this.state[kind];
        this.stats.resyncs++;
        this.emit({ type: 'resync', at: this.clock.now(), kind, reason: 'invalid_token' });
        const again = await this.syncNow(kind, input, region, false);
        return { ...again, requests: again.requests + result.requests, resynced: true };
      }
      throw err;
    }

    const freshSet = new Set(fresh);
    for (const value of unique) {
      const m = freshSet.has(value) ? newMatches.get(value) : prevMatches.get(value);
      if (m) (freshSet.has(value) ? result.matches : result.previousMatches).push({ value, ...m });
      const code = invalid.get(value);
      if (code !== undefined) result.invalid.push({ value, code });
    }
    return result;
  }

  /** One API call with the retry, backoff and challenge policy. Throws FindguardError. */
  private async request<T>(path: string, body: unknown): Promise<T> {
    const maxRetries = this.options.maxRetries ?? 3;
    const maxChallenges = this.options.maxChallenges ?? 3;
    let retries = 0;
    let challenges = 0;
    let proof: string | undefined;
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'application/json',
        authorization: `Bearer ${await this.bearer()}`,
      };
      if (this.options.deviceId !== undefined) headers['x-device-id'] = this.options.deviceId;
      // A proof answers one challenge for one attempt; after any other answer it is not resent.
      if (proof !== undefined) headers[PROOF_HEADER.toLowerCase()] = proof;
      proof = undefined;

      this.stats.requests++;
      this.emit({ type: 'request', at: this.clock.now(), method: 'POST', path, attempt, proof: headers[PROOF_HEADER.toLowerCase()] !== undefined });
      const res = await this.options.transport.send({ method: 'POST', path, headers, body });
      if (res.status >= 200 && res.status < 300) {
        this.emit({ type: 'response', at: this.clock.now(), method: 'POST', path, attempt, status: res.status });
        return parseOk<T>(res);
      }

      const details = errorDetails(res);
      const retryAfter = res.status === 429 || res.status === 503 ? retryAfterSeconds(headerValue(res.headers, 'retry-after'), details, this.clock.now()) : undefined;
      const error = errorFromResponse(res, retryAfter);
      this.emit({ type: 'response', at: this.clock.now(), method: 'POST', path, attempt, status: res.status, code: error.code });

      if (res.status === 429 || res.status === 503) {
        if (retries >= maxRetries) throw error;
        let waitMs: number;
        if (res.status === 429) {
          // No hint at all is a server bug; a second is a polite guess rather than hammering.
          const seconds = retryAfter ?? 1;
          if (seconds > (this.options.maxRetryAfterSeconds ?? 3600)) throw error;
          waitMs = seconds * 1000;
        } else {
          waitMs = retryAfter !== undefined && retryAfter <= (this.options.maxRetryAfterSeconds ?? 3600) ? retryAfter * 1000 : this.backoff(retries);
        }
        retries++;
        this.stats.retries++;
        this.emit({
          type: 'retry',
          at: this.clock.now(),
          path,
          attempt,
          reason: res.status === 429 ? 'rate_limited' : 'unavailable',
          waitMs,
          ...(error.scope !== undefined ? { scope: error.scope } : {}),
        });
        await this.sleep(waitMs);
        continue;
      }

      if (res.status === 428 && error.code === 'challenge_required') {
        const challenge = parseChallenge(details);
        const maxDifficulty = this.options.maxChallengeDifficulty ?? MAX_CLIENT_DIFFICULTY;
        if (!challenge || challenges >= maxChallenges || challenge.difficulty > maxDifficulty) throw error;
        challenges++;
        const solved = await this.solve(challenge);
        this.stats.challenges++;
        this.stats.hashes += solved.hashes;
        this.emit({ type: 'challenge', at: this.clock.now(), path, id: challenge.id, difficulty: challenge.difficulty, hashes: solved.hashes });
        proof = formatProof(challenge.id, solved.nonce);
        continue;
      }
      throw error;
    }
  }

  private async solve(challenge: Challenge): Promise<Solution> {
    if (this.options.solveChallenge) return this.options.solveChallenge(challenge);
    return solveChallenge(challenge);
  }

  /** Exponential backoff with "equal jitter": half fixed, half random, so retries spread out but never bunch at zero. */
  private backoff(retry: number): number {
    const base = this.options.backoff?.baseMs ?? 500;
    const max = this.options.backoff?.maxMs ?? 30_000;
    const exp = Math.min(max, base * 2 ** retry);
    return Math.round(exp / 2 + this.random.float() * (exp / 2));
  }

  private async bearer(): Promise<string> {
    const t = this.options.token;
    return typeof t === 'function' ? t() : t;
  }

  private emit(event: ClientEvent): void {
    this.options.onEvent?.(event);
  }
}

function parseOk<T>(res: TransportResponse): T {
  try {
    return JSON.parse(res.body) as T;
  } catch {
    throw new FindguardError({ status: res.status, code: 'unexpected_response', message: `HTTP ${res.status} with a body that is not JSON` });
  }
}

function errorDetails(res: TransportResponse): unknown {
  try {
    const parsed = JSON.parse(res.body) as { error?: { details?: unknown } };
    return parsed?.error?.details;
  } catch {
    return undefined;
  }
}
