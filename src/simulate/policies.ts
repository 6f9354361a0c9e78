/** The limits policies a simulation compares, and where each (scenario, policy) result is written. */
import { resolve } from 'node:path';
import { BUILT_IN_POLICIES, loadPolicy, type CompiledPolicy } from '../policy/index.js';

/**
 * Loads each policy once, in the order given. A file path is taken relative to `cwd` (the CLI's
 * working directory, which tests set). Two sources with the same policy name are refused: results
 * are filed and compared by name, so one would silently overwrite the other.
 */
export function loadPolicies(namesOrFiles: readonly string[], cwd: string): CompiledPolicy[] {
  const seen = new Map<string, string>();
  const out: CompiledPolicy[] = [];
  for (const arg of namesOrFiles) {
    const source = Object.hasOwn(BUILT_IN_POLICIES, arg) ? arg : resolve(cwd, arg);
    const policy = loadPolicy(source);
    const earlier = seen.get(policy.name);
    if (earlier === source) continue;
    if (earlier !== undefined) throw new Error(`policies ${earlier} and ${source} are both named "${policy.name}"; give each its own name`);
    seen.set(policy.name, source);
    out.push(policy);
  }
  return out;
}

/**
 * `<scenario>.json` when one policy ran, as before policies could be compared, so scripts reading
 * that layout keep working; `<scenario>.<policy>.json` when several did.
 */
export function resultFileName(scenario: string, policy: string, comparing: boolean): string {
  return comparing ? `${scenario}.${policy}.json` : `${scenario}.json`;
}
