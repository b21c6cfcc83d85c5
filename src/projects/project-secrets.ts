// A project's secrets (SPEC §10): set, listed by name only, removed, and opened for the runs of the project.
import { z } from 'zod';
import { SandrunError, invalidRequest } from '../errors.ts';
import type { SecretBox } from '../secrets/secret-box.ts';
import type { ProjectSecretStore } from '../store/project-secret-store.ts';
import type { SecretNameView } from './project-view.ts';

import { SECRET_KEY, SECRET_VALUE_MAX_BYTES, SECRET_VALUE_MIN_LENGTH } from '../secrets/secret-rules.ts';

/** No message here may quote what it checks: the value is the secret, and the path's KEY may be one pasted by mistake. */
const secretKeySchema = z.string().regex(SECRET_KEY, { error: `KEY (the secret's name in the path) must match ${SECRET_KEY.source}: an upper-case letter, then upper-case letters, digits and _, at most 64 in all` });

export const secretSetSchema = z.strictObject(
  {
    value: z
      .string({ error: 'value is required and must be a string' })
      .min(SECRET_VALUE_MIN_LENGTH, {
        error: (issue) =>
          issue.input === ''
            ? 'value must not be empty'
            : `value must be at least ${SECRET_VALUE_MIN_LENGTH} characters (a shorter one would be replaced by *** wherever it appears in a run's output)`,
      })
      .refine((value) => Buffer.byteLength(value, 'utf8') <= SECRET_VALUE_MAX_BYTES, { error: `value must be at most ${SECRET_VALUE_MAX_BYTES} bytes of UTF-8 (64 KiB)` }),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}; the only field is value` : 'the body must be a JSON object {"value": "..."}',
  },
);

/** Bound into each ciphertext: a sealed value copied to another project's row, or another key's, does not open there. */
export const secretSealingContext = (projectId: string, key: string): string => `project-secret:${projectId}:${key}`;

/** What the service needs of a project: the tenant's own, or not_found (another tenant's is reported the same way). */
export interface ProjectLookup {
  require(tenantId: string, name: string): Promise<{ id: string; tenantId: string; name: string }>;
}

export interface ProjectSecretsDeps {
  projects: ProjectLookup;
  store: ProjectSecretStore;
  box: SecretBox;
  /** SANDRUN_PROJECT_MAX_SECRETS. */
  maxPerProject: number;
  now?: () => Date;
}

export class ProjectSecrets {
  private readonly now: () => Date;

  constructor(private readonly deps: ProjectSecretsDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Sets or replaces one secret; `created` tells which. The project is looked up after the input is checked. */
  async set(tenantId: string, projectName: string, key: string, body: unknown): Promise<{ secret: SecretNameView; created: boolean }> {
    const validKey = parseKey(key);
    const parsed = secretSetSchema.safeParse(body);
    if (!parsed.success) throw invalidRequest(parsed.error.issues);
    const project = await this.deps.projects.require(tenantId, projectName);
    const { store, maxPerProject } = this.deps;
    const at = this.now().toISOString();
    const sealed = this.deps.box.seal(parsed.data.value, secretSealingContext(project.id, validKey));
    const result = await store.set({ tenantId, projectId: project.id, key: validKey, sealed, at }, maxPerProject);
    if ('full' in result) {
      throw new SandrunError(
        'conflict',
        `project '${project.name}' already has ${result.full} secrets, the most a project may have (SANDRUN_PROJECT_MAX_SECRETS=${maxPerProject}); remove one to add another`,
        { limit: 'project_secrets', max: maxPerProject, count: result.full },
      );
    }
    return { secret: { key: validKey, updated_at: at }, created: result.created };
  }

  /** The project's secrets by name, with when each was set; never a value. */
  async list(tenantId: string, projectName: string): Promise<SecretNameView[]> {
    const project = await this.deps.projects.require(tenantId, projectName);
    return (await this.deps.store.names(tenantId, project.id)).map((secret) => ({ key: secret.key, updated_at: secret.updatedAt }));
  }

  async remove(tenantId: string, projectName: string, key: string): Promise<void> {
    const validKey = parseKey(key);
    const project = await this.deps.projects.require(tenantId, projectName);
    if (!(await this.deps.store.remove(tenantId, project.id, validKey))) throw new SandrunError('not_found', `project '${project.name}' has no secret ${validKey}`);
  }

  /**
   * The project's secrets opened, KEY → value, for a run of it. `projectId` is a project the caller has already
   * resolved within its tenant (ProjectService.require). A value that does not open (the key changed) throws internal.
   */
  async valuesFor(projectId: string): Promise<Record<string, string>> {
    const values: Record<string, string> = {};
    for (const secret of await this.deps.store.sealed(projectId)) values[secret.key] = this.deps.box.open(secret.sealed, secretSealingContext(projectId, secret.key));
    return values;
  }
}

function parseKey(key: string): string {
  const parsed = secretKeySchema.safeParse(key);
  if (!parsed.success) throw invalidRequest(parsed.error.issues);
  return parsed.data;
}
