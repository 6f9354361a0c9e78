import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Role } from '../src/operators/roles.js';
import { addOperator, OPERATOR_OVERRIDES, signIn, type SignedIn, type TestOperator } from './helpers/operators.js';
import { describeEachDialect, startTestService, type TestService } from './helpers/service.js';

/**
 * Who may manage operators, through HTTP: each role x each operator-management endpoint, and the
 * same calls signed out and (for state changes) without the CSRF token. Only admins manage
 * operators; every operator manages their own API tokens.
 */
interface Call {
  name: string;
  /** Made against a fresh viewer operator, `target`, with a live session and a token of theirs. */
  request: (t: { target: TestOperator; sessionId: string; tokenId: string }) => { method: 'GET' | 'POST' | 'DELETE'; url: string; payload?: object };
  ok: number;
}

const CALLS: Call[] = [
  { name: 'list operators', request: () => ({ method: 'GET', url: '/admin/v1/operators' }), ok: 200 },
  { name: 'add a viewer', request: ({ target }) => ({ method: 'POST', url: '/admin/v1/operators', payload: { name: `${target.name}-new`, role: 'viewer' } }), ok: 201 },
  { name: 'add an admin', request: ({ target }) => ({ method: 'POST', url: '/admin/v1/operators', payload: { name: `${target.name}-adm`, role: 'admin' } }), ok: 201 },
  { name: 'disable', request: ({ target }) => ({ method: 'POST', url: `/admin/v1/operators/${target.id}/disable`, payload: {} }), ok: 200 },
  { name: 'enable', request: ({ target }) => ({ method: 'POST', url: `/admin/v1/operators/${target.id}/enable`, payload: {} }), ok: 200 },
  { name: 'set a role', request: ({ target }) => ({ method: 'POST', url: `/admin/v1/operators/${target.id}/role`, payload: { role: 'analyst', reason: 'matrix' } }), ok: 200 },
  { name: 'reset TOTP', request: ({ target }) => ({ method: 'POST', url: `/admin/v1/operators/${target.id}/reset-totp` }), ok: 200 },
  { name: "list another's sessions", request: ({ target }) => ({ method: 'GET', url: `/admin/v1/operators/${target.id}/sessions` }), ok: 200 },
  { name: "revoke another's session", request: ({ sessionId }) => ({ method: 'DELETE', url: `/admin/v1/sessions/${sessionId}` }), ok: 204 },
  { name: "list another's tokens", request: ({ target }) => ({ method: 'GET', url: `/admin/v1/operators/${target.id}/tokens` }), ok: 200 },
  { name: 'token for another', request: ({ target }) => ({ method: 'POST', url: `/admin/v1/operators/${target.id}/tokens`, payload: { label: 'x' } }), ok: 201 },
  { name: "revoke another's token", request: ({ tokenId }) => ({ method: 'DELETE', url: `/admin/v1/tokens/${tokenId}` }), ok: 204 },
];

const ROLES: Role[] = ['viewer', 'analyst', 'admin'];

describeEachDialect('operator management by role', (dialect) => {
  let svc: TestService;
  const sessions = new Map<Role, SignedIn>();
  let n = 0;
  beforeAll(async () => {
    svc = await startTestService(dialect, {}, OPERATOR_OVERRIDES);
    for (const role of ROLES) sessions.set(role, await signIn(svc, await addOperator(svc, `${role}-op`, role)));
  });
  afterAll(async () => svc?.stop());

  async function target(): Promise<{ target: TestOperator; sessionId: string; tokenId: string }> {
    const t = await addOperator(svc, `target-${++n}`, 'viewer');
    await signIn(svc, t);
    const sessionId = (await svc.ctx.db.kysely.selectFrom('operator_sessions').select('id').where('operator_id', '=', t.id).executeTakeFirstOrThrow()).id;
    const tokenId = (await svc.ctx.operators.createToken('cli', t.id, 'theirs')).id;
    return { target: t, sessionId, tokenId };
  }

  for (const call of CALLS) {
    it(`${call.name}: admin ${call.ok}; analyst and viewer 403 forbidden_role; signed out 401; no CSRF 403`, async () => {
      for (const role of ROLES) {
        const req = call.request(await target());
        const res = await svc.app.inject({ ...req, headers: sessions.get(role)!.headers });
        if (role === 'admin') expect(res.statusCode, `${role} ${res.body}`).toBe(call.ok);
        else {
          expect(res.statusCode, `${role} ${res.body}`).toBe(403);
          expect(res.json().error.code).toBe('forbidden_role');
        }
      }
      const req = call.request(await target());
      const out = await svc.app.inject(req);
      expect(out.statusCode).toBe(401);
      expect(out.json().error.code).toBe('not_signed_in');
      if (req.method !== 'GET') {
        const noCsrf = await svc.app.inject({ ...req, headers: { cookie: sessions.get('admin')!.cookie } });
        expect(noCsrf.statusCode).toBe(403);
        expect(noCsrf.json().error.code).toBe('csrf_invalid');
      }
    });
  }

  it('every operator manages their own API tokens and sessions, and nobody disables themselves', async () => {
    const me = await addOperator(svc, 'self-viewer', 'viewer');
    const s = await signIn(svc, me);
    const made = await svc.app.inject({ method: 'POST', url: `/admin/v1/operators/${me.id}/tokens`, headers: s.headers, payload: { label: 'mine' } });
    expect(made.statusCode).toBe(201);
    const listed = await svc.app.inject({ method: 'GET', url: `/admin/v1/operators/${me.id}/tokens`, headers: { cookie: s.cookie } });
    expect(listed.json().tokens.map((t: { label: string }) => t.label)).toEqual(['mine']);
    expect(JSON.stringify(listed.json())).not.toContain('fgop.');
    expect((await svc.app.inject({ method: 'DELETE', url: `/admin/v1/tokens/${made.json().id}`, headers: s.headers })).statusCode).toBe(204);
    // Their own sessions too: list them, end one (a lost laptop's).
    const laptop = await signIn(svc, me);
    const mine = await svc.app.inject({ method: 'GET', url: `/admin/v1/operators/${me.id}/sessions`, headers: { cookie: s.cookie } });
    expect(mine.statusCode).toBe(200);
    expect(mine.json().sessions).toHaveLength(2);
    const [newest] = mine.json().sessions as Array<{ id: string }>;
    expect((await svc.app.inject({ method: 'DELETE', url: `/admin/v1/sessions/${newest!.id}`, headers: s.headers })).statusCode).toBe(204);
    expect((await svc.app.inject({ method: 'GET', url: '/admin/v1/session', headers: { cookie: laptop.cookie } })).statusCode).toBe(401);
    const admin = sessions.get('admin')!;
    const adminId = (await svc.ctx.operators.byName('admin-op'))!.id;
    const self = await svc.app.inject({ method: 'POST', url: `/admin/v1/operators/${adminId}/disable`, headers: admin.headers, payload: {} });
    expect(self.statusCode).toBe(409);
  });

  it('a revoked session: 401 on every operator-management call', async () => {
    const admin = await addOperator(svc, 'revoked-admin', 'admin');
    const s = await signIn(svc, admin);
    expect((await svc.app.inject({ method: 'DELETE', url: '/admin/v1/session', headers: s.headers })).statusCode).toBe(204);
    for (const call of CALLS) {
      const res = await svc.app.inject({ ...call.request(await target()), headers: s.headers });
      expect([res.statusCode, res.json().error.code], call.name).toEqual([401, 'not_signed_in']);
    }
  });

  it('refuses a bad body with a coded 400, never a 500', async () => {
    const admin = sessions.get('admin')!;
    for (const payload of [{ name: 'x', role: 'root' }, { name: 'bad name!', role: 'viewer' }, { name: 'ok', role: 'viewer', password: 'short' }, { role: 'viewer' }]) {
      const res = await svc.app.inject({ method: 'POST', url: '/admin/v1/operators', headers: admin.headers, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    const sign = await svc.app.inject({ method: 'POST', url: '/admin/v1/session', payload: { name: 'x' } });
    expect(sign.statusCode).toBe(400);
    expect(sign.json().error.code).toBe('invalid_request');
  });
});
