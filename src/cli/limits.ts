import type { Command } from 'commander';
import { recordAudit } from '../incidents/audit.js';
import { databaseEpoch, resetEpoch } from '../limits/redis-epoch.js';
import { createRedisLimitStore } from '../limits/redis-store.js';
import { withContext } from './campaigns.js';
import { cliAuditor, reasonArg, type CliIo } from './io.js';

/**
 * `findguard limits status|accept-redis-reset`: the Redis limits' epoch (limits/redis-epoch.ts).
 * After Redis lost its keyspace every serving node fails discovery closed; accepting the reset is
 * an operator's decision (every budget spent before the loss is forgotten), so it takes a reason
 * and is audit-logged.
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
