import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { BufferedBus, CLOSE_TIMEOUT_MS, EventsUnavailableError, MAX_BACKOFF_MS, sleep, type BusCommon } from './bus-buffer.js';
import { encodeEvent, type LookupEvent } from './events.js';
import type { EventMetrics } from './metrics.js';
import type { EventProcessor, StagedBatch } from './pipeline.js';
import type { SignupEvent } from './signup.js';
import { Backoff } from '../util/backoff.js';
import { OutageLog, errorText } from '../util/outage.js';
import { closeRedis, createRedis } from '../util/redis.js';
import { FleetPartitionsCheck } from './fleet-partitions.js';
import { partitionOf, partitionStreamKey } from './partitions.js';
import { DEFAULT_MAX_STREAM_LENGTH, StreamBacklog } from './stream-backlog.js';

export { EventsUnavailableError, type BusCommon } from './bus-buffer.js';

/**
 * The event bus between the discovery routes and the abuse engine (DESIGN §6): an in-process
 * queue on the embedded default, Redis Streams when scaled out.
 *
 * An answered call's event must be durable before its answer leaves (emitDurable): a revealed
 * account missing from the exposure records is what the events exist to prevent. Events wait in
 * a bounded buffer and are written in batches by one sender at a time, so the calls that arrive
 * while a batch is being written share the next write (a group commit): each waits for its own
 * batch, never for the abuse engine. "Durable" means committed to the database (in-process), or
 * acknowledged by Redis (XADD); it survives the process being killed, not the machine losing power
 * (SQLite runs with synchronous=NORMAL; Redis's own persistence is its operator's choice).
 *
 * Refusals and challenges reveal nothing, so their events stay fire-and-forget (emit): when the
 * buffer overflows (the database or Redis away for long) they are dropped, counted in
 * findguard_events_dropped_total and logged once per outage.
 */
export interface EventBus {
  readonly kind: 'in-process' | 'redis';
  /** Fire-and-forget: never fails or waits; lost if the process dies before its batch is written. */
  emit(event: LookupEvent): void;
  /**
   * Resolves once the event is durable. Rejects with EventsUnavailableError when it cannot be
   * (the store or stream failing or not answering, the buffer full, the bus closed), at once or as
   * soon as its batch fails: the call must then fail closed. A rejected event is not kept, except
   * when its write was in flight without an answer: it may then be stored all the same.
   */
  emitDurable(event: LookupEvent): Promise<void>;
  /** A new account's sign-up context, to wherever events are consumed. Never fails or blocks the caller. */
  emitSignup(event: SignupEvent): void;
  /** Resolves true once everything emitted so far has left the buffer (in-process: and reached the handlers), false at the timeout. */
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

/**
 * The embedded default: one process. A batch is stored (durable: the calls waiting for it are
 * answered), then handed to the handlers (the abuse engine) in the order stored, while the next
 * batches are stored: answers never wait for the engine.
 */
export class InProcessEventBus extends BufferedBus implements EventBus, EventConsumer {
  readonly kind = 'in-process' as const;

  private resumed: Promise<void> | undefined;
  private signups: Promise<void> = Promise.resolve();
  /** Stored batches the handlers have not finished, oldest first. */
  private readonly handQueue: StagedBatch[] = [];
  private handing: Promise<void> | undefined;
  /** Handing over failing: logged once; its recovery is logged with the end of being behind. */
  private readonly handOutage: OutageLog;
  private behind = false;

  constructor(
    private readonly processor: EventProcessor,
    private readonly common: BusCommon,
  ) {
    // No linger: on SQLite a batch is stored synchronously, and the calls of one turn of the event
    // loop (and those that arrive while a batch is written elsewhere) already share a commit. The
    // 10 ms linger of before (events fire-and-forget) let a busy node do the same.
    super({ batchSize: 200, ...common }, 'in-process event pipeline', { durable: 0, fireAndForget: 10 });
    this.handOutage = new OutageLog({
      down: (err) => common.logger.error({ err: errorText(err) }, 'could not hand lookup events to the abuse engine: retrying (they are stored)'),
    });
  }

  protected async send(batch: LookupEvent[]): Promise<number> {
    const p = this.processor;
    if (!p.stage || !p.finish || !p.abandon) {
      await this.resume();
      await p.process(batch);
      return batch.length;
    }
    const staged = await p.stage(batch);
    if (staged.pending.length > 0) this.hand(staged);
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

  override async flush(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    await this.signups;
    if (!(await super.flush(timeoutMs))) return false;
    while (this.handing) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await Promise.race([this.handing, sleep(left)]);
    }
    return true;
  }

  /** Consumption starts with the first event (a CLI command that emits none never reads the history). */
  start(): void {}

  /**
   * Rebuilds the handlers' state from the database once, before the first batch is handed over (a
   * failure is logged: the engine starts blind rather than not at all). Storing does not wait for
   * it: an event stored meanwhile may be both replayed and handed over, and the engine skips an
   * event id it has seen.
   */
  private resume(): Promise<void> {
    this.resumed ??= (this.processor.resume?.() ?? Promise.resolve()).catch((err: unknown) => {
      this.common.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'could not resume the abuse engine from stored events; it starts from nothing');
    });
    return this.resumed;
  }

  /**
   * Queues a stored batch for the handlers. Past MAX_QUEUED_BATCHES (the engine far behind, or
   * failing) a batch is left unhanded rather than hold up storing: it is in the database, and a
   * restart replays it to the engine.
   */
  private hand(staged: StagedBatch): void {
    if (this.handQueue.length >= MAX_QUEUED_BATCHES) {
      this.processor.abandon!(staged);
      if (!this.behind) this.common.logger.error({ queued: this.handQueue.length }, 'the abuse engine is far behind or failing: stored lookup events are not handed to it (a restart replays them)');
      this.behind = true;
      return;
    }
    this.handQueue.push(staged);
    this.handing ??= this.handAll().finally(() => (this.handing = undefined));
  }

  /** Hands the queued batches over in order; a failed one is tried again (stored again: a no-op) before any later one. */
  private async handAll(): Promise<void> {
    const p = this.processor;
    await this.resume();
    const backoff = new Backoff({ baseMs: 100, maxMs: MAX_BACKOFF_MS });
    while (this.handQueue.length > 0) {
      const head = this.handQueue[0]!;
      try {
        // finish() gave up a batch whose handling failed: staging it again takes it back.
        await p.finish!(backoff.ms > 0 ? await p.stage!(head.pending) : head);
        this.handQueue.shift();
        backoff.succeeded();
        if (this.handOutage.ok() || this.behind) this.common.logger.info('the abuse engine is taking lookup events again');
        this.behind = false;
      } catch (err) {
        this.handOutage.failed(err);
        if (this.closed) {
          for (const s of this.handQueue.splice(1)) p.abandon!(s);
          this.handQueue.length = 0;
          return;
        }
        await sleep(backoff.failed());
      }
    }
  }

  stop(): Promise<void> {
    return this.close();
  }

  async close(): Promise<void> {
    await this.closeBuffer();
    if (this.handing) await Promise.race([this.handing, sleep(CLOSE_TIMEOUT_MS)]);
  }
}

/** Stored batches waiting for the engine before storing stops handing them over (see InProcessEventBus.hand). */
const MAX_QUEUED_BATCHES = 50;

export interface RedisEventBusOptions extends BusCommon {
  url: string;
  streamKey?: string;
  /**
   * Cap on the stream's length (XADD MAXLEN ~). Generous: it only bites when no worker has
   * consumed for long, and then dropping the oldest events beats Redis running out of memory
   * and taking the limits (same Redis) down with it.
   */
  maxStreamLength?: number;
  /** How long an event may wait for others to share its round trip (default 0: those that arrive during a round trip share the next). */
  lingerMs?: number;
  /** Streams the events are partitioned over by account (partitions.ts); default 1: the one stream `streamKey`. */
  partitions?: number;
}

export { DEFAULT_MAX_STREAM_LENGTH };

/** Scaled out: publishes to a Redis stream in pipelined XADD batches; `findguard worker` consumes. */
export class RedisEventBus extends BufferedBus implements EventBus {
  readonly kind = 'redis' as const;
  readonly streamKey: string;
  private readonly redis: Redis;
  private readonly maxLen: string;
  private readonly partitions: number;
  private readonly backlog: StreamBacklog;
  private readonly rechecking = new Set<number>();
  private backlogLogged = false;
  private readonly logger: Logger;
  private readonly metrics: EventMetrics;
  /** The fleet's P as last read (fleet-partitions.ts): on another, nothing is published. */
  private readonly fleet: FleetPartitionsCheck;

  constructor(opts: RedisEventBusOptions) {
    super(opts, 'event bus (Redis)', { durable: opts.lingerMs ?? 0, fireAndForget: opts.lingerMs ?? 5 });
    this.streamKey = opts.streamKey ?? DEFAULT_STREAM_KEY;
    this.maxLen = String(opts.maxStreamLength ?? DEFAULT_MAX_STREAM_LENGTH);
    this.partitions = opts.partitions ?? 1;
    this.backlog = new StreamBacklog(this.partitions, Number(this.maxLen));
    this.logger = opts.logger;
    this.metrics = opts.metrics;
    // A process that never emits (a worker, a CLI command) never connects. We resend failed
    // batches ourselves (the factory's default): a resend by ioredis too would only add duplicates.
    this.redis = createRedis(opts.url, { lazyConnect: true });
    this.fleet = new FleetPartitionsCheck(this.redis, this.streamKey, this.partitions, this.logger);
  }

  /** Reads the fleet's partition count now (a serve node at start: a mismatch is logged before the first call). */
  checkPartitions(): Promise<void> {
    return this.fleet.check();
  }

  /**
   * A refusal's event is not published while its partition's stream is past the refusals' bar
   * (stream-backlog.ts): counted, logged once per episode.
   */
  override emit(event: LookupEvent): void {
    if (this.fleet.mismatched) return this.withheld();
    const p = partitionOf(event.accountId, this.partitions);
    if (!this.backlog.takesRefusals(p) && event.outcome !== 'allowed') return this.unpublished(p);
    super.emit(event);
  }

  /** An answered call fails closed while its partition's stream is past the answers' bar; a withheld refusal is treated as emit() treats one. */
  override emitDurable(event: LookupEvent): Promise<void> {
    if (this.fleet.mismatched) {
      if (event.outcome !== 'allowed') return Promise.resolve(this.withheld());
      this.fleet.recheck();
      this.drops.refuse(1, this.fleet.why);
      return Promise.reject(new EventsUnavailableError(this.fleet.why));
    }
    const p = partitionOf(event.accountId, this.partitions);
    if (event.outcome !== 'allowed') {
      if (this.backlog.takesRefusals(p)) return super.emitDurable(event);
      this.unpublished(p);
      return Promise.resolve();
    }
    if (this.backlog.takesAnswers(p)) return super.emitDurable(event);
    this.recheck(p);
    const why = 'the event stream is near its length cap (the workers are behind)';
    this.drops.refuse(1, why);
    return Promise.reject(new EventsUnavailableError(why));
  }

  private unpublished(partition: number): void {
    this.recheck(partition);
    this.metrics.dropped(1);
    if (this.backlogLogged) return;
    this.backlogLogged = true;
    this.logger.error(
      { partition, length: this.backlog.fullest, cap: Number(this.maxLen) },
      'event stream past half its length cap (the workers are behind): events of refused calls are not published, answered calls fail closed (503) past 90%',
    );
  }

  /** On another P than the fleet's, a refusal's event is not published (counted; the check logs the mismatch). */
  private withheld(): void {
    this.fleet.recheck();
    this.metrics.dropped(1);
  }

  /** Past a bar nothing may be sent that would read the length again: read it, at most once a second. */
  private recheck(partition: number): void {
    if (!this.backlog.stale(partition) || this.rechecking.has(partition)) return;
    this.rechecking.add(partition);
    this.redis
      .xlen(this.keyAt(partition))
      .then((n) => this.backlog.note(partition, n))
      .catch(() => undefined)
      .finally(() => this.rechecking.delete(partition));
  }

  protected async send(batch: LookupEvent[]): Promise<number> {
    // Its own round trip, at most every READ_EVERY_MS: checked before anything is published, so no
    // answer leaves whose event went to a stream the workers do not read. Redis failing it fails
    // the batch, as a failed XADD would.
    if (this.fleet.due()) await this.fleet.check();
    if (this.fleet.mismatched) return this.withhold(batch);
    const pipe = this.redis.pipeline();
    // Per partition, the entries this batch adds: with the length last known, a burst of refusals
    // buffered before any length was read stops at the bar here, within the batch.
    const sent = new Map<number, number>();
    /** For each event of the batch, its command's index in the pipeline (-1: not published). */
    const command = new Array<number>(batch.length);
    let commands = 0;
    for (let k = 0; k < batch.length; k++) {
      const e = batch[k]!;
      const p = partitionOf(e.accountId, this.partitions);
      const n = sent.get(p) ?? 0;
      if (e.outcome !== 'allowed' && !this.backlog.takesRefusalsAt(this.backlog.length(p) + n)) {
        this.unpublished(p);
        command[k] = -1;
        continue;
      }
      sent.set(p, n + 1);
      pipe.xadd(this.keyAt(p), 'MAXLEN', '~', this.maxLen, '*', 'e', encodeEvent(e));
      command[k] = commands++;
    }
    if (commands === 0) return batch.length;
    // A stream's length rides along with a batch (no round trip of its own), at most every
    // READ_EVERY_MS; other batches count what they add.
    const read = [...sent.keys()].filter((p) => this.backlog.due(p));
    for (const p of read) pipe.xlen(this.keyAt(p));
    const results = (await pipe.exec()) ?? [];
    let i = commands;
    for (const p of read) {
      const r = results[i++];
      if (r && !r[0]) this.backlog.note(p, Number(r[1]));
    }
    for (const [p, n] of sent) if (!read.includes(p)) this.backlog.added(p, n);
    if (this.backlogLogged && [...sent.keys()].every((p) => this.backlog.takesRefusals(p))) {
      this.backlogLogged = false;
      this.logger.info('event stream below half its length cap again: every event is published');
    }
    // A batch half-written before a failure: the calls waiting for the rest fail closed, the
    // refusals among the rest are kept for the retry. An entry written twice is harmless:
    // processing is idempotent by event id.
    let done = 0;
    for (; done < batch.length; done++) {
      const c = command[done]!;
      if (c >= 0 && (!results[c] || results[c]![0])) break;
    }
    if (done === 0) throw results[0]?.[0] ?? new Error('XADD failed');
    return done;
  }

  /**
   * Events buffered before the fleet's P was found to differ: the refusals at the batch's head are
   * withheld (counted); an answered call's event fails its batch, so its call answers 503.
   */
  private withhold(batch: LookupEvent[]): number {
    const head = batch.findIndex((e) => e.outcome === 'allowed');
    const withheld = head < 0 ? batch.length : head;
    if (withheld === 0) throw new EventsUnavailableError(this.fleet.why);
    this.metrics.dropped(withheld);
    return withheld;
  }

  /**
   * Sign-ups are rare (one per new account): one XADD each, straight away, in the same stream. Not
   * held back for a read of the fleet's P (it would reorder them after the account's first
   * events): published unless the last read found another P, and the read refreshed when due.
   */
  emitSignup(event: SignupEvent): void {
    if (this.closed) return;
    this.fleet.recheck();
    if (this.fleet.mismatched) return this.metrics.dropped(1);
    this.redis.xadd(this.keyOf(event.accountId), 'MAXLEN', '~', this.maxLen, '*', 's', JSON.stringify(event)).catch(() => this.drops.drop(1));
  }

  /** An account's events and sign-up all go to its partition's stream, in the order published. */
  private keyOf(accountId: string): string {
    return this.keyAt(partitionOf(accountId, this.partitions));
  }

  private keyAt(partition: number): string {
    return partitionStreamKey(this.streamKey, partition, this.partitions);
  }

  async close(): Promise<void> {
    await this.closeBuffer();
    await closeRedis(this.redis);
  }
}
