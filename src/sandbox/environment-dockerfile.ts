// The Dockerfile of a project environment (SPEC §9): Debian packages into the image, pip and npm packages installed
// in a tools stage (their installers never reach the run's image) and copied in. Nothing here runs tenant code.

/** What one environment image holds; every value was checked before it got here (manifest, requirements, lockfile rules). */
export interface EnvironmentRecipe {
  /** The base image's ID (not its name: a rebuilt runner image is another environment). */
  baseImageId: string;
  /** The user the base image runs as, restored after the root steps. */
  baseUser: string;
  apt: readonly string[];
  /** Requirement specifiers, one per line of the context's pip/requirements.txt. */
  pip: { requirements: readonly string[]; indexUrl: string | undefined; wheels: boolean } | null;
  npm: { registry: string } | null;
  /** The context holds ca.pem, the CAs the package sources are checked against (SANDRUN_BUILD_CA_FILE); else Debian's. */
  caBundle: boolean;
  labels: Record<string, string>;
}

/** Where the run finds what pip installed (on PYTHONPATH) and what npm installed (Node resolves /node_modules from /workspace). */
export const PYTHON_PACKAGES_DIR = '/opt/sandrun/python';
export const NODE_MODULES_DIR = '/node_modules';

/** npm itself comes from the operator's registry, like every package it installs; Debian's npm would pull hundreds of packages. */
export const NPM_VERSION = '10.8.2';

const CA_FILE = '/sandrun-build/ca.pem';
const quote = (value: string): string => JSON.stringify(value);
// apt's package caches (/var/cache/apt/*.bin) are 77 MB of every environment image otherwise.
const APT_CLEAN = 'rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/apt/*.bin';
const aptInstall = (packages: readonly string[]): string =>
  `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${packages.join(' ')} && ${APT_CLEAN}`;
const needs = (tool: string, what: string): string =>
  `RUN command -v ${tool} >/dev/null || { echo "environment: ${what} needs ${tool} in the base image" >&2; exit 1; }`;

export function environmentDockerfile(recipe: EnvironmentRecipe): string {
  const lines: string[] = [];
  const { pip, npm } = recipe;
  if (pip || npm) {
    lines.push(`FROM ${recipe.baseImageId} AS tools`, 'USER root', 'WORKDIR /sandrun-build');
    // The runner images hold no CA certificates (runs have no network); the package sources are reached over https.
    if (recipe.caBundle) lines.push(`COPY ca.pem ${CA_FILE}`);
    else lines.push(`RUN ${aptInstall(['ca-certificates'])}`, `RUN ln -s /etc/ssl/certs/ca-certificates.crt ${CA_FILE}`);
    if (pip) {
      const source = [
        ...(pip.indexUrl ? [`--index-url ${quote(pip.indexUrl)}`] : ['--no-index']),
        ...(pip.wheels ? ['--find-links /sandrun-build/pip/wheels'] : []),
      ];
      lines.push(
        needs('python3', 'pip'),
        `RUN ${aptInstall(['python3-pip'])}`,
        'COPY pip/ /sandrun-build/pip/',
        // --isolated: no pip configuration or PIP_* variable of the image applies; --only-binary: wheels only, so no
        // package's setup code runs while the build has network.
        `RUN python3 -m pip install --isolated --no-cache-dir --disable-pip-version-check --no-input --break-system-packages --only-binary :all: --cert ${CA_FILE} ${source.join(' ')} --target ${PYTHON_PACKAGES_DIR} -r /sandrun-build/pip/requirements.txt`,
      );
    }
    if (npm) {
      const tarball = `${npm.registry}npm/-/npm-${NPM_VERSION}.tgz`;
      const fetchNpm = `const r = await fetch(${quote(tarball)}); if (!r.ok) throw new Error('GET ${tarball}: HTTP ' + r.status); require('fs').writeFileSync('/tmp/npm.tgz', Buffer.from(await r.arrayBuffer()))`;
      lines.push(
        needs('node', 'npm'),
        `RUN NODE_EXTRA_CA_CERTS=${CA_FILE} node --no-warnings -e ${quote(`(async () => { ${fetchNpm} })().catch((e) => { console.error(String(e), e.cause ? String(e.cause) : ''); process.exit(1); })`)} && mkdir -p /opt/npm && tar -xzf /tmp/npm.tgz -C /opt/npm --strip-components=1 && rm /tmp/npm.tgz`,
        'COPY npm/ /sandrun-build/npm/',
        // --ignore-scripts: no package's install script runs; --replace-registry-host=always: every tarball comes from
        // the operator's registry, whatever host the lockfile names.
        `RUN cd /sandrun-build/npm && node /opt/npm/bin/npm-cli.js ci --ignore-scripts --omit=dev --no-audit --no-fund --no-update-notifier --cache /tmp/npm-cache --cafile ${CA_FILE} --registry ${quote(npm.registry)} --replace-registry-host=always && mkdir -p node_modules`,
      );
    }
  }
  lines.push(`FROM ${recipe.baseImageId}`, 'USER root');
  if (recipe.apt.length > 0) lines.push(`RUN ${aptInstall(recipe.apt)}`);
  if (pip) lines.push(`COPY --from=tools ${PYTHON_PACKAGES_DIR} ${PYTHON_PACKAGES_DIR}`, `ENV PYTHONPATH=${PYTHON_PACKAGES_DIR}`);
  if (npm) lines.push(`COPY --from=tools /sandrun-build/npm/node_modules ${NODE_MODULES_DIR}`);
  const labels = Object.entries(recipe.labels).map(([key, value]) => `${quote(key)}=${quote(value)}`);
  lines.push(`USER ${recipe.baseUser || 'root'}`);
  if (labels.length > 0) lines.push(`LABEL ${labels.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
