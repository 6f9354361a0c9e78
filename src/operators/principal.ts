import type { Role } from './roles.js';

/** How an operator proved who they are. */
export type AuthMethod = 'password+totp' | 'oidc' | 'token';

/** The operator behind a console or admin API request. */
export interface OperatorPrincipal {
  id: string;
  name: string;
  role: Role;
  via: AuthMethod;
  /** Set when signed in with a session cookie. */
  sessionId?: string;
  /** Set when authenticated by an API token. */
  tokenId?: string;
  /** With a token: the operator id (or `cli`) that made it; null when not known (an older token). */
  tokenMadeBy?: string | null;
}

/**
 * Tokens made on the server's CLI count as their operator's own: whoever runs it there holds the
 * database and its keys, beyond what any rule in the application can bound.
 */
export const CLI_TOKEN_MAKER = 'cli';

/**
 * Whether the operator authenticated with a token someone else made (an admin, for a service
 * account or a colleague), or one whose maker is unknown. It acts as its operator, but its bearer
 * may be whoever made it, so it cannot give an approval of the two-person rule.
 */
export function byAnothersToken(op: OperatorPrincipal): boolean {
  return op.via === 'token' && op.tokenMadeBy !== op.id && op.tokenMadeBy !== CLI_TOKEN_MAKER;
}

/**
 * How the audit trail says the operator authenticated: a token another operator made says so and
 * names its maker, since whoever made it may be the one using it.
 */
export function auditVia(op: OperatorPrincipal): string {
  if (!byAnothersToken(op)) return op.via;
  return `token made by ${op.tokenMadeBy ?? 'unknown'}`;
}

/** Where an operator acts from, for the audit trail. */
export interface ActingContext {
  from: string | null;
  tool: 'console' | 'api' | 'cli';
}
