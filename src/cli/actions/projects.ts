// What `sandrun projects add|list|show|refresh|remove` do: the tenant's git projects over the REST API.
import type { ProjectDetailView, ProjectView } from '../../projects/project-service.ts';
import { apiClient } from '../api-client.ts';
import { formatEnvironment } from './project-build.ts';
import { printJson, segment, type CliContext, type HttpFlags } from '../context.ts';
import { formatTable } from '../table.ts';
import type { Colours } from '../terminal.ts';

export interface AddFlags extends HttpFlags {
  branch?: string;
}

function formatProject(project: ProjectDetailView, colours: Colours): string {
  const lines = [
    colours.bold(project.name),
    `  repository:     ${project.repo_url}`,
    `  default branch: ${project.default_branch} at ${project.commit_sha.slice(0, 12)}`,
    `  image:          ${project.image ?? colours.dim('(server default)')}`,
    `  models:         ${project.models.length > 0 ? project.models.join(', ') : colours.dim('none')}`,
    `  environment:    ${formatEnvironment(project.environment, colours)}`,
    `  secrets:        ${project.secrets.length > 0 ? project.secrets.map((secret) => secret.key).join(', ') : colours.dim('none')}`,
    `  network:        ${project.network.length > 0 ? project.network.map((entry) => (entry.granted ? entry.destination : colours.red(`${entry.destination} (not allowed by the operator)`))).join(', ') : colours.dim('none')}`,
    `  registered:     ${project.created_at}`,
    `  refreshed:      ${project.refreshed_at}`,
  ];
  if (project.manifest_error) lines.push(`  manifest error: ${colours.red(`${project.manifest_error.code}: ${project.manifest_error.message}`)}`);
  return lines.join('\n') + '\n';
}

function show(context: CliContext, project: ProjectDetailView, flags: HttpFlags, before = ''): void {
  if (flags.json) printJson(context, project);
  else context.terminal.stdout.write(before + formatProject(project, context.terminal.colours));
}

export async function addProject(context: CliContext, name: string, repoUrl: string, flags: AddFlags): Promise<void> {
  const body = { name, repo_url: repoUrl, ...(flags.branch ? { default_branch: flags.branch } : {}) };
  const project = await apiClient(context, flags).request<ProjectDetailView>('POST', '/v1/projects', body);
  show(context, project, flags, `registered project ${project.name}\n`);
}

export async function listProjects(context: CliContext, flags: HttpFlags): Promise<void> {
  const page = await apiClient(context, flags).request<{ projects: ProjectView[] }>('GET', '/v1/projects');
  if (flags.json) return printJson(context, page);
  if (page.projects.length === 0) {
    context.terminal.stdout.write('no projects yet; register one with: sandrun projects add NAME REPO_URL\n');
    return;
  }
  context.terminal.stdout.write(
    formatTable(page.projects, [
      { header: 'NAME', value: (p) => p.name },
      { header: 'BRANCH', value: (p) => p.default_branch },
      { header: 'REFRESHED', value: (p) => p.refreshed_at },
      { header: 'REPOSITORY', value: (p) => p.repo_url },
    ]),
  );
}

export async function showProject(context: CliContext, name: string, flags: HttpFlags): Promise<void> {
  show(context, await apiClient(context, flags).request<ProjectDetailView>('GET', `/v1/projects/${segment(name)}`), flags);
}

export async function refreshProject(context: CliContext, name: string, flags: HttpFlags): Promise<void> {
  const project = await apiClient(context, flags).request<ProjectDetailView>('POST', `/v1/projects/${segment(name)}/refresh`);
  show(context, project, flags, `refreshed project ${project.name}\n`);
}

export async function removeProject(context: CliContext, name: string, flags: HttpFlags): Promise<void> {
  await apiClient(context, flags).request<null>('DELETE', `/v1/projects/${segment(name)}`);
  if (flags.json) printJson(context, { removed: name });
  else context.terminal.stdout.write(`removed project ${name}\n`);
}
