import { Type } from 'typebox';

/**
 * The app's account ids, one rule everywhere: the internal API's paths and bodies, the JWT `sub`,
 * the NDJSON import and the lookup events. 128 is the width of the accounts.id column.
 */
export const ACCOUNT_ID_MAX_LENGTH = 128;
export const ACCOUNT_ID_PATTERN = `^[A-Za-z0-9._:@-]{1,${ACCOUNT_ID_MAX_LENGTH}}$`;

export const AccountId = Type.String({ pattern: ACCOUNT_ID_PATTERN, maxLength: ACCOUNT_ID_MAX_LENGTH, description: "The app's account id" });

const ACCOUNT_ID = new RegExp(ACCOUNT_ID_PATTERN);

export function isAccountId(value: unknown): value is string {
  return typeof value === 'string' && ACCOUNT_ID.test(value);
}

/**
 * Fastify's maxParamLength (its default, 100, answered 414 for valid ids): an id is measured as
 * sent, and ':' and '@' stay percent-encoded in a path, so every character may take three.
 */
export const MAX_PATH_PARAM_LENGTH = 3 * ACCOUNT_ID_MAX_LENGTH;
