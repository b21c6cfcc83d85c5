// An environment's identity and build (SPEC §9): its key (the tenant, the base image's ID, the checked inputs and the
// package sources), its image tag, and the build the engine is given.
import { createHash } from 'node:crypto';
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

/** The pip part of an environment: none when its requirements file lists nothing. */
export function pipOf(inputs: EnvironmentInputs): EnvironmentInputs['pip'] {
  return inputs.pip && inputs.pip.requirements.length > 0 ? inputs.pip : null;
}

/**
 * `wheels`: the wheel directory's names and sizes (wheel-listing.ts) when the environment has pip and the operator a
 * wheel directory, else null; a wheel added or replaced is another environment.
 */
export function resolveEnvironment(input: {
  tenantId: string;
  base: BaseImage;
  inputs: EnvironmentInputs;
  wheels: Array<[string, number]> | null;
  settings: BuildSettings;
  caFile: string | undefined;
}): ResolvedEnvironment {
  const { tenantId, base, inputs, wheels, settings, caFile } = input;
  const pip = pipOf(inputs);
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
