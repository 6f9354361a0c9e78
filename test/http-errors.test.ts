import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signDevToken } from '../src/http/auth/jwt.js';
import { lookup, mirrorAccount, NUMBERS } from './helpers/fixtures.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/** An account id of the longest allowed length: 128 characters, ':' and '@' included. */
const LONGEST = `app:user@${'x'.repeat(119)}`;
const TOO_LONG = `${LONGEST}y`;

/** Every error body findguard sends: the coded format, nothing else. */
function expectCoded(res: { statusCode: number; json(): unknown; body: string }, status: number, code: string, never: string[] = []) {
  expect(res.statusCode).toBe(status);
  const body = res.json() as { error: Record<string, unknown> };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error).toMatchObject({ code, message: expect.any(String) });
  expect(Object.keys(body.error).every((k) => ['code', 'message', 'details'].includes(k))).toBe(true);
  for (const s of never) expect(res.body).not.toContain(s);
}

describeEachDialect('one limit for account ids', (dialect) => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
  });
  afterAll(async () => svc.stop());

  const path = (id: string) => `/internal/v1/accounts/${encodeURIComponent(id)}`;

  it('reads, updates, suspends and erases an account with a 128-character id, through every internal route', async () => {
    const [cp] = await mirrorAccount(svc, LONGEST, [{ value: NUMBERS.gbA, purposes: ['discovery'] }], { handle: 'longest' });
    const got = await svc.app.inject({ method: 'GET', url: path(LONGEST), headers: svc.internal });
    expect(got.statusCode).toBe(200);
    expect(got.json().id).toBe(LONGEST);
    // The same id, sent without percent-encoding.
    expect((await svc.app.inject({ method: 'GET', url: `/internal/v1/accounts/${LONGEST}`, headers: svc.internal })).statusCode).toBe(200);

    const searcher = await svc.tokenFor(LONGEST);
    expect((await lookup(svc, searcher, { phone: NUMBERS.gbA })).json().match).toMatchObject({ accountId: LONGEST });

    const patched = await svc.app.inject({ method: 'PATCH', url: `${path(LONGEST)}/contact-points/${cp}`, headers: svc.internal, payload: { purposes: ['two_factor'] } });
    expect(patched.statusCode).toBe(200);
    const suspended = await svc.app.inject({ method: 'PUT', url: path(LONGEST), headers: svc.internal, payload: { handle: 'longest', status: 'suspended' } });
    expect(suspended.json()).toMatchObject({ status: 'suspended' });
    expect((await svc.app.inject({ method: 'DELETE', url: `${path(LONGEST)}/contact-points/${cp}`, headers: svc.internal })).statusCode).toBe(204);
    expect((await svc.app.inject({ method: 'DELETE', url: path(LONGEST), headers: svc.internal })).statusCode).toBe(204);
    expectCoded(await svc.app.inject({ method: 'GET', url: path(LONGEST), headers: svc.internal }), 404, 'not_found');
  });

  it('refuses a 129-character id alike on every route, in the JWT and in the import', async () => {
    const routes = [
      { method: 'PUT' as const, url: path(TOO_LONG), payload: { handle: 'x' } },
      { method: 'GET' as const, url: path(TOO_LONG) },
      { method: 'DELETE' as const, url: path(TOO_LONG) },
      { method: 'POST' as const, url: `${path(TOO_LONG)}/contact-points`, payload: { kind: 'phone', value: NUMBERS.gbB, purposes: ['discovery'], verified: true } },
      { method: 'DELETE' as const, url: `${path(TOO_LONG)}/contact-points/cp_abc` },
      // Far beyond the limit, even percent-encoded: the same answer, not Fastify's 414.
      { method: 'GET' as const, url: path('%'.repeat(400)) },
      { method: 'GET' as const, url: `/internal/v1/accounts/${'a'.repeat(2000)}` },
    ];
    for (const r of routes) {
      const res = await svc.app.inject({ ...r, headers: svc.internal });
      expectCoded(res, 400, 'invalid_request', ['xxxxxxxxxx', 'aaaaaaaaaa', '%25%25']);
    }

    const token = await signDevToken(svc.secrets.jwt, TOO_LONG, svc.clock.now(), 3600);
    expectCoded(await lookup(svc, token, { phone: NUMBERS.usA }), 401, 'unauthenticated');

    const imp = await svc.app.inject({
      method: 'POST',
      url: '/internal/v1/import',
      headers: { ...svc.internal, 'content-type': 'application/x-ndjson' },
      payload: `${JSON.stringify({ accountId: TOO_LONG, handle: 'x' })}\n${JSON.stringify({ accountId: LONGEST, handle: 'y' })}\n`,
    });
    expect(imp.json()).toMatchObject({ lines: 2, accounts: 1, failed: 1, errors: [{ line: 1, code: 'invalid_request' }] });
    expect((await svc.app.inject({ method: 'GET', url: path(LONGEST), headers: svc.internal })).json()).toMatchObject({ id: LONGEST, handle: 'y' });
  });
});

describe("Fastify's own errors answer in the coded format, echoing nothing", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('sqlite', { policy: 'none' });
    await mirrorAccount(svc, 'caller');
  });
  afterAll(async () => svc.stop());

  const auth = async () => ({ authorization: `Bearer ${await svc.tokenFor('caller')}` });

  it('404 for an unknown route and for a known route with another method', async () => {
    expectCoded(await svc.app.inject({ method: 'GET', url: '/v1/discovery/447911123456?phone=447911123456' }), 404, 'not_found', ['447911123456', 'discovery']);
    expectCoded(await svc.app.inject({ method: 'GET', url: '/v1/discovery/lookup', headers: await auth() }), 404, 'not_found', ['lookup']);
    expectCoded(await svc.app.inject({ method: 'PROPFIND', url: '/internal/v1/accounts/a1', headers: svc.internal }), 404, 'not_found', ['a1']);
  });

  it('400 for a URL that does not decode', async () => {
    expectCoded(await svc.app.inject({ method: 'GET', url: '/internal/v1/accounts/%E0%A4%A', headers: svc.internal }), 400, 'invalid_request', ['%E0', 'accounts']);
  });

  it('400 for a body that is not JSON, or empty', async () => {
    const headers = { ...(await auth()), 'content-type': 'application/json' };
    expectCoded(await svc.app.inject({ method: 'POST', url: '/v1/discovery/lookup', headers, payload: '{"phone": "+447911123456"' }), 400, 'invalid_request', ['447911123456']);
    expectCoded(await svc.app.inject({ method: 'POST', url: '/v1/discovery/lookup', headers, payload: '' }), 400, 'invalid_request');
  });

  it('413 for a body over the limit', async () => {
    const headers = { ...(await auth()), 'content-type': 'application/json' };
    const lookupBody = JSON.stringify({ phone: NUMBERS.gbA, pad: 'x'.repeat(300 * 1024) });
    expectCoded(await svc.app.inject({ method: 'POST', url: '/v1/discovery/lookup', headers, payload: lookupBody }), 413, 'payload_too_large', ['447911123456']);
    // A sync may carry 5,000 numbers; its own limit is 2 MiB.
    const syncBody = JSON.stringify({ contacts: Array.from({ length: 150_000 }, () => NUMBERS.gbA) });
    expectCoded(await svc.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers, payload: syncBody }), 413, 'payload_too_large', ['447911123456']);
  });

  it('415 for a content type no parser takes', async () => {
    const headers = { ...(await auth()), 'content-type': 'application/xml' };
    expectCoded(await svc.app.inject({ method: 'POST', url: '/v1/discovery/lookup', headers, payload: '<phone>+447911123456</phone>' }), 415, 'unsupported_media_type', ['447911123456', 'xml']);
  });

  it("400 and 431 for requests Node's HTTP parser refuses, on a real socket", async () => {
    const address = await svc.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = new URL(address);
    const raw = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
        let out = '';
        socket.on('data', (d) => (out += d.toString('latin1')));
        socket.on('error', reject);
        socket.on('close', () => resolve(out));
      });
    const bodyOf = (response: string) => ({ status: Number(response.split(' ')[1]), body: response.slice(response.indexOf('\r\n\r\n') + 4) });

    const malformed = bodyOf(await raw('GET /v1/discovery/lookup?phone=+447911123456 HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n'));
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.body)).toEqual({ error: { code: 'invalid_request', message: expect.any(String) } });
    expect(malformed.body).not.toContain('447911123456');

    const huge = bodyOf(await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(huge.status).toBe(431);
    expect(JSON.parse(huge.body)).toEqual({ error: { code: 'headers_too_large', message: expect.any(String) } });
  });
});

describe('503 while closing', () => {
  it('answers a request that arrives during shutdown in the coded format', async () => {
    const svc = await startTestService('sqlite', { policy: 'none' });
    const address = await svc.app.listen({ host: '127.0.0.1', port: 0 });
    const socket = connect(Number(new URL(address).port), '127.0.0.1');
    let out = '';
    socket.on('data', (d) => (out += d.toString('latin1')));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    await new Promise((resolve) => socket.on('connect', resolve));
    // Half a request: the connection is busy, so closing waits for it.
    socket.write('GET /healthz?phone=+447911123456 HTTP/1.1\r\nHost: x\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stopping = svc.stop();
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.write('\r\n');
    await closed;
    await stopping;
    expect(out.split(' ')[1]).toBe('503');
    const body = out.slice(out.indexOf('\r\n\r\n') + 4);
    expect(JSON.parse(body)).toEqual({ error: { code: 'unavailable', message: expect.any(String) } });
  });
});
