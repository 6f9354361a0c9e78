import { afterAll, beforeAll, expect, it } from 'vitest';
import type { JwtConfig } from '../src/config/config.js';
import { signDevToken } from '../src/http/auth/jwt.js';
import type { Service } from '../src/main.js';
import { ManualClock } from '../src/util/clock.js';
import { uniquePrefix } from './helpers/redis.js';
import { SERVICE_KEY, T0 } from './helpers/service.js';
import { describeSharedNodes, startSharedNodes, type SharedNodes } from './helpers/shared-nodes.js';

/**
 * Scaled out: the owner's sync that sets the book may reach one node and a friend's lookup
 * another. The book lives in PostgreSQL, so what one node wrote the other answers from; nothing
 * about it is kept in a node's memory.
 */

const OWNER = '+4915112350001';
const FRIEND = '+4915112350002';
const STRANGER = '+4915112350003';

describeSharedNodes('"my contacts" on two nodes over Redis and PostgreSQL', () => {
  const clock = new ManualClock(T0);
  const nodes: Service[] = [];
  const prefix = uniquePrefix('contacts-multinode');
  let shared: SharedNodes | undefined;
  let ownerPoint: string;
  let jwt: JwtConfig;

  beforeAll(async () => {
    shared = await startSharedNodes({ prefix, clock, seedBase: 10 });
    nodes.push(...shared.nodes);
    jwt = shared.jwt;
    const a = nodes[0]!;
    for (const [id, phone, by] of [['owner', OWNER, 'contacts'], ['friend', FRIEND, undefined], ['stranger', STRANGER, undefined]] as const) {
      const put = await a.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${id}`, headers: internal(), payload: { handle: id } });
      expect(put.statusCode).toBe(201);
      const res = await a.app.inject({
        method: 'POST',
        url: `/internal/v1/accounts/${id}/contact-points`,
        headers: internal(),
        payload: { kind: 'phone', value: phone, purposes: by ? ['discovery'] : ['two_factor'], verified: true, ...(by ? { discoverableBy: by } : {}) },
      });
      expect(res.statusCode).toBe(201);
      if (id === 'owner') ownerPoint = res.json<{ id: string }>().id;
    }
  });
  afterAll(async () => shared?.close());

  function internal() {
    return { authorization: `Bearer ${SERVICE_KEY}` };
  }
  async function call(node: number, who: string, path: 'lookup' | 'sync', payload: Record<string, unknown>) {
    const token = await signDevToken(jwt, who, clock.now(), 3600);
    const res = await nodes[node]!.app.inject({ method: 'POST', url: `/v1/discovery/${path}`, headers: { authorization: `Bearer ${token}` }, payload });
    expect(res.statusCode).toBe(200);
    return res.json();
  }
  const finds = async (node: number, who: string) => (await call(node, who, 'lookup', { phone: OWNER })).match !== null;
  /** Past the nodes' one-second caller caches: what another node wrote is what this one reads. */
  const later = () => clock.advance(1500);

  it('a book synced through one node decides the other node’s answers, and so do its replacement and its erasure', async () => {
    expect(await finds(1, 'friend')).toBe(false);
    await call(0, 'owner', 'sync', { contacts: [FRIEND] });
    later();
    expect(await finds(1, 'friend')).toBe(true);
    expect(await finds(1, 'stranger')).toBe(false);

    await call(1, 'owner', 'sync', { contacts: [STRANGER] });
    later();
    expect(await finds(0, 'friend')).toBe(false);
    expect(await finds(0, 'stranger')).toBe(true);

    const off = await nodes[1]!.app.inject({ method: 'PATCH', url: `/internal/v1/accounts/owner/contact-points/${ownerPoint}`, headers: internal(), payload: { discoverableBy: 'nobody' } });
    expect(off.statusCode).toBe(200);
    const rows = await nodes[0]!.ctx.db.kysely.selectFrom('contact_books').selectAll().where('account_id', '=', 'owner').execute();
    expect(rows).toEqual([]);
    later();
    const on = await nodes[1]!.app.inject({ method: 'PATCH', url: `/internal/v1/accounts/owner/contact-points/${ownerPoint}`, headers: internal(), payload: { discoverableBy: 'contacts' } });
    expect(on.statusCode).toBe(200);
    later();
    expect(await finds(0, 'stranger')).toBe(false);
    // The owner's next sync on the other node, after its cache has caught up, keeps the book again.
    await call(0, 'owner', 'sync', { contacts: [FRIEND] });
    later();
    expect(await finds(1, 'friend')).toBe(true);
    expect(await finds(1, 'stranger')).toBe(false);
  });
});
