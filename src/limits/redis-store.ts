import type { Redis } from 'ioredis';
import { closeRedis, createRedis } from '../util/redis.js';
import { EPOCH_REDIS_KEY, type EpochRedis } from './redis-epoch.js';
import { APPLY_SCRIPT, USE_ONCE_SCRIPT } from './redis-script.js';
import { LimitStateLostError, LimitStoreError, NotSoleNodeError, type ApplyInput, type ApplyResult, type LayerOutcome, type LayerResult, type LimitStore } from './store.js';
import type { Scope } from '../policy/index.js';

export interface RedisLimitStoreOptions {
  /** Prepended to every key, so several deployments (or test files) can share one Redis. */
  prefix?: string;
  connectTimeoutMs?: number;
  /** A command without an answer by then fails (and the layer fails closed) instead of waiting. */
  commandTimeoutMs?: number;
  /** Connection errors; the store keeps reconnecting on its own whatever this does. */
  onError?: (err: Error) => void;
  /**
   * A call found Redis without the epoch this store expects (redis-epoch.ts): told at most once a
   * second, so the owner can read the database's epoch again (an operator may have accepted the reset).
   */
  onLost?: (held: string | null) => void;
}

const DEFAULT_PREFIX = 'fg:l:';
const DEFAULT_CONNECT_TIMEOUT_MS = 1000;
const DEFAULT_COMMAND_TIMEOUT_MS = 1000;
const LAYER_OUTCOMES: Record<string, LayerOutcome> = { A: 'allowed', R: 'refused', S: 'shadow_refused', U: 'unchecked' };

/** defineCommand adds the method at run time; this is its shape (numkeys first, as with EVAL). */
interface WithApplyCommand {
  fgApply(numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  fgUseOnce(numKeys: number, ...keysAndArgs: string[]): Promise<unknown>;
}

/**
 * Limits in one Redis shared by every node. apply() is a single Lua script (redis-script.ts), so
 * check-and-charge is atomic across nodes and costs one round trip.
 *
 * Single Redis only, not Redis Cluster: the script touches several keys (every layer's bucket,
 * the breaker, the strike counter) that would need one hash tag to live in one slot.
 *
 * Discovery fails closed when Redis is away, so nothing here waits for it: no offline queue,
 * no resending after a reconnect (a resent apply could charge twice), and a command timeout.
 * Reconnection goes on forever in the background, so the store recovers without a restart.
 */
export class RedisLimitStore implements LimitStore, EpochRedis {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly epochKey: string;
  /** The deployment's epoch this store checks on every call; none until expectEpoch (then no check). */
  private epoch: string | undefined;
  private readonly onLost: ((held: string | null) => void) | undefined;
  private lostToldAt = Number.NEGATIVE_INFINITY;
  /** Whether no memory-limits node holds the single-node lock beside this one (set by soleWhile). */
  private sole: () => boolean = () => true;
  /** Settles after the first connection attempt, so calls made right after start-up do not fail just for being early. */
  private readonly firstAttempt: Promise<void>;

  constructor(url: string, opts: RedisLimitStoreOptions = {}) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.epochKey = this.prefix + EPOCH_REDIS_KEY;
    this.onLost = opts.onLost;
    const connectTimeout = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.redis = createRedis(url, {
      connectTimeoutMs: connectTimeout,
      commandTimeoutMs: opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      offlineQueue: false,
      maxRetriesPerRequest: 0,
      reconnect: { stepMs: 100, maxMs: 1000 },
      // Under load many calls charge in the same turn of the event loop: one write for all of
      // them instead of a system call each (a third of the Redis limits' CPU per call, profiled).
      autoPipelining: true,
      ...(opts.onError ? { onError: opts.onError } : {}),
    });
    this.redis.defineCommand('fgApply', { lua: APPLY_SCRIPT });
    this.redis.defineCommand('fgUseOnce', { lua: USE_ONCE_SCRIPT });
    this.firstAttempt = new Promise<void>((resolve) => {
      const events = ['ready', 'error', 'end'] as const;
      const done = (): void => {
        clearTimeout(timer);
        for (const e of events) this.redis.off(e, done);
        resolve();
      };
      const timer = setTimeout(done, connectTimeout + 100);
      timer.unref();
      for (const e of events) this.redis.once(e, done);
    });
  }

  /**
   * Ties every call to `sole`: while a node with its limits in memory holds the single-node lock
   * (it took it while this node's share was gone), that node keeps budgets of its own beside the
   * fleet's, so this one answers nothing (NotSoleNodeError, 503) rather than double every budget.
   */
  soleWhile(sole: () => boolean): void {
    this.sole = sole;
  }

  async apply(input: ApplyInput): Promise<ApplyResult> {
    if (!this.sole()) throw new NotSoleNodeError();
    const n = input.charges.length;
    const keys = input.charges.map((c) => this.prefix + c.key);
    const args: string[] = [
      num(input.now),
      flag(input.proof),
      num(input.strikeWindowMs),
      String(n),
      flag(!!input.breaker),
      flag(!!input.strikeKey),
      input.strikesMin === undefined ? '' : num(input.strikesMin),
      input.strikesMax === undefined ? '' : num(input.strikesMax),
    ];
    const b = input.breaker;
    if (b) {
      keys.push(this.prefix + b.key);
      args.push(num(b.demand), num(b.windowMs), num(b.alpha), num(b.initialBaseline), num(b.ratio), num(b.minimum), num(b.holdMs), num(b.share), flag(b.shadow));
    } else {
      args.push('', '', '', '', '', '', '', '', '');
    }
    // Truthiness, as in apply.ts: an empty strike key counts nothing.
    if (input.strikeKey) keys.push(this.prefix + input.strikeKey);
    for (const c of input.charges) {
      const keep = c.keep ?? c;
      args.push(num(c.cost), num(c.burst), num(c.rate), num(c.perMs), flag(c.shadow), c.challengeBelow === undefined ? '' : num(c.challengeBelow), c.scope, num(keep.burst), num(keep.rate));
    }
    // One argument for all of them (the script splits it): each argument costs ioredis an encoding
    // step of its own, and a call has ~70 (measured: ~2x the command's CPU in the client).
    const epoch = this.epoch;
    if (epoch !== undefined) keys.push(this.epochKey);
    const packed = args.join('\n');
    const cmd = this.redis as unknown as WithApplyCommand;
    const reply = await this.run('apply', () => (epoch === undefined ? cmd.fgApply(keys.length, ...keys, packed) : cmd.fgApply(keys.length, ...keys, packed, epoch)));
    if (Array.isArray(reply) && reply[0] === 'lost') this.lost();
    return parseReply(reply, input);
  }

  async useOnce(key: string, ttlMs: number, _now: number): Promise<boolean> {
    if (!this.sole()) throw new NotSoleNodeError();
    // PX needs a positive integer; rounding up never forgets an id early.
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    const epoch = this.epoch;
    const cmd = this.redis as unknown as WithApplyCommand;
    const set = await this.run('useOnce', () => (epoch === undefined ? cmd.fgUseOnce(1, this.prefix + key, ttl) : cmd.fgUseOnce(2, this.prefix + key, this.epochKey, ttl, epoch)));
    if (set === 'lost') this.lost();
    return set === 'OK';
  }

  /** From now on every call checks that Redis holds this epoch (redis-epoch.ts). */
  expectEpoch(epoch: string): void {
    this.epoch = epoch;
  }

  async readEpoch(): Promise<string | null> {
    return this.run('epoch', () => this.redis.get(this.epochKey));
  }

  async writeEpoch(epoch: string, force = false): Promise<string | null> {
    await this.run('epoch', () => (force ? this.redis.set(this.epochKey, epoch) : this.redis.set(this.epochKey, epoch, 'NX')));
    return this.readEpoch();
  }

  private lost(): never {
    this.tellLost(undefined);
    throw new LimitStateLostError();
  }

  /** Tells onLost what Redis holds (read again when not given), at most once a second. */
  private tellLost(held: string | null | undefined): void {
    // Wall time: this only spaces out the owner's database reads, it decides nothing.
    const now = Date.now();
    if (!this.onLost || now - this.lostToldAt < 1000) return;
    this.lostToldAt = now;
    const read = held !== undefined ? Promise.resolve(held) : this.readEpoch();
    read.then(
      (h) => this.onLost?.(h),
      () => undefined,
    );
  }

  async strikes(key: string, _now: number): Promise<number> {
    const v = await this.run('strikes', () => this.redis.get(this.prefix + key));
    return v === null ? 0 : Number(v);
  }

  /** Throws LimitStoreError when Redis is out of reach, LimitStateLostError when it lacks the expected epoch. */
  async ping(): Promise<void> {
    if (this.epoch === undefined) {
      await this.run('ping', () => this.redis.ping());
      return;
    }
    const held = await this.readEpoch();
    if (held === this.epoch) return;
    // Told here too: a node out of its load balancer for being not ready gets no calls to tell it.
    this.tellLost(held);
    throw new LimitStateLostError();
  }

  async close(): Promise<void> {
    await closeRedis(this.redis);
  }

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    await this.firstAttempt;
    try {
      return await fn();
    } catch (err) {
      throw new LimitStoreError(`redis ${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
}

export function createRedisLimitStore(url: string, opts?: RedisLimitStoreOptions): RedisLimitStore {
  return new RedisLimitStore(url, opts);
}

/** JavaScript's shortest round-trip form; Lua's tonumber (strtod) reads it back to the same double. */
function num(x: number): string {
  return String(x);
}

function flag(b: boolean): string {
  return b ? '1' : '0';
}

/** Reads %.17g output from Lua, which spells infinities and NaN the C way. */
function parseNumber(s: string): number {
  if (s === 'inf') return Infinity;
  if (s === '-inf') return -Infinity;
  if (s.endsWith('nan')) return NaN;
  return Number(s);
}

function parseReply(reply: unknown, input: ApplyInput): ApplyResult {
  if (!Array.isArray(reply) || !reply.every((x): x is string => typeof x === 'string')) throw new LimitStoreError('redis apply returned an unexpected reply');
  const [outcome, layerRef, scope, retry, tripped, shadowRefused, strikes] = reply as string[];
  if (outcome !== 'allowed' && outcome !== 'refused' && outcome !== 'challenge' && outcome !== 'stale-strikes') throw new LimitStoreError(`redis apply returned outcome ${String(outcome)}`);
  // A stale-strikes answer read no layer: no layer codes follow.
  const n = outcome === 'stale-strikes' ? 0 : input.charges.length;
  if (reply.length !== 7 + n) throw new LimitStoreError('redis apply returned an unexpected reply');
  const layers: LayerResult[] = [];
  for (let i = 0; i < n; i++) {
    const code = reply[7 + i] as string;
    const layerOutcome = LAYER_OUTCOMES[code[0] ?? ''];
    if (!layerOutcome) throw new LimitStoreError(`redis apply returned layer code ${code}`);
    layers.push({ layer: input.charges[i]!.layer, outcome: layerOutcome, nearLimit: code[1] === '1' });
  }
  const result: ApplyResult = {
    outcome,
    layers,
    tripped: tripped === '1',
    breakerShadowRefused: shadowRefused === '1',
    strikes: parseNumber(strikes ?? '0'),
  };
  if (layerRef) {
    const layer = layerRef === 'breaker' ? 'breaker' : input.charges[Number(layerRef)]?.layer;
    if (layer === undefined) throw new LimitStoreError(`redis apply returned layer ${layerRef}`);
    result.layer = layer;
    result.scope = scope as Scope;
  }
  if (outcome === 'refused') result.retryAfterMs = parseNumber(retry ?? '');
  return result;
}
