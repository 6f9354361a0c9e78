import { afterAll, beforeAll, expect, it } from 'vitest';
import { importLines, mirrorAccount } from '../helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from '../helpers/service.js';

/**
 * Review (fixed: email.ts refuses unpaired surrogates and U+FFFD) (input validation): a contact point's `value` is a plain Type.String (src/directory/
 * schemas.ts ContactPointBody), and normaliseEmail's pattern (src/directory/email.ts, no u flag)
 * lets an unpaired UTF-16 surrogate through. The keyed hash is taken over the value's UTF-8
 * (hashing.ts), where every lone surrogate becomes U+FFFD: "a\ud800@…", "a\udfff@…" and
 * "a\ufffd@…" are one hash, so the second answers 409 "already has this contact point" for a
 * value the app never sent, and the import accepts it too. Handles refuse \p{Cs}
 * (src/util/text.ts, fixed for free text); the contact value, which is what gets hashed, does not.
 * Expected: 400 (invalid_email or invalid_request), as a NUL or a surrogate in a phone is refused.
 */
describeEachDialect('an email value holding an unpaired surrogate', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    await mirrorAccount(svc, 'sur1');
  });
  afterAll(async () => svc?.stop());

  it('is refused by POST and by the import', async () => {
    const post = (value: string) =>
      svc.app.inject({
        method: 'POST',
        url: '/internal/v1/accounts/sur1/contact-points',
        headers: { ...svc.internal, 'content-type': 'application/json' },
        payload: `{"kind":"email","value":"${value}","purposes":["discovery"],"verified":true}`,
      });
    const first = await post('a\\ud800@example.org');
    const second = await post('a\\udfff@example.org');
    // Before a fix: 201, then 409 conflict naming the first point (two values, one hash).
    expect([first.statusCode, second.statusCode]).toEqual([400, 400]);
    expect(first.json().error.code).toMatch(/^(invalid_email|invalid_request)$/);

    const imp = await importLines(svc, [{ accountId: 'sur2', handle: 'x', contactPoints: [{ kind: 'email', value: 'b\ud800@example.org', purposes: ['discovery'], verified: true }] }]);
    expect(imp.json().failed).toBe(1);
  });
});
