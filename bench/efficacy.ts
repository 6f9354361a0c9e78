/**
 * Every built-in scenario under default, signal-like and hagen-incremental in one run (issue 15
 * point 5): exposure, time to contain, organic harm and attacker cost per 1,000 exposed, as a
 * markdown table in .bench/efficacy.md (and every result's JSON plus one HTML report beside it).
 *
 *   npm run bench:efficacy [-- --accounts 10000 --jobs 2 --scenarios a,b --policies p,q] [--collect]
 *
 * Each (scenario, policy) run is its own process (--one), `jobs` at a time; a run is a pure
 * function of its seed, so the order they finish in changes nothing. Scenarios keep their own
 * length in days (slow-drip: 90); only the population is scaled to --accounts.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadIpIntel } from '../src/net/index.js';
import { loadPolicy } from '../src/policy/index.js';
import { BUILT_IN_SCENARIOS, InProcessDriver, ipSourceFrom, loadScenario, runScenario, type SimulationResult } from '../src/simulate/index.js';
import { hours, reasonsText } from '../src/simulate/harm.js';
import { SIMULATED_HASH_RATE } from '../src/simulate/pow.js';
import { renderReport } from '../src/simulate/report-html.js';
import { formatCost, formatInt, formatPercent } from '../src/simulate/summary.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, '.bench');
const RUNS = join(OUT, 'efficacy');
const POLICIES = ['default', 'signal-like', 'hagen-incremental'];

const { values } = parseArgs({
  options: {
    accounts: { type: 'string', default: '10000' },
    jobs: { type: 'string', default: '2' },
    scenarios: { type: 'string' },
    policies: { type: 'string' },
    one: { type: 'string' },
    /** Only write the table from the runs already under .bench/efficacy/ (say which are missing). */
    collect: { type: 'boolean', default: false },
  },
});
const accounts = Number(values.accounts);
const fileOf = (scenario: string, policy: string) => join(RUNS, `${scenario}.${policy}.json`);

interface Run {
  result: SimulationResult;
  wallSeconds: number;
  /** CPU this run's process used (user + system): what the machine's other load does not change. */
  cpuSeconds?: number;
}

/** One scenario under one policy, in this process: the child's whole job. */
async function runOne(scenario: string, policy: string): Promise<void> {
  const ips = ipSourceFrom(await loadIpIntel());
  const spec = loadScenario(scenario);
  spec.population.accounts = accounts;
  const started = Date.now();
  const { result } = await runScenario(spec, ips, (w) => InProcessDriver.create(w, { policy: loadPolicy(policy) }));
  const cpu = process.cpuUsage();
  const run: Run = { result, wallSeconds: Math.round((Date.now() - started) / 100) / 10, cpuSeconds: Math.round((cpu.user + cpu.system) / 100_000) / 10 };
  writeFileSync(fileOf(scenario, policy), JSON.stringify(run) + '\n');
}

function child(scenario: string, policy: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
    const p = spawn(tsx, [fileURLToPath(import.meta.url), '--one', `${scenario}@${policy}`, '--accounts', String(accounts)], { stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${scenario} under ${policy}: exit ${code}`))));
  });
}

/** Longest first, so the last job to start is a short one. */
const WEIGHT: Record<string, number> = { 'slow-drip': 9, 'leaked-list': 5, 'leaked-list-by-country': 5, sleepers: 5, 'twitter-2019': 4, 'residential-aged': 4, 'launch-day': 3 };

function markdown(runs: Run[]): string {
  const head = ['scenario', 'policy', 'attacker', 'exposure %', 'time to contain', 'organic suspended %', 'organic syncs refused %', 'launch-day first syncs refused', 'organic harm by', 'accounts per 1,000 exposed', 'aged local accounts per 1,000 exposed', 'PoW CPU-hours per 1,000 exposed', '"my contacts" users exposed outside their books', 'wall s', 'CPU s'];
  const right = [false, false, false, true, true, true, true, true, false, true, true, true, true, true, true];
  const rows: string[][] = [];
  for (const { result: r, wallSeconds, cpuSeconds } of runs) {
    const o = r.organic;
    // Which rule the harm came from: suspensions by cause, then refused syncs by reason.
    const by = [o.suspendedBy && Object.keys(o.suspendedBy).length > 0 ? `suspended: ${reasonsText(o.suspendedBy, 2)}` : '', o.syncsRefused > 0 ? `refused: ${reasonsText(o.syncsRefusedByReason, 2)}` : ''].filter(Boolean).join('; ') || '—';
    const organic = [formatPercent(o.suspendedShare), formatPercent(o.syncRefusedShare), o.surge ? `${formatInt(o.surge.firstSyncsRefused)} of ${formatInt(o.surge.firstSyncs)}` : '—', by.replace(/\|/g, '/')];
    // Issue 15: users in "my contacts" mode are revealed only to callers in their own books, under every scenario.
    const contacts = r.contactsMode ? `${formatInt(r.contactsMode.exposedOutsideBook)} of ${formatInt(r.contactsMode.users)}` : '—';
    const attackers = r.attackers.length > 0 ? r.attackers : [undefined];
    for (const a of attackers) {
      const contain = !a ? '—' : a.containment.contained ? `${formatInt(a.containment.minutes ?? 0)} min` : 'not contained';
      const cost = (x: number | null | undefined, f: (n: number) => string) => (x === null || x === undefined ? '—' : f(x));
      rows.push([
        r.scenario,
        r.policy,
        a ? a.name : '(organic only)',
        a && a.targets > 0 ? formatPercent(a.exposure) : '—',
        contain,
        ...organic,
        cost(a?.cost.accountsPer1000Exposed, formatCost),
        cost(a?.cost.agedLocalAccountsPer1000Exposed, formatCost),
        cost(a?.cost.powCpuHoursPer1000Exposed, hours),
        contacts,
        String(wallSeconds),
        cpuSeconds === undefined ? '—' : String(cpuSeconds),
      ]);
    }
  }
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), `|${right.map((r) => (r ? '---:' : ':---')).join('|')}|`, ...rows.map(line)].join('\n') + '\n';
}

/**
 * SHA-256 per CPU-second here, the client solver's way (hash-state copy + digest per nonce), on
 * one core for about a second: per CPU-second, so other load on the machine does not lower it.
 */
function measureHashRate(): number {
  const base = createHash('sha256').update(randomBytes(12));
  const before = process.cpuUsage();
  const until = Date.now() + 1000;
  let n = 0;
  while (Date.now() < until) for (let k = 0; k < 1000; k++, n++) base.copy().update(String(n), 'utf8').digest();
  const used = process.cpuUsage(before);
  return Math.round(n / ((used.user + used.system) / 1e6));
}

if (values.one) {
  const [scenario, policy] = values.one.split('@') as [string, string];
  await runOne(scenario, policy);
} else {
  const scenarios = values.scenarios ? values.scenarios.split(',') : Object.keys(BUILT_IN_SCENARIOS);
  const policies = values.policies ? values.policies.split(',') : POLICIES;
  mkdirSync(RUNS, { recursive: true });
  const jobs = scenarios.flatMap((s) => policies.map((p) => ({ s, p }))).sort((a, b) => (WEIGHT[b.s] ?? 1) - (WEIGHT[a.s] ?? 1));
  const started = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const { s, p } = jobs[next++]!;
      const t = Date.now();
      await child(s, p);
      console.log(`${s} under ${p}: ${((Date.now() - t) / 1000).toFixed(0)} s (${((Date.now() - started) / 60_000).toFixed(1)} min in)`);
    }
  };
  if (!values.collect) await Promise.all(Array.from({ length: Math.max(1, Number(values.jobs)) }, worker));
  // Back in the order asked for: scenarios as listed, each under the policies in order.
  const wanted = scenarios.flatMap((s) => policies.map((p) => ({ s, p })));
  const missing = wanted.filter(({ s, p }) => !existsSync(fileOf(s, p))).map(({ s, p }) => `${s} under ${p}`);
  const runs = wanted.filter(({ s, p }) => existsSync(fileOf(s, p))).map(({ s, p }) => JSON.parse(readFileSync(fileOf(s, p), 'utf8')) as Run);
  const cpu = runs.reduce((sum, r) => sum + (r.cpuSeconds ?? 0), 0);
  const minutes = values.collect ? `${(cpu / 60).toFixed(1)} CPU-min` : `${((Date.now() - started) / 60_000).toFixed(1)} min with ${values.jobs} jobs`;
  const rate = measureHashRate();
  const md = `# Efficacy: every scenario under ${policies.join(', ')}\n\n${formatInt(accounts)} accounts at the start of each scenario, each scenario its own length in days; ${runs.length} runs in ${minutes} (npm run bench:efficacy).${missing.length > 0 ? ` Not run: ${missing.join(', ')}.` : ''} Proof-of-work is charged at ${formatInt(SIMULATED_HASH_RATE)} SHA-256/s per device unless a scenario says otherwise; this machine hashes ${formatInt(rate)} per CPU-second on one core (measured after the runs).\n\n${markdown(runs)}`;
  writeFileSync(join(OUT, 'efficacy.md'), md);
  writeFileSync(join(RUNS, 'report.html'), renderReport(runs.map((r) => r.result), []));
  console.log(md);
}
