// Reads a project's sandrun.yaml and models/*.py at one commit and resolves its manifest.
import { SandrunError } from '../errors.ts';
import { MANIFEST_FILE, parseManifest, resolveManifest, type ResolvedManifest } from './manifest.ts';
import type { GitMirrors } from './mirror.ts';
import type { YamlParser } from './yaml-parser.ts';

export interface ManifestReading {
  images: readonly string[];
  /** sandrun.yaml's size cap (SANDRUN_MANIFEST_MAX_BYTES): a larger one is refused unread. */
  maxBytes: number;
  yaml: YamlParser;
}

/** The project's resolved manifest at `commitSha` (a full sha); a malformed or oversized sandrun.yaml throws manifest_invalid. */
export async function loadProjectManifest(mirrors: GitMirrors, projectId: string, commitSha: string, options: ManifestReading): Promise<ResolvedManifest> {
  const [text, modelDirFiles] = await Promise.all([readManifestText(mirrors, projectId, commitSha, options.maxBytes), mirrors.listFiles(projectId, commitSha, 'models')]);
  const manifest = text === null ? null : await parseManifest(text, options);
  return resolveManifest(manifest, modelDirFiles.filter((path) => path.endsWith('.py')));
}

/** The size comes from git's tree, so an oversized file is refused before a byte of it is read. */
async function readManifestText(mirrors: GitMirrors, projectId: string, commitSha: string, maxBytes: number): Promise<string | null> {
  const size = await mirrors.fileSize(projectId, commitSha, MANIFEST_FILE);
  if (size === null) return null;
  if (size > maxBytes) {
    const message = `${MANIFEST_FILE} is ${size} bytes, more than the ${maxBytes} bytes a manifest may have (SANDRUN_MANIFEST_MAX_BYTES); it was not read`;
    throw new SandrunError('manifest_invalid', message, { file: MANIFEST_FILE, size, max_bytes: maxBytes, problems: [{ line: 1, path: '', message }] });
  }
  return mirrors.readFile(projectId, commitSha, MANIFEST_FILE);
}
