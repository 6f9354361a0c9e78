import { afterAll, beforeAll, expect, it } from 'vitest';
import type { JwtConfig } from '../../src/config/config.js';
import { signDevToken } from '../../src/http/auth/jwt.js';
import type { Service } from '../../src/main.js';
import { ManualClock } from '../../src/util/clock.js';
import { uniquePrefix } from '../helpers/redis.js';
import { SERVICE_KEY, T0 } from '../helpers/service.js';
import { describeSharedNodes, startSharedNodes, type SharedNodes } from '../helpers/shared-nodes.js';

/**
 * Found in review (twentieth session): an account's incarnation (accounts.mirrored_at) came from the
 * clock of the node that mirrored it. The app erases an id through one node and mirrors another
 * person under it through a second node whose clock runs 250 ms behind; when that node's clock reads
 * what the first node's read at the erased holder's mirroring, the new holder gets the same
 * incarnation, and the erased holder's sync token fits it: its paid-for previous set is answered,
 * free, to someone else. Closed by the erasure remembering the incarnation it ended
 * (directory/incarnations.ts): the next one starts after it, whatever the clocks.
 */
const TARGET = '+14155550181';
const BOOK = [TARGET, '+14155550182', '+14155550183'];
const SKEW = 250;

describeSharedNodes('an id mirrored again by a node whose clock runs behind', () => {
  const clock = new ManualClock(T0);
  const nodes: Service[] = [];
  let shared: SharedNodes | undefined;
  let jwt: JwtConfig;
  const internal = { authorization: `Bearer ${SERVICE_KEY}` };
  const put = (node: number, id: string, handle: string) => nodes[node]!.app.inject({ method: 'PUT', url: `/internal/v1/accounts/${id}`, headers: internal, payload: { handle } });

  beforeAll(async () => {
    shared = await startSharedNodes({ prefix: uniquePrefix('incarnation-skew'), clock, seedBase: 70, skewMs: [0, -SKEW] });
    nodes.push(...shared.nodes);
    jwt = shared.jwt;
    expect((await put(0, 'owner', 'owner')).statusCode).toBe(201);
    const point = await nodes[0]!.app.inject({ method: 'POST', url: '/internal/v1/accounts/owner/contact-points', headers: internal, payload: { kind: 'phone', value: TARGET, purposes: ['discovery'], verified: true } });
    expect(point.statusCode).toBe(201);
  });
  afterAll(async () => shared?.close());

  async function sync(node: number, payload: Record<string, unknown>) {
    const token = await signDevToken(jwt, 'reused-id', clock.now(), 3600);
    return nodes[node]!.app.inject({ method: 'POST', url: '/v1/discovery/sync', headers: { authorization: `Bearer ${token}` }, payload });
  }

  it('gets a later incarnation than the erased holder\'s, and the erased holder\'s token does not fit it', async () => {
    clock.set(T0 + 1_000);
    const mirroredAt = clock.now();
    expect((await put(0, 'reused-id', 'first_holder')).statusCode).toBe(201);
    const first = await sync(0, { contacts: BOOK });
    expect(first.statusCode).toBe(200);
    const { token } = first.json<{ token: string }>();

    clock.advance(100);
    expect((await nodes[0]!.app.inject({ method: 'DELETE', url: '/internal/v1/accounts/reused-id', headers: internal })).statusCode).toBe(204);
    // Node 1's clock now reads what node 0's read when it mirrored the first holder.
    clock.set(mirroredAt + SKEW);
    expect(nodes[1]!.ctx.clock.now()).toBe(mirroredAt);
    expect((await put(1, 'reused-id', 'someone_else')).statusCode).toBe(201);
    const row = await nodes[1]!.ctx.db.kysely.selectFrom('accounts').select('mirrored_at').where('id', '=', 'reused-id').executeTakeFirstOrThrow();
    expect(Number(row.mirrored_at)).toBeGreaterThan(mirroredAt);

    for (const node of [1, 0]) {
      const res = await sync(node, { contacts: [], previous: { token, contacts: BOOK } });
      expect(res.body).not.toContain('owner');
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: { code: 'invalid_token' } });
    }
  });
});
