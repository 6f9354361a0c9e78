import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import type { Alerts } from '../../alerts/index.js';
import { requireRole } from './auth.js';
import { actorOf, EpochMs, Json, NullableMs, NullableString, routeSchema } from './common.js';

const Route = Type.Object({
  name: Type.String(),
  on: Type.Array(Type.String()),
  slack: Type.Union([Type.Object({ webhookUrlEnv: Type.String(), configured: Type.Boolean() }), Type.Null()]),
  pagerduty: Type.Union([Type.Object({ routingKeyEnv: Type.String(), severity: NullableString, configured: Type.Boolean() }), Type.Null()]),
});
const Delivery = Type.Object({
  route: Type.String(),
  sink: Type.Union([Type.Literal('slack'), Type.Literal('pagerduty')]),
  state: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  deliveredAt: NullableMs,
  lastError: NullableString,
});
const Alert = Type.Object({
  id: Type.String(),
  condition: Type.String(),
  action: Type.Union([Type.Literal('trigger'), Type.Literal('resolve')]),
  subject: Type.String({ description: "PagerDuty's dedup_key" }),
  severity: Type.String(),
  summary: Type.String(),
  details: Json,
  createdAt: EpochMs,
  test: Type.Boolean(),
  deliveries: Type.Array(Delivery),
});
const Query = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, description: 'Recent alerts (default 50)' })) }, { additionalProperties: false });
const RouteParams = Type.Object({ name: Type.String({ pattern: '^[a-z][a-z0-9-]{0,39}$' }) });

/** The alerts page: the configured routes (never their secrets), the recent alerts, a test per route. */
export function alertRoutes(alerts: Alerts): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: Static<typeof Query> }>(
      '/alerts',
      {
        schema: routeSchema('listAlerts', 'Alert routes (Slack, PagerDuty) and the recent alerts with their deliveries, newest first', 'viewer', {
          querystring: Query,
          response: { 200: Type.Object({ routes: Type.Array(Route), recent: Type.Array(Alert) }) },
        }),
        preValidation: requireRole('viewer'),
      },
      async (request) => ({ routes: alerts.routes(), recent: await alerts.recent(request.query.limit ?? 50) }),
    );

    app.post<{ Params: Static<typeof RouteParams> }>(
      '/alerts/routes/:name/test',
      {
        schema: routeSchema('sendTestAlert', "Queue a test alert to every sink of a route (audited as alert.test)", 'admin', { params: RouteParams, response: { 201: Alert } }),
        preValidation: requireRole('admin'),
      },
      async (request, reply) => reply.code(201).send(await alerts.sendTest(actorOf(request), request.params.name)),
    );
  };
}
