import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../errors.js';
import { lookupIp, type IpIntel } from '../../net/index.js';

export const DeviceHeaders = Type.Object({
  'x-device-id': Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' })),
  'x-findguard-proof': Type.Optional(
    Type.String({ minLength: 3, maxLength: 300, pattern: '^[\\x21-\\x7e]+$', description: 'Answer to a 428 proof-of-work challenge: <challenge id>.<nonce>' }),
  ),
});

export interface Caller {
  accountId: string;
  deviceId?: string;
  /** The client address, from X-Forwarded-For only when the hop is a trusted proxy. */
  ip: string;
  /** X-Findguard-Proof, answering a challenge. */
  proof?: string;
}

export function callerOf(request: FastifyRequest): Caller {
  if (!request.callerId) throw new AppError('unauthenticated', 'missing bearer token');
  const device = request.headers['x-device-id'];
  const proof = request.headers['x-findguard-proof'];
  return {
    accountId: request.callerId,
    ...(typeof device === 'string' ? { deviceId: device } : {}),
    ip: request.ip,
    ...(typeof proof === 'string' ? { proof } : {}),
  };
}

/**
 * The caller's own country for the abuse engine's real-time rules (what counts as foreign): the
 * region of the phone the app mirrored, else the country of the address the call comes from, so
 * an account mirrored without a phone is not exempt.
 */
export function callerRegion(phoneRegion: string | undefined, ip: string, intel: IpIntel): string | undefined {
  return phoneRegion || lookupIp(intel, ip)?.country;
}
