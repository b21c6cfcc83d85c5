// The JSON shapes a client sees of a project (SPEC §5), as zod schemas (OpenAPI and MCP publish them) and the types they infer.
import { z } from 'zod';

export const projectViewSchema = z.object({
  name: z.string(),
  repo_url: z.string(),
  default_branch: z.string(),
  created_at: z.string(),
  refreshed_at: z.string(),
  /** Only the type: the token or key itself is never returned. */
  credential: z.object({ type: z.enum(['https_token', 'ssh_key']) }).nullable(),
});
export type ProjectView = z.infer<typeof projectViewSchema>;

/** One project with what its default branch holds; `manifest_error` is set while sandrun.yaml there is broken. */
export const projectDetailViewSchema = projectViewSchema.extend({
  commit_sha: z.string(),
  image: z.string().nullable(),
  models: z.array(z.string()),
  manifest_error: z.object({ code: z.string(), message: z.string() }).nullable(),
});
export type ProjectDetailView = z.infer<typeof projectDetailViewSchema>;
