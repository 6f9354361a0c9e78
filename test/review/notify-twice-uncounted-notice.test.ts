import { afterAll, beforeAll, expect, it } from 'vitest';
import { answerer } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { analyst } from '../helpers/incidents.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review: IncidentLifecycle.notify sets `notices` to the total its own notifyIncident counted
 * (incident-lifecycle.ts notify: `{ notices } = await notifier.notifyIncident(...)`, then the
 * status update writes that number). Two operators notify at once from two nodes (README: "notifying
 * again ... from two nodes at once, writes and sends nothing twice") while a late answer is recorded
 * for the campaign: the second node's notifyIncident reads the new exposure and writes and sends its
 * notice after the first node counted, then fails the status move (409, "the incident changed
 * meanwhile"); the first node stores its older total and its own late pass finds that notice
 * already written. The person was told, the incident's count never includes them: notices < rows,
 * and the count no longer matches the people accounted for.
 *
 * The interleaving is reproduced by wrapping the notifier the lifecycle calls: after node A's
 * notifyIncident returns, the late answer is stored (catchUp) and node B's notifyIncident runs.
 */
const MIN = 60_000;
const answer = answerer(76000, T0);

describeEachDialect('review: two notifiers and a late answer', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    for (const id of ['nt-bot', 'nt-v1', 'nt-v2']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('nt-bot', 'nt-v1', 1)]);
  }, 60_000);
  afterAll(async () => svc?.stop());

  it('the incident counts every notice written for it', async () => {
    const { campaigns, lifecycle, notices } = svc.ctx.incidents;
    svc.clock.set(T0 + 10 * MIN);
    const { campaignId } = await campaigns.openCampaign({ clusterId: 'nt-cluster', accountIds: ['nt-bot'], score: 0.9, evidence: {} });
    const id = (await lifecycle.open({ title: 'Scan', campaignIds: [campaignId] }, analyst('op-a'))).id;
    await lifecycle.submit(id, analyst('op-a'));
    await lifecycle.approve(id, analyst('op-a'));
    await lifecycle.approve(id, analyst('op-b'));

    svc.clock.set(T0 + 20 * MIN);
    const original = notices.notifyIncident.bind(notices);
    let nodeB: Promise<unknown> | undefined;
    notices.notifyIncident = async (...args: Parameters<typeof original>) => {
      const a = await original(...args);
      if (!nodeB) {
        // Meanwhile: a late answer is stored and recorded, and node B's notify writes its notices.
        await svc.ctx.eventPipeline.process([answer('nt-bot', 'nt-v2', 12)]);
        nodeB = original(...args);
        await nodeB;
      }
      return a;
    };
    const done = await lifecycle.notify(id, analyst('op-b'));
    expect(done.status).toBe('notified');
    const rows = await svc.ctx.db.kysely.selectFrom('exposure_notices').select('account_id').where('incident_id', '=', id).execute();
    expect(rows.map((r) => r.account_id).sort()).toEqual(['nt-v1', 'nt-v2']);
    expect(done.notices).toBe(rows.length);
  });
});
