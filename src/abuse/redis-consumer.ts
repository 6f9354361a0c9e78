import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Backoff } from '../util/backoff.js';
import { OutageLog, errorText } from '../util/outage.js';
import { closeRedis, createRedis } from '../util/redis.js';
import { DEFAULT_STREAM_KEY, type EventConsumer } from './bus.js';
import { ConsumerLease, holderConnectionName, type LeaseAnswer } from './consumer-lease.js';
import type { EventMetrics } from './metrics.js';
import type { PartitionAssignment } from './partition-lease.js';
import type { EventProcessor, StagedBatch } from './pipeline.js';
import { decodeEntries } from './redis-decode.js';
import { AckedPosition, checkStreamReset, type StreamPositions } from './stream-positions.js';
import { trimAcknowledged } from './stream-trim.js';
import { entriesOf, fieldMap, groupOf, idTime, trimmedUnread, type Entry } from './redis-stream.js';

export const CONSUMER_GROUP = 'abuse';
export const DEFAULT_CLAIM_IDLE_MS = 30_000;

export interface RedisEventConsumerOptions {
  url: string;
  processor: EventProcessor;
  logger: Logger;
  metrics: EventMetrics;
  streamKey?: string;
  group?: string;
  /**
   * Unique per process; a process restarted under the same name picks up its own pending entries
   * at once (at once only if the old one is gone from Redis: a live one's lease is waited out).
   */
  consumer?: string;
  batchSize?: number;
  /** How long one XREADGROUP waits for new entries; stop() waits at most this long for it. */
  blockMs?: number;
  /** Entries delivered to a consumer this long ago and never acknowledged are taken over: their consumer is presumed dead. */
  claimIdleMs?: number;
  /** How often the stream is trimmed past what every group has acknowledged. */
  trimEveryMs?: number;
  /**
   * The engine's windows must see every event of an account, so one consumer of the group works at
   * a time and the others stand by: it holds a lease of this length (default claimIdleMs, at least
   * three blocking reads), renewed on every round. Default key: `<streamKey>:leader`.
   */
  leaseMs?: number;
  leaseKey?: string;
  /** Partitioned streams: whether this worker should hold this partition's lease at all (partition-lease.ts). */
  assignment?: PartitionAssignment;
  /** Where the group's acknowledged position is kept, so a Redis that comes back without it is reported (stream-positions.ts). */
  positions?: StreamPositions;
  /**
   * The stream's entries derive from stored events (the global stage's summaries): entries its cap
   * trimmed unread are not lost but rebuilt, by resuming the processor from the stored events, as a
   * take-over does; they are logged, and not counted as lost lookup events.
   */
  derived?: boolean;
}

const MAX_BACKOFF_MS = 10_000;
const OBSERVE_EVERY_MS = 5_000;

export function defaultConsumerName(): string {
  return `${hostname()}-${process.pid}`;
}

/**
 * One member of the consumer group: reads a batch (XREADGROUP), processes it, acknowledges it
 * (XACK). An entry is acknowledged only after processing succeeded, so a consumer killed at any
 * point leaves its batch pending; another consumer claims it (XAUTOCLAIM) once it has been idle
 * for claimIdleMs, and processing is idempotent by event id, so a batch processed twice stores
 * once. A failed batch stays pending and is re-read from this consumer's own history after a
 * backoff.
 *
 * One consumer leads at a time (a lease in Redis): the engine's windows are per account and per
 * network, and consumers splitting the stream would each see a part of every scan. Others stand by
 * and take over when the leader's lease lapses, after rebuilding the engine from the database.
 * Throughput is one worker's: 15,000-16,000 events/s on the project's 2-core VM (BENCHMARKS.md),
 * the fleet's ceiling. Sharding the stream by account is the next step where that is short.
 */
export class RedisEventConsumer implements EventConsumer {
  readonly kind = 'redis' as const;
  readonly streamKey: string;
  readonly group: string;
  readonly consumer: string;
  private readonly redis: Redis;
  private readonly batchSize: number;
  private readonly blockMs: number;
  private readonly claimIdleMs: number;
  private readonly trimEveryMs: number;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  /** The loop failing: logged once, and again when a round works. */
  private readonly outage: OutageLog;
  private readonly lease: ConsumerLease;
  private leading = false;
  /** Whether the next read also looks for entries the stream's cap trimmed unread (readPassingTrimmed). */
  private checkTrimmed = true;
  /** The batch whose handlers may still be working while the next one is read and stored. */
  private tail: Promise<void> = Promise.resolve();
  /** The newest entry this consumer acknowledged, recorded in opts.positions now and then. */
  private readonly position: AckedPosition;

  constructor(private readonly opts: RedisEventConsumerOptions) {
    this.streamKey = opts.streamKey ?? DEFAULT_STREAM_KEY;
    this.group = opts.group ?? CONSUMER_GROUP;
    this.consumer = opts.consumer ?? defaultConsumerName();
    this.batchSize = opts.batchSize ?? 2000;
    this.blockMs = opts.blockMs ?? 1000;
    this.claimIdleMs = opts.claimIdleMs ?? DEFAULT_CLAIM_IDLE_MS;
    this.trimEveryMs = opts.trimEveryMs ?? 60_000;
    this.outage = new OutageLog({
      down: (err) => opts.logger.error({ err: errorText(err), consumer: this.consumer }, 'event consumer failing: retrying (unacknowledged events stay pending)'),
      up: () => opts.logger.info({ consumer: this.consumer }, 'event consumer working again'),
    });
    this.redis = createRedis(opts.url, {
      // Longer than a blocking read, so only a connection that really hangs times out.
      commandTimeoutMs: this.blockMs + 10_000,
      reconnect: { stepMs: 200, maxMs: 2000 },
    });
    this.position = new AckedPosition(opts.positions, this.streamKey, this.group);
    this.lease = new ConsumerLease(this.redis, opts.leaseKey ?? `${this.streamKey}:leader`, this.consumer, opts.leaseMs ?? Math.max(this.claimIdleMs, 3 * this.blockMs), opts.logger);
    // Read at each (re)connection, which has not happened yet: a process restarted under our name looks for it (consumer-lease.ts).
    this.redis.options.connectionName = holderConnectionName(this.lease.token);
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    await this.position.record().catch(() => undefined);
    // Hand over at once rather than make a standby wait out the lease.
    await this.lease.release().catch(() => undefined);
    await closeRedis(this.redis);
  }

  /** Whether this consumer leads (holds the lease); on taking over, the processor resumes first. */
  private async lead(): Promise<boolean> {
    const a = this.opts.assignment;
    if (a && this.leading && a.shouldShed()) {
      // Another worker joined: finish and acknowledge the batch in hand, then hand the partition over.
      await this.drain();
      await this.lease.release();
      this.standBy();
      a.held(false);
      return false;
    }
    if (a && !this.leading && !a.mayTake()) return false;
    let r: LeaseAnswer;
    try {
      r = await this.lease.acquire();
    } catch (err) {
      if (!this.leading) a?.held(false);
      throw err;
    }
    a?.held(r !== 'other');
    if (r === 'other') {
      if (this.leading) this.opts.logger.warn({ consumer: this.consumer }, 'lost the event consumer lease: standing by');
      this.standBy();
      return false;
    }
    if (r === 'taken' || !this.leading) {
      this.opts.logger.info({ consumer: this.consumer }, 'took the event consumer lease: resuming the abuse engine, then consuming');
      this.standBy();
      this.checkTrimmed = true;
      await this.drain();
      // The rebuild may outlast the lease (a day of events): renewed meanwhile, and leading only if it stayed ours.
      const kept = await this.lease.holdDuring(async () => void (await this.opts.processor.resume?.()));
      if (kept !== 'held') {
        a?.held(kept !== 'other');
        this.opts.logger.warn(
          { consumer: this.consumer },
          kept === 'other' ? 'lost the event consumer lease while resuming the abuse engine: standing by' : 'the event consumer lease lapsed while resuming the abuse engine: resuming again',
        );
        return false;
      }
    }
    this.leading = true;
    this.opts.metrics.consumerLeading(true);
    return true;
  }

  private standBy(): void {
    this.leading = false;
    this.opts.metrics.consumerLeading(false);
  }

  private async run(): Promise<void> {
    // Our own pending entries first (a restart under the same name), then everyone's stale ones.
    let backlog = true;
    const backoff = new Backoff({ baseMs: 200, maxMs: MAX_BACKOFF_MS });
    let nextClaim = 0;
    let nextTrim = 0;
    let nextObserve = 0;
    let grouped = false;
    while (!this.stopping) {
      try {
        if (!grouped) grouped = await this.ensureGroup();
        if (!(await this.lead())) {
          await this.drain();
          backlog = true;
          await this.pause(this.blockMs);
          continue;
        }
        const now = Date.now();
        if (now >= nextClaim) {
          await this.claimStale();
          nextClaim = now + Math.min(10_000, Math.max(100, this.claimIdleMs / 3));
        }
        if (now >= nextTrim) {
          await this.trim();
          nextTrim = now + this.trimEveryMs;
        }
        if (now >= nextObserve) {
          await this.observe();
          this.checkTrimmed = true;
          nextObserve = now + OBSERVE_EVERY_MS;
        }
        if (backlog) {
          const entries = await this.read('0', false);
          if (entries.length === 0) backlog = false;
          else await this.handle(entries);
        } else {
          const entries = this.checkTrimmed ? await this.readPassingTrimmed() : await this.read('>', true);
          // While these are handled, more may come and the stream's cap may overtake the group: the
          // next read looks. (Looking only after a full batch let a slow batch of a few entries be
          // followed by a plain read past a gap, which no later look can see.)
          if (entries.length > 0) this.checkTrimmed = true;
          await this.handle(entries, true);
        }
        backoff.succeeded();
        this.outage.ok();
      } catch (err) {
        // Let the batch in flight finish or fail: whatever is not acknowledged is re-read from the backlog.
        await this.tail.catch(() => undefined);
        this.tail = Promise.resolve();
        if (this.stopping) break;
        this.outage.failed(err);
        backlog = true;
        // The stream or group may have been deleted (NOGROUP): create it again.
        grouped = false;
        await this.pause(backoff.failed());
      }
    }
    // Stopping: the batch in flight is finished and acknowledged (or left pending if it fails).
    await this.tail.catch(() => undefined);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /**
   * Creates the group if it is missing, reading the stream from its start: events published
   * before any worker ran are kept. Then, with positions, reports what a Redis reset lost.
   */
  private async ensureGroup(): Promise<boolean> {
    let created = true;
    try {
      await this.redis.xgroup('CREATE', this.streamKey, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error && err.message.includes('BUSYGROUP'))) throw err;
      created = false;
    }
    const { positions, metrics, logger } = this.opts;
    if (positions) await checkStreamReset({ redis: this.redis, positions, stream: this.streamKey, group: this.group, consumer: this.consumer, created, now: Date.now(), metrics, logger });
    return true;
  }

  private async read(from: '0' | '>', block: boolean): Promise<Entry[]> {
    const args: Array<string | number> = ['GROUP', this.group, this.consumer, 'COUNT', this.batchSize];
    if (block) args.push('BLOCK', this.blockMs);
    args.push('STREAMS', this.streamKey, from);
    const reply = await this.redis.call('XREADGROUP', ...args);
    // [[key, [[id, fields], ...]]] or null when BLOCK timed out.
    if (!Array.isArray(reply) || reply.length === 0) return [];
    const stream = reply[0] as [string, unknown];
    return entriesOf(stream[1]);
  }

  /** Takes over entries other consumers were given and did not acknowledge within claimIdleMs. */
  private async claimStale(): Promise<void> {
    let cursor = '0-0';
    do {
      if (this.stopping) return;
      const reply = (await this.redis.call('XAUTOCLAIM', this.streamKey, this.group, this.consumer, this.claimIdleMs, cursor, 'COUNT', this.batchSize)) as [string, unknown, unknown?];
      cursor = String(reply[0]);
      const entries = entriesOf(reply[1]);
      if (entries.length > 0) {
        this.opts.logger.warn({ consumer: this.consumer, entries: entries.length }, 'claimed lookup events a dead or stalled consumer left pending');
        await this.handle(entries);
      }
    } while (cursor !== '0-0');
  }

  /**
   * Processes and acknowledges one batch. Entries that are not valid events are acknowledged and
   * counted, never retried. With `overlap` (new entries, read one batch after another), the batch
   * is stored while the handlers still work on the previous one, and handed to them once that one
   * is finished: the engine's thread works while the database stores. Order is kept: batches are
   * finished and acknowledged in the order read, and a failure leaves this and every later batch
   * pending for the retry.
   */
  private async handle(entries: Entry[], overlap = false): Promise<void> {
    if (entries.length === 0) return;
    const segments = decodeEntries(entries, this.opts.metrics, this.opts.logger, this.consumer);
    const ids = entries.map(([id]) => id);
    const p = this.opts.processor;
    const only = segments.length === 1 ? segments[0] : undefined;
    if (overlap && only && 'events' in only && p.stage && p.finish && p.abandon) {
      const staging = p.stage(only.events, only.encoded);
      let staged: StagedBatch;
      try {
        [staged] = await Promise.all([staging, this.tail]);
      } catch (err) {
        staging.then((s) => p.abandon!(s), () => undefined);
        throw err;
      }
      const finish = p.finish.bind(p);
      this.tail = (async () => {
        await finish(staged);
        await this.redis.xack(this.streamKey, this.group, ...ids);
        this.position.note(ids);
      })();
      // Surfaced by the next batch or drain(); never an unhandled rejection meanwhile.
      this.tail.catch(() => undefined);
      return;
    }
    await this.drain();
    for (const segment of segments) {
      if ('events' in segment) await p.process(segment.events, segment.encoded);
      else await p.signup?.(segment.signup);
    }
    await this.redis.xack(this.streamKey, this.group, ...ids);
    this.position.note(ids);
  }

  /** Waits for the batch still being finished (see handle); throws if it failed. */
  private async drain(): Promise<void> {
    const tail = this.tail;
    this.tail = Promise.resolve();
    await tail;
  }

  /** The group's backlog, for the metrics: entries not read yet (Redis 7 reports it) and not acknowledged. */
  private async observe(): Promise<void> {
    await this.position.record();
    const info = await this.groupInfo();
    if (!info) return;
    const lag = info.get('lag');
    this.opts.metrics.stream(typeof lag === 'number' ? lag : undefined, Number(info.get('pending') ?? 0));
  }

  private async groupInfo(): Promise<Map<string, unknown> | undefined> {
    return groupOf(await this.redis.call('XINFO', 'GROUPS', this.streamKey), this.group);
  }

  /**
   * A read, without blocking, in one MULTI with what XINFO says of the stream and the group just
   * before it: entries the stream's length cap trimmed before this group read them (workers far
   * behind the fleet) are counted exactly, however fast the fleet writes meanwhile. They never
   * reach the engine or the exposure records, so they are counted and logged with the window they
   * were published in, for whoever answers for that window's exposures. Then Redis's read counter
   * is set past them: it would otherwise count them as unread forever, and the stream lag would
   * never return to zero.
   */
  private async readPassingTrimmed(): Promise<Entry[]> {
    this.checkTrimmed = false;
    const replies = await this.redis
      .multi()
      .call('XINFO', 'STREAM', this.streamKey)
      .call('XINFO', 'GROUPS', this.streamKey)
      .call('XREADGROUP', 'GROUP', this.group, this.consumer, 'COUNT', this.batchSize, 'STREAMS', this.streamKey, '>')
      .exec();
    if (!replies) throw new Error('stream read discarded');
    for (const [err] of replies) if (err) throw err;
    const [stream, groups, read] = replies.map(([, value]) => value);
    const entries = Array.isArray(read) && read.length > 0 ? entriesOf((read[0] as [string, unknown])[1]) : [];
    const group = groupOf(groups, this.group);
    const gap = group && trimmedUnread(fieldMap(stream), group);
    if (!gap) return entries;
    const window = { consumer: this.consumer, lost: gap.lost, publishedAfter: idTime(gap.after), publishedBefore: gap.before && idTime(gap.before) };
    if (this.opts.derived) {
      this.opts.logger.warn(window, 'entries derived from stored events were dropped by the Redis stream (its length cap) before they were read: rebuilding from the stored events');
    } else {
      this.opts.metrics.lost(gap.lost);
      this.opts.logger.error(window, 'lookup events were dropped by the Redis stream (its length cap) before the abuse engine read them: the engine and the exposure records miss them');
    }
    // Only the leader moves the group's position, so it is still where this read left it.
    const last = entries.length > 0 ? entries[entries.length - 1]![0] : gap.after;
    await this.redis.xgroup('SETID', this.streamKey, this.group, last, 'ENTRIESREAD', gap.entriesRead + entries.length);
    if (!this.opts.derived) return entries;
    // The rebuild reads every stored event, those of the entries just read too (skipped as seen when handled next).
    await this.drain();
    const kept = await this.lease.holdDuring(async () => void (await this.opts.processor.resume?.()));
    if (kept === 'held') return entries;
    // Left pending for whoever leads next (a take-over resumes anyway, then claims them).
    this.opts.logger.warn({ consumer: this.consumer }, 'lost the event consumer lease while rebuilding: standing by');
    this.standBy();
    this.opts.assignment?.held(kept !== 'other');
    return [];
  }

  /** Entries every group has acknowledged, and consumers long gone (stream-trim.ts). */
  private async trim(): Promise<void> {
    await trimAcknowledged(this.redis, this.streamKey, this.group, this.consumer);
  }
}
