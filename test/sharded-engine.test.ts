import { describe, expect, it } from 'vitest';
import { DAY, HOUR, T0, Traffic, US_BLOCKS, farmScene, importerScene, merge, organicScene, person, rangeScanScene } from '../src/abuse/synthetic.js';
import pino from 'pino';
import type { Decision } from '../src/abuse/engine.js';
import { watermarkOf } from '../src/abuse/sharded.js';
import { GlobalStage } from '../src/abuse/stages.js';
import { Summarizer } from '../src/abuse/summaries.js';
import { DEFAULT_ABUSE_POLICY, compileAbusePolicy } from '../src/policy/index.js';
import { replaySharded, replaySingle, strongest } from './helpers/sharded-replay.js';

/**
 * The sharded engine against the single leader on the same events (a replay comparison): the
 * engine's own scenes (ordinary people, a coordinated range-scanning fleet, an account farm, bulk
 * importers) through P = 1 (one AbuseEngine) and P = 2 (two partition stages and the global
 * stage, wired as the streams wire them). Transport and leases are tested with real Redis and
 * PostgreSQL processes in test/events-partitions.test.ts.
 */

const t = new Traffic(61);
const organic = organicScene(t, 3);
const fleet = rangeScanScene(t, { accounts: 30, days: 3, callsPerDay: 4, outcome: 'refused' });
const farm = farmScene(t, 40);
const importer = importerScene(t);
const all = merge(organic, fleet, farm, importer);
const END = T0 + 3 * DAY;
const policy = DEFAULT_ABUSE_POLICY;

describe('sharded abuse engine (P = 2) against the single leader (P = 1)', async () => {
  const single = await replaySingle(all, policy, HOUR, END);
  const sharded = await replaySharded(all, policy, HOUR, END, 2);

  it('every account ends under the same strongest action, and nobody ordinary is acted on', () => {
    const a = strongest(single);
    const b = strongest(sharded.recorded);
    const count = (rs: typeof single) => rs.reduce((n, r) => n + r.decision.accountIds.length, 0);
    console.info(`decisions (account-actions): single ${single.length} (${count(single)}); sharded ${sharded.recorded.length} (${count(sharded.recorded)}), of which global ${sharded.recorded.filter((r) => r.stage === 'global').length}`);
    expect(Object.fromEntries([...b].sort())).toEqual(Object.fromEntries([...a].sort()));
    for (const id of organic.accounts) expect(b.has(id), id).toBe(false);
    expect(a.size).toBeGreaterThan(70);
  });

  it('per-account decisions (one account on its own behaviour) are the same decisions as the single leader makes', () => {
    const own = (rs: typeof single) =>
      rs
        .filter((r) => r.decision.evidence.members === 1)
        .map((r) => `${r.decision.action} ${r.decision.accountIds.join(',')}`)
        .sort();
    const fromPartitions = sharded.recorded.filter((r) => r.stage.startsWith('partition'));
    expect(own(single).length).toBeGreaterThan(0);
    // The single leader's decisions on lone accounts are all made by the partitions, the same ones.
    expect(own(fromPartitions).filter((d) => own(single).includes(d))).toEqual(own(single));
  });

  it('a coordinated fleet spread over both partitions is still clustered as one campaign, by the global stage', () => {
    const parts = new Set(fleet.accounts.map((id) => sharded.partitionOfAccount(id)));
    expect(parts).toEqual(new Set([0, 1]));
    const cluster = sharded.recorded.filter((r) => r.stage === 'global' && r.decision.action === 'suspend-cluster' && r.decision.accountIds.includes(fleet.accounts[0]!));
    expect(cluster).toHaveLength(1);
    const d = cluster[0]!.decision;
    expect(new Set(d.accountIds)).toEqual(new Set(fleet.accounts));
    expect(d.evidence.detectors).toEqual(expect.arrayContaining(['coordination', 'enumeration']));
    const farmCluster = sharded.recorded.filter((r) => r.stage === 'global' && r.decision.accountIds.includes(farm.accounts[0]!));
    expect(farmCluster.length).toBeGreaterThan(0);
    expect(new Set(farm.accounts.map((id) => sharded.partitionOfAccount(id)))).toEqual(new Set([0, 1]));
  });

  it('the global stage reads compact summaries: one per account, place and hour, not one per call', async () => {
    // A busy hour: 200 people calling 20 times each from home, single lookups and small syncs.
    const tb = new Traffic(5);
    const people = Array.from({ length: 200 }, (_, i) => person(i));
    const events = [];
    for (let k = 0; k < 20; k++) for (const p of people) events.push(tb.call(p, T0 + k * 150_000 + tb.rng.int(100_000), tb.randomNumbers(US_BLOCKS, 1 + tb.rng.int(3))));
    const busy = merge({ events, signups: [], accounts: people.map((p) => p.accountId) });
    const run = await replaySharded(busy, policy, HOUR, T0 + HOUR, 2);
    console.info(`sharded replay: scenes ${sharded.events} events -> ${sharded.summaries} summaries; busy hour ${run.events} events -> ${run.summaries} summaries`);
    expect(run.summaries).toBe(200);
    expect(run.recorded).toEqual([]);
  });

  it('the global stage decides only as of what every live partition has stored (campaign exposures are read from the stored events)', async () => {
    const decided: Decision[] = [];
    let watermark: number | undefined = farm.events[0]!.at - HOUR;
    const record = async (_a: unknown, _b: unknown, d?: Decision) => void (d && decided.push(d));
    const g = new GlobalStage({
      enforcer: { throttle: record, challenge: record, suspend: (_i, _r, _e, d) => record(0, 0, d) },
      logger: pino({ level: 'silent' }),
      clock: { now: () => END },
      policy,
      evaluateEveryMs: HOUR,
      readFindings: async () => [],
      readWatermark: async () => watermark,
    });
    const summarizer = new Summarizer(compileAbusePolicy(policy));
    for (const sg of farm.signups) await g.signup(sg);
    await g.process(farm.events.flatMap((e) => summarizer.add(e)));
    // Hours of summaries later, but one partition has stored nothing past an hour before the farm: nothing of it is taken in, nothing decided.
    const later = { ...farm.events[0]!, id: 'later-event-0000000001', at: farm.events[0]!.at + 3 * HOUR };
    await g.process(summarizer.add(later));
    expect(decided).toEqual([]);
    watermark = later.at + HOUR;
    await g.process(summarizer.add({ ...later, id: 'later-event-0000000002', at: later.at + HOUR, ip: '192.0.2.1' }));
    expect(new Set(decided.flatMap((d) => d.accountIds))).toEqual(new Set(farm.accounts));
    // A partition silent for a minute of the clock is not waited for; the others' least progress is the watermark.
    expect(watermarkOf({ 0: '5000 100000', 1: '3000 99000', 2: '1000 30000' }, 100_000)).toBe(3000);
    expect(watermarkOf({}, 100_000)).toBeUndefined();
  });
});
