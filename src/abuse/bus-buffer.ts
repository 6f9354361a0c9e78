import type { Logger } from 'pino';
import { Backoff } from '../util/backoff.js';
import { OutageLog, errorText } from '../util/outage.js';
import { approxEventBytes, type LookupEvent } from './events.js';
import type { EventMetrics } from './metrics.js';

/**
 * The buffer both event buses share (bus.ts): batching, backoff after a failed write, flush, and
 * the calls waiting for their events to be durable (a group commit: those that arrive while a
 * batch is written share the next write).
 */

/** An answered call's event could not be made durable; the call must not be answered. */
export class EventsUnavailableError extends Error {
  override readonly name = 'EventsUnavailableError';
}

/** Memory events may hold while the bus is away (approximate bytes). */
const DEFAULT_MAX_BUFFER_BYTES = 64 * 1024 * 1024;
export const CLOSE_TIMEOUT_MS = 3000;
/**
 * After a failed write, the next try waits this long at most. It is also how long answered calls
 * are refused at once (503) before one batch tries the store again, so it bounds how long
 * discovery stays unavailable once the store is back.
 */
export const MAX_BACKOFF_MS = 1000;
/** A write unanswered this long fails the calls waiting for it (503), and again each time it passes. */
const WRITE_TIMEOUT_MS = 2000;

export interface BusCommon {
  logger: Logger;
  metrics: EventMetrics;
  maxBufferBytes?: number;
  batchSize?: number;
  /**
   * false: emitDurable() resolves at once, as emit() before findguard waited for durability, with
   * the linger that had (10 ms in-process, 5 ms to Redis). Only for the benchmark's before/after.
   */
  durable?: boolean;
}

/** Dropped events and refused calls: counted always, logged once per outage, and the totals logged when the bus recovers. */
class DropLog {
  private dropped = 0;
  private refused = 0;
  /** Its recovery is logged by recovered(), with what was dropped and refused meanwhile. */
  private readonly outage: OutageLog;
  constructor(
    private readonly logger: Logger,
    private readonly metrics: EventMetrics,
    private readonly what: string,
  ) {
    this.outage = new OutageLog({
      down: (err) =>
        this.logger.error(
          { err: errorText(err) },
          `${this.what} failing: answered discovery calls fail closed (503) until it works again; the events of refusals are buffered, and dropped once the buffer is full`,
        ),
    });
  }

  failed(err: unknown): void {
    this.outage.failed(err);
  }

  drop(n: number): void {
    this.metrics.dropped(n);
    if (this.dropped === 0) this.logger.error({ dropped: n }, `${this.what}: lookup event buffer full, dropping events (of refused and challenged calls: answered calls fail closed)`);
    this.dropped += n;
  }

  /** Answered calls whose events could not be made durable: they answer 503 instead. */
  refuse(n: number, why: string): void {
    this.metrics.failedClosed(n);
    if (this.refused === 0 && !this.outage.failing) this.logger.error({ why }, `${this.what}: answered discovery calls fail closed (503): their lookup events cannot be made durable`);
    this.refused += n;
  }

  recovered(): void {
    if (!this.outage.failing && this.dropped === 0 && this.refused === 0) return;
    this.logger.info({ dropped: this.dropped, failedClosed: this.refused }, `${this.what} working again`);
    this.outage.ok();
    this.dropped = 0;
    this.refused = 0;
  }

  get isFailing(): boolean {
    return this.outage.failing;
  }
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)).unref());

/**
 * A timer that a linger of 0 turns into setImmediate: the events of one turn of the event loop
 * share a batch. It keeps the process alive only once a caller waits on it (ref): a process that
 * answers through inject() (the simulator, a CLI command) has nothing else to keep it running.
 */
function later(ms: number, fn: () => void, waited: boolean): { cancel(): void; ref(): void } {
  const handle = ms <= 0 ? setImmediate(fn) : setTimeout(fn, ms);
  if (!waited) handle.unref();
  return {
    cancel: () => (ms <= 0 ? clearImmediate(handle as NodeJS.Immediate) : clearTimeout(handle as NodeJS.Timeout)),
    ref: () => void handle.ref(),
  };
}

/**
 * A bounded buffer drained by one sender at a time: batching, backoff after a failure, flush,
 * and the callers waiting for their events to be durable. Subclasses say how a batch is written
 * and which of it went through.
 */
export abstract class BufferedBus {
  protected buffer: LookupEvent[] = [];
  /** Beside buffer, index for index: who waits for that event to be durable (undefined: fire-and-forget). */
  private waiters: Array<Waiter | undefined> = [];
  private bytes = 0;
  private timer: { cancel(): void; ref(): void } | undefined;
  /** Callers waiting on what is buffered (then the timer keeps the process alive). */
  private waiting = 0;
  private sending: Promise<void> | undefined;
  /** After a failed write, the next waits (and answered calls are refused) this long. */
  private readonly backoff = new Backoff({ baseMs: 100, maxMs: MAX_BACKOFF_MS });
  /** Until then (performance.now()), answered calls are refused at once: the last write failed. */
  private refuseUntil = 0;
  protected closed = false;
  protected readonly drops: DropLog;
  private readonly maxBytes: number;
  protected readonly batchSize: number;
  private readonly durable: boolean;
  private readonly lingerMs: number;

  constructor(common: BusCommon, what: string, lingerMs: { durable: number; fireAndForget: number }) {
    this.drops = new DropLog(common.logger, common.metrics, what);
    this.maxBytes = common.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    this.batchSize = common.batchSize ?? 500;
    this.durable = common.durable ?? true;
    this.lingerMs = this.durable ? lingerMs.durable : lingerMs.fireAndForget;
  }

  /** Writes a batch; returns how many from its start went through (throws if none could). */
  protected abstract send(batch: LookupEvent[]): Promise<number>;

  emit(event: LookupEvent): void {
    const size = approxEventBytes(event);
    if (this.closed || this.bytes + size > this.maxBytes) {
      this.drops.drop(1);
      return;
    }
    this.push(event, size, undefined);
  }

  emitDurable(event: LookupEvent): Promise<void> {
    if (!this.durable) {
      this.emit(event);
      return Promise.resolve();
    }
    const size = approxEventBytes(event);
    const refused = this.closed
      ? 'the event bus is closed'
      : performance.now() < this.refuseUntil
        ? 'the last write of lookup events failed'
        : this.bytes + size > this.maxBytes
          ? 'the lookup event buffer is full'
          : undefined;
    if (refused) {
      this.drops.refuse(1, refused);
      return Promise.reject(new EventsUnavailableError(refused));
    }
    return new Promise((resolve, reject) => this.push(event, size, { resolve, reject }));
  }

  private push(event: LookupEvent, size: number, waiter: Waiter | undefined): void {
    this.buffer.push(event);
    this.waiters.push(waiter);
    this.bytes += size;
    if (waiter && this.waiting++ === 0) this.timer?.ref();
    if (this.buffer.length >= this.batchSize && this.timer && this.backoff.ms === 0) {
      this.timer.cancel();
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
        this.timer?.cancel();
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
    this.timer?.cancel();
    this.timer = undefined;
    await this.sending;
    if (this.buffer.length > 0) {
      this.drops.failed(new Error('closing with events unpublished'));
      this.failWaiters(new EventsUnavailableError('the event bus closed'));
      this.drops.drop(this.buffer.length);
      this.buffer = [];
      this.waiters = [];
      this.bytes = 0;
    }
  }

  private schedule(): void {
    if (this.sending || this.timer || this.buffer.length === 0) return;
    const delay = this.backoff.ms > 0 ? this.backoff.ms : this.buffer.length >= this.batchSize ? 0 : this.lingerMs;
    this.timer = later(
      delay,
      () => {
        this.timer = undefined;
        this.startSending();
      },
      this.waiting > 0,
    );
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
      let done = 0;
      let error: unknown;
      // A store that does not answer must not hold answered calls forever: they fail closed, and
      // their events, already on their way, may be stored all the same (an exposure recorded for a
      // 503 is the safe side of the error).
      const watchdog = setInterval(() => this.timedOut(), WRITE_TIMEOUT_MS).unref();
      try {
        done = await this.send(batch);
      } catch (err) {
        error = err;
      } finally {
        clearInterval(watchdog);
      }
      for (let i = 0; i < done; i++) {
        this.bytes -= approxEventBytes(batch[i]!);
        const w = this.waiters[i];
        if (!w) continue;
        w.resolve();
        this.waiting--;
      }
      this.buffer.splice(0, done);
      this.waiters.splice(0, done);
      if (done === batch.length) {
        this.backoff.succeeded();
        this.drops.recovered();
        continue;
      }
      // A batch half-written before a failure (Redis) counts as working, and is retried at once.
      if (done > 0) {
        this.drops.recovered();
        this.backoff.succeeded();
        this.backoff.failed();
      } else {
        this.drops.failed(error);
        this.backoff.failed();
      }
      this.refuseUntil = performance.now() + this.backoff.ms;
      this.failWaiters(new EventsUnavailableError('lookup events could not be written'), true);
      return;
    }
  }

  /** The write in flight has not answered for WRITE_TIMEOUT_MS: fail every call waiting, keep their events. */
  private timedOut(): void {
    this.refuseUntil = performance.now() + MAX_BACKOFF_MS;
    this.failWaiters(new EventsUnavailableError('the lookup event store is not answering'));
  }

  /**
   * Rejects every call still waiting. With `remove` (nothing is in flight), their events leave the
   * buffer too: their calls answer 503 and reveal nothing, so nothing is to be recorded.
   */
  private failWaiters(err: EventsUnavailableError, remove = false): void {
    let failed = 0;
    for (const w of this.waiters) {
      if (!w) continue;
      w.reject(err);
      failed++;
    }
    if (failed === 0) return;
    this.waiting = 0;
    this.drops.refuse(failed, err.message);
    if (!remove) {
      this.waiters.fill(undefined);
      return;
    }
    const kept: LookupEvent[] = [];
    let bytes = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      if (this.waiters[i]) continue;
      kept.push(this.buffer[i]!);
      bytes += approxEventBytes(this.buffer[i]!);
    }
    this.buffer = kept;
    this.waiters = new Array<Waiter | undefined>(kept.length).fill(undefined);
    this.bytes = bytes;
  }
}
