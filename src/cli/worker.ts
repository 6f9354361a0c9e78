import { InvalidArgumentError, Option, type Command } from 'commander';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { isIP } from 'node:net';
import { DEFAULT_STREAM_KEY } from '../abuse/bus.js';
import { CONSUMER_GROUP, DEFAULT_CLAIM_IDLE_MS, defaultConsumerName } from '../abuse/redis-consumer.js';
import { createWorkerContext } from '../context.js';
import { healthRoutes } from '../http/health.js';
import { loadSettings, untilSignal, type CliIo } from './io.js';

function consumerName(value: string): string {
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(value)) throw new InvalidArgumentError('1 to 64 letters, digits or . _ : -');
  return value;
}

function seconds(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0 || Number(value) > 86_400) throw new InvalidArgumentError('a number of seconds from 0 to 86400');
  return Number(value);
}

interface Listen {
  host: string;
  port: number;
}

/** HOST:PORT, [IPv6]:PORT or :PORT. HOST defaults to 127.0.0.1: metrics are not exposed beyond the host unless asked (0.0.0.0). */
export function listenAddress(value: string): Listen {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const host = m ? (m[1] ?? (m[2] || '127.0.0.1')) : '';
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65_535 || (isIP(host) === 0 && !/^[A-Za-z0-9.-]{1,253}$/.test(host))) {
    throw new InvalidArgumentError('HOST:PORT, [IPv6]:PORT or :PORT, e.g. 127.0.0.1:9464');
  }
  return { host, port };
}

export function workerCommand(program: Command, io: CliIo): void {
  program
    .command('worker')
    .description('consume lookup events from Redis Streams for the abuse engine (scaled out; needs FINDGUARD_REDIS_URL)')
    .option('--consumer <name>', 'this process\'s name in the consumer group (default: host-pid); reuse it on restart to resume its pending events at once (once the old process is gone from Redis; else after its lease lapses)', consumerName)
    .option('--claim-idle <seconds>', 'take over events another worker was given and did not acknowledge for this long', seconds, DEFAULT_CLAIM_IDLE_MS / 1000)
    .option('--listen <host:port>', 'serve /healthz, /readyz and /metrics (Prometheus: lease, stream backlog, how far behind the engine is) on this address', listenAddress)
    // Test isolation on a shared Redis only: `serve` always publishes to the default key.
    .addOption(new Option('--stream <key>').hideHelp().default(DEFAULT_STREAM_KEY))
    .action(async (opts: { consumer?: string; claimIdle: number; stream: string; listen?: Listen }) => {
      const { config, secrets } = loadSettings(io);
      const consumer = opts.consumer ?? defaultConsumerName();
      // Migrations are `findguard migrate`'s (or serve's) to run: a worker on an older schema refuses to start.
      const ctx = await createWorkerContext(config, secrets, {
        events: { consumer, streamKey: opts.stream, claimIdleMs: Math.round(opts.claimIdle * 1000) },
      });
      ctx.start();
      const parts = config.eventPartitions > 1 ? ` in ${config.eventPartitions} partitions (${opts.stream}:0..${config.eventPartitions - 1}, each leased by one worker)` : '';
      io.out(`findguard worker ${consumer} consuming ${opts.stream}${parts} (group ${CONSUMER_GROUP}, database: ${config.database.dialect})`);
      // The worker has no API; this is for the orchestrator's probes and for Prometheus.
      const app = opts.listen ? Fastify({ loggerInstance: ctx.logger as FastifyBaseLogger, return503OnClosing: true }) : undefined;
      if (app && opts.listen) {
        try {
          await app.register(healthRoutes(ctx));
          io.out(`health and metrics on ${await app.listen({ host: opts.listen.host, port: opts.listen.port })}`);
        } catch (err) {
          await ctx.close();
          throw err;
        }
      }
      await untilSignal();
      io.err('stopping: finishing the current batch');
      await app?.close();
      // Stops the consumer after its batch is processed and acknowledged, then the database.
      await ctx.close();
      io.err('stopped');
    });
}
