import type { FastifyPluginAsync } from 'fastify';
import { checkLimitsRecorded, recordAllowed, syncAnswer, syncCall } from '../../abuse/record.js';
import type { AppContext } from '../../context.js';
import { SyncBody, SyncResponse } from '../../discovery/schemas.js';
import { errorResponses } from '../schemas.js';
import { callerOf, callerRegion, DeviceHeaders, limitRequest } from './caller.js';

export function syncRoute(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: SyncBody }>(
      '/sync',
      {
        bodyLimit: 2 * 1024 * 1024,
        schema: {
          tags: ['discovery'],
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
      async (request) => {
        const caller = callerOf(request);
        const account = await ctx.discovery.authorizeCaller(caller.accountId);
        const prepared = ctx.discovery.prepareSync(caller.accountId, request.body);
        // Lookup events (src/abuse): refusals and challenges are emitted around the check, allowed calls after the answer.
        const call = syncCall(caller, account, prepared);
        const verdict = await checkLimitsRecorded(ctx, call, () => {
          // Every number the call answers for, previous included: a range paid for a little at a
          // time is still a range when it is asked again whole.
          const abuse = ctx.abuse.guard(caller.accountId, prepared.kind === 'phone' ? prepared.answered : [], ctx.clock.now(), callerRegion(account.phoneRegion, caller.ip, ctx.ipIntel), account);
          return ctx.limits.check(limitRequest(caller, { account, operation: call.operation, newNumbers: prepared.newValues.length }, abuse));
        });
        const { response } = await ctx.discovery.completeSync(caller.accountId, prepared);
        await recordAllowed(ctx, call, verdict, syncAnswer(prepared, response));
        return response;
      },
    );
  };
}
