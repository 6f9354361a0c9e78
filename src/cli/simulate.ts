import { InvalidArgumentError, type Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadIpIntel } from '../net/index.js';
import { renderReport } from '../simulate/report-html.js';
import { summaryTable } from '../simulate/summary.js';
import {
  BUILT_IN_SCENARIOS,
  InProcessDriver,
  ipSourceFrom,
  loadScenario,
  RemoteDriver,
  runScenario,
  type SimulationResult,
  type TimingReport,
} from '../simulate/index.js';
import type { CliIo } from './io.js';
import { progressBar } from './progress.js';

interface SimulateOptions {
  scenario?: string;
  all: boolean;
  seed?: number;
  accounts?: number;
  out: string;
  target?: string;
  serviceKey?: string;
  jwtSecret?: string;
  matchWorkers?: number;
}

const int = (min: number, max: number) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
  return Number(v);
};

export function simulateCommand(program: Command, io: CliIo): void {
  program
    .command('simulate')
    .description('replay known enumeration incidents against findguard and measure what leaks')
    .option('--scenario <name|file>', `a built-in scenario (${Object.keys(BUILT_IN_SCENARIOS).join(', ')}) or a JSON scenario file`)
    .option('--all', 'run every built-in scenario and write one combined report', false)
    .option('--seed <n>', 'seed (same seed, same result, byte for byte)', int(0, 2 ** 31 - 1))
    .option('--accounts <n>', 'population at the start (overrides the scenario)', int(100, 20_000_000))
    .option('--out <dir>', 'where to write result JSON and the HTML report', 'sim-out')
    .option('--target <url>', 'drive a running findguard over real HTTP (wall clock) instead of one in this process')
    .option('--service-key <key>', 'with --target: the internal API key')
    .option('--jwt-secret <secret>', "with --target: the deployment's HS256 secret, to sign simulated users' JWTs")
    .option('--match-workers <n>', 'in-process: match worker threads', int(0, 16))
    .action(async (opts: SimulateOptions) => {
      if (!opts.all && !opts.scenario) throw new InvalidArgumentError('give --scenario NAME|FILE or --all');
      if (opts.target && (!opts.serviceKey || !opts.jwtSecret)) throw new InvalidArgumentError('--target needs --service-key and --jwt-secret');
      const names = opts.all ? Object.keys(BUILT_IN_SCENARIOS) : [opts.scenario!];
      const ips = ipSourceFrom(await loadIpIntel());
      const results: SimulationResult[] = [];
      const timings: TimingReport[] = [];
      const out = resolve(io.cwd, opts.out);
      mkdirSync(out, { recursive: true });
      for (const name of names) {
        const spec = loadScenario(name);
        if (opts.seed !== undefined) spec.seed = opts.seed;
        if (opts.accounts !== undefined) spec.population.accounts = opts.accounts;
        const started = Date.now();
        const bar = progressBar(io, spec.days * 24, `${spec.name} [{bar}] {value}/{total} simulated hours | {events} events | {rate} events/s`, 'simulated hours');
        const { result, timing } = await runScenario(
          spec,
          ips,
          (world) =>
            opts.target
              ? Promise.resolve(new RemoteDriver(opts.target, opts.serviceKey!, opts.jwtSecret!))
              : InProcessDriver.create(world, opts.matchWorkers !== undefined ? { matchWorkers: opts.matchWorkers } : {}),
          (p, world) => {
            const hours = Math.max(0, Math.floor((p.simulatedAt - world.start) / 3_600_000));
            const rate = Math.round(p.events / Math.max(0.001, (Date.now() - started) / 1000));
            bar.update(p.phase === 'seeding' ? 0 : hours, { events: p.events, rate });
          },
        );
        bar.update(spec.days * 24, { events: result.events, rate: timing.eventsPerSecond });
        bar.stop();
        results.push(result);
        timings.push(timing);
        writeFileSync(join(out, `${spec.name}.json`), JSON.stringify(result, null, 2) + '\n');
        io.err(`${spec.name}: ${result.events.toLocaleString('en-US')} events in ${timing.wallSeconds.toFixed(1)} s`);
      }
      writeFileSync(join(out, 'timing.json'), JSON.stringify(timings, null, 2) + '\n');
      if (opts.all) writeFileSync(join(out, 'all.json'), JSON.stringify(results, null, 2) + '\n');
      writeFileSync(join(out, 'report.html'), renderReport(results, timings));
      io.out(summaryTable(results));
      io.out(`\nresults and report.html in ${out}`);
    });
}
