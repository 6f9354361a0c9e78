import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../../context.js';
import { OwnExposures } from '../../incidents/notices-own.js';
import { OwnExposuresQuery, OwnExposuresResponse } from '../../incidents/notices-schemas.js';
import { UNREADABLE_ADDRESS } from '../../net/client-address.js';
import { errorResponses } from '../schemas.js';

/**
 * `/v1/me`: what the account behind the app's JWT may read about itself (DESIGN §3). The same
 * JWT verification as discovery, in its own encapsulated context.
 */
export function meApi(ctx: AppContext): FastifyPluginAsync {
  const own = new OwnExposures({
    notices: ctx.incidents.notices,
    authorize: (id) => ctx.discovery.authorizeCaller(id),
    limits: ctx.limitStore,
    clock: ctx.clock,
  });
  return async (app) => {
    app.decorateRequest('callerId', undefined);
    app.addHook('onRequest', async (request) => {
      request.callerId = (await ctx.jwt.verify(request.headers.authorization)).accountId;
    });
    app.get(
      '/exposures',
      {
        schema: {
          tags: ['me'],
          operationId: 'myExposures',
          summary: "The caller's own exposure notices",
          description:
            'The notices (GDPR Art. 34) of the account behind the JWT, newest first, while they last: when it was shown to an ' +
            'enumeration network, to how many of its accounts, what was done and what the holder can do. Takes no query: it ' +
            'answers for the JWT\'s account alone, in one shape (`{"notices": []}` for an account never exposed, as for one whose ' +
            'notices expired). A suspended caller gets 403 account_suspended, as on discovery. Budgeted per account and address.',
          security: [{ appJwt: [] }],
          querystring: OwnExposuresQuery,
          response: { 200: OwnExposuresResponse, ...errorResponses },
        },
      },
      async (request, reply) => {
        void reply.header('cache-control', 'no-store');
        return own.read({ accountId: request.callerId!, ip: request.clientAddress ?? UNREADABLE_ADDRESS });
      },
    );
  };
}
