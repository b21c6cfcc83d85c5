// A run's workspace on any node without network: an image = runner image + the checkout as one layer, loaded into every node.
import type Dockerode from 'dockerode';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { engineError, isEngineUnreachable, isNotFound } from '../engine-errors.ts';
import { loadArchive } from './image-load.ts';
import { writeWorkspaceLayer, type LayerFile } from './layer-tar.ts';

export const WORKSPACE_IMAGE_LABEL = 'sandrun.workspace_image';

interface BaseImage {
  Id: string;
  Architecture: string;
  Os: string;
  Config: Record<string, unknown> | null;
  RootFS: { Layers?: string[] };
}

/**
 * The image config, serialised reproducibly: its sha256 is the image ID, the same on every node.
 * The base's layers are listed by diff ID only; `docker load` takes them from the node's store
 * (every node holds the runner image), so the archive carries just the workspace layer.
 */
function imageConfig(base: BaseImage, layer: LayerFile, labels: Record<string, string>): Buffer {
  const config = {
    architecture: base.Architecture,
    os: base.Os,
    created: '1970-01-01T00:00:00Z',
    config: { ...(base.Config ?? {}), Labels: { ...((base.Config?.Labels as Record<string, string> | null) ?? {}), ...labels } },
    rootfs: { type: 'layers', diff_ids: [...(base.RootFS.Layers ?? []), layer.diffId] },
  };
  return Buffer.from(JSON.stringify(config));
}

async function writeImageArchive(file: string, config: Buffer, configName: string, baseLayers: number, layer: LayerFile): Promise<void> {
  const archive = pack();
  const written = pipeline(archive, createWriteStream(file));
  const layers = [...Array.from({ length: baseLayers }, (_, i) => `base-${i}/layer.tar`), 'workspace/layer.tar'];
  archive.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: configName, RepoTags: null, Layers: layers }]));
  archive.entry({ name: configName }, config);
  await new Promise<void>((resolve, reject) => {
    const sink = archive.entry({ name: 'workspace/layer.tar', size: layer.size }, (error) => (error ? reject(error) : resolve()));
    createReadStream(layer.path).on('error', reject).pipe(sink);
  });
  archive.finalize();
  await written;
}

/** The base as the first engine that answers holds it (a node whose engine stopped is still listed until the manager sees it down). */
async function inspectBase(image: string, engines: Dockerode[]): Promise<BaseImage> {
  let failure: unknown;
  for (const engine of engines) {
    try {
      return await engine.getImage(image).inspect();
    } catch (error) {
      if (!isEngineUnreachable(error)) throw error;
      failure = error;
    }
  }
  throw failure;
}

/** The engine's filter for the workspace images made under `labels` (an instance's managed labels). */
function workspaceImageFilters(labels: Record<string, string>): { label: string[] } {
  return { label: [`${WORKSPACE_IMAGE_LABEL}=true`, ...Object.entries(labels).map(([key, value]) => `${key}=${value}`)] };
}

async function hasImage(engine: Dockerode, id: string): Promise<boolean> {
  try {
    await engine.getImage(id).inspect();
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/**
 * Removes from `nodes` the workspace images of a dead server's engine instance (`labels`: its managed labels): no process
 * leases them any more, and nothing else would ever remove them. One that a container still uses (an adopted run's task)
 * is refused by its engine and kept for the next sweep. Returns how many removals were made.
 */
export async function removeUnusedImages(labels: Record<string, string>, nodes: Dockerode[]): Promise<number> {
  const filters = workspaceImageFilters(labels);
  let removed = 0;
  for (const node of nodes) {
    const listed = (await node.listImages({ filters }).catch(() => [])) as { Id: string }[];
    for (const { Id: id } of listed) if (await node.getImage(id).remove().then(() => true, () => false)) removed += 1;
  }
  return removed;
}

/** A run's hold on its workspace image: the image is not removed before release(). */
export interface ImageLease {
  id: string;
  release(): void;
}

/**
 * Workspace images are loaded onto the nodes for the runs of a checkout and removed once no run has used them for an
 * idle time (and on close): as warm containers on the Docker backend, nothing made ahead for runs stays on an engine
 * unused. No image is removed while a run holds it, and no image is loaded or handed out while a sweep removes.
 */
export class WorkspaceImages {
  /** By base image ID and checkout directory (a checkout never changes once made): the image's ID and where it is loaded. */
  private readonly images = new Map<string, { id: string; loadedOn: Set<Dockerode> }>();
  private readonly loading = new Map<string, Promise<string>>();
  /** By image ID: runs holding it, and when the last one let go (or when a sweep first saw it, for an image of an earlier process). */
  private readonly users = new Map<string, number>();
  private readonly lastUsed = new Map<string, number>();
  /** Leases being taken (between waiting out a sweep and holding the image). */
  private taking = 0;
  private sweeping: Promise<number> | undefined;

  constructor(
    private readonly manager: Dockerode,
    private readonly workDir: string,
    private readonly labels: Record<string, string>,
  ) {}

  /** The image holding `workspaceDir` at /workspace on top of `baseImage`, present on every one of `nodes`, held until released. */
  async use(baseImage: string, workspaceDir: string, nodes: Dockerode[]): Promise<ImageLease> {
    while (this.sweeping) await this.sweeping.catch(() => 0);
    this.taking += 1;
    try {
      const id = await this.imageFor(baseImage, workspaceDir, nodes);
      this.users.set(id, (this.users.get(id) ?? 0) + 1);
      let released = false;
      return {
        id,
        release: () => {
          if (released) return;
          released = true;
          const left = (this.users.get(id) ?? 1) - 1;
          if (left > 0) this.users.set(id, left);
          else this.users.delete(id);
          this.lastUsed.set(id, Date.now());
        },
      };
    } finally {
      this.taking -= 1;
    }
  }

  /**
   * Removes from `nodes` each of this server's workspace images that no run holds and none has used for `idleMs`.
   * Skipped while a lease is being taken (the next sweep comes); an engine that refuses (a container still uses the
   * image) or does not answer keeps it for the next sweep. Returns how many removals were made.
   */
  removeIdle(idleMs: number, nodes: Dockerode[]): Promise<number> {
    if (this.sweeping || this.taking > 0) return Promise.resolve(0);
    const sweep = this.sweep(idleMs, nodes).finally(() => (this.sweeping = undefined));
    this.sweeping = sweep;
    return sweep;
  }

  private async sweep(idleMs: number, nodes: Dockerode[]): Promise<number> {
    const now = Date.now();
    const present = new Set<string>();
    let removed = 0;
    const filters = workspaceImageFilters(this.labels);
    for (const node of nodes) {
      const listed = (await node.listImages({ filters }).catch(() => undefined)) as { Id: string }[] | undefined;
      if (!listed) continue;
      for (const { Id: id } of listed) {
        if (!this.lastUsed.has(id)) this.lastUsed.set(id, now);
        const idle = !this.users.has(id) && now - this.lastUsed.get(id)! >= idleMs;
        if (idle && (await node.getImage(id).remove().then(() => true, () => false))) {
          removed += 1;
          for (const [key, image] of this.images) if (image.id === id) this.images.delete(key);
        } else {
          present.add(id);
        }
      }
    }
    for (const id of this.lastUsed.keys()) if (!present.has(id) && !this.users.has(id)) this.lastUsed.delete(id);
    return removed;
  }

  private async imageFor(baseImage: string, workspaceDir: string, nodes: Dockerode[]): Promise<string> {
    const key = `${baseImage}\0${workspaceDir}`;
    const known = this.images.get(key);
    if (known && nodes.every((node) => known.loadedOn.has(node))) return known.id;
    let loading = this.loading.get(key);
    if (!loading) {
      loading = this.load(key, baseImage, workspaceDir, nodes).finally(() => this.loading.delete(key));
      this.loading.set(key, loading);
    }
    return loading;
  }
  private async load(key: string, baseImage: string, workspaceDir: string, nodes: Dockerode[]): Promise<string> {
    await mkdir(this.workDir, { recursive: true });
    const dir = await mkdtemp(join(this.workDir, 'image-'));
    try {
      // As a node holds it (every node holds the base: runner images by the operator, environment images shipped
      // before), not the manager, which need not run tasks nor hold environment images.
      const base = await inspectBase(baseImage, [...nodes, this.manager]);
      const layer = await writeWorkspaceLayer(workspaceDir, join(dir, 'layer.tar'));
      const config = imageConfig(base, layer, { ...this.labels, [WORKSPACE_IMAGE_LABEL]: 'true' });
      const id = `sha256:${createHash('sha256').update(config).digest('hex')}`;
      const archive = join(dir, 'image.tar');
      let written: Promise<void> | undefined;
      const loadedOn = new Set<Dockerode>();
      await Promise.all(
        nodes.map(async (node) => {
          if (!(await hasImage(node, id))) {
            written ??= writeImageArchive(archive, config, `${id.slice(7)}.json`, base.RootFS.Layers?.length ?? 0, layer);
            await written;
            await loadArchive(node, archive);
          }
          loadedOn.add(node);
        }),
      );
      this.images.set(key, { id, loadedOn });
      return id;
    } catch (error) {
      throw engineError(error, `loading the workspace image of ${workspaceDir} onto the swarm's nodes`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
