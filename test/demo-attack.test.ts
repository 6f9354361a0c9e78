import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ATTACK } from '../src/cli/demo-attack.js';
import { DEMO_OPERATOR, demoOperatorBanner, ensureDemoAttack } from '../src/cli/demo-console.js';
import { buildSettings, type Config, type Secrets } from '../src/config/config.js';
import type { RawEnv } from '../src/config/env.js';
import { openDb } from '../src/db/dialect.js';
import { createLogger } from '../src/logger.js';
import { createService } from '../src/main.js';
import { ConsoleCampaigns } from '../src/console/campaigns.js';
import { totpCode } from '../src/operators/totp.js';

// npm start's replayed attack (issue 16 point 5): what the console shows must be what findguard
// concluded from real calls, not rows written for the demo.

describe('the demo attack', () => {
  let dir: string;
  let config: Config;
  let secrets: Secrets;
  let first: Awaited<ReturnType<typeof ensureDemoAttack>>;
  const now = Date.now();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'findguard-demo-attack-'));
    ({ config, secrets } = buildSettings({ dataDir: dir, logLevel: 'silent' } as RawEnv, dir));
    first = await ensureDemoAttack(config, secrets, now);
  }, 120_000);

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves a campaign of the fake accounts, with exposures, found by the engine from the calls it made', async () => {
    expect(first.ran).toBe(true);
    const record = first.record!;
    expect(record.accounts).toBe(DEMO_ATTACK.accounts);
    expect(record.answered).toBeGreaterThan(0);
    expect(record.endedAt).toBeLessThanOrEqual(now);

    const db = openDb(config.database);
    try {
      const k = db.kysely;
      // Every call the replay made went through the gate and was recorded as a lookup event, but
      // the one call of each suspended account, refused before it is a lookup.
      const events = await k.selectFrom('lookup_events').select(k.fn.countAll<number>().as('n')).where('account_id', 'like', 'demo-scraper-%').executeTakeFirstOrThrow();
      expect(Number(events.n)).toBe(record.calls - record.stopped);

      const campaigns = await k.selectFrom('campaigns').selectAll().execute();
      expect(campaigns.length).toBeGreaterThanOrEqual(1);
      const members = await k.selectFrom('campaign_accounts').select('account_id').where('campaign_id', '=', campaigns[0]!.id).execute();
      expect(members.length).toBeGreaterThanOrEqual(2);
      expect(members.every((m) => m.account_id.startsWith('demo-scraper-'))).toBe(true);

      // Exposures: demo accounts revealed to the campaign (never one of its own).
      const exposures = await k.selectFrom('exposures').selectAll().where('campaign_id', '=', campaigns[0]!.id).execute();
      expect(exposures.length).toBeGreaterThan(0);
      expect(exposures.every((e) => e.revealed_account_id.startsWith('acct-') && e.at <= now)).toBe(true);

      // Every decision is the engine's; nothing by an operator or by hand.
      const sources = await k.selectFrom('decisions').select('source').distinct().execute();
      expect(sources.map((s) => s.source)).toEqual(['engine']);
      const suspended = await k.selectFrom('accounts').select('id').where('fg_status', '=', 'suspended').execute();
      expect(suspended.length).toBeGreaterThan(0);
      expect(suspended.every((a) => a.id.startsWith('demo-scraper-'))).toBe(true);
    } finally {
      await db.close();
    }
  });

  // The fleet sweeps blocks in step, as the 2019 network did: the engine stops every one of its
  // accounts with the default policy's thresholds untouched, and the campaigns it opens show them all.
  it('stops every fake account: all suspended, all in the campaigns the console shows', async () => {
    const record = first.record!;
    expect(record.stopped).toBe(DEMO_ATTACK.accounts);
    const db = openDb(config.database);
    try {
      const k = db.kysely;
      const fleet = await k.selectFrom('accounts').select(['id', 'fg_status']).where('id', 'like', 'demo-scraper-%').orderBy('id').execute();
      expect(fleet).toHaveLength(DEMO_ATTACK.accounts);
      expect(fleet.filter((a) => a.fg_status !== 'suspended').map((a) => a.id)).toEqual([]);

      const campaigns = new ConsoleCampaigns(k);
      const { items } = await campaigns.list();
      let suspended = 0;
      let exposed = 0;
      for (const c of items) {
        const page = await campaigns.page(c.id);
        suspended += page.accountStatus.suspended;
        exposed += page.exposedAccounts;
        expect(page.accountStatus.active).toBe(0);
      }
      expect(suspended).toBe(DEMO_ATTACK.accounts);
      expect(exposed).toBeGreaterThan(0);
      const members = await k.selectFrom('campaign_accounts').select('account_id').distinct().orderBy('account_id').execute();
      expect(members.map((m) => m.account_id)).toEqual(fleet.map((a) => a.id));
    } finally {
      await db.close();
    }
  });

  it("prints the demo operator's credentials, which sign in, at the first start and after a restart", async () => {
    for (let start = 0; start < 2; start++) {
      const service = await createService(config, secrets, { logger: createLogger('silent') });
      try {
        const banner = await demoOperatorBanner(service.ctx, secrets);
        const value = (label: string) => banner.find((l) => l.trimStart().startsWith(`${label}:`))!.split(':').slice(1).join(':').trim().split(/\s+/)[0]!;
        expect(banner.join('\n')).toContain('{{URL}}/dashboard/sign-in');
        const res = await service.app.inject({
          method: 'POST',
          url: '/admin/v1/session',
          payload: { name: value('name'), password: value('password'), totp: totpCode(value('TOTP secret'), Date.now()) },
        });
        expect(res.statusCode, `start ${start + 1}: ${res.body}`).toBe(200);
        expect(res.json()).toMatchObject({ operator: { name: DEMO_OPERATOR, role: 'admin' } });
      } finally {
        await service.close();
      }
    }
  });

  it('runs once per database', async () => {
    const again = await ensureDemoAttack(config, secrets, Date.now());
    expect(again.ran).toBe(false);
    expect(again.record).toEqual(first.record);
  });
});
