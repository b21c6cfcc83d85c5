// A hardened container, created, attached and started with its inputs (and secrets) directory, parked on the launcher until its run arrives.
import type Dockerode from 'dockerode';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { engineError } from '../engine-errors.ts';
import { type HardeningSettings } from '../container-layout.ts';
import { containerOptions, type ContainerTemplate } from './hardening.ts';
import { LauncherSession } from './launcher-session.ts';
import { createReplacing } from './create-replacing.ts';
import type { SecretFiles } from './secret-files.ts';
import { noEgressProxy, type EgressGateway } from './egress-gateway.ts';

export interface ParkedContainer {
  /** `sandrun-<id>`; the run id for a container made for its run, `pool-<uuid>` for a warm one. */
  id: string;
  container: Dockerode.Container;
  /** Host directory of this container's own files; its `inputs/` is bind-mounted read-only at /inputs. */
  dir: string;
  /** Host directory (on a tmpfs) mounted read-only at /run/secrets, for a template with secrets; filled at hand-over. */
  secretsDir?: string;
  /** Its own egress network, for a template with network; removed with it. */
  egress?: EgressGateway;
  /** Its stdio: the trigger goes in, the run's output and the launcher's markers come out. */
  session: LauncherSession;
}

export async function startParkedContainer(
  docker: Dockerode,
  template: ContainerTemplate,
  id: string,
  settings: HardeningSettings & { runsDir: string },
  secretFiles: SecretFiles,
  egress?: EgressGateway,
): Promise<ParkedContainer> {
  const dir = join(settings.runsDir, id);
  const inputsDir = join(dir, 'inputs');
  await mkdir(inputsDir, { recursive: true, mode: 0o755 });
  let container: Dockerode.Container | undefined;
  let session: LauncherSession | undefined;
  let secretsDir: string | undefined;
  let network: string | undefined;
  try {
    if (template.withSecrets) secretsDir = await secretFiles.prepare(id);
    if (template.withNetwork) {
      if (!egress) throw noEgressProxy();
      network = await egress.attach(id);
    }
    const created = await createReplacing(docker, containerOptions(template, id, { inputs: inputsDir, secrets: secretsDir, network }, settings)).catch((error: unknown) =>
      Promise.reject(engineError(error, `creating container sandrun-${id} from ${template.image}`)),
    );
    container = created;
    const attached = await LauncherSession.attach(created).catch((error: unknown) => Promise.reject(engineError(error, `attaching to container sandrun-${id}`)));
    session = attached;
    await created.start().catch((error: unknown) => Promise.reject(engineError(error, `starting container sandrun-${id}`)));
    return { id, container: created, dir, ...(secretsDir ? { secretsDir } : {}), ...(network ? { egress } : {}), session: attached };
  } catch (error) {
    session?.close();
    await container?.remove({ force: true, v: true }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    if (secretsDir) await rm(secretsDir, { recursive: true, force: true });
    // A network left by a failed release is the reaper's (it sweeps networks no container uses).
    if (network) await egress?.release(id).catch(() => undefined);
    throw error;
  }
}

/** Writes a run's parameters into a container's inputs directory, which it sees at once through its read-only bind mount. */
export async function writeParameters(inputsDir: string, parameters: Record<string, unknown>): Promise<void> {
  await writeFile(join(inputsDir, 'parameters.json'), JSON.stringify(parameters ?? {}), { mode: 0o644 });
}

/** Delivers a run's parameters to its parked container. */
export async function deliverParameters(parked: ParkedContainer, parameters: Record<string, unknown>): Promise<void> {
  await writeParameters(join(parked.dir, 'inputs'), parameters);
}

export async function discardContainer(parked: ParkedContainer): Promise<void> {
  parked.session.close();
  await parked.container.remove({ force: true, v: true }).catch(() => undefined);
  await rm(parked.dir, { recursive: true, force: true });
  if (parked.secretsDir) await rm(parked.secretsDir, { recursive: true, force: true });
  await parked.egress?.release(parked.id).catch(() => undefined);
}
