// Reads a project's sandrun.yaml and models/*.py at one commit and resolves its manifest.
import { MANIFEST_FILE, parseManifest, resolveManifest, type ResolvedManifest } from './manifest.ts';
import type { GitMirrors } from './mirror.ts';

/** The project's resolved manifest at `commitSha` (a full sha); a malformed sandrun.yaml throws manifest_invalid. */
export async function loadProjectManifest(
  mirrors: GitMirrors,
  projectId: string,
  commitSha: string,
  options: { images: readonly string[] },
): Promise<ResolvedManifest> {
  const [text, modelDirFiles] = await Promise.all([
    mirrors.readFile(projectId, commitSha, MANIFEST_FILE),
    mirrors.listFiles(projectId, commitSha, 'models'),
  ]);
  const manifest = text === null ? null : parseManifest(text, options);
  return resolveManifest(manifest, modelDirFiles.filter((path) => path.endsWith('.py')));
}
