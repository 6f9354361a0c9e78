import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import type { Console } from '../../console/index.js';
import { AppError } from '../../errors.js';
import { requireRole } from './auth.js';
import { Json, NullableString, routeSchema } from './common.js';
import { TextLine } from '../../util/text.js';

const Entry = Type.Object({
  seq: Type.Integer(),
  id: Type.String(),
  at: Type.String({ format: 'date-time' }),
  actor: Type.Object({ id: Type.String(), name: Type.String(), role: Type.String(), via: Type.String() }),
  from: NullableString,
  tool: NullableString,
  action: Type.String(),
  subject: Type.String(),
  reason: NullableString,
  before: Json,
  after: Json,
  batchId: NullableString,
  details: Json,
  hash: Type.String(),
});
const Query = Type.Object(
  {
    subject: Type.Optional(TextLine({ maxLength: 300 })),
    actorId: Type.Optional(TextLine({ maxLength: 100 })),
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'The nextCursor of the page before' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  },
  { additionalProperties: false },
);

export function auditRoutes(uc: Console): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: Static<typeof Query> }>(
      '/audit',
      {
        schema: routeSchema('listAudit', 'The audit trail, newest first: who did what, from where, with which tool, and why', 'viewer', {
          querystring: Query,
          response: { 200: Type.Object({ items: Type.Array(Entry), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
        }),
        preValidation: requireRole('viewer'),
      },
      async (request) => {
        const limit = request.query.limit ?? 100;
        const before = request.query.cursor === undefined ? undefined : Number(request.query.cursor);
        if (before !== undefined && !Number.isSafeInteger(before)) throw new AppError('invalid_request', 'cursor is not one this API gave');
        const items = await uc.audit({ subject: request.query.subject, actorId: request.query.actorId, before, limit });
        const last = items[items.length - 1];
        return { items, nextCursor: items.length === limit && last ? String(last.seq) : null };
      },
    );
  };
}
