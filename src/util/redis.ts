import { Redis, type RedisOptions } from 'ioredis';

/**
 * Every Redis connection findguard opens (limits store, event bus, event consumer and its lease,
 * decision notices) comes from here, so the choices below are made once and each use states only
 * where it differs, and why.
 */
export interface RedisClientOptions {
  /** Connect on the first command instead of at once: a process that never uses the client never connects. Default false. */
  lazyConnect?: boolean;
  /** A connection attempt without an answer by then fails (and is retried): default 2000 ms. */
  connectTimeoutMs?: number;
  /**
   * A command without an answer by then fails instead of waiting on a Redis that hangs: default
   * 2000 ms. null: none (a subscriber, whose connection only ever waits).
   */
  commandTimeoutMs?: number | null;
  /** Tries of a command across reconnections before it fails: default 1. null: never fails, waits (a subscriber). */
  maxRetriesPerRequest?: number | null;
  /** Commands issued while disconnected are queued (true, the default) or fail at once (false: callers that fail closed). */
  offlineQueue?: boolean;
  /**
   * Whether ioredis resends, after a reconnection, commands that were sent but not answered.
   * Default false: our callers retry themselves (a resent write could be applied twice).
   */
  resendAfterReconnect?: boolean;
  /** Reconnection goes on forever, waiting `attempt × stepMs`, at most `maxMs`: default 100 ms steps up to 2000 ms. */
  reconnect?: { stepMs: number; maxMs: number };
  /**
   * Connection errors. Without a listener ioredis reports every failed reconnect as an unhandled
   * error; the client reconnects on its own whatever this does. Default: ignored (each caller
   * reports the failures of its own commands).
   */
  onError?: (err: Error) => void;
  /**
   * Commands issued in one turn of the event loop go out as one pipeline, in one write (ioredis's
   * enableAutoPipelining). Default false. Worth it where many requests each send a command at
   * once (the limits store): a write to the socket per command is a system call per call.
   */
  autoPipelining?: boolean;
}

export const REDIS_DEFAULTS = {
  connectTimeoutMs: 2000,
  commandTimeoutMs: 2000,
  maxRetriesPerRequest: 1,
  reconnect: { stepMs: 100, maxMs: 2000 },
} as const;

/** The delay before reconnection attempt `attempt` (1, 2, …): grows linearly, capped. */
export function reconnectDelay(attempt: number, reconnect: { stepMs: number; maxMs: number }): number {
  return Math.min(attempt * reconnect.stepMs, reconnect.maxMs);
}

/** The ioredis options these choices make (exported for the test that pins them). */
export function redisOptions(opts: RedisClientOptions = {}): RedisOptions {
  const reconnect = opts.reconnect ?? REDIS_DEFAULTS.reconnect;
  const commandTimeout = opts.commandTimeoutMs === undefined ? REDIS_DEFAULTS.commandTimeoutMs : opts.commandTimeoutMs;
  const options: RedisOptions = {
    connectTimeout: opts.connectTimeoutMs ?? REDIS_DEFAULTS.connectTimeoutMs,
    maxRetriesPerRequest: opts.maxRetriesPerRequest === undefined ? REDIS_DEFAULTS.maxRetriesPerRequest : opts.maxRetriesPerRequest,
    autoResendUnfulfilledCommands: opts.resendAfterReconnect ?? false,
    retryStrategy: (attempt) => reconnectDelay(attempt, reconnect),
  };
  if (opts.lazyConnect) options.lazyConnect = true;
  if (commandTimeout !== null) options.commandTimeout = commandTimeout;
  if (opts.offlineQueue === false) options.enableOfflineQueue = false;
  if (opts.autoPipelining) options.enableAutoPipelining = true;
  return options;
}

/** A Redis client with findguard's connection choices (see RedisClientOptions), its error listener attached. */
export function createRedis(url: string, opts: RedisClientOptions = {}): Redis {
  const redis = new Redis(url, redisOptions(opts));
  const onError = opts.onError;
  redis.on('error', onError ? (err: Error) => onError(err) : () => undefined);
  return redis;
}

/**
 * Closes a client: QUIT (commands already sent are answered first), or a plain disconnect when
 * it never connected or QUIT fails. With `timeoutMs`, a Redis that is away is waited for at most
 * that long.
 */
export async function closeRedis(redis: Redis, timeoutMs?: number): Promise<void> {
  if (redis.status === 'wait' || redis.status === 'end') return redis.disconnect();
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => redis.disconnect(), timeoutMs);
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  } finally {
    clearTimeout(timer);
  }
}
