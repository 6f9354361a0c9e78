import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings, type CliIo } from '../src/cli/io.js';
import { createProgram } from '../src/cli/program.js';
import { signDevToken } from '../src/http/auth/jwt.js';
import { createService, type Service } from '../src/main.js';
import { listAudit } from '../src/incidents/audit.js';
import { freePort, killProcess, pollUntil, redisServerAvailable, startRedisServer, type Spawned } from './helpers/processes.js';

/**
 * The limits' epoch (src/limits/redis-epoch.ts) end to end: a Redis that comes back empty makes
 * every call fail closed (never a fresh budget), `findguard limits status` says so, and only an
 * operator's `findguard limits accept-redis-reset --reason` (audit-logged) lets the running node
 * answer again, without a restart. This file's own redis-server, without persistence.
 */
(redisServerAvailable() ? describe : describe.skip)('the limits in Redis after Redis lost its keyspace', () => {
  let dir: string;
  let port: number;
  let redis: Spawned | undefined;
  let service: Service;
  let io: CliIo & { lines: string[]; errors: string[] };
  let token: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fg-limits-epoch-'));
    port = await freePort();
    redis = await startRedisServer(port, dir, false);
    const lines: string[] = [];
    const errors: string[] = [];
    io = { env: { FINDGUARD_DATA_DIR: dir, FINDGUARD_LOG_LEVEL: 'silent', FINDGUARD_REDIS_URL: `redis://127.0.0.1:${port}`, USER: 'ops-erin' }, cwd: dir, out: (l) => lines.push(l), err: (l) => errors.push(l), interactive: false, lines, errors };
    const { config, secrets } = loadSettings(io);
    service = await createService(config, secrets);
    const put = await service.app.inject({ method: 'PUT', url: '/internal/v1/accounts/erin-user', headers: { authorization: `Bearer ${secrets.serviceKey}` }, payload: { handle: 'erin', createdAt: '2024-01-01T00:00:00Z' } });
    expect(put.statusCode).toBe(201);
    token = await signDevToken(secrets.jwt, 'erin-user', Date.now());
  }, 60_000);
  afterAll(async () => {
    await service?.close();
    if (redis) await killProcess(redis);
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async () => service.app.inject({ method: 'POST', url: '/v1/discovery/lookup', headers: { authorization: `Bearer ${token}` }, payload: { phone: '+4915120050001' } });
  const run = async (...args: string[]) => {
    io.lines.length = 0;
    process.exitCode = undefined;
    await createProgram(io).parseAsync(args, { from: 'user' });
    const code = process.exitCode;
    process.exitCode = undefined;
    return { lines: [...io.lines], code };
  };

  it('fails closed until an operator accepts the reset, then answers again without a restart', async () => {
    expect((await call()).statusCode).toBe(200);
    expect((await run('limits', 'status')).lines.at(-1)).toBe('ok');

    await killProcess(redis!);
    redis = await startRedisServer(port, dir, false);
    // Back and empty: once reconnected, every call is refused as unavailable, never answered.
    const limitsCheck = async () => (await service.app.inject({ method: 'GET', url: '/readyz' })).json<{ checks: Record<string, string> }>().checks.limits;
    await pollUntil('Redis in reach again, without the limits', async () => ((await limitsCheck()) === 'lost' ? true : undefined), 10_000, 100);
    for (let i = 0; i < 5; i++) expect([(await call()).statusCode, (await call()).json<{ error: { code: string } }>().error.code]).toEqual([503, 'unavailable']);
    expect((await service.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    const status = await run('limits', 'status');
    expect(status.code).toBe(2);
    expect(status.lines.join('\n')).toMatch(/redis {5}\(none\)[\s\S]*503 until `findguard limits accept-redis-reset/);

    const accepted = await run('limits', 'accept-redis-reset', '--reason', 'Redis restarted without its AOF; budgets since 09:00 are forgotten');
    expect(accepted.lines[0]).toMatch(/^new epoch \S+: serving nodes answer again/);
    await pollUntil('answered again', async () => ((await call()).statusCode === 200 ? true : undefined), 5000, 100);
    expect((await run('limits', 'status')).lines.at(-1)).toBe('ok');
    expect((await service.app.inject({ method: 'GET', url: '/readyz' })).json<{ checks: Record<string, string> }>().checks.limits).toBe('ok');
    const [entry] = await listAudit(service.ctx.db.kysely, { subject: 'limits:redis', limit: 1 });
    expect(entry).toMatchObject({ action: 'limits.accept-redis-reset', tool: 'cli', actor: { name: 'ops-erin' }, reason: expect.stringContaining('without its AOF') });
  }, 60_000);
});
