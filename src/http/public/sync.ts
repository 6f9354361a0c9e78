import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../../context.js';
import { SyncBody, SyncResponse } from '../../discovery/schemas.js';
import { errorResponses } from '../schemas.js';
import { callerOf, DeviceHeaders } from './caller.js';

export function syncRoute(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: SyncBody }>(
      '/sync',
      {
        bodyLimit: 2 * 1024 * 1024,
        schema: {
          tags: ['discovery'],
          operationId: 'sync',
          summary: 'Address-book sync: match up to 5,000 new numbers (or emails)',
          description:
            'Send the numbers not sent before in contacts, and the last sync\'s set with its token in previous: ' +
            'only numbers outside previous cost budget. The answer lists matches and invalid entries by index and a new token.',
          security: [{ appJwt: [] }],
          headers: DeviceHeaders,
          body: SyncBody,
          response: { 200: SyncResponse, ...errorResponses },
        },
      },
      // Not async: the gate's promise is the answer (Fastify answers a synchronous throw as it does a rejection).
      (request) => ctx.gate.sync(callerOf(request), request.body),
    );
  };
}
