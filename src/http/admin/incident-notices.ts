import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import type { ExposureNotices } from '../../incidents/index.js';
import { requireRole } from './auth.js';
import { EpochMs, IdParams, NullableMs, NullableString, routeSchema } from './common.js';

const Status = Type.Union([Type.Literal('queued'), Type.Literal('delivered'), Type.Literal('failed'), Type.Literal('expired'), Type.Literal('covered')], {
  description:
    "The exposure.notice webhook's delivery (queued, delivered, failed) while the notice is served; expired once past its expiresAt (its content and webhook payload emptied, never sent again; attempts and deliveredAt stay); covered: another incident's notice had already told the account of the same exposures, so this incident sent none",
});
const Item = Type.Object({
  id: Type.String(),
  accountId: Type.String(),
  createdAt: EpochMs,
  expiresAt: EpochMs,
  status: Status,
  eventId: NullableString,
  attempts: Type.Integer(),
  deliveredAt: NullableMs,
  lastError: NullableString,
});
const Counts = Type.Object({ queued: Type.Integer(), delivered: Type.Integer(), failed: Type.Integer(), expired: Type.Integer(), covered: Type.Integer(), total: Type.Integer() });
const Query = Type.Object(
  {
    status: Type.Optional(Status),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$', description: 'The nextCursor of the page before' })),
    // A string: query values arrive as text and the app's validator does not coerce types.
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, description: 'Notices per page (default 100)' })),
  },
  { additionalProperties: false },
);

/** An incident's exposure notices and the delivery of their exposure.notice webhooks (the outbox's state). */
export function incidentNoticeRoutes(notices: Pick<ExposureNotices, 'deliveries'>): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Params: Static<typeof IdParams>; Querystring: Static<typeof Query> }>(
      '/incidents/:id/notices',
      {
        schema: routeSchema('listIncidentNotices', "An incident's exposure notices, by id, with counts by status (queued, delivered, failed, expired, covered)", 'viewer', {
          params: IdParams,
          querystring: Query,
          response: { 200: Type.Object({ incidentId: Type.String(), counts: Counts, items: Type.Array(Item), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
        }),
        preValidation: requireRole('viewer'),
      },
      async (request) =>
        notices.deliveries(request.params.id, {
          ...(request.query.status ? { status: request.query.status } : {}),
          ...(request.query.cursor ? { cursor: request.query.cursor } : {}),
          ...(request.query.limit ? { limit: request.query.limit } : {}),
        }),
    );
  };
}
