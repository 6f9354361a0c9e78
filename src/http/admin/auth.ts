import secureSession from '@fastify/secure-session';
import type { FastifyPluginAsync, FastifyRequest, preValidationAsyncHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AppContext } from '../../context.js';
import { AppError } from '../../errors.js';
import type { ActingContext, OperatorPrincipal } from '../../operators/principal.js';
import { atLeast, type Role } from '../../operators/roles.js';
import type { OperatorService } from '../../operators/service.js';
import type { OidcSignIn } from '../../operators/oidc.js';
import type { Clock } from '../../util/clock.js';

export type { OperatorPrincipal } from '../../operators/principal.js';
export type { Role } from '../../operators/roles.js';

/** The session cookie. `__Host-`: Secure, Path=/, no Domain, so no sibling host can set or shadow it. */
export const SESSION_COOKIE = '__Host-fg_session';
/** The OIDC round trip's state, nonce and PKCE verifier, for the ten minutes it takes. */
export const OIDC_COOKIE = '__Host-fg_oidc';

declare module '@fastify/secure-session' {
  interface SessionData {
    /** operator_sessions.id and the secret whose SHA-256 the row holds. */
    sid: string;
    secret: string;
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The operator behind this request (session cookie or API token); null when none. */
    operator: OperatorPrincipal | null;
  }
}

export interface AdminAuthDeps {
  operators: OperatorService;
  clock: Clock;
  /** 32 bytes: encrypts the session cookies (libsodium secretbox, via @fastify/secure-session). */
  sessionKey: Buffer;
  /** Set when OIDC sign-in is configured. */
  oidc?: OidcSignIn;
}

/** The auth parts of a serving node's context. */
export function authDepsOf(ctx: Pick<AppContext, 'operators' | 'clock' | 'secrets' | 'oidc'>): AdminAuthDeps {
  return { operators: ctx.operators, clock: ctx.clock, sessionKey: ctx.secrets.sessionKey, ...(ctx.oidc ? { oidc: ctx.oidc } : {}) };
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Registers the session cookies and decorates `request.operator` from the session cookie or an
 * `Authorization: Bearer fgop.…` operator API token. Register it once on the /admin/v1 scope (and
 * on the dashboard's); it answers nothing by itself: routes guard themselves with requireRole.
 */
export function adminAuth(deps: AdminAuthDeps): FastifyPluginAsync {
  return fp(async (app) => {
    const cookie = { path: '/', httpOnly: true, secure: true } as const;
    await app.register(secureSession, [
      { sessionName: 'session', cookieName: SESSION_COOKIE, key: deps.sessionKey, expiry: Math.ceil(deps.operators.sessions.timeouts.absoluteMs / 1000), cookie: { ...cookie, sameSite: 'strict' } },
      // Lax: the identity provider's redirect back is a cross-site navigation, which a Strict cookie would miss.
      { sessionName: 'oidcFlow', cookieName: OIDC_COOKIE, key: deps.sessionKey, expiry: 600, cookie: { ...cookie, sameSite: 'lax' } },
    ]);
    app.decorateRequest('operator', null);
    app.addHook('onRequest', async (request) => {
      request.operator = await authenticate(deps, request);
    });
    // Operator pages and answers (CSRF tokens, one-time secrets, personal evidence) stay out of every cache.
    app.addHook('onSend', async (_request, reply) => {
      if (!reply.hasHeader('cache-control')) void reply.header('cache-control', 'no-store');
    });
  });
}

async function authenticate(deps: AdminAuthDeps, request: FastifyRequest): Promise<OperatorPrincipal | null> {
  const now = deps.clock.now();
  const auth = request.headers.authorization;
  // A request that names a token is judged by it alone: a bad token never falls back to a cookie.
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth.trim());
    return m ? deps.operators.tokens.authenticate(m[1]!, now) : null;
  }
  const sid = request.session.get('sid');
  const secret = request.session.get('secret');
  if (typeof sid !== 'string' || typeof secret !== 'string') return null;
  return deps.operators.sessions.authenticate({ sid, secret }, now);
}

/**
 * The CSRF token of a cookie session: an HMAC of a fixed label under the session's own secret
 * (a synchronizer token bound to the session, with nothing more to store). It dies with the
 * session; a page on another site can neither read the cookie nor compute it.
 */
export function csrfTokenOf(sessionSecret: string): string {
  return createHmac('sha256', sessionSecret).update('findguard csrf').digest('base64url');
}

function csrfValid(request: FastifyRequest): boolean {
  const secret = request.session.get('secret');
  const given = request.headers['x-csrf-token'];
  if (typeof secret !== 'string' || typeof given !== 'string') return false;
  const a = Buffer.from(csrfTokenOf(secret));
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A route's guard: 401 not_signed_in without an operator; 403 csrf_invalid on a state-changing
 * method from a cookie session without the session's `x-csrf-token` (API tokens need none: a
 * browser never sends them by itself); 403 forbidden_role below `min`. It runs before the route's
 * schema is checked (preValidation): whoever may not call a route learns nothing of what it
 * takes, not even that a body was malformed.
 */
export function requireRole(min: Role): preValidationAsyncHookHandler {
  return async (request) => {
    const op = request.operator;
    if (!op) throw new AppError('not_signed_in', 'sign in first');
    if (STATE_CHANGING.has(request.method) && op.via !== 'token' && !csrfValid(request)) {
      throw new AppError('csrf_invalid', 'missing or wrong x-csrf-token');
    }
    if (!atLeast(op.role, min)) throw new AppError('forbidden_role', `this needs the ${min} role`);
  };
}

/** Where the request's operator acts from, for the audit trail: the console (cookie) or the API (token). */
export function actingContext(request: FastifyRequest): ActingContext {
  return { from: request.clientAddress ?? null, tool: request.operator?.via === 'token' ? 'api' : 'console' };
}

/** The signed-in operator; call after requireRole. */
export function operatorOf(request: FastifyRequest): OperatorPrincipal {
  if (!request.operator) throw new AppError('not_signed_in', 'sign in first');
  return request.operator;
}
