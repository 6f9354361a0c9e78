import type { FastifyInstance } from 'fastify';
import { canonicalAddress, memo } from '../net/client-address.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The client address as findguard reads it (src/net/client-address.ts): the socket's, or the
     * X-Forwarded-For entry of the last trusted proxy; undefined when it cannot be read. Read
     * this, never `request.ip`, which is the header's text as sent.
     */
    clientAddress?: string;
  }
}

/** Reads the client address once per request, before any route's own hooks. */
export function registerClientAddress(app: FastifyInstance): void {
  app.decorateRequest('clientAddress', undefined);
  // Remembered per text: the same caller's address is read on every call, and one canonical string
  // is then shared by the limiter's and the abuse engine's maps.
  const canonical = memo(canonicalAddress);
  app.addHook('onRequest', (request, _reply, done) => {
    request.clientAddress = canonical(request.ip);
    done();
  });
}
