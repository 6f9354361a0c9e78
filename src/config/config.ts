import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { isAbsolute, relative, resolve } from 'node:path';
import { DEFAULT_MAX_STREAM_LENGTH } from '../abuse/stream-backlog.js';
import { BUILT_IN_POLICIES } from '../policy/index.js';
import { checkDataDir } from './data-dir.js';
import { ConfigError } from './errors.js';
import { ENV_NAMES, type RawEnv } from './env.js';
import { parseOidc, parseSessionKey, type OidcConfig } from './oidc.js';
import { parseDpoContact, parseReportSigningSeed } from './report-key.js';
import { loadOrCreateSecrets } from './secrets.js';

export type DatabaseConfig = { dialect: 'sqlite'; path: string } | { dialect: 'postgres'; url: string };

/** A token meant to live longer than maxLifetimeSeconds (exp - iat) is refused; unset: no bound. */
export type JwtConfig =
  | { kind: 'hs256'; secret: Uint8Array; issuer?: string; audience?: string; maxLifetimeSeconds?: number; local: boolean }
  | { kind: 'jwks'; url: URL; issuer?: string; audience?: string; maxLifetimeSeconds?: number };

export interface HashKey {
  version: number;
  key: Buffer;
}

/**
 * What findguard is told to do, without the keys it does it with (those are Secrets): safe to
 * print, log or hand to any part of the code.
 */
export interface Config {
  dataDir: string;
  database: DatabaseConfig;
  redisUrl?: string;
  host: string;
  port: number;
  /** A policy file, or the name of a built-in policy. */
  policyPath?: string;
  /** A JSON/YAML file with the alerts section (src/policy/alerts.ts), in place of the policy's own. */
  alertsPath?: string;
  trustedProxies: string[];
  /** Where webhooks go; the key that signs them is secrets.webhookSecret. */
  webhook?: { url: URL };
  /** OIDC sign-in for the operator console (src/config/oidc.ts); its client secret is secrets.oidcClientSecret. */
  oidc?: OidcConfig;
  logLevel: string;
  eventRetentionDays: number;
  /** Worker threads that hash and match large syncs (embedded SQLite only); 0 keeps it all inline. */
  matchWorkers: number;
  /** Redis streams the lookup events are partitioned over by account (src/abuse/partitions.ts); the same on every serve node and worker. */
  eventPartitions: number;
  /**
   * Entries a Redis event stream keeps before Redis drops the oldest (XADD MAXLEN ~), per partition.
   * Serve nodes stop publishing refusals at half of it and fail answered calls closed at 90%
   * (src/abuse/stream-backlog.ts), so it is how long the workers may fall behind: size it to your
   * rate (events/s a partition x the outage you want to ride out) and Redis's memory.
   */
  eventStreamMaxLength: number;
  /** How the data protection officer is reached (GDPR Art. 33(3)(b)), printed in every incident report; unset: null. */
  dpoContact: string | null;
  /** Problems worth an operator's attention that do not stop start-up (the CLI prints them). */
  warnings: string[];
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const MIN_SECRET_BYTES = 32;

/**
 * The keys findguard holds, apart from its configuration (atproto ozone's ServerSecrets): only the
 * parts that sign, verify or hash get them, and nothing that logs or prints a Config can leak them.
 */
export interface Secrets {
  /** How app JWTs are verified: a shared HS256 secret or a JWKS URL. */
  jwt: JwtConfig;
  serviceKey: string;
  /** Newest first: the first one hashes new writes, all are tried on reads during a rotation. */
  hashKeys: HashKey[];
  /** Signs webhook deliveries; set exactly when config.webhook is. */
  webhookSecret?: string;
  /** Encrypts the operator console's cookies (src/config/oidc.ts parseSessionKey). */
  sessionKey: Buffer;
  /** Set exactly when config.oidc is. */
  oidcClientSecret?: string;
  /** The Ed25519 seed that signs exported incident reports (src/config/report-key.ts). */
  reportSigningSeed: Buffer;
  /**
   * What Prometheus sends (Bearer) for a serving node's /metrics. Unset: the service key, which the
   * platform's backend holds anyway; set it so that the scraper does not hold the internal API's key.
   */
  metricsToken?: string;
}

/** A process's whole setting: what to do, and the keys to do it with. */
export interface Settings {
  config: Config;
  secrets: Secrets;
}

/** Checks raw variables and fills defaults. Throws ConfigError naming the variable at fault. */
export function buildSettings(raw: RawEnv, cwd: string = process.cwd()): Settings {
  const config = buildConfig(raw, cwd);
  return { config, secrets: buildSecrets(raw, config) };
}

/** The configuration alone; buildSecrets reads the keys (and, embedded, makes the missing ones). */
export function buildConfig(raw: RawEnv, cwd: string = process.cwd()): Config {
  const dataDir = resolve(cwd, raw.dataDir ?? './data');
  const database = parseDatabase(raw.databaseUrl, dataDir, cwd);
  const port = parseIntIn(raw.port, 'port', 8080, 0, 65535);
  const logLevel = raw.logLevel ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(ENV_NAMES.logLevel, `must be one of ${LOG_LEVELS.join(', ')}`);
  }

  const embedded = database.dialect === 'sqlite';
  const needsLocal = embedded && needsLocalSecrets(raw);
  // Checked before anything is written into it, or secrets.json's mode is reset to 0600.
  const usesDataDir = embedded && (needsLocal || isInside(database.path, dataDir));
  const warnings = usesDataDir ? checkDataDir(dataDir) : [];
  if (raw.webhookSecret && !raw.webhookUrl) throw new ConfigError(ENV_NAMES.webhookUrl, `is required when ${ENV_NAMES.webhookSecret} is set`);

  return {
    dataDir,
    database,
    redisUrl: parseRedisUrl(raw.redisUrl),
    host: raw.host ?? '127.0.0.1',
    port,
    policyPath: raw.policy ? policyPathOf(raw.policy, cwd) : undefined,
    alertsPath: raw.alerts ? resolve(cwd, raw.alerts) : undefined,
    trustedProxies: parseCidrList(raw.trustedProxies),
    webhook: parseWebhookUrl(raw.webhookUrl),
    oidc: parseOidc(raw),
    logLevel,
    eventRetentionDays: parseIntIn(raw.eventRetentionDays, 'eventRetentionDays', 90, 1, 3650),
    matchWorkers: parseIntIn(raw.matchWorkers, 'matchWorkers', Math.min(2, availableParallelism()), 0, 64),
    eventPartitions: parseIntIn(raw.eventPartitions, 'eventPartitions', 1, 1, 256),
    eventStreamMaxLength: parseIntIn(raw.eventStreamMaxLength, 'eventStreamMaxLength', DEFAULT_MAX_STREAM_LENGTH, 1000, 1_000_000_000),
    dpoContact: parseDpoContact(raw.dpoContact),
    warnings,
  };
}

/**
 * A built-in policy's name (default, signal-like, hagen-incremental) is kept as the name; anything
 * else is a file, relative to cwd. Own keys only: `constructor` is not a built-in, and kept as a
 * name it indexed Object.prototype (start-up then died on an error that named no variable).
 */
function policyPathOf(value: string, cwd: string): string {
  return Object.hasOwn(BUILT_IN_POLICIES, value) ? value : resolve(cwd, value);
}

function needsLocalSecrets(raw: RawEnv): boolean {
  return !raw.hashKeys || !raw.serviceKey || (!raw.jwtSecret && !raw.jwksUrl);
}

/**
 * The keys, from the environment; the embedded default generates the missing ones once and keeps
 * them in its data folder. Throws ConfigError naming the variable at fault.
 */
export function buildSecrets(raw: RawEnv, config: Config): Secrets {
  // A shared database means many nodes: generated per-node secrets would silently disagree,
  // so they must be given explicitly. Only the embedded default generates its own.
  const embedded = config.database.dialect === 'sqlite';
  if (!embedded) {
    if (!raw.hashKeys) throw new ConfigError(ENV_NAMES.hashKeys, 'is required with a PostgreSQL database');
    if (!raw.serviceKey) throw new ConfigError(ENV_NAMES.serviceKey, 'is required with a PostgreSQL database');
    if (!raw.jwtSecret && !raw.jwksUrl) {
      throw new ConfigError(ENV_NAMES.jwtSecret, `or ${ENV_NAMES.jwksUrl} is required with a PostgreSQL database`);
    }
  }
  const local = embedded && needsLocalSecrets(raw) ? loadOrCreateSecrets(config.dataDir) : undefined;
  const serviceKey = raw.serviceKey ?? local?.serviceKey ?? '';
  if (serviceKey.length < 16) throw new ConfigError(ENV_NAMES.serviceKey, 'must be at least 16 characters');
  if (config.webhook && (!raw.webhookSecret || raw.webhookSecret.length < 16)) {
    throw new ConfigError(ENV_NAMES.webhookSecret, 'is required with a webhook URL and must be at least 16 characters');
  }
  if (raw.metricsToken !== undefined && raw.metricsToken.length < 16) throw new ConfigError(ENV_NAMES.metricsToken, 'must be at least 16 characters');
  const hashKeys = parseHashKeys(raw.hashKeys ?? local?.hashKeys ?? '', raw.hashKeys ? ENV_NAMES.hashKeys : 'secrets.json hashKeys');
  return {
    jwt: parseJwt(raw, local?.jwtSecret),
    serviceKey,
    hashKeys,
    ...(config.webhook && raw.webhookSecret ? { webhookSecret: raw.webhookSecret } : {}),
    sessionKey: parseSessionKey(raw, hashKeys),
    reportSigningSeed: parseReportSigningSeed(raw, hashKeys),
    ...(config.oidc && raw.oidcClientSecret ? { oidcClientSecret: raw.oidcClientSecret } : {}),
    ...(raw.metricsToken ? { metricsToken: raw.metricsToken } : {}),
  };
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

function parseDatabase(url: string | undefined, dataDir: string, cwd: string): DatabaseConfig {
  if (!url) return { dialect: 'sqlite', path: resolve(dataDir, 'findguard.sqlite') };
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\//, '');
    if (!path) throw new ConfigError(ENV_NAMES.databaseUrl, 'sqlite: needs a file path, e.g. sqlite:./data/findguard.sqlite');
    if (path === ':memory:') return { dialect: 'sqlite', path };
    return { dialect: 'sqlite', path: isAbsolute(path) ? path : resolve(cwd, path) };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    try {
      new URL(url);
    } catch {
      throw new ConfigError(ENV_NAMES.databaseUrl, 'is not a valid postgres:// URL');
    }
    return { dialect: 'postgres', url };
  }
  throw new ConfigError(ENV_NAMES.databaseUrl, 'must start with sqlite: or postgres://');
}

function parseRedisUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  if (!/^rediss?:\/\//.test(url)) throw new ConfigError(ENV_NAMES.redisUrl, 'must start with redis:// or rediss://');
  return url;
}

function parseIntIn(value: string | undefined, key: keyof RawEnv, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new ConfigError(ENV_NAMES[key], 'must be a whole number');
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(ENV_NAMES[key], `must be between ${min} and ${max}`);
  return n;
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const MAX_JWT_LIFETIME_DAYS = 3650;

/** Whole seconds ("86400") or a duration in one unit ("90m", "12h", "7d"); undefined when unset. */
function parseMaxLifetime(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,12})([smhd]?)$/.exec(value);
  const seconds = m ? Number(m[1]) * DURATION_UNITS[m[2] || 's']! : NaN;
  if (!(seconds >= 1 && seconds <= MAX_JWT_LIFETIME_DAYS * 86_400)) {
    throw new ConfigError(ENV_NAMES.jwtMaxLifetime, `must be whole seconds or a duration such as 90m, 12h or 7d, from 1s to ${MAX_JWT_LIFETIME_DAYS}d`);
  }
  return seconds;
}

function parseJwt(raw: RawEnv, localSecret: string | undefined): JwtConfig {
  const issuer = raw.jwtIssuer;
  const audience = raw.jwtAudience;
  const maxLifetimeSeconds = parseMaxLifetime(raw.jwtMaxLifetime);
  const bound = maxLifetimeSeconds === undefined ? {} : { maxLifetimeSeconds };
  if (raw.jwtSecret && raw.jwksUrl) {
    throw new ConfigError(ENV_NAMES.jwtSecret, `set either it or ${ENV_NAMES.jwksUrl}, not both`);
  }
  if (raw.jwksUrl) {
    let url: URL;
    try {
      url = new URL(raw.jwksUrl);
    } catch {
      throw new ConfigError(ENV_NAMES.jwksUrl, 'is not a valid URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(ENV_NAMES.jwksUrl, 'must be http(s)');
    return { kind: 'jwks', url, issuer, audience, ...bound };
  }
  const secret = raw.jwtSecret ?? localSecret;
  if (!secret) throw new ConfigError(ENV_NAMES.jwtSecret, 'is required');
  const bytes = Buffer.from(secret, 'utf8');
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new ConfigError(ENV_NAMES.jwtSecret, `must be at least ${MIN_SECRET_BYTES} bytes for HS256`);
  }
  return { kind: 'hs256', secret: bytes, issuer, audience, ...bound, local: !raw.jwtSecret };
}

/** `v2:BASE64,v1:BASE64`, newest first. */
export function parseHashKeys(value: string, variable: string = ENV_NAMES.hashKeys): HashKey[] {
  const keys: HashKey[] = [];
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^v(\d{1,6}):([A-Za-z0-9+/_-]+={0,2})$/.exec(part);
    if (!m) throw new ConfigError(variable, 'each key must look like v1:BASE64');
    const version = Number(m[1]);
    const key = Buffer.from(m[2]!, 'base64');
    if (key.length < MIN_SECRET_BYTES) throw new ConfigError(variable, `key v${version} must be at least ${MIN_SECRET_BYTES} bytes`);
    if (keys.some((k) => k.version === version)) throw new ConfigError(variable, `key v${version} is listed twice`);
    keys.push({ version, key });
  }
  if (keys.length === 0) throw new ConfigError(variable, 'needs at least one key');
  return keys;
}

function parseCidrList(value: string | undefined): string[] {
  if (!value) return [];
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const cidr of list) {
    // Checked fully here: anything Fastify's proxy-addr would reject at start-up (10.0.0.0/99,
    // "beef") must fail as a ConfigError naming the variable.
    const [ip = '', prefix, ...rest] = cidr.split('/');
    const family = isIP(ip);
    const validPrefix = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
    if (family === 0 || rest.length > 0 || !validPrefix) {
      throw new ConfigError(ENV_NAMES.trustedProxies, 'must be a comma-separated list of IPs or CIDRs');
    }
  }
  return list;
}

function parseWebhookUrl(value: string | undefined): Config['webhook'] {
  if (!value) return undefined;
  try {
    return { url: new URL(value) };
  } catch {
    throw new ConfigError(ENV_NAMES.webhookUrl, 'is not a valid URL');
  }
}
