// Environment images on the swarm's nodes: built on one engine (the source), shipped to each node that lacks one by `docker save` | `docker load`.
import type Dockerode from 'dockerode';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { SandrunError } from '../../errors.ts';
import { ENVIRONMENT_LABEL } from '../environment-build.ts';
import { engineError, isNotFound } from '../engine-errors.ts';
import { loadArchive } from './image-load.ts';
import type { SwarmNode } from './swarm-nodes.ts';

interface InspectedImage {
  Id: string;
  Config?: { Labels?: Record<string, string> | null } | null;
}

async function inspect(engine: Dockerode, image: string, where: string): Promise<InspectedImage | undefined> {
  try {
    return (await engine.getImage(image).inspect());
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw engineError(error, `inspecting image ${image} on ${where}`);
  }
}

/** A saved image shared by the loads under way, removed when the last is done. */
interface Archive {
  file: Promise<string>;
  users: number;
}

/**
 * Puts environment images on the nodes: a whole `docker save` of the source's image, loaded into each node that lacks
 * it (the image keeps its ID; its layers include the base's, so a node needs nothing beforehand). Each image is saved
 * once however many nodes load it at a time, and loaded at most once at a time per node.
 */
export class EnvironmentDistribution {
  /** By node ID and image: the load under way. */
  private readonly loading = new Map<string, Promise<void>>();
  private readonly archives = new Map<string, Archive>();

  constructor(
    private readonly source: Dockerode,
    private readonly workDir: string,
  ) {}

  /**
   * Makes `image` present on every one of `nodes` when it is an environment image of the source; any other image
   * (a runner image, which the operator loads on every node) is left as it is. Returns how many nodes it was loaded into.
   */
  async ensure(image: string, nodes: SwarmNode[]): Promise<number> {
    const lacking = (await Promise.all(nodes.map(async (node) => ((await inspect(node.engine, image, `swarm node ${node.label}`)) ? undefined : node)))).filter(
      (node): node is SwarmNode => node !== undefined,
    );
    if (lacking.length === 0) return 0;
    const source = await inspect(this.source, image, 'the engine environments are built on');
    if (!source?.Config?.Labels?.[ENVIRONMENT_LABEL]) return 0;
    await Promise.all(lacking.map((node) => this.loadOnce(image, source.Id, node)));
    return lacking.length;
  }

  private loadOnce(image: string, imageId: string, node: SwarmNode): Promise<void> {
    const key = `${node.nodeId}\0${image}`;
    let loading = this.loading.get(key);
    if (!loading) {
      loading = this.load(image, imageId, node).finally(() => this.loading.delete(key));
      this.loading.set(key, loading);
    }
    return loading;
  }

  private async load(image: string, imageId: string, node: SwarmNode): Promise<void> {
    // Another load of this node may have finished between the check and now.
    if ((await inspect(node.engine, image, `swarm node ${node.label}`))?.Id === imageId) return;
    const archive = this.takeArchive(image);
    try {
      await loadArchive(node.engine, await archive.file);
    } catch (error) {
      throw engineError(error, `loading environment image ${image} onto swarm node ${node.label}`);
    } finally {
      await this.releaseArchive(image, archive);
    }
    const loaded = await inspect(node.engine, image, `swarm node ${node.label}`);
    if (loaded?.Id !== imageId) {
      throw new SandrunError('engine_unavailable', `environment image ${image} loaded onto swarm node ${node.label} as ${loaded?.Id ?? 'nothing'}, not ${imageId}`);
    }
  }

  private takeArchive(image: string): Archive {
    let archive = this.archives.get(image);
    if (!archive) {
      const made: Archive = { file: this.save(image), users: 0 };
      // A failed save is not kept for the next loads: they try again.
      made.file.catch(() => this.archives.get(image) === made && this.archives.delete(image));
      this.archives.set(image, made);
      archive = made;
    }
    archive.users += 1;
    return archive;
  }

  private async releaseArchive(image: string, archive: Archive): Promise<void> {
    archive.users -= 1;
    if (archive.users > 0) return;
    if (this.archives.get(image) === archive) this.archives.delete(image);
    const file = await archive.file.catch(() => undefined);
    if (file) await rm(dirname(file), { recursive: true, force: true });
  }

  private async save(image: string): Promise<string> {
    await mkdir(this.workDir, { recursive: true });
    const dir = await mkdtemp(join(this.workDir, 'environment-'));
    const file = join(dir, 'image.tar');
    try {
      await pipeline(await this.source.getImage(image).get(), createWriteStream(file));
      return file;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw engineError(error, `saving environment image ${image} from the engine environments are built on`);
    }
  }
}
