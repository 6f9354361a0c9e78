import { InvalidArgumentError, type Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BUILT_IN_POLICIES, type CompiledPolicy } from '../policy/index.js';
import { loadIpIntel } from '../net/index.js';
import { renderReport } from '../simulate/report-html.js';
import { harmAndCostText } from '../simulate/harm.js';
import { summaryTable } from '../simulate/summary.js';
import {
  BUILT_IN_SCENARIOS,
  InProcessDriver,
  ipSourceFrom,
  loadPolicies,
  loadScenario,
  RemoteDriver,
  REMOTE_POLICY,
  resultFileName,
  runScenario,
  ScaledOutDriver,
  type IpSource,
  type ScenarioSpec,
  type SimulationResult,
  type TimingReport,
} from '../simulate/index.js';
import type { CliIo } from './io.js';
import { progressBar } from './progress.js';

/**
 * A deployment runs on its own clock: the replay's accounts are dated by it (each as old there as the
 * scenario makes it at the run's start, a new one new), but its actions come as fast as the target
 * answers, so its figures are not comparable with the in-process ones (README, "Against a deployment").
 */
const TARGET_TIME_NOTE =
  "note: --target replays on the scenario's dates and as fast as the target answers, while the deployment runs on its own clock: accounts are dated on it (as old as the scenario makes them at the run's start, new ones new), but budgets refill and the engine evaluates in the deployment's real time while the replay covers days in minutes, so exposure and containment minutes are not comparable with an in-process run";

interface SimulateOptions {
  scenario?: string;
  all: boolean;
  seed?: number;
  accounts?: number;
  out: string;
  policy?: string[];
  target?: string;
  serviceKey?: string;
  jwtSecret?: string;
  matchWorkers?: number;
  keepData?: boolean;
  scaledOut?: boolean;
  partitions?: number;
}

const int = (min: number, max: number) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
  return Number(v);
};

/** `--policy a,b --policy c` gives [a, b, c]. */
const policyList = (v: string, previous: string[] | undefined): string[] => {
  const names = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new InvalidArgumentError('give a policy name or file');
  return [...(previous ?? []), ...names];
};

export function simulateCommand(program: Command, io: CliIo): void {
  program
    .command('simulate')
    .description('replay known enumeration incidents against findguard and measure what leaks')
    .option('--scenario <name|file>', `a built-in scenario (${Object.keys(BUILT_IN_SCENARIOS).join(', ')}) or a JSON scenario file; comma-separate several for one combined report`)
    .option('--all', 'run every built-in scenario and write one combined report', false)
    .option('--seed <n>', 'seed (same seed, same result, byte for byte)', int(0, 2 ** 31 - 1))
    .option('--accounts <n>', 'population at the start (overrides the scenario)', int(100, 20_000_000))
    .option('--out <dir>', 'where to write result JSON and the HTML report', 'sim-out')
    .option(
      '--policy <name|file>',
      `in-process: limits policy, built-in (${Object.keys(BUILT_IN_POLICIES).join(', ')}) or a JSON/YAML file; repeat or comma-separate to run each scenario under each (default: default)`,
      policyList,
    )
    .option('--target <url>', 'drive a running findguard over real HTTP (wall clock) instead of one in this process')
    .option('--service-key <key>', 'with --target: the internal API key')
    .option('--jwt-secret <secret>', "with --target: the deployment's HS256 secret, to sign simulated users' JWTs")
    .option('--match-workers <n>', 'in-process: match worker threads', int(0, 16))
    .option(
      '--scaled-out',
      'in this process, as deployed scaled out: two serving nodes and a worker sharing only PostgreSQL (a scratch database on the server of FINDGUARD_DATABASE_URL, dropped after) and Redis (FINDGUARD_REDIS_URL)',
      false,
    )
    .option('--partitions <n>', "with --scaled-out: the worker's engine in this many partitions and its global stage (FINDGUARD_EVENT_PARTITIONS; default 1)", int(1, 256))
    .option('--keep-data', "in-process: keep each run's data directory (SQLite, keys) to inspect with FINDGUARD_DATA_DIR=<dir> findguard campaigns list")
    .action(async (opts: SimulateOptions, cmd: Command) => {
      // cmd.error prints the message; an InvalidArgumentError thrown here would exit without one.
      if (!opts.all && !opts.scenario) cmd.error('error: give --scenario NAME|FILE or --all');
      if (opts.target && (!opts.serviceKey || !opts.jwtSecret)) cmd.error('error: --target needs --service-key and --jwt-secret');
      if (opts.scaledOut && (opts.target || opts.keepData)) cmd.error('error: --scaled-out runs in this process on a scratch database: not with --target or --keep-data');
      if (opts.partitions !== undefined && !opts.scaledOut) cmd.error('error: --partitions is for --scaled-out (an in-process run has one engine)');
      if (opts.scaledOut && (!/^postgres(ql)?:/.test(io.env.FINDGUARD_DATABASE_URL ?? '') || !io.env.FINDGUARD_REDIS_URL)) {
        cmd.error('error: --scaled-out needs FINDGUARD_DATABASE_URL=postgres://... (a server it may create a scratch database on) and FINDGUARD_REDIS_URL');
      }
      if (opts.target && opts.policy) {
        cmd.error(`error: --policy cannot be used with --target: a deployment runs its own policy (results record it as "${REMOTE_POLICY}")`);
      }
      if (opts.target) io.err(TARGET_TIME_NOTE);
      const names = opts.all ? Object.keys(BUILT_IN_SCENARIOS) : opts.scenario!.split(',').map((n) => n.trim()).filter((n) => n !== '');
      // undefined stands for the deployment's own policy: one run per scenario.
      const policies: Array<CompiledPolicy | undefined> = opts.target ? [undefined] : loadPolicies(opts.policy ?? ['default'], io.cwd);
      const comparing = policies.length > 1;
      const ips = ipSourceFrom(await loadIpIntel());
      const results: SimulationResult[] = [];
      const timings: TimingReport[] = [];
      const out = resolve(io.cwd, opts.out);
      mkdirSync(out, { recursive: true });
      for (const name of names) {
        for (const policy of policies) {
          const spec = loadScenario(name);
          if (opts.seed !== undefined) spec.seed = opts.seed;
          if (opts.accounts !== undefined) spec.population.accounts = opts.accounts;
          const label = comparing && policy ? `${spec.name} (${policy.name})` : spec.name;
          const { result, timing } = await runOne(io, opts, spec, ips, label, policy);
          results.push(result);
          timings.push(timing);
          writeFileSync(join(out, resultFileName(spec.name, result.policy, comparing)), JSON.stringify(result, null, 2) + '\n');
          io.err(`${label}: ${result.events.toLocaleString('en-US')} events in ${timing.wallSeconds.toFixed(1)} s`);
        }
      }
      writeFileSync(join(out, 'timing.json'), JSON.stringify(timings, null, 2) + '\n');
      if (opts.all) writeFileSync(join(out, 'all.json'), JSON.stringify(results, null, 2) + '\n');
      writeFileSync(join(out, 'report.html'), renderReport(results, timings));
      io.out(summaryTable(results));
      io.out(harmAndCostText(results));
      io.out(`\nresults and report.html in ${out}`);
    });
}

/** One scenario under one policy (undefined: against --target), with a progress bar. */
async function runOne(
  io: CliIo,
  opts: SimulateOptions,
  spec: ScenarioSpec,
  ips: IpSource,
  label: string,
  policy: CompiledPolicy | undefined,
): Promise<{ result: SimulationResult; timing: TimingReport }> {
  const started = Date.now();
  const bar = progressBar(io, spec.days * 24, `${label} [{bar}] {value}/{total} simulated hours | {events} events | {rate} events/s`, 'simulated hours');
  const { result, timing } = await runScenario(
    spec,
    ips,
    (world) =>
      opts.target
        ? Promise.resolve(new RemoteDriver(opts.target, opts.serviceKey!, opts.jwtSecret!))
        : opts.scaledOut
          ? ScaledOutDriver.create(world, {
            postgresUrl: io.env.FINDGUARD_DATABASE_URL!,
            redisUrl: io.env.FINDGUARD_REDIS_URL!,
            ...(policy ? { policy } : {}),
            ...(opts.partitions !== undefined ? { partitions: opts.partitions } : {}),
          })
          : InProcessDriver.create(world, {
            ...(opts.matchWorkers !== undefined ? { matchWorkers: opts.matchWorkers } : {}),
            ...(policy ? { policy } : {}),
            ...(opts.keepData ? { keepData: (dir: string) => io.err(`${label}: data kept in ${dir}`) } : {}),
          }),
    (p, world) => {
      const hours = Math.max(0, Math.floor((p.simulatedAt - world.start) / 3_600_000));
      const rate = Math.round(p.events / Math.max(0.001, (Date.now() - started) / 1000));
      bar.update(p.phase === 'seeding' ? 0 : hours, { events: p.events, rate });
    },
  );
  bar.update(spec.days * 24, { events: result.events, rate: timing.eventsPerSecond });
  bar.stop();
  return { result, timing };
}
