import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildSettings, parseHashKeys, type Config, type Secrets } from './config.js';

/** Both halves in one object: these tests check what each variable becomes, wherever it goes. */
function buildConfig(raw: RawEnv, cwd?: string): Config & Secrets {
  const { config, secrets } = buildSettings(raw, cwd);
  return { ...config, ...secrets };
}
import { ENV_NAMES, readEnv, type RawEnv } from './env.js';
import { ConfigError } from './errors.js';
import { SECRETS_FILE } from './secrets.js';

const key = (fill: number, bytes = 32) => Buffer.alloc(bytes, fill).toString('base64');
const HASH_KEYS = `v1:${key(1)}`;
const SERVICE_KEY = 'config-test-service-key-0123456789';
const JWT_SECRET = 'config-test-jwt-secret-0123456789abcdef';
const PG_URL = 'postgres://findguard@db.internal:5432/findguard';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'findguard-config-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Builds in a fresh temp cwd and returns the ConfigError it must throw. */
function configError(raw: RawEnv): ConfigError {
  const cwd = tempDir();
  let config: Config | undefined;
  try {
    config = buildConfig(raw, cwd);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected a ConfigError, got a config for ${config.database.dialect}`);
}

function expectRefused(raw: RawEnv, variable: string): ConfigError {
  const err = configError(raw);
  expect(err.variable).toBe(variable);
  expect(err.message).toContain(variable);
  return err;
}

describe('buildConfig defaults (embedded)', () => {
  it('uses SQLite in <cwd>/data, 127.0.0.1:8080, info logs and generated secrets', () => {
    const cwd = tempDir();
    const config = buildConfig({}, cwd);
    expect(config.dataDir).toBe(join(cwd, 'data'));
    expect(config.database).toEqual({ dialect: 'sqlite', path: join(cwd, 'data', 'findguard.sqlite') });
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(8080);
    expect(config.logLevel).toBe('info');
    expect(config.redisUrl).toBeUndefined();
    expect(config.webhook).toBeUndefined();
    expect(config.policyPath).toBeUndefined();
    expect(config.trustedProxies).toEqual([]);
    expect(config.eventRetentionDays).toBe(90);
    expect(config.eventStreamMaxLength).toBe(2_000_000);

    expect(config.jwt.kind).toBe('hs256');
    if (config.jwt.kind !== 'hs256') throw new Error('unreachable');
    expect(config.jwt.local).toBe(true);
    expect(config.jwt.secret.length).toBeGreaterThanOrEqual(32);
    expect(config.serviceKey.length).toBeGreaterThanOrEqual(16);
    expect(config.hashKeys).toHaveLength(1);
    expect(config.hashKeys[0]!.version).toBe(1);
    expect(config.hashKeys[0]!.key.length).toBe(32);
  });

  it('writes generated secrets to <dataDir>/secrets.json with mode 0600, stable across restarts', () => {
    const cwd = tempDir();
    const first = buildConfig({}, cwd);
    const file = join(cwd, 'data', SECRETS_FILE);
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(cwd, 'data')).mode & 0o077).toBe(0);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    expect(Object.keys(stored).sort()).toEqual(['hashKeys', 'jwtSecret', 'serviceKey']);
    expect(stored.serviceKey).toBe(first.serviceKey);

    const second = buildConfig({}, cwd);
    expect(second.serviceKey).toBe(first.serviceKey);
    expect(second.jwt.kind === 'hs256' && Buffer.from(second.jwt.secret).toString('base64')).toBe(
      first.jwt.kind === 'hs256' && Buffer.from(first.jwt.secret).toString('base64'),
    );
    expect(second.hashKeys.map((k) => [k.version, k.key.toString('base64')])).toEqual(
      first.hashKeys.map((k) => [k.version, k.key.toString('base64')]),
    );
    expect(readFileSync(file, 'utf8')).toBe(JSON.stringify(stored, null, 2) + '\n');

    // Another data folder gets its own secrets.
    const other = buildConfig({}, tempDir());
    expect(other.serviceKey).not.toBe(first.serviceKey);
  });

  it('does not write secrets.json when every secret is given', () => {
    const cwd = tempDir();
    const config = buildConfig({ serviceKey: SERVICE_KEY, jwtSecret: JWT_SECRET, hashKeys: HASH_KEYS }, cwd);
    expect(config.serviceKey).toBe(SERVICE_KEY);
    expect(config.jwt).toMatchObject({ kind: 'hs256', local: false });
    expect(existsSync(join(cwd, 'data', SECRETS_FILE))).toBe(false);
  });

  it('resolves the data dir, a relative sqlite: path and the policy against cwd', () => {
    const cwd = tempDir();
    const config = buildConfig({ dataDir: 'state', databaseUrl: 'sqlite:db/fg.sqlite', policy: 'policy.json' }, cwd);
    expect(config.dataDir).toBe(join(cwd, 'state'));
    expect(config.database).toEqual({ dialect: 'sqlite', path: join(cwd, 'db', 'fg.sqlite') });
    expect(config.policyPath).toBe(join(cwd, 'policy.json'));
    expect(existsSync(join(cwd, 'state', SECRETS_FILE))).toBe(true);
    expect(buildConfig({ databaseUrl: 'sqlite::memory:' }, cwd).database).toEqual({ dialect: 'sqlite', path: ':memory:' });
  });

  it('takes explicit good values', () => {
    const config = buildConfig(
      {
        host: '0.0.0.0',
        port: '9090',
        logLevel: 'debug',
        redisUrl: 'redis://127.0.0.1:6379/0',
        trustedProxies: '10.0.0.0/8, 192.168.1.1,::1/128',
        webhookUrl: 'https://app.example/hooks/findguard',
        webhookSecret: 'webhook-secret-0123456789',
        jwtIssuer: 'https://issuer.example',
        jwtAudience: 'findguard',
      },
      tempDir(),
    );
    expect(config).toMatchObject({ host: '0.0.0.0', port: 9090, logLevel: 'debug', redisUrl: 'redis://127.0.0.1:6379/0' });
    expect(config.trustedProxies).toEqual(['10.0.0.0/8', '192.168.1.1', '::1/128']);
    expect(config.webhook?.url.href).toBe('https://app.example/hooks/findguard');
    expect(config.jwt).toMatchObject({ kind: 'hs256', issuer: 'https://issuer.example', audience: 'findguard' });
  });

  it('accepts a JWKS URL instead of a secret', () => {
    const config = buildConfig({ jwksUrl: 'https://issuer.example/.well-known/jwks.json' }, tempDir());
    expect(config.jwt.kind).toBe('jwks');
    expect(config.jwt.kind === 'jwks' && config.jwt.url.href).toBe('https://issuer.example/.well-known/jwks.json');
  });
});

describe('hash keys', () => {
  it('parses newest first, with versions', () => {
    const keys = buildConfig({ hashKeys: `v3:${key(3)}, v2:${key(2)},v1:${key(1, 48)}` }, tempDir()).hashKeys;
    expect(keys.map((k) => k.version)).toEqual([3, 2, 1]);
    expect(keys[0]!.key.equals(Buffer.alloc(32, 3))).toBe(true);
    expect(keys[2]!.key.equals(Buffer.alloc(48, 1))).toBe(true);
  });

  it('keeps the given order (the first one hashes new writes) even when it is not sorted', () => {
    expect(parseHashKeys(`v1:${key(1)},v2:${key(2)}`).map((k) => k.version)).toEqual([1, 2]);
  });

  it.each([
    ['malformed', 'not-a-key'],
    ['missing version prefix', key(1)],
    ['empty key', 'v1:'],
    ['only commas', ' , , '],
    ['too short key', `v2:${key(2)},v1:${key(1, 16)}`],
    ['duplicate version', `v1:${key(1)},v1:${key(2)}`],
  ])('refuses %s naming FINDGUARD_HASH_KEYS', (_name, hashKeys) => {
    expectRefused({ hashKeys }, ENV_NAMES.hashKeys);
  });

  it('says which key is too short or duplicated', () => {
    expect(configError({ hashKeys: `v2:${key(2)},v1:${key(1, 16)}` }).message).toMatch(/v1.*32 bytes/);
    expect(configError({ hashKeys: `v7:${key(1)},v7:${key(2)}` }).message).toMatch(/v7.*twice/);
  });
});

describe('bad values stop start-up naming the variable', () => {
  it.each<[string, RawEnv, string]>([
    ['FINDGUARD_PORT=abc', { port: 'abc' }, ENV_NAMES.port],
    ['FINDGUARD_PORT=70000', { port: '70000' }, ENV_NAMES.port],
    ['FINDGUARD_PORT=-1', { port: '-1' }, ENV_NAMES.port],
    ['FINDGUARD_DATABASE_URL=mysql://x', { databaseUrl: 'mysql://x' }, ENV_NAMES.databaseUrl],
    ['FINDGUARD_DATABASE_URL=sqlite:', { databaseUrl: 'sqlite:' }, ENV_NAMES.databaseUrl],
    ['FINDGUARD_DATABASE_URL=postgres://[bad', { databaseUrl: 'postgres://[bad' }, ENV_NAMES.databaseUrl],
    ['FINDGUARD_LOG_LEVEL=loud', { logLevel: 'loud' }, ENV_NAMES.logLevel],
    ['FINDGUARD_JWT_SECRET too short', { jwtSecret: 'short-secret' }, ENV_NAMES.jwtSecret],
    [
      'both FINDGUARD_JWT_SECRET and FINDGUARD_JWKS_URL',
      { jwtSecret: JWT_SECRET, jwksUrl: 'https://issuer.example/jwks.json' },
      ENV_NAMES.jwtSecret,
    ],
    ['FINDGUARD_JWKS_URL not a URL', { jwksUrl: 'not a url' }, ENV_NAMES.jwksUrl],
    ['FINDGUARD_JWKS_URL not http(s)', { jwksUrl: 'ftp://issuer.example/jwks.json' }, ENV_NAMES.jwksUrl],
    ['FINDGUARD_SERVICE_KEY too short', { serviceKey: 'short' }, ENV_NAMES.serviceKey],
    ['FINDGUARD_WEBHOOK_URL without a secret', { webhookUrl: 'https://app.example/hook' }, ENV_NAMES.webhookSecret],
    [
      'FINDGUARD_WEBHOOK_SECRET too short',
      { webhookUrl: 'https://app.example/hook', webhookSecret: 'short' },
      ENV_NAMES.webhookSecret,
    ],
    ['FINDGUARD_WEBHOOK_SECRET without a URL', { webhookSecret: 'webhook-secret-0123456789' }, ENV_NAMES.webhookUrl],
    [
      'FINDGUARD_WEBHOOK_URL not a URL',
      { webhookUrl: 'nope', webhookSecret: 'webhook-secret-0123456789' },
      ENV_NAMES.webhookUrl,
    ],
    ['FINDGUARD_REDIS_URL=http://x', { redisUrl: 'http://x' }, ENV_NAMES.redisUrl],
    ['FINDGUARD_TRUSTED_PROXIES=garbage', { trustedProxies: 'garbage' }, ENV_NAMES.trustedProxies],
    ['FINDGUARD_TRUSTED_PROXIES with one bad entry', { trustedProxies: '10.0.0.0/8,nope' }, ENV_NAMES.trustedProxies],
    // Values the old pattern let through but Fastify's proxy-addr refuses at listen time.
    ['FINDGUARD_TRUSTED_PROXIES=10.0.0.0/99', { trustedProxies: '10.0.0.0/99' }, ENV_NAMES.trustedProxies],
    ['FINDGUARD_TRUSTED_PROXIES=beef', { trustedProxies: 'beef' }, ENV_NAMES.trustedProxies],
    ['FINDGUARD_TRUSTED_PROXIES=999.1.1.1', { trustedProxies: '999.1.1.1' }, ENV_NAMES.trustedProxies],
    ['FINDGUARD_EVENT_RETENTION_DAYS=0', { eventRetentionDays: '0' }, ENV_NAMES.eventRetentionDays],
    ['FINDGUARD_EVENT_STREAM_MAX_LENGTH=999', { eventStreamMaxLength: '999' }, ENV_NAMES.eventStreamMaxLength],
    ['FINDGUARD_EVENT_STREAM_MAX_LENGTH=2e6', { eventStreamMaxLength: '2e6' }, ENV_NAMES.eventStreamMaxLength],
    ['FINDGUARD_JWT_MAX_LIFETIME=abc', { jwtMaxLifetime: 'abc' }, ENV_NAMES.jwtMaxLifetime],
    ['FINDGUARD_JWT_MAX_LIFETIME=0', { jwtMaxLifetime: '0' }, ENV_NAMES.jwtMaxLifetime],
    ['FINDGUARD_JWT_MAX_LIFETIME=-60', { jwtMaxLifetime: '-60' }, ENV_NAMES.jwtMaxLifetime],
    ['FINDGUARD_JWT_MAX_LIFETIME=1y', { jwtMaxLifetime: '1y' }, ENV_NAMES.jwtMaxLifetime],
    ['FINDGUARD_JWT_MAX_LIFETIME=1.5h', { jwtMaxLifetime: '1.5h' }, ENV_NAMES.jwtMaxLifetime],
    ['FINDGUARD_JWT_MAX_LIFETIME=3651d', { jwtMaxLifetime: '3651d' }, ENV_NAMES.jwtMaxLifetime],
  ])('%s', (_name, raw, variable) => {
    expectRefused(raw, variable);
  });

  it('names the other variable when both JWT sources are set', () => {
    expect(configError({ jwtSecret: JWT_SECRET, jwksUrl: 'https://issuer.example/jwks.json' }).message).toContain(
      ENV_NAMES.jwksUrl,
    );
  });

  it('prefixes the message with the variable so operators can fix it', () => {
    expect(configError({ port: 'abc' }).message).toMatch(/^FINDGUARD_PORT: /);
  });

  it('takes a stream cap from 1,000 entries up', () => {
    expect(buildConfig({ eventStreamMaxLength: '1000' }, tempDir()).eventStreamMaxLength).toBe(1000);
    expect(buildConfig({ eventStreamMaxLength: '50000000' }, tempDir()).eventStreamMaxLength).toBe(50_000_000);
  });

  it('accepts the bounds of FINDGUARD_PORT', () => {
    expect(buildConfig({ port: '0' }, tempDir()).port).toBe(0);
    expect(buildConfig({ port: '65535' }, tempDir()).port).toBe(65535);
  });
});

describe('FINDGUARD_JWT_MAX_LIFETIME', () => {
  it('is off by default and takes seconds or a duration, for either way of verifying', () => {
    expect(buildConfig({}, tempDir()).jwt.maxLifetimeSeconds).toBeUndefined();
    for (const [value, seconds] of [['3600', 3600], ['45s', 45], ['90m', 5400], ['12h', 43_200], ['7d', 604_800], ['3650d', 315_360_000]] as const) {
      expect(buildConfig({ jwtMaxLifetime: value }, tempDir()).jwt.maxLifetimeSeconds, value).toBe(seconds);
    }
    expect(buildConfig({ jwtMaxLifetime: '1h', jwksUrl: 'https://issuer.example/jwks.json' }, tempDir()).jwt).toMatchObject({ kind: 'jwks', maxLifetimeSeconds: 3600 });
  });

  it('says what it expects', () => {
    expect(configError({ jwtMaxLifetime: 'forever' }).message).toMatch(/^FINDGUARD_JWT_MAX_LIFETIME: .*seconds.*12h/);
  });
});

describe("the data folder's permissions", () => {
  /** A cwd whose ./data exists with this mode (and secrets.json, if given, with its own). */
  function dataDir(mode: number, secretsMode?: number): string {
    const cwd = tempDir();
    const dir = join(cwd, 'data');
    mkdirSync(dir);
    if (secretsMode !== undefined) {
      buildConfig({}, cwd);
      chmodSync(join(dir, SECRETS_FILE), secretsMode);
    }
    chmodSync(dir, mode);
    return cwd;
  }

  function refusal(cwd: string): ConfigError {
    try {
      buildConfig({}, cwd);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variable).toBe(ENV_NAMES.dataDir);
      return err as ConfigError;
    }
    throw new Error('expected the data folder to be refused');
  }

  it.each([
    ['0777', 0o777],
    ['0770 (group-writable)', 0o770],
    ['0702 (writable by others)', 0o702],
    ['1777 (sticky, as /tmp)', 0o1777],
  ])('refuses a folder that is %s, naming it', (_name, mode) => {
    const cwd = dataDir(mode);
    const err = refusal(cwd);
    expect(err.message).toContain(join(cwd, 'data'));
    expect(err.message).toMatch(/writable by (group|others)/);
    // Refused before anything is written into it.
    expect(existsSync(join(cwd, 'data', SECRETS_FILE))).toBe(false);
  });

  it.each([
    ['0644 (readable by others)', 0o644],
    ['0640 (readable by group)', 0o640],
    ['0666 (writable by others)', 0o666],
    ['0604', 0o604],
  ])('refuses a secrets.json that is %s, leaving it as it was for the operator to see', (_name, mode) => {
    const cwd = dataDir(0o700, mode);
    const file = join(cwd, 'data', SECRETS_FILE);
    const err = refusal(cwd);
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/rotate/i);
    expect(statSync(file).mode & 0o777).toBe(mode);
  });

  it('refuses a database file in the folder that others can write', () => {
    const cwd = dataDir(0o700);
    writeFileSync(join(cwd, 'data', 'findguard.sqlite'), '', { mode: 0o666 });
    chmodSync(join(cwd, 'data', 'findguard.sqlite'), 0o666);
    expect(refusal(cwd).message).toMatch(/findguard\.sqlite.*writable by/);
  });

  it('warns, and starts, for a folder others can read or enter, and for database files others can read', () => {
    const cwd = dataDir(0o755);
    const config = buildConfig({}, cwd);
    expect(config.warnings).toHaveLength(1);
    expect(config.warnings[0]).toContain(join(cwd, 'data'));
    expect(config.warnings[0]).toMatch(/readable by group and others.*0755.*chmod 700/);
    chmodSync(join(cwd, 'data'), 0o700);
    writeFileSync(join(cwd, 'data', 'findguard.sqlite'), '');
    chmodSync(join(cwd, 'data', 'findguard.sqlite'), 0o644);
    expect(buildConfig({}, cwd).warnings).toEqual([expect.stringMatching(/findguard\.sqlite.*readable by group and others.*0644/)]);
  });

  it('has nothing to say about a folder it creates, or one made by mkdtemp', () => {
    const cwd = tempDir();
    expect(buildConfig({}, cwd).warnings).toEqual([]);
    expect(statSync(join(cwd, 'data')).mode & 0o777).toBe(0o700);
    expect(buildConfig({}, cwd).warnings).toEqual([]);
    expect(buildConfig({ dataDir: cwd }, cwd).warnings).toEqual([]);
  });

  it('does not look at a folder it does not use (PostgreSQL with every secret given)', () => {
    const cwd = dataDir(0o777);
    const config = buildConfig({ databaseUrl: PG_URL, hashKeys: HASH_KEYS, serviceKey: SERVICE_KEY, jwtSecret: JWT_SECRET }, cwd);
    expect(config.warnings).toEqual([]);
  });
});

describe('a shared PostgreSQL database needs explicit secrets', () => {
  const full: RawEnv = { databaseUrl: PG_URL, hashKeys: HASH_KEYS, serviceKey: SERVICE_KEY, jwtSecret: JWT_SECRET };

  it('refuses a missing FINDGUARD_HASH_KEYS', () => {
    expectRefused({ ...full, hashKeys: undefined }, ENV_NAMES.hashKeys);
  });

  it('refuses a missing FINDGUARD_SERVICE_KEY', () => {
    expectRefused({ ...full, serviceKey: undefined }, ENV_NAMES.serviceKey);
  });

  it('refuses missing JWT configuration, naming both ways to give it', () => {
    const err = expectRefused({ ...full, jwtSecret: undefined }, ENV_NAMES.jwtSecret);
    expect(err.message).toContain(ENV_NAMES.jwksUrl);
  });

  it('refuses even a bare postgres:// URL, and writes no secrets file', () => {
    const cwd = tempDir();
    expect(() => buildConfig({ databaseUrl: 'postgresql://h/db' }, cwd)).toThrow(ENV_NAMES.hashKeys);
    expect(existsSync(join(cwd, 'data', SECRETS_FILE))).toBe(false);
  });

  it('starts with everything given, generating nothing', () => {
    const cwd = tempDir();
    const config = buildConfig(full, cwd);
    expect(config.database).toEqual({ dialect: 'postgres', url: PG_URL });
    expect(config.jwt).toMatchObject({ kind: 'hs256', local: false });
    expect(existsSync(join(cwd, 'data', SECRETS_FILE))).toBe(false);
    const jwks = buildConfig({ ...full, jwtSecret: undefined, jwksUrl: 'https://issuer.example/jwks.json' }, cwd);
    expect(jwks.jwt.kind).toBe('jwks');
  });
});

describe('readEnv', () => {
  it('maps FINDGUARD_* variables, trims them and ignores empty values', () => {
    const raw = readEnv({
      FINDGUARD_PORT: '',
      FINDGUARD_HOST: '   ',
      FINDGUARD_LOG_LEVEL: ' debug ',
      FINDGUARD_DATA_DIR: '/srv/findguard',
      FINDGUARD_HASH_KEYS: HASH_KEYS,
      FINDGUARD_UNKNOWN: 'x',
      PORT: '1234',
    });
    expect(raw).toEqual({ logLevel: 'debug', dataDir: '/srv/findguard', hashKeys: HASH_KEYS });
  });

  it('an empty variable falls back to the default instead of failing', () => {
    const config = buildConfig(readEnv({ FINDGUARD_PORT: '', FINDGUARD_DATABASE_URL: '', FINDGUARD_JWT_SECRET: '' }), tempDir());
    expect(config.port).toBe(8080);
    expect(config.database.dialect).toBe('sqlite');
    expect(config.jwt).toMatchObject({ kind: 'hs256', local: true });
  });

  it('covers every documented variable', () => {
    for (const name of [
      'FINDGUARD_DATA_DIR',
      'FINDGUARD_DATABASE_URL',
      'FINDGUARD_REDIS_URL',
      'FINDGUARD_HOST',
      'FINDGUARD_PORT',
      'FINDGUARD_JWT_SECRET',
      'FINDGUARD_JWKS_URL',
      'FINDGUARD_JWT_ISSUER',
      'FINDGUARD_JWT_AUDIENCE',
      'FINDGUARD_SERVICE_KEY',
      'FINDGUARD_HASH_KEYS',
      'FINDGUARD_POLICY',
      'FINDGUARD_TRUSTED_PROXIES',
      'FINDGUARD_WEBHOOK_URL',
      'FINDGUARD_WEBHOOK_SECRET',
      'FINDGUARD_LOG_LEVEL',
      'FINDGUARD_JWT_MAX_LIFETIME',
    ]) {
      expect(Object.keys(readEnv({ [name]: 'v' })), name).toHaveLength(1);
    }
  });
});
