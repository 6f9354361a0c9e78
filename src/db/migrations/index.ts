import type { Migration } from 'kysely';
import * as m20261125000000 from './20261125000000-directory.js';

/** Every migration, in order. Explicit so bundling and both dialects see the same list. */
export const migrations: Record<string, Migration> = {
  '20261125000000-directory': m20261125000000,
};
