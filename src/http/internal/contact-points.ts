import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { AppContext } from '../../context.js';
import { AccountId, ContactPointBody, ContactPointPatch } from '../../directory/schemas.js';
import { errorResponses } from '../schemas.js';
import { ContactPointView } from './accounts.js';

const Params = Type.Object({ accountId: AccountId });
const ItemParams = Type.Object({ accountId: AccountId, id: Type.String({ pattern: '^cp_[A-Za-z0-9_-]{1,40}$' }) });

export function contactPointRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Params: { accountId: string }; Body: ContactPointBody }>(
      '/accounts/:accountId/contact-points',
      {
        schema: {
          tags: ['internal'],
          operationId: 'addContactPoint',
          summary: 'Add a contact point; only its keyed hash is kept',
          description:
            'A second add of the same value to the same account answers 409 with the existing id in details. discoverableBy (everyone, contacts, nobody) sets or clears the discovery purpose; without it the discovery purpose means everyone. A discoverableBy that contradicts purposes answers 400 discoverability_conflict.',
          security: [{ serviceKey: [] }],
          params: Params,
          body: ContactPointBody,
          response: { 200: Type.Object({ id: Type.String() }), 201: Type.Object({ id: Type.String() }), ...errorResponses },
        },
      },
      async (request, reply) => {
        const { id, created } = await ctx.directory.addContactPoint(request.params.accountId, request.body);
        return reply.status(created ? 201 : 200).send({ id });
      },
    );

    app.patch<{ Params: { accountId: string; id: string }; Body: ContactPointPatch }>(
      '/accounts/:accountId/contact-points/:id',
      {
        schema: {
          tags: ['internal'],
          operationId: 'updateContactPoint',
          summary: 'Change the purposes, the verified flag or who may find a contact point (discoverableBy)',
          description:
            "discoverableBy contacts: only callers whose own verified phone is in this account's latest synced address book match it (none until the account syncs). The book is kept as keyed hashes only while a point of the account is in contacts mode, and erased when the last one leaves it. purposes alone never change the audience. A discoverableBy that contradicts purposes answers 400 discoverability_conflict.",
          security: [{ serviceKey: [] }],
          params: ItemParams,
          body: ContactPointPatch,
          response: { 200: ContactPointView, ...errorResponses },
        },
      },
      async (request) => ctx.directory.patchContactPoint(request.params.accountId, request.params.id, request.body),
    );

    app.delete<{ Params: { accountId: string; id: string } }>(
      '/accounts/:accountId/contact-points/:id',
      {
        schema: {
          tags: ['internal'],
          operationId: 'removeContactPoint',
          summary: 'Remove a contact point',
          security: [{ serviceKey: [] }],
          params: ItemParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (request, reply) => {
        await ctx.directory.deleteContactPoint(request.params.accountId, request.params.id);
        return reply.status(204).send();
      },
    );
  };
}
