import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../errors.js';

export const DeviceHeaders = Type.Object({
  'x-device-id': Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' })),
});

export interface Caller {
  accountId: string;
  deviceId?: string;
  /** The client address, from X-Forwarded-For only when the hop is a trusted proxy. */
  ip: string;
}

export function callerOf(request: FastifyRequest): Caller {
  if (!request.callerId) throw new AppError('unauthenticated', 'missing bearer token');
  const device = request.headers['x-device-id'];
  return { accountId: request.callerId, deviceId: typeof device === 'string' ? device : undefined, ip: request.ip };
}
