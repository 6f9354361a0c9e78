import type { SyntheticAccount } from './types.js';

/** A synthetic account as one line of the NDJSON import (`findguard seed`, the simulator's directory). */
export function importLineOf(a: SyntheticAccount): string {
  return JSON.stringify({
    accountId: a.id,
    handle: a.handle,
    createdAt: new Date(a.createdAt).toISOString(),
    phoneRegion: a.phoneRegion,
    status: a.status,
    contactPoints: a.contactPoints.map((cp) => ({ kind: cp.kind, value: cp.value, purposes: cp.purposes, verified: cp.verified, ...(cp.discoverableBy ? { discoverableBy: cp.discoverableBy } : {}) })),
  });
}
