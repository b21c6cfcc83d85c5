// At start: projects registered before credentials were sealed may hold a user:token in their https URL; move it into the sealed credential.
import type { Logger } from 'pino';
import type { SecretBox } from '../secrets/secret-box.ts';
import type { ProjectStore } from '../store/project-store.ts';
import type { GitMirrors } from './mirror.ts';
import { projectCredential, sealCredential } from './repo-credential.ts';
import { parseRepoUrl } from './repo-url.ts';

const HTTPS_WITH_USERINFO = /^https:\/\/[^/]*@/i;

/** Rewrites each such project's URL (in the database and in its mirror's config) without the user info; returns how many. */
export async function sealCredentialsInUrls(deps: { projects: ProjectStore; mirrors: GitMirrors; secrets: SecretBox; logger: Logger }): Promise<number> {
  let moved = 0;
  for (const project of (await deps.projects.listAll()).filter((record) => HTTPS_WITH_USERINFO.test(record.repoUrl))) {
    try {
      const repo = parseRepoUrl(project.repoUrl, false);
      // A URL with a user name only held nothing secret and never worked without a helper; it is only cleaned.
      const credential = project.credential ?? (repo.userinfo?.password ? sealCredential(deps.secrets, project.id, projectCredential(repo, null)) : null);
      await deps.projects.setRepository(project.id, repo.location.url, credential);
      moved += 1;
      await deps.mirrors.setOriginUrl(project.id, repo.location.url);
    } catch (error) {
      // One odd row must not keep the server from starting; its refreshes fail until it is registered again.
      deps.logger.error({ err: error, projectId: project.id }, "could not move the credentials out of a project's repository URL");
    }
  }
  return moved;
}
