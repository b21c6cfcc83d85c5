// `sandrun projects add|list|show|build|refresh|remove`: the tenant's git projects, over the REST API. Declarations; actions/projects.ts does them.
import { Command } from 'commander';
import type { BuildFlags } from '../actions/project-build.ts';
import type { AddFlags } from '../actions/projects.ts';
import { addHttpOptions, type CliContext, type HttpFlags } from '../context.ts';

const actions = () => import('../actions/projects.ts');

export function projectsCommand(context: CliContext): Command {
  const projects = new Command('projects').description("the tenant's git projects");

  addHttpOptions(
    projects
      .command('add')
      .description('register a git repository as a project')
      .argument('<name>', 'project name: lower-case letters, digits, _ and -')
      .argument('<repo_url>', 'https://, ssh:// or git@ URL (local paths when the server allows them)')
      .option('--branch <branch>', "default branch (default: the repository's HEAD)"),
  ).action(async (name: string, repoUrl: string, flags: AddFlags) => {
    await (await actions()).addProject(context, name, repoUrl, flags);
  });

  addHttpOptions(projects.command('list').description('list projects')).action(async (flags: HttpFlags) => {
    await (await actions()).listProjects(context, flags);
  });

  addHttpOptions(projects.command('show').description('one project, with its models at the default branch').argument('<name>')).action(async (name: string, flags: HttpFlags) => {
    await (await actions()).showProject(context, name, flags);
  });

  addHttpOptions(
    projects
      .command('build')
      .description("build the environment sandrun.yaml declares at the default branch now (apt, pip, npm), so runs find it ready")
      .argument('<name>')
      .option('-f, --follow', 'stream the build log until the build ends; exit 0 when ready, 1 when it failed'),
  ).action(async (name: string, flags: BuildFlags) => {
    await (await import('../actions/project-build.ts')).buildProject(context, name, flags);
  });

  addHttpOptions(projects.command('refresh').description('fetch the repository again').argument('<name>')).action(async (name: string, flags: HttpFlags) => {
    await (await actions()).refreshProject(context, name, flags);
  });

  addHttpOptions(projects.command('remove').description('unregister a project').argument('<name>')).action(async (name: string, flags: HttpFlags) => {
    await (await actions()).removeProject(context, name, flags);
  });

  return projects;
}
