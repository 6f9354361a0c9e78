/**
 * Operator roles, lowest first. viewer reads; analyst also acts on accounts, decisions and
 * campaigns; admin also manages operators, policy and webhooks. Imports nothing, so the audit
 * trail (incidents/) can name a role without depending on the operator store.
 */
export const ROLES = ['viewer', 'analyst', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function roleRank(role: Role): number {
  return ROLES.indexOf(role);
}

/** Whether `role` carries at least the rights of `min`. */
export function atLeast(role: Role, min: Role): boolean {
  return roleRank(role) >= roleRank(min);
}

/**
 * Whether an operator of role `actor` may create, change, disable or issue tokens for an operator
 * of role `target` (or give someone that role): only admins manage operators, and nobody manages
 * a role above their own.
 */
export function canManage(actor: Role, target: Role): boolean {
  return atLeast(actor, 'admin') && roleRank(target) <= roleRank(actor);
}
