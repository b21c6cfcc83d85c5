// Registering, listing, refreshing and removing a tenant's projects; the manifests of their commits.
import type { ProjectHeadView, ProjectView } from './project-view.ts';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { RepoLimitsConfig } from '../config.ts';
import { SandrunError, invalidRequest } from '../errors.ts';
import type { ProjectRecord, ProjectStore } from '../store/project-store.ts';
import type { ProjectSecretStore } from '../store/project-secret-store.ts';
import type { TenantStore } from '../store/tenant-store.ts';
import type { RunStore } from '../store/run-store.ts';
import type { SecretBox } from '../secrets/secret-box.ts';
import type { CheckoutCache } from './checkouts.ts';
import { CloneSlots } from './clone-slots.ts';
import type { ResolvedManifest } from './manifest.ts';
import type { GitMirrors, Resolution } from './mirror.ts';
import { loadProjectManifest } from './project-files.ts';
import { credentialSchema, openCredential, projectCredential, sealCredential } from './repo-credential.ts';
import { RepoLimits } from './repo-limits.ts';
import { parseRepoUrl, redactRepoUrl } from './repo-url.ts';
import { validateBranchName } from './resolve-revision.ts';
import { YamlParser } from './yaml-parser.ts';
import { destinationStatus, type EgressRule } from '../egress/egress-rules.ts';

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

export type { ProjectDetailView, ProjectHeadView, ProjectView } from './project-view.ts';

export interface ProjectServiceSettings {
  allowLocalRepos: boolean;
  images: readonly string[];
  /** Seals repository credentials at rest. */
  secrets: SecretBox;
  /** The project's secrets, whose names (only) the project view shows. */
  secretStore: ProjectSecretStore;
  onProjectChanged?: (projectId: string) => Promise<void>;
  /** What runs may reach (SPEC §11): the project view says which of its destinations these grant. */
  egressAllow: readonly EgressRule[];
  /** What a tenant's repositories may take (SPEC §14). */
  limits: RepoLimitsConfig;
  /** Throws disk_full when the data directory's disk is below its floor; asked before every clone and fetch. */
  assertDiskRoom: () => void;
}

const MANIFEST_CACHE_SIZE = 256;

export class ProjectService {
  private readonly manifests = new Map<string, Promise<ResolvedManifest>>();
  private readonly repoLimits: RepoLimits;
  private readonly cloneSlots: CloneSlots;
  private readonly yaml = new YamlParser();
  /** Per project: the refreshed_at this server's mirror is known to be at, and a sync under way. */
  private readonly mirrorsSynced = new Map<string, string>();
  private readonly mirrorSyncs = new Map<string, Promise<void>>();

  constructor(
    private readonly projects: ProjectStore,
    private readonly tenants: TenantStore,
    private readonly runs: RunStore,
    private readonly mirrors: GitMirrors,
    private readonly checkouts: CheckoutCache,
    private readonly settings: ProjectServiceSettings,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.repoLimits = new RepoLimits(mirrors, { maxBytes: settings.limits.maxBytes, maxFiles: settings.limits.maxFiles });
    this.cloneSlots = new CloneSlots(settings.limits.maxConcurrentClones, settings.limits.tenantMaxConcurrentClones);
  }

  async view(project: ProjectRecord): Promise<ProjectView> {
    return {
      name: project.name,
      repo_url: redactRepoUrl(project.repoUrl),
      default_branch: project.defaultBranch,
      created_at: project.createdAt,
      refreshed_at: project.refreshedAt,
      credential: project.credential && { type: project.credential.type },
      secrets: (await this.settings.secretStore.names(project.tenantId, project.id)).map((secret) => ({ key: secret.key, updated_at: secret.updatedAt })),
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
    if (await this.projects.byName(tenantId, name)) throw new SandrunError('conflict', `project '${name}' already exists`);
    await this.assertRoomForAnotherProject(tenantId);
    this.settings.assertDiskRoom();
    const id = randomUUID();
    return this.cloneSlots.run(tenantId, async () => {
      try {
        await this.mirrors.create(id, repoUrl, credential);
        await this.repoLimits.assertMirrorFits(id, name);
        const defaultBranch = requestedBranch ?? (await this.mirrors.defaultBranch(id));
        const { commitSha } = await this.mirrors.resolve(id, { defaultBranch, projectName: name });
        await this.repoLimits.assertCheckoutFits(id, commitSha, name);
        // Again: registrations of the same tenant may have run side by side since the first check.
        await this.assertRoomForAnotherProject(tenantId);
        const at = this.now().toISOString();
        await this.tenants.ensure(tenantId, at);
        const project = await this.projects.insert({ id, tenantId, name, repoUrl, defaultBranch, createdAt: at, credential: sealCredential(this.settings.secrets, id, credential) });
        await this.markMirrorSynced(id, project.refreshedAt);
        return project;
      } catch (error) {
        await this.mirrors.remove(id);
        throw error;
      }
    });
  }

  /**
   * 409, not 429: a count of projects does not go down by waiting, only by removing one (and a 429 invites clients to
   * retry after Retry-After).
   */
  private async assertRoomForAnotherProject(tenantId: string): Promise<void> {
    const max = this.settings.limits.tenantMaxProjects;
    const count = (await this.projects.list(tenantId)).length;
    if (count >= max) {
      throw new SandrunError('conflict', `this tenant already has ${count} projects, the most it may have (SANDRUN_TENANT_MAX_PROJECTS=${max}); remove one to register another`, {
        limit: 'tenant_projects',
        max,
        count,
      });
    }
  }

  list(tenantId: string): Promise<ProjectRecord[]> {
    return this.projects.list(tenantId);
  }

  /** The tenant's project; another tenant's project is reported exactly like a missing one. */
  async require(tenantId: string, name: string): Promise<ProjectRecord> {
    const project = await this.projects.byName(tenantId, name);
    if (!project) throw new SandrunError('not_found', `project '${name}' not found`);
    return project;
  }

  async detail(tenantId: string, name: string): Promise<ProjectHeadView> {
    const project = await this.require(tenantId, name);
    const { commitSha } = await this.resolve(project, {});
    try {
      const manifest = await this.manifestAt(project, commitSha);
      const network = destinationStatus(this.settings.egressAllow, manifest.network?.allow ?? []);
      return { ...(await this.view(project)), commit_sha: commitSha, image: manifest.image ?? null, models: [...manifest.models.keys()], network, manifest_error: null };
    } catch (error) {
      if (!(error instanceof SandrunError) || error.code !== 'manifest_invalid') throw error;
      return { ...(await this.view(project)), commit_sha: commitSha, image: null, models: [], network: [], manifest_error: { code: error.code, message: error.message } };
    }
  }

  async resolve(project: ProjectRecord, request: { branch?: string | null; commitSha?: string | null }): Promise<Resolution> {
    await this.syncMirror(project);
    return this.mirrors.resolve(project.id, { ...request, defaultBranch: project.defaultBranch, projectName: project.name });
  }

  /**
   * This server's mirror as of the project's last registration or refresh, wherever that happened (SPEC §13: servers
   * sharing a database each keep their own mirrors): cloned when absent, fetched when the project was refreshed since.
   * One server alone finds it current every time, at the cost of a map lookup.
   */
  private async syncMirror(project: ProjectRecord): Promise<void> {
    if (this.mirrorsSynced.get(project.id) === project.refreshedAt) return;
    let sync = this.mirrorSyncs.get(project.id);
    if (!sync) {
      sync = this.bringMirrorUp(project).finally(() => this.mirrorSyncs.delete(project.id));
      this.mirrorSyncs.set(project.id, sync);
    }
    await sync;
  }

  private async bringMirrorUp(project: ProjectRecord): Promise<void> {
    const synced = await this.mirrors.syncedTo(project.id);
    // A mirror from before servers kept this note was made or fetched by this (then only) server: it is current.
    if (synced === undefined || (synced !== null && synced < project.refreshedAt)) {
      this.settings.assertDiskRoom();
      const credential = openCredential(this.settings.secrets, project.id, project.credential);
      // Not under the clone slots: once per project, server and refresh, on a run's path, where a 429 would be wrong.
      if (synced === undefined) await this.mirrors.create(project.id, project.repoUrl, credential);
      else await this.mirrors.fetch(project.id, project.repoUrl, credential);
      if (synced !== undefined) await this.settings.onProjectChanged?.(project.id);
    }
    await this.markMirrorSynced(project.id, project.refreshedAt);
  }

  private async markMirrorSynced(projectId: string, refreshedAt: string): Promise<void> {
    await this.mirrors.markSynced(projectId, refreshedAt);
    this.mirrorsSynced.set(projectId, refreshedAt);
  }

  /** The manifest at a commit; commits never change, so each is read once. */
  manifestAt(project: ProjectRecord, commitSha: string): Promise<ResolvedManifest> {
    const key = `${project.id}@${commitSha}`;
    let manifest = this.manifests.get(key);
    if (!manifest) {
      manifest = this.syncMirror(project).then(() => loadProjectManifest(this.mirrors, project.id, commitSha, { images: this.settings.images, maxBytes: this.settings.limits.manifestMaxBytes, yaml: this.yaml }));
      // A failed read (git down) is retried next time; a broken manifest stays broken at this commit, and is not parsed again.
      manifest.catch((error: unknown) => {
        if (!(error instanceof SandrunError && error.code === 'manifest_invalid')) this.manifests.delete(key);
      });
      if (this.manifests.size >= MANIFEST_CACHE_SIZE) this.manifests.delete(this.manifests.keys().next().value!);
      this.manifests.set(key, manifest);
    }
    return manifest;
  }

  /** Throws repo_too_large when a checkout of the commit would pass the size or file-count cap; nothing is written. */
  assertCheckoutFits(project: ProjectRecord, commitSha: string): Promise<void> {
    return this.repoLimits.assertCheckoutFits(project.id, commitSha, project.name);
  }

  async checkout(project: ProjectRecord, commitSha: string): Promise<string> {
    await this.syncMirror(project);
    await this.assertCheckoutFits(project, commitSha);
    return this.checkouts.get(project.id, commitSha);
  }

  /**
   * Fetches the repository again. A fetch that makes the mirror, or the default branch's checkout, pass a cap is undone
   * (refs put back, the new objects dropped) and refused with repo_too_large: the project stays at its old commits.
   */
  async refresh(tenantId: string, name: string): Promise<ProjectRecord> {
    const project = await this.require(tenantId, name);
    this.settings.assertDiskRoom();
    await this.cloneSlots.run(tenantId, async () => {
      const before = await this.mirrors.snapshotRefs(project.id);
      await this.mirrors.fetch(project.id, project.repoUrl, openCredential(this.settings.secrets, project.id, project.credential));
      try {
        await this.repoLimits.assertMirrorFits(project.id, project.name);
        const head = await this.resolve(project, {}).catch((error: unknown) => {
          // A default branch deleted upstream is reported where it is used (detail, runs), as before.
          if (error instanceof SandrunError && error.code === 'not_found') return null;
          throw error;
        });
        if (head) await this.assertCheckoutFits(project, head.commitSha);
      } catch (error) {
        if (error instanceof SandrunError && error.code === 'repo_too_large') {
          await this.mirrors.restoreRefs(project.id, before);
          throw new SandrunError('repo_too_large', `${error.message}; the refresh was undone and the project stays as it was`, error.details, { cause: error });
        }
        throw error;
      }
    });
    const refreshedAt = this.now().toISOString();
    await this.projects.markRefreshed(project.id, refreshedAt, project.defaultBranch);
    await this.markMirrorSynced(project.id, refreshedAt);
    await this.settings.onProjectChanged?.(project.id);
    return this.require(tenantId, name);
  }

  /** Stops the manifest parser's worker thread. */
  close(): Promise<void> {
    return this.yaml.close();
  }

  async remove(tenantId: string, name: string): Promise<void> {
    const project = await this.require(tenantId, name);
    const active = await this.runs.countActiveForProject(project.id);
    if (active > 0) throw new SandrunError('conflict', `project '${name}' has ${active} pending or running run(s); cancel them or wait`);
    await this.projects.delete(project.id, this.now().toISOString());
    await this.settings.onProjectChanged?.(project.id);
    await this.mirrors.remove(project.id);
    this.mirrorsSynced.delete(project.id);
    await this.checkouts.remove(project.id);
  }
}
