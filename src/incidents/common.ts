import { timeOrderedId } from '../util/ids.js';
import type { Random } from '../util/random.js';

/** What evidence, details and payloads may hold: it is stored and sent as JSON. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Who acted: the abuse engine, or an operator by name. */
export const ENGINE_ACTOR = 'engine';

const OPERATOR_NAME = /^[A-Za-z0-9._@-]{1,64}$/;

/**
 * Operator names end up in webhooks and the audit log: a plain token, never the engine's name.
 * '@' is still read, for the names added before isNewOperatorName: they must go on signing in and
 * being found, disabled and audited under the name they have.
 */
export function isOperatorName(name: string): boolean {
  return OPERATOR_NAME.test(name) && name !== ENGINE_ACTOR;
}

/**
 * A name a new operator may be given: an operator name without '@'. A colleague's email address is
 * the obvious name to pick, and a name is stored in operators and in every audit entry (which is
 * never rewritten) the operator causes; no raw email address is stored. OIDC names are cut at
 * their '@' for the same reason (operators/oidc.ts nameFrom).
 */
export function isNewOperatorName(name: string): boolean {
  return isOperatorName(name) && !name.includes('@');
}

export const NEW_OPERATOR_NAME_RULE = '1-64 letters, digits or . _ - (not an email address, and not "engine")';

/**
 * Time-ordered ids with a per-process counter (util/ids.ts): ids written by one process in the
 * same millisecond still sort in the order they were made, which the outbox poller and the
 * enforcement history rely on.
 */
export function newId(prefix: string, now: number, random: Random, randomBytes = 8): string {
  return timeOrderedId({ prefix, randomBytes, sequenced: true }, now, random);
}

/** Parses a JSON column written by this module; a damaged one reads as null instead of failing a whole report. */
export function parseJson(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return null;
  }
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
