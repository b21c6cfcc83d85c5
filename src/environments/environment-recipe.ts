// An environment's identity and build (SPEC §9): its key (the tenant, the base image's ID, the checked inputs and the
// package sources), its image tag, and the build the engine is given.
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildSettings } from '../config.ts';
import type { EnvironmentInputs } from '../projects/environment-files.ts';
import { ENVIRONMENT_LABEL, type EnvironmentBuild } from '../sandbox/environment-build.ts';
import type { BaseImage } from '../sandbox/environment-images.ts';

const ENVIRONMENT_TAG = 'sandrun/env';

export interface ResolvedEnvironment {
  key: string;
  tag: string;
  build: EnvironmentBuild;
  /** What is installed, for a waiting run's message. */
  summary: string;
}

export async function resolveEnvironment(input: {
  tenantId: string;
  base: BaseImage;
  inputs: EnvironmentInputs;
  settings: BuildSettings;
  caFile: string | undefined;
}): Promise<ResolvedEnvironment> {
  const { tenantId, base, inputs, settings, caFile } = input;
  const pip = inputs.pip && inputs.pip.requirements.length > 0 ? inputs.pip : null;
  const wheels = pip && settings.pipFindLinks ? await wheelListing(settings.pipFindLinks) : null;
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        version: 1,
        // Tenants never share an environment image: no build's outcome or timing tells one tenant what another uses.
        tenant: tenantId,
        base: base.id,
        apt: inputs.apt,
        pip: pip && { requirements: pip.requirements, indexUrl: settings.pipIndexUrl ?? null, wheels },
        npm: inputs.npm && { packageJson: inputs.npm.packageJson, lockfile: inputs.npm.lockfile, registry: settings.npmRegistry },
      }),
    )
    .digest('hex');
  const tag = `${ENVIRONMENT_TAG}:${key.slice(0, 40)}`;
  const summary =
    [inputs.apt.length > 0 ? `apt: ${inputs.apt.join(' ')}` : '', pip ? `pip: ${pip.file}` : '', inputs.npm ? `npm: ${inputs.npm.file}` : '']
      .filter(Boolean)
      .join('; ') || 'nothing to install';
  return {
    key,
    tag,
    summary,
    build: {
      recipe: {
        baseImageId: base.id,
        baseUser: base.user,
        apt: inputs.apt,
        pip: pip && { requirements: pip.requirements, indexUrl: settings.pipIndexUrl, wheels: settings.pipFindLinks !== undefined },
        npm: inputs.npm && { registry: settings.npmRegistry },
        caBundle: caFile !== undefined,
        labels: { [ENVIRONMENT_LABEL]: key },
      },
      tag,
      pipRequirements: pip && `${pip.requirements.join('\n')}\n`,
      npm: inputs.npm && { packageJson: inputs.npm.packageJson, lockfile: inputs.npm.lockfile },
      wheelDir: settings.pipFindLinks,
      caFile,
    },
  };
}

/** A wheel directory's names and sizes: a wheel added or replaced is another environment. */
async function wheelListing(dir: string): Promise<Array<[string, number]>> {
  const names = (await readdir(dir)).sort();
  return Promise.all(names.map(async (name): Promise<[string, number]> => [name, (await stat(join(dir, name))).size]));
}
