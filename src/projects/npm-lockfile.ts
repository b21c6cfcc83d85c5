// Checks a tenant's package.json and package-lock.json before an environment build: registry packages only, nothing from git, URLs, paths or links.
import { posix } from 'node:path';
import { checkFileSize, environmentRefused, shown } from './environment-input.ts';

export const MAX_PACKAGE_JSON_BYTES = 1024 * 1024;
export const MAX_LOCKFILE_BYTES = 16 * 1024 * 1024;
export const MAX_LOCKFILE_PACKAGES = 5000;
const MAX_SPEC_LENGTH = 256;
const MAX_NAME_LENGTH = 214;

export interface NpmProjectInput {
  /** The path of package.json in the repository, as the manifest names it. */
  packageJsonPath: string;
  packageJson: string;
  /** package-lock.json beside it, or null when the repository has none. */
  lockfile: string | null;
}

const SOURCES = "packages come only from the operator's registry (SANDRUN_NPM_REGISTRY)";
const DEPENDENCY_FIELDS = ['dependencies', 'optionalDependencies', 'devDependencies', 'peerDependencies'] as const;
/** validate-npm-package-name's characters (upper case kept for old packages), scoped or not. */
const NAME_PART = '[A-Za-z0-9~-][A-Za-z0-9._~-]*';
const SCOPED_NAME = `(?:@${NAME_PART}/)?${NAME_PART}`;
const NPM_NAME = new RegExp(`^${SCOPED_NAME}$`);
/** A lockfile key of an installed package: node_modules/NAME, nested under other packages' node_modules. */
const INSTALLED_PATH = new RegExp(`^node_modules/${SCOPED_NAME}(?:/node_modules/${SCOPED_NAME})*$`);
/** npm reads a spec ending like this as a tarball on disk. */
const FILE_TYPE = /\.(?:tgz|tar\.gz|tar)$/i;
const DIST_TAG = /^[A-Za-z][A-Za-z0-9._-]*$/;
/** node-semver's range grammar (loose: a leading 'v' or '=', spaces after an operator), without a '/' or ':' anywhere. */
const RANGE_SET = (() => {
  const part = '(?:[xX*]|\\d+)';
  const identifiers = '[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*';
  const partial = `[v=]?${part}(?:\\.${part}(?:\\.${part}(?:-${identifiers})?(?:\\+${identifiers})?)?)?`;
  const simple = `(?:~>?|\\^|[<>]=?|=)?\\s*${partial}`;
  const range = `(?:${partial}\\s+-\\s+${partial}|${simple}(?:\\s+${simple})*)`;
  return new RegExp(`^\\s*(?:${range})?(?:\\s*\\|\\|\\s*(?:${range})?)*\\s*$`);
})();
/** The pathname of a registry tarball: non-empty plain segments, ending /-/FILE.tgz. A '//' could make the replaced host another one. */
const TARBALL_PATH = /^(?:\/[A-Za-z0-9@._~%+-]+)+\/-\/[A-Za-z0-9@._~%+-]+\.tgz$/;
const SRI_HASH = 'sha(?:1|256|384|512)-[A-Za-z0-9+/]+={0,2}';
const INTEGRITY = new RegExp(`^${SRI_HASH}(?:\\s+${SRI_HASH})*$`);
const SPEC_RULE =
  'is not a registry spec (a semver version or range, a dist-tag, or npm:name@range); git, GitHub shorthand, URLs, ' +
  `file:, link: and workspace: are not allowed: ${SOURCES}`;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNpmName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NPM_NAME.test(name);
}

function isRegistryRange(spec: string): boolean {
  const trimmed = spec.trim();
  if (FILE_TYPE.test(trimmed)) return false;
  return RANGE_SET.test(trimmed) || DIST_TAG.test(trimmed);
}

/** Whether npm would fetch this dependency spec from the registry: a version, range, dist-tag or npm:name@range alias. */
export function isRegistrySpec(spec: string): boolean {
  if (spec.length > MAX_SPEC_LENGTH) return false;
  const trimmed = spec.trim();
  if (!trimmed.startsWith('npm:')) return isRegistryRange(trimmed);
  const aliased = trimmed.slice('npm:'.length);
  const at = aliased.indexOf('@', 1);
  const name = at === -1 ? aliased : aliased.slice(0, at);
  return isNpmName(name) && (at === -1 || isRegistryRange(aliased.slice(at + 1)));
}

/** A problem with a lockfile's resolved URL, or null when it is the URL of a registry tarball. */
function tarballProblem(resolved: string): string | null {
  let url: URL;
  try {
    url = new URL(resolved);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'is not a registry tarball (an http(s) URL)';
  if (url.username !== '' || url.password !== '') return 'carries credentials';
  if (url.search !== '' || url.hash !== '') return 'has a query or fragment';
  // The host is replaced with the operator's registry at install time; only the path is kept, so it must be plain.
  if (url.href !== resolved || !TARBALL_PATH.test(url.pathname)) {
    return 'is not a registry tarball (a plain http(s) URL whose path ends in /-/NAME.tgz)';
  }
  return null;
}

function parseJson(file: string, text: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw environmentRefused(`${file} is not valid JSON: ${(error as Error).message}`, { file });
  }
  if (!isObject(value)) throw environmentRefused(`${file} must hold a JSON object`, { file });
  return value;
}

/** The dependency maps of package.json or of a lockfile's root entry: every key a package name, every value a registry spec. */
function checkDependencyMaps(where: string, file: string, owner: JsonObject): void {
  for (const field of DEPENDENCY_FIELDS) {
    const map = owner[field];
    if (map === undefined) continue;
    if (!isObject(map)) throw environmentRefused(`${where} ${field} must be an object`, { file, field });
    for (const [name, spec] of Object.entries(map)) {
      const label = `${where} ${field}['${shown(name)}']`;
      if (!isNpmName(name)) throw environmentRefused(`${label}: is not a valid npm package name`, { file, field, name });
      if (typeof spec !== 'string') throw environmentRefused(`${label}: the spec must be a string`, { file, field, name });
      if (!isRegistrySpec(spec)) {
        throw environmentRefused(`${label}: '${shown(spec)}' ${SPEC_RULE}`, { file, field, name, spec });
      }
    }
  }
}

/** overrides (any depth): each string a registry spec or a $name reference to a direct dependency. */
function checkOverrides(file: string, overrides: unknown): void {
  if (overrides === undefined) return;
  const pending: [unknown, string][] = [[overrides, 'overrides']];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, path] = next;
    if (isObject(value)) {
      for (const [key, child] of Object.entries(value)) pending.push([child, `${path}['${shown(key)}']`]);
    } else if (typeof value !== 'string') {
      throw environmentRefused(`${file} ${path}: must be a spec string or an object`, { file });
    } else if (!(value.startsWith('$') ? isNpmName(value.slice(1)) : isRegistrySpec(value))) {
      throw environmentRefused(`${file} ${path}: '${shown(value)}' ${SPEC_RULE}`, { file, spec: value });
    }
  }
}

function checkLockedPackage(lockPath: string, path: string, entry: unknown): void {
  const label = `${lockPath} packages['${shown(path)}']`;
  const refuse = (rule: string): never => {
    throw environmentRefused(`${label}: ${rule}`, { file: lockPath, package: path });
  };
  if (!INSTALLED_PATH.test(path)) {
    refuse('is not an installed registry package (node_modules/NAME): workspaces and local packages are not allowed');
  }
  if (!isObject(entry)) return refuse('must be an object');
  if (entry.link !== undefined) refuse(`is a link (a workspace or a file: dependency): only registry packages are allowed`);
  // A bundled package arrives inside its parent's tarball, which is checked as its own entry.
  if (entry.resolved === undefined && entry.inBundle === true) return;
  if (typeof entry.resolved !== 'string') refuse(`has no resolved URL: only registry tarballs are allowed`);
  const resolved = entry.resolved as string;
  const problem = tarballProblem(resolved);
  if (problem !== null) refuse(`resolved '${shown(resolved)}' ${problem}`);
  if (typeof entry.integrity !== 'string' || !INTEGRITY.test(entry.integrity)) {
    const found = typeof entry.integrity === 'string' ? `'${shown(entry.integrity)}'` : 'missing';
    refuse(`integrity is ${found}: an SRI hash (sha512-... or sha1-...) is required`);
  }
}

function checkLockfile(lockPath: string, text: string): void {
  checkFileSize(lockPath, text, MAX_LOCKFILE_BYTES);
  const lock = parseJson(lockPath, text);
  const version = lock.lockfileVersion;
  if (version !== 2 && version !== 3) {
    throw environmentRefused(
      `${lockPath}: lockfileVersion ${shown(JSON.stringify(version) ?? 'missing')} is not supported: ` +
        'lockfileVersion 2 or 3 is required (npm 7 or later; `npm install --lockfile-version 3`)',
      { file: lockPath },
    );
  }
  const packages = lock.packages;
  if (!isObject(packages)) {
    throw environmentRefused(`${lockPath} has no 'packages' map (lockfileVersion 2 or 3 has one)`, { file: lockPath });
  }
  const paths = Object.keys(packages);
  if (paths.length > MAX_LOCKFILE_PACKAGES) {
    throw environmentRefused(
      `${lockPath} lists ${paths.length} packages: at most ${MAX_LOCKFILE_PACKAGES} are allowed`,
      { file: lockPath, packages: paths.length, max_packages: MAX_LOCKFILE_PACKAGES },
    );
  }
  const root = packages[''];
  if (!isObject(root)) {
    throw environmentRefused(`${lockPath} packages['']: the root package is missing`, { file: lockPath, package: '' });
  }
  if (root.workspaces !== undefined) {
    throw environmentRefused(`${lockPath} packages['']: workspaces are not allowed (they install as links)`, {
      file: lockPath,
      package: '',
    });
  }
  checkDependencyMaps(`${lockPath} packages['']`, lockPath, root);
  for (const path of paths) if (path !== '') checkLockedPackage(lockPath, path, packages[path]);
}

/**
 * Refuses (environment_failed, naming the file, the field or package path, and the rule) an npm project that would
 * install anything but registry packages pinned by a lockfile. The build installs with `npm ci --ignore-scripts` and
 * `--replace-registry-host=always`, so the lockfile's hosts do not matter, but every entry must be a registry tarball.
 */
export function checkNpmProject(input: NpmProjectInput): void {
  const packageJsonPath = input.packageJsonPath;
  const lockPath = posix.join(posix.dirname(packageJsonPath), 'package-lock.json');
  checkFileSize(packageJsonPath, input.packageJson, MAX_PACKAGE_JSON_BYTES);
  const manifest = parseJson(packageJsonPath, input.packageJson);
  if (manifest.workspaces !== undefined) {
    throw environmentRefused(`${packageJsonPath}: workspaces are not allowed (they install as links)`, {
      file: packageJsonPath,
      field: 'workspaces',
    });
  }
  checkDependencyMaps(packageJsonPath, packageJsonPath, manifest);
  checkOverrides(packageJsonPath, manifest.overrides);
  if (input.lockfile === null) {
    throw environmentRefused(
      `${lockPath} is missing: sandrun installs with \`npm ci\`, which needs the lockfile; ` +
        'run `npm install` and commit package-lock.json',
      { file: lockPath },
    );
  }
  checkLockfile(lockPath, input.lockfile);
}
