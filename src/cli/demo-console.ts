import { createHmac } from 'node:crypto';
import type { AppContext } from '../context.js';
import { createLogger } from '../logger.js';
import { createService, type Config, type Secrets } from '../main.js';
import { totpCode, totpUri } from '../operators/totp.js';
import { ManualClock } from '../util/clock.js';
import { DEMO_ATTACK_KEY, replayDemoAttack, type DemoAttackRecord } from './demo-attack.js';
import { ensureDemoPopulation } from './seeding.js';

/**
 * What `serve --demo` adds for the operator console: the replayed attack (once per database) and
 * an operator to sign in with, whose credentials are printed at every start.
 */

export const DEMO_OPERATOR = 'demo';
/** The replay's clock starts this long before the present: the fleet's sign-ups lie in the past. */
const REPLAY_FROM_MS = 35 * 86_400_000;

/**
 * Replays the demo attack once, before the serving node starts: a node of its own on the same
 * database, on a manual clock that runs from five weeks ago up to now, then closed. The serving
 * node then finds the campaign, its decisions and exposures where findguard recorded them.
 * Embedded only: with Redis the engine runs in `findguard worker` processes on their own clocks,
 * which a replay cannot drive.
 */
export async function ensureDemoAttack(config: Config, secrets: Secrets, now: number): Promise<{ ran: boolean; record?: DemoAttackRecord; skipped?: string; seededAccounts?: number }> {
  if (config.redisUrl) return { ran: false, skipped: 'the demo attack is replayed on the embedded setup only (no FINDGUARD_REDIS_URL)' };
  const clock = new ManualClock(now - REPLAY_FROM_MS);
  const service = await createService(config, secrets, { clock, logger: createLogger('silent') });
  try {
    const db = service.ctx.db.kysely;
    const done = await db.selectFrom('findguard_meta').select('value').where('key', '=', DEMO_ATTACK_KEY).executeTakeFirst();
    if (done) return { ran: false, record: JSON.parse(done.value) as DemoAttackRecord };
    // The replay needs the demo population: seeded here on a first start, before the attack.
    const { record: population, seeded } = await ensureDemoPopulation(service.ctx);
    const record = await replayDemoAttack({ app: service.app, ctx: service.ctx, clock, serviceKey: secrets.serviceKey, jwt: secrets.jwt }, population, now);
    await db.insertInto('findguard_meta').values({ key: DEMO_ATTACK_KEY, value: JSON.stringify(record) }).execute();
    return { ran: true, record, ...(seeded ? { seededAccounts: population.accounts } : {}) };
  } finally {
    await service.close();
  }
}

/**
 * The demo operator's password, derived from this installation's own session key: the same at
 * every start (so it can be printed again without being stored anywhere) and unknown to anyone
 * without the data directory's secrets.
 */
function demoPassword(secrets: Secrets): string {
  return createHmac('sha256', secrets.sessionKey).update('findguard demo operator password').digest('base64url').slice(0, 20);
}

/**
 * Creates the demo admin on first start; the banner lines that let a newcomer sign in. The TOTP
 * secret is stored sealed and never read back: on a later start the demo operator is enrolled
 * afresh (resetTotp, which also ends their sessions), so the banner can show a working secret.
 */
export async function demoOperatorBanner(ctx: AppContext, secrets: Secrets): Promise<string[]> {
  const password = demoPassword(secrets);
  const existing = await ctx.operators.byName(DEMO_OPERATOR);
  let totpSecret: string;
  if (!existing) {
    totpSecret = (await ctx.operators.add('cli', DEMO_OPERATOR, 'admin', password)).totpSecret;
  } else {
    if (existing.status !== 'active' || !existing.password) return [`(demo: the operator "${DEMO_OPERATOR}" is disabled or has no password; add one with findguard operators add)`];
    totpSecret = (await ctx.operators.resetTotp('cli', existing.id)).totpSecret;
  }
  return [
    '',
    `Operator console: {{URL}}/dashboard/sign-in (demo operator, role admin; a replayed attack is on the Campaigns page)`,
    `  name:        ${DEMO_OPERATOR}`,
    `  password:    ${password}`,
    `  TOTP secret: ${totpSecret} (add it to an authenticator app, or scan/import the URI below; new at every start)`,
    `  TOTP URI:    ${totpUri(totpSecret, DEMO_OPERATOR)}`,
    `  code now:    ${totpCode(totpSecret, ctx.clock.now())} (changes every 30 s; each code signs in once)`,
  ];
}
