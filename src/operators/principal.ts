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
  /** With a password+TOTP session: the other operator who was handed both (credentialHolder). */
  credentialsHeldBy?: string;
}

/**
 * Tokens made on the server's CLI count as their operator's own: whoever runs it there holds the
 * database and its keys, beyond what any rule in the application can bound.
 */
export const CLI_TOKEN_MAKER = 'cli';

/**
 * Another operator who holds what this principal signed in with, and so may be the one using it: the
 * maker of a token someone else made (an admin, for a service account or a colleague), or the
 * operator who was handed both the password and the current TOTP secret of a local sign-in (who added
 * this operator through the admin API, and has not been replaced since by a TOTP reset on the server
 * or by someone else). Null when that is not known (a token made before makers were recorded);
 * undefined when nobody but the operator (or the server's CLI) holds it.
 */
export function heldBy(op: OperatorPrincipal): string | null | undefined {
  if (op.via === 'token') return op.tokenMadeBy === op.id || op.tokenMadeBy === CLI_TOKEN_MAKER ? undefined : (op.tokenMadeBy ?? null);
  return op.via === 'password+totp' ? op.credentialsHeldBy : undefined;
}

/**
 * Who may be acting as this principal: whoever else holds what it signed in with, else the operator
 * itself; null when another holds it and is not known.
 */
export function actingHolder(op: OperatorPrincipal): string | null {
  const holder = heldBy(op);
  return holder === undefined ? op.id : holder;
}

/**
 * Whether someone else may be the one using this principal. It acts as its operator, but it cannot
 * give an approval of the two-person rule: one person would approve twice.
 */
export function inAnothersHands(op: OperatorPrincipal): boolean {
  return heldBy(op) !== undefined;
}

/**
 * The other operator a local operator's row says holds both halves of its sign-in, if one does
 * (migration 20270108000000). Holding one half is not signing in: a TOTP another admin reset
 * leaves the password with whoever set it.
 */
export function credentialHolder(row: { password_set_by: string | null; totp_set_by: string | null }): string | undefined {
  return row.password_set_by !== null && row.password_set_by === row.totp_set_by ? row.password_set_by : undefined;
}

/**
 * How the audit trail says the operator authenticated: a principal in someone else's hands says so
 * and names them, since they may be the one using it.
 */
export function auditVia(op: OperatorPrincipal): string {
  const holder = heldBy(op);
  if (holder === undefined) return op.via;
  return op.via === 'token' ? `token made by ${holder ?? 'unknown'}` : `password+totp set by ${holder ?? 'unknown'}`;
}

/** Where an operator acts from, for the audit trail. */
export interface ActingContext {
  from: string | null;
  tool: 'console' | 'api' | 'cli';
}
