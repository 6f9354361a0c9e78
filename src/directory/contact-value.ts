import { normaliseEmail } from './email.js';
import type { ContactKind } from './hashing.js';
import { normalisePhone } from './phone.js';

export type ContactValueResult = { ok: true; value: string } | { ok: false; code: 'invalid_phone' | 'invalid_email' };

/** One entry point for both kinds, so every caller normalises the same way before hashing. */
export function normaliseContact(kind: ContactKind, input: string, region?: string): ContactValueResult {
  if (kind === 'email') return normaliseEmail(input);
  const r = normalisePhone(input, region);
  return r.ok ? { ok: true, value: r.e164 } : r;
}
