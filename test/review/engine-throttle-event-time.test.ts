import { afterAll, beforeAll, expect, it } from 'vitest';
import { AbuseEngine } from '../../src/abuse/engine.js';
import { incidentsEnforcer } from '../../src/abuse/service.js';
import { HOUR, T0 as SCENE_T0, Traffic, US_BLOCKS, merge, organicScene, person, play } from '../../src/abuse/synthetic.js';
import { decisionsFor } from '../../src/incidents/index.js';
import { DEFAULT_ABUSE_POLICY } from '../../src/policy/index.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Found in review (fixed: the adapter passes the decision time, the enforcer dates from its own clock): the engine dates a throttle or challenge from the evaluation's event time
 * (engine.ts:358, `until = now + duration`, now = the newest event's time), the enforcer from the
 * wall clock (enforcer.ts:255, `until <= now` -> unchanged). A worker catching up a backlog (a
 * worker fleet down for a night, a partition taken over, replay on start) decides on events hours
 * old: each throttle is cut short by the lag, and past 6 h (24 h for a challenge) it is dropped
 * without a row, while the engine's ledger counts it as applied and does not decide it again.
 */
const LAG = 7 * HOUR;

describeEachDialect('engine decisions taken on a backlog', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    await mirrorAccount(svc, 'throttled', [], { createdAt: new Date(T0 - 400 * 24 * HOUR).toISOString(), phoneRegion: 'US' });
  });
  afterAll(async () => svc.stop());

  it('a throttle decided now on events 7 h old stands for its 6 h from now', async () => {
    const t = new Traffic(62);
    const throttled = person(7000, { accountId: 'throttled', deviceId: 'th-dev', ip: '100.70.0.1', subnet: '100.70.0.0/24' });
    const events = [];
    for (let c = 0; c < 4; c++) events.push(t.call(throttled, SCENE_T0 + (4 + 3 * c) * HOUR, t.randomNumbers([US_BLOCKS[7]!], 50), { hitRate: 0.3 }));
    const scene = merge(organicScene(t, 1), { events, signups: [], accounts: [] });
    // The worker reads these now (wall clock T0), LAG behind their time.
    const shift = T0 - LAG - (SCENE_T0 + 23 * HOUR);
    const shifted = { ...scene, events: scene.events.map((e) => ({ ...e, at: e.at + shift, accountCreatedAt: e.accountCreatedAt + shift })), signups: scene.signups.map((s) => ({ ...s, at: s.at + shift })) };
    const engine = new AbuseEngine({ policy: { ...DEFAULT_ABUSE_POLICY, mode: 'enforce' }, enforcer: incidentsEnforcer(svc.ctx.incidents, svc.clock) });
    play(shifted, engine);
    const decisions = await engine.evaluate(T0 - LAG);
    expect(decisions.find((d) => d.accountIds.includes('throttled'))?.action).toBe('throttle');
    const rows = await decisionsFor(svc.ctx.db.kysely, 'account', 'throttled');
    expect(rows.map((r) => r.action)).toEqual(['throttle']);
    expect(svc.ctx.incidents.decisions.standing('throttled', { createdAt: 0 }, T0)?.action).toBe('throttle');
  });
});
