import type { FastifyPluginAsync } from 'fastify';
import { createConsole } from '../../console/index.js';
import type { AppContext } from '../../context.js';
import { accountRoutes } from './accounts.js';
import { alertRoutes } from './alerts.js';
import { auditRoutes } from './audit.js';
import { adminAuth, authDepsOf } from './auth.js';
import { campaignRoutes } from './campaigns.js';
import { decisionRoutes } from './decisions.js';
import { incidentNoticeRoutes } from './incident-notices.js';
import { incidentRoutes } from './incidents.js';
import { operatorRoutes } from './operators.js';
import { overviewRoutes } from './overview.js';
import { policyRoutes } from './policy.js';
import { webhookRoutes } from './webhooks.js';

/**
 * The admin API at /admin/v1: operators authenticate once here (adminAuth), then each route
 * guards itself with requireRole (viewer reads; analyst acts on accounts, decisions, campaigns;
 * admin also on policy, webhooks and operators). The console's use cases (src/console) are built
 * once per serving node, so the campaign graphs' layout cache lives as long as the node.
 */
export function adminApi(ctx: AppContext): FastifyPluginAsync {
  const deps = authDepsOf(ctx);
  const uc = createConsole({
    db: ctx.db.kysely,
    clock: ctx.clock,
    random: ctx.random,
    registry: ctx.metrics.registry,
    directory: ctx.directory,
    incidents: ctx.incidents,
    policy: ctx.limits.policy,
    ipIntel: ctx.ipIntel,
    hashKeys: ctx.secrets.hashKeys,
    log: ctx.logger.child({ component: 'console' }),
  });
  return async (app) => {
    await app.register(adminAuth(deps));
    await app.register(operatorRoutes(deps));
    await app.register(overviewRoutes(uc));
    await app.register(campaignRoutes(uc));
    await app.register(accountRoutes(uc));
    await app.register(decisionRoutes(uc));
    await app.register(policyRoutes(uc));
    await app.register(webhookRoutes(uc));
    await app.register(alertRoutes(ctx.alerts));
    await app.register(auditRoutes(uc));
    await app.register(incidentRoutes(uc));
    await app.register(incidentNoticeRoutes(ctx.incidents.notices));
  };
}
