import type { Config, Secrets } from '../config/config.js';
import { ConfigError } from '../config/errors.js';
import { ENV_NAMES } from '../config/env.js';
import { requireFleetPartitions } from '../abuse/fleet-partitions.js';
import { createLogger } from '../logger.js';
import { createCore, type CoreContext, type CoreOverrides } from './core.js';
import { streamKeyOf } from './events.js';

/**
 * The context of `findguard worker` (atproto ozone's DaemonContext): the shared core consuming
 * lookup events from Redis for the abuse engine, deleting old ones, and delivering webhooks. It
 * serves no discovery, so it has no match store, no limits and no token verifier.
 */
export interface WorkerContext extends CoreContext {
  /** Joins the consumer group and starts consuming, retention and delivery. */
  start(): void;
  close(): Promise<void>;
}

export type WorkerOverrides = CoreOverrides;

export async function createWorkerContext(config: Config, secrets: Secrets, overrides: WorkerOverrides = {}): Promise<WorkerContext> {
  if (!config.redisUrl) {
    throw new ConfigError(ENV_NAMES.redisUrl, 'is required by findguard worker (without Redis, findguard serve consumes its events in-process)');
  }
  // A worker on another partition count than the fleet's would read streams nobody publishes to
  // (and leave theirs unread): refused before anything is opened (src/abuse/fleet-partitions.ts).
  const logger = overrides.logger ?? createLogger(config.logLevel);
  await requireFleetPartitions(config.redisUrl, streamKeyOf(overrides.events ?? {}, overrides.redisPrefix), config.eventPartitions, 'worker', logger);
  const built = await createCore(config, secrets, { ...overrides, logger }, { consume: true, deliver: true });
  return { ...built.core, start: built.start, close: built.close };
}
