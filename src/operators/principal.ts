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
  /**
   * With a token: whether its operator made it (or the server's CLI did). A token another operator
   * made (an admin, for a service account or a colleague) acts as its operator, but its bearer may
   * be whoever made it, so it cannot give an approval of the two-person rule.
   */
  ownToken?: boolean;
  /** With a token: the operator id (or `cli`) that made it; null when not known (an older token). */
  tokenMadeBy?: string | null;
}

/**
 * How the audit trail says the operator authenticated: a token another operator made says so and
 * names its maker, since whoever made it may be the one using it.
 */
export function auditVia(op: OperatorPrincipal): string {
  if (op.via !== 'token' || op.ownToken === true) return op.via;
  return `token made by ${op.tokenMadeBy ?? 'unknown'}`;
}

/** Where an operator acts from, for the audit trail. */
export interface ActingContext {
  from: string | null;
  tool: 'console' | 'api' | 'cli';
}
