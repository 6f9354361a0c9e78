import { afterAll, beforeAll, expect, it } from 'vitest';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn } from './helpers/operators.js';
import { startTestService, type TestService } from './helpers/service.js';

/**
 * Every numeric query parameter of every route in the OpenAPI document (so a route added later is
 * covered without editing this test) refuses a value Ajv's coercion turns into a non-finite
 * number, as a coded 400 naming the parameter: http/validation.ts checks it for all routes at once.
 * Query validation runs before any route's guard, so the admin session is only there for realism.
 */
interface Schema {
  type?: string | string[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  items?: Schema;
}
interface Parameter {
  name: string;
  in: string;
  schema?: Schema;
}

function numeric(schema: Schema | undefined): boolean {
  if (!schema) return false;
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.includes('integer') || types.includes('number')) return true;
  return [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])].some(numeric) || (types.includes('array') && numeric(schema.items));
}

let svc: TestService;
let admin: SignedIn;
const params: { url: string; name: string }[] = [];
beforeAll(async () => {
  svc = await startTestService('sqlite', { policy: 'none' }, OPERATOR_OVERRIDES);
  admin = await signIn(svc, await addOperator(svc, 'finite-admin', 'admin'));
  const doc = (await svc.app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, { parameters?: Parameter[] }>> };
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (method !== 'get') continue;
      for (const p of op.parameters ?? []) {
        if (p.in === 'query' && numeric(p.schema)) params.push({ url: path.replace(/\{[^}]+\}/g, 'x_finite_1'), name: p.name });
      }
    }
  }
}, 60_000);
afterAll(async () => svc?.stop());

it('the document has numeric query parameters to check', () => {
  expect(params.length).toBeGreaterThanOrEqual(7);
});

it('refuses Infinity, -Infinity, 1e400 and -1e400 in every numeric query parameter', async () => {
  for (const { url, name } of params) {
    for (const value of ['Infinity', '-Infinity', '1e400', '-1e400', '+Infinity']) {
      const res = await svc.app.inject({ method: 'GET', url: `${url}?${name}=${encodeURIComponent(value)}`, headers: { cookie: admin.cookie } });
      expect(res.statusCode, `${url}?${name}=${value}: ${res.body.slice(0, 200)}`).toBe(400);
      const error = res.json().error as { code: string; details?: { path: string }[] };
      expect(error.code).toBe('invalid_request');
      expect(error.details?.map((d) => d.path), `${url}?${name}=${value}`).toContain(`querystring/${name}`);
    }
    // A finite value in range is still taken as a number.
    const ok = await svc.app.inject({ method: 'GET', url: `${url}?${name}=1`, headers: { cookie: admin.cookie } });
    const details = ok.statusCode === 400 ? ((ok.json().error.details ?? []) as { path: string }[]) : [];
    expect(details.map((d) => d.path), `${url}?${name}=1`).not.toContain(`querystring/${name}`);
  }
});
