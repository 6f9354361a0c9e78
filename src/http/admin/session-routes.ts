import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { AppError } from '../../errors.js';
import type { OidcFlow } from '../../operators/oidc.js';
import type { OperatorPrincipal } from '../../operators/principal.js';
import { errorResponses } from '../schemas.js';
import { actingContext, csrfTokenOf, operatorOf, requireRole, type AdminAuthDeps } from './auth.js';

declare module '@fastify/secure-session' {
  interface SessionData {
    /** The OIDC round trip in progress (the oidcFlow cookie). */
    flow: OidcFlow;
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    oidcFlow: import('@fastify/secure-session').Session;
  }
}

/** Who is signed in, as every session answer shows it. */
export const OperatorView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.Union([Type.Literal('viewer'), Type.Literal('analyst'), Type.Literal('admin')]),
  via: Type.Union([Type.Literal('password+totp'), Type.Literal('oidc'), Type.Literal('token')]),
});

const SessionView = Type.Object({
  operator: OperatorView,
  csrfToken: Type.Union([Type.String(), Type.Null()], { description: 'Send as x-csrf-token on every POST, PUT, PATCH and DELETE made with the session cookie; null for an API token' }),
});

const SignInBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    totp: Type.String({ minLength: 1, maxLength: 16 }),
  },
  { additionalProperties: false },
);

export const SESSION_SECURITY: Array<Record<string, string[]>> = [{ operatorSession: [] }, { operatorToken: [] }];

function view(op: OperatorPrincipal): Static<typeof OperatorView> {
  return { id: op.id, name: op.name, role: op.role, via: op.via };
}

/** Signing in and out, with a password and TOTP or through OIDC. */
export function sessionRoutes(deps: AdminAuthDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: Static<typeof SignInBody> }>(
      '/session',
      {
        schema: {
          tags: ['admin'],
          operationId: 'signIn',
          summary: 'Sign in with name, password and TOTP code; sets the __Host-fg_session cookie',
          security: [],
          body: SignInBody,
          response: { 200: SessionView, ...errorResponses },
        },
      },
      async (request) => {
        const { name, password, totp } = request.body;
        const { principal, cookie } = await deps.operators.signIn(name, password, totp, actingContext(request));
        // A fresh cookie at every sign-in: nothing from before it (a planted cookie) survives.
        request.session.regenerate();
        request.session.set('sid', cookie.sid);
        request.session.set('secret', cookie.secret);
        return { operator: view(principal), csrfToken: csrfTokenOf(cookie.secret) };
      },
    );

    app.get(
      '/session',
      {
        schema: { tags: ['admin'], operationId: 'getSession', summary: 'Who is signed in, and the CSRF token of the session', security: SESSION_SECURITY, response: { 200: SessionView, ...errorResponses } },
        preValidation: requireRole('viewer'),
      },
      async (request) => {
        const op = operatorOf(request);
        const secret = request.session.get('secret');
        return { operator: view(op), csrfToken: op.via !== 'token' && typeof secret === 'string' ? csrfTokenOf(secret) : null };
      },
    );

    app.delete(
      '/session',
      {
        schema: { tags: ['admin'], operationId: 'signOut', summary: 'Sign out: the session ends on every node', security: SESSION_SECURITY, response: { 204: Type.Null(), ...errorResponses } },
        preValidation: requireRole('viewer'),
      },
      async (request, reply) => {
        const op = operatorOf(request);
        if (!op.sessionId) throw new AppError('invalid_request', 'an API token has no session; revoke the token instead');
        await deps.operators.revokeSession({ principal: op, ctx: actingContext(request) }, op.sessionId, 'signout');
        request.session.delete();
        return reply.status(204).send();
      },
    );

    if (deps.oidc) oidcRoutes(app, deps);
  };
}

function oidcRoutes(app: Parameters<FastifyPluginAsync>[0], deps: AdminAuthDeps): void {
  const oidc = deps.oidc!;
  app.get('/oidc/login', { schema: { tags: ['admin'], operationId: 'oidcLogin', summary: 'Start signing in with the identity provider (a redirect)', security: [] } }, async (request, reply) => {
    const { url, flow } = await oidc.start();
    request.oidcFlow.set('flow', flow);
    return reply.redirect(url.href, 302);
  });

  app.get(
    '/oidc/callback',
    { schema: { tags: ['admin'], operationId: 'oidcCallback', summary: "The identity provider's redirect back; signs in and goes on to /dashboard", security: [] } },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const flow = request.oidcFlow.get('flow') as OidcFlow | undefined;
      // Spent whatever the outcome: a flow is good for one return.
      request.oidcFlow.delete();
      const callback = new URL(request.url, oidc.settings.redirectUrl);
      const { cookie } = await oidc.finish(callback, flow, actingContext(request));
      request.session.regenerate();
      request.session.set('sid', cookie.sid);
      request.session.set('secret', cookie.secret);
      // A page of our own, not a redirect: the navigation began on the provider's site, and a
      // SameSite=Strict cookie is only sent once the browser moves on from a page of this site.
      return reply
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send('<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=/dashboard/"><title>Signed in</title><a href="/dashboard/">Continue to the console</a>');
    },
  );
}
