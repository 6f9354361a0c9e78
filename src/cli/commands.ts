import { InvalidArgumentError, type Command } from 'commander';
import { createReadStream, statSync } from 'node:fs';
import { createCliContext, migrate } from '../context.js';
import { openDb } from '../db/dialect.js';
import { createLogger } from '../logger.js';
import { importNdjson, MAX_IMPORT_LINE_BYTES, type ImportReport } from '../directory/import.js';
import { maxDevTokenSeconds, signDevToken } from '../http/auth/jwt.js';
import { readLines } from '../util/lines.js';
import { subjectArg } from './accounts.js';
import { loadSettings, type CliIo } from './io.js';
import { progressBar } from './progress.js';
import { seedDirectory } from './seeding.js';

function positiveInt(max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
      throw new InvalidArgumentError(`must be a whole number from 1 to ${max}`);
    }
    return Number(value);
  };
}

function printReport(io: CliIo, report: ImportReport, seconds: number): void {
  io.out(
    `${report.accounts.toLocaleString('en-US')} accounts, ${report.contactPoints.toLocaleString('en-US')} contact points ` +
      `from ${report.lines.toLocaleString('en-US')} lines in ${seconds.toFixed(1)} s; ${report.failed} lines failed`,
  );
  for (const e of report.errors.slice(0, 20)) io.out(`  line ${e.line}: ${e.code}: ${e.message}`);
  if (report.failed > 20) io.out(`  (${report.failed - 20} more)`);
}

export function migrateCommand(program: Command, io: CliIo): void {
  program
    .command('migrate')
    .description('apply database migrations and exit')
    .action(async () => {
      const { config } = loadSettings(io);
      const db = openDb(config.database);
      try {
        const result = await migrate(db, createLogger('silent'));
        const applied = result.results ?? [];
        if (applied.length === 0) io.out('database is up to date');
        for (const r of applied) io.out(`${r.status === 'Success' ? 'applied' : r.status}: ${r.migrationName}`);
        if (result.eventsFileRestarted) io.out(`the lookup events file was missing: started a new, empty one at ${result.eventsFileRestarted}`);
      } finally {
        await db.close();
      }
    });
}

export function seedCommand(program: Command, io: CliIo): void {
  program
    .command('seed')
    .description('add a synthetic population (valid mobile numbers in many countries) to the directory')
    .requiredOption('--accounts <n>', 'how many accounts', positiveInt(50_000_000))
    .option('--seed <n>', 'generator seed (same seed, same population)', positiveInt(2 ** 31 - 1), 1)
    .action(async (opts: { accounts: number; seed: number }) => {
      const { config, secrets } = loadSettings(io);
      const ctx = await createCliContext(config, secrets);
      try {
        const started = Date.now();
        const bar = progressBar(io, opts.accounts, 'seed [{bar}] {percentage}% {value}/{total} accounts | {rate}/s', 'accounts');
        const { report } = await seedDirectory(ctx, { ...opts, now: ctx.clock.now() }, (r) => {
          const s = (Date.now() - started) / 1000;
          bar.update(r.accounts, { rate: Math.round(r.accounts / Math.max(s, 0.001)) });
        });
        bar.stop();
        printReport(io, report, (Date.now() - started) / 1000);
        if (report.failed > 0) process.exitCode = 1;
      } finally {
        await ctx.close();
      }
    });
}

export function importCommand(program: Command, io: CliIo): void {
  program
    .command('import')
    .description('bulk-import accounts and contact points from an NDJSON file (one account per line)')
    .argument('<file>', 'NDJSON file; "-" reads standard input')
    .action(async (file: string) => {
      const { config, secrets } = loadSettings(io);
      const ctx = await createCliContext(config, secrets);
      try {
        const started = Date.now();
        const size = file === '-' ? 0 : statSync(file).size;
        const bar = progressBar(io, size, 'import [{bar}] {percentage}% | {accounts} accounts | {points} contact points', 'bytes');
        let bytes = 0;
        let last: ImportReport | undefined;
        const input = file === '-' ? process.stdin : createReadStream(file);
        const report = await importNdjson(
          ctx.directory,
          readLines(input, MAX_IMPORT_LINE_BYTES, (n) => (bytes += n)),
          (r) => {
            last = r;
            bar.update(bytes, { accounts: r.accounts, points: r.contactPoints });
          },
        );
        bar.update(size, { accounts: last?.accounts ?? 0, points: last?.contactPoints ?? 0 });
        bar.stop();
        printReport(io, report, (Date.now() - started) / 1000);
        if (report.failed > 0) process.exitCode = 1;
      } finally {
        await ctx.close();
      }
    });
}

export function devTokenCommand(program: Command, io: CliIo): void {
  program
    .command('dev-token')
    .description('print a JWT for an account, signed with the local HS256 secret (for curl and tests)')
    // Checked by commander's argument parser, so a bad id is reported on stderr: an
    // InvalidArgumentError thrown from the action would exit 1 without any message.
    .argument('<accountId>', 'the account id (the JWT subject)', subjectArg)
    .option('--ttl <seconds>', 'lifetime in seconds (at most FINDGUARD_JWT_MAX_LIFETIME, when set)', positiveInt(365 * 24 * 3600), 24 * 3600)
    .action(async (accountId: string, opts: { ttl: number }) => {
      const { secrets } = loadSettings(io);
      const ttl = maxDevTokenSeconds(secrets.jwt, opts.ttl);
      if (ttl < opts.ttl) io.err(`FINDGUARD_JWT_MAX_LIFETIME caps the token at ${ttl} seconds`);
      io.out(await signDevToken(secrets.jwt, accountId, Date.now(), ttl));
    });
}
