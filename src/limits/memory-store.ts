import { applyCharges, type BreakerState, type BucketState, type StateAccess, type StateWrites } from './apply.js';
import type { LimitStateSaver, SavedEntry } from './memory-persistence.js';
import { LimitStateNotSavedError, NotSoleNodeError, type ApplyInput, type ApplyResult, type LimitStore } from './store.js';

interface Entry<T> {
  value: T;
  expires: number;
}

export interface MemoryStoreOptions {
  /** Where the state is saved, so a restart or a crash forgets nothing (the embedded default passes one). */
  persistence?: LimitStateSaver;
  /** After a failed save, what changed is tried again this much later. Default 1 s. */
  saveEveryMs?: number;
  /** A save unanswered this long fails the calls waiting on it, and again each time it passes. Default 2 s. */
  saveTimeoutMs?: number;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

/** Saved keys are namespaced by map: buckets, breakers, strike counters, used one-time ids. */
type Namespace = 'b' | 'r' | 's' | 'o';

/**
 * Limits in this process, for the embedded default (one node). Entries expire once their bucket
 * has refilled, so memory follows active callers, not all callers ever seen.
 *
 * With a persistence, what changed is saved and read back by restore() at start: a restart (a
 * deploy, or a crash an attacker provoked) must not hand every caller a fresh budget and every
 * solved challenge a second use. A call that changed anything (apply, useOnce) resolves only once
 * a save begun after its change has stored it, as its lookup event is made durable before its
 * answer leaves, so a crash forgets no charge of an answered call. A group commit: the calls that
 * change state while a save is written share the next one, a write per batch, not per call. A
 * failed or hung save rejects its calls with LimitStateNotSavedError (they fail closed, 503);
 * their changes stay in memory, charged, and are tried again a second later or with the next save.
 */
export class MemoryLimitStore implements LimitStore {
  readonly kind = 'memory' as const;
  private readonly buckets = new Map<string, Entry<BucketState>>();
  private readonly breakers = new Map<string, Entry<BreakerState>>();
  private readonly counters = new Map<string, Entry<number>>();
  private readonly once = new Map<string, number>();
  private ops = 0;
  private readonly persistence: LimitStateSaver | undefined;
  private readonly saveEveryMs: number;
  private readonly saveTimeoutMs: number;
  /** The call running now changed state (set by changed(), read right after the synchronous change). */
  private wrote = false;
  /** Calls whose changes are dirty, waiting for the next save to take them (with the dirty keys, at once). */
  private waiters: Waiter[] = [];
  /** A save for the waiters is scheduled and has not taken them yet. */
  private commitQueued = false;
  /** Keys changed since the last save, per namespace (no key text is built per write). */
  private dirty = emptyDirty();
  /** Keys saved since the persistence's journal was last folded (see LimitStateSaver.fold). */
  private unfolded = emptyDirty();
  /** The time of the apply() running now, for `access` (made once, not per call). */
  private now = 0;
  private readonly access: StateAccess = {
    bucket: (k) => live(this.buckets.get(k), this.now),
    breaker: (k) => live(this.breakers.get(k), this.now),
    strikes: (k) => live(this.counters.get(k), this.now) ?? 0,
  };
  /** Where apply() writes: a live entry is updated in place (no new state object per charge). */
  private readonly writes: StateWrites = {
    bucket: (key, tokens, ts, ttlMs) => {
      const e = this.buckets.get(key);
      if (e) {
        e.value.tokens = tokens;
        e.value.ts = ts;
        e.expires = this.now + ttlMs;
      } else this.buckets.set(key, { value: { tokens, ts }, expires: this.now + ttlMs });
      this.changed('b', key);
    },
    breaker: (key, state, ttlMs) => {
      put(this.breakers, key, state, this.now + ttlMs);
      this.changed('r', key);
    },
    strike: (key, ttlMs) => {
      const n = (live(this.counters.get(key), this.now) ?? 0) + 1;
      this.counters.set(key, { value: n, expires: this.now + ttlMs });
      this.changed('s', key);
    },
  };
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  /** Whether this node's state is still the only one (set by soleWhile; always, without a lock). */
  private sole: () => boolean = () => true;

  constructor(options: MemoryStoreOptions = {}) {
    this.persistence = options.persistence;
    this.saveEveryMs = options.saveEveryMs ?? 1000;
    this.saveTimeoutMs = options.saveTimeoutMs ?? 2000;
  }

  /** Reads back what was saved and has not expired by `now`. */
  async restore(now: number): Promise<number> {
    if (!this.persistence) return 0;
    const saved = await this.persistence.load(now);
    for (const e of saved) {
      const ns = e.key.slice(0, 1) as Namespace;
      const key = e.key.slice(2);
      const value: unknown = JSON.parse(e.state);
      if (ns === 'b') this.buckets.set(key, { value: value as BucketState, expires: e.expiresAt });
      else if (ns === 'r') this.breakers.set(key, { value: value as BreakerState, expires: e.expiresAt });
      else if (ns === 's') this.counters.set(key, { value: value as number, expires: e.expiresAt });
      else if (ns === 'o') this.once.set(key, e.expiresAt);
    }
    return saved.length;
  }

  /**
   * Ties every call to `sole` (the single-node lock not taken by another node): while it says no,
   * apply and useOnce throw NotSoleNodeError, changing nothing.
   */
  soleWhile(sole: () => boolean): void {
    this.sole = sole;
  }

  async apply(input: ApplyInput): Promise<ApplyResult> {
    if (!this.sole()) throw new NotSoleNodeError();
    const now = input.now;
    if (++this.ops % 4096 === 0) this.sweep(now);
    this.now = now;
    this.wrote = false;
    const result = applyCharges(input, this.access, this.writes);
    if (this.wrote) await this.committed();
    return result;
  }

  async useOnce(key: string, ttlMs: number, now: number): Promise<boolean> {
    if (!this.sole()) throw new NotSoleNodeError();
    const until = this.once.get(key);
    if (until !== undefined && until > now) return false;
    this.once.set(key, now + ttlMs);
    this.wrote = false;
    this.changed('o', key);
    if (this.wrote) await this.committed();
    return true;
  }

  async strikes(key: string, now: number): Promise<number> {
    return live(this.counters.get(key), now) ?? 0;
  }

  async ping(): Promise<void> {}

  /** Saves what changed since the last save (the timer's work; close() does it once more). */
  async save(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // One save at a time, in order: a later one must not be overtaken by an earlier one.
    this.saving = this.saving.then(() => this.saveDirty());
    return this.saving;
  }

  async close(): Promise<void> {
    await this.save();
    // A node stopped cleanly leaves no journal (unless a directory write holds the connection just
    // then): an earlier release started on the same files next (a rollback) reads the entries' rows alone.
    this.foldIfDue(true);
    this.buckets.clear();
    this.breakers.clear();
    this.counters.clear();
    this.once.clear();
  }

  /**
   * Drops this process's state and reads the saved one back: after another node held the
   * single-node lock and charged from (and saved to) the same table, this process's memory is
   * stale, and its next saves would write it over the other node's charges. What this one had not
   * saved when it lost the lock is dropped with it (the other node's saved state is the newer).
   */
  async reload(now: number): Promise<number> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.dropUnsaved();
    await this.saving.catch(() => undefined);
    this.dropUnsaved();
    this.buckets.clear();
    this.breakers.clear();
    this.counters.clear();
    this.once.clear();
    return this.restore(now);
  }

  /**
   * Forgets the changes no save has taken, and fails the calls waiting on them: left waiting, the
   * next save (finding nothing dirty) would resolve them, answering calls whose charges are gone
   * from memory and were never stored. A reload can now follow a lock loss within milliseconds,
   * while such calls are still in flight.
   */
  private dropUnsaved(): void {
    this.dirty = emptyDirty();
    // The load that follows folds the journal (and this process's values are being dropped).
    this.unfolded = emptyDirty();
    const waiters = this.waiters;
    this.waiters = [];
    const err = new LimitStateNotSavedError('the limits state was read back from the database before this change was saved');
    for (const w of waiters) w.reject(err);
  }

  /** Entries held (for tests of expiry). */
  get size(): number {
    return this.buckets.size + this.breakers.size + this.counters.size + this.once.size;
  }

  private changed(ns: Namespace, key: string): void {
    if (!this.persistence) return;
    this.dirty[ns].add(key);
    this.wrote = true;
  }

  /**
   * Resolves once a save that took this call's changes (already in dirty: the caller changed state
   * synchronously before) has stored them. The save starts after this turn of the event loop, so
   * the calls of one turn share it; if one is being written, the next waits for it, and every call
   * that changes state meanwhile shares that next one. Saves stay one at a time, in order.
   */
  private committed(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (this.commitQueued) return;
      this.commitQueued = true;
      setImmediate(() => {
        this.saving = this.saving.then(() => {
          this.commitQueued = false;
          return this.saveDirty();
        });
      });
    });
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => void this.save(), this.saveEveryMs);
    this.timer.unref();
  }

  /**
   * Takes what is dirty and the calls waiting on it in one step (nothing runs between), so a call
   * resolves only through a save that holds its change; the calls that arrive while it is written
   * wait for the next.
   */
  private async saveDirty(): Promise<void> {
    const dirty = this.dirty;
    const waiters = this.waiters;
    this.waiters = [];
    if (!this.persistence || NAMESPACES.every((ns) => dirty[ns].size === 0)) {
      for (const w of waiters) w.resolve();
      return;
    }
    // Not while another node may hold the lock (see soleWhile): these rows would overwrite the
    // ones it saved for the same keys with this node's older view, and reload() reads them back.
    // The calls fail closed; their changes stay dirty until reload() drops them.
    if (!this.sole()) {
      const err = new NotSoleNodeError();
      for (const w of waiters) w.reject(err);
      return;
    }
    this.dirty = emptyDirty();
    const { entries, removed } = this.valuesOf(dirty);
    // A save that does not answer must not hold calls forever: they fail closed, and again those
    // that arrive while it still hangs (they wait for the save after it), as the event bus does.
    // Armed for every save, waiters or not: a retry the timer started with none that then hangs
    // holds every call queued behind it.
    const watchdog = setInterval(() => this.timedOut(waiters), this.saveTimeoutMs).unref();
    try {
      await this.persistence.save(entries, removed);
    } catch (err) {
      // Try these again with the next save (the persistence logs the outage once); the calls that
      // waited on this one fail closed, their changes kept, as a call that failed after charging.
      for (const ns of NAMESPACES) for (const key of dirty[ns]) this.dirty[ns].add(key);
      this.schedule();
      const failed = new LimitStateNotSavedError('the limits state could not be saved', { cause: err });
      for (const w of waiters) w.reject(failed);
      return;
    } finally {
      clearInterval(watchdog);
    }
    // A waiter the watchdog rejected stays rejected: a promise settles once.
    for (const w of waiters) w.resolve();
    // Only for a journal: kept for nothing else, the keys of every caller ever seen would pile up.
    if (this.persistence.journaled) {
      for (const ns of NAMESPACES) for (const key of dirty[ns]) this.unfolded[ns].add(key);
      this.foldIfDue();
    }
  }

  /** The saved keys' present values (removed: gone from memory), as the persistence stores them. */
  private valuesOf(keys: Record<Namespace, Set<string>>): { entries: SavedEntry[]; removed: string[] } {
    const entries: SavedEntry[] = [];
    const removed: string[] = [];
    for (const ns of NAMESPACES) {
      for (const key of keys[ns]) {
        const e = this.entryOf(ns, key);
        if (e) entries.push({ key: `${ns}:${key}`, state: JSON.stringify(e.value), expiresAt: e.expires });
        else removed.push(`${ns}:${key}`);
      }
    }
    return { entries, removed };
  }

  /**
   * Folds the persistence's journal when it says so (or `now`), with the values in memory now (not
   * copies kept since each save: see memory-persistence.ts). Only while this node is still the only
   * one, as a save: the lock may have gone while the save was written.
   */
  private foldIfDue(now = false): void {
    const p = this.persistence;
    if (!p?.foldDue || !p.fold) return;
    let keys = 0;
    for (const ns of NAMESPACES) keys += this.unfolded[ns].size;
    if (!(now || p.foldDue(keys)) || !this.sole()) return;
    const { entries, removed } = this.valuesOf(this.unfolded);
    if (p.fold(entries, removed)) this.unfolded = emptyDirty();
  }

  private timedOut(inFlight: readonly Waiter[]): void {
    const err = new LimitStateNotSavedError('saving the limits state is not answering');
    for (const w of inFlight) w.reject(err);
    for (const w of this.waiters) w.reject(err);
  }

  private entryOf(ns: Namespace, key: string): Entry<unknown> | undefined {
    if (ns === 'b') return this.buckets.get(key);
    if (ns === 'r') return this.breakers.get(key);
    if (ns === 's') return this.counters.get(key);
    const until = this.once.get(key);
    return until === undefined ? undefined : { value: until, expires: until };
  }

  sweep(now: number): void {
    for (const m of [this.buckets, this.breakers, this.counters] as Array<Map<string, Entry<unknown>>>) {
      for (const [k, e] of m) if (e.expires <= now) m.delete(k);
    }
    for (const [k, until] of this.once) if (until <= now) this.once.delete(k);
  }
}

const NAMESPACES: readonly Namespace[] = ['b', 'r', 's', 'o'];

function emptyDirty(): Record<Namespace, Set<string>> {
  return { b: new Set(), r: new Set(), s: new Set(), o: new Set() };
}

/** Updates a live entry in place (no new object and no map insertion per charge). */
function put<T>(map: Map<string, Entry<T>>, key: string, value: T, expires: number): void {
  const e = map.get(key);
  if (e) {
    e.value = value;
    e.expires = expires;
  } else map.set(key, { value, expires });
}

function live<T>(e: Entry<T> | undefined, now: number): T | undefined {
  return e && e.expires > now ? e.value : undefined;
}
