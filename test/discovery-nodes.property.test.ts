import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signDevToken } from '../src/http/auth/jwt.js';
import type { Service } from '../src/main.js';
import { compilePolicy } from '../src/policy/index.js';
import { ManualClock } from '../src/util/clock.js';
import { callAndCheck, type DiscoveryNode, type Observed, observeDiscovery, plantTargets, recreateCaller, startSequence, type Step, step } from './helpers/discovery-property.js';
import { uniquePrefix } from './helpers/redis.js';
import { SERVICE_KEY, T0 } from './helpers/service.js';
import { describeSharedNodes, startSharedNodes, type SharedNodes } from './helpers/shared-nodes.js';

/**
 * The discovery-charges property scaled out: two serving nodes over one PostgreSQL and one Redis
 * (the limits' buckets there), each call sent to either node, tokens handed out by one redeemed at
 * the other, and nodes restarted between calls. Every number answered to an account was charged to
 * it, under the same E.164 value, in this call or along the chain of the token it sent, whichever
 * node answered and whichever handed the token out: no node, and no restart, answers for free.
 * The caller's id is also erased on one node and mirrored again on either at the same instant: the
 * erased holder's tokens are another account's from then on.
 */

const DAY = 86_400_000;
const RUNS = Number(process.env.FINDGUARD_PROPERTY_RUNS ?? 2000) / 8;

type NodeStep = (Step & { node: number }) | { op: 'restart'; node: number } | { op: 'recreate'; via: 'put' | 'import'; node: number; eraser: number };
const nodeIndex = fc.integer({ min: 0, max: 1 });
const nodeStep: fc.Arbitrary<NodeStep> = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(step, nodeIndex).map(([s, node]): NodeStep => ({ ...s, node })) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('restart' as const), node: nodeIndex }) },
  // The caller's id erased on one node and mirrored again, at the same instant, on either.
  { weight: 1, arbitrary: fc.record({ op: fc.constant('recreate' as const), via: fc.constantFrom('put' as const, 'import' as const), node: nodeIndex, eraser: nodeIndex }) },
);

describeSharedNodes('every number answered was charged, on two nodes and across restarts (property)', () => {
  const clock = new ManualClock(T0);
  let shared: SharedNodes;
  const seen: Observed = { asked: [], declared: [] };
  const nodes: DiscoveryNode[] = [];
  let runs = 0;
  let restarts = 0;
  let recreated = 0;

  const asNode = (svc: Service): DiscoveryNode => ({
    app: svc.app,
    ctx: svc.ctx,
    internal: { authorization: `Bearer ${SERVICE_KEY}` },
    tokenFor: (accountId, ttlSeconds = 3600) => signDevToken(shared.jwt, accountId, clock.now(), ttlSeconds),
  });

  beforeAll(async () => {
    const policy = compilePolicy({
      name: 'property-nodes',
      tiers: [{ name: 'standard' }],
      layers: [{ id: 'account-new', subject: 'account', cost: 'new', limits: { default: { burst: 12, refill: 12, per: '1d' } } }],
    });
    shared = await startSharedNodes({ prefix: uniquePrefix('property-nodes'), clock, seedBase: 40, policy });
    for (const svc of shared.nodes) nodes.push(asNode(svc));
    expect(shared.nodes.map((n) => n.ctx.limitStore.kind)).toEqual(['redis', 'redis']);
    await plantTargets(nodes[0]!);
    for (const n of nodes) observeDiscovery(n, seen);
  }, 120_000);
  afterAll(async () => shared?.close());

  it(`holds over ${RUNS} random sequences of calls spread over two nodes, with restarts and the caller's id erased and mirrored again`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(nodeStep, { minLength: 1, maxLength: 10 }), async (steps) => {
        const run = ++runs;
        const { me, issued } = await startSequence(nodes[run % 2]!, nodes[(run + 1) % 2]!, run, T0);
        for (const s of steps) {
          if (s.op === 'restart') {
            nodes[s.node] = asNode(await shared.restart(s.node));
            observeDiscovery(nodes[s.node]!, seen);
            restarts++;
          } else if (s.op === 'recreate') {
            await recreateCaller(nodes[s.node]!, me, s.via, issued, clock.now(), nodes[s.eraser]!);
            recreated++;
          } else if (s.op === 'wait') clock.advance(s.days * DAY);
          else await callAndCheck(nodes[s.node]!, me, s, issued, seen);
        }
      }),
      { numRuns: RUNS },
    );
    // The sequences did restart nodes and recreate callers (a property that never drew one would prove nothing of it).
    expect(restarts).toBeGreaterThan(0);
    expect(recreated).toBeGreaterThan(0);
  }, 600_000);
});
