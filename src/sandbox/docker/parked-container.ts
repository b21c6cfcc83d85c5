// A hardened container, created, attached and started with its inputs directory, parked on the launcher until its run arrives.
import type Dockerode from 'dockerode';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { engineError } from './engine-errors.ts';
import { containerOptions, type ContainerTemplate, type HardeningSettings } from './hardening.ts';
import { LauncherSession } from './launcher-session.ts';

export interface ParkedContainer {
  /** `sandrun-<id>`; the run id for a container made for its run, `pool-<uuid>` for a warm one. */
  id: string;
  container: Dockerode.Container;
  /** Host directory of this container's own files; its `inputs/` is bind-mounted read-only at /inputs. */
  dir: string;
  /** Its stdio: the trigger goes in, the run's output and the launcher's markers come out. */
  session: LauncherSession;
}

export async function startParkedContainer(
  docker: Dockerode,
  template: ContainerTemplate,
  id: string,
  settings: HardeningSettings & { runsDir: string },
): Promise<ParkedContainer> {
  const dir = join(settings.runsDir, id);
  const inputsDir = join(dir, 'inputs');
  await mkdir(inputsDir, { recursive: true, mode: 0o755 });
  let container: Dockerode.Container | undefined;
  let session: LauncherSession | undefined;
  try {
    const options = containerOptions(template, id, inputsDir, settings);
    const created = await docker
      .createContainer(options)
      .catch(async (error: unknown) => {
        // A run retried after an engine outage may find its first container still there: it never started the command.
        if ((error as { statusCode?: number }).statusCode !== 409) throw error;
        await docker.getContainer(`sandrun-${id}`).remove({ force: true, v: true });
        return docker.createContainer(options);
      })
      .catch((error: unknown) => Promise.reject(engineError(error, `creating container sandrun-${id} from ${template.image}`)));
    container = created;
    const attached = await LauncherSession.attach(created).catch((error: unknown) => Promise.reject(engineError(error, `attaching to container sandrun-${id}`)));
    session = attached;
    await created.start().catch((error: unknown) => Promise.reject(engineError(error, `starting container sandrun-${id}`)));
    return { id, container: created, dir, session: attached };
  } catch (error) {
    session?.close();
    await container?.remove({ force: true, v: true }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Delivers a run's parameters: the container sees the file at once through its read-only bind mount. */
export async function deliverParameters(parked: ParkedContainer, parameters: Record<string, unknown>): Promise<void> {
  await writeFile(join(parked.dir, 'inputs', 'parameters.json'), JSON.stringify(parameters ?? {}), { mode: 0o644 });
}

export async function discardContainer(parked: ParkedContainer): Promise<void> {
  parked.session.close();
  await parked.container.remove({ force: true, v: true }).catch(() => undefined);
  await rm(parked.dir, { recursive: true, force: true });
}
