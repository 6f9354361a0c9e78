import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ATTACK } from '../src/cli/demo-attack.js';
import { ensureDemoAttack } from '../src/cli/demo-console.js';
import { buildSettings, type Config, type Secrets } from '../src/config/config.js';
import type { RawEnv } from '../src/config/env.js';
import { openDb } from '../src/db/dialect.js';

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

  it('runs once per database', async () => {
    const again = await ensureDemoAttack(config, secrets, Date.now());
    expect(again.ran).toBe(false);
    expect(again.record).toEqual(first.record);
  });
});
