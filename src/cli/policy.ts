import type { Command } from 'commander';
import { stringify } from 'yaml';
import { BUILT_IN_POLICIES, loadPolicy, PolicyError, type CompiledPolicy } from '../policy/index.js';
import type { CliIo } from './io.js';

function describe(p: CompiledPolicy): string[] {
  const lines = [`policy ${p.name}: ${p.tiers.length} tiers, ${p.layers.length} layers${p.breaker ? ', breaker' : ''}${p.challenge ? ', challenges' : ''}`];
  for (const l of p.layers) {
    const tiers = p.tiers
      .map((t) => {
        const limit = l.limitFor(t.name);
        if (!limit) return `${t.name}: unlimited`;
        const perDay = Math.round(limit.rate * 86_400_000);
        return `${t.name}: ${limit.burst}+${perDay}/d${limit.challengeBelow !== undefined ? ' (challenge)' : ''}`;
      })
      .join(', ');
    lines.push(`  ${l.id} (${l.scope}, ${l.cost}${l.shadow ? ', shadow' : ''}${l.failOpen ? ', fails open' : ''}): ${tiers}`);
  }
  return lines;
}

/** `findguard policy check FILE|NAME` and `findguard policy show NAME`: operators write policies from the built-ins. */
export function policyCommand(program: Command, io: CliIo): void {
  const policy = program.command('policy').description('check or print limits policies (JSON or YAML)');
  policy
    .command('check')
    .description('validate a policy file (or a built-in name) and summarise its layers and budgets per tier')
    .argument('<file>', 'policy file (.json, .yaml, .yml) or built-in name')
    .action((file: string) => {
      try {
        for (const line of describe(loadPolicy(file))) io.out(line);
        io.out('ok');
      } catch (err) {
        if (!(err instanceof PolicyError)) throw err;
        io.err(err.message);
        process.exitCode = 1;
      }
    });
  policy
    .command('show')
    .description(`print a built-in policy as YAML, to start your own from (${Object.keys(BUILT_IN_POLICIES).join(', ')})`)
    .argument('[name]', 'built-in policy', 'default')
    .option('--json', 'print JSON instead of YAML')
    .action((name: string, opts: { json?: boolean }) => {
      // Own keys only: `constructor` or `__proto__` indexes Object.prototype, not a policy.
      const p = Object.hasOwn(BUILT_IN_POLICIES, name) ? BUILT_IN_POLICIES[name] : undefined;
      if (!p) {
        io.err(`no built-in policy "${name}" (${Object.keys(BUILT_IN_POLICIES).join(', ')})`);
        process.exitCode = 1;
        return;
      }
      io.out(opts.json ? JSON.stringify(p, null, 2) : stringify(p).trimEnd());
    });
}
