import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../../src/abuse/events.js';
import { LateExposures } from '../../src/abuse/late-exposures.js';
import { EventPipeline } from '../../src/abuse/pipeline.js';
import { createLogger } from '../../src/logger.js';
import { makeEvent } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Found in review, fixed: a worker that stored a batch holding a suspended attacker's late answers
 * and died (or shed the partition, or had its handler fail and then lost the lease) before the
 * LateExposures handler ran. The new owner gets the entries from the pending list (XAUTOCLAIM),
 * but EventPipeline.stage handed handlers only the events *this* process stored, leaving the rest
 * to EventHandler.resume(), and LateExposures has none: the answers never joined the campaign, its
 * exposures, report and Art. 34 notices missed those people. LateExposures now takes every delivery
 * (EventHandler.everyDelivery); handlers with state (the engine) still get the event once.
 */
const MIN = 60_000;
let n = 0;
const ev = (accountId: string, minute: number, over: Partial<LookupEvent> = {}): LookupEvent =>
  makeEvent(++n + 9000, { accountId, at: T0 + minute * MIN, revealed: [], blocks: {}, ...over });

describeEachDialect('late exposures across a take-over', (dialect) => {
  let svc: TestService;
  let campaignId: string;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    await mirrorAccount(svc, 'tk-atk', []);
    await svc.ctx.eventPipeline.process([ev('tk-atk', 1, { revealed: ['p1'], matched: 1, numbers: 50 })]);
    svc.clock.set(T0 + 10 * MIN);
    campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'tk-cluster', accountIds: ['tk-atk'], score: 0.9, evidence: { detector: 'test' } })).campaignId;
  });
  afterAll(async () => svc.stop());

  it('an answer stored by a worker that died before handling it still joins the campaign', async () => {
    const logger = createLogger('silent');
    const engineSaw: string[] = [];
    // Stands for the engine: a handler with state, rebuilt by resume(), never handed an event twice.
    const engine = { handle: async (events: LookupEvent[]) => void engineSaw.push(...events.map((e) => e.id)), resume: async () => undefined };
    const worker = () => new EventPipeline(svc.ctx.db, [engine, new LateExposures(svc.ctx.incidents.campaigns, logger)]);
    const late = ev('tk-atk', 9, { revealed: ['p2'], matched: 1, numbers: 20 });
    // Worker 1 stores the batch, then dies before its handlers run (nothing acknowledged).
    await worker().stage([late]);
    // Worker 2 takes the partition over: resume, then the dead owner's pending entry is redelivered.
    const next = worker();
    await next.resume();
    await next.process([late]);
    const rows = await svc.ctx.db.kysely.selectFrom('exposures').select('revealed_account_id').where('campaign_id', '=', campaignId).execute();
    expect(rows.map((r) => r.revealed_account_id).sort()).toEqual(['p1', 'p2']);
    expect(engineSaw).toEqual([]);
  });
});
