import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import type { Console } from '../../console/index.js';
import { requireRole } from './auth.js';
import { actorOf, EpochMs, NullableMs, NullableString, routeSchema } from './common.js';
import { TextLine } from '../../util/text.js';

const State = Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]);
const Delivery = Type.Object({
  id: Type.String(),
  type: Type.String(),
  createdAt: EpochMs,
  state: State,
  attempts: Type.Integer(),
  nextAttemptAt: NullableMs,
  deliveredAt: NullableMs,
  lastError: NullableString,
});
const Query = Type.Object(
  { state: Type.Optional(State), cursor: Type.Optional(TextLine({ maxLength: 100 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })) },
  { additionalProperties: false },
);
const Params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$' }) });

export function webhookRoutes(uc: Console): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: Static<typeof Query> }>(
      '/webhooks/deliveries',
      {
        schema: routeSchema('listWebhookDeliveries', 'The webhook delivery log, newest first', 'viewer', {
          querystring: Query,
          response: { 200: Type.Object({ items: Type.Array(Delivery), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
        }),
        preValidation: requireRole('viewer'),
      },
      async (request) => uc.webhooks.deliveries({ state: request.query.state, before: request.query.cursor, limit: request.query.limit }),
    );

    app.post<{ Params: Static<typeof Params> }>(
      '/webhooks/deliveries/:id/redeliver',
      {
        schema: routeSchema('redeliverWebhook', 'Send a delivered or given-up webhook again (same id and bytes)', 'admin', {
          params: Params,
          response: { 200: Delivery },
          description: 'Needs the admin role. 409 conflict while the delivery is pending, and with details.reason notice_expired for an exposure.notice past its expiry (never sent again).',
        }),
        preValidation: requireRole('admin'),
      },
      async (request) => uc.webhooks.redeliver(actorOf(request), request.params.id),
    );
  };
}
