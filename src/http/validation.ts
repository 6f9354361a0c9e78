import AjvCompiler from '@fastify/ajv-compiler';
import type { FastifyServerOptions } from 'fastify';

type BuildValidator = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']>;

/**
 * Fastify's own validator factory (the same Ajv pool), with one difference by part of the request.
 * JSON bodies are validated as sent, never coerced: `"5"` is not 5 and `"true"` is not true in a
 * discovery call or an admin change. A query string, though, is text by nature, so its schemas
 * coerce: an admin script's `?limit=50` is the integer 50, and `?limit=abc` is still refused as
 * `invalid_request`.
 */
export function buildValidator(ajv: AjvCompiler.Options): BuildValidator {
  const pool = AjvCompiler();
  return (externalSchemas) => {
    const strict = pool(externalSchemas, { customOptions: { ...ajv, coerceTypes: false } });
    const textual = pool(externalSchemas, { customOptions: { ...ajv, coerceTypes: true } });
    return (route) => (route.httpPart === 'querystring' ? textual : strict)(route);
  };
}
