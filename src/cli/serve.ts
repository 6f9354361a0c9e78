import type { Command } from 'commander';
import { maxDevTokenSeconds, signDevToken } from '../http/auth/jwt.js';
import { DEFAULT_STREAM_KEY } from '../abuse/bus.js';
import { requireFleetPartitions } from '../abuse/fleet-partitions.js';
import { createLogger } from '../logger.js';
import { createService } from '../main.js';
import { demoPair, ensureDemoPopulation } from './seeding.js';
import { demoOperatorBanner, ensureDemoAttack } from './demo-console.js';
import { loadSettings, untilSignal, type CliIo } from './io.js';

export function serveCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('start findguard (migrates the database first, then listens)')
    .option('--demo', 'seed a demo population and replay a demo attack on first start; print a ready curl and the console\'s demo operator', false)
    .action(async (opts: { demo: boolean }) => {
      const { config, secrets } = loadSettings(io);
      // On another partition count than the workers', this node would fail every answered call
      // closed: refused before anything starts, with what to do in the message.
      if (config.redisUrl) await requireFleetPartitions(config.redisUrl, DEFAULT_STREAM_KEY, config.eventPartitions, 'serve node', createLogger(config.logLevel));
      if (opts.demo) {
        const attack = await ensureDemoAttack(config, secrets, Date.now());
        if (attack.skipped) io.err(attack.skipped);
        if (attack.seededAccounts) io.err(`seeded a demo population of ${attack.seededAccounts} accounts`);
        if (attack.ran && attack.record) io.err(`replayed a demo attack: ${attack.record.accounts} fake accounts, ${attack.record.calls} discovery calls (${attack.record.answered} answered)`);
      }
      const service = await createService(config, secrets);
      const { app, ctx } = service;
      let banner: string[] = [];
      let address: string;
      try {
        if (opts.demo) {
          const { record, seeded } = await ensureDemoPopulation(ctx);
          if (seeded) io.err(`seeded a demo population of ${record.accounts} accounts`);
          banner = [...(await demoBanner(secrets.jwt, record, ctx.clock.now())), ...(await demoOperatorBanner(ctx, secrets))];
        }
        address = await app.listen({ host: config.host, port: config.port });
      } catch (err) {
        await service.close();
        throw err;
      }
      io.out(`findguard listening on ${address} (database: ${config.database.dialect}, limits: ${ctx.limitStore.kind === 'redis' ? 'Redis' : 'in-process'}, policy: ${ctx.limits.policy.name})`);
      io.out(`OpenAPI: ${address}/docs`);
      for (const line of banner) io.out(line.replaceAll('{{URL}}', address));
      await untilSignal();
      io.err('shutting down');
      await service.close();
    });
}

async function demoBanner(
  jwt: Parameters<typeof signDevToken>[0],
  record: Parameters<typeof demoPair>[0],
  now: number,
): Promise<string[]> {
  if (jwt.kind !== 'hs256') return ['(demo: no local HS256 secret, so no demo token; use your app-issued JWT)'];
  const { searcher, target, phone } = demoPair(record);
  const ttl = maxDevTokenSeconds(jwt, 7 * 24 * 3600);
  const token = await signDevToken(jwt, searcher.id, now, ttl);
  // The number shown is synthetic demo data regenerated from the seed; it is printed, never logged.
  return [
    '',
    `Demo: signed in as ${searcher.id} (@${searcher.handle}); this JWT is valid for ${ttl % 86_400 === 0 ? `${ttl / 86_400} days` : `${ttl} seconds`}:`,
    `  ${token}`,
    `Find the demo account ${target.id} (@${target.handle}) by its phone number:`,
    `  curl -s -X POST {{URL}}/v1/discovery/lookup -H 'authorization: Bearer ${token}' -H 'content-type: application/json' -d '{"phone":"${phone}"}'`,
    '',
  ];
}
