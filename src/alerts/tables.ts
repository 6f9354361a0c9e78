import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/**
 * The alert tables (migration 20261222000000-alerts). Declared here and joined to the shared
 * Database type with Kysely's withTables, so the alerts module owns its tables end to end.
 */
export interface AlertsTable {
  id: string;
  /** Unique: the same condition seen by many nodes inserts one row. */
  dedup_key: string;
  condition: string;
  action: 'trigger' | 'resolve';
  /** What PagerDuty deduplicates on: per campaign, per incident, per episode of a level condition. */
  subject: string;
  severity: string;
  summary: string;
  /** JSON: ids, counts and times only. */
  details: string;
  created_at: number;
  test: number;
}

export interface AlertDeliveriesTable {
  id: string;
  alert_id: string;
  route: string;
  sink: 'slack' | 'pagerduty';
  attempts: number;
  /** null once delivered or given up. */
  next_attempt_at: number | null;
  delivered_at: number | null;
  last_error: string | null;
}

export interface AlertConditionsTable {
  condition: string;
  /** The open episode's id, null while the condition is clear. */
  episode: string | null;
  since: number | null;
  updated_at: number;
}

// A type alias, not an interface: withTables needs the index signature a type literal has.
export type AlertTables = {
  alerts: AlertsTable;
  alert_deliveries: AlertDeliveriesTable;
  alert_conditions: AlertConditionsTable;
};

export type AlertDb = Kysely<Database & AlertTables>;

export function alertDb(db: Kysely<Database>): AlertDb {
  return db.withTables<AlertTables>();
}
