import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../../src/abuse/events.js';
import { partitionOf } from '../../src/abuse/partitions.js';
import { EventPipeline } from '../../src/abuse/pipeline.js';
import { incidentsEnforcer } from '../../src/abuse/service.js';
import { PartitionStage, type SummarySink } from '../../src/abuse/stages.js';
import { HOUR, DAY, Traffic, importerScene } from '../../src/abuse/synthetic.js';
import { DEFAULT_ABUSE_POLICY, durationMs } from '../../src/policy/index.js';
import { mirrorSceneAccounts } from '../helpers/fixtures.js';
import { describePostgres, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: a worker that gives a partition up (a worker joined: rebalancing) and later takes it back
 * (the other left or died) rebuilds the partition's engine (PartitionStage.resume: `this.engine =
 * this.build()`), but keeps the ids of the reinstatements the previous engine heard of
 * (`this.reinstatements`, handed to resumeEngine as `seen`). syncReinstatements skips every id in
 * `seen`, so the NEW engine is never told: it acts on the account an operator reinstated again.
 *
 * The enforcer's own grace check spares the account meanwhile, but the engine counts its decision
 * applied and writes suspend-account into its ledger (until: forever). When the grace ends and the
 * account scans again, the engine believes it suspended already (levelOf) and never suspends it:
 * the attacker stays free for as long as that worker holds the partition. A fresh worker (any
 * other) does suspend it. README: "the running engine hears of it at its next evaluation and
 * leaves the account alone for 30 days (reinstateGrace)".
 * (GlobalStage.resume has the same pattern.)
 */
describePostgres('a partition taken back by the worker that held it before', () => {
  const P = 2;
  const START = T0 + 10 * DAY;
  const grace = '2h';
  const policy = { ...DEFAULT_ABUSE_POLICY, mode: 'enforce' as const, actions: { ...DEFAULT_ABUSE_POLICY.actions, reinstateGrace: grace } };
  const logger = pino({ level: 'silent' });
  const sink: SummarySink = { publish: async () => undefined, findings: async () => undefined, progress: async () => undefined };
  let svc: TestService;

  beforeAll(async () => {
    svc = await startTestService('postgres', { policy: 'none' }, { abuse: { policy } });
  }, 60_000);
  afterAll(async () => svc?.stop());

  const stageFor = (p: number) => {
    const deps = { db: svc.ctx.db.kysely, enforcer: incidentsEnforcer(svc.ctx.incidents, svc.clock, durationMs(grace)), logger, clock: svc.clock, policy };
    const stage = new PartitionStage(deps, p, P, sink);
    return { stage, pipeline: new EventPipeline(svc.ctx.db, [stage]) };
  };
  const status = async (id: string) => (await svc.ctx.db.kysely.selectFrom('accounts').select('fg_status').where('id', '=', id).executeTakeFirstOrThrow()).fg_status;
  const named = (ds: ReadonlyArray<{ accountIds: string[] }>, id: string) => ds.some((d) => d.accountIds.includes(id));

  it('the reinstated account is left alone after the take-back, and suspended again once the grace ends and it scans again', async () => {
    const t = new Traffic(17);
    const first = importerScene(t, 1, START);
    const again = importerScene(t, 1, START + 4 * HOUR);
    const attacker = first.accounts[0]!;
    const p = partitionOf(attacker, P);
    await mirrorSceneAccounts(svc, first.accounts, START - 30 * DAY);
    const { stage, pipeline } = stageFor(p);

    // The worker holds partition p: the importer is suspended on its own behaviour.
    await pipeline.resume();
    svc.clock.set(START + HOUR);
    await pipeline.process(first.events);
    await stage.evaluate(START + HOUR);
    expect(await status(attacker)).toBe('suspended');

    // An operator upholds the appeal; the partition's next evaluation hears of it.
    expect((await svc.ctx.incidents.enforcer.reinstate(attacker, { actor: 'ops@example.com', reason: 'appeal upheld' })).reinstated).toBe(true);
    expect(named(await stage.evaluate(START + HOUR + 60_000), attacker)).toBe(false);

    // Control: any other worker taking the partition over now leaves the account alone.
    const other = stageFor(p);
    await other.pipeline.resume();
    expect(named(await other.stage.evaluate(START + HOUR + 2 * 60_000), attacker)).toBe(false);

    // This worker gave the partition up (a worker joined) and takes it back (that worker left): lead() resumes the pipeline.
    await pipeline.resume();
    const afterRetake = await stage.evaluate(START + HOUR + 3 * 60_000);

    // The grace (2 h) over, the attacker scans again, into the partition this worker holds.
    svc.clock.set(START + 5 * HOUR);
    await pipeline.process(again.events as LookupEvent[]);
    await stage.evaluate(START + 5 * HOUR);

    expect({ actedOnReinstatedAfterRetake: named(afterRetake, attacker), statusAfterScanningAgain: await status(attacker) }).toEqual({
      actedOnReinstatedAfterRetake: false,
      statusAfterScanningAgain: 'suspended',
    });
  }, 60_000);
});
