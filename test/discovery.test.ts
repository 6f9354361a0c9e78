import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookup, mirrorAccount, NUMBERS, sync } from './helpers/fixtures.js';
import { describeEachDialect, JWT_SECRET, startTestService, type TestService } from './helpers/service.js';

describeEachDialect('discovery API', (dialect) => {
  let svc: TestService;
  let token: string;
  beforeAll(async () => {
    svc = await startTestService(dialect, { policy: 'none' });
    await mirrorAccount(svc, 'searcher', [{ value: NUMBERS.frA, purposes: ['two_factor'] }]);
    await mirrorAccount(svc, 'findable', [{ value: NUMBERS.usA, purposes: ['discovery'] }]);
    await mirrorAccount(svc, 'hidden', [{ value: NUMBERS.usB, purposes: ['recovery'] }]);
    await mirrorAccount(svc, 'twofa', [{ value: NUMBERS.gbA, purposes: ['two_factor'] }]);
    await mirrorAccount(svc, 'unverified', [{ value: NUMBERS.gbB, purposes: ['discovery'], verified: false }]);
    await mirrorAccount(svc, 'suspended', [{ value: NUMBERS.deA, purposes: ['discovery'] }], { status: 'suspended' });
    await mirrorAccount(svc, 'mailer', [{ kind: 'email', value: 'Mailer@Example.com', purposes: ['discovery'] }]);
    token = await svc.tokenFor('searcher');
  });
  afterAll(async () => svc.stop());

  describe('lookup', () => {
    it('finds a discoverable number in any format', async () => {
      for (const [phone, region] of [
        [NUMBERS.usA, undefined],
        ['(415) 555-2671', 'US'],
        ['+1 415-555-2671', undefined],
        ['001 415 555 2671', 'FR'],
      ] as const) {
        const res = await lookup(svc, token, { phone, ...(region ? { region } : {}) });
        expect(res.statusCode, phone).toBe(200);
        expect(res.json()).toEqual({ match: { accountId: 'findable', handle: 'h_findable' } });
        expect(res.headers['cache-control'], 'an answer names an account: never cached').toBe('no-store');
      }
    });

    it('answers identical bytes for unregistered, undiscoverable, 2FA-only, unverified and suspended numbers', async () => {
      const bodies = new Set<string>();
      const headers = new Set<string>();
      for (const phone of [NUMBERS.inA, NUMBERS.usB, NUMBERS.gbA, NUMBERS.gbB, NUMBERS.deA]) {
        const res = await lookup(svc, token, { phone });
        expect(res.statusCode).toBe(200);
        bodies.add(res.body);
        headers.add(JSON.stringify({ ...res.headers, date: undefined }));
      }
      expect([...bodies]).toEqual(['{"match":null}']);
      expect(headers.size).toBe(1);
    });

    it('finds emails case- and space-insensitively', async () => {
      const res = await lookup(svc, token, { email: '  MAILER@example.COM' });
      expect(res.json()).toEqual({ match: { accountId: 'mailer', handle: 'h_mailer' } });
    });

    it('stops matching when discovery is removed or the account is suspended', async () => {
      const [cp] = await mirrorAccount(svc, 'flipper', [{ value: NUMBERS.brA, purposes: ['discovery'] }]);
      expect((await lookup(svc, token, { phone: NUMBERS.brA })).json().match).not.toBeNull();
      await svc.app.inject({ method: 'PATCH', url: `/internal/v1/accounts/flipper/contact-points/${cp}`, headers: svc.internal, payload: { purposes: ['two_factor'] } });
      expect((await lookup(svc, token, { phone: NUMBERS.brA })).body).toBe('{"match":null}');
      await svc.app.inject({ method: 'PATCH', url: `/internal/v1/accounts/flipper/contact-points/${cp}`, headers: svc.internal, payload: { purposes: ['discovery'] } });
      await svc.app.inject({ method: 'PUT', url: '/internal/v1/accounts/flipper', headers: svc.internal, payload: { handle: 'h_flipper', status: 'suspended' } });
      expect((await lookup(svc, token, { phone: NUMBERS.brA })).body).toBe('{"match":null}');
    });

    it('rejects invalid input with coded 4xx answers that echo nothing', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ phone: '12' }, 'invalid_phone'],
        [{ phone: '4155552671' }, 'invalid_phone'],
        [{ email: 'nope' }, 'invalid_email'],
        [{}, 'invalid_request'],
        [{ phone: NUMBERS.usA, email: 'a@b.co' }, 'invalid_request'],
        [{ phone: NUMBERS.usA, region: 'usa' }, 'invalid_request'],
        [{ phone: '4155552671', region: 'ZZ' }, 'invalid_region'],
        [{ phone: 5551234 }, 'invalid_request'],
        [{ phone: 'x'.repeat(65) }, 'invalid_request'],
      ];
      for (const [payload, code] of cases) {
        const res = await lookup(svc, token, payload);
        expect(res.statusCode, JSON.stringify(payload)).toBe(400);
        expect(res.json().error.code).toBe(code);
        expect(res.body).not.toContain('4155552671');
      }
    });
  });

  describe('authentication', () => {
    const sign = (claims: Record<string, unknown>, secret = JWT_SECRET, exp = svc.clock.now() / 1000 + 600) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject('searcher').setExpirationTime(Math.floor(exp)).sign(Buffer.from(secret));

    it('refuses missing, forged, expired and alg:none tokens', async () => {
      const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'searcher', exp: 9999999999 })).toString('base64url')}.`;
      const bad = [
        undefined,
        'Bearer',
        'Basic abc',
        `Bearer ${none}`,
        `Bearer ${await sign({}, 'another-secret-another-secret-another-secret')}`,
        `Bearer ${await sign({}, JWT_SECRET, svc.clock.now() / 1000 - 10)}`,
        `Bearer ${token}x`,
      ];
      for (const authorization of bad) {
        const res = await svc.app.inject({ method: 'POST', url: '/v1/discovery/lookup', headers: authorization ? { authorization } : {}, payload: { phone: NUMBERS.usA } });
        expect(res.statusCode, authorization).toBe(401);
        expect(res.json().error.code).toBe('unauthenticated');
        expect(res.headers['cache-control']).toBe('no-store');
      }
    });

    it('checks issuer and audience when configured', async () => {
      const strict = await startTestService(dialect, { jwtIssuer: 'https://app.example', jwtAudience: 'findguard' });
      try {
        await mirrorAccount(strict, 'searcher');
        const wrong = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('searcher').setIssuer('https://evil.example').setAudience('findguard').setExpirationTime(Math.floor(strict.clock.now() / 1000) + 60).sign(Buffer.from(JWT_SECRET));
        const res = await lookup(strict, wrong, { phone: NUMBERS.usA });
        expect(res.statusCode).toBe(401);
        const good = await strict.tokenFor('searcher');
        expect((await lookup(strict, good, { phone: NUMBERS.usA })).statusCode).toBe(200);
      } finally {
        await strict.stop();
      }
    });

    it('refuses unknown accounts (401) and suspended callers (403)', async () => {
      expect((await lookup(svc, await svc.tokenFor('ghost'), { phone: NUMBERS.usA })).statusCode).toBe(401);
      const res = await lookup(svc, await svc.tokenFor('suspended'), { phone: NUMBERS.usA });
      expect(res.statusCode).toBe(403);
      expect(res.json().error.code).toBe('account_suspended');
      const s = await sync(svc, await svc.tokenFor('suspended'), { contacts: [NUMBERS.usA] });
      expect(s.statusCode).toBe(403);
    });
  });

  describe('sync', () => {
    it('reports matches and invalid entries by index, and a token', async () => {
      const res = await sync(svc, token, {
        region: 'US',
        contacts: [NUMBERS.inA, '(415) 555-2671', 'not a number', NUMBERS.usB, NUMBERS.gbA, NUMBERS.deA, NUMBERS.usA],
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.matches).toEqual([
        { index: 1, accountId: 'findable', handle: 'h_findable' },
        { index: 6, accountId: 'findable', handle: 'h_findable' },
      ]);
      expect(body.invalid).toEqual([{ index: 2, code: 'invalid_phone' }]);
      expect(body.previousMatches).toEqual([]);
      expect(typeof body.token).toBe('string');
      expect(res.body).not.toContain(NUMBERS.inA);
      expect(res.headers['cache-control']).toBe('no-store');
    });

    it('answers the same bytes (but the token) whether non-matching numbers exist or not', async () => {
      const strip = (b: string) => b.replace(/"token":"[^"]+"/, '');
      const a = await sync(svc, token, { contacts: [NUMBERS.inA, NUMBERS.brA] });
      const b = await sync(svc, token, { contacts: [NUMBERS.usB, NUMBERS.deA] });
      expect(strip(a.body)).toBe(strip(b.body));
    });

    it('accepts the token with exactly the previous set and re-checks previous for free', async () => {
      const first = await sync(svc, token, { contacts: [NUMBERS.usA, NUMBERS.inA] });
      const t1 = first.json().token as string;
      const second = await sync(svc, token, { contacts: [NUMBERS.frA], previous: { token: t1, contacts: [NUMBERS.inA, NUMBERS.usA] } });
      expect(second.statusCode).toBe(200);
      expect(second.json().previousMatches).toEqual([{ index: 1, accountId: 'findable', handle: 'h_findable' }]);
      expect(second.json().matches).toEqual([]);
      const t2 = second.json().token as string;
      const third = await sync(svc, token, { contacts: [], previous: { token: t2, contacts: [NUMBERS.usA, NUMBERS.inA, NUMBERS.frA] } });
      expect(third.statusCode).toBe(200);
    });

    it('refuses a token for another set, another account, or tampered, with 400 invalid_token', async () => {
      const first = await sync(svc, token, { contacts: [NUMBERS.usA] });
      const t1 = first.json().token as string;
      const other = await svc.tokenFor('findable');
      const tampered = t1.slice(0, -2) + (t1.endsWith('A') ? 'BA' : 'AA');
      for (const [who, previous] of [
        [token, { token: t1, contacts: [NUMBERS.usA, NUMBERS.usB] }],
        [token, { token: t1, contacts: [] }],
        [other, { token: t1, contacts: [NUMBERS.usA] }],
        [token, { token: tampered, contacts: [NUMBERS.usA] }],
        [token, { token: 'garbage', contacts: [NUMBERS.usA] }],
        [token, { token: t1, emails: [] }],
      ] as const) {
        const res = await sync(svc, who, { contacts: [NUMBERS.inA], previous });
        expect(res.statusCode).toBe(400);
        expect(['invalid_token', 'invalid_request']).toContain(res.json().error.code);
        expect(res.body).not.toContain('findable');
      }
    });

    it('syncs emails in their own kind', async () => {
      const res = await sync(svc, token, { emails: ['mailer@example.com', 'nobody@example.com', 'bad'] });
      expect(res.json()).toMatchObject({ matches: [{ index: 0, accountId: 'mailer' }], invalid: [{ index: 2, code: 'invalid_email' }] });
      const mixed = await sync(svc, token, { emails: ['mailer@example.com'], contacts: [NUMBERS.usA] });
      expect(mixed.statusCode).toBe(400);
    });

    it('refuses more than 5,000 numbers and malformed bodies with 400', async () => {
      const many = Array.from({ length: 5001 }, (_, i) => `+1415555${String(i).padStart(4, '0')}`);
      const res = await sync(svc, token, { contacts: many });
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe('invalid_request');
      const exactly = await sync(svc, token, { contacts: many.slice(0, 5000) });
      expect(exactly.statusCode).toBe(200);
      for (const body of [{ contacts: 'x' }, { contacts: [1, 2] }, { contacts: [], nope: true }, { previous: { contacts: [] } }]) {
        const r = await sync(svc, token, body);
        expect(r.statusCode, JSON.stringify(body)).toBe(400);
      }
    });
  });
});
