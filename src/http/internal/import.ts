import type { FastifyPluginAsync } from 'fastify';
import type { Readable } from 'node:stream';
import { Type } from 'typebox';
import type { AppContext } from '../../context.js';
import { AppError } from '../../errors.js';
import { importNdjson, MAX_IMPORT_LINE_BYTES } from '../../directory/import.js';
import { readLines } from '../../util/lines.js';
import { errorResponses } from '../schemas.js';

const ImportReport = Type.Object({
  lines: Type.Integer(),
  accounts: Type.Integer(),
  contactPoints: Type.Integer(),
  failed: Type.Integer(),
  errors: Type.Array(Type.Object({ line: Type.Integer(), code: Type.String(), message: Type.String() })),
});

export function importRoute(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    // The body is streamed line by line, never buffered: a user base can be gigabytes.
    app.addContentTypeParser('application/x-ndjson', (_request, payload, done) => done(null, payload));
    app.post(
      '/import',
      {
        schema: {
          tags: ['internal'],
          operationId: 'importAccounts',
          summary: 'Bulk import of accounts and contact points (NDJSON, one account per line)',
          description:
            'Content-Type: application/x-ndjson. Each line: {"accountId","handle","createdAt"?,"phoneRegion"?,"status"?,"signup"?,' +
            '"contactPoints"?: [{"kind","value","region"?,"purposes","verified"}]}. Each line stands alone: ' +
            'good lines are applied, bad ones are reported by line number (the first 1,000) and change nothing.',
          security: [{ serviceKey: [] }],
          response: { 200: ImportReport, ...errorResponses },
        },
      },
      async (request) => {
        if (!String(request.headers['content-type'] ?? '').startsWith('application/x-ndjson')) {
          throw new AppError('unsupported_media_type', 'send the import as application/x-ndjson');
        }
        const body = request.body as Readable;
        return importNdjson(ctx.directory, readLines(body, MAX_IMPORT_LINE_BYTES));
      },
    );
  };
}
