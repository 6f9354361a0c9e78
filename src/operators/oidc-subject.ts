import { createHmac } from 'node:crypto';
import { deriveKey } from '../util/derive-key.js';
import type { VaultKey } from './totp-vault.js';

/**
 * What `operators.oidc_subject` holds for an OIDC operator: a keyed hash of the issuer and
 * subject, not the pair itself. The subject is opaque at most providers, but some give the email
 * address as `sub`, and the table (and the audit entries that name the subject) must keep none.
 * Stored as `s<version>:<hex>` under the hash key of that version; a sign-in finds its operator
 * under any configured key, or under the plain pair an older release stored, and moves the row to
 * the newest key (as TotpVault reseals). An operator who does not sign in before a key is retired
 * is not found afterwards: their next sign-in makes a new operator.
 */
export class OidcSubjects {
  private readonly keys: ReadonlyArray<{ version: number; key: Buffer }>;

  constructor(hashKeys: readonly VaultKey[]) {
    if (hashKeys.length === 0) throw new Error('OidcSubjects needs a key');
    this.keys = hashKeys.map((k) => ({ version: k.version, key: deriveKey(k.key, 'operator oidc subject') }));
  }

  /** What a new or moved row stores. */
  current(subject: string): string {
    return this.under(this.keys[0]!, subject);
  }

  /** Every form a row for this subject may hold, the current one first. */
  candidates(subject: string): string[] {
    return [...this.keys.map((k) => this.under(k, subject)), subject];
  }

  private under(k: { version: number; key: Buffer }, subject: string): string {
    return `s${k.version}:${createHmac('sha256', k.key).update(subject).digest('hex')}`;
  }
}
