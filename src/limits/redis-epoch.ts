import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';

/**
 * Whether the Redis that holds the limits still holds what the nodes wrote. A Redis that comes
 * back empty (a restart without an append-only file, a FLUSHALL, a failover to a replica the last
 * writes had not reached) reads every bucket as full: every caller spent to nothing would be
 * answered again at once, and nothing would notice (test/review/redis-restart-fresh-budget).
 *
 * So the deployment has an epoch: a random id kept in the database (findguard_meta, durable) and
 * in Redis (a key with no TTL, written beside the buckets). Every apply and every used-proof mark
 * checks, in the same Lua script, that Redis still holds the epoch the node expects; when it does
 * not, the call fails closed (503, LimitStateLostError) and the node logs why. Only an operator
 * ends that (`findguard limits accept-redis-reset`): a new epoch in both places, knowing that the
 * budgets spent before the loss are forgotten. The nodes re-read the database's epoch while they
 * see the mismatch (at most once a second), so they resume within a second or so of it.
 *
 * findguard's own idea, so written here: nothing generic detects a lost keyspace.
 */

/** The epoch's row in findguard_meta. */
export const EPOCH_META_KEY = 'limits.redis-epoch';
/** The epoch's key in Redis, after the limits' prefix. */
export const EPOCH_REDIS_KEY = 'epoch';

/** What the epoch check needs of the Redis limits store (RedisLimitStore implements it). */
export interface EpochRedis {
  readEpoch(): Promise<string | null>;
  /** Writes the epoch if Redis has none (NX), or always with `force`; returns what Redis holds after. */
  writeEpoch(epoch: string, force?: boolean): Promise<string | null>;
}

export async function databaseEpoch(db: Kysely<Database>): Promise<string | undefined> {
  const row = await db.selectFrom('findguard_meta').select('value').where('key', '=', EPOCH_META_KEY).executeTakeFirst();
  return row?.value;
}

/**
 * The epoch this node expects, established at its start. First start of a deployment (neither
 * place has one): a new epoch in both; an upgrade where Redis already has one but the database
 * not (another node got there first): the database adopts it. Redis without the database's epoch:
 * the keyspace was lost, and the node starts expecting the database's, so its calls fail closed
 * until an operator accepts the reset.
 */
export async function establishEpoch(db: Kysely<Database>, redis: EpochRedis, newEpoch: () => string, logger: Logger): Promise<string> {
  const stored = await databaseEpoch(db);
  // The usual start: the database says what to expect, and Redis need not be in reach (a node starts
  // during a Redis blip and fails its calls closed until Redis answers, as it always has). A Redis
  // that came back without the epoch is caught by the calls' own check, and said then.
  if (stored !== undefined) return stored;
  const candidate = (await redis.readEpoch().catch(() => null)) ?? newEpoch();
  await db.insertInto('findguard_meta').values({ key: EPOCH_META_KEY, value: candidate }).onConflict((oc) => oc.column('key').doNothing()).execute();
  const first = (await databaseEpoch(db))!;
  // Only a deployment's first epoch is written to Redis (NX: nodes starting together agree), and
  // only here: writing the database's epoch into a Redis that lacks it later would accept the loss
  // this is here to catch. Redis away at the very first start: written when it answers.
  if (!(await writeFirstEpoch(redis, first, logger))) void retryFirstEpoch(redis, first, logger);
  return first;
}

/** One attempt (NX); false when Redis did not answer. */
async function writeFirstEpoch(redis: EpochRedis, epoch: string, logger: Logger): Promise<boolean> {
  try {
    const held = await redis.writeEpoch(epoch);
    if (held !== epoch) logLost(logger, held);
    return true;
  } catch {
    return false;
  }
}

async function retryFirstEpoch(redis: EpochRedis, epoch: string, logger: Logger): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt++) {
    await new Promise((r) => setTimeout(r, 1000).unref());
    if (await writeFirstEpoch(redis, epoch, logger)) return;
  }
  logger.error("could not write the limits' first epoch to Redis for 10 minutes: discovery answers 503 until `findguard limits accept-redis-reset`");
}

/** Says, at error level, that Redis lost the limits and what ends the refusal. */
export function logLost(logger: Logger, held: string | null): void {
  logger.error(
    { redisEpoch: held },
    `Redis does not hold the limits this deployment wrote (${held === null ? 'its epoch key is gone: a restart without persistence, a FLUSHALL or a failover' : 'another epoch: another deployment\'s Redis or prefix'}); ` +
      'every bucket would read as full, so discovery answers 503 until an operator runs `findguard limits accept-redis-reset --reason TEXT`',
  );
}

/** An operator's acceptance of a lost keyspace: a new epoch in the database, then in Redis. */
export async function resetEpoch(db: Kysely<Database>, redis: EpochRedis, epoch: string): Promise<void> {
  await db
    .insertInto('findguard_meta')
    .values({ key: EPOCH_META_KEY, value: epoch })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: epoch }))
    .execute();
  await redis.writeEpoch(epoch, true);
}
