import { afterAll, beforeAll, expect, it } from 'vitest';
import type { JwtConfig } from '../../src/config/config.js';
import { signDevToken } from '../../src/http/auth/jwt.js';
import type { Service } from '../../src/main.js';
import { ManualClock } from '../../src/util/clock.js';
import { uniquePrefix } from '../helpers/redis.js';
import { SERVICE_KEY, T0 } from '../helpers/service.js';
import { describeSharedNodes, startSharedNodes, type SharedNodes } from '../helpers/shared-nodes.js';

/**
 * Found in review ("my contacts": the caller must be in the owner's LATEST synced book).
 * DiscoveryService.rememberBook writes the owner's book only when the caller status the node holds
 * says contactsMode. That status is a node's one-second cache (caller-cache.ts), so a node that
 * read the owner's status just before the owner turned "my contacts" on skips the book of a sync it
 * answers within that second. The skipped write is not a one-second lag: the book another node
 * wrote before stays as the owner's book until the owner's next sync on a node whose cache is fresh,
 * which may be never. So someone the owner removed from their address book (not in the latest sync)
 * still finds the owner, for as long as the owner keeps syncing the same way.
 *
 * Closed when a phone sync's book write does not depend on a cached flag (the directory's
 * replaceBook already checks the mode under the account's lock; the flag only spares a write).
 */

const OWNER = '+4915112350011';
const EX_FRIEND = '+4915112350012';
const FRIEND = '+4915112350013';

describeSharedNodes('"my contacts": a sync answered on a node with a stale mode flag', () => {
  const clock = new ManualClock(T0);
  const nodes: Service[] = [];
  const prefix = uniquePrefix('contacts-stale-flag');
  let shared: SharedNodes | undefined;
  let ownerPoint: string;
  let jwt: JwtConfig;
  const internal = { authorization: `Bearer ${SERVICE_KEY}` };

  beforeAll(async () => {
    shared = await startSharedNodes({ prefix, clock, seedBase: 20 });
    nodes.push(...shared.nodes);
    jwt = shared.jwt;
    const a = nodes[0]!;
    for (const [id, phone, purposes] of [['owner', OWNER, ['discovery']], ['ex-friend', EX_FRIEND, ['two_factor']], ['friend', FRIEND, ['two_factor']]] as const) {
      expect((await a.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${id}`, headers: internal, payload: { handle: id.replace('-', '') } })).statusCode).toBe(201);
      const res = await a.app.inject({ method: 'POST', url: `/internal/v1/accounts/${id}/contact-points`, headers: internal, payload: { kind: 'phone', value: phone, purposes, verified: true } });
      expect(res.statusCode).toBe(201);
      if (id === 'owner') ownerPoint = res.json<{ id: string }>().id;
    }
  });
  afterAll(async () => shared?.close());

  async function call(node: number, who: string, path: 'lookup' | 'sync', payload: Record<string, unknown>) {
    const token = await signDevToken(jwt, who, clock.now(), 3600);
    const res = await nodes[node]!.app.inject({ method: 'POST', url: `/v1/discovery/${path}`, headers: { authorization: `Bearer ${token}` }, payload });
    expect(res.statusCode).toBe(200);
    return res.json();
  }

  it('someone left out of the owner\'s latest sync no longer finds the owner', async () => {
    // Node 1 reads the owner's status (everyone's, no book) on an ordinary call of the owner's.
    await call(1, 'owner', 'lookup', { phone: FRIEND });
    // The owner turns "my contacts" on (the app's call reaches node 0).
    const on = await nodes[0]!.app.inject({ method: 'PATCH', url: `/internal/v1/accounts/owner/contact-points/${ownerPoint}`, headers: internal, payload: { discoverableBy: 'contacts' } });
    expect(on.statusCode).toBe(200);
    // A sync through node 0 keeps the book {ex-friend}.
    await call(0, 'owner', 'sync', { contacts: [EX_FRIEND] });
    clock.advance(200);
    // The owner drops the ex-friend: the next full sync (no previous) is {friend}, and reaches node 1.
    await call(1, 'owner', 'sync', { contacts: [FRIEND] });

    // Long past every cache: what the nodes answer is what the database holds.
    clock.advance(60_000);
    // Before the fix: the ex-friend still matched, from the book of the sync before the latest.
    expect((await call(0, 'ex-friend', 'lookup', { phone: OWNER })).match).toBeNull();
    expect((await call(1, 'ex-friend', 'lookup', { phone: OWNER })).match).toBeNull();
    // And the latest book is the one kept (the friend was not found either).
    expect((await call(0, 'friend', 'lookup', { phone: OWNER })).match).not.toBeNull();
  });
});
