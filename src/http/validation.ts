import AjvCompiler from '@fastify/ajv-compiler';
import type { FastifyServerOptions } from 'fastify';

type BuildValidator = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']>;
type Validate = ReturnType<ReturnType<BuildValidator>>;
type SchemaError = { keyword: string; instancePath: string; schemaPath: string; params: Record<string, unknown>; message: string };

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
    return (route) => (route.httpPart === 'querystring' ? finiteOnly(textual(route)) : strict(route));
  };
}

/**
 * Ajv coerces the text "Infinity" (or "1e400") to the number Infinity, and then skips minimum,
 * maximum and the integer check for it (they compare, and every comparison with a non-finite
 * number says yes): `?limit=Infinity` would pass `Type.Integer({ maximum: 500 })` on every route.
 * JSON cannot carry such a number, so only the coerced query string needs this. The refusal is
 * reported as a schema error, answered as every other one (http/errors.ts: 400 invalid_request).
 */
function finiteOnly(validate: Validate): Validate {
  const checked = function (this: unknown, ...args: unknown[]): unknown {
    const ok = (validate as (...a: unknown[]) => unknown).apply(this, args);
    if (ok !== true) {
      checked.errors = (validate as { errors?: unknown }).errors;
      return ok;
    }
    const path = nonFinite(args[0], '');
    if (path === undefined) return ok;
    const error: SchemaError = { keyword: 'finite', instancePath: path, schemaPath: '#/finite', params: {}, message: 'must be a finite number' };
    checked.errors = [error];
    return false;
  } as ((...args: unknown[]) => unknown) & { errors?: unknown; schemaEnv?: unknown };
  // Fastify passes the request as parent data (so Ajv can coerce a root value) only to a function
  // that carries Ajv's schemaEnv.
  checked.schemaEnv = (validate as { schemaEnv?: unknown }).schemaEnv;
  return checked as unknown as Validate;
}

/** The JSON pointer of the first non-finite number in a coerced query, or undefined. */
function nonFinite(value: unknown, path: string): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, item] of Object.entries(value)) {
    const found = nonFinite(item, `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    if (found !== undefined) return found;
  }
  return undefined;
}
