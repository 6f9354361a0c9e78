import { afterEach, expect, it } from 'vitest';
import { recordShadow } from '../src/abuse/shadow.js';
import { DAY, T0 as SCENE_T0, Traffic, merge, organicScene, rangeScanScene, type Scene } from '../src/abuse/synthetic.js';
import { recordShadowDecisions } from '../src/incidents/shadow-decisions.js';
import { createLogger } from '../src/logger.js';
import { DEFAULT_ABUSE_POLICY } from '../src/policy/index.js';
import { lookup, mirrorAccount, mirrorSceneAccounts, NUMBERS, sync } from './helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES, signIn } from './helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * The engine in shadow mode (issue 16: "shadow decisions listed as 'would'"): its verdicts are
 * stored as decision rows marked shadow, listed as "would" by the admin API (filterable), and
 * nothing else: no enforcement action, no status, no campaign, no webhook; and on the enforcement
 * path a shadow row refuses nothing, while the same decision enforced does (the control).
 */
describeEachDialect('shadow decisions of the engine', (dialect) => {
  let svc: TestService;
  afterEach(async () => svc?.stop());

  const t = new Traffic(61);
  const organic = organicScene(t, 3);
  const fleet = rangeScanScene(t, { accounts: 30, days: 3, callsPerDay: 4 });
  const all = merge(organic, fleet);

  async function replay(scene: Scene) {
    let j = 0;
    for (let i = 0; i < scene.events.length; i += 50) {
      const batch = scene.events.slice(i, i + 50);
      const until = batch[batch.length - 1]!.at;
      while (j < scene.signups.length && scene.signups[j]!.at <= until) svc.ctx.abuse.engine.signup(scene.signups[j++]!);
      svc.clock.set(until);
      await svc.ctx.eventPipeline.process(batch);
    }
    return svc.ctx.abuse.evaluate(SCENE_T0 + 3 * DAY);
  }

  it('are stored as "would" rows only, listed and filtered by the admin API, recorded once', async () => {
    svc = await startTestService(dialect, { policy: 'none' }, { ...OPERATOR_OVERRIDES, abuse: { policy: { ...DEFAULT_ABUSE_POLICY, mode: 'shadow' } } });
    svc.clock.set(SCENE_T0 - 2 * DAY);
    await mirrorSceneAccounts(svc, all.accounts, SCENE_T0 - 30 * DAY);
    const last = await replay(all);
    const k = svc.ctx.db.kysely;

    const rows = await k.selectFrom('decisions').selectAll().execute();
    const suspends = rows.filter((r) => r.action === 'suspend');
    expect(new Set(suspends.map((r) => r.subject))).toEqual(new Set(fleet.accounts));
    expect(rows.every((r) => Number(r.shadow) === 1 && r.source === 'engine' && r.scope === 'account' && r.action_id === null && r.campaign_id === null)).toBe(true);
    for (const id of organic.accounts) expect(rows.some((r) => r.subject === id && r.action === 'suspend'), id).toBe(false);
    // Nothing else was written: no action, no status, no campaign, no webhook, no hold.
    for (const table of ['enforcement_actions', 'campaigns', 'webhook_outbox'] as const) {
      const n = await k.selectFrom(table).select(k.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      expect(Number(n.n), table).toBe(0);
    }
    expect(await k.selectFrom('accounts').select('id').where('fg_status', '=', 'suspended').execute()).toEqual([]);
    expect(rows.some((r) => r.action === 'hold-signups')).toBe(false);

    // And the fleet is not stopped: the enforcement path ignores the rows.
    const res = await lookup(svc, await svc.tokenFor(fleet.accounts[0]!), { phone: NUMBERS.usA });
    expect(res.statusCode).toBe(200);

    // Recorded once: the same verdicts again (a restarted consumer, a second stage) add nothing.
    const before = rows.length;
    await recordShadow(k, last.length > 0 ? last : [{ action: 'suspend-cluster', accountIds: fleet.accounts, clusterId: 'c-x', score: 1, evidence: {} as never, reason: 'again', at: svc.clock.now(), applied: false }], svc.clock.now() + 1, createLogger('silent'));
    await svc.ctx.abuse.evaluate(SCENE_T0 + 3 * DAY + 60_000);
    expect(Number((await k.selectFrom('decisions').select(k.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)).toBe(before);

    // The admin API lists them as "would", and filters them in or out.
    const viewer = await signIn(svc, await addOperator(svc, 'watcher', 'viewer'));
    const get = async (qs: string) => {
      const r = await svc.app.inject({ method: 'GET', url: `/admin/v1/decisions?${qs}`, headers: { cookie: viewer.cookie } });
      expect(r.statusCode, r.body).toBe(200);
      return r.json().items as Array<{ id: string; status: string; shadow: boolean; source: string; subject: string; action: string }>;
    };
    const would = await get('shadow=true&source=engine');
    expect(would.length).toBe(Math.min(before, 100));
    expect(would.every((d) => d.status === 'would' && d.shadow && d.source === 'engine')).toBe(true);
    expect(await get('shadow=false')).toEqual([]);
    expect((await svc.app.inject({ method: 'GET', url: '/admin/v1/decisions?shadow=maybe', headers: { cookie: viewer.cookie } })).statusCode).toBe(400);

    // An analyst lifts a "would" suspension directly: there is no suspension to reinstate.
    const analyst = await signIn(svc, await addOperator(svc, 'lifter', 'analyst'));
    const target = would.find((d) => d.action === 'suspend')!;
    const lifted = await svc.app.inject({ method: 'POST', url: `/admin/v1/decisions/${target.id}/lift`, headers: analyst.headers, payload: { reason: 'watched enough' } });
    expect(lifted.statusCode, lifted.body).toBe(200);
    expect(lifted.json()).toMatchObject({ status: 'lifted', shadow: true });
  }, 120_000);

  it('on the enforcement path a shadow row refuses nothing, where the same decision enforced does', async () => {
    svc = await startTestService(dialect, { policy: 'default' });
    const aged = new Date(svc.clock.now() - 400 * DAY).toISOString();
    for (const id of ['watched', 'control']) await mirrorAccount(svc, id, [], { createdAt: aged, phoneRegion: 'US' });
    const now = svc.clock.now();
    const rows = await recordShadowDecisions(
      svc.ctx.db.kysely,
      [
        { accountIds: ['watched'], action: 'suspend', reason: 'would suspend', expiresAt: null, clusterId: 'c-1' },
        { accountIds: ['watched'], action: 'challenge', reason: 'would challenge', expiresAt: now + DAY, clusterId: 'c-1' },
      ],
      now,
    );
    expect(rows).toHaveLength(2);
    // Handed to this node's cache as a write here would be, and read back as another node would.
    svc.ctx.incidents.decisions.changed(rows);
    await svc.ctx.incidents.decisions.refresh();
    await svc.ctx.incidents.enforcer.suspend(['control'], { actor: 'engine', reason: 'enforced', evidence: {} });

    const watched = await svc.tokenFor('watched');
    expect((await lookup(svc, watched, { phone: NUMBERS.usA })).statusCode).toBe(200);
    expect((await sync(svc, watched, { region: 'US', contacts: [NUMBERS.usA] })).statusCode).toBe(200);
    const control = await lookup(svc, await svc.tokenFor('control'), { phone: NUMBERS.usA });
    expect([control.statusCode, control.json().error.code]).toEqual([403, 'account_suspended']);
  });
});
