import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_ABUSE_POLICY } from '../src/policy/index.js';
import { DAY, T0 as SCENE_T0, Traffic, merge, organicScene, rangeScanScene, type Scene } from '../src/abuse/synthetic.js';
import { lookup, mirrorAccount, mirrorSceneAccounts, sync } from './helpers/fixtures.js';
import { startTestService, type TestService } from './helpers/service.js';

/**
 * The engine as the service runs it: events through the pipeline (stored, then handed to the
 * engine), evaluation by event time, decisions carried out through src/incidents.
 */
describe('abuse engine wired into the event pipeline', () => {
  let svc: TestService;
  afterEach(async () => svc?.stop());

  const t = new Traffic(61);
  const organic = organicScene(t, 3);
  const fleet = rangeScanScene(t, { accounts: 30, days: 3, callsPerDay: 4 });
  const all = merge(organic, fleet);

  async function start(mode?: 'enforce' | 'shadow') {
    svc = await startTestService('sqlite', { policy: 'none' }, mode ? { abuse: { policy: { ...DEFAULT_ABUSE_POLICY, mode } } } : {});
    svc.clock.set(SCENE_T0 - 2 * DAY);
    // The app mirrors every account the scene uses.
    await mirrorSceneAccounts(svc, all.accounts, SCENE_T0 - 30 * DAY);
  }

  async function replay(scene: Scene) {
    let j = 0;
    for (let i = 0; i < scene.events.length; i += 50) {
      const batch = scene.events.slice(i, i + 50);
      const until = batch[batch.length - 1]!.at;
      while (j < scene.signups.length && scene.signups[j]!.at <= until) svc.ctx.abuse.engine.signup(scene.signups[j++]!);
      svc.clock.set(until);
      await svc.ctx.eventPipeline.process(batch);
    }
    await svc.ctx.abuse.evaluate(SCENE_T0 + 3 * DAY);
  }

  it('suspends the scanning fleet, opens a campaign with its exposures, and leaves organic accounts alone', async () => {
    await start('enforce');
    await replay(all);
    const statuses = await svc.ctx.db.kysely.selectFrom('accounts').select(['id', 'fg_status']).execute();
    const suspended = new Set(statuses.filter((r) => r.fg_status === 'suspended').map((r) => r.id));
    for (const id of fleet.accounts) expect(suspended.has(id), id).toBe(true);
    for (const id of organic.accounts) expect(suspended.has(id), id).toBe(false);

    const campaigns = await svc.ctx.incidents.campaigns.list();
    expect(campaigns).toHaveLength(1);
    expect(campaigns[0]).toMatchObject({ accounts: 30 });
    expect(campaigns[0]!.exposedAccounts).toBeGreaterThan(0);
    // A suspended account learns nothing more.
    const token = await svc.tokenFor(fleet.accounts[0]!);
    const res = await lookup(svc, token, { phone: '+14155552671' });
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('account_suspended');
    expect(svc.logs.text).toContain('"mode":"enforce"');
  }, 120_000);

  it('under a policy without an abuse section only logs and counts what it would do (shadow mode)', async () => {
    await start();
    await replay(all);
    const suspended = await svc.ctx.db.kysely.selectFrom('accounts').select('id').where('fg_status', '=', 'suspended').execute();
    expect(suspended).toEqual([]);
    expect(svc.logs.text).toMatch(/"action":"suspend-cluster","mode":"shadow","accounts":30/);
    const metrics = (await svc.app.inject({ method: 'GET', url: '/metrics', headers: svc.internal })).body;
    expect(metrics).toMatch(/findguard_abuse_decisions_total\{action="suspend-cluster",mode="shadow"\} 1/);
  });

  it('the built-in default policy enforces: a dense run is refused before anything is answered', async () => {
    svc = await startTestService('sqlite', { policy: 'default' });
    expect(svc.ctx.abuse.engine.policy.shadow).toBe(false);
    await mirrorAccount(svc, 'scanner', [], { createdAt: new Date(svc.clock.now() - 400 * DAY).toISOString(), phoneRegion: 'DE' });
    const token = await svc.tokenFor('scanner');
    const denied = await sync(svc, token, { contacts: run(0, 60) });
    expect(denied.statusCode).toBe(429);
    expect(denied.json().error.details).toEqual({ retryAfter: 3600, scope: 'account' });
  });

  it('refuses a leaked list scattered over many countries, judging foreign by the phone, else by the address', async () => {
    // The pre-match scatter refusal is what a policy without the answers rule keeps (with it, spread is
    // judged after matching: test/abuse-answers.test.ts), so this policy leaves that rule out.
    const { answers: _answers, ...preMatch } = DEFAULT_ABUSE_POLICY.realtime;
    svc = await startTestService('sqlite', { policy: 'none', trustedProxies: '127.0.0.1' }, { abuse: { policy: { ...DEFAULT_ABUSE_POLICY, mode: 'enforce', realtime: preMatch } } });
    // Real numbers of many countries, a few of each: a leaked list in miniature.
    const list = ['+14155552671', '+14155552672', '+447700900123', '+447700900124', '+919810012345', '+919810012346', '+5511912345678', '+5511912345679', '+6281234567890', '+6281234567891', '+2348031234567', '+2348031234568', '+905321234567', '+33612345678'];
    await mirrorAccount(svc, 'phoned', [], { createdAt: new Date(SCENE_T0 - 400 * DAY).toISOString(), phoneRegion: 'DE' });
    await mirrorAccount(svc, 'phoneless', [], { createdAt: new Date(SCENE_T0 - 400 * DAY).toISOString() });
    const denied = await sync(svc, await svc.tokenFor('phoned'), { contacts: list });
    expect(denied.statusCode).toBe(429);
    expect(denied.json().error.message).toMatch(/spread over many countries/);
    // Without a phone, the address decides: a German residential address.
    const fromGermany = await sync(svc, await svc.tokenFor('phoneless'), { contacts: list }, { 'x-forwarded-for': '91.64.0.1' });
    expect(fromGermany.statusCode).toBe(429);
    // An address book of one country passes.
    const book = list.filter((n) => n.startsWith('+44'));
    expect((await sync(svc, await svc.tokenFor('phoned'), { contacts: book })).statusCode).toBe(200);
  });

  const run = (from: number, n: number) => Array.from({ length: n }, (_, i) => `+4915120${String(100_000 + from + i).padStart(6, '0')}`);

  it('decides dense runs of consecutive numbers in the request path, before anything is answered', async () => {
    await start('enforce');
    await mirrorAccount(svc, 'scanner', [], { createdAt: new Date(SCENE_T0 - 30 * DAY).toISOString() });
    const token = await svc.tokenFor('scanner');
    const denied = await sync(svc, token, { contacts: run(0, 60) });
    expect(denied.statusCode).toBe(429);
    expect(denied.json().error.details).toEqual({ retryAfter: 3600, scope: 'account' });
    const challenged = await sync(svc, token, { contacts: [...run(1000, 25), ...run(5000, 1)] });
    expect(challenged.statusCode).toBe(428);
    expect(challenged.json().error.details.challenge.algorithm).toBe('sha256-leading-zero-bits');
    // An address book (scattered numbers) passes.
    const book = Array.from({ length: 60 }, (_, i) => `+4915120${String(100_000 + i * 997).padStart(6, '0')}`);
    expect((await sync(svc, token, { contacts: book })).statusCode).toBe(200);
  });

  it('in shadow mode counts the real-time verdicts and lets the call through', async () => {
    await start();
    await mirrorAccount(svc, 'scanner', [], { createdAt: new Date(SCENE_T0 - 30 * DAY).toISOString() });
    const res = await sync(svc, await svc.tokenFor('scanner'), { contacts: run(0, 60) });
    expect(res.statusCode).toBe(200);
    const metrics = (await svc.app.inject({ method: 'GET', url: '/metrics', headers: svc.internal })).body;
    expect(metrics).toMatch(/findguard_abuse_realtime_total\{verdict="deny",reason="dense-run",mode="shadow"\} 1/);
  });

  it('feeds the sign-up context the app mirrors to the engine (farming)', async () => {
    await start();
    const res = await svc.app.inject({
      method: 'PUT',
      url: '/internal/v1/accounts/newcomer',
      headers: svc.internal,
      payload: { handle: 'newcomer', signup: { ip: '81.2.69.160', deviceId: 'dev-9' } },
    });
    expect(res.statusCode).toBe(201);
    const state = svc.ctx.abuse.engine.store.account('newcomer');
    expect(state?.signup).toMatchObject({ ip: '81.2.69.160', subnet: '81.2.69.0/24', country: 'GB' });
    // An update is not a sign-up.
    await svc.app.inject({ method: 'PUT', url: '/internal/v1/accounts/newcomer', headers: svc.internal, payload: { handle: 'renamed', signup: { ip: '1.1.1.1' } } });
    expect(svc.ctx.abuse.engine.store.account('newcomer')?.signup).toMatchObject({ ip: '81.2.69.160' });
  });
});
