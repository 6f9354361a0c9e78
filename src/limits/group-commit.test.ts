import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../db/dialect.js';
import { migrateToLatest } from '../db/migrate.js';
import { AppError } from '../errors.js';
import type { IpInfo, IpIntel } from '../net/index.js';
import { compilePolicy } from '../policy/index.js';
import { ManualClock } from '../util/clock.js';
import { SeededRandom } from '../util/random.js';
import { Challenges } from './challenges.js';
import { Limiter } from './limiter.js';
import { LimitStatePersistence, type LimitStateSaver, type SavedEntry } from './memory-persistence.js';
import { MemoryLimitStore } from './memory-store.js';
import { LimitMetrics } from './metrics.js';
import { LimitStateNotSavedError, type ApplyInput, type ApplyResult, type Charge } from './store.js';

/**
 * The embedded store's group commit (memory-store.ts): a call that changed state resolves only
 * after a save that holds its change, the calls that arrive while a save is written share the next
 * one, and a save that fails (or hangs) fails the calls that waited on it.
 */
const HOUR = 3_600_000;
const charge = (key: string, cost = 1): Charge => ({ layer: 'account-new', scope: 'account', key, cost, burst: 10, rate: 10 / HOUR, perMs: HOUR, shadow: false });
const input = (key: string, cost = 1, now = 0): ApplyInput => ({ charges: [charge(key, cost)], proof: false, strikeKey: `strike:${key}`, strikeWindowMs: HOUR, now });

/** A saver whose writes finish when the test says: each save waits in `saves` until settled. */
class HeldSaver implements LimitStateSaver {
  readonly saves: Array<{ keys: string[]; resolve(): void; reject(err: Error): void }> = [];
  async load(): Promise<SavedEntry[]> {
    return [];
  }
  save(entries: readonly SavedEntry[], removed: readonly string[]): Promise<void> {
    return new Promise((resolve, reject) => this.saves.push({ keys: [...entries.map((e) => e.key), ...removed].sort(), resolve, reject }));
  }
}

/** Lets the store's scheduled save start (it waits for the end of the event loop's turn) and settle. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Tracks a promise's outcome without awaiting it. */
function track<T>(p: Promise<T>): { settled: () => 'pending' | 'resolved' | 'rejected'; error: () => unknown; value: () => T | undefined } {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  let error: unknown;
  let value: T | undefined;
  p.then(
    (v) => {
      state = 'resolved';
      value = v;
    },
    (e: unknown) => {
      state = 'rejected';
      error = e;
    },
  );
  return { settled: () => state, error: () => error, value: () => value };
}

describe('memory store: group commit of what calls change', () => {
  it('calls of one turn share one save, and none resolves before it is stored', async () => {
    const saver = new HeldSaver();
    const s = new MemoryLimitStore({ persistence: saver });
    const calls = ['a', 'b', 'c', 'd', 'e'].map((k) => track(s.apply(input(k))));
    await turn();
    await turn();
    expect(saver.saves).toHaveLength(1);
    expect(saver.saves[0]!.keys).toEqual(['b:a', 'b:b', 'b:c', 'b:d', 'b:e']);
    expect(calls.map((c) => c.settled())).toEqual(Array(5).fill('pending'));
    saver.saves[0]!.resolve();
    await turn();
    expect(calls.map((c) => c.settled())).toEqual(Array(5).fill('resolved'));
    expect(calls[0]!.value()?.outcome).toBe('allowed');
    expect(saver.saves).toHaveLength(1);
  });

  it('calls that arrive while a save is written wait for the next one, and share it', async () => {
    const saver = new HeldSaver();
    const s = new MemoryLimitStore({ persistence: saver });
    const first = track(s.apply(input('a')));
    await turn();
    expect(saver.saves).toHaveLength(1);
    // The same key again and two others, while the first save is in flight.
    const later = [track(s.apply(input('a', 2))), track(s.apply(input('b'))), track(s.useOnce('ch:x', HOUR, 0))];
    await turn();
    await turn();
    expect(saver.saves).toHaveLength(1);
    saver.saves[0]!.resolve();
    await turn();
    expect(first.settled()).toBe('resolved');
    // Their changes were made after the first save took its keys: it does not hold them.
    expect(later.map((c) => c.settled())).toEqual(['pending', 'pending', 'pending']);
    await turn();
    expect(saver.saves).toHaveLength(2);
    expect(saver.saves[1]!.keys).toEqual(['b:a', 'b:b', 'o:ch:x']);
    saver.saves[1]!.resolve();
    await turn();
    expect(later.map((c) => c.settled())).toEqual(['resolved', 'resolved', 'resolved']);
    expect(later[2]!.value()).toBe(true);
  });

  it('a failed save fails the calls that waited on it; their charges stay, and are saved with the next', async () => {
    const saver = new HeldSaver();
    const s = new MemoryLimitStore({ persistence: saver, saveEveryMs: 60_000 });
    const calls = [track(s.apply(input('a', 10))), track(s.apply(input('b')))];
    await turn();
    saver.saves[0]!.reject(new Error('disk full'));
    await turn();
    expect(calls.map((c) => c.settled())).toEqual(['rejected', 'rejected']);
    expect(calls[0]!.error()).toBeInstanceOf(LimitStateNotSavedError);
    // The failed call is charged all the same (it answers 503, its budget spent): the next is refused,
    // a strike written, and that save holds the failed one's keys too.
    const next = track(s.apply(input('a', 1)));
    await turn();
    await turn();
    expect(saver.saves).toHaveLength(2);
    expect(saver.saves[1]!.keys).toEqual(['b:a', 'b:b', 's:strike:a']);
    saver.saves[1]!.resolve();
    await turn();
    expect(next.settled()).toBe('resolved');
    expect((next.value() as ApplyResult).outcome).toBe('refused');
  });

  it('a save that does not answer fails its calls after saveTimeoutMs', async () => {
    const saver = new HeldSaver();
    const s = new MemoryLimitStore({ persistence: saver, saveTimeoutMs: 20 });
    const call = track(s.apply(input('a')));
    await turn();
    await new Promise((r) => setTimeout(r, 60));
    expect(call.settled()).toBe('rejected');
    expect(call.error()).toBeInstanceOf(LimitStateNotSavedError);
    // Answering later changes nothing for it.
    saver.saves[0]!.resolve();
    await turn();
    expect(call.settled()).toBe('rejected');
  });

  it('a call that changes nothing does not wait for a save', async () => {
    const saver = new HeldSaver();
    const s = new MemoryLimitStore({ persistence: saver });
    const noCharges = await s.apply({ charges: [], proof: false, strikeWindowMs: HOUR, now: 0 });
    expect(noCharges.outcome).toBe('allowed');
    const used = track(s.useOnce('ch:y', HOUR, 0));
    await turn();
    saver.saves[0]!.resolve();
    await turn();
    expect(used.value()).toBe(true);
    // Used before: refused without a write.
    expect(await s.useOnce('ch:y', HOUR, 1)).toBe(false);
    expect(saver.saves).toHaveLength(1);
  });

  it('without a persistence nothing waits (tests, the policy console)', async () => {
    const s = new MemoryLimitStore();
    expect((await s.apply(input('a', 10))).outcome).toBe('allowed');
    expect((await s.apply(input('a', 1))).outcome).toBe('refused');
    expect(await s.useOnce('ch:z', HOUR, 0)).toBe(true);
  });
});

describe('memory store on SQLite: a resolved call is stored', () => {
  let db: Db | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await db?.close().catch(() => undefined);
    db = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function open(): Promise<Db> {
    dir = mkdtempSync(join(tmpdir(), 'findguard-group-commit-'));
    db = openDb({ dialect: 'sqlite', path: join(dir, 'findguard.sqlite') });
    await migrateToLatest(db.kysely);
    return db;
  }

  // Prepared statements on the raw handle (the embedded default), and through Kysely (the fallback).
  it.each([true, false])('the charge is in limit_state when apply resolves, and a restart reads it back (raw handle: %s)', async (raw) => {
    const d = await open();
    const s = new MemoryLimitStore({ persistence: new LimitStatePersistence(d.kysely, pino({ level: 'silent' }), raw ? d.sqlite : undefined) });
    await Promise.all([s.apply(input('a', 10)), s.apply(input('b', 3))]);
    const keys = async () => (await d.kysely.selectFrom('limit_state').select('key').orderBy('key').execute()).map((r) => r.key);
    // On the raw handle a save is one row of the journal (memory-persistence.ts), folded later.
    expect(await keys()).toEqual(raw ? ['~j:0000000000000000'] : ['b:a', 'b:b']);
    const restarted = new MemoryLimitStore({ persistence: new LimitStatePersistence(d.kysely, pino({ level: 'silent' })) });
    await restarted.restore(0);
    expect(await keys()).toEqual(['b:a', 'b:b']);
    expect((await restarted.apply(input('a', 1))).outcome).toBe('refused');
  });

  it('a database that cannot be written fails the discovery call closed (503), even under a fail-open layer', async () => {
    const d = await open();
    const store = new MemoryLimitStore({ persistence: new LimitStatePersistence(d.kysely, pino({ level: 'silent' }), d.sqlite) });
    const policy = compilePolicy({
      name: 'open',
      tiers: [{ name: 'standard' }],
      layers: [{ id: 'account-new', subject: 'account', cost: 'new', onStoreError: 'open', limits: { default: { burst: 10, refill: 10, per: '1d' } } }],
    });
    const intel: IpIntel = { lookup: (ip: string): IpInfo => ({ ip, version: 4, country: 'DE', asn: 3320, hosting: false }) };
    const metrics = new LimitMetrics(undefined, { defaultMetrics: false });
    const limiter = new Limiter({
      policy,
      store,
      ipIntel: intel,
      challenges: new Challenges([{ version: 1, key: Buffer.alloc(32, 1) }], new SeededRandom(1), store),
      metrics,
      clock: new ManualClock(0),
      logger: pino({ level: 'silent' }),
    });
    const req = { accountId: 'acc', ip: '192.0.2.1', account: { createdAt: 0 }, operation: 'full-sync' as const, newNumbers: 2 };
    await limiter.check(req);
    await d.close();
    const err = await limiter.check(req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).status).toBe(503);
  });
});
