// `sandrun projects add|list|show|refresh|remove`: the tenant's git projects, over the REST API.
import { Command } from 'commander';
import type { ProjectDetailView, ProjectView } from '../../projects/project-service.ts';
import { addHttpOptions, apiClient, printJson, segment, type CliContext, type HttpFlags } from '../context.ts';
import { formatTable } from '../table.ts';
import type { Colours } from '../terminal.ts';

function formatProject(project: ProjectDetailView, colours: Colours): string {
  const lines = [
    colours.bold(project.name),
    `  repository:     ${project.repo_url}`,
    `  default branch: ${project.default_branch} at ${project.commit_sha.slice(0, 12)}`,
    `  image:          ${project.image ?? colours.dim('(server default)')}`,
    `  models:         ${project.models.length > 0 ? project.models.join(', ') : colours.dim('none')}`,
    `  registered:     ${project.created_at}`,
    `  refreshed:      ${project.refreshed_at}`,
  ];
  if (project.manifest_error) lines.push(`  manifest error: ${colours.red(`${project.manifest_error.code}: ${project.manifest_error.message}`)}`);
  return lines.join('\n') + '\n';
}

export function projectsCommand(context: CliContext): Command {
  const projects = new Command('projects').description("the tenant's git projects");
  const { stdout, colours } = context.terminal;
  const show = (project: ProjectDetailView, flags: HttpFlags, before = '') => {
    if (flags.json) printJson(context, project);
    else stdout.write(before + formatProject(project, colours));
  };

  addHttpOptions(
    projects
      .command('add')
      .description('register a git repository as a project')
      .argument('<name>', 'project name: lower-case letters, digits, _ and -')
      .argument('<repo_url>', 'https://, ssh:// or git@ URL (local paths when the server allows them)')
      .option('--branch <branch>', "default branch (default: the repository's HEAD)"),
  ).action(async (name: string, repoUrl: string, flags: HttpFlags & { branch?: string }) => {
    const body = { name, repo_url: repoUrl, ...(flags.branch ? { default_branch: flags.branch } : {}) };
    const project = await apiClient(context, flags).request<ProjectDetailView>('POST', '/v1/projects', body);
    show(project, flags, `registered project ${project.name}\n`);
  });

  addHttpOptions(projects.command('list').description('list projects')).action(async (flags: HttpFlags) => {
    const page = await apiClient(context, flags).request<{ projects: ProjectView[] }>('GET', '/v1/projects');
    if (flags.json) return printJson(context, page);
    if (page.projects.length === 0) {
      stdout.write('no projects yet; register one with: sandrun projects add NAME REPO_URL\n');
      return;
    }
    stdout.write(
      formatTable(page.projects, [
        { header: 'NAME', value: (p) => p.name },
        { header: 'BRANCH', value: (p) => p.default_branch },
        { header: 'REFRESHED', value: (p) => p.refreshed_at },
        { header: 'REPOSITORY', value: (p) => p.repo_url },
      ]),
    );
  });

  addHttpOptions(projects.command('show').description('one project, with its models at the default branch').argument('<name>')).action(
    async (name: string, flags: HttpFlags) => {
      show(await apiClient(context, flags).request<ProjectDetailView>('GET', `/v1/projects/${segment(name)}`), flags);
    },
  );

  addHttpOptions(projects.command('refresh').description('fetch the repository again').argument('<name>')).action(async (name: string, flags: HttpFlags) => {
    const project = await apiClient(context, flags).request<ProjectDetailView>('POST', `/v1/projects/${segment(name)}/refresh`);
    show(project, flags, `refreshed project ${project.name}\n`);
  });

  addHttpOptions(projects.command('remove').description('unregister a project').argument('<name>')).action(async (name: string, flags: HttpFlags) => {
    await apiClient(context, flags).request<null>('DELETE', `/v1/projects/${segment(name)}`);
    if (flags.json) printJson(context, { removed: name });
    else stdout.write(`removed project ${name}\n`);
  });

  return projects;
}
