// The JSON shapes a client sees of a project (SPEC §5), as zod schemas (OpenAPI and MCP publish them) and the types they infer.
import { z } from 'zod';

/** One of a project's secrets as clients see it (SPEC §10): its name and when it was last set, never its value. */
export const secretNameViewSchema = z.object({ key: z.string(), updated_at: z.string() });
export type SecretNameView = z.infer<typeof secretNameViewSchema>;

export const projectViewSchema = z.object({
  name: z.string(),
  repo_url: z.string(),
  default_branch: z.string(),
  created_at: z.string(),
  refreshed_at: z.string(),
  /** Only the type: the token or key itself is never returned. */
  credential: z.object({ type: z.enum(['https_token', 'ssh_key']) }).nullable(),
  /** The names of the project's secrets, by key; their values are never returned. */
  secrets: z.array(secretNameViewSchema),
});
export type ProjectView = z.infer<typeof projectViewSchema>;

/**
 * A project's environment (SPEC §9) as it is now: `none` when nothing is declared, `building` while a build is under way
 * (`log` is its tail so far), `ready` once built (`built_at`), `failed` with `error` (a build that failed, a declaration
 * refused, or a broken sandrun.yaml).
 */
export const environmentViewSchema = z.object({
  status: z.enum(['ready', 'building', 'failed', 'none']),
  /** The tail of the build log: the stored one, or the one so far while building. */
  log: z.string(),
  built_at: z.string().nullable(),
  /** The environment's content key (null when nothing is declared or the declaration is refused). */
  key: z.string().nullable(),
  /** Why it failed (null unless failed). */
  error: z.string().nullable(),
});
export type EnvironmentView = z.infer<typeof environmentViewSchema>;

/** What a project's default branch holds, as projects/ reads it; `manifest_error` is set while sandrun.yaml there is broken. */
export const projectHeadViewSchema = projectViewSchema.extend({
  commit_sha: z.string(),
  image: z.string().nullable(),
  models: z.array(z.string()),
  /**
   * The destinations sandrun.yaml's network.allow asks for there (SPEC §11), each with whether the operator's
   * SANDRUN_EGRESS_ALLOW grants it; a run of a project with any not granted is refused.
   */
  network: z.array(z.object({ destination: z.string(), granted: z.boolean() })),
  manifest_error: z.object({ code: z.string(), message: z.string() }).nullable(),
});
export type ProjectHeadView = z.infer<typeof projectHeadViewSchema>;

/** One project as GET /v1/projects/{name} shows it: its default branch's models and environment. */
export const projectDetailViewSchema = projectHeadViewSchema.extend({ environment: environmentViewSchema });
export type ProjectDetailView = z.infer<typeof projectDetailViewSchema>;
