import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AbuseEngine, noopEnforcer } from '../../src/abuse/engine.js';
import type { LookupEvent } from '../../src/abuse/events.js';
import { partitionOf } from '../../src/abuse/partitions.js';
import { EventPipeline } from '../../src/abuse/pipeline.js';
import { resumeEngine } from '../../src/abuse/resume.js';
import { PartitionStage, type SummarySink } from '../../src/abuse/stages.js';
import { openDb, type Db } from '../../src/db/dialect.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { DEFAULT_ABUSE_POLICY } from '../../src/policy/index.js';
import { makeEvent } from '../helpers/events.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { describePostgres } from '../helpers/service.js';

/**
 * Review: a partition's take-over replays "that partition's stored events" (README, Scaling the
 * abuse engine) of the last day, "at most 2 million" (ResumeOptions.maxEvents). But replayEvents
 * (src/abuse/resume.ts) finds where the newest maxEvents begin over the WHOLE table, every
 * partition's events counted, and only then filters by `accept` (the partition's accounts). With
 * P partitions sharing the fleet's traffic, a partition's rebuild gets only its share of the
 * fleet-wide newest maxEvents: at 20 million events a day over 32 partitions (a partition's own
 * day is 625,000, well under the bound), the rebuild covers the last ~2.4 hours, and an account
 * whose scan ran earlier in the day comes back with empty windows. The partitioned engine exists
 * precisely for fleets past one leader's ceiling, where this bites.
 *
 * Shown with the bound at 500: the quiet partition's 100 events of the last day (well under 500)
 * are not replayed, because the other partition stored 600 newer ones.
 */
describePostgres('a partition take-over on a fleet whose other partitions are busier', () => {
  let db: Db;
  let drop: (() => Promise<void>) | undefined;
  const NOW = Date.parse('2026-11-20T12:00:00Z');
  const P = 2;

  beforeAll(async () => {
    const scratch = await createTestDatabase('fg_resume_cut');
    drop = scratch.drop;
    db = openDb({ dialect: 'postgres', url: scratch.url });
    await migrateToLatest(db.kysely);
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  it("replays the partition's own events of the last day when they are within the bound", async () => {
    const quiet = 'scanner-quiet';
    const p = partitionOf(quiet, P);
    const busy: string[] = [];
    for (let i = 0; busy.length < 20; i++) if (partitionOf(`busy-${i}`, P) !== p) busy.push(`busy-${i}`);
    // The quiet partition's account scanned ten hours ago; the other partition is busy now.
    const events = [
      ...Array.from({ length: 100 }, (_, i) => makeEvent(i, { accountId: quiet, at: NOW - 10 * 3_600_000 + i * 1000 })),
      ...Array.from({ length: 600 }, (_, i) => makeEvent(1000 + i, { accountId: busy[i % busy.length]!, at: NOW - 3_600_000 + i * 1000 })),
    ];
    await new EventPipeline(db).process(events);

    const sink: SummarySink = { publish: async () => undefined, findings: async () => undefined, progress: async () => undefined };
    const stage = new PartitionStage(
      { db: db.kysely, enforcer: noopEnforcer, logger: pino({ level: 'silent' }), clock: { now: () => NOW }, policy: DEFAULT_ABUSE_POLICY, resume: { maxEvents: 500 } },
      p,
      P,
      sink,
    );
    await stage.resume();
    const acc = stage.engine.store.account(quiet);
    expect({ knowsTheScanner: acc !== undefined }).toEqual({ knowsTheScanner: true });
  }, 60_000);

  // Runs after the test above, on its rows: 100 quiet events ten hours ago, 600 busy ones in the last hour.
  it("still bounds the replay: a partition's own newest events, at most the bound (and every event at the cut's time)", async () => {
    const replay = async (maxEvents: number, accept?: (id: string) => boolean) => {
      const seen: LookupEvent[] = [];
      const engine = new AbuseEngine({ policy: DEFAULT_ABUSE_POLICY, enforcer: noopEnforcer });
      await resumeEngine(db.kysely, engine, NOW, { maxEvents, ...(accept ? { accept } : {}), observe: (e) => void seen.push(e) });
      return seen;
    };
    const quietP = partitionOf('scanner-quiet', P);
    const quiet = await replay(60, (id) => partitionOf(id, P) === quietP);
    expect(quiet.map((e) => e.id)).toEqual(Array.from({ length: 60 }, (_, i) => makeEvent(40 + i).id));
    const busy = await replay(150, (id) => partitionOf(id, P) !== quietP);
    expect(busy.map((e) => e.id)).toEqual(Array.from({ length: 150 }, (_, i) => makeEvent(1450 + i).id));
    // One partition (no accept): the newest bound of all events, as before.
    const all = await replay(650);
    expect(all.map((e) => e.id)).toEqual([...Array.from({ length: 50 }, (_, i) => makeEvent(50 + i).id), ...Array.from({ length: 600 }, (_, i) => makeEvent(1000 + i).id)]);
    expect((await replay(5000, (id) => partitionOf(id, P) === quietP)).length).toBe(100);
  }, 60_000);
});
