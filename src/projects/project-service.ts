// Registering, listing, refreshing and removing a tenant's projects; the manifests of their commits.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { SandrunError, invalidRequest } from '../errors.ts';
import type { ProjectRecord, ProjectStore } from '../store/project-store.ts';
import type { TenantStore } from '../store/tenant-store.ts';
import type { RunStore } from '../store/run-store.ts';
import type { SecretBox } from '../secrets/secret-box.ts';
import type { CheckoutCache } from './checkouts.ts';
import type { ResolvedManifest } from './manifest.ts';
import type { GitMirrors, Resolution } from './mirror.ts';
import { loadProjectManifest } from './project-files.ts';
import { credentialSchema, openCredential, projectCredential, sealCredential, type CredentialType } from './repo-credential.ts';
import { parseRepoUrl, redactRepoUrl } from './repo-url.ts';
import { validateBranchName } from './resolve-revision.ts';

export const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export const projectCreateSchema = z.strictObject(
  {
    name: z.string({ error: 'name is required and must be a string' }).regex(PROJECT_NAME, { error: `name must match ${PROJECT_NAME.source}` }),
    repo_url: z.string({ error: 'repo_url is required and must be a string' }).min(1, { error: 'repo_url must not be empty' }),
    default_branch: z.string({ error: 'default_branch must be a string' }).min(1).nullable().optional(),
    credential: credentialSchema.nullable().optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}; the fields are name, repo_url, default_branch, credential` : 'the body must be a JSON object',
  },
);

export interface ProjectView {
  name: string;
  repo_url: string;
  default_branch: string;
  created_at: string;
  refreshed_at: string;
  /** Only the type: the token or key itself is never returned. */
  credential: { type: CredentialType } | null;
}

export interface ProjectDetailView extends ProjectView {
  commit_sha: string;
  image: string | null;
  models: string[];
  /** Set when sandrun.yaml at the default branch is broken: runs will fail with this error until it is fixed. */
  manifest_error: { code: string; message: string } | null;
}

export interface ProjectServiceSettings {
  allowLocalRepos: boolean;
  images: readonly string[];
  /** Seals repository credentials at rest. */
  secrets: SecretBox;
  onProjectChanged?: (projectId: string) => Promise<void>;
}

const MANIFEST_CACHE_SIZE = 256;

export class ProjectService {
  private readonly manifests = new Map<string, Promise<ResolvedManifest>>();

  constructor(
    private readonly projects: ProjectStore,
    private readonly tenants: TenantStore,
    private readonly runs: RunStore,
    private readonly mirrors: GitMirrors,
    private readonly checkouts: CheckoutCache,
    private readonly settings: ProjectServiceSettings,
    private readonly now: () => Date = () => new Date(),
  ) {}

  view(project: ProjectRecord): ProjectView {
    return {
      name: project.name,
      repo_url: redactRepoUrl(project.repoUrl),
      default_branch: project.defaultBranch,
      created_at: project.createdAt,
      refreshed_at: project.refreshedAt,
      credential: project.credential && { type: project.credential.type },
    };
  }

  async add(tenantId: string, input: unknown): Promise<ProjectRecord> {
    const parsed = projectCreateSchema.safeParse(input);
    if (!parsed.success) throw invalidRequest(parsed.error.issues);
    const { name, default_branch: requestedBranch } = parsed.data;
    const repo = parseRepoUrl(parsed.data.repo_url, this.settings.allowLocalRepos);
    const credential = projectCredential(repo, parsed.data.credential);
    const repoUrl = repo.location.url;
    if (requestedBranch) validateBranchName(requestedBranch);
    if (this.projects.byName(tenantId, name)) throw new SandrunError('conflict', `project '${name}' already exists`);
    const id = randomUUID();
    await this.mirrors.create(id, repoUrl, credential);
    try {
      const defaultBranch = requestedBranch ?? (await this.mirrors.defaultBranch(id));
      await this.mirrors.resolve(id, { defaultBranch, projectName: name });
      const at = this.now().toISOString();
      this.tenants.ensure(tenantId, at);
      return this.projects.insert({ id, tenantId, name, repoUrl, defaultBranch, createdAt: at, credential: sealCredential(this.settings.secrets, id, credential) });
    } catch (error) {
      await this.mirrors.remove(id);
      if (error instanceof Error && /UNIQUE/.test(error.message)) throw new SandrunError('conflict', `project '${name}' already exists`);
      throw error;
    }
  }

  list(tenantId: string): ProjectRecord[] {
    return this.projects.list(tenantId);
  }

  /** The tenant's project; another tenant's project is reported exactly like a missing one. */
  require(tenantId: string, name: string): ProjectRecord {
    const project = this.projects.byName(tenantId, name);
    if (!project) throw new SandrunError('not_found', `project '${name}' not found`);
    return project;
  }

  async detail(tenantId: string, name: string): Promise<ProjectDetailView> {
    const project = this.require(tenantId, name);
    const { commitSha } = await this.resolve(project, {});
    try {
      const manifest = await this.manifestAt(project, commitSha);
      return { ...this.view(project), commit_sha: commitSha, image: manifest.image ?? null, models: [...manifest.models.keys()], manifest_error: null };
    } catch (error) {
      if (!(error instanceof SandrunError) || error.code !== 'manifest_invalid') throw error;
      return { ...this.view(project), commit_sha: commitSha, image: null, models: [], manifest_error: { code: error.code, message: error.message } };
    }
  }

  resolve(project: ProjectRecord, request: { branch?: string | null; commitSha?: string | null }): Promise<Resolution> {
    return this.mirrors.resolve(project.id, { ...request, defaultBranch: project.defaultBranch, projectName: project.name });
  }

  /** The manifest at a commit; commits never change, so each is read once. */
  manifestAt(project: ProjectRecord, commitSha: string): Promise<ResolvedManifest> {
    const key = `${project.id}@${commitSha}`;
    let manifest = this.manifests.get(key);
    if (!manifest) {
      manifest = loadProjectManifest(this.mirrors, project.id, commitSha, { images: this.settings.images });
      manifest.catch(() => this.manifests.delete(key)); // a failed read (git down) is retried next time
      if (this.manifests.size >= MANIFEST_CACHE_SIZE) this.manifests.delete(this.manifests.keys().next().value!);
      this.manifests.set(key, manifest);
    }
    return manifest;
  }

  checkout(project: ProjectRecord, commitSha: string): Promise<string> {
    return this.checkouts.get(project.id, commitSha);
  }

  async refresh(tenantId: string, name: string): Promise<ProjectRecord> {
    const project = this.require(tenantId, name);
    await this.mirrors.fetch(project.id, project.repoUrl, openCredential(this.settings.secrets, project.id, project.credential));
    this.projects.markRefreshed(project.id, this.now().toISOString(), project.defaultBranch);
    await this.settings.onProjectChanged?.(project.id);
    return this.require(tenantId, name);
  }

  async remove(tenantId: string, name: string): Promise<void> {
    const project = this.require(tenantId, name);
    const active = this.runs.countActiveForProject(project.id);
    if (active > 0) throw new SandrunError('conflict', `project '${name}' has ${active} pending or running run(s); cancel them or wait`);
    this.projects.delete(project.id, this.now().toISOString());
    await this.settings.onProjectChanged?.(project.id);
    await this.mirrors.remove(project.id);
    await this.checkouts.remove(project.id);
  }
}
