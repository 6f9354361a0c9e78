import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { approxEventBytes, encodeEvent, type LookupEvent } from './events.js';
import type { EventMetrics } from './metrics.js';
import type { EventProcessor } from './pipeline.js';
import type { SignupEvent } from './signup.js';

/**
 * The event bus between the discovery routes and the abuse engine (DESIGN §6): an in-process
 * queue on the embedded default, Redis Streams when scaled out.
 *
 * emit() is synchronous and never fails or waits: it appends to a bounded buffer that is drained
 * in the background. Availability of discovery is governed by the limits store, not by this bus,
 * so when the buffer overflows (the database or Redis away for long) events are dropped, counted
 * in findguard_events_dropped_total and logged once per outage. At-least-once delivery holds from
 * the moment an event is in the stream (or, in-process, in the database); before that, a process
 * killed without close() loses what it had buffered: at most a few milliseconds of events.
 */
export interface EventBus {
  readonly kind: 'in-process' | 'redis';
  emit(event: LookupEvent): void;
  /** A new account's sign-up context, to wherever events are consumed. Never fails or blocks the caller. */
  emitSignup(event: SignupEvent): void;
  /** Resolves true once everything emitted so far has left the buffer, false at the timeout. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Flushes (bounded by a timeout), then releases connections; later emits are dropped. */
  close(): Promise<void>;
}

/** Something that takes events off the bus and processes them, in this process. */
export interface EventConsumer {
  readonly kind: 'in-process' | 'redis';
  start(): void;
  /** Finishes the batch in hand (and acknowledges it), then stops. */
  stop(): Promise<void>;
}

export const DEFAULT_STREAM_KEY = 'fg:events';
/** Memory events may hold while the bus is away (approximate bytes). */
const DEFAULT_MAX_BUFFER_BYTES = 64 * 1024 * 1024;
const CLOSE_TIMEOUT_MS = 3000;
const MAX_BACKOFF_MS = 5000;

export interface BusCommon {
  logger: Logger;
  metrics: EventMetrics;
  maxBufferBytes?: number;
  batchSize?: number;
}

/** Dropped events: counted always, logged once per outage, and the total logged when the bus recovers. */
class DropLog {
  private dropped = 0;
  private failing = false;
  constructor(
    private readonly logger: Logger,
    private readonly metrics: EventMetrics,
    private readonly what: string,
  ) {}

  failed(err: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.logger.error({ err: err instanceof Error ? err.message : String(err) }, `${this.what} failing: lookup events are buffered, and dropped once the buffer is full`);
  }

  drop(n: number): void {
    this.metrics.dropped(n);
    if (this.dropped === 0) this.logger.error({ dropped: n }, `${this.what}: lookup event buffer full, dropping events (discovery keeps answering)`);
    this.dropped += n;
  }

  recovered(): void {
    if (!this.failing && this.dropped === 0) return;
    this.logger.info({ dropped: this.dropped }, `${this.what} working again`);
    this.failing = false;
    this.dropped = 0;
  }

  get isFailing(): boolean {
    return this.failing;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)).unref());

/**
 * A bounded buffer drained by one sender at a time: batching, backoff after a failure, flush.
 * Subclasses say how a batch is sent and which of it went through.
 */
abstract class BufferedBus {
  protected buffer: LookupEvent[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private backoffMs = 0;
  protected closed = false;
  protected readonly drops: DropLog;
  private readonly maxBytes: number;
  protected readonly batchSize: number;

  constructor(
    common: BusCommon,
    what: string,
    private readonly lingerMs: number,
  ) {
    this.drops = new DropLog(common.logger, common.metrics, what);
    this.maxBytes = common.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    this.batchSize = common.batchSize ?? 500;
  }

  /** Sends a batch; returns how many from its start went through (throws if none could). */
  protected abstract send(batch: LookupEvent[]): Promise<number>;

  emit(event: LookupEvent): void {
    const size = approxEventBytes(event);
    if (this.closed || this.bytes + size > this.maxBytes) {
      this.drops.drop(1);
      return;
    }
    this.buffer.push(event);
    this.bytes += size;
    if (this.buffer.length >= this.batchSize && this.timer && this.backoffMs === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.schedule();
  }

  get buffered(): number {
    return this.buffer.length;
  }

  async flush(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffer.length > 0 || this.sending) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      if (!this.sending) {
        if (this.timer) clearTimeout(this.timer);
        this.timer = undefined;
        this.startSending();
      }
      await Promise.race([this.sending, sleep(left)]);
      if (this.drops.isFailing) await sleep(Math.min(50, deadline - Date.now()));
    }
    return true;
  }

  protected async closeBuffer(): Promise<void> {
    this.closed = true;
    await this.flush(CLOSE_TIMEOUT_MS);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.sending;
    if (this.buffer.length > 0) {
      this.drops.failed(new Error('closing with events unpublished'));
      this.drops.drop(this.buffer.length);
      this.buffer = [];
      this.bytes = 0;
    }
  }

  private schedule(): void {
    if (this.sending || this.timer || this.buffer.length === 0) return;
    const delay = this.backoffMs > 0 ? this.backoffMs : this.buffer.length >= this.batchSize ? 0 : this.lingerMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.startSending();
    }, delay);
    this.timer.unref();
  }

  private startSending(): void {
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
      if (!this.closed) this.schedule();
    });
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, this.batchSize);
      let done: number;
      try {
        done = await this.send(batch);
      } catch (err) {
        this.drops.failed(err);
        this.backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(100, this.backoffMs * 2));
        return;
      }
      for (let i = 0; i < done; i++) this.bytes -= approxEventBytes(batch[i]!);
      this.buffer.splice(0, done);
      this.backoffMs = 0;
      this.drops.recovered();
      if (done < batch.length) {
        this.backoffMs = 100;
        return;
      }
    }
  }
}

/**
 * The embedded default: one process, events processed (stored, then handed to the detectors)
 * by an in-process consumer a tick after they were emitted, in batches.
 */
const IN_PROCESS_LINGER_MS = 10;

export class InProcessEventBus extends BufferedBus implements EventBus, EventConsumer {
  readonly kind = 'in-process' as const;

  private resumed: Promise<void> | undefined;
  private signups: Promise<void> = Promise.resolve();

  constructor(
    private readonly processor: EventProcessor,
    private readonly common: BusCommon,
  ) {
    // Small batches: on SQLite a batch is stored synchronously, and requests wait meanwhile.
    // A short linger lets a busy node store many events per transaction instead of one commit
    // per call.
    super({ batchSize: 200, ...common }, 'in-process event pipeline', IN_PROCESS_LINGER_MS);
  }

  protected async send(batch: LookupEvent[]): Promise<number> {
    await this.resume();
    await this.processor.process(batch);
    return batch.length;
  }

  emitSignup(event: SignupEvent): void {
    if (this.closed || !this.processor.signup) return;
    const signup = this.processor.signup.bind(this.processor);
    // Chained, so sign-ups reach the engine in order and flush() can wait for them.
    this.signups = this.signups
      .then(() => this.resume())
      .then(() => signup(event))
      .catch((err: unknown) => this.common.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'could not hand a sign-up to the abuse engine'));
  }

  override async flush(timeoutMs?: number): Promise<boolean> {
    await this.signups;
    return super.flush(timeoutMs);
  }

  /** Consumption starts with the first event (a CLI command that emits none never reads the history). */
  start(): void {}

  /** Rebuilds the handlers' state from the database once, before the first batch (a failure is logged: the engine starts blind rather than not at all). */
  private resume(): Promise<void> {
    this.resumed ??= (this.processor.resume?.() ?? Promise.resolve()).catch((err: unknown) => {
      this.common.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'could not resume the abuse engine from stored events; it starts from nothing');
    });
    return this.resumed;
  }

  stop(): Promise<void> {
    return this.close();
  }

  close(): Promise<void> {
    return this.closeBuffer();
  }
}

export interface RedisEventBusOptions extends BusCommon {
  url: string;
  streamKey?: string;
  /**
   * Cap on the stream's length (XADD MAXLEN ~). Generous: it only bites when no worker has
   * consumed for long, and then dropping the oldest events beats Redis running out of memory
   * and taking the limits (same Redis) down with it.
   */
  maxStreamLength?: number;
  /** How long an event may wait for others to share its round trip. */
  lingerMs?: number;
}

export const DEFAULT_MAX_STREAM_LENGTH = 2_000_000;

/** Scaled out: publishes to a Redis stream in pipelined XADD batches; `findguard worker` consumes. */
export class RedisEventBus extends BufferedBus implements EventBus {
  readonly kind = 'redis' as const;
  readonly streamKey: string;
  private readonly redis: Redis;
  private readonly maxLen: string;

  constructor(opts: RedisEventBusOptions) {
    super(opts, 'event bus (Redis)', opts.lingerMs ?? 5);
    this.streamKey = opts.streamKey ?? DEFAULT_STREAM_KEY;
    this.maxLen = String(opts.maxStreamLength ?? DEFAULT_MAX_STREAM_LENGTH);
    this.redis = new Redis(opts.url, {
      // A process that never emits (a worker, a CLI command) never connects.
      lazyConnect: true,
      connectTimeout: 2000,
      commandTimeout: 2000,
      maxRetriesPerRequest: 1,
      // We resend failed batches ourselves; a resend by ioredis too would only add duplicates.
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    });
    this.redis.on('error', () => undefined);
  }

  protected async send(batch: LookupEvent[]): Promise<number> {
    const pipe = this.redis.pipeline();
    for (const e of batch) pipe.xadd(this.streamKey, 'MAXLEN', '~', this.maxLen, '*', 'e', encodeEvent(e));
    const results = (await pipe.exec()) ?? [];
    // A batch half-written before a failure: keep the rest (and the failed ones) for the retry.
    // An event written twice is harmless: processing is idempotent by event id.
    let done = 0;
    while (done < batch.length && results[done] && !results[done]![0]) done++;
    if (done === 0) throw results[0]?.[0] ?? new Error('XADD failed');
    return done;
  }

  /** Sign-ups are rare (one per new account): one XADD each, straight away, in the same stream. */
  emitSignup(event: SignupEvent): void {
    if (this.closed) return;
    this.redis.xadd(this.streamKey, 'MAXLEN', '~', this.maxLen, '*', 's', JSON.stringify(event)).catch(() => this.drops.drop(1));
  }

  async close(): Promise<void> {
    await this.closeBuffer();
    if (this.redis.status === 'wait' || this.redis.status === 'end') {
      this.redis.disconnect();
      return;
    }
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
