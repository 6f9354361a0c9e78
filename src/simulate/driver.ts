import type { Kysely } from 'kysely';
import { createHmac } from 'node:crypto';
import { accessSync, constants, mkdtempSync, rmSync, statfsSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { FindguardClient, injectTransport, solveChallenge, type Challenge, type Solution, type Transport } from '../client/index.js';
import { buildSettings, type JwtConfig } from '../config/config.js';
import type { Database } from '../db/schema.js';
import type { SyntheticAccount } from '../population/index.js';
import { maxDevTokenSeconds, signDevToken } from '../http/auth/jwt.js';
import { createLogger } from '../logger.js';
import { SimulatedProofOfWork } from '../limits/index.js';
import { loadPolicy, type CompiledPolicy } from '../policy/index.js';
import { createService, type Service } from '../main.js';
import { ManualClock, type Clock } from '../util/clock.js';
import { SeededRandom } from '../util/random.js';
import { SIMULATED_HASH_RATE, WorkLedger } from './pow.js';
import { seedAccounts } from './seed.js';
import type { Connection, World } from './world.js';

/** How long settle() waits for the engine in real time before the run fails (the scaled-out driver's bound). */
const SETTLE_TIMEOUT_MS = 120_000;

export interface NewAccount {
  id: string;
  handle: string;
  createdAt: number;
  phoneRegion: string;
  signup: { ip: string; deviceId: string; userAgent: string; attested?: boolean };
  phones: Array<{ value: string; purposes: Array<'two_factor' | 'recovery' | 'discovery'>; verified: boolean; discoverableBy?: 'everyone' | 'contacts' | 'nobody' }>;
}

/** How the simulator reaches a findguard: in-process on a simulated clock, or a running deployment. */
export interface Driver {
  readonly clock: Clock;
  /** The limits policy under test; 'remote' for a deployment, whose policy the simulator cannot see. */
  readonly policy: string;
  /** Moves simulated time (a no-op against a deployment, which runs on its own clock). */
  advanceTo(at: number): void;
  /**
   * Waits until what the last action set in motion has been processed (in-process: the lookup
   * events and sign-ups have reached the abuse engine), so its decisions land at the same point of
   * a replay every time. A no-op against a deployment, which is asynchronous by nature.
   */
  settle(): Promise<void>;
  seed(world: World, onProgress?: (accounts: number) => void): Promise<void>;
  createAccount(account: NewAccount): Promise<void>;
  /**
   * A client for the account on this connection. hashRate: the device's SHA-256 rate, for the
   * proof-of-work it pays in simulated time (in-process; against a deployment it solves for real).
   */
  client(accountId: string, conn: Connection, hashRate?: number): Promise<FindguardClient>;
  /** Proof-of-work spent per account, and the simulated time each still owes. */
  readonly work: WorkLedger;
  /** The raw transport for a connection, for probes that go beyond the client. */
  transport(conn: Connection): Transport;
  /** The app JWT of an account. */
  token(accountId: string): Promise<string>;
  /**
   * The ids among these that findguard itself has suspended, each with when the suspension was
   * recorded where the driver can see it (in-process); against a deployment, undefined.
   */
  suspended(ids: readonly string[]): Promise<Map<string, number | undefined>>;
  /**
   * Why findguard suspended each of these (suspended) accounts, as "cluster: coordination+enumeration"
   * or "account: answers", where the driver can read its enforcement records (not a deployment).
   */
  suspensionCauses?(ids: readonly string[]): Promise<Map<string, string>>;
  close(): Promise<void>;
}

const noSleep = async () => undefined;
const JWT_HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

/**
 * The token signDevToken makes, byte for byte (header, then sub, iat, exp), signed with one
 * synchronous HMAC instead of jose's promise over WebCrypto: a simulated client signs one per
 * account, a million at a million accounts. The server verifies it as any app token. Undefined
 * where the deployment wants more claims (issuer, audience): signDevToken then.
 */
export function signHs256(config: JwtConfig, accountId: string, now: number, ttlSeconds: number): string | undefined {
  if (config.kind !== 'hs256' || config.issuer !== undefined || config.audience !== undefined) return undefined;
  const iat = Math.floor(now / 1000);
  const payload = Buffer.from(JSON.stringify({ sub: accountId, iat, exp: iat + maxDevTokenSeconds(config, ttlSeconds) })).toString('base64url');
  const signed = `${JWT_HEADER}.${payload}`;
  return `${signed}.${createHmac('sha256', config.secret).update(signed).digest('base64url')}`;
}

/** What results against a deployment record as their policy: whatever the deployment runs. */
export const REMOTE_POLICY = 'remote';

/** What every driver shares: JWTs per account, and a client per connection. */
export abstract class BaseDriver implements Driver {
  abstract readonly clock: Clock;
  abstract readonly policy: string;
  abstract readonly work: WorkLedger;
  private readonly tokens = new Map<string, string>();
  constructor(
    protected readonly jwt: JwtConfig,
    private readonly tokenTtlSeconds: number,
  ) {}
  abstract advanceTo(at: number): void;
  abstract settle(): Promise<void>;
  abstract seed(world: World, onProgress?: (accounts: number) => void): Promise<void>;
  abstract createAccount(account: NewAccount): Promise<void>;
  abstract suspended(ids: readonly string[]): Promise<Map<string, number | undefined>>;
  abstract close(): Promise<void>;
  abstract transport(conn: Connection): Transport;

  async token(accountId: string): Promise<string> {
    let token = this.tokens.get(accountId);
    if (!token) {
      token = signHs256(this.jwt, accountId, this.clock.now(), this.tokenTtlSeconds) ?? (await signDevToken(this.jwt, accountId, this.clock.now(), this.tokenTtlSeconds));
      this.tokens.set(accountId, token);
    }
    return token;
  }

  async client(accountId: string, conn: Connection, hashRate = SIMULATED_HASH_RATE): Promise<FindguardClient> {
    const token = await this.token(accountId);
    const solve = this.work.solverFor(accountId, hashRate, () => this.clock.now()) ?? this.realSolver(accountId);
    // Simulated users do not wait inside a call: the engine reschedules them, so no retries here.
    return new FindguardClient({ transport: this.transport(conn), token, deviceId: conn.deviceId, clock: this.clock, sleep: noSleep, maxRetries: 0, solveChallenge: solve });
  }

  /** Against a deployment: SHA-256 for real, the hashes recorded as the account's cost. */
  private realSolver(accountId: string): (c: Challenge) => Promise<Solution> {
    return async (challenge) => {
      const solved = await solveChallenge(challenge);
      this.work.charge(accountId, solved.hashes, 0);
      return solved;
    };
  }
}

/** findguard built in this process on a temporary SQLite file, driven through Fastify inject. */
export class InProcessDriver extends BaseDriver {
  readonly clock: ManualClock;
  /** Proof-of-work in simulated time: the service below checks the simulated clients' tags (pow.ts). */
  readonly work: WorkLedger;
  /** Leave the service's data directory (SQLite, secrets) for inspection with the CLI. */
  private keepData = false;
  private constructor(
    private readonly service: Service,
    clock: ManualClock,
    private readonly dir: string,
    ttl: number,
    readonly policy: string,
    work: WorkLedger,
  ) {
    super(service.ctx.secrets.jwt, ttl);
    this.clock = clock;
    this.work = work;
  }

  /**
   * Match workers: two where the machine has two cores. The engine awaits one request at a time,
   * but the pool splits a large sync between its workers (store.ts POOL_THRESHOLD), so the
   * simulated clients' matching, the largest part of a run at a million accounts, uses both cores;
   * each worker reads the committed directory, which is what the request path's own snapshot sees
   * after this process's writes, so the answers are the same (the same JSON either way). The
   * default policy is resolved here rather than left to the service's config so the driver knows,
   * and the result records, which one ran.
   */
  static async create(world: World, options: { matchWorkers?: number; policy?: CompiledPolicy; keepData?: (dir: string) => void } = {}): Promise<InProcessDriver> {
    const policy = options.policy ?? loadPolicy('default');
    const dir = mkdtempSync(join(options.keepData ? tmpdir() : scratchRoot(), 'findguard-sim-'));
    const { config, secrets } = buildSettings({ dataDir: dir, logLevel: 'silent' }, dir);
    // The run starts a week early so warm-up traffic (syncs before the start) has room.
    const clock = new ManualClock(world.start - 7 * 86_400_000);
    const work = new WorkLedger(new SimulatedProofOfWork());
    const service = await createService(config, secrets, {
      clock,
      random: new SeededRandom(world.spec.seed ^ 0x5eed),
      logger: createLogger('silent'),
      matchWorkers: options.matchWorkers ?? (availableParallelism() >= 2 ? 2 : 0),
      policy,
      simulatedProofOfWork: work.simulated!,
    });
    const driver = new InProcessDriver(service, clock, dir, (world.spec.days + 30) * 86_400, policy.name, work);
    if (options.keepData) {
      driver.keepData = true;
      options.keepData(dir);
    }
    return driver;
  }

  advanceTo(at: number): void {
    if (at > this.clock.now()) this.clock.set(at);
  }

  async settle(): Promise<void> {
    // Every decision lands before the next simulated action, however long the engine takes here: a
    // flush that gave up after its default 5 s of real time would let the replay run on, and the
    // figures depend on this machine's speed (the same seed, another JSON).
    if (!(await this.service.ctx.events.flush(SETTLE_TIMEOUT_MS))) throw new Error(`the engine did not finish handling the simulated events within ${SETTLE_TIMEOUT_MS / 1000} s`);
  }

  /** The population through the directory's bulk write, as the import writes it, without its NDJSON text (seed.ts). */
  async seed(world: World, onProgress?: (accounts: number) => void): Promise<void> {
    function* accounts(): Generator<SyntheticAccount> {
      for (let i = 0; i < world.existing; i++) if (world.presentAtStart(i)) yield world.account(i);
    }
    // The population is as it stands at the run's start; the clock starts a week before it (warm-up).
    await seedAccounts(this.service.ctx.directory, accounts(), onProgress, world.start);
  }

  createAccount(a: NewAccount): Promise<void> {
    return createAccountThrough(this.service, a);
  }

  transport(conn: Connection): Transport {
    return injectTransport(this.service.app, { remoteAddress: conn.ip });
  }

  suspended(ids: readonly string[]): Promise<Map<string, number | undefined>> {
    return suspendedIn(this.service.ctx.db.kysely, ids);
  }

  suspensionCauses(ids: readonly string[]): Promise<Map<string, string>> {
    return suspensionCausesIn(this.service.ctx.db.kysely, ids);
  }

  async close(): Promise<void> {
    await this.service.close();
    if (!this.keepData) rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Where a run's scratch data goes: memory (/dev/shm) where the machine has room there, else the
 * temporary folder. The run writes gigabytes at a million accounts (lookup events, checkpoints of
 * the WAL) and reads them back; on a shared virtual disk that waiting was a large part of the wall
 * time and none of the simulated figures. A container's /dev/shm is often 64 MB, which a run would
 * fill and stop on, so it is used only with `minFreeBytes` free. A kept run's data stays on disk
 * (--keep-data), to be inspected.
 */
export function scratchRoot(shm = '/dev/shm', minFreeBytes = SHM_MIN_FREE): string {
  try {
    accessSync(shm, constants.W_OK);
    if (!statSync(shm).isDirectory()) return tmpdir();
    const fs = statfsSync(shm);
    return fs.bavail * fs.bsize >= minFreeBytes ? shm : tmpdir();
  } catch {
    return tmpdir();
  }
}

/** What a run of a million accounts wrote to its scratch folder, with room to spare. */
const SHM_MIN_FREE = 8 * 1024 ** 3;

/** Creates an account the way the app does: through a node's internal API (its sign-up reaches the engine). */
export async function createAccountThrough(service: Service, a: NewAccount): Promise<void> {
  const app = service.app;
  const headers = { authorization: `Bearer ${service.ctx.secrets.serviceKey}` };
  const put = await app.inject({
    method: 'PUT',
    url: `/internal/v1/accounts/${a.id}`,
    headers,
    payload: { handle: a.handle, createdAt: new Date(a.createdAt).toISOString(), phoneRegion: a.phoneRegion, signup: a.signup },
  });
  if (put.statusCode >= 300) throw new Error(`creating ${a.id}: ${put.statusCode}`);
  for (const p of a.phones) {
    await app.inject({ method: 'POST', url: `/internal/v1/accounts/${a.id}/contact-points`, headers, payload: { kind: 'phone', ...p } });
  }
}

/** The ids among these that findguard suspended, each with when the suspension in force was recorded. */
export async function suspendedIn(db: Kysely<Database>, ids: readonly string[]): Promise<Map<string, number | undefined>> {
  const out = new Map<string, number | undefined>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .selectFrom('accounts')
      .select('id')
      .where('id', 'in', ids.slice(i, i + 500))
      .where('fg_status', '=', 'suspended')
      .execute();
    if (rows.length === 0) continue;
    // When the suspension in force was recorded: the latest suspend action not reversed.
    const times = await db
      .selectFrom('enforcement_actions')
      .select(['account_id', (eb) => eb.fn.max('at').as('at')])
      .where('account_id', 'in', rows.map((r) => r.id))
      .where('action', '=', 'suspend')
      .where('reversed_by', 'is', null)
      .groupBy('account_id')
      .execute();
    const at = new Map(times.map((t) => [t.account_id, Number(t.at)]));
    for (const r of rows) out.set(r.id, at.get(r.id));
  }
  return out;
}

/**
 * The cause of each account's suspension in force: whether the engine suspended it alone or with
 * its cluster, and the detectors its evidence names (organic harm by rule, issue 15).
 */
export async function suspensionCausesIn(db: Kysely<Database>, ids: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .selectFrom('enforcement_actions')
      .select(['account_id', 'at', 'reason', 'evidence', 'actor'])
      .where('account_id', 'in', ids.slice(i, i + 500))
      .where('action', '=', 'suspend')
      .where('reversed_by', 'is', null)
      .orderBy('at')
      .execute();
    for (const r of rows) {
      let detectors: string[] = [];
      try {
        const ev = JSON.parse(r.evidence) as { detectors?: unknown };
        if (Array.isArray(ev.detectors)) detectors = ev.detectors.filter((d): d is string => typeof d === 'string').sort();
      } catch {
        // evidence is the engine's own JSON; an unreadable one is named as such below
      }
      const scope = r.actor !== 'engine' ? r.actor : r.reason.startsWith('account ') ? 'account' : 'cluster';
      out.set(r.account_id, `${scope}: ${detectors.join('+') || 'no detector named'}`);
    }
  }
  return out;
}
