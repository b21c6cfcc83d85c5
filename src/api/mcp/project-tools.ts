// The MCP tools over projects: list_projects and list_models, both answered by ProjectService.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { modelListShape, projectListShape } from '../response-schemas.ts';
import { guarded, type ToolContext } from './tool-context.ts';
import { structuredResult } from './tool-results.ts';

export function registerProjectTools(server: McpServer, context: ToolContext): void {
  server.registerTool(
    'list_projects',
    {
      title: 'List projects',
      description: "This tenant's registered projects (name, repo_url, default_branch). Use a name as project_name in run and list_models.",
      inputSchema: z.strictObject({}),
      outputSchema: z.object(projectListShape),
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    (_arguments, call) =>
      guarded(context, call, 'list_projects', 'projects:read', async () => {
        const records = await context.projectService.list(context.principal.tenantId);
        const projects = await Promise.all(records.map((project) => context.projectService.view(project)));
        const names = projects.map((project) => project.name).join(', ');
        return structuredResult(projects.length ? `${projects.length} project(s): ${names}.` : 'No projects are registered for this tenant.', { projects });
      }),
  );

  server.registerTool(
    'list_models',
    {
      title: 'List models of a project',
      description: "The models of a project at its default branch's head (commit_sha). Use one as model_name in run with scope='model'.",
      inputSchema: z.strictObject({
        project_name: z.string({ error: 'project_name is required and must be a string' }).min(1, { error: 'project_name must not be empty' }),
      }),
      outputSchema: z.object(modelListShape),
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    ({ project_name: projectName }, call) =>
      guarded(context, call, 'list_models', 'projects:read', async () => {
        const detail = await context.projectService.detail(context.principal.tenantId, projectName);
        const summary = detail.models.length ? `${detail.name} has ${detail.models.length} model(s): ${detail.models.join(', ')}.` : `${detail.name} has no models; run it with scope='project'.`;
        return structuredResult(summary, { project_name: detail.name, models: detail.models, commit_sha: detail.commit_sha });
      }),
  );
}
