import { readFileSync } from 'node:fs';
import createClient from 'openapi-fetch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { totpCode } from '../src/operators/totp.js';
import { clientTypes, CLIENT_TYPES } from '../scripts/openapi.js';
import type { paths } from './generated/findguard-api.js';
import { mirrorAccount, NUMBERS } from './helpers/fixtures.js';
import { addOperator, OPERATOR_OVERRIDES } from './helpers/operators.js';
import { startTestService, T0, type TestService } from './helpers/service.js';

/**
 * A client generated from the OpenAPI document (openapi-typescript types, openapi-fetch calls)
 * type-checks against real calls: `npm run typecheck` compiles this file against
 * test/generated/findguard-api.ts, and the calls below run through the app. The committed types
 * must be those of the current document (regenerate with `npm run generate:client`).
 */

/** openapi-fetch's fetch, answered by app.inject(): no listening socket. */
function injectFetch(app: App) {
  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const body = req.method === 'GET' ? undefined : await req.text();
    const res = await app.inject({ method: req.method as 'GET', url: `${url.pathname}${url.search}`, headers: Object.fromEntries(req.headers), ...(body ? { payload: body } : {}) });
    return new Response(res.statusCode === 204 ? null : res.rawPayload, { status: res.statusCode, headers: res.headers as Record<string, string> });
  };
}

describe('the generated OpenAPI client', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('sqlite', {}, OPERATOR_OVERRIDES);
    await mirrorAccount(svc, 'member', [{ value: NUMBERS.usA, purposes: ['discovery'] }], { createdAt: new Date(T0 - 400 * 86_400_000).toISOString(), phoneRegion: 'US' });
  });
  afterAll(async () => svc?.stop());

  it('is generated from the current document', async () => {
    const current = await clientTypes(svc.app.swagger());
    expect(readFileSync(CLIENT_TYPES, 'utf8'), 'run npm run generate:client').toBe(current);
  });

  it('signs in, reads and acts through typed calls', async () => {
    const op = await addOperator(svc, 'typed', 'analyst');
    const client = createClient<paths>({ baseUrl: 'http://findguard.test', fetch: injectFetch(svc.app) });
    svc.clock.advance(30_000);
    const session = await client.POST('/admin/v1/session', { body: { name: op.name, password: op.password, totp: totpCode(op.totpSecret, svc.clock.now()) } });
    expect(session.response.status).toBe(200);
    const cookie = session.response.headers.get('set-cookie')!.split(';')[0]!;
    const headers = { cookie, 'x-csrf-token': session.data!.csrfToken! };

    const overview = await client.GET('/admin/v1/overview', { params: { query: { window: 'day' } }, headers });
    expect(overview.data?.series.t.length).toBe(96);
    const added = await client.POST('/admin/v1/decisions', { body: { scope: 'asn', subject: 'AS64500', action: 'throttle', reason: 'typed client', durationSeconds: 3600 }, headers });
    expect(added.data).toMatchObject({ scope: 'asn', subject: '64500', status: 'active' });
    const listed = await client.GET('/admin/v1/decisions', { params: { query: { scope: 'asn', active: 'true' } }, headers });
    expect(listed.data?.items.map((d) => d.id)).toEqual([added.data!.id]);
    const lifted = await client.POST('/admin/v1/decisions/{id}/lift', { params: { path: { id: added.data!.id } }, body: { reason: 'done' }, headers });
    expect(lifted.data?.status).toBe('lifted');
    const refused = await client.POST('/admin/v1/decisions/{id}/lift', { params: { path: { id: added.data!.id } }, body: { reason: 'again' }, headers });
    expect(refused.error?.error.code).toBe('conflict');

    const lookup = await client.POST('/v1/discovery/lookup', { body: { phone: NUMBERS.usA }, headers: { authorization: `Bearer ${await svc.tokenFor('member')}` } });
    expect(lookup.data?.match?.accountId).toBe('member');
  });
});
