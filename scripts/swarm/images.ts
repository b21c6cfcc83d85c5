// Copies runner images from the main engine into every cluster node (docker save | docker load): same image ID everywhere.
import type Dockerode from 'dockerode';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

async function loadInto(engine: Dockerode, file: string): Promise<void> {
  const response = await engine.loadImage(createReadStream(file), { quiet: true });
  // The engine reports a failed load inside the response body, after a 200.
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(Buffer.from(chunk as Buffer));
  const body = Buffer.concat(chunks).toString('utf8');
  if (/"error"/.test(body)) throw new Error(`docker load failed: ${body}`);
}

/** Returns each image's ID, by name, after checking every node holds exactly that ID. */
export async function loadImages(source: Dockerode, engines: Dockerode[], images: string[], workDir: string): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (const [index, image] of images.entries()) {
    const info = await source.getImage(image).inspect();
    ids[image] = info.Id;
    const file = join(workDir, `image-${index}.tar`);
    await pipeline(await source.getImage(image).get(), createWriteStream(file));
    try {
      await Promise.all(engines.map((engine) => loadInto(engine, file)));
    } finally {
      await rm(file, { force: true });
    }
    for (const engine of engines) {
      const loaded = await engine.getImage(info.Id).inspect();
      if (loaded.Id !== info.Id) throw new Error(`image ${image} loaded as ${loaded.Id}, expected ${info.Id}`);
    }
  }
  return ids;
}
