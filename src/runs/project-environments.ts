// A project's environment as its clients see it (SPEC §9): the default branch's, in the project view, and built on request.
import { SandrunError } from '../errors.ts';
import type { EnvironmentService, EnvironmentTarget, EnvironmentView } from '../environments/environment-service.ts';
import type { ProjectDetailView, ProjectHeadView, ProjectService } from '../projects/project-service.ts';
import type { ProjectRecord } from '../store/project-store.ts';

export interface ProjectEnvironmentsDeps {
  projects: ProjectService;
  environments: EnvironmentService;
  /** The base image of a project whose sandrun.yaml names none (SANDRUN_DEFAULT_IMAGE), as for its runs. */
  defaultImage: string;
}

/** The default branch's head: what projects/ shows of it, and the environment target there (without its declaration). */
interface Head {
  project: ProjectRecord;
  detail: ProjectHeadView;
  target: Omit<EnvironmentTarget, 'declaration'>;
}

export class ProjectEnvironments {
  constructor(private readonly deps: ProjectEnvironmentsDeps) {}

  /** GET /v1/projects/{name}: the project at its default branch, with that branch's environment. */
  async detail(tenantId: string, name: string): Promise<ProjectDetailView> {
    const head = await this.head(tenantId, name);
    return { ...head.detail, environment: await this.viewAt(head) };
  }

  /** The default branch's environment as it is now. */
  async view(tenantId: string, name: string): Promise<EnvironmentView> {
    return this.viewAt(await this.head(tenantId, name));
  }

  /**
   * Starts a build of the default branch's environment (nothing is rebuilt when it is ready): manifest_invalid while
   * sandrun.yaml is broken, conflict when it declares no environment, environment_failed when a declared file breaks a rule.
   */
  async build(tenantId: string, name: string): Promise<EnvironmentView> {
    const head = await this.head(tenantId, name);
    // Read again rather than taken from manifest_error: the manifest's own error carries its problems (line, field).
    const { environment } = await this.deps.projects.manifestAt(head.project, head.detail.commit_sha);
    if (!environment) {
      throw new SandrunError(
        'conflict',
        `project '${name}' declares no environment at ${head.detail.default_branch} (${head.detail.commit_sha.slice(0, 12)}); add an environment block (apt, pip, npm) to its sandrun.yaml`,
      );
    }
    return this.deps.environments.build({ ...head.target, declaration: environment });
  }

  private async head(tenantId: string, name: string): Promise<Head> {
    const detail = await this.deps.projects.detail(tenantId, name);
    const project = await this.deps.projects.require(tenantId, name);
    return {
      project,
      detail,
      target: { tenantId, projectId: project.id, projectName: project.name, commitSha: detail.commit_sha, baseImage: detail.image ?? this.deps.defaultImage },
    };
  }

  /** A broken sandrun.yaml says nothing sure about an environment: `failed`, with the manifest's message, like a refused declaration. */
  private async viewAt(head: Head): Promise<EnvironmentView> {
    if (head.detail.manifest_error) return { status: 'failed', log: '', built_at: null, key: null, error: head.detail.manifest_error.message };
    const { environment } = await this.deps.projects.manifestAt(head.project, head.detail.commit_sha);
    try {
      return await this.deps.environments.view({ ...head.target, declaration: environment });
    } catch (error) {
      // A base image the engine does not have fails every run of it: the view says so rather than failing the project's page.
      if (error instanceof SandrunError && error.code === 'image_unavailable') return { status: 'failed', log: '', built_at: null, key: null, error: error.message };
      throw error;
    }
  }
}
