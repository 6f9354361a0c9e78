import { deriveKey, oldestHashKey } from '../util/derive-key.js';
import { isRole, type Role } from '../operators/roles.js';
import { ConfigError } from './errors.js';
import { ENV_NAMES, type RawEnv } from './env.js';

/** OIDC sign-in for the operator console; the client secret is in Secrets. */
export interface OidcConfig {
  issuer: URL;
  clientId: string;
  /** …/admin/v1/oidc/callback as the browser reaches it (behind the TLS proxy: https). */
  redirectUrl: URL;
  /** Group -> role; an operator none of whose groups is listed cannot sign in. */
  groupRoles: Map<string, Role>;
  /** The ID token claim listing the groups (default `groups`). */
  groupsClaim: string;
}

function url(value: string, key: keyof RawEnv, httpsOnly: boolean): URL {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new ConfigError(ENV_NAMES[key], 'is not a valid URL');
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && !httpsOnly)) throw new ConfigError(ENV_NAMES[key], 'must be an https:// URL');
  return u;
}

/** Set exactly when FINDGUARD_OIDC_ISSUER is: then the client id, secret, redirect URL and group roles are required. */
export function parseOidc(raw: RawEnv): OidcConfig | undefined {
  const others = [raw.oidcClientId, raw.oidcClientSecret, raw.oidcRedirectUrl, raw.oidcGroupRoles, raw.oidcGroupsClaim];
  if (!raw.oidcIssuer) {
    if (others.some((v) => v !== undefined)) throw new ConfigError(ENV_NAMES.oidcIssuer, 'is required when any other FINDGUARD_OIDC_ variable is set');
    return undefined;
  }
  // Plain http only for an issuer on the loopback (a provider in a test or on the same host).
  const issuer = url(raw.oidcIssuer, 'oidcIssuer', !/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(raw.oidcIssuer));
  if (!raw.oidcClientId) throw new ConfigError(ENV_NAMES.oidcClientId, `is required with ${ENV_NAMES.oidcIssuer}`);
  if (!raw.oidcClientSecret) throw new ConfigError(ENV_NAMES.oidcClientSecret, `is required with ${ENV_NAMES.oidcIssuer}`);
  if (!raw.oidcRedirectUrl) throw new ConfigError(ENV_NAMES.oidcRedirectUrl, `is required with ${ENV_NAMES.oidcIssuer}`);
  // The console needs HTTPS in front (its cookies are Secure), so the redirect is https unless on the loopback.
  const redirectUrl = url(raw.oidcRedirectUrl, 'oidcRedirectUrl', !/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?\//.test(raw.oidcRedirectUrl));
  if (!raw.oidcGroupRoles) throw new ConfigError(ENV_NAMES.oidcGroupRoles, `is required with ${ENV_NAMES.oidcIssuer}, e.g. fg-admins=admin,fg-analysts=analyst`);
  return { issuer, clientId: raw.oidcClientId, redirectUrl, groupRoles: parseGroupRoles(raw.oidcGroupRoles), groupsClaim: raw.oidcGroupsClaim ?? 'groups' };
}

/** "fg-admins=admin,fg-analysts=analyst" -> a map. */
export function parseGroupRoles(value: string): Map<string, Role> {
  const map = new Map<string, Role>();
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.lastIndexOf('=');
    const group = part.slice(0, eq).trim();
    const role = part.slice(eq + 1).trim();
    if (eq <= 0 || !group || !isRole(role)) throw new ConfigError(ENV_NAMES.oidcGroupRoles, `"${part}" is not group=viewer|analyst|admin`);
    map.set(group, role);
  }
  if (map.size === 0) throw new ConfigError(ENV_NAMES.oidcGroupRoles, 'maps no group');
  return map;
}

/**
 * The key that encrypts the console's cookies: FINDGUARD_SESSION_KEY (base64, 32 bytes or more,
 * the same on every node), else derived (HKDF-SHA256) from the oldest hash key, which every node
 * already shares and which survives a rotation that adds a newer one. The cookie only wraps a
 * session id and its secret, both checked against the database.
 */
export function parseSessionKey(raw: RawEnv, hashKeys: ReadonlyArray<{ key: Buffer }>): Buffer {
  if (raw.sessionKey) {
    const key = Buffer.from(raw.sessionKey, 'base64');
    if (key.length < 32) throw new ConfigError(ENV_NAMES.sessionKey, 'must be at least 32 bytes, base64');
    return deriveKey(key, 'operator session cookie');
  }
  return deriveKey(oldestHashKey(hashKeys), 'operator session cookie');
}
