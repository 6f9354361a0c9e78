import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../errors.js';
import type { Caller } from '../../discovery/gate.js';
import { UNREADABLE_ADDRESS } from '../../net/client-address.js';

export const DeviceHeaders = Type.Object({
  'x-device-id': Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' })),
  'x-findguard-proof': Type.Optional(
    Type.String({ minLength: 3, maxLength: 300, pattern: '^[\\x21-\\x7e]+$', description: 'Answer to a 428 proof-of-work challenge: <challenge id>.<nonce>' }),
  ),
});

/**
 * The caller of a public API request: its JWT's account, device id, canonical address and proof.
 * Built property by property: an object literal with conditional spreads costs ~1 µs per spread
 * on Node 20, on every discovery call.
 */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.callerId) throw new AppError('unauthenticated', 'missing bearer token');
  const device = request.headers['x-device-id'];
  const proof = request.headers['x-findguard-proof'];
  const caller: Caller = { accountId: request.callerId, ip: request.clientAddress ?? UNREADABLE_ADDRESS };
  if (typeof device === 'string') caller.deviceId = device;
  if (typeof proof === 'string') caller.proof = proof;
  return caller;
}
