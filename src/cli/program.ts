import { Command } from 'commander';
import { accountsCommand } from './accounts.js';
import { auditCommand } from './audit.js';
import { campaignsCommand } from './campaigns.js';
import { eventsCommand } from './events.js';
import { incidentsCommand } from './incidents.js';
import { limitsCommand } from './limits.js';
import { devTokenCommand, importCommand, migrateCommand, seedCommand } from './commands.js';
import type { CliIo } from './io.js';
import { operatorsCommand } from './operators.js';
import { policyCommand } from './policy.js';
import { serveCommand } from './serve.js';
import { simulateCommand } from './simulate.js';
import { workerCommand } from './worker.js';

export function createProgram(io: CliIo): Command {
  const program = new Command('findguard')
    .description('find-by-phone discovery that cannot be turned into a scraper')
    .version('0.1.0')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();
  serveCommand(program, io);
  migrateCommand(program, io);
  seedCommand(program, io);
  importCommand(program, io);
  devTokenCommand(program, io);
  simulateCommand(program, io);
  policyCommand(program, io);
  workerCommand(program, io);
  eventsCommand(program, io);
  limitsCommand(program, io);
  campaignsCommand(program, io);
  incidentsCommand(program, io);
  accountsCommand(program, io);
  operatorsCommand(program, io);
  auditCommand(program, io);
  return program;
}
