import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppContext } from './context.js';
import { dashboard } from './dashboard/index.js';
import { MAX_PATH_PARAM_LENGTH } from './directory/account-id.js';
import { registerClientAddress } from './http/client-address.js';
import { adminApi } from './http/admin/index.js';
import { clientErrorHandler, frameworkErrors, registerErrorHandling } from './http/errors.js';
import { healthRoutes } from './http/health.js';
import { buildValidator } from './http/validation.js';
import { internalApi } from './http/internal/index.js';
import { publicApi } from './http/public/index.js';
import { meApi } from './http/public/me.js';
import { ErrorResponse } from './http/schemas.js';
import { proxyTrust } from './net/client-address.js';

export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

/** The Fastify instance for a context. It never listens: main.ts does, tests inject(). */
export async function buildApp(ctx: AppContext): Promise<App> {
  const app = Fastify({
    loggerInstance: ctx.logger as FastifyBaseLogger,
    trustProxy: ctx.config.trustedProxies.length > 0 ? proxyTrust(ctx.config.trustedProxies) : false,
    bodyLimit: 256 * 1024,
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    // Fastify's own answers to these, and its 503 while closing, are not the coded format and
    // some quote the path: errors.ts answers them.
    frameworkErrors,
    clientErrorHandler,
    return503OnClosing: false,
    schemaController: { compilersFactory: { buildValidator: buildValidator({ removeAdditional: false, allErrors: false }) } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  registerErrorHandling(app);
  registerClientAddress(app);
  app.addSchema(ErrorResponse);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'findguard',
        version: '0.1.0',
        description: 'Find-by-phone discovery that cannot be turned into a scraper. See shared/DESIGN.md for the contract.',
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      components: {
        securitySchemes: {
          appJwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: "The app's own JWT; sub is the account id" },
          serviceKey: { type: 'http', scheme: 'bearer', description: 'The internal service key' },
          metricsToken: { type: 'http', scheme: 'bearer', description: 'FINDGUARD_METRICS_TOKEN, or the service key where it is unset' },
          operatorSession: { type: 'apiKey', in: 'cookie', name: '__Host-fg_session', description: "An operator's console session (POST /admin/v1/session); state changes also need the x-csrf-token header" },
          operatorToken: { type: 'http', scheme: 'bearer', description: 'An operator API token (fgop.<id>.<secret>), for scripts' },
        },
      },
      // Relative: the document is served by the node it describes, whatever its address.
      servers: [{ url: '/', description: 'This findguard node' }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(healthRoutes(ctx, ctx.secrets.metricsToken ?? ctx.secrets.serviceKey));
  await app.register(publicApi(ctx), { prefix: '/v1/discovery' });
  await app.register(meApi(ctx), { prefix: '/v1/me' });
  await app.register(internalApi(ctx), { prefix: '/internal/v1' });
  await app.register(adminApi(ctx), { prefix: '/admin/v1' });
  await app.register(dashboard({ oidc: ctx.oidc !== undefined }), { prefix: '/dashboard' });
  return app;
}
