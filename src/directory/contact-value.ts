import { normaliseEmail } from './email.js';
import type { ContactKind } from './hashing.js';
import { AppError } from '../errors.js';
import { isKnownRegion, normalisePhone } from './phone.js';

export type ContactValueResult = { ok: true; value: string } | { ok: false; code: 'invalid_phone' | 'invalid_email' };

/** A region the caller names must exist: silently ignoring a typo would turn it into invalid numbers. */
export function assertRegion(region: string | undefined): void {
  if (region !== undefined && !isKnownRegion(region)) throw new AppError('invalid_region', 'unknown region code');
}

/** One entry point for both kinds, so every caller normalises the same way before hashing. */
export function normaliseContact(kind: ContactKind, input: string, region?: string): ContactValueResult {
  if (kind === 'email') return normaliseEmail(input);
  const r = normalisePhone(input, region);
  return r.ok ? { ok: true, value: r.e164 } : r;
}

/**
 * A contact point as the app sends it, through the internal API or the import: the region
 * checked, then the value normalised, one way for both, so a value is refused or stored alike.
 */
export function normaliseContactInput(kind: ContactKind, input: string, region?: string): ContactValueResult | { ok: false; code: 'invalid_region' } {
  if (region !== undefined && !isKnownRegion(region)) return { ok: false, code: 'invalid_region' };
  return normaliseContact(kind, input, region);
}
