import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import type { Console } from '../../console/index.js';
import { requireRole } from './auth.js';
import { Cursor, EpochMs, IdParams, Json, routeSchema } from './common.js';

const Status = Type.Union([Type.Literal('open'), Type.Literal('closed')]);
const CampaignItem = Type.Object({
  id: Type.String(),
  clusterId: Type.String(),
  status: Status,
  score: Type.Number(),
  detectedAt: EpochMs,
  firstSeen: EpochMs,
  lastSeen: EpochMs,
  accounts: Type.Integer(),
  exposedAccounts: Type.Integer(),
  exposurePairs: Type.Integer(),
  countries: Type.Array(Type.String()),
});

const CampaignPage = Type.Object({
  ...CampaignItem.properties,
  updatedAt: EpochMs,
  accountStatus: Type.Object({ active: Type.Integer(), suspended: Type.Integer(), erased: Type.Integer() }),
  lookups: Type.Object({ allowed: Type.Integer(), refused: Type.Integer(), challenged: Type.Integer() }),
  numbersAsked: Type.Integer(),
  origins: Type.Object({
    countries: Type.Array(Type.Object({ country: Type.Union([Type.String(), Type.Null()]), lookups: Type.Integer() })),
    asns: Type.Array(Type.Object({ asn: Type.Union([Type.Integer(), Type.Null()]), lookups: Type.Integer() })),
  }),
  blocks: Type.Object({
    distinct: Type.Integer(),
    numbers: Type.Integer(),
    top: Type.Array(Type.Object({ block: Type.String({ description: 'E.164 without its last 4 digits' }), numbers: Type.Integer() })),
    truncated: Type.Boolean(),
  }),
  timeline: Type.Array(
    Type.Object({ at: EpochMs, event: Type.String(), scope: Type.String(), source: Type.String(), actor: Type.String(), count: Type.Integer() }),
  ),
  evidence: Json,
});

const Graph = Type.Object({
  campaignId: Type.String(),
  version: EpochMs,
  nodes: Type.Array(
    Type.Object({
      id: Type.String(),
      x: Type.Number(),
      y: Type.Number(),
      size: Type.Number(),
      label: Type.String(),
      kind: Type.Union([Type.Literal('account'), Type.Literal('device'), Type.Literal('subnet'), Type.Literal('asn')]),
    }),
  ),
  edges: Type.Array(
    Type.Object({
      source: Type.String(),
      target: Type.String(),
      kind: Type.Union([Type.Literal('device'), Type.Literal('subnet'), Type.Literal('asn'), Type.Literal('in-step')]),
      weight: Type.Number(),
    }),
  ),
  truncated: Type.Boolean(),
});

const ListQuery = Type.Object(
  { status: Type.Optional(Status), cursor: Type.Optional(Cursor), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })) },
  { additionalProperties: false },
);

export function campaignRoutes(uc: Console): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: Static<typeof ListQuery> }>(
      '/campaigns',
      {
        schema: routeSchema('listCampaigns', 'Campaigns, newest first', 'viewer', {
          querystring: ListQuery,
          response: { 200: Type.Object({ items: Type.Array(CampaignItem), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
        }),
        preValidation: requireRole('viewer'),
      },
      async (request) => uc.campaigns.list(request.query),
    );

    app.get<{ Params: Static<typeof IdParams> }>(
      '/campaigns/:id',
      {
        schema: routeSchema('getCampaign', 'A campaign: summary, timeline of decisions, origins, number blocks probed, exposure counts', 'viewer', {
          params: IdParams,
          response: { 200: CampaignPage },
        }),
        preValidation: requireRole('viewer'),
      },
      async (request) => {
        const page = await uc.campaigns.page(request.params.id);
        // The browser asks for the graph next: its layout starts now.
        uc.graphs.warm(request.params.id);
        return page;
      },
    );

    app.get<{ Params: Static<typeof IdParams> }>(
      '/campaigns/:id/graph',
      {
        schema: routeSchema('getCampaignGraph', "The campaign's cluster: accounts and the evidence tying them, laid out on the server (cached per campaign version)", 'viewer', {
          params: IdParams,
          response: { 200: Graph },
        }),
        preValidation: requireRole('viewer'),
      },
      async (request) => uc.graphs.graph(request.params.id),
    );

    app.get<{ Params: Static<typeof IdParams> }>(
      '/campaigns/:id/exposures.csv',
      {
        schema: routeSchema('exportCampaignExposures', "The campaign's exposures as CSV (account ids and times only), streamed", 'viewer', {
          params: IdParams,
          produces: ['text/csv'],
          response: { 200: { description: 'CSV: campaign_id, attacker_account_id, exposed_account_id, first_exposed_at', content: { 'text/csv': { schema: Type.String() } } } },
        }),
        preValidation: requireRole('viewer'),
      },
      async (request, reply) => {
        const stream = await uc.campaigns.exposuresCsv(request.params.id);
        return reply
          .header('content-type', 'text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="exposures-${request.params.id.replace(/[^A-Za-z0-9_-]/g, '_')}.csv"`)
          .header('cache-control', 'no-store')
          .send(stream);
      },
    );
  };
}
