import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { partitionStreamKey, summariesStreamKey } from '../abuse/partitions.js';
import { CONSUMER_GROUP } from '../abuse/redis-consumer.js';
import { GLOBAL_GROUP } from '../abuse/sharded.js';
import { groupOf } from '../abuse/redis-stream.js';
import { injectTransport, type Transport } from '../client/index.js';
import { buildSettings } from '../config/config.js';
import { createWorkerContext, type WorkerContext } from '../context.js';
import { createScratchDatabase } from '../db/scratch.js';
import { importNdjson } from '../directory/import.js';
import { createLogger } from '../logger.js';
import { createService, type Service } from '../main.js';
import { importLineOf } from '../population/index.js';
import { SimulatedProofOfWork } from '../limits/index.js';
import { loadPolicy, type CompiledPolicy } from '../policy/index.js';
import { ManualClock } from '../util/clock.js';
import { SeededRandom } from '../util/random.js';
import { closeRedis, createRedis } from '../util/redis.js';
import { BaseDriver, createAccountThrough, suspendedIn, suspensionCausesIn, type NewAccount } from './driver.js';
import { WorkLedger } from './pow.js';
import type { Connection, World } from './world.js';

export interface ScaledOutOptions {
  /** A PostgreSQL server the run may create (and drop) a database of its own on. */
  postgresUrl: string;
  redisUrl: string;
  policy?: CompiledPolicy;
  /** Serving nodes behind the simulated load balancer (default 2). */
  nodes?: number;
  /** FINDGUARD_EVENT_PARTITIONS of the run (default 1): above 1 the worker runs the partitioned engine, its partitions and its global stage. */
  partitions?: number;
}

/**
 * findguard as operators run it scaled out, in this process on the simulated clock: N serving
 * nodes and one worker, three contexts apart that share only PostgreSQL and Redis. Limits are
 * charged in Redis, lookup events travel through the Redis stream to the worker's engine, and the
 * engine's decisions reach the nodes through the decisions table and its notices, exactly the
 * paths of a real deployment; connections are spread over the nodes by their address, so one
 * attacker's calls land on several nodes.
 */
export class ScaledOutDriver extends BaseDriver {
  readonly clock: ManualClock;
  readonly policy: string;
  private constructor(
    private readonly nodes: Service[],
    private readonly worker: WorkerContext,
    private readonly redis: Redis,
    /** The streams the worker consumes and its group on each, in the order they are fed (partitions before summaries). */
    private readonly groups: ReadonlyArray<readonly [string, string]>,
    clock: ManualClock,
    private readonly cleanup: () => Promise<void>,
    ttl: number,
    policy: string,
    /** Proof-of-work in simulated time, one verifier shared by every node (pow.ts). */
    readonly work: WorkLedger,
  ) {
    super(nodes[0]!.ctx.secrets.jwt, ttl);
    this.clock = clock;
    this.policy = policy;
  }

  static async create(world: World, options: ScaledOutOptions): Promise<ScaledOutDriver> {
    const policy = options.policy ?? loadPolicy('default');
    // Redis expires an account's strikes on its own clock (PEXPIRE), which a replay of days in
    // minutes does not move: past the strike window the run would keep strikes production lets
    // lapse, and its figures would not be the deployment's. The in-process run has no such limit.
    if (world.end - world.start > policy.strikeWindowMs) {
      throw new Error(`--scaled-out replays at most the policy's strike window (${policy.strikeWindowMs / 86_400_000} days; this scenario runs ${world.spec.days}): Redis expires strikes on its own clock, which the replay does not move`);
    }
    const seed = world.spec.seed;
    const database = await createScratchDatabase(options.postgresUrl, `fgsim_${seed}_${randomBytes(4).toString('hex')}`);
    const dir = mkdtempSync(join(tmpdir(), 'findguard-sim-'));
    // Secrets every node must share; derived from the seed so a replay hashes alike.
    const secret = (n: number) => Buffer.from(new SeededRandom(seed ^ n).bytes(32)).toString('base64');
    const partitions = options.partitions ?? 1;
    const { config, secrets } = buildSettings(
      {
        dataDir: dir,
        databaseUrl: database.url,
        redisUrl: options.redisUrl,
        logLevel: 'silent',
        serviceKey: secret(1),
        jwtSecret: secret(2),
        hashKeys: `v1:${secret(3)}`,
        eventPartitions: String(partitions),
      },
      dir,
    );
    const redisPrefix = `fgsim:${randomBytes(6).toString('hex')}:`;
    const clock = new ManualClock(world.start - 7 * 86_400_000);
    const common = { clock, logger: createLogger('silent'), policy, redisPrefix, matchWorkers: 0 };
    const work = new WorkLedger(new SimulatedProofOfWork());
    const nodes: Service[] = [];
    let worker: WorkerContext | undefined;
    const redis = createRedis(options.redisUrl);
    const cleanup = async () => {
      await worker?.close();
      for (const n of nodes) await n.close();
      // SCAN, not KEYS: the Redis may be shared, and must not stall for a cleanup.
      try {
        for await (const keys of redis.scanStream({ match: `${redisPrefix}*`, count: 500 }) as AsyncIterable<string[]>) if (keys.length > 0) await redis.del(...keys);
      } catch {
        // A scratch run's keys left behind in a Redis that went away: nothing to do about it here.
      }
      await closeRedis(redis);
      rmSync(dir, { recursive: true, force: true });
      await database.drop();
    };
    try {
      for (let i = 0; i < (options.nodes ?? 2); i++) {
        // The first node migrates the scratch database, as `findguard serve` does before it listens.
        nodes.push(await createService(config, secrets, { ...common, random: new SeededRandom((seed ^ 0x5eed) + i), migrate: i === 0, simulatedProofOfWork: work.simulated! }));
      }
      worker = await createWorkerContext(config, secrets, {
        ...common,
        random: new SeededRandom(seed ^ 0x3a11),
        events: { consumer: 'sim-worker', claimIdleMs: 60_000 },
        incidents: { deliver: false },
      });
      worker.start();
    } catch (err) {
      await cleanup();
      throw err;
    }
    const streamKey = `${redisPrefix}events`;
    // What the worker reads: one stream, or each partition's and the global stage's summaries.
    const groups: Array<[string, string]> =
      partitions === 1 ? [[streamKey, CONSUMER_GROUP]] : [...Array.from({ length: partitions }, (_, p): [string, string] => [partitionStreamKey(streamKey, p, partitions), CONSUMER_GROUP]), [summariesStreamKey(streamKey), GLOBAL_GROUP]];
    return new ScaledOutDriver(nodes, worker, redis, groups, clock, cleanup, (world.spec.days + 30) * 86_400, policy.name, work);
  }

  advanceTo(at: number): void {
    if (at > this.clock.now()) this.clock.set(at);
  }

  /**
   * Until the worker has handled and acknowledged every event the nodes published, and every
   * node has read the decisions the engine took on them: the next action then meets them, as it
   * does in-process.
   */
  async settle(): Promise<void> {
    for (const n of this.nodes) await n.ctx.events.flush();
    const deadline = Date.now() + 120_000;
    while (!(await this.drained())) {
      if (Date.now() > deadline) throw new Error('the worker did not catch up with the event stream within 2 minutes');
      await new Promise((r) => setTimeout(r, 2));
    }
    for (const n of this.nodes) await n.ctx.incidents.decisions.refresh();
  }

  /** Every stream read and acknowledged; partitions first, as each publishes its summaries before it acknowledges. */
  private async drained(): Promise<boolean> {
    for (const [key, group] of this.groups) {
      const info = groupOf(await this.redis.call('XINFO', 'GROUPS', key).catch(() => []), group);
      if (!info) {
        if ((await this.redis.exists(key)) === 0) continue;
        return false;
      }
      if (Number(info.get('pending')) !== 0 || Number(info.get('lag')) !== 0) return false;
    }
    return true;
  }

  async seed(world: World, onProgress?: (accounts: number) => void): Promise<void> {
    async function* lines(): AsyncGenerator<string> {
      for (let i = 0; i < world.existing; i++) if (world.presentAtStart(i)) yield importLineOf(world.account(i));
    }
    // The population is as it stands at the run's start; the clock starts a week before it (warm-up).
    const report = await importNdjson(this.nodes[0]!.ctx.directory, lines(), (r) => onProgress?.(r.accounts), world.start);
    if (report.failed > 0) throw new Error(`seeding failed for ${report.failed} accounts`);
  }

  createAccount(a: NewAccount): Promise<void> {
    return createAccountThrough(this.nodes[0]!, a);
  }

  transport(conn: Connection): Transport {
    return injectTransport(this.nodes[nodeOf(conn.ip, this.nodes.length)]!.app, { remoteAddress: conn.ip });
  }

  suspended(ids: readonly string[]): Promise<Map<string, number | undefined>> {
    return suspendedIn(this.worker.db.kysely, ids);
  }

  suspensionCauses(ids: readonly string[]): Promise<Map<string, string>> {
    return suspensionCausesIn(this.worker.db.kysely, ids);
  }

  close(): Promise<void> {
    return this.cleanup();
  }
}

/** The load balancer: a stable node per client address. */
function nodeOf(ip: string, nodes: number): number {
  let h = 0;
  for (let i = 0; i < ip.length; i++) h = (h * 31 + ip.charCodeAt(i)) >>> 0;
  return h % nodes;
}
