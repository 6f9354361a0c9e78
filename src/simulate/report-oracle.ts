import { escapeHtml } from './html.js';
import type { AttackerResult, TimingReport } from './run.js';

/** The oracle prober's section of the report: which probe tells which class of number apart. */

const CLASS_ORDER = ['undiscoverable', 'two_factor_only', 'suspended', 'discoverable'];
/** The oracle prober's control class: discovery probes are meant to tell it apart (it matches). */
const CONTROL_CLASS = 'discoverable';

export interface ProbeFinding {
  probe: string;
  distinguishes: Record<string, boolean>;
}

export function probesOf(a: AttackerResult): ProbeFinding[] | undefined {
  const p = a.details.probes;
  if (!Array.isArray(p)) return undefined;
  return p.filter(
    (f): f is ProbeFinding =>
      typeof f === 'object' && f !== null && typeof (f as ProbeFinding).probe === 'string' && typeof (f as ProbeFinding).distinguishes === 'object' && (f as ProbeFinding).distinguishes !== null,
  );
}

function orderClasses(keys: Iterable<string>): string[] {
  const set = new Set(keys);
  return [...CLASS_ORDER.filter((c) => set.has(c)), ...[...set].filter((c) => !CLASS_ORDER.includes(c)).sort((a, b) => a.localeCompare(b))];
}

export function oracleHtml(a: AttackerResult, probes: ProbeFinding[] | undefined, timing: TimingReport | undefined): string {
  const out: string[] = [`<h3>Oracle probes: ${escapeHtml(a.name)}</h3>`];
  if (!probes || probes.length === 0) {
    out.push('<p class="none">No probe findings recorded.</p>');
  } else {
    const classes = orderClasses(probes.flatMap((p) => Object.keys(p.distinguishes)));
    const learned =
      typeof a.details.learnedAnything === 'boolean'
        ? a.details.learnedAnything
        : probes.some((p) => Object.entries(p.distinguishes).some(([c, v]) => c !== CONTROL_CLASS && v));
    out.push(
      `<p class="${learned ? 'bad' : 'good'} verdict">${learned ? 'Some probe tells a class of number apart from unregistered numbers.' : 'No probe tells any class of number apart from unregistered numbers.'}</p>`,
    );
    const rows = probes.map(
      (p) =>
        `<tr><td>${escapeHtml(p.probe)}</td>${classes
          .map((c) => {
            const v = p.distinguishes[c];
            if (v === undefined) return '<td>—</td>';
            if (c === CONTROL_CLASS) return `<td class="control">${v ? 'yes' : 'no'}</td>`;
            return `<td class="${v ? 'bad' : 'good'}">${v ? 'yes' : 'no'}</td>`;
          })
          .join('')}</tr>`,
    );
    out.push(`<div class="scroll"><table class="probes">
<caption>Distinguishable from an unregistered number by status, body, headers or size (simulated, reproducible)</caption>
<thead><tr><th>probe</th>${classes.map((c) => `<th>${escapeHtml(c)}${c === CONTROL_CLASS ? ' (control)' : ''}</th>`).join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table></div>`);
    if (classes.includes(CONTROL_CLASS)) {
      out.push(
        `<p class="note">“${escapeHtml(CONTROL_CLASS)}” is the control: a discoverable number is supposed to be told apart by the discovery probes (it is a match), which shows the probe can see a difference when there is one. Only the other columns count as leaks.</p>`,
      );
    }
  }
  const aucs = timing?.oracle;
  if (!aucs || aucs.length === 0) {
    out.push('<p class="none">No timing measurements (wall-clock) for this scenario.</p>');
  } else {
    const classes = orderClasses(aucs.flatMap((p) => Object.keys(p.auc)));
    const rows = aucs.map(
      (p) =>
        `<tr><td>${escapeHtml(p.probe)}</td>${classes
          .map((c) => {
            const v = p.auc[c];
            if (v === undefined) return '<td class="n">—</td>';
            const off = Math.abs(v - 0.5);
            return `<td class="n${off >= 0.2 ? ' bad' : off >= 0.1 ? ' warn' : ''}">${escapeHtml(v.toFixed(3))}</td>`;
          })
          .join('')}</tr>`,
    );
    out.push(`<div class="wallclock">
<div class="scroll"><table class="timing">
<caption>Timing AUC per probe and class: <strong>wall-clock, not reproducible</strong></caption>
<thead><tr><th>probe</th>${classes.map((c) => `<th class="n">${escapeHtml(c)}</th>`).join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table></div>
<p class="note">Probability that a response for a number of this class took longer than one for an unregistered number (Mann-Whitney AUC). 0.5 = timing tells nothing; near 0 or 1 = the classes are told apart by timing. Measured in wall time on the machine that ran the report, so a re-run gives other values; small samples are noisy. Cells ≥ 0.1 from 0.5 are shaded, ≥ 0.2 marked red.</p>
</div>`);
  }
  return out.join('\n');
}
