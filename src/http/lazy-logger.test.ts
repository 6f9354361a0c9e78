import Fastify, { type FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { lazyChildLoggers } from './lazy-logger.js';

function app(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const logger = pino({ level, redact: { paths: ['*.phone'], censor: '[redacted]' } }, sink);
  const child = vi.spyOn(logger, 'child');
  const fastify = Fastify({ loggerInstance: logger as FastifyBaseLogger });
  void fastify.register(async (scoped) => {
    lazyChildLoggers(scoped);
    scoped.get('/quiet', async () => ({ ok: true }));
    scoped.get('/loud', async (request) => {
      request.log.warn({ body: { phone: '+14155552671' } }, 'something to say');
      return { ok: true };
    });
  });
  return { fastify, lines, child };
}

/** Fastify makes children of its own while it starts: only the ones made per request count here. */
async function started(level: string) {
  const a = app(level);
  await a.fastify.ready();
  a.child.mockClear();
  return a;
}

describe('lazy child loggers', () => {
  it('make no child for a request that logs nothing at an enabled level', async () => {
    const { fastify, lines, child } = await started('warn');
    expect((await fastify.inject({ url: '/quiet' })).statusCode).toBe(200);
    expect(child).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
  });

  it("write a request's lines with its request id and the parent's redaction", async () => {
    const { fastify, lines, child } = await started('warn');
    expect((await fastify.inject({ url: '/loud' })).statusCode).toBe(200);
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, msg: 'something to say', reqId: expect.any(String), body: { phone: '[redacted]' } });
  });

  it("log Fastify's own request lines when the level allows them", async () => {
    const { fastify, lines } = await started('info');
    await fastify.inject({ url: '/quiet' });
    const messages = lines.map((l) => l.msg);
    expect(messages).toEqual(['incoming request', 'request completed']);
    expect(new Set(lines.map((l) => l.reqId)).size).toBe(1);
    expect(lines[0]!.reqId).toEqual(expect.any(String));
  });
});
