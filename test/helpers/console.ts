import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { LookupEvent } from '../../src/abuse/events.js';
import { openDb, type Db } from '../../src/db/dialect.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/schema.js';
import { createTestDatabase } from './postgres.js';
import type { Dialect } from './service.js';

/** A migrated database of the dialect's own, for use-case tests and the console benchmark. */
export async function openTestDb(dialect: Dialect): Promise<{ db: Db; close(): Promise<void> }> {
  if (dialect === 'postgres') {
    const scratch = await createTestDatabase('fg_console');
    const db = openDb({ dialect: 'postgres', url: scratch.url });
    await migrateToLatest(db.kysely);
    return { db, close: async () => (await db.close(), await scratch.drop()) };
  }
  const dir = mkdtempSync(join(tmpdir(), 'findguard-console-'));
  const db = openDb({ dialect: 'sqlite', path: join(dir, 'findguard.sqlite') });
  await migrateToLatest(db.kysely);
  return { db, close: async () => (await db.close(), rmSync(dir, { recursive: true, force: true })) };
}

/** Stores events as the pipeline would (tests build them with helpers/events.ts makeEvent). */
export async function insertEvents(db: Kysely<Database>, events: readonly LookupEvent[]): Promise<void> {
  const rows = events.map((e) => ({
    id: e.id,
    at: e.at,
    account_id: e.accountId,
    device_id: e.deviceId ?? null,
    ip: e.ip,
    subnet: e.subnet,
    subnet48: e.subnet48 ?? null,
    asn: e.asn ?? null,
    country: e.country ?? null,
    network: e.network,
    tier: e.tier ?? null,
    operation: e.operation,
    outcome: e.outcome,
    scope: e.scope ?? null,
    kind: e.kind,
    numbers: e.numbers,
    new_numbers: e.newNumbers,
    matched: e.matched,
    revealed: JSON.stringify(e.revealed),
    blocks: JSON.stringify(e.blocks),
    account_created_at: e.accountCreatedAt,
    phone_region: e.phoneRegion ?? null,
  }));
  for (let i = 0; i < rows.length; i += 500) await db.insertInto('lookup_events').values(rows.slice(i, i + 500)).execute();
}

/** Accounts as the directory stores them, without contact points. */
export async function insertAccounts(db: Kysely<Database>, ids: readonly string[], at: number, over: { signupDevice?: (i: number) => string | null; signupIp?: (i: number) => string | null } = {}): Promise<void> {
  const rows = ids.map((id, i) => ({
    id,
    handle: `h_${id.replace(/[^A-Za-z0-9_]/g, '')}`,
    created_at: at,
    app_status: 'active' as const,
    fg_status: 'active' as const,
    phone_region: null,
    derived_phone_region: null,
    signup_ip: over.signupIp?.(i) ?? null,
    signup_device: over.signupDevice?.(i) ?? null,
    signup_user_agent: null,
    mirrored_at: at,
    updated_at: at,
  }));
  for (let i = 0; i < rows.length; i += 500) await db.insertInto('accounts').values(rows.slice(i, i + 500)).execute();
}
