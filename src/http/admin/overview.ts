import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import type { Console } from '../../console/index.js';
import { requireRole } from './auth.js';
import { routeSchema } from './common.js';

const Series = Type.Array(Type.Number());
const SeriesMap = Type.Record(Type.String(), Series);

export const OverviewSchema = Type.Object({
  window: Type.Union([Type.Literal('hour'), Type.Literal('day'), Type.Literal('week')]),
  stepMs: Type.Integer(),
  series: Type.Object({
    t: Series,
    calls: Series,
    newNumbers: Series,
    refusalsByLayer: SeriesMap,
    refusalsByScope: SeriesMap,
    challenges: Series,
  }),
  breaker: Type.Object({ tripped: Type.Union([Type.Boolean(), Type.Null()]) }),
  engine: Type.Object({
    lag: Type.Union([Type.Number(), Type.Null()]),
    newestEventAgeSeconds: Type.Union([Type.Number(), Type.Null()]),
    eventsLost: Type.Number(),
  }),
  openCampaigns: Type.Integer(),
});

const Query = Type.Object({ window: Type.Optional(Type.Union([Type.Literal('hour'), Type.Literal('day'), Type.Literal('week')])) }, { additionalProperties: false });

export function overviewRoutes(uc: Console): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: Static<typeof Query> }>(
      '/overview',
      {
        schema: routeSchema('getOverview', 'Discovery calls, new numbers, refusals, challenges, breaker, engine and open campaigns over the last hour, day or week', 'viewer', {
          querystring: Query,
          response: { 200: OverviewSchema },
        }),
        preValidation: requireRole('viewer'),
      },
      async (request) => uc.overview.read(request.query.window ?? 'hour'),
    );
  };
}
