import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { AppContext } from '../../context.js';
import { AccountBody, AccountId, DiscoverableBySchema } from '../../directory/schemas.js';
import { errorResponses } from '../schemas.js';

export const AccountParams = Type.Object({ accountId: AccountId });

export const ContactPointView = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  purposes: Type.Array(Type.String()),
  verified: Type.Boolean(),
  discoverable: Type.Boolean({ description: 'Whether anyone can find it now: verified, the account active, and discoverableBy not nobody' }),
  discoverableBy: DiscoverableBySchema,
  keyVersion: Type.Integer(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const AccountView = Type.Object({
  id: Type.String(),
  handle: Type.String(),
  createdAt: Type.String(),
  status: Type.String(),
  appStatus: Type.String(),
  findguardStatus: Type.String(),
  phoneRegion: Type.Union([Type.String(), Type.Null()], { description: 'The phone country the app sent; wins over derivedPhoneRegion' }),
  derivedPhoneRegion: Type.Union([Type.String(), Type.Null()], {
    description: "The region of the account's own verified phone (a two_factor or discovery one first, then the oldest), used when phoneRegion is null",
  }),
  signup: Type.Object({
    ip: Type.Union([Type.String(), Type.Null()]),
    deviceId: Type.Union([Type.String(), Type.Null()]),
    userAgent: Type.Union([Type.String(), Type.Null()]),
    attested: Type.Union([Type.Boolean(), Type.Null()], { description: 'Whether the app attested the sign-up device; null when it said nothing' }),
  }),
  risk: Type.Null({ description: 'null until the abuse engine has assessed the account' }),
  contactPoints: Type.Array(ContactPointView),
});

export function accountRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    app.put<{ Params: { accountId: string }; Body: AccountBody }>(
      '/accounts/:accountId',
      {
        schema: {
          tags: ['internal'],
          operationId: 'putAccount',
          summary: 'Create or update the mirror of an app account',
          security: [{ serviceKey: [] }],
          params: AccountParams,
          body: AccountBody,
          response: { 200: AccountView, 201: AccountView, ...errorResponses },
        },
      },
      async (request, reply) => {
        // A new account's sign-up reaches the abuse engine from the directory, after the commit.
        const { account, created } = await ctx.directory.putAccount(request.params.accountId, request.body);
        return reply.status(created ? 201 : 200).send(account);
      },
    );

    app.get<{ Params: { accountId: string } }>(
      '/accounts/:accountId',
      {
        schema: {
          tags: ['internal'],
          operationId: 'getMirroredAccount',
          summary: 'Status, risk and contact points (never their values) of an account',
          security: [{ serviceKey: [] }],
          params: AccountParams,
          response: { 200: AccountView, ...errorResponses },
        },
      },
      async (request) => ctx.directory.getAccount(request.params.accountId),
    );

    app.delete<{ Params: { accountId: string } }>(
      '/accounts/:accountId',
      {
        schema: {
          tags: ['internal'],
          operationId: 'eraseAccount',
          summary: 'Erase an account and every contact point it had',
          security: [{ serviceKey: [] }],
          params: AccountParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
      },
      async (request, reply) => {
        await ctx.directory.eraseAccount(request.params.accountId);
        return reply.status(204).send();
      },
    );
  };
}
