import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LookupEvent } from '../../src/abuse/events.js';
import type { IncidentActor } from '../../src/incidents/index.js';
import { makeEvent } from '../helpers/events.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describePostgres, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review of e05712e: eraseAccount now takes the account's row first ("a notice written for the
 * account meanwhile waits, then finds it gone"). On PostgreSQL the notice writer does wait (the
 * notice's foreign key takes KEY SHARE on the account row), but what it then finds is a foreign-key
 * violation: notices.ts checked the accounts exist (existing()) before its transaction, so the
 * insert for the erased account fails and takes the whole chunk (up to 200 other people's notices)
 * with it, and the operator's notify answers 500. An account erased while its incident is notified
 * should simply get no notice, and everyone else theirs.
 */
const MIN = 60_000;
const by = (id: string): IncidentActor => ({ actor: { id, name: id, role: 'analyst', via: 'token' }, from: null, tool: 'api' });
let n = 0;
const answer = (revealed: string, minute: number): LookupEvent =>
  makeEvent(++n + 31000, { accountId: 'ne-atk', at: T0 + minute * MIN, revealed: [revealed], matched: 1, numbers: 1, blocks: {} });

describePostgres('review: notify while an exposed account is being erased', () => {
  let svc: TestService;
  let incidentId: string;
  beforeAll(async () => {
    svc = await startTestService('postgres', { policy: 'none' });
    for (const id of ['ne-atk', 'ne-v1', 'ne-v2']) await mirrorAccount(svc, id, []);
    await svc.ctx.eventPipeline.process([answer('ne-v1', 1), answer('ne-v2', 2)]);
    svc.clock.set(T0 + 10 * MIN);
    const campaignId = (await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'ne-cluster', accountIds: ['ne-atk'], score: 0.9, evidence: { detector: 'test' } })).campaignId;
    const life = svc.ctx.incidents.lifecycle;
    incidentId = (await life.open({ title: 'Scan', campaignIds: [campaignId] }, by('op-a'))).id;
    await life.editPhase(incidentId, 1, { art34: { applies: true, reason: 'Numbers tied to people.' } }, by('op-a'));
    await life.submit(incidentId, by('op-a'));
    await life.approve(incidentId, by('op-a'));
    await life.approve(incidentId, by('op-b'));
  }, 120_000);
  afterAll(async () => svc?.stop());

  it('the other exposed person is notified, the erased one is skipped', async () => {
    const db = svc.ctx.db.kysely;
    let notified: Promise<unknown> | undefined;
    // The erasure's transaction, as DirectoryService.eraseAccount runs it, held open while the notification starts.
    await db.connection().execute(async (conn) => {
      await sql`BEGIN`.execute(conn);
      await sql`SELECT id FROM accounts WHERE id = 'ne-v1' FOR UPDATE`.execute(conn);
      notified = svc.ctx.incidents.lifecycle.notify(incidentId, by('op-b')).then(
        (r) => ({ ok: r }),
        (err: unknown) => ({ err }),
      );
      await new Promise((r) => setTimeout(r, 700));
      await sql`DELETE FROM webhook_outbox WHERE event_type = 'exposure.notice' AND id IN (SELECT event_id FROM exposure_notices WHERE account_id = 'ne-v1')`.execute(conn);
      await sql`DELETE FROM contact_points WHERE account_id = 'ne-v1'`.execute(conn);
      await sql`DELETE FROM accounts WHERE id = 'ne-v1'`.execute(conn);
      await sql`COMMIT`.execute(conn);
    });
    const outcome = (await notified) as { ok?: unknown; err?: Error };
    expect(outcome.err?.message, 'notify failed').toBeUndefined();
    expect(await svc.ctx.incidents.notices.forAccount('ne-v2')).toHaveLength(1);
  });
});
