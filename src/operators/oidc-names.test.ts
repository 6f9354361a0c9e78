import { describe, expect, it } from 'vitest';
import { nameFrom } from './oidc.js';
import { OidcSubjects } from './oidc-subject.js';

describe('OIDC operator names and subjects keep no email address', () => {
  it('cuts every candidate at its @, and validates what is left', () => {
    expect(nameFrom({ sub: 'x1', preferred_username: 'olga.admin@corp.example' })).toBe('olga.admin');
    expect(nameFrom({ sub: 'x1', email: 'olga@corp.example' })).toBe('olga');
    expect(nameFrom({ sub: 'olga@corp.example' })).toBe('olga');
    // Nothing before the @: the next candidate, else a name made from the subject's local part.
    expect(nameFrom({ sub: 'x1', preferred_username: '@corp.example', email: 'o.b@corp.example' })).toBe('o.b');
    expect(nameFrom({ sub: '@corp.example' })).toBe('oidc-user');
  });

  it('keeps the subject as a keyed hash, found under every key and under the plain form of older releases', () => {
    const v1 = { version: 1, key: Buffer.alloc(32, 1) };
    const v2 = { version: 2, key: Buffer.alloc(32, 2) };
    const before = new OidcSubjects([v1]);
    const after = new OidcSubjects([v2, v1]);
    const subject = 'https://idp.example olga@corp.example';
    expect(before.current(subject)).toMatch(/^s1:[0-9a-f]{64}$/);
    expect(after.current(subject)).toMatch(/^s2:/);
    expect(after.candidates(subject)).toEqual([after.current(subject), before.current(subject), subject]);
    expect(before.current(subject)).not.toBe(before.current('https://idp.example other@corp.example'));
  });
});
