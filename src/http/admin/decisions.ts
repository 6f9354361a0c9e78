import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import type { Console } from '../../console/index.js';
import { MAX_BULK, MAX_DURATION_S } from '../../console/decisions.js';
import { requireRole } from './auth.js';
import { actorOf, Cursor, EpochMs, IdParams, NullableMs, NullableString, Reason, ReasonBody, routeSchema } from './common.js';
import { TextLine } from '../../util/text.js';

const Scope = Type.Union([Type.Literal('account'), Type.Literal('device'), Type.Literal('ip'), Type.Literal('subnet'), Type.Literal('asn'), Type.Literal('country')]);
const Action = Type.Union([Type.Literal('throttle'), Type.Literal('challenge'), Type.Literal('suspend')], {
  description: 'suspend on a device, ip, subnet, asn or country blocks calls from it (429 with that scope); on an account, use the engine or the CLI',
});

export const DecisionSchema = Type.Object({
  id: Type.String(),
  scope: Scope,
  subject: Type.String(),
  action: Type.Union([Type.Literal('throttle'), Type.Literal('challenge'), Type.Literal('suspend'), Type.Literal('hold-signups')]),
  reason: Type.String(),
  source: Type.Union([Type.Literal('engine'), Type.Literal('operator')]),
  actor: Type.String(),
  createdAt: EpochMs,
  expiresAt: NullableMs,
  liftedAt: NullableMs,
  liftedBy: NullableString,
  liftReason: NullableString,
  clusterId: NullableString,
  campaignId: NullableString,
  actionId: NullableString,
  batchId: NullableString,
  changedAt: EpochMs,
  shadow: Type.Boolean(),
  status: Type.Union([Type.Literal('active'), Type.Literal('would'), Type.Literal('expired'), Type.Literal('lifted')], { description: 'would: a shadow decision, listed, never enforced' }),
});

const Item = {
  scope: Scope,
  subject: TextLine({ minLength: 1, maxLength: 128, description: 'Account id, device id, IP address, subnet (/24, /64 or /48), AS number or country code' }),
  action: Action,
  durationSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_DURATION_S, description: 'Omitted: until lifted' })),
  shadow: Type.Optional(Type.Boolean({ description: 'A trial: listed as what it would do, never enforced' })),
};
const AddBody = Type.Object({ ...Item, reason: Reason }, { additionalProperties: false });
const BulkBody = Type.Object({ items: Type.Array(Type.Object(Item, { additionalProperties: false }), { minItems: 1, maxItems: MAX_BULK }), reason: Reason }, { additionalProperties: false });
const BatchParams = Type.Object({ batchId: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$' }) });

const ListQuery = Type.Object(
  {
    scope: Type.Optional(Scope),
    source: Type.Optional(Type.Union([Type.Literal('engine'), Type.Literal('operator')])),
    active: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
    shadow: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')], { description: 'true: only "would" decisions (shadow: the engine in shadow mode, operator trials), never enforced; false: only enforced ones' })),
    batchId: Type.Optional(TextLine({ maxLength: 100 })),
    cursor: Type.Optional(Cursor),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  },
  { additionalProperties: false },
);

export function decisionRoutes(uc: Console): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: Static<typeof ListQuery> }>(
      '/decisions',
      {
        schema: routeSchema('listDecisions', 'Standing decisions (and past ones), newest first', 'viewer', {
          querystring: ListQuery,
          response: { 200: Type.Object({ items: Type.Array(DecisionSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
        }),
        preValidation: requireRole('viewer'),
      },
      async (request) => {
        const q = request.query;
        return uc.decisions.list({ ...q, active: q.active === undefined ? undefined : q.active === 'true', shadow: q.shadow === undefined ? undefined : q.shadow === 'true' });
      },
    );

    app.post<{ Body: Static<typeof AddBody> }>(
      '/decisions',
      {
        schema: routeSchema('addDecision', 'Add a decision by hand (e.g. throttle an ASN for 4 h); every node enforces it', 'analyst', { body: AddBody, response: { 201: DecisionSchema } }),
        preValidation: requireRole('analyst'),
      },
      async (request, reply) => reply.status(201).send(await uc.decisions.add(actorOf(request), request.body)),
    );

    app.post<{ Body: Static<typeof BulkBody> }>(
      '/decisions/bulk',
      {
        schema: routeSchema('addDecisionsInBulk', 'Several decisions under one batch id, undone as one', 'analyst', {
          body: BulkBody,
          response: { 201: Type.Object({ batchId: Type.String(), decisions: Type.Array(DecisionSchema) }) },
        }),
        preValidation: requireRole('analyst'),
      },
      async (request, reply) => reply.status(201).send(await uc.decisions.bulk(actorOf(request), request.body.items, request.body.reason)),
    );

    app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof ReasonBody> }>(
      '/decisions/:id/lift',
      {
        schema: routeSchema('liftDecision', 'Lift a decision on every node', 'analyst', { params: IdParams, body: ReasonBody, response: { 200: DecisionSchema } }),
        preValidation: requireRole('analyst'),
      },
      async (request) => uc.decisions.lift(actorOf(request), request.params.id, request.body.reason),
    );

    app.post<{ Params: Static<typeof BatchParams>; Body: Static<typeof ReasonBody> }>(
      '/batches/:batchId/undo',
      {
        schema: routeSchema('undoBatch', 'Lift every decision of a bulk action still standing, as one', 'analyst', {
          params: BatchParams,
          body: ReasonBody,
          response: { 200: Type.Object({ batchId: Type.String(), lifted: Type.Integer() }) },
        }),
        preValidation: requireRole('analyst'),
      },
      async (request) => uc.decisions.undoBatch(actorOf(request), request.params.batchId, request.body.reason),
    );
  };
}
