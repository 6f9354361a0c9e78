import { afterEach, expect, it } from 'vitest';
import type { LookupEvent } from '../../src/abuse/events.js';
import { FARMING } from '../../src/abuse/detectors/farming.js';
import { GB_BLOCKS, HOUR, IN_BLOCKS, Traffic, US_BLOCKS, fake } from '../../src/abuse/synthetic.js';
import { createLogger } from '../../src/logger.js';
import { createService, type Service } from '../../src/main.js';
import { DEFAULT_ABUSE_POLICY } from '../../src/policy/index.js';
import { SeededRandom } from '../../src/util/random.js';
import { mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, T0, type TestService } from '../helpers/service.js';

/**
 * Review ("sign-ups not stored"): a new account's sign-up context reaches the abuse engine only
 * as a message (the in-process queue, or the Redis stream a worker acknowledges once its engine
 * has it in memory). A process that starts consuming, or takes over, rebuilds its engine from the
 * database (src/abuse/resume.ts): the stored lookup events, the actions in force, reinstatements;
 * never the sign-ups, though the accounts table keeps every account's creation time, sign-up
 * address and device. So after any restart (a deploy, a crash, a worker taking a partition or
 * the global stage over) the engine has forgotten who signed up where: the farming detector's
 * sign-up bursts are gone (its stand-in, a first call within an hour of creation, does not reach a
 * farm that waits), and a suspension's sign-up holds lose the sign-up addresses.
 *
 * Here a farm of 20 accounts signs up within 10 minutes from three Hetzner addresses on four
 * devices, mirrored through the internal API; the service restarts (same database); 3 h later
 * the farm starts calling. The engine that heard the sign-ups suspends the farm as a cluster
 * (coordination and farming); the restarted one only challenged it (coordination alone), no
 * campaign, its members free to keep calling after solving a proof-of-work.
 */
const enforce = { ...DEFAULT_ABUSE_POLICY, mode: 'enforce' as const };
const FARM = 20;
const SIGNUP = T0;
const CALLS = SIGNUP + 3 * HOUR;

const persona = (i: number) =>
  fake(i, SIGNUP + i * 30_000, {
    accountId: `farm-${String(i).padStart(4, '0')}`,
    phoneRegion: 'VN',
    country: 'DE',
    ip: `5.9.10.${10 + (i % 3)}`,
    subnet: '5.9.10.0/24',
    asn: 24940,
    network: 'hosting',
    deviceId: `farm-dev-${Math.floor(i / 5)}`,
  });

describeEachDialect('sign-ups are part of the engine a restart rebuilds', (dialect) => {
  let first: TestService | undefined;
  let second: Service | undefined;
  afterEach(async () => {
    await second?.close();
    second = undefined;
    await first?.stop();
    first = undefined;
  });

  it('a farm that signed up before a restart is suspended after it as it is without one', async () => {
    first = await startTestService(dialect, { policy: 'none' }, { abuse: { policy: enforce } });
    const farm = Array.from({ length: FARM }, (_, i) => persona(i));
    for (const p of farm) {
      first.clock.set(p.createdAt);
      await mirrorAccount(first, p.accountId, [], { createdAt: new Date(p.createdAt).toISOString(), phoneRegion: 'VN', signup: { ip: p.ip, deviceId: p.deviceId } });
    }
    expect(await first.ctx.events.flush()).toBe(true);
    // The running engine heard them: a sign-up burst on the farm's addresses and devices.
    const farmingOf = (svc: Service, now: number) => svc.ctx.abuse.engine.detectors.find((d) => d.name === FARMING)!.findings(now).flatMap((f) => f.accountIds);
    expect(new Set(farmingOf(first, SIGNUP + 15 * 60_000))).toEqual(new Set(farm.map((p) => p.accountId)));

    // A deploy: the same database, a new process.
    await first.close();
    second = await createService(first.config, first.secrets, { clock: first.clock, random: new SeededRandom(43), logger: createLogger('silent'), abuse: { policy: enforce } });

    // 3 h later (past the farming detector's one-hour stand-in) the farm calls: 5 refused lookups each, a few minutes apart.
    const t = new Traffic(11);
    const everywhere = [...US_BLOCKS, ...GB_BLOCKS, ...IN_BLOCKS];
    const events: LookupEvent[] = [];
    farm.forEach((p, i) => {
      for (let k = 0; k < 5; k++) events.push(t.call(p, CALLS + i * 20_000 + k * 20_000, t.randomNumbers(everywhere, 1), { outcome: 'refused' }));
    });
    events.sort((a, b) => a.at - b.at);
    for (const e of events) {
      first.clock.set(e.at);
      // The real path: the bus resumes the engine from the database before the first event.
      await second.ctx.events.emitDurable(e);
    }
    expect(await second.ctx.events.flush()).toBe(true);
    const now = events[events.length - 1]!.at + 60_000;
    first.clock.set(now);
    await second.ctx.abuse.evaluate(now);

    // The rebuilt engine knows the burst...
    expect(new Set(farmingOf(second, now))).toEqual(new Set(farm.map((p) => p.accountId)));
    // ...and the farm ends as it does without a restart: suspended as one cluster, one campaign.
    const actions = await second.ctx.db.kysely.selectFrom('enforcement_actions').select(['account_id', 'action']).where('account_id', 'like', 'farm-%').execute();
    const suspended = new Set(actions.filter((a) => a.action === 'suspend').map((a) => a.account_id));
    expect(suspended).toEqual(new Set(farm.map((p) => p.accountId)));
    expect(await second.ctx.incidents.campaigns.list()).toHaveLength(1);
  });
});
