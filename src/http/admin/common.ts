import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Actor } from '../../console/index.js';
import { auditVia } from '../../operators/principal.js';
import type { Role } from '../../operators/roles.js';
import { errorResponses } from '../schemas.js';
import { actingContext, operatorOf } from './auth.js';
import { SESSION_SECURITY } from './session-routes.js';
import { TextBlock, TextLine } from '../../util/text.js';

/** The operator of a request, as the console's use cases take it (call after requireRole). */
export function actorOf(request: FastifyRequest): Actor {
  const op = operatorOf(request);
  const ctx = actingContext(request);
  return { id: op.id, name: op.name, role: op.role, via: auditVia(op), from: ctx.from, tool: ctx.tool === 'api' ? 'api' : 'console' };
}

/** The OpenAPI parts every console route shares: tag, operationId, summary, security, coded errors. */
export function routeSchema<T extends object>(operationId: string, summary: string, role: Role, extra: T & { response?: Record<number, unknown> }) {
  return {
    tags: ['console'],
    operationId,
    summary,
    description: `Needs the ${role} role.`,
    security: SESSION_SECURITY,
    ...extra,
    response: { ...extra.response, ...errorResponses },
  };
}

export const Reason = TextBlock({ minLength: 1, maxLength: 1000, description: 'Why: kept in the audit trail' });
export const ReasonBody = Type.Object({ reason: Reason }, { additionalProperties: false });
export const Cursor = TextLine({ minLength: 1, maxLength: 400, description: 'The nextCursor of the page before' });
export const Limit = Type.Integer({ minimum: 1, maximum: 500 });
export const EpochMs = Type.Integer({ minimum: 0, description: 'Epoch milliseconds' });
export const NullableMs = Type.Union([EpochMs, Type.Null()]);
export const NullableString = Type.Union([Type.String(), Type.Null()]);
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._:@-]+$' }) });
/** Free-form JSON the engine recorded (evidence, policy sections). */
export const Json = Type.Unknown();
