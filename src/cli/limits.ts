import type { Command } from 'commander';
import { acceptLostLimitState, lostLimitsFile } from '../db/migrate.js';
import { recordAudit } from '../incidents/audit.js';
import { databaseEpoch, resetEpoch } from '../limits/redis-epoch.js';
import { createRedisLimitStore } from '../limits/redis-store.js';
import { withContext } from './campaigns.js';
import { cliAuditor, reasonArg, type CliIo } from './io.js';

/**
 * `findguard limits status|accept-redis-reset|accept-lost-state`: the Redis limits' epoch
 * (limits/redis-epoch.ts), and the embedded limits' own SQLite file (db/migrate.ts
 * checkLimitsFile). After Redis lost its keyspace every serving node fails discovery closed; after
 * the limits file went missing serve refuses to start. Accepting either is an operator's decision
 * (every budget spent before the loss is forgotten), so it takes a reason and is audit-logged.
 */
export function limitsCommand(program: Command, io: CliIo): void {
  const limits = program.command('limits').description("the limits' Redis: whether it holds what the nodes wrote; accepting a lost keyspace");
  limits
    .command('status')
    .description("the deployment's epoch in the database and in Redis (they differ after Redis lost its keyspace)")
    .action(async () => {
      await withContext(io, async (ctx) => {
        const url = ctx.config.redisUrl;
        if (!url) {
          io.out('limits are in each node\'s memory (no FINDGUARD_REDIS_URL): no Redis epoch');
          const lost = await lostLimitsFile(ctx.db.kysely);
          if (lost !== undefined) {
            io.out(`their saved state file ${lost || ':memory:'} is missing: serve refuses to start until it is restored or \`findguard limits accept-lost-state --reason TEXT\``);
            process.exitCode = 2;
          }
          return;
        }
        const store = createRedisLimitStore(url);
        try {
          const stored = await databaseEpoch(ctx.db.kysely);
          const held = await store.readEpoch();
          io.out(`database  ${stored ?? '(none yet: set by the first serving node)'}`);
          io.out(`redis     ${held ?? '(none)'}`);
          if (stored !== undefined && held !== stored) {
            io.out('Redis does not hold the limits the nodes wrote: discovery answers 503 until `findguard limits accept-redis-reset --reason TEXT`');
            process.exitCode = 2;
          } else io.out('ok');
        } finally {
          await store.close();
        }
      });
    });
  limits
    .command('accept-lost-state')
    .description("after the embedded limits' file (findguard.limits.sqlite) went missing: start an empty one, so serve starts again with every budget full (audit-logged)")
    .requiredOption('--reason <text>', 'why it is safe now: kept in the audit log', reasonArg)
    .action(async (opts: { reason: string }) => {
      await withContext(io, async (ctx) => {
        const lost = await acceptLostLimitState(ctx.db.kysely);
        if (lost === undefined) {
          io.err("the limits' saved state is where it should be (or the limits are not in SQLite): nothing to accept");
          process.exitCode = 1;
          return;
        }
        await recordAudit(
          ctx.db.kysely,
          { ...cliAuditor(io), action: 'limits.accept-lost-state', subject: 'limits:sqlite', reason: opts.reason, before: { file: lost, state: 'missing' }, after: { file: lost, state: 'empty' } },
          ctx.clock.now(),
          ctx.random,
        );
        io.out(`started an empty limits file at ${lost || ':memory:'}: serve starts again, every budget full`);
      });
    });
  limits
    .command('accept-redis-reset')
    .description('after Redis lost the limits: start a new epoch, so discovery answers again with every budget full (audit-logged)')
    .requiredOption('--reason <text>', 'why it is safe now: kept in the audit log', reasonArg)
    .action(async (opts: { reason: string }) => {
      await withContext(io, async (ctx) => {
        const url = ctx.config.redisUrl;
        if (!url) {
          io.err('no FINDGUARD_REDIS_URL: the limits are in each node\'s memory and have no Redis epoch');
          process.exitCode = 1;
          return;
        }
        const store = createRedisLimitStore(url);
        try {
          const before = { database: (await databaseEpoch(ctx.db.kysely)) ?? null, redis: await store.readEpoch() };
          const epoch = ctx.random.bytes(12).toString('base64url');
          await resetEpoch(ctx.db.kysely, store, epoch);
          await recordAudit(
            ctx.db.kysely,
            { ...cliAuditor(io), action: 'limits.accept-redis-reset', subject: 'limits:redis', reason: opts.reason, before, after: { epoch } },
            ctx.clock.now(),
            ctx.random,
          );
          io.out(`new epoch ${epoch}: serving nodes answer again within about a second, every budget full`);
        } finally {
          await store.close();
        }
      });
    });
}
