/**
 * What client and server share: the wire format of discovery calls, errors and proof-of-work
 * challenges. It imports nothing of findguard's, so the client SDK can ship it alone.
 */
export * from './challenge.js';
export * from './discovery.js';
