// What one run executes: image, command and limits from a resolved manifest, capped by the server's maximums.
import type { RunLimits } from '../run-limits.ts';
import { SandrunError } from '../errors.ts';
import type { ManifestLimits, ResolvedManifest } from './manifest.ts';
import { shellQuote } from '../shell-quote.ts';

export interface RunTarget {
  scope: 'project' | 'model';
  modelName?: string | null;
  /** For messages. */
  projectName?: string;
}

export interface ServerRunSettings {
  defaultImage: string;
  defaultLimits: RunLimits;
  maxLimits: RunLimits;
  /** The fewest pids the runtime can start a run with (gVisor's own threads count): a manifest asking fewer is refused. */
  minPids: number;
}

export interface RunPlan {
  image: string;
  command: string[];
  limits: RunLimits;
}

/**
 * Model scope: the model's command, its image (else the manifest's, else the server default) and its limits
 * (model keys over manifest `limits` over server defaults). Project scope: the manifest `command`, or else every
 * model in manifest order in one container, stopping at the first failure. A project run has the project's
 * limits: its timeout covers the whole chain (not a sum of the models' timeouts), and per-model limit keys do
 * not apply to it. Every limit is capped at the server maximum.
 */
export function planRun(manifest: ResolvedManifest, target: RunTarget, server: ServerRunSettings): RunPlan {
  const project = target.projectName ? `project '${target.projectName}'` : 'the project';
  const projectImage = manifest.image ?? server.defaultImage;
  if (target.scope === 'model') {
    if (!target.modelName) throw new SandrunError('invalid_request', "model_name is required when scope='model'");
    const model = manifest.models.get(target.modelName);
    if (!model) {
      const names = [...manifest.models.keys()];
      const known = names.length > 0 ? `its models are: ${names.join(', ')}` : 'it has no models';
      throw new SandrunError('not_found', `model '${target.modelName}' not found in ${project}; ${known}`, { models: names });
    }
    return { image: model.image ?? projectImage, command: [...model.command], limits: effectiveLimits([model, manifest.limits], server) };
  }
  const projectLimits = effectiveLimits([manifest.limits], server);
  if (manifest.command) return { image: projectImage, command: [...manifest.command], limits: projectLimits };
  if (manifest.models.size === 0) {
    throw new SandrunError('manifest_invalid', `${project} has no command and no models; nothing to run (add a command to sandrun.yaml or a models/NAME.py file)`);
  }
  for (const [name, model] of manifest.models) {
    if (model.image !== undefined && model.image !== projectImage) {
      throw new SandrunError(
        'manifest_invalid',
        `${project} has no command, so its models run together in one ${projectImage} container, but model '${name}' needs image ${model.image}; add a project command to sandrun.yaml or run the models one by one`,
      );
    }
  }
  const chain = [...manifest.models.values()].map((model) => model.command.map(shellQuote).join(' ')).join(' && ');
  return { image: projectImage, command: ['/bin/sh', '-c', chain], limits: projectLimits };
}

/** The first layer that sets a limit wins, then the server default; the server maximum caps it. */
function effectiveLimits(layers: ReadonlyArray<ManifestLimits | undefined>, server: ServerRunSettings): RunLimits {
  const pick = (key: keyof NonNullable<ManifestLimits>): number | undefined => layers.find((layer) => layer?.[key] !== undefined)?.[key];
  const { defaultLimits: base, maxLimits: max } = server;
  const pids = pick('pids');
  if (pids !== undefined && pids < server.minPids) {
    throw new SandrunError(
      'manifest_invalid',
      `sandrun.yaml: pids ${pids} is below ${server.minPids}, the fewest this server's runtime (gVisor) can start a run with: its own threads count against the limit; ask for at least ${server.minPids}`,
      { field: 'pids', value: pids, min: server.minPids },
    );
  }
  return {
    timeoutSeconds: Math.min(pick('timeout_seconds') ?? base.timeoutSeconds, max.timeoutSeconds),
    memoryMb: Math.min(pick('memory_mb') ?? base.memoryMb, max.memoryMb),
    cpus: Math.min(pick('cpus') ?? base.cpus, max.cpus),
    pids: Math.min(pick('pids') ?? base.pids, max.pids),
  };
}

