import { isRecord } from './errors.js';

export type ContactKind = 'phone' | 'email';

import { MAX_PREVIOUS_VALUES, MAX_SYNC_VALUES } from '../protocol/discovery.js';

export { MAX_PREVIOUS_VALUES, MAX_SYNC_VALUES };

/** One kind's sync memory: the exact set the last token covers, and what the server said was invalid in it. */
export interface KindSyncState {
  token: string;
  /** Exactly as sent (the token's MAC covers these strings, not their normalised form). */
  values: string[];
  /** Entries of `values` the server refused, so later syncs still report them without resending. */
  invalid: Array<{ value: string; code: string }>;
}

/** JSON-safe; what `exportState()` returns and `importState()` takes. */
export interface SyncState {
  version: 1;
  phone?: KindSyncState;
  email?: KindSyncState;
}

/** Field names in the sync body for each kind (DESIGN §3: `contacts` for phones, `emails` for emails). */
export function fieldOf(kind: ContactKind): 'contacts' | 'emails' {
  return kind === 'phone' ? 'contacts' : 'emails';
}

export function cloneState(state: SyncState): SyncState {
  const out: SyncState = { version: 1 };
  for (const kind of ['phone', 'email'] as const) {
    const s = state[kind];
    if (s) out[kind] = { token: s.token, values: [...s.values], invalid: s.invalid.map((i) => ({ ...i })) };
  }
  return out;
}

/** Validates persisted state before trusting it; a TypeError names what is wrong. */
export function parseState(input: unknown): SyncState {
  if (!isRecord(input) || input.version !== 1) throw new TypeError('sync state: expected {version: 1, ...}');
  const out: SyncState = { version: 1 };
  for (const kind of ['phone', 'email'] as const) {
    const s = input[kind];
    if (s === undefined) continue;
    if (!isRecord(s) || typeof s.token !== 'string' || s.token.length === 0) throw new TypeError(`sync state: ${kind}.token must be a non-empty string`);
    if (!Array.isArray(s.values) || !s.values.every((v) => typeof v === 'string')) throw new TypeError(`sync state: ${kind}.values must be strings`);
    if (s.values.length > MAX_PREVIOUS_VALUES) throw new TypeError(`sync state: ${kind}.values exceeds ${MAX_PREVIOUS_VALUES}`);
    const invalid = s.invalid ?? [];
    if (!Array.isArray(invalid) || !invalid.every((i) => isRecord(i) && typeof i.value === 'string' && typeof i.code === 'string')) {
      throw new TypeError(`sync state: ${kind}.invalid must be {value, code} entries`);
    }
    out[kind] = {
      token: s.token,
      values: [...(s.values as string[])],
      invalid: (invalid as Array<{ value: string; code: string }>).map(({ value, code }) => ({ value, code })),
    };
  }
  return out;
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
