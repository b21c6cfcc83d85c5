// GET /v1/runs/{id}/artifacts/{path}: one file a run left under /outputs (SPEC §12), streamed, with its type and its hash as ETag.
import { Router, type Response } from 'express';
import { pipeline } from 'node:stream/promises';
import type { Artifact } from '../../artifacts/artifact-types.ts';
import type { RunArtifacts } from '../../runs/run-artifacts.ts';
import { principalOf, requireScope } from '../authenticate.ts';

/** Types a browser may show in place: none of them runs script. Everything else is a download. */
const SHOWN_IN_PLACE = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'text/plain', 'text/csv', 'application/json']);

/** The ETag of an artifact: its bytes' hash, so a copy a client holds is known current without the bytes. */
export function artifactEtag(artifact: Artifact): string {
  return `"${artifact.sha256}"`;
}

function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === etag;
  });
}

/** `attachment` with the file's own name (RFC 6266: an ASCII fallback and the UTF-8 name). */
function attachment(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/**
 * Headers that keep a tenant's file from acting in the server's origin however it is opened: no sniffing a type
 * other than the one sent, and a sandbox (no script, an opaque origin) should a browser render it anyway.
 */
function setArtifactHeaders(response: Response, artifact: Artifact): void {
  const text = artifact.contentType.startsWith('text/') || artifact.contentType === 'application/json' || artifact.contentType === 'image/svg+xml';
  response.set({
    'Content-Type': text ? `${artifact.contentType}; charset=utf-8` : artifact.contentType,
    ETag: artifactEtag(artifact),
    'Cache-Control': 'private, no-cache',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'",
    'Content-Disposition': SHOWN_IN_PLACE.has(artifact.contentType) ? 'inline' : attachment(artifact.path),
  });
}

export function runArtifactRoutes(artifacts: RunArtifacts): Router {
  const router = Router();
  router.get('/v1/runs/:runId/artifacts/*path', requireScope('runs:read'), async (request, response) => {
    const tenantId = principalOf(request).tenantId;
    const runId = request.params.runId as string;
    const path = (request.params as unknown as { path: string[] }).path.join('/');
    const artifact = await artifacts.find(tenantId, runId, path);
    setArtifactHeaders(response, artifact);
    if (matchesEtag(request.get('If-None-Match'), artifactEtag(artifact))) {
      response.status(304).end();
      return;
    }
    const { content } = await artifacts.open(tenantId, runId, path);
    response.status(200).set('Content-Length', String(artifact.size));
    if (request.method === 'HEAD') {
      content.destroy();
      response.end();
      return;
    }
    // A client that goes away mid-download ends the pipeline; the file is closed either way.
    await pipeline(content, response).catch((error: unknown) => request.log?.debug({ err: error, runId, path }, 'an artifact download ended early'));
  });
  return router;
}
