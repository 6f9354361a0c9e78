import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Redis } from 'ioredis';
import { DEFAULT_STREAM_KEY } from '../abuse/bus.js';
import { fleetPartitionsKey } from '../abuse/fleet-partitions.js';
import { MAX_PARTITIONS, partitionStreamKey } from '../abuse/partitions.js';
import { CONSUMER_GROUP } from '../abuse/redis-consumer.js';
import { ConfigError } from '../config/errors.js';
import { ENV_NAMES } from '../config/env.js';
import { recordAudit } from '../incidents/audit.js';
import type { CliContext } from '../context.js';
import { closeRedis, createRedis } from '../util/redis.js';
import { withContext } from './campaigns.js';
import { cliAuditor, loadSettings, reasonArg, type CliIo } from './io.js';

function partitionCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_PARTITIONS) throw new InvalidArgumentError(`a whole number from 1 to ${MAX_PARTITIONS}`);
  return Number(value);
}

interface StreamState {
  key: string;
  length: number;
  /** The workers' group: entries not yet delivered (null: Redis cannot tell) and delivered but unacknowledged. */
  group?: { lag: number | null; pending: number };
}

/**
 * Every lookup event stream of any P that exists (the P = 1 key and `:0` … `:255`), with how far
 * the workers' group is from its end: what an operator waits on before the old P's workers stop.
 */
async function streamStates(redis: Redis, streamKey: string): Promise<StreamState[]> {
  const keys = [streamKey, ...Array.from({ length: MAX_PARTITIONS }, (_, p) => partitionStreamKey(streamKey, p, MAX_PARTITIONS))];
  const exists = (await redis.pipeline(keys.map((k) => ['exists', k])).exec()) ?? [];
  const present = keys.filter((_, i) => exists[i]?.[1] === 1);
  const states: StreamState[] = [];
  for (const key of present) {
    const length = await redis.xlen(key);
    const groups = (await redis.call('XINFO', 'GROUPS', key)) as unknown[][];
    const fields = groups.map((g) => new Map(Array.from({ length: g.length / 2 }, (_, i) => [String(g[2 * i]), g[2 * i + 1]] as const))).find((g) => g.get('name') === CONSUMER_GROUP);
    const lag = fields?.get('lag');
    states.push({ key, length, ...(fields ? { group: { lag: lag === null || lag === undefined ? null : Number(lag), pending: Number(fields.get('pending')) } } : {}) });
  }
  return states;
}

function describeStream(s: StreamState): string {
  if (!s.group) return `  ${s.key}: ${s.length} entries, no consumer group (no worker has read it)`;
  const drained = s.group.lag === 0 && s.group.pending === 0;
  return `  ${s.key}: ${s.length} entries, group ${CONSUMER_GROUP}: lag ${s.group.lag ?? 'unknown'}, pending ${s.group.pending}${drained ? ' (drained)' : ''}`;
}

/**
 * `findguard events partitions [--set N]`: the fleet's partition count as Redis keeps it (every
 * serve node and worker checks theirs against it, src/abuse/fleet-partitions.ts), and how to
 * change it. Setting it is the first step of a change: publishers on the old P stop at once (503
 * for answered calls), so the old streams can drain while the old P's workers read them. A
 * change is audit-logged like `limits accept-redis-reset`: it turns serve nodes away as that
 * turns them back. The reason stays optional, as for `operators disable`.
 */
export function eventsCommand(program: Command, io: CliIo): void {
  const events = program.command('events').description('the lookup event streams (Redis): partition count and backlog');
  events
    .command('partitions')
    .description(`show the fleet's ${ENV_NAMES.eventPartitions} (kept in Redis, checked by every serve node and worker) and each stream's backlog; --set changes it`)
    .option('--set <n>', 'make this the fleet\'s partition count: serve nodes on another fail answered calls closed (503) until redeployed with it (audit-logged)', partitionCount)
    .option('--reason <text>', 'why the count changes: kept in the audit log with --set', reasonArg)
    // Test isolation on a shared Redis only, as `worker --stream`.
    .addOption(new Option('--stream <key>').hideHelp().default(DEFAULT_STREAM_KEY))
    .action(async (opts: PartitionsOptions) => {
      const { config } = loadSettings(io);
      if (!config.redisUrl) throw new ConfigError(ENV_NAMES.redisUrl, 'is required: the partition count is kept in Redis, beside the streams');
      const redisUrl = config.redisUrl;
      // Only a change needs the database (its audit entry). It is opened before Redis is touched,
      // so a database out of reach refuses the change rather than leaving it unrecorded.
      if (opts.set !== undefined) await withContext(io, (ctx) => partitions(io, redisUrl, config.eventPartitions, opts, ctx));
      else await partitions(io, redisUrl, config.eventPartitions, opts, null);
    });
}

interface PartitionsOptions {
  set?: number;
  reason?: string;
  stream: string;
}

async function partitions(io: CliIo, redisUrl: string, configured: number, opts: PartitionsOptions, ctx: CliContext | null): Promise<void> {
  const key = fleetPartitionsKey(opts.stream);
  const redis = createRedis(redisUrl);
  try {
    const before = await redis.get(key);
    if (opts.set !== undefined && ctx) {
      await redis.set(key, String(opts.set));
      if (before !== String(opts.set)) await auditChange(ctx, io, key, before, opts.set, opts.reason);
      const was = before ?? 'unset';
      io.out(`fleet partitions (${key}): ${was} -> ${opts.set}`);
      if (before !== null && before !== String(opts.set)) {
        io.out(`Serve nodes on ${before} now fail answered calls closed (503) and publish nothing; workers on ${before} go on draining their streams.`);
        io.out(`Next: once the streams below show lag 0 and pending 0, stop the workers on ${before}, then deploy ${ENV_NAMES.eventPartitions}=${opts.set} to every worker and serve node.`);
      }
    } else {
      io.out(`fleet partitions (${key}): ${before ?? 'unset (set by the first worker to start)'}`);
    }
    io.out(`this configuration's ${ENV_NAMES.eventPartitions}: ${configured}`);
    const streams = await streamStates(redis, opts.stream);
    io.out(streams.length > 0 ? 'streams:' : 'no event streams in Redis');
    for (const s of streams) io.out(describeStream(s));
  } finally {
    await closeRedis(redis, 1000);
  }
}

async function auditChange(ctx: CliContext, io: CliIo, key: string, before: string | null, after: number, reason: string | undefined): Promise<void> {
  await recordAudit(
    ctx.db.kysely,
    {
      ...cliAuditor(io),
      action: 'events.set-partitions',
      subject: `fleet-partitions:${key}`,
      ...(reason ? { reason } : {}),
      before: { partitions: before },
      after: { partitions: String(after) },
    },
    ctx.clock.now(),
    ctx.random,
  );
}
