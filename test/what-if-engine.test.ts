import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DAY, T0 as SCENE_T0, Traffic, merge, organicScene, rangeScanScene } from '../src/abuse/synthetic.js';
import { replayEngine } from '../src/console/what-if-engine.js';
import { loadPolicy } from '../src/policy/index.js';
import { insertEvents } from './helpers/console.js';
import { mirrorSceneAccounts } from './helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from './helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * The policy what-if replays the candidate's abuse engine too (issue 16: "how many accounts that
 * look organic it would have touched, and how many campaign accounts it would have caught"): over
 * stored events of a scanning fleet and organic users, the default policy's engine would suspend
 * the fleet and touch no organic account, a candidate with a higher bar for whole clusters catches
 * fewer, and the replay writes nothing anywhere.
 */
describeEachDialect('policy what-if: the abuse engine', (dialect) => {
  let svc: TestService;
  let admin: SignedIn;
  const t = new Traffic(61);
  const organic = organicScene(t, 3);
  const fleet = rangeScanScene(t, { accounts: 30, days: 3, callsPerDay: 4 });
  const all = merge(organic, fleet);
  const from = SCENE_T0 - DAY;
  const to = SCENE_T0 + 4 * DAY;

  beforeAll(async () => {
    // Live: limits alone and the engine in shadow, so nothing is decided live; the events are stored as the pipeline would.
    svc = await startTestService(dialect, { policy: 'none' }, OPERATOR_OVERRIDES);
    await mirrorSceneAccounts(svc, all.accounts, SCENE_T0 - 30 * DAY);
    await insertEvents(svc.ctx.db.kysely, all.events);
    // The fleet is a campaign findguard opened (by hand here, as an earlier engine would have).
    await svc.ctx.incidents.campaigns.openCampaign({ clusterId: 'c-fleet', accountIds: fleet.accounts, score: 0.9, evidence: {} });
    admin = await signIn(svc, await addOperator(svc, 'planner', 'admin'));
  }, 120_000);
  afterAll(async () => svc?.stop());

  const whatIf = async (body: Record<string, unknown>) => {
    const res = await svc.app.inject({ method: 'POST', url: '/admin/v1/policy/what-if', headers: admin.headers, payload: { from, to, ...body } });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };

  const counts = async () => {
    const k = svc.ctx.db.kysely;
    const out: Record<string, number> = {};
    for (const table of ['decisions', 'enforcement_actions', 'campaigns', 'campaign_accounts', 'exposures', 'webhook_outbox', 'lookup_events', 'hit_rates'] as const) {
      out[table] = Number((await k.selectFrom(table).select(k.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    }
    out.suspended = (await k.selectFrom('accounts').select('id').where('fg_status', '=', 'suspended').execute()).length;
    return out;
  };

  it("the default policy's engine would suspend the campaign's accounts and touch no organic one, and writes nothing", async () => {
    const before = await counts();
    const w = await whatIf({ policy: 'default' });
    expect(w.engine).toMatchObject({ mode: 'enforce', events: all.events.length, truncated: false, campaignAccounts: fleet.accounts.length, organicAccounts: organic.accounts.length });
    expect(w.engine.campaignCaught).toBe(fleet.accounts.length);
    expect(w.engine.suspend).toMatchObject({ campaign: fleet.accounts.length, organic: 0 });
    expect(w.engine.clusters).toBeGreaterThanOrEqual(1);
    expect(w.engine.organicTouched).toBe(0);
    expect(w.engine.evaluations).toBeGreaterThan(100);
    // Isolated: no decision, action, campaign, exposure, webhook or status was written; the events are as they were.
    expect(await counts()).toEqual(before);
    // The live engine heard nothing of it.
    expect(svc.ctx.abuse.engine.store.account(fleet.accounts[0]!)).toBeUndefined();
  }, 120_000);

  it("replays the candidate's own thresholds: a bar no cluster reaches suspends no campaign account", async () => {
    const source = structuredClone(loadPolicy('default').source) as ReturnType<typeof loadPolicy>['source'] & { abuse: { actions: { suspendCluster: { score: number }; suspendAccount: { score: number } } } };
    source.name = 'lenient';
    source.abuse.actions.suspendCluster.score = 1;
    source.abuse.actions.suspendAccount.score = 1;
    const w = await whatIf({ policy: stringify(source) });
    expect(w.policy).toBe('lenient');
    expect(w.engine.campaignCaught).toBe(0);
    expect(w.engine.suspend.accounts).toBe(0);
    // Still challenged or throttled: the thresholds below suspension are the default's.
    expect(w.engine.challenge.campaign + w.engine.throttle.campaign).toBeGreaterThan(0);
  }, 120_000);

  it('a large window replays in a worker thread, with the same verdicts as inline', async () => {
    const deps = { db: svc.ctx.db.kysely, ipIntel: svc.ctx.ipIntel };
    const campaign = new Set(fleet.accounts);
    const classes = { campaign, actedOn: async () => new Set<string>() };
    const inline = await replayEngine(deps, loadPolicy('default'), from, to, classes);
    const worker = await replayEngine(deps, loadPolicy('default'), from, to, classes, { inlineBelow: 0 });
    expect(inline.worker).toBe(false);
    expect(worker.worker).toBe(true);
    expect({ ...worker, worker: false }).toEqual(inline);
    expect(worker.campaignCaught).toBe(fleet.accounts.length);
  }, 120_000);

  it('a baseline without an abuse section runs the default detectors in shadow; engine: false skips the engine', async () => {
    const shadow = await whatIf({ policy: 'signal-like' });
    expect(shadow.engine.mode).toBe('shadow');
    expect(shadow.engine.campaignCaught).toBe(fleet.accounts.length);
    const limitsOnly = await whatIf({ policy: 'signal-like', engine: false });
    expect(limitsOnly.engine).toBeNull();
    expect(limitsOnly.wouldRefuse).toBe(shadow.wouldRefuse);
  }, 120_000);
});
