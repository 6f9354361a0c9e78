/**
 * The raw FINDGUARD_* variables. The only module that reads process.env, so every other
 * module can be handed a checked Config and tests never depend on the environment.
 */
export interface RawEnv {
  dataDir?: string;
  databaseUrl?: string;
  redisUrl?: string;
  host?: string;
  port?: string;
  jwtSecret?: string;
  jwksUrl?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  jwtMaxLifetime?: string;
  serviceKey?: string;
  hashKeys?: string;
  policy?: string;
  trustedProxies?: string;
  webhookUrl?: string;
  webhookSecret?: string;
  logLevel?: string;
  eventRetentionDays?: string;
  matchWorkers?: string;
  eventPartitions?: string;
  eventStreamMaxLength?: string;
  sessionKey?: string;
  oidcIssuer?: string;
  oidcClientId?: string;
  oidcClientSecret?: string;
  oidcRedirectUrl?: string;
  oidcGroupRoles?: string;
  oidcGroupsClaim?: string;
  alerts?: string;
  dpoContact?: string;
  reportSigningKey?: string;
  metricsToken?: string;
}

export const ENV_NAMES: Record<keyof RawEnv, string> = {
  dataDir: 'FINDGUARD_DATA_DIR',
  databaseUrl: 'FINDGUARD_DATABASE_URL',
  redisUrl: 'FINDGUARD_REDIS_URL',
  host: 'FINDGUARD_HOST',
  port: 'FINDGUARD_PORT',
  jwtSecret: 'FINDGUARD_JWT_SECRET',
  jwksUrl: 'FINDGUARD_JWKS_URL',
  jwtIssuer: 'FINDGUARD_JWT_ISSUER',
  jwtAudience: 'FINDGUARD_JWT_AUDIENCE',
  jwtMaxLifetime: 'FINDGUARD_JWT_MAX_LIFETIME',
  serviceKey: 'FINDGUARD_SERVICE_KEY',
  hashKeys: 'FINDGUARD_HASH_KEYS',
  policy: 'FINDGUARD_POLICY',
  trustedProxies: 'FINDGUARD_TRUSTED_PROXIES',
  webhookUrl: 'FINDGUARD_WEBHOOK_URL',
  webhookSecret: 'FINDGUARD_WEBHOOK_SECRET',
  logLevel: 'FINDGUARD_LOG_LEVEL',
  eventRetentionDays: 'FINDGUARD_EVENT_RETENTION_DAYS',
  matchWorkers: 'FINDGUARD_MATCH_WORKERS',
  eventPartitions: 'FINDGUARD_EVENT_PARTITIONS',
  eventStreamMaxLength: 'FINDGUARD_EVENT_STREAM_MAX_LENGTH',
  sessionKey: 'FINDGUARD_SESSION_KEY',
  oidcIssuer: 'FINDGUARD_OIDC_ISSUER',
  oidcClientId: 'FINDGUARD_OIDC_CLIENT_ID',
  oidcClientSecret: 'FINDGUARD_OIDC_CLIENT_SECRET',
  oidcRedirectUrl: 'FINDGUARD_OIDC_REDIRECT_URL',
  oidcGroupRoles: 'FINDGUARD_OIDC_GROUP_ROLES',
  oidcGroupsClaim: 'FINDGUARD_OIDC_GROUPS_CLAIM',
  alerts: 'FINDGUARD_ALERTS',
  dpoContact: 'FINDGUARD_DPO_CONTACT',
  reportSigningKey: 'FINDGUARD_REPORT_SIGNING_KEY',
  metricsToken: 'FINDGUARD_METRICS_TOKEN',
};

export function readEnv(env: NodeJS.ProcessEnv = process.env): RawEnv {
  const raw: RawEnv = {};
  for (const [key, name] of Object.entries(ENV_NAMES) as Array<[keyof RawEnv, string]>) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') raw[key] = value.trim();
  }
  return raw;
}

/**
 * The FINDGUARD_ALERT_* variables: the secrets an alert route names (a Slack webhook URL, a
 * PagerDuty routing key) by variable, so the policy file holds names and never the values.
 */
export function readAlertEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith('FINDGUARD_ALERT_') && value !== undefined && value.trim() !== '') out[name] = value.trim();
  }
  return out;
}
