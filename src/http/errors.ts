import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { storeFailure } from '../db/errors.js';
import { AppError, ERRORS, errorBody, type ErrorCode } from '../errors.js';

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'invalid_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'unavailable',
};

/**
 * One error handler for every route: coded AppErrors as they are, schema failures as
 * invalid_request with the failing paths (never the values), Fastify's own 4xx by status, a
 * database out of reach as 503 unavailable and text it cannot store as 400 (db/errors.ts),
 * anything else as an opaque 500 whose cause stays in the log.
 */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | AppError | Error, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof AppError) {
      if (error.headers) void reply.headers(error.headers);
      return reply.status(error.status).send(errorBody(error.code, error.message, error.details));
    }
    const fe = error as FastifyError;
    if (fe.validation) {
      const details = fe.validation.map((v) => ({ path: `${fe.validationContext ?? 'body'}${v.instancePath}`, message: v.message ?? 'invalid' }));
      return reply.status(400).send(errorBody('invalid_request', 'the request does not match the schema', details));
    }
    const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
    if (status >= 400 && status < 500) {
      const code = BY_STATUS[status] ?? 'invalid_request';
      return reply.status(status).send(errorBody(code, publicMessage(fe, code)));
    }
    // A database that is down is an outage, answered as the contract's other outages are (503 with
    // Retry-After, DESIGN §3: fail closed, retry later); a value PostgreSQL cannot store (a NUL a
    // schema missed) is the request's fault, logged without the error: it may quote the value.
    const failure = storeFailure(error);
    if (failure === 'unreachable') {
      request.log.warn({ code: (error as { code?: unknown }).code, reason: error.message }, 'database unreachable');
      return reply.status(503).header('retry-after', '5').send(errorBody('unavailable', 'a store is unavailable for a moment; retry later'));
    }
    if (failure === 'invalid_text') {
      request.log.info('a value the database cannot store (a control character)');
      return reply.status(400).send(errorBody('invalid_request', 'a text field holds a character that cannot be stored'));
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.status(500).send(errorBody('internal', 'internal error'));
  });

  app.setNotFoundHandler((_request, reply) => reply.status(404).send(errorBody('not_found', 'no such route')));

  // Fastify's own 503 while closing (return503OnClosing) is not the coded format.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) return done();
    void reply.header('connection', 'close');
    done(new AppError('unavailable', 'the server is shutting down; retry', undefined, { 'retry-after': '1' }));
  });
}

/**
 * Errors Fastify raises before any route runs, as the schema's refusals are answered: a URL that
 * does not decode, and a path parameter longer than maxParamLength (an account id no valid one
 * could be). Never the path: Fastify's own answers quote it.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_BAD_URL') {
    void reply.status(400).send(errorBody('invalid_request', 'the URL does not decode'));
  } else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply.status(400).send(errorBody('invalid_request', 'a path parameter is longer than any valid one'));
  } else {
    request.log.error({ code: error.code }, 'framework error');
    void reply.status(500).send(errorBody('internal', 'internal error'));
  }
}

const CLIENT_ERRORS: Record<string, [ErrorCode, string]> = {
  HPE_HEADER_OVERFLOW: ['headers_too_large', 'the request line and headers are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: ['request_timeout', 'the request took too long to arrive'],
};

/**
 * Requests Node's HTTP parser refuses, answered on the socket in the coded format. Only the error
 * code is logged: Node's error carries the raw bytes received (`rawPacket`), query string included.
 */
export function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, message] = CLIENT_ERRORS[error.code ?? ''] ?? ['invalid_request', 'the request is not valid HTTP'];
  this.log.trace({ code: error.code }, 'client error');
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status = ERRORS[code];
  const body = JSON.stringify(errorBody(code, message));
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function publicMessage(error: FastifyError, code: ErrorCode): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'the body is not valid JSON';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'the body is too large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported content type';
    default:
      return code.replace(/_/g, ' ');
  }
}
