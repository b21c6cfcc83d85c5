// Reads what a project's `environment` names at one commit and checks it (SPEC §9): the exact inputs of its build.
import { posix } from 'node:path';
import type { EnvironmentDeclaration } from './manifest.ts';
import type { GitMirrors } from './mirror.ts';
import { environmentRefused } from './environment-input.ts';
import { checkRequirements, MAX_REQUIREMENTS_BYTES } from './pip-requirements.ts';
import { checkNpmProject, MAX_LOCKFILE_BYTES, MAX_PACKAGE_JSON_BYTES } from './npm-lockfile.ts';

/** Everything of the repository an environment build uses, checked: nothing else of it reaches the build. */
export interface EnvironmentInputs {
  apt: string[];
  /** The requirement lines pip gets (rebuilt from what was parsed, never the tenant's file as it is). */
  pip: { file: string; requirements: string[] } | null;
  npm: { file: string; packageJson: string; lockfile: string } | null;
}

/** A file the manifest names, read at the commit with its cap checked on git's tree before a byte is read. */
async function readNamed(mirrors: GitMirrors, projectId: string, commitSha: string, path: string, maxBytes: number, field: string): Promise<string | null> {
  const size = await mirrors.fileSize(projectId, commitSha, path);
  if (size === null) return null;
  if (size > maxBytes) throw environmentRefused(`${path} is ${size} bytes: at most ${maxBytes} bytes are allowed (${field})`, { file: path, bytes: size, max_bytes: maxBytes });
  return mirrors.readFile(projectId, commitSha, path);
}

export async function readEnvironmentInputs(mirrors: GitMirrors, projectId: string, commitSha: string, declaration: EnvironmentDeclaration): Promise<EnvironmentInputs> {
  const inputs: EnvironmentInputs = { apt: [...(declaration.apt ?? [])], pip: null, npm: null };
  if (declaration.pip !== undefined) {
    const file = declaration.pip;
    const text = await readNamed(mirrors, projectId, commitSha, file, MAX_REQUIREMENTS_BYTES, 'environment.pip');
    if (text === null) throw environmentRefused(`environment.pip names ${file}, which is not a file in the repository at ${commitSha.slice(0, 12)}`, { field: 'environment.pip', file });
    inputs.pip = { file, requirements: checkRequirements(text, file) };
  }
  if (declaration.npm !== undefined) {
    const file = declaration.npm;
    const packageJson = await readNamed(mirrors, projectId, commitSha, file, MAX_PACKAGE_JSON_BYTES, 'environment.npm');
    if (packageJson === null) throw environmentRefused(`environment.npm names ${file}, which is not a file in the repository at ${commitSha.slice(0, 12)}`, { field: 'environment.npm', file });
    const lockPath = posix.join(posix.dirname(file), 'package-lock.json');
    const lockfile = await readNamed(mirrors, projectId, commitSha, lockPath, MAX_LOCKFILE_BYTES, 'environment.npm');
    checkNpmProject({ packageJsonPath: file, packageJson, lockfile });
    inputs.npm = { file, packageJson, lockfile: lockfile! };
  }
  return inputs;
}
