import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe } from 'vitest';
import { buildSettings, type Config, type Secrets } from '../../src/config/config.js';
import type { RawEnv } from '../../src/config/env.js';
import { signDevToken } from '../../src/http/auth/jwt.js';
import { createLogger } from '../../src/logger.js';
import { createService, type Service, type ServiceOptions } from '../../src/main.js';
import { ManualClock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/random.js';
import { createTestDatabase, postgresAvailable } from './postgres.js';

export type Dialect = 'sqlite' | 'postgres';
export const DIALECTS: Dialect[] = ['sqlite', 'postgres'];

export const SERVICE_KEY = 'test-service-key-0123456789abcdef';
export const JWT_SECRET = 'test-jwt-secret-0123456789abcdefghijklmnop';
export const HASH_KEYS = `v1:${Buffer.alloc(32, 7).toString('base64')}`;
export const T0 = Date.parse('2026-11-01T12:00:00Z');

const requireServices = process.env.FINDGUARD_REQUIRE_SERVICES === '1';
const pgUp = await postgresAvailable();
if (!pgUp && !requireServices) {
  console.warn('\n*** PostgreSQL is not reachable at 127.0.0.1:5432: PostgreSQL suites are SKIPPED (CI runs them) ***\n');
}

/**
 * Runs a suite once per dialect (Kysely's own test-matrix pattern). PostgreSQL suites are
 * skipped with a notice when no server answers, unless CI requires them.
 */
export function describeEachDialect(name: string, fn: (dialect: Dialect) => void): void {
  for (const dialect of DIALECTS) {
    const skip = dialect === 'postgres' && !pgUp && !requireServices;
    (skip ? describe.skip : describe)(`${name} [${dialect}]`, () => fn(dialect));
  }
}

/** A suite that holds only on PostgreSQL (skipped with the notice above when none answers, unless CI requires it). */
export function describePostgres(name: string, fn: () => void): void {
  (!pgUp && !requireServices ? describe.skip : describe)(`${name} [postgres]`, fn);
}

/** Captures every log line a service writes, to search it for personal data. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.lines.push(chunk.toString('utf8'));
    cb();
  }
  get text(): string {
    return this.lines.join('');
  }
}

export interface TestService extends Service {
  config: Config;
  secrets: Secrets;
  clock: ManualClock;
  logs: LogCapture;
  dataDir: string;
  databaseUrl?: string;
  tokenFor(accountId: string, ttlSeconds?: number): Promise<string>;
  /** Headers for the internal API. */
  internal: { authorization: string };
  stop(): Promise<void>;
}

export async function startTestService(dialect: Dialect, env: RawEnv = {}, overrides: ServiceOptions = {}): Promise<TestService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'findguard-test-'));
  const pgDb = dialect === 'postgres' ? await createTestDatabase() : undefined;
  const { config, secrets } = buildSettings(
    {
      dataDir,
      databaseUrl: pgDb ? pgDb.url : `sqlite:${join(dataDir, 'findguard.sqlite')}`,
      serviceKey: SERVICE_KEY,
      jwtSecret: JWT_SECRET,
      hashKeys: HASH_KEYS,
      logLevel: 'info',
      ...env,
    },
    dataDir,
  );
  const clock = new ManualClock(T0);
  const logs = new LogCapture();
  const service = await createService(config, secrets, { clock, random: new SeededRandom(42), logger: createLogger('trace', logs), ...overrides });
  return {
    ...service,
    config,
    secrets,
    clock,
    logs,
    dataDir,
    databaseUrl: pgDb?.url,
    tokenFor: (accountId, ttl = 3600) => signDevToken(secrets.jwt, accountId, clock.now(), ttl),
    internal: { authorization: `Bearer ${SERVICE_KEY}` },
    stop: async () => {
      await service.close();
      await pgDb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
