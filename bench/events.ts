/**
 * `npx tsx bench/events.ts`: lookup events through the feature store and the detectors, in events
 * per second for one worker (the abuse-engine issue's target: ≥ 50,000 events/s), then one full
 * evaluation (findings, graph, clusters, decisions) and the real-time check per batch.
 *
 * The mix resembles production: mostly single lookups and incremental syncs of a few numbers, some
 * full address-book syncs touching ~150 blocks each, and fake accounts scanning 50 consecutive
 * numbers a call; people behind carrier NAT (300 to an address) or on their own IPv6 /64.
 * A pool of events is generated once and replayed with fresh ids, each replay an hour later, so
 * coordination buckets close during the measure. BENCH_EVENTS, BENCH_PASSES override the sizes.
 */
import { realtimeCheck } from '../src/abuse/detectors/realtime.js';
import { AbuseEngine } from '../src/abuse/engine.js';
import type { LookupEvent } from '../src/abuse/events.js';
import { DEFAULT_ABUSE_POLICY } from '../src/policy/index.js';
import { DAY, HOUR, T0, Traffic, blocksFor, consecutive, fake, person, type Persona } from '../src/abuse/synthetic.js';

const POOL = Number(process.env.BENCH_EVENTS ?? 200_000);
const PASSES = Number(process.env.BENCH_PASSES ?? 6);
const PEOPLE = 200_000;
const FAKES = 2_000;

const t = new Traffic(2024);
// Realistic block counts: a real book touches as many blocks as it has numbers.
const regions: Array<{ region: string; blocks: string[] }> = [
  { region: 'US', blocks: blocksFor('+1', 2_012_000, 4000, 7) },
  { region: 'IN', blocks: blocksFor('+91', 9_810_000, 4000, 7) },
  { region: 'BR', blocks: blocksFor('+55', 1_198_000, 3000, 7) },
  { region: 'GB', blocks: blocksFor('+44', 7_700_900, 2000, 7) },
];
const people: Persona[] = Array.from({ length: PEOPLE }, (_, i) => {
  const r = regions[i % regions.length]!;
  const v6 = i % 3 === 0;
  const nat = Math.floor(i / 300);
  return person(i, {
    phoneRegion: r.region,
    country: r.region,
    asn: 7000 + (i % 40),
    ip: v6 ? `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1` : `100.${64 + (nat >> 16)}.${(nat >> 8) & 255}.${nat & 255}`,
    subnet: v6 ? `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64` : `100.${64 + (nat >> 16)}.${(nat >> 8) & 255}.0/24`,
    createdAt: T0 - (1 + (i % 2000)) * DAY,
  });
});
const fakes: Persona[] = Array.from({ length: FAKES }, (_, i) => fake(i, T0 - 2 * DAY, { ip: `203.0.${113 + (i % 8)}.${10 + (i % 40)}`, subnet: `203.0.${113 + (i % 8)}.0/24` }, 40));

const genStart = performance.now();
const pool: LookupEvent[] = [];
const scanAt = new Map<number, number>();
for (let i = 0; i < POOL; i++) {
  const at = T0 + Math.floor((i * HOUR) / POOL);
  const x = t.rng.float();
  if (x < 0.02) {
    const f = t.rng.int(FAKES);
    const k = (scanAt.get(f) ?? f * 2000) + 50;
    scanAt.set(f, k);
    pool.push(t.call(fakes[f]!, at, consecutive(regions[0]!.blocks, k, 50), { hitRate: 0.1, outcome: t.rng.float() < 0.7 ? 'refused' : 'allowed' }));
    continue;
  }
  const p = people[t.rng.int(PEOPLE)]!;
  const blocks = regions.find((r) => r.region === p.phoneRegion)!.blocks;
  if (x < 0.72) pool.push(t.call(p, at, t.randomNumbers(blocks, 1)));
  else if (x < 0.92) pool.push(t.call(p, at, t.randomNumbers(blocks, 1 + t.rng.int(3)), { operation: 'incremental-sync' }));
  else pool.push(t.call(p, at, t.randomNumbers(blocks, Math.min(2000, Math.round(150 * Math.exp(0.8 * (t.rng.float() * 2 - 1)))))));
}
const genMs = performance.now() - genStart;
const meanNumbers = pool.reduce((s, e) => s + e.numbers, 0) / pool.length;
const meanBlocks = pool.reduce((s, e) => s + Object.keys(e.blocks).length, 0) / pool.length;

const engine = new AbuseEngine();
let observed = 0;
let busyMs = 0;
const perPass: number[] = [];
for (let pass = 0; pass < PASSES; pass++) {
  // Fresh ids and an hour later each pass: untimed, like the pipeline's decoding.
  for (let i = 0; i < pool.length; i++) {
    const e = pool[i]!;
    e.id = `bench-${pass}-${i}-aaaaaaaa`;
    e.at = T0 + pass * HOUR + Math.floor((i * HOUR) / pool.length);
  }
  const start = performance.now();
  for (const e of pool) engine.observe(e);
  const ms = performance.now() - start;
  busyMs += ms;
  observed += pool.length;
  perPass.push(pool.length / (ms / 1000));
}

const evalStart = performance.now();
const assessment = engine.assess(T0 + PASSES * HOUR);
const evalMs = performance.now() - evalStart;
const byDetector = new Map<string, number>();
for (const d of engine.detectors) byDetector.set(d.name, d.findings(T0 + PASSES * HOUR).length);
const acted = assessment.decisions.flatMap((d) => d.accountIds.map((id) => ({ id, action: d.action })));
const wrong = acted.filter((a) => a.id.startsWith('person-'));

const small = Array.from({ length: 200 }, () => t.randomNumbers(regions[0]!.blocks, 50));
const big = Array.from({ length: 20 }, () => t.randomNumbers(regions[0]!.blocks, 5000));
const time = (batches: string[][], n: number): number => {
  const s = process.hrtime.bigint();
  for (let i = 0; i < n; i++) realtimeCheck(batches[i % batches.length]!, undefined, DEFAULT_ABUSE_POLICY.realtime);
  return Number(process.hrtime.bigint() - s) / n / 1000;
};
time(small, 5000);
const smallUs = time(small, 50_000);
const bigUs = time(big, 500);

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const mem = process.memoryUsage();
const cpu = process.cpuUsage();
console.log(`pool: ${fmt(POOL)} events (mean ${meanNumbers.toFixed(1)} numbers, ${meanBlocks.toFixed(1)} blocks per event), generated in ${(genMs / 1000).toFixed(1)} s`);
console.log(`features + detectors: ${fmt(observed / (busyMs / 1000))} events/s over ${fmt(observed)} events (per pass: ${perPass.map(fmt).join(', ')}); target ≥ 50,000`);
console.log(`state: ${fmt(engine.store.accountCount)} accounts tracked; heap ${fmt(mem.heapUsed / 2 ** 20)} MiB, rss ${fmt(mem.rss / 2 ** 20)} MiB`);
console.log(
  `one evaluation: ${(evalMs / 1000).toFixed(2)} s for ${fmt(assessment.findings)} findings -> ${fmt(assessment.clusters.length)} clusters, ${fmt(assessment.decisions.length)} decisions ` +
    `(${fmt(assessment.decisions.filter((d) => d.action.startsWith('suspend')).reduce((s, d) => s + d.accountIds.length, 0))} accounts to suspend, ${fmt(FAKES)} fakes in the mix)`,
);
console.log(`findings by detector: ${[...byDetector].map(([d, n]) => `${d} ${fmt(n)}`).join(', ')}; people acted on: ${fmt(wrong.length)} (${[...new Set(wrong.map((w) => w.action))].join(', ') || 'none'})`);
console.log(`real-time check: ${smallUs.toFixed(1)} µs per 50-number batch, ${bigUs.toFixed(0)} µs per 5,000-number batch`);
console.log(`process CPU time: ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s (wall-clock rates above drop on a busy machine)`);
