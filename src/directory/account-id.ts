import { Type } from 'typebox';
import { AppError } from '../errors.js';
import { isContactLike } from './contact-like.js';

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
 * An account id is stored verbatim (accounts, lookup events, campaign graphs, logs) and handed to
 * every caller who finds the account: an app that names its accounts by their email address (or
 * an identity provider's `sub` that is one) would give a caller who sent a phone number the
 * owner's address, a contact value the owner never made findable, and put raw addresses in the
 * store. So such ids are refused where accounts are made (the internal API, the import) and where
 * callers are named (the JWT `sub`), as a device id holding one is (contact-like.ts). The charset
 * above already leaves out '+', so a phone number can only be one in its international "00" form.
 */
export function requireOpaqueAccountId(id: string, path: string): void {
  if (!isContactLike(id)) return;
  const details = [{ path, message: 'must not be a phone number or an email address', reason: 'account_id_contact_value' }];
  throw new AppError('invalid_request', 'the account id must be opaque, never a phone number or an email address', details);
}

/**
 * Fastify's maxParamLength (its default, 100, answered 414 for valid ids): an id is measured as
 * sent, and ':' and '@' stay percent-encoded in a path, so every character may take three.
 */
export const MAX_PATH_PARAM_LENGTH = 3 * ACCOUNT_ID_MAX_LENGTH;
