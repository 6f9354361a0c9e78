import type { Kysely } from 'kysely';

/**
 * An account's answer pool (abuse/answer-pool.ts): its book and what its later syncs' new numbers
 * matched, as JSON counts (no numbers, no ids), judged on the request path by every node. Null
 * until the account's first sync that matched enough to be a book. answer_pool_at is its last
 * call, indexed: the retention job clears pools idle past their memory, so the accounts a pool
 * remembers (hashed) are not kept for an account that stopped syncing.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('accounts').addColumn('answer_pool', 'text').execute();
  await db.schema.alterTable('accounts').addColumn('answer_pool_at', 'bigint').execute();
  await db.schema.createIndex('accounts_answer_pool_at').on('accounts').column('answer_pool_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('accounts_answer_pool_at').execute();
  await db.schema.alterTable('accounts').dropColumn('answer_pool_at').execute();
  await db.schema.alterTable('accounts').dropColumn('answer_pool').execute();
}
