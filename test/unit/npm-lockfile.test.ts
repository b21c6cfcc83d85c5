// What a project's package.json and package-lock.json may hold before an environment build (SPEC §9): registry packages only.
import { describe, expect, it } from 'vitest';
import { SandrunError } from '../../src/errors.ts';
import { checkNpmProject, MAX_LOCKFILE_PACKAGES, type NpmProjectInput } from '../../src/projects/npm-lockfile.ts';

const SOURCES = "packages come only from the operator's registry (SANDRUN_NPM_REGISTRY)";
const LEFT_PAD_INTEGRITY =
  'sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQGinBN9yTQT3bFlCBy/aVx2HrNcqQGsdot8ghrjyrvMCoEA==';
const LEFT_PAD_ENTRY = {
  version: '1.3.0',
  resolved: 'https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz',
  integrity: LEFT_PAD_INTEGRITY,
  deprecated: 'use String.prototype.padStart()',
  license: 'WTFPL',
};

/** package.json and package-lock.json of a project depending on left-pad@1.3.0, as npm 10 writes them. */
const PACKAGE_JSON = {
  name: 'pad-model',
  version: '1.0.0',
  private: true,
  dependencies: { 'left-pad': '1.3.0' },
};
const LOCKFILE = {
  name: 'pad-model',
  version: '1.0.0',
  lockfileVersion: 3,
  requires: true,
  packages: {
    '': { name: 'pad-model', version: '1.0.0', dependencies: { 'left-pad': '1.3.0' } },
    'node_modules/left-pad': LEFT_PAD_ENTRY,
  },
};

function project(changes: { packageJson?: object; lockfile?: object | null; path?: string } = {}): NpmProjectInput {
  const lockfile = changes.lockfile === undefined ? LOCKFILE : changes.lockfile;
  return {
    packageJsonPath: changes.path ?? 'package.json',
    packageJson: JSON.stringify(changes.packageJson ?? PACKAGE_JSON, null, 2),
    lockfile: lockfile === null ? null : JSON.stringify(lockfile, null, 2),
  };
}

function withPackages(packages: Record<string, unknown>): object {
  return { ...LOCKFILE, packages: { ...LOCKFILE.packages, ...packages } };
}

function refusal(input: NpmProjectInput): SandrunError {
  try {
    checkNpmProject(input);
  } catch (error) {
    expect(error).toBeInstanceOf(SandrunError);
    return error as SandrunError;
  }
  throw new Error(`expected ${JSON.stringify(input).slice(0, 300)} to be refused`);
}

describe('checkNpmProject accepts registry packages pinned by a lockfile', () => {
  it('accepts the left-pad@1.3.0 project as npm writes it', () => {
    expect(() => checkNpmProject(project())).not.toThrow();
  });

  it('accepts lockfileVersion 2, scoped and nested packages, bundled packages, optional and dev flags', () => {
    const lockfile = {
      ...LOCKFILE,
      lockfileVersion: 2,
      packages: {
        ...LOCKFILE.packages,
        'node_modules/@types/node': {
          version: '20.19.43',
          resolved: 'https://registry.npmjs.org/@types/node/-/node-20.19.43.tgz',
          integrity: LEFT_PAD_INTEGRITY,
          dev: true,
        },
        'node_modules/a/node_modules/@scope/b': {
          version: '1.0.0',
          resolved: 'http://localhost:4873/@scope%2fb/-/b-1.0.0.tgz',
          integrity: `sha1-${'A'.repeat(27)}= ${LEFT_PAD_INTEGRITY}`,
          optional: true,
          hasInstallScript: true,
        },
        'node_modules/a': {
          version: '1.0.0',
          resolved: 'https://npm.internal.example/repository/npm/a/-/a-1.0.0.tgz',
          integrity: LEFT_PAD_INTEGRITY,
        },
        'node_modules/a/node_modules/bundled': { version: '2.0.0', inBundle: true },
      },
    };
    expect(() => checkNpmProject(project({ lockfile }))).not.toThrow();
  });

  it.each([
    '1.3.0',
    '^1.3.0',
    '~1.3',
    '>=1.2.0 <2',
    '>= 1.2.0',
    '1.x || >=2.5.0 || 5.0.0 - 7.2.3',
    '*',
    '',
    'x',
    'v1.3.0',
    '1.3.0-beta.1+build.5',
    'latest',
    'next',
    'npm:left-pad@^1.3.0',
    'npm:@types/node@20',
    'npm:left-pad',
  ])('accepts the registry spec %j in every dependency field', (spec) => {
    for (const field of ['dependencies', 'optionalDependencies', 'devDependencies', 'peerDependencies']) {
      const packageJson = { ...PACKAGE_JSON, [field]: { 'left-pad': spec } };
      expect(() => checkNpmProject(project({ packageJson }))).not.toThrow();
    }
  });

  it('accepts overrides of registry specs and $references', () => {
    const packageJson = { ...PACKAGE_JSON, overrides: { foo: '1.0.0', bar: { '.': '2.x', baz: '$left-pad' } } };
    expect(() => checkNpmProject(project({ packageJson }))).not.toThrow();
  });
});

describe('checkNpmProject refuses package.json specs that do not come from the registry, naming the key', () => {
  it.each([
    'user/repo',
    'github:user/repo',
    'gitlab:user/repo#main',
    'bitbucket:user/repo',
    'gist:11081aaa281',
    'git+https://github.com/user/repo.git',
    'git+ssh://git@github.com/user/repo.git',
    'git://github.com/user/repo.git',
    'git@github.com:user/repo.git',
    'https://evil.example/left-pad-1.3.0.tgz',
    'http://evil.example/left-pad',
    'file:../left-pad',
    'file:left-pad-1.3.0.tgz',
    'left-pad-1.3.0.tgz',
    '1.3.0-x.tar.gz',
    '../left-pad',
    './left-pad',
    '~/left-pad',
    '/srv/left-pad',
    'link:../left-pad',
    'workspace:*',
    'npm:left-pad@github:user/repo',
    'npm:left-pad@file:../x',
    'npm:../x',
    'latest tag',
    '1.3.0; rm -rf /',
    'x'.repeat(300),
  ])('refuses %j', (spec) => {
    const error = refusal(project({ packageJson: { ...PACKAGE_JSON, devDependencies: { 'left-pad': spec } } }));
    expect(error.code).toBe('environment_failed');
    expect(error.message).toContain("package.json devDependencies['left-pad']: '");
    expect(error.message).toContain(`is not a registry spec (a semver version or range, a dist-tag, or npm:name@range)`);
    expect(error.message).toContain(SOURCES);
    expect(error.details).toMatchObject({ file: 'package.json', field: 'devDependencies', name: 'left-pad' });
  });

  it('refuses an override that is not a registry spec, naming its path', () => {
    const packageJson = { ...PACKAGE_JSON, overrides: { foo: { bar: 'github:user/repo' } } };
    expect(refusal(project({ packageJson })).message).toMatch(
      /^package\.json overrides\['foo'\]\['bar'\]: 'github:user\/repo' is not a registry spec/,
    );
  });

  it.each([
    ['../../etc', /package\.json dependencies\['\.\.\/\.\.\/etc'\]: is not a valid npm package name/],
    ['.hidden', /package\.json dependencies\['\.hidden'\]: is not a valid npm package name/],
    ['a b', /is not a valid npm package name/],
  ])('refuses the dependency name %j', (name, rule) => {
    expect(refusal(project({ packageJson: { ...PACKAGE_JSON, dependencies: { [name]: '1.0.0' } } })).message).toMatch(rule);
  });

  it('refuses a spec that is not a string and a dependency field that is not an object', () => {
    expect(refusal(project({ packageJson: { ...PACKAGE_JSON, dependencies: { 'left-pad': 1 } } })).message).toBe(
      "package.json dependencies['left-pad']: the spec must be a string",
    );
    expect(refusal(project({ packageJson: { ...PACKAGE_JSON, dependencies: ['left-pad'] } })).message).toBe(
      'package.json dependencies must be an object',
    );
  });

  it('refuses workspaces, which install as links', () => {
    const error = refusal(project({ packageJson: { ...PACKAGE_JSON, workspaces: ['packages/*'] } }));
    expect(error.message).toBe('package.json: workspaces are not allowed (they install as links)');
  });

  it('refuses a package.json that is not JSON or not an object', () => {
    expect(refusal({ ...project(), packageJson: '{"name": ' }).message).toMatch(/^package\.json is not valid JSON: /);
    expect(refusal({ ...project(), packageJson: '["left-pad"]' }).message).toBe('package.json must hold a JSON object');
    expect(refusal({ ...project(), packageJson: 'null' }).message).toBe('package.json must hold a JSON object');
  });
});

describe('checkNpmProject needs a lockfile npm ci can install from', () => {
  it('refuses a project without package-lock.json, saying how to make one', () => {
    const error = refusal(project({ lockfile: null, path: 'model/package.json' }));
    expect(error.message).toBe(
      'model/package-lock.json is missing: sandrun installs with `npm ci`, which needs the lockfile; ' +
        'run `npm install` and commit package-lock.json',
    );
    expect(error.details).toEqual({ file: 'model/package-lock.json', log: error.message });
    expect(refusal(project({ lockfile: null })).message).toMatch(/^package-lock\.json is missing: /);
  });

  it('refuses a lockfile that is not JSON, or of a version without a packages map', () => {
    expect(refusal({ ...project(), lockfile: 'not json' }).message).toMatch(/^package-lock\.json is not valid JSON: /);
    expect(refusal(project({ lockfile: { ...LOCKFILE, lockfileVersion: 1 } })).message).toBe(
      'package-lock.json: lockfileVersion 1 is not supported: lockfileVersion 2 or 3 is required ' +
        '(npm 7 or later; `npm install --lockfile-version 3`)',
    );
    expect(refusal(project({ lockfile: { ...LOCKFILE, lockfileVersion: undefined } })).message).toMatch(
      /^package-lock\.json: lockfileVersion missing is not supported/,
    );
    expect(refusal(project({ lockfile: { ...LOCKFILE, packages: undefined } })).message).toBe(
      "package-lock.json has no 'packages' map (lockfileVersion 2 or 3 has one)",
    );
    const withoutRoot = { ...LOCKFILE, packages: { 'node_modules/left-pad': LEFT_PAD_ENTRY } };
    expect(refusal(project({ lockfile: withoutRoot })).message).toBe(
      "package-lock.json packages['']: the root package is missing",
    );
  });

  it("refuses a lockfile root with workspaces or a dependency that is not a registry spec", () => {
    const root = { ...LOCKFILE.packages[''] };
    expect(refusal(project({ lockfile: withPackages({ '': { ...root, workspaces: ['a'] } }) })).message).toBe(
      "package-lock.json packages['']: workspaces are not allowed (they install as links)",
    );
    const gitRoot = { ...root, dependencies: { 'left-pad': 'github:user/left-pad' } };
    expect(refusal(project({ lockfile: withPackages({ '': gitRoot }) })).message).toMatch(
      /^package-lock\.json packages\[''\] dependencies\['left-pad'\]: 'github:user\/left-pad' is not a registry spec/,
    );
  });
});

describe('checkNpmProject refuses lockfile entries that are not registry tarballs, naming the package path', () => {
  const entry = (changes: Record<string, unknown>): object => withPackages({ 'node_modules/left-pad': { ...LEFT_PAD_ENTRY, ...changes } });

  it.each([
    ['git+ssh://git@github.com/user/left-pad.git#abc123', "is not a registry tarball (an http(s) URL)"],
    ['git+https://github.com/user/left-pad.git', 'is not a registry tarball (an http(s) URL)'],
    ['file:../left-pad-1.3.0.tgz', 'is not a registry tarball (an http(s) URL)'],
    ['ftp://evil.example/left-pad/-/left-pad-1.3.0.tgz', 'is not a registry tarball (an http(s) URL)'],
    ['https://codeload.github.com/user/left-pad/tar.gz/abc123', 'is not a registry tarball (a plain http(s) URL whose path ends in /-/NAME.tgz)'],
    ['https://evil.example/left-pad-1.3.0.tgz', 'is not a registry tarball (a plain http(s) URL whose path ends in /-/NAME.tgz)'],
    ['https://evil.example//evil.example/left-pad/-/left-pad-1.3.0.tgz', 'is not a registry tarball (a plain http(s) URL whose path ends in /-/NAME.tgz)'],
    ['https://evil.example/a/../left-pad/-/left-pad-1.3.0.tgz', 'is not a registry tarball (a plain http(s) URL whose path ends in /-/NAME.tgz)'],
    ['https:\\\\evil.example\\left-pad\\-\\left-pad-1.3.0.tgz', 'is not a registry tarball (a plain http(s) URL whose path ends in /-/NAME.tgz)'],
    ['https://user:token@registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz', 'carries credentials'],
    ['https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz?x=1', 'has a query or fragment'],
    ['https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz#x', 'has a query or fragment'],
    ['left-pad-1.3.0.tgz', 'is not a URL'],
  ])('resolved %j', (resolved, rule) => {
    const error = refusal(project({ lockfile: entry({ resolved }) }));
    expect(error.message).toBe(`package-lock.json packages['node_modules/left-pad']: resolved '${resolved.replace(/\\/g, '\\\\')}' ${rule}`);
    expect(error.details).toEqual({ file: 'package-lock.json', package: 'node_modules/left-pad', log: error.message });
  });

  it('a link (a workspace or file: dependency)', () => {
    const lockfile = withPackages({ 'node_modules/left-pad': { resolved: '../left-pad', link: true } });
    expect(refusal(project({ lockfile, path: 'app/package.json' })).message).toBe(
      "app/package-lock.json packages['node_modules/left-pad']: is a link (a workspace or a file: dependency): only registry packages are allowed",
    );
  });

  it('an entry outside node_modules (a workspace or local package)', () => {
    const lockfile = withPackages({ 'packages/local': { version: '1.0.0' } });
    expect(refusal(project({ lockfile })).message).toBe(
      "package-lock.json packages['packages/local']: is not an installed registry package (node_modules/NAME): workspaces and local packages are not allowed",
    );
    for (const path of ['node_modules/../../etc', 'node_modules/', 'node_modules/a/b', 'x/node_modules/a']) {
      expect(refusal(project({ lockfile: withPackages({ [path]: LEFT_PAD_ENTRY }) })).message).toContain(
        `packages['${path}']: is not an installed registry package`,
      );
    }
  });

  it('a missing resolved URL, unless the package comes in its parent’s bundle', () => {
    expect(refusal(project({ lockfile: entry({ resolved: undefined }) })).message).toBe(
      "package-lock.json packages['node_modules/left-pad']: has no resolved URL: only registry tarballs are allowed",
    );
    expect(refusal(project({ lockfile: entry({ resolved: undefined, inBundle: false }) })).message).toContain(
      'has no resolved URL',
    );
  });

  it.each([
    [undefined, 'integrity is missing'],
    ['md5-abc', "integrity is 'md5-abc'"],
    ['sha512-', "integrity is 'sha512-'"],
    ['deadbeef', "integrity is 'deadbeef'"],
  ])('the integrity %j', (integrity, found) => {
    expect(refusal(project({ lockfile: entry({ integrity }) })).message).toBe(
      `package-lock.json packages['node_modules/left-pad']: ${found}: an SRI hash (sha512-... or sha1-...) is required`,
    );
  });

  it('an entry that is not an object', () => {
    expect(refusal(project({ lockfile: withPackages({ 'node_modules/left-pad': 'left-pad@1.3.0' }) })).message).toBe(
      "package-lock.json packages['node_modules/left-pad']: must be an object",
    );
  });
});

describe('checkNpmProject caps', () => {
  it(`refuses a lockfile of more than ${MAX_LOCKFILE_PACKAGES} packages, naming the count and the cap`, () => {
    const packages: Record<string, unknown> = { '': LOCKFILE.packages[''] };
    for (let i = 0; i < MAX_LOCKFILE_PACKAGES; i += 1) packages[`node_modules/p${i}`] = LEFT_PAD_ENTRY;
    expect(refusal(project({ lockfile: { ...LOCKFILE, packages } })).message).toBe(
      `package-lock.json lists ${MAX_LOCKFILE_PACKAGES + 1} packages: at most ${MAX_LOCKFILE_PACKAGES} are allowed`,
    );
  });

  it('refuses a package.json over 1 MiB and a lockfile over 16 MiB, before parsing them', () => {
    const bigPackageJson = `{"description": "${'x'.repeat(1024 * 1024)}"}`;
    expect(refusal({ ...project(), packageJson: bigPackageJson }).message).toBe(
      `package.json is ${bigPackageJson.length} bytes: at most 1 MiB is allowed`,
    );
    const bigLockfile = ' '.repeat(16 * 1024 * 1024 + 1);
    expect(refusal({ ...project(), lockfile: bigLockfile }).message).toBe(
      `package-lock.json is ${bigLockfile.length} bytes: at most 16 MiB is allowed`,
    );
  });
});
