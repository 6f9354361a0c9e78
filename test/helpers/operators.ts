import type { LightMyRequestResponse } from 'fastify';
import type { Role } from '../../src/operators/roles.js';
import { totpCode } from '../../src/operators/totp.js';
import type { TestService } from './service.js';

/** Cheap scrypt for tests: every stored hash carries its parameters, so sign-in verifies these. */
export const TEST_SCRYPT = { N: 1024, r: 8, p: 1 };
export const OPERATOR_OVERRIDES = { operators: { scrypt: TEST_SCRYPT } };

export interface TestOperator {
  id: string;
  name: string;
  role: Role;
  password: string;
  totpSecret: string;
}

export async function addOperator(svc: TestService, name: string, role: Role): Promise<TestOperator> {
  const password = `pw-${name}-correct-horse`;
  const made = await svc.ctx.operators.add('cli', name, role, password);
  return { id: made.operator.id, name, role, password, totpSecret: made.totpSecret };
}

/** The session cookie a response set, as a Cookie header sends it back (inject() keeps no jar, and `__Host-` cookies are Secure). */
export function sessionCookieOf(res: LightMyRequestResponse): string {
  // The raw header, not res.cookies: that decodes the value, and the cookie's text has a ';' escaped in it.
  const raw = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-fg_session='));
  if (!raw) throw new Error(`no session cookie in ${res.statusCode} ${res.body}`);
  return raw.split(';')[0]!;
}

export interface SignedIn {
  cookie: string;
  csrf: string;
  /** Headers for a state-changing call with the session. */
  headers: { cookie: string; 'x-csrf-token': string };
}

/** Signs in at the clock's current time step; advances the clock one step first so each sign-in has a fresh code. */
export async function signIn(svc: TestService, op: TestOperator, from = '203.0.113.5'): Promise<SignedIn> {
  svc.clock.advance(30_000);
  const res = await svc.app.inject({ method: 'POST', url: '/admin/v1/session', remoteAddress: from, payload: { name: op.name, password: op.password, totp: totpCode(op.totpSecret, svc.clock.now()) } });
  if (res.statusCode !== 200) throw new Error(`sign-in failed: ${res.statusCode} ${res.body}`);
  const cookie = sessionCookieOf(res);
  const csrf = (res.json() as { csrfToken: string }).csrfToken;
  return { cookie, csrf, headers: { cookie, 'x-csrf-token': csrf } };
}
