import { Compile } from 'typebox/compile';
import { storeFailure } from '../db/errors.js';
import { AppError } from '../errors.js';
import type { AccountInput } from './accounts.js';
import { requireOpaqueAccountId } from './account-id.js';
import type { AccountWrite } from './bulk-write.js';
import { normaliseContactInput } from './contact-value.js';
import { resolveDiscoverability } from './discoverability.js';
import { contactRegion } from './phone-region.js';
import { ImportLine } from './schemas.js';
import { toAccountInput, type DirectoryService } from './service.js';

export interface ImportError {
  line: number;
  code: string;
  message: string;
}

export interface ImportReport {
  lines: number;
  accounts: number;
  contactPoints: number;
  failed: number;
  /** The first MAX_REPORTED errors; `failed` counts them all. */
  errors: ImportError[];
}

interface PreparedLine extends AccountWrite {
  line: number;
}

const MAX_REPORTED = 1000;
// Hash-keyed indexes take writes all over the B-trees, so every commit rewrites most index pages:
// 20,000 lines per transaction wrote a quarter of the bytes of 1,000 and imported 1.7x faster.
const BATCH_LINES = 20_000;
const checkLine = Compile(ImportLine);

/** A line longer than this is refused on its own: an account line is a few hundred bytes. */
export const MAX_IMPORT_LINE_BYTES = 64 * 1024;

/**
 * Applies an NDJSON stream of accounts with their contact points. Each line stands alone: a bad
 * line is reported by number and changes nothing, good lines are applied. Lines are written in
 * batches of multi-row statements, because a user base of millions must import in minutes.
 * Import adds and updates; it never removes contact points a line does not list.
 */
export async function importNdjson(
  directory: DirectoryService,
  lines: AsyncIterable<string | undefined>,
  onProgress?: (report: ImportReport) => void,
  /**
   * The time the lines were current, which their createdAt may not pass: the directory's clock by
   * default. The simulator's replay starts its clock a week before the population it seeds.
   */
  asOf?: number,
): Promise<ImportReport> {
  const report: ImportReport = { lines: 0, accounts: 0, contactPoints: 0, failed: 0, errors: [] };
  let batch: PreparedLine[] = [];
  let batchIds = new Set<string>();
  const flush = async () => {
    if (batch.length === 0) return;
    await applyBatch(directory, batch, report);
    batch = [];
    batchIds = new Set();
    onProgress?.(report);
  };
  for await (const text of lines) {
    report.lines++;
    if (text === undefined) {
      fail(report, { line: report.lines, code: 'line_too_long', message: 'line is longer than the limit' });
      continue;
    }
    if (text.trim() === '') continue;
    const prepared = prepareLine(text, report.lines, asOf ?? directory.now());
    if ('code' in prepared) {
      fail(report, prepared);
      continue;
    }
    // A multi-row upsert may touch a row once only: a repeated account starts a new batch.
    if (batchIds.has(prepared.accountId)) await flush();
    batch.push(prepared);
    batchIds.add(prepared.accountId);
    if (batch.length >= BATCH_LINES) await flush();
  }
  await flush();
  return report;
}

function fail(report: ImportReport, error: ImportError): void {
  report.failed++;
  if (report.errors.length < MAX_REPORTED) report.errors.push(error);
}

function prepareLine(text: string, line: number, now: number): PreparedLine | ImportError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { line, code: 'invalid_json', message: 'line is not valid JSON' };
  }
  if (!checkLine.Check(parsed)) {
    // Not TypeBox's "schema is false" for an unknown property: its path ends in that property's
    // name, which may be a number or an address; the additionalProperties error beside it names
    // only the object holding it.
    const first = [...checkLine.Errors(parsed)].find((e) => e.keyword !== 'boolean');
    return { line, code: 'invalid_request', message: first ? `${first.instancePath || '/'} ${first.message}` : 'invalid line' };
  }
  let account: AccountInput;
  try {
    requireOpaqueAccountId(parsed.accountId, 'accountId');
    account = toAccountInput(parsed, now);
  } catch (err) {
    return { line, code: 'invalid_request', message: err instanceof AppError ? err.message : 'invalid account' };
  }
  const points: PreparedLine['points'] = [];
  /** Each value's first entry, by its normalised value: a repeat must say the same, or the line says two things. */
  const seen = new Map<string, { index: number; point: PreparedLine['points'][number] }>();
  const cps = parsed.contactPoints ?? [];
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i]!;
    // Checked and normalised as addContactPoint does (contact-value.ts).
    const n = normaliseContactInput(cp.kind, cp.value, cp.region);
    if (!n.ok) return { line, code: n.code, message: n.code === 'invalid_region' ? `contactPoints/${i} has an unknown region` : `contactPoints/${i} is not a valid ${cp.kind}` };
    let resolved: ReturnType<typeof resolveDiscoverability>;
    try {
      resolved = resolveDiscoverability(cp);
    } catch (err) {
      return { line, code: 'discoverability_conflict', message: `contactPoints/${i}: ${err instanceof Error ? err.message : 'conflicting discoverability'}` };
    }
    const audience = cp.discoverableBy === 'everyone' || cp.discoverableBy === 'contacts' ? { audience: cp.discoverableBy } : {};
    const point = { kind: cp.kind, value: n.value, bits: resolved.bits, ...audience, verified: cp.verified ? 1 : 0, region: contactRegion(cp.kind, n.value) };
    const key = `${cp.kind}:${n.value}`;
    const first = seen.get(key);
    if (first) {
      // The same value twice (in two spellings, say): harmless when both entries agree; when they
      // differ, keeping either would silently drop what the other asked (a number meant for
      // discovery stored as two-factor only), so the line is refused as a whole.
      if (first.point.bits !== point.bits || first.point.audience !== point.audience || first.point.verified !== point.verified) {
        return { line, code: 'duplicate_contact_point', message: `contactPoints/${i} is contactPoints/${first.index} again, with other purposes, audience or verification` };
      }
      continue;
    }
    seen.set(key, { index: i, point });
    points.push(point);
  }
  return { line, accountId: parsed.accountId, account, points };
}

async function applyBatch(directory: DirectoryService, batch: PreparedLine[], report: ImportReport): Promise<void> {
  try {
    // The directory's own write path: change notices and sign-up events follow the commit.
    const counts = await directory.putAccounts(batch);
    report.accounts += counts.accounts;
    report.contactPoints += counts.contactPoints;
  } catch {
    // Something no check foresaw: isolate the line at fault by applying them one at a time.
    for (const line of batch) {
      try {
        const counts = await directory.putAccounts([line]);
        report.accounts += counts.accounts;
        report.contactPoints += counts.contactPoints;
      } catch (err) {
        // A value PostgreSQL cannot store (the schema refuses control characters; this is the backstop) is the line's fault.
        if (storeFailure(err) === 'invalid_text') fail(report, { line: line.line, code: 'invalid_request', message: 'a text field holds a character that cannot be stored' });
        else fail(report, { line: line.line, code: 'internal', message: 'the line could not be written' });
      }
    }
  }
}
