import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import { AppError } from '../../errors.js';
import { atLeast } from '../../operators/roles.js';
import type { OperatorInfo as OperatorInfoRow } from '../../operators/service.js';
import { errorResponses } from '../schemas.js';
import { actingContext, operatorOf, requireRole, type AdminAuthDeps } from './auth.js';
import { SESSION_SECURITY } from './session-routes.js';
import { TextBlock, TextLine } from '../../util/text.js';

const RoleSchema = Type.Union([Type.Literal('viewer'), Type.Literal('analyst'), Type.Literal('admin')]);
const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const IdParams = Type.Object({ id: Id });

const OperatorInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: RoleSchema,
  status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
  password: Type.Boolean({ description: 'Signs in with a password and TOTP' }),
  oidc: Type.Boolean({ description: 'Signs in through the identity provider' }),
  signInHeldBy: Type.Union([Type.String(), Type.Null()], {
    description:
      "Another operator who was handed both this operator's password and TOTP secret (who added them through this API): that sign-in cannot approve an incident report until the TOTP is reset on the server (findguard operators reset-totp) or by another admin",
  }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const AddBody = Type.Object(
  { name: TextLine({ minLength: 1, maxLength: 64 }), role: RoleSchema, password: Type.Optional(Type.String({ minLength: 12, maxLength: 1024 })) },
  { additionalProperties: false },
);
const ReasonBody = Type.Object({ reason: Type.Optional(TextBlock({ minLength: 1, maxLength: 500 })) }, { additionalProperties: false });
const RoleBody = Type.Object({ role: RoleSchema, reason: Type.Optional(TextBlock({ minLength: 1, maxLength: 500 })) }, { additionalProperties: false });
const TokenBody = Type.Object({ label: TextLine({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false });

const TokenInfo = Type.Object({ id: Type.String(), label: Type.String(), createdAt: Type.String(), lastUsedAt: Type.Union([Type.String(), Type.Null()]), revokedAt: Type.Union([Type.String(), Type.Null()]) });
const SessionInfo = Type.Object({ id: Type.String(), via: Type.String(), from: Type.Union([Type.String(), Type.Null()]), createdAt: Type.String(), lastSeenAt: Type.String(), expiresAt: Type.String() });

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

function info(o: OperatorInfoRow): Static<typeof OperatorInfo> {
  return { ...o, createdAt: iso(o.createdAt), updatedAt: iso(o.updatedAt) };
}

/**
 * Managing operators: admins only, and never a role above their own. Their own API tokens are
 * the one thing every operator manages for themselves.
 */
export function operatorManagementRoutes(deps: AdminAuthDeps): FastifyPluginAsync {
  const ops = deps.operators;
  const schema = (operationId: string, summary: string, extra: object) => ({ tags: ['admin'], operationId, summary, security: SESSION_SECURITY, ...extra });
  return async (app) => {
    app.get('/operators', { schema: schema('listOperators', 'Every operator', { response: { 200: Type.Object({ operators: Type.Array(OperatorInfo) }), ...errorResponses } }), preValidation: requireRole('admin') }, async () => ({
      operators: (await ops.list()).map(info),
    }));

    app.post<{ Body: Static<typeof AddBody> }>(
      '/operators',
      {
        schema: schema('addOperator', 'Add a local operator; the password (unless given) and the TOTP enrolment are shown this once', {
          body: AddBody,
          response: { 201: Type.Object({ operator: OperatorInfo, password: Type.Optional(Type.String()), totpSecret: Type.String(), totpUri: Type.String() }), ...errorResponses },
        }),
        preValidation: requireRole('admin'),
      },
      async (request, reply) => {
        const made = await ops.add({ principal: operatorOf(request), ctx: actingContext(request) }, request.body.name, request.body.role, request.body.password);
        return reply.status(201).header('cache-control', 'no-store').send({ ...made, operator: info(made.operator) });
      },
    );

    app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof ReasonBody> }>(
      '/operators/:id/disable',
      { schema: schema('disableOperator', 'Disable an operator: their sessions and tokens end at once', { params: IdParams, body: ReasonBody, response: { 200: OperatorInfo, ...errorResponses } }), preValidation: requireRole('admin') },
      async (request) => info(await ops.disable({ principal: operatorOf(request), ctx: actingContext(request) }, request.params.id, request.body.reason)),
    );

    app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof ReasonBody> }>(
      '/operators/:id/enable',
      { schema: schema('enableOperator', 'Let a disabled operator sign in again (their ended sessions and tokens stay ended)', { params: IdParams, body: ReasonBody, response: { 200: OperatorInfo, ...errorResponses } }), preValidation: requireRole('admin') },
      async (request) => info(await ops.enable({ principal: operatorOf(request), ctx: actingContext(request) }, request.params.id, request.body.reason)),
    );

    app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof RoleBody> }>(
      '/operators/:id/role',
      {
        schema: schema('setOperatorRole', "Change a local operator's role (never to or from a role above the caller's, never one's own); a demotion ends their sessions", {
          params: IdParams,
          body: RoleBody,
          response: { 200: Type.Object({ operator: OperatorInfo, sessionsEnded: Type.Integer({ description: 'Sessions ended by a demotion' }) }), ...errorResponses },
        }),
        preValidation: requireRole('admin'),
      },
      async (request) => {
        const { sessionsEnded, ...op } = await ops.setRole({ principal: operatorOf(request), ctx: actingContext(request) }, request.params.id, request.body.role, request.body.reason);
        return { operator: info(op), sessionsEnded };
      },
    );

    app.post<{ Params: Static<typeof IdParams> }>(
      '/operators/:id/reset-totp',
      {
        schema: schema('resetOperatorTotp', 'A new TOTP secret for an operator (shown once); their sessions end', { params: IdParams, response: { 200: Type.Object({ totpSecret: Type.String(), totpUri: Type.String() }), ...errorResponses } }),
        preValidation: requireRole('admin'),
      },
      async (request, reply) => reply.header('cache-control', 'no-store').send(await ops.resetTotp({ principal: operatorOf(request), ctx: actingContext(request) }, request.params.id)),
    );

    app.get<{ Params: Static<typeof IdParams> }>(
      '/operators/:id/sessions',
      { schema: schema('listOperatorSessions', "An operator's live sessions (one's own, or anyone's for an admin)", { params: IdParams, response: { 200: Type.Object({ sessions: Type.Array(SessionInfo) }), ...errorResponses } }), preValidation: requireRole('viewer') },
      async (request) => {
        const op = operatorOf(request);
        if (op.id !== request.params.id && !atLeast(op.role, 'admin')) throw new AppError('forbidden_role', "another operator's sessions need the admin role");
        return {
          sessions: (await ops.sessions.live(request.params.id, deps.clock.now())).map((s) => ({ id: s.id, via: s.via, from: s.from, createdAt: iso(s.createdAt), lastSeenAt: iso(s.lastSeenAt), expiresAt: iso(s.expiresAt) })),
        };
      },
    );

    app.delete<{ Params: Static<typeof IdParams> }>(
      '/sessions/:id',
      { schema: schema('revokeSession', 'End a session on every node', { params: IdParams, response: { 204: Type.Null(), ...errorResponses } }), preValidation: requireRole('viewer') },
      async (request, reply) => {
        await ops.revokeSession({ principal: operatorOf(request), ctx: actingContext(request) }, request.params.id);
        return reply.status(204).send();
      },
    );

    app.get<{ Params: Static<typeof IdParams> }>(
      '/operators/:id/tokens',
      { schema: schema('listOperatorTokens', "An operator's API tokens (never their secrets)", { params: IdParams, response: { 200: Type.Object({ tokens: Type.Array(TokenInfo) }), ...errorResponses } }), preValidation: requireRole('viewer') },
      async (request) => {
        const op = operatorOf(request);
        if (op.id !== request.params.id && !atLeast(op.role, 'admin')) throw new AppError('forbidden_role', "another operator's tokens need the admin role");
        return { tokens: (await ops.tokens.list(request.params.id)).map((t) => ({ id: t.id, label: t.label, createdAt: iso(t.createdAt), lastUsedAt: isoOrNull(t.lastUsedAt), revokedAt: isoOrNull(t.revokedAt) })) };
      },
    );

    app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof TokenBody> }>(
      '/operators/:id/tokens',
      {
        schema: schema('createOperatorToken', 'An API token for scripts (Authorization: Bearer); shown this once', { params: IdParams, body: TokenBody, response: { 201: Type.Object({ id: Type.String(), token: Type.String() }), ...errorResponses } }),
        preValidation: requireRole('viewer'),
      },
      async (request, reply) => {
        const token = await ops.createToken({ principal: operatorOf(request), ctx: actingContext(request) }, request.params.id, request.body.label);
        return reply.status(201).header('cache-control', 'no-store').send(token);
      },
    );

    app.delete<{ Params: Static<typeof IdParams> }>(
      '/tokens/:id',
      { schema: schema('revokeOperatorToken', 'Revoke an API token', { params: IdParams, response: { 204: Type.Null(), ...errorResponses } }), preValidation: requireRole('viewer') },
      async (request, reply) => {
        await ops.revokeToken({ principal: operatorOf(request), ctx: actingContext(request) }, request.params.id);
        return reply.status(204).send();
      },
    );
  };
}
