// Runs' artifacts as MCP resources (SPEC §12): sandrun://runs/{run_id}/artifacts/{path}, listed for the caller's recent runs, read per tenant.
import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError, type ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import { buffer, text } from 'node:stream/consumers';
import { hasScope, type Principal } from '../../auth/principal.ts';
import type { Artifact } from '../../artifacts/artifact-types.ts';
import { SandrunError } from '../../errors.ts';
import type { RunArtifacts } from '../../runs/run-artifacts.ts';

/** JSON-RPC code MCP gives an unknown resource. */
const RESOURCE_NOT_FOUND = -32002;
/** resources/list shows the artifacts of the caller's newest runs only: a tenant may have thousands of runs. */
export const LISTED_RUNS = 20;
export const LISTED_ARTIFACTS = 200;

/** The resource URI of an artifact: each path segment percent-encoded, the slashes kept. */
export function artifactUri(runId: string, path: string): string {
  return `sandrun://runs/${encodeURIComponent(runId)}/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`;
}

const isText = (artifact: Artifact) =>
  artifact.contentType.startsWith('text/') || artifact.contentType === 'application/json' || artifact.contentType === 'image/svg+xml';

function decoded(value: string | string[] | undefined): string {
  const raw = Array.isArray(value) ? value.join(',') : (value ?? '');
  try {
    return raw.split('/').map(decodeURIComponent).join('/');
  } catch {
    throw new McpError(RESOURCE_NOT_FOUND, `resource not found: '${raw.slice(0, 200)}' is not a percent-encoded path`);
  }
}

export function registerArtifactResources(server: McpServer, principal: Principal, artifacts: RunArtifacts): void {
  const requireScope = () => {
    if (!hasScope(principal, 'runs:read')) throw new McpError(ErrorCode.InvalidRequest, 'this credential lacks the scope runs:read, which reading artifacts needs');
  };
  server.registerResource(
    'run-artifact',
    new ResourceTemplate('sandrun://runs/{run_id}/artifacts/{+path}', {
      list: async () => {
        requireScope();
        const recent = await artifacts.recent(principal.tenantId, LISTED_ARTIFACTS, LISTED_RUNS);
        return {
          resources: recent.map(({ runId, artifact }) => ({
            uri: artifactUri(runId, artifact.path),
            name: artifact.path,
            title: `${artifact.path} of run ${runId}`,
            mimeType: artifact.contentType,
            size: artifact.size,
          })),
        };
      },
    }),
    {
      title: 'A file a run left under /outputs',
      description: `A run's artifact (every regular file it wrote under /outputs); resources/list shows those of the ${LISTED_RUNS} newest runs. get_run lists a run's artifacts by path.`,
    },
    async (uri, variables): Promise<ReadResourceResult> => {
      requireScope();
      const runId = decoded(variables.run_id);
      const path = decoded(variables.path);
      let opened;
      try {
        opened = await artifacts.open(principal.tenantId, runId, path);
      } catch (error) {
        if (error instanceof SandrunError && error.code === 'not_found') throw new McpError(RESOURCE_NOT_FOUND, `resource not found: ${error.message}`);
        throw error;
      }
      const { artifact, content } = opened;
      // Whole, as MCP carries it: bounded by the outputs cap, which bounds every artifact.
      const body = isText(artifact) ? { text: await text(content) } : { blob: (await buffer(content)).toString('base64') };
      return { contents: [{ uri: uri.href, mimeType: artifact.contentType, ...body }] };
    },
  );
}
