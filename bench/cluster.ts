/**
 * `npx tsx bench/cluster.ts`: clustering a million accounts (the abuse-engine issue's target: ≤ 60 s).
 *
 * The synthetic evidence graph has the shape the detectors produce: every account a node; most
 * organic accounts have no link at all, some have a weak one (a family device, a carrier-NAT
 * coincidence); a few thousand attacker clusters are wired as their evidence is (device groups of
 * five joined strongly, shared addresses and in-step links of medium weight), a few of them
 * bridged by a weak link to an organic account, which Louvain must cut.
 * BENCH_ACCOUNTS, BENCH_CLUSTERS and BENCH_SEED override the sizes.
 */
import { EvidenceGraph } from '../src/abuse/cluster/graph.js';
import { clusterAccounts } from '../src/abuse/cluster/cluster.js';
import { DEFAULT_ABUSE_POLICY } from '../src/policy/index.js';
import { SeededRandom } from '../src/util/random.js';

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 1_000_000);
const ATTACK_CLUSTERS = Number(process.env.BENCH_CLUSTERS ?? 3000);
const SEED = Number(process.env.BENCH_SEED ?? 7);

const rng = new SeededRandom(SEED);
const id = (i: number): string => `acct-${String(i).padStart(7, '0')}`;

const t0 = performance.now();
const g = new EvidenceGraph();
for (let i = 0; i < ACCOUNTS; i++) g.addAccount(id(i));

// Attackers take the top of the id space, in clusters of 5 to ~400 (log-uniform).
const truth: number[][] = [];
let next = ACCOUNTS;
for (let c = 0; c < ATTACK_CLUSTERS; c++) {
  const size = Math.round(Math.exp(Math.log(5) + rng.float() * (Math.log(400) - Math.log(5))));
  if (next - size < ACCOUNTS * 0.5) break;
  next -= size;
  const members = Array.from({ length: size }, (_, k) => next + k);
  truth.push(members);
  // Devices shared by five: strong.
  for (let k = 0; k < size; k += 5) g.group(members.slice(k, k + 5).map(id), 0.8 + 0.2 * rng.float(), 'coordination');
  // Hosting addresses shared by ~9, across device groups: medium.
  const ips = Math.max(1, Math.round(size / 9));
  const byIp: string[][] = Array.from({ length: ips }, () => []);
  for (const m of members) byIp[rng.int(ips)]!.push(id(m));
  for (const list of byIp) g.group(list, 0.3 + 0.4 * rng.float(), 'coordination');
  // In-step links between random pairs and a sign-up burst over part of the cluster.
  for (let k = 0; k < size; k++) g.link(id(members[rng.int(size)]!), id(members[rng.int(size)]!), 0.2 + 0.5 * rng.float(), 'coordination');
  if (rng.float() < 0.3) g.group(members.slice(0, Math.min(size, 40)).map(id), 0.6, 'farming');
  // A stray weak bridge to an organic account.
  if (rng.float() < 0.1) g.link(id(members[0]!), id(rng.int(ACCOUNTS / 2)), 0.1, 'coordination');
}
const attackers = ACCOUNTS - next;

// Organic: 10% of accounts in weak pairs or family triples, a few CGNAT coincidences chained.
const organicLinked = Math.round(next * 0.1);
for (let k = 0; k < organicLinked; k += 3) {
  const a = rng.int(next);
  g.link(id(a), id(Math.min(next - 1, a + 1)), 0.05 + 0.25 * rng.float(), 'coordination');
  if (rng.float() < 0.3) g.link(id(a), id(Math.min(next - 1, a + 2)), 0.05 + 0.2 * rng.float(), 'coordination');
  if (rng.float() < 0.2) g.link(id(a), id(rng.int(next)), 0.06, 'coordination');
}
const buildMs = performance.now() - t0;

const p = DEFAULT_ABUSE_POLICY.cluster;
const t1 = performance.now();
const result = clusterAccounts(g, { strongLink: p.strongLink, minLink: p.minLink, resolution: p.resolution, seed: p.seed });
const clusterMs = performance.now() - t1;

// How well the attacker clusters came back: share of attackers whose cluster is mostly their own.
const clusterOf = new Map<string, number>();
result.clusters.forEach((c, i) => c.forEach((a) => clusterOf.set(a, i)));
let recovered = 0;
for (const members of truth) {
  const votes = new Map<number, number>();
  for (const m of members) {
    const c = clusterOf.get(id(m));
    if (c !== undefined) votes.set(c, (votes.get(c) ?? 0) + 1);
  }
  const [best, n] = [...votes.entries()].sort((a, b) => b[1] - a[1])[0] ?? [-1, 0];
  if (best >= 0 && n === members.length) recovered += n;
}

const mem = process.memoryUsage();
console.log(`accounts: ${ACCOUNTS.toLocaleString('en-US')} (${attackers.toLocaleString('en-US')} attackers in ${truth.length} clusters)`);
console.log(`graph: ${g.order.toLocaleString('en-US')} nodes, ${g.size.toLocaleString('en-US')} edges, built in ${(buildMs / 1000).toFixed(1)} s`);
console.log(
  `clustering: ${(clusterMs / 1000).toFixed(1)} s (components ${(result.timings.components / 1000).toFixed(1)} s, contract ${(result.timings.contract / 1000).toFixed(1)} s, ` +
    `louvain ${(result.timings.louvain / 1000).toFixed(1)} s, expand ${(result.timings.expand / 1000).toFixed(1)} s); target ≤ 60 s`,
);
console.log(`clusters of 2+: ${result.clusters.length.toLocaleString('en-US')}, singletons: ${result.singletons.length.toLocaleString('en-US')}, strong components: ${result.strongComponents.toLocaleString('en-US')}`);
console.log(`attacker clusters recovered whole: ${((100 * recovered) / Math.max(1, attackers)).toFixed(1)}% of attacker accounts`);
console.log(`heap used: ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB, rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB`);
const cpu = process.cpuUsage();
console.log(`process CPU time: ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s (wall-clock figures above inflate on a busy machine)`);
