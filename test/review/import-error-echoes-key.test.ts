import { afterAll, beforeAll, expect, it } from 'vitest';
import { importLines } from '../helpers/fixtures.js';
import { startTestService, type TestService } from '../helpers/service.js';

/**
 * Review (import, "coded errors, no echoes"): README promises error messages "never carry the
 * path, the query or any value sent". The import reports a line that fails its schema as
 * `${first.instancePath} ${first.message}` (src/directory/import.ts:97-100). TypeBox reports an
 * unknown property first as a `schema is false` error whose instancePath *is the property name*,
 * so a line that carries a number or address as a key (a map keyed by number, a mis-shaped export)
 * gets it back verbatim in the report, which `findguard import` prints to stdout
 * (src/cli/commands.ts:28) and which the app's import job typically logs. The internal API's own
 * schema errors (Ajv, additionalProperties) name only the enclosing object.
 */
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService('sqlite', { policy: 'none' });
});
afterAll(async () => svc?.stop());

it('[sqlite] an import error never quotes a phone number or address the line held', async () => {
  const r = await importLines(svc, [
    { accountId: 'a1', handle: 'h1', '+14155550100': { verified: true } },
    { accountId: 'a2', handle: 'h2', contactPoints: [{ kind: 'email', value: 'x@example.com', purposes: [], verified: true, 'secret.person@mail.example': true }] },
  ]);
  expect(r.statusCode).toBe(200);
  const report = r.json<{ failed: number; errors: Array<{ message: string }> }>();
  expect(report.failed).toBe(2);
  const messages = report.errors.map((e) => e.message).join('\n');
  expect(messages).not.toContain('+14155550100');
  expect(messages).not.toContain('secret.person@mail.example');
  // Still says where and what: the object holding the unknown property.
  expect(report.errors.map((e) => e.message)).toEqual(['/ must not have additional properties', '/contactPoints/0 must not have additional properties']);
});
