// Environment images on the swarm's nodes: built on one engine (the source), shipped to each node that lacks one by `docker save` | `docker load`.
import type Dockerode from 'dockerode';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { SandrunError } from '../../errors.ts';
import { ENVIRONMENT_LABEL } from '../environment-build.ts';
import { engineError, isEngineUnreachable, isNotFound } from '../engine-errors.ts';
import { loadArchive } from './image-load.ts';
import { writeSlimArchive } from './slim-archive.ts';
import type { SwarmNode } from './swarm-nodes.ts';

const KINDS_CACHE_SIZE = 256;

interface InspectedImage {
  Id: string;
  Config?: { Labels?: Record<string, string> | null } | null;
  RootFS: { Layers?: string[] };
}

async function inspect(engine: Dockerode, image: string, where: string): Promise<InspectedImage | undefined> {
  try {
    return (await engine.getImage(image).inspect());
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw engineError(error, `inspecting image ${image} on ${where}`);
  }
}

/** An archive file shared by the loads under way, removed when the last is done. */
interface Archive {
  file: Promise<string>;
  users: number;
}

/**
 * Puts environment images on the nodes: the source's `docker save` of the image, less the layers the node already
 * holds (those of the base runner image it was built from, as a rule), loaded into each node that lacks the image (it
 * keeps its ID). Each archive is written once however many nodes load it at a time, and each node loads an image at
 * most once at a time.
 */
export class EnvironmentDistribution {
  /** By node ID and image: the load under way. */
  private readonly loading = new Map<string, Promise<void>>();
  /** By image: the source's inspection of an environment image, undefined for any other image. */
  private readonly kinds = new Map<string, Promise<InspectedImage | undefined>>();
  /** By image and the number of its layers left out. */
  private readonly archives = new Map<string, Archive>();

  constructor(
    private readonly source: Dockerode,
    private readonly workDir: string,
  ) {}

  /**
   * Makes `image` present on every one of `nodes` when it is an environment image of the source; any other image
   * (a runner image, which the operator loads on every node) is left as it is. Returns how many nodes lacked it.
   */
  async ensure(image: string, nodes: SwarmNode[]): Promise<number> {
    // A runner image is the operator's to load: no node is asked about it (a run of one costs no call here).
    const source = await this.environmentImage(image);
    if (!source) return 0;
    const lacking = (await Promise.all(nodes.map(async (node) => ((await this.holds(node, image)) ? undefined : node)))).filter(
      (node): node is SwarmNode => node !== undefined,
    );
    await Promise.all(lacking.map((node) => this.loadOnce(image, source, node)));
    return lacking.length;
  }

  /** The source's ID of `image` when it is an environment image (the ID it keeps on every node), else undefined. */
  async environmentImageId(image: string): Promise<string | undefined> {
    return (await this.environmentImage(image))?.Id;
  }

  /** An image removed from the source: a later one of the same tag is another image. */
  forget(image: string): void {
    this.kinds.delete(image);
  }

  /** The source's image when it is an environment image; an image's labels never change, so each is asked once. */
  private async environmentImage(image: string): Promise<InspectedImage | undefined> {
    let known = this.kinds.get(image);
    if (!known) {
      known = inspect(this.source, image, 'the engine environments are built on').then((found) => (found?.Config?.Labels?.[ENVIRONMENT_LABEL] ? found : undefined));
      // Only an answer is kept: an image not built yet, or an engine that did not answer, is asked again.
      known.then(
        (found) => (found ? undefined : this.kinds.delete(image)),
        () => this.kinds.delete(image),
      );
      if (this.kinds.size >= KINDS_CACHE_SIZE) this.kinds.delete(this.kinds.keys().next().value!);
      this.kinds.set(image, known);
    }
    return known;
  }

  /**
   * Whether the node holds the image. A node whose engine does not answer is left out (true): the manager still counts
   * it ready until its heartbeats stop, and a run placed on the other nodes must not fail for it.
   */
  private async holds(node: SwarmNode, image: string): Promise<boolean> {
    try {
      return (await inspect(node.engine, image, `swarm node ${node.label}`)) !== undefined;
    } catch (error) {
      if (isEngineUnreachable(error)) return true;
      throw error;
    }
  }

  private loadOnce(image: string, source: InspectedImage, node: SwarmNode): Promise<void> {
    const key = `${node.nodeId}\0${image}`;
    let loading = this.loading.get(key);
    if (!loading) {
      loading = this.load(image, source, node).finally(() => this.loading.delete(key));
      this.loading.set(key, loading);
    }
    return loading;
  }

  private async load(image: string, source: InspectedImage, node: SwarmNode): Promise<void> {
    const where = `swarm node ${node.label}`;
    // Another load of this node may have finished between the check and now.
    if ((await inspect(node.engine, image, where))?.Id === source.Id) return;
    const archive = this.takeArchive(image, await this.heldLayers(image, source, node));
    try {
      await loadArchive(node.engine, await archive.file);
    } catch (error) {
      throw engineError(error, `loading environment image ${image} onto ${where}`);
    } finally {
      await this.releaseArchive(archive);
    }
    const loaded = await inspect(node.engine, image, where);
    if (loaded?.Id !== source.Id) throw new SandrunError('engine_unavailable', `environment image ${image} loaded onto ${where} as ${loaded?.Id ?? 'nothing'}, not ${source.Id}`);
  }

  /**
   * How many of the image's first layers the node holds: those of its nearest ancestor (by the source's history, in
   * which the base image the environment was built from is named) that the node has.
   */
  private async heldLayers(image: string, source: InspectedImage, node: SwarmNode): Promise<number> {
    const layers = source.RootFS.Layers ?? [];
    let history: { Id: string }[];
    try {
      history = (await this.source.getImage(image).history()) as { Id: string }[];
    } catch (error) {
      throw engineError(error, `reading the history of environment image ${image}`);
    }
    for (const { Id: id } of history.slice(1)) {
      if (!id.startsWith('sha256:')) continue;
      const held = (await inspect(node.engine, id, `swarm node ${node.label}`))?.RootFS.Layers ?? [];
      if (held.length > 0 && held.every((layer, i) => layers[i] === layer)) return held.length;
    }
    return 0;
  }

  private takeArchive(image: string, held: number): Archive {
    const key = `${image}\0${held}`;
    let archive = this.archives.get(key);
    if (!archive) {
      const made: Archive = { file: held === 0 ? this.save(image) : this.slim(image, held), users: 0 };
      // A failed archive is not kept for the next loads: they try again.
      made.file.catch(() => this.archives.get(key) === made && this.archives.delete(key));
      this.archives.set(key, made);
      archive = made;
    }
    archive.users += 1;
    return archive;
  }

  private async releaseArchive(archive: Archive): Promise<void> {
    archive.users -= 1;
    if (archive.users > 0) return;
    for (const [key, value] of this.archives) if (value === archive) this.archives.delete(key);
    const file = await archive.file.catch(() => undefined);
    if (file) await rm(dirname(file), { recursive: true, force: true });
  }

  private async save(image: string): Promise<string> {
    return this.inNewDir(async (file) => {
      try {
        await pipeline(await this.source.getImage(image).get(), createWriteStream(file));
      } catch (error) {
        throw engineError(error, `saving environment image ${image} from the engine environments are built on`);
      }
    });
  }

  /** The whole archive, less the files of the first `held` layers. */
  private async slim(image: string, held: number): Promise<string> {
    const whole = this.takeArchive(image, 0);
    try {
      const from = await whole.file;
      return await this.inNewDir((file) => writeSlimArchive(from, file, held));
    } finally {
      await this.releaseArchive(whole);
    }
  }

  private async inNewDir(write: (file: string) => Promise<void>): Promise<string> {
    await mkdir(this.workDir, { recursive: true });
    const dir = await mkdtemp(join(this.workDir, 'environment-'));
    const file = join(dir, 'image.tar');
    try {
      await write(file);
      return file;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }
}
