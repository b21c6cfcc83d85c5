// The JSON body parser of /v1 and /mcp: express.json, UTF-8 only, with a nesting bound checked on the raw bytes before JSON.parse sees them.
import express, { type RequestHandler } from 'express';
import { SandrunError } from '../errors.ts';
import { renderPath, tooDeepInText } from '../json-depth.ts';

/** Parameters may be 1 MiB of JSON (413 past that, from the run service); the body around them a little more. */
const BODY_LIMIT = '2mb';
/**
 * Levels a request wraps around a run's parameters: an MCP batch, its message, params, arguments. The deepest
 * legitimate body is the deepest allowed parameters inside those; anything deeper is refused before it is parsed.
 */
const ENVELOPE_LEVELS = 8;
const BODILESS_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function jsonBody(options: { parametersMaxDepth: number }): RequestHandler {
  const maxDepth = options.parametersMaxDepth + ENVELOPE_LEVELS;
  const parse = express.json({
    limit: BODY_LIMIT,
    strict: false,
    verify: (_request, _response, bytes, encoding) => {
      // RFC 8259 §8.1: JSON between systems is UTF-8; the depth scan reads UTF-8 bytes.
      if (encoding.toLowerCase() !== 'utf-8') throw new SandrunError('invalid_request', `JSON request bodies must be UTF-8, not ${encoding}`);
      const path = tooDeepInText(bytes, maxDepth);
      if (path) {
        const where = renderPath(path) || 'the request body';
        throw new SandrunError(
          'invalid_request',
          `${where}: nested more than ${maxDepth} levels deep; run parameters may nest at most ${options.parametersMaxDepth} levels (SANDRUN_PARAMETERS_MAX_DEPTH) and a request body ${ENVELOPE_LEVELS} more`,
          { issues: [{ path: where, message: `nested more than ${maxDepth} levels deep` }] },
        );
      }
    },
  });
  // A GET's body is never read: express would otherwise parse one sent with a JSON content type.
  return (request, response, next) => (BODILESS_METHODS.has(request.method) ? next() : parse(request, response, next));
}
