import type { FastifyPluginAsync } from 'fastify';
import { sql } from 'kysely';
import { Type } from 'typebox';
import type { CoreContext } from '../context.js';
import type { NodeLockStatus } from '../db/node-lock.js';
import { LimitStateLostError, type LimitStore } from '../limits/index.js';
import { serviceKeyChecker } from './auth/service-key.js';

const Status = Type.Object({ status: Type.String(), checks: Type.Optional(Type.Record(Type.String(), Type.String())) });

/** What the probes read: a worker has no limits store of its own. */
export type HealthDeps = Pick<CoreContext, 'db' | 'metrics' | 'incidents'> & { limitStore?: LimitStore; singleNodeLock?: () => NodeLockStatus | undefined };

/**
 * `metricsKey`: the bearer /metrics wants. A serving node's listener is the public API's, and its
 * series tell how the defence stands right now (the breaker tripped, layers near their limits, the
 * engine in shadow mode): a scraper would pause and resume around them. A worker's --listen is a
 * probe port on the inside, and passes none.
 */
export function healthRoutes(ctx: HealthDeps, metricsKey?: string): FastifyPluginAsync {
  const checkMetricsKey = metricsKey === undefined ? undefined : serviceKeyChecker(metricsKey, 'metrics token');
  return async (app) => {
    app.get('/healthz', { schema: { tags: ['health'], operationId: 'getHealth', security: [], summary: 'The process is alive', response: { 200: Status } } }, async () => ({
      status: 'ok',
    }));

    app.get(
      '/readyz',
      { schema: { tags: ['health'], operationId: 'getReadiness', security: [], summary: 'Every store findguard needs answers', response: { 200: Status, 503: Status } } },
      async (_request, reply) => {
        const checks: Record<string, string> = {};
        try {
          await sql`select 1`.execute(ctx.db.kysely);
          checks.database = 'ok';
        } catch {
          checks.database = 'unreachable';
        }
        if (ctx.limitStore) {
          try {
            await ctx.limitStore.ping();
            checks.limits = 'ok';
          } catch (err) {
            // Lost: Redis answers but no longer holds the limits (limits/redis-epoch.ts).
            checks.limits = err instanceof LimitStateLostError ? 'lost' : 'unreachable';
          }
        }
        // Limits in this node's memory hold only while it is the database's one such node (db/node-lock.ts).
        const lock = ctx.singleNodeLock?.();
        if (lock) checks.singleNode = lock === 'held' ? 'ok' : lock;
        // Where this process serves discovery from the decision cache: whether it can enforce.
        const decisions = ctx.incidents.decisions.health();
        if (decisions) checks.decisions = decisions;
        const ready = Object.values(checks).every((c) => c === 'ok');
        return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', checks });
      },
    );

    // Prometheus text format: counts by layer and outcome only, no personal data.
    app.get('/metrics', { schema: { tags: ['health'], operationId: 'getMetrics', security: checkMetricsKey ? [{ metricsToken: [] }] : [], summary: 'Prometheus metrics: limit decisions per layer, breaker state, process' } }, async (request, reply) => {
      checkMetricsKey?.(request.headers.authorization);
      const { contentType, body } = await ctx.metrics.text();
      return reply.header('content-type', contentType).send(body);
    });
  };
}
