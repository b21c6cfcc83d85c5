// A `docker save` archive without the files of the layers a node already holds: `docker load` takes those from its store.
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { extract, pack } from 'tar-stream';

interface ManifestEntry {
  Layers: string[];
}

/** The archive's manifest.json (docker writes it after the layers, so the archive is read once to find it). */
async function readManifest(file: string): Promise<ManifestEntry[]> {
  let manifest: ManifestEntry[] | undefined;
  const reader = extract();
  reader.on('entry', (header, stream, next) => {
    if (header.name !== 'manifest.json') {
      stream.on('end', next).resume();
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      manifest = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ManifestEntry[];
      next();
    });
  });
  await pipeline(createReadStream(file), reader);
  if (!manifest || manifest.length !== 1) throw new Error(`${file} is not a docker save archive of one image`);
  return manifest;
}

/** Writes `file` to `out` without the files of the image's first `held` layers. */
export async function writeSlimArchive(file: string, out: string, held: number): Promise<void> {
  const [image] = await readManifest(file);
  const dropped = new Set(image!.Layers.slice(0, held));
  const reader = extract();
  const writer = pack();
  reader.on('entry', (header, stream, next) => {
    if (dropped.has(header.name)) {
      stream.on('end', next).resume();
      return;
    }
    stream.pipe(writer.entry(header, next));
  });
  reader.on('finish', () => writer.finalize());
  reader.on('error', (error: Error) => writer.destroy(error));
  await Promise.all([pipeline(createReadStream(file), reader), pipeline(writer, createWriteStream(out))]);
}
