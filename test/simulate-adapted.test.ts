import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSettings } from '../src/config/config.js';
import { Challenges, MemoryLimitStore, SimulatedProofOfWork } from '../src/limits/index.js';
import { createService } from '../src/main.js';
import { loadIpIntel } from '../src/net/index.js';
import { formatProof } from '../src/protocol/index.js';
import { InProcessDriver, ipSourceFrom, loadScenario, runScenario, type IpSource, type SimulationResult } from '../src/simulate/index.js';
import { WorkLedger } from '../src/simulate/pow.js';
import type { ScenarioSpec } from '../src/simulate/scenario.js';
import { BUILT_IN_SCENARIOS } from '../src/simulate/scenarios.js';
import { ManualClock } from '../src/util/clock.js';
import { SeededRandom } from '../src/util/random.js';

let ips: IpSource;
beforeAll(async () => {
  ips = ipSourceFrom(await loadIpIntel());
});

const ADAPTED = ['residential-aged', 'census-2025', 'sleepers', 'slow-drip'] as const;

/** A scenario at test size: the same code paths, a second or two. */
function tiny(name: string): ScenarioSpec {
  const spec = loadScenario(name);
  spec.population.accounts = 600;
  spec.days = 1;
  spec.organic.maxSyncsPerDay = 15;
  spec.organic.maxLookupsPerDay = 15;
  for (const a of spec.attackers) {
    a.accounts = Math.min(a.accounts, 8);
    a.startDay = 0.3;
    a.createdOverDays = Math.min(a.createdOverDays, 0.25);
    if (a.kind === 'list') (a.listSize = 300), (a.overDays = 0.5);
    if (a.kind === 'random-scan') a.numbers = 20_000;
    // Batches of 40 consecutive numbers are challenged (difficulty 18): proof-of-work at 100,000 hashes/s.
    if (a.kind === 'range-scan') (a.blockShare = 0.05), (a.hashRate = 100_000);
  }
  return spec;
}

async function run(spec: ScenarioSpec): Promise<{ result: SimulationResult; wall: number }> {
  const started = Date.now();
  const { result } = await runScenario(spec, ips, (w) => InProcessDriver.create(w, { matchWorkers: 0 }));
  return { result, wall: Date.now() - started };
}

describe('adapted attackers', () => {
  it('each has its parameters in a scenario file under scenarios/, equal to the built-in', () => {
    for (const name of [...ADAPTED, 'launch-day', 'leaked-list-by-country']) {
      const file = JSON.parse(readFileSync(join('scenarios', `${name}.json`), 'utf8')) as unknown;
      // Out of date? Regenerate: JSON.stringify(BUILT_IN_SCENARIOS[name](), null, 2) into scenarios/NAME.json.
      expect(file, name).toEqual(BUILT_IN_SCENARIOS[name]!());
      expect(loadScenario(join('scenarios', `${name}.json`)), name).toEqual(BUILT_IN_SCENARIOS[name]!());
    }
  });

  it.each(ADAPTED)('%s runs at small scale and gives the same JSON for the same seed', async (name) => {
    const a = await run(tiny(name));
    const attacker = a.result.attackers[0]!;
    expect(attacker.requests).toBeGreaterThan(0);
    expect(attacker.accounts).toBeGreaterThan(0);
    expect(a.result.organic.harm.suspendedPct).toBeGreaterThanOrEqual(0);
    if (name !== 'residential-aged' && name !== 'census-2025') expect(attacker.cost.agedLocalAccounts).toBe(name === 'slow-drip' ? attacker.accounts : 0);
    if (name === 'sleepers') expect(attacker.details.socialSyncs).toBeGreaterThan(0);
    if (name === 'residential-aged') proofOfWorkPaid(a.result.attackers[0]!, a.wall);
    const b = await run(tiny(name));
    expect(JSON.stringify(b.result)).toBe(JSON.stringify(a.result));
  }, 60_000);
});

/**
 * Proof-of-work in simulated time: attackers that meet challenges finish at once (solved for real,
 * ~2.6 s of CPU per challenge at difficulty 18 here), get answers after a proof the server
 * verified, and pay CPU-hours.
 */
function proofOfWorkPaid(attacker: SimulationResult['attackers'][number], wallMs: number): void {
  expect(wallMs).toBeLessThan(30_000);
  expect(attacker.answered).toBeGreaterThan(0);
  expect(attacker.cost.powHashes).toBeGreaterThan(attacker.answered * 2 ** 14);
  expect(attacker.cost.powCpuHours).toBeCloseTo(attacker.cost.powHashes / 100_000 / 3600, 5);
  expect(attacker.cost.powCpuHours).toBeGreaterThan(0);
  // Per 1,000 exposed where anything was exposed (here the engine contains the fleet within minutes).
  if (attacker.exposed > 0) expect(attacker.cost.powCpuHoursPer1000Exposed).toBeCloseTo((attacker.cost.powCpuHours * 1000) / attacker.exposed, 3);
  else expect(attacker.cost.powCpuHoursPer1000Exposed).toBeNull();
}

describe('proof-of-work in simulated time', () => {
  it("charges an account the same hashes for its n-th challenge whatever the challenge's random prefix (the server's Random follows timers)", async () => {
    const keys = [{ version: 1, key: Buffer.alloc(32, 7) }];
    const now = Date.parse('2026-01-05T00:00:00Z');
    const charged = async (serverSeed: number) => {
      const ledger = new WorkLedger(new SimulatedProofOfWork());
      const server = new Challenges(keys, new SeededRandom(serverSeed), new MemoryLimitStore(), ledger.simulated!);
      const out: number[] = [];
      for (const account of ['acct-a', 'acct-b', 'acct-a', 'acct-a']) {
        const solve = ledger.solverFor(account, 300_000, () => now)!;
        out.push((await solve(server.issue(account, 18, 300_000, now))).hashes);
      }
      return { out, a: ledger.hashesOf('acct-a'), b: ledger.hashesOf('acct-b') };
    };
    const one = await charged(1);
    expect(await charged(2)).toEqual(one);
    expect(one.a).toBe(one.out[0]! + one.out[2]! + one.out[3]!);
    // Each challenge is its own draw, about 2^18 hashes on average.
    expect(new Set(one.out).size).toBe(4);
    expect(one.out.every((h) => h > 0 && h < 2 ** 18 * 20)).toBe(true);
  });

  it("the server checks the simulator's tag and everything else about the proof; a real Challenges refuses the tag", async () => {
    const keys = [{ version: 1, key: Buffer.alloc(32, 7) }];
    const sim = new SimulatedProofOfWork();
    const simulated = new Challenges(keys, new SeededRandom(1), new MemoryLimitStore(), sim);
    const real = new Challenges(keys, new SeededRandom(1), new MemoryLimitStore());
    const now = Date.parse('2026-01-05T00:00:00Z');
    const c = simulated.issue('acct-1', 22, 300_000, now);
    const proof = formatProof(c.id, sim.solution(c, 1).nonce);
    expect(await real.redeem('acct-1', proof, 18, now)).toBe(false);
    expect(await simulated.redeem('acct-2', proof, 18, now)).toBe(false);
    expect(await simulated.redeem('acct-1', formatProof(c.id, '12345'), 18, now)).toBe(false);
    expect(await simulated.redeem('acct-1', proof, 18, now + 301_000)).toBe(false);
    expect(await simulated.redeem('acct-1', proof, 18, now)).toBe(true);
    // Single use, as for a real proof.
    expect(await simulated.redeem('acct-1', proof, 18, now)).toBe(false);
    // Another run's simulator (another key) cannot make a tag this one accepts.
    const d = simulated.issue('acct-1', 22, 300_000, now);
    expect(await simulated.redeem('acct-1', formatProof(d.id, new SimulatedProofOfWork().solution(d, 1).nonce), 18, now)).toBe(false);
  });

  it('a serving context refuses the simulated proof-of-work on the system clock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-simpow-'));
    try {
      const { config, secrets } = buildSettings({ dataDir: dir, logLevel: 'silent' }, dir);
      await expect(createService(config, secrets, { simulatedProofOfWork: new SimulatedProofOfWork() })).rejects.toThrow(/simulated time only/);
      // On a simulated clock it builds (the simulator's case).
      const svc = await createService(config, secrets, { simulatedProofOfWork: new SimulatedProofOfWork(), clock: new ManualClock(Date.parse('2026-01-05T00:00:00Z')) });
      await svc.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
