import { isContactLike } from '../directory/contact-like.js';
import { AppError } from '../errors.js';
import type { PhaseFields } from './incident-records.js';

/** The checks the incident lifecycle applies to what operators send (incident-lifecycle.ts). */

/** Free text of a report field or a note: a regulator's form has room, a database row should not be a dump. */
export const MAX_TEXT = 20_000;

export function illegal(from: string, to: string): AppError {
  return new AppError('illegal_transition', `an incident cannot go from ${from} to ${to}`, { from, to });
}

export function withAuthor(authors: readonly string[], id: string): string[] {
  return authors.includes(id) ? [...authors] : [...authors, id];
}

export function text(value: string, name: string, max: number, min = 0): string {
  if (typeof value !== 'string' || value.length < min || value.length > max) throw new AppError('invalid_request', `${name} must be ${min} to ${max} characters`);
  return value;
}

/**
 * An incident's owner: a person's or a team's name. A colleague's email address is the obvious
 * thing to type there, and the owner is stored with the incident and printed in its regulator
 * report; no raw email address or phone number is stored (as operators' names, common.ts).
 */
export function owner(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  const checked = text(value, 'owner', 64, 1);
  // Seven digits or more, however spaced: no name needs them, and every phone number has them.
  if (isContactLike(checked) || (checked.match(/[0-9]/g)?.length ?? 0) >= 7) throw new AppError('invalid_request', 'owner must name a person or a team, never an email address or a phone number');
  return checked;
}

export function checkFields(f: PhaseFields): PhaseFields {
  const out: PhaseFields = {
    nature: text(f.nature, 'nature', MAX_TEXT),
    categories: text(f.categories, 'categories', MAX_TEXT),
    consequences: text(f.consequences, 'consequences', MAX_TEXT),
    measuresTakenNote: text(f.measuresTakenNote, 'measuresTakenNote', MAX_TEXT),
    measuresPlanned: text(f.measuresPlanned, 'measuresPlanned', MAX_TEXT),
    art34: { applies: f.art34?.applies ?? null, reason: text(f.art34?.reason ?? '', 'art34.reason', MAX_TEXT) },
    supplement: text(f.supplement, 'supplement', MAX_TEXT),
  };
  return out;
}
