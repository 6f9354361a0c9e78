

/**
 * Table types. Timestamps are epoch milliseconds (bigint in PostgreSQL, parsed to number),
 * booleans are 0/1 integers: the one representation both dialects bind and return alike.
 */
export interface AccountsTable {
  id: string;
  handle: string;
  created_at: number;
  /** Status the app mirrors to us. */
  app_status: 'active' | 'suspended';
  /** findguard's own enforcement, kept apart: lifted only by findguard's operators. */
  fg_status: 'active' | 'suspended';
  phone_region: string | null;
  signup_ip: string | null;
  signup_device: string | null;
  signup_user_agent: string | null;
  mirrored_at: number;
  updated_at: number;
}

export interface ContactPointsTable {
  id: string;
  account_id: string;
  kind: 'phone' | 'email';
  key_version: number;
  /** HMAC-SHA-256(hash key, kind || value): the only trace of the value we keep. */
  hash: Buffer;
  /** Bit set of purposes, see directory/purposes.ts. */
  purposes: number;
  verified: number;
  /** 1 when purpose discovery, verified and the account active: maintained by directory writes. */
  discoverable: number;
  created_at: number;
  updated_at: number;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface Database {
  accounts: AccountsTable;
  contact_points: ContactPointsTable;
  findguard_meta: MetaTable;
}

