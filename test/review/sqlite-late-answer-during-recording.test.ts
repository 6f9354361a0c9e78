import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerer } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { ensureBuilt, sleep, spawnProcess, waitForOutput } from '../helpers/processes.js';
import { startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: campaigns.ts RECORDING_LOCK / catchUp: "SQLite's one writer already orders the two". It
 * does within one process (one connection), not across the processes the README lets share one
 * SQLite folder with FINDGUARD_REDIS_URL (serve nodes and `findguard worker`s hold shares of the
 * lock; workers run on SQLite). The lookup events live in their own attached file
 * (findguard.events.sqlite): a partition worker's batch commits there while the global stage's
 * recording transaction is open (it holds main's write lock, not the events file's), after the
 * recording read that member's events; the worker's catchUp then reads `campaigns` with a plain
 * read, finds no open campaign (not committed yet) and adds nothing. Nothing checks that batch
 * again: the answer is missing from the campaign, its report and its notices for good.
 *
 * The second process is a child process on the same files running what a worker runs for a stored
 * batch (EventPipeline + LateExposures + Campaigns.catchUp, from the build). It stores its batch
 * while the first one's recording transaction is open (after its scan, before its commit), then
 * checks it while that transaction is still open for up to a second.
 */
const MIN = 60_000;
const answer = answerer(75000, T0);

/** What a worker does with a stored batch, in a process of its own: store (then say so), then hand over (the late-answer check). */
const WORKER = (dist: string) => `
import { openDb } from '${pathToFileURL(join(dist, 'db/dialect.js')).href}';
import { EventPipeline } from '${pathToFileURL(join(dist, 'abuse/pipeline.js')).href}';
import { LateExposures } from '${pathToFileURL(join(dist, 'abuse/late-exposures.js')).href}';
import { Campaigns } from '${pathToFileURL(join(dist, 'incidents/index.js')).href}';
import { createLogger } from '${pathToFileURL(join(dist, 'logger.js')).href}';
import { SeededRandom } from '${pathToFileURL(join(dist, 'util/random.js')).href}';
const [database, now, event] = process.argv.slice(2);
const db = openDb(JSON.parse(database));
const campaigns = new Campaigns({ db: db.kysely, clock: { now: () => Number(now) }, random: new SeededRandom(7) });
const pipeline = new EventPipeline(db, [new LateExposures(campaigns, createLogger('silent'))]);
const staged = await pipeline.stage([JSON.parse(event)]);
console.log('stored');
await pipeline.finish(staged);
console.log('checked');
await db.close();
`;

describe('review: a late answer stored by another process during a recording [sqlite]', () => {
  let svc: TestService;
  let dir: string;
  beforeAll(async () => {
    await ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'fg-late-during-recording-'));
    writeFileSync(join(dir, 'worker.mjs'), WORKER(join(process.cwd(), 'dist')));
    svc = await startTestService('sqlite', { policy: 'none' });
    for (const id of ['sl-bot', 'sl-v1', 'sl-v2']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('sl-bot', 'sl-v1', 1)]);
  }, 120_000);
  afterAll(async () => {
    await svc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the answer is in the campaign', async () => {
    svc.clock.set(T0 + 10 * MIN);
    const worker = { current: undefined as ReturnType<typeof spawnProcess> | undefined };
    const life = svc.ctx.incidents.lifecycle;
    const original = life.openForCampaign.bind(life);
    // Inside the first process's recording transaction, after its scan: the other process stores and checks a batch.
    life.openForCampaign = async (...args: Parameters<typeof original>) => {
      if (!worker.current) {
        const w = spawnProcess(process.execPath, [join(dir, 'worker.mjs'), JSON.stringify(svc.config.database), String(svc.clock.now()), JSON.stringify(answer('sl-bot', 'sl-v2', 2))]);
        worker.current = w;
        await waitForOutput(w, /stored/, 30_000);
        // Its check runs while this transaction is open (it waits for the commit, or reads before it).
        for (let i = 0; i < 40 && w.running(); i++) await sleep(25);
      }
      return original(...args);
    };
    const { campaignId } = await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'sl-cluster', accountIds: ['sl-bot'], score: 0.9, evidence: {} });
    const w = worker.current!;
    expect(await w.exited, w.stderr()).toEqual({ code: 0, signal: null });
    expect(w.stdout()).toContain('checked');
    // Both answers are stored ...
    const stored = await svc.ctx.db.kysely.selectFrom('lookup_events').select('id').where('account_id', '=', 'sl-bot').execute();
    expect(stored).toHaveLength(2);
    // ... and both exposures must be the campaign's.
    const report = await svc.ctx.incidents.campaigns.campaignReport(campaignId);
    expect(report.exposures.accounts.map((a) => a.accountId).sort()).toEqual(['sl-v1', 'sl-v2']);
  }, 60_000);
});
