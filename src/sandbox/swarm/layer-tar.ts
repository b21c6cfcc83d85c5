// Packs a checkout directory into one image layer (a tar under workspace/), reproducibly, and hashes it as it is written.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { pack, type Headers } from 'tar-stream';

/** Fixed, so the same checkout always gives the same layer (and so the same image ID). */
const MTIME = new Date(0);
const ROOT = 'workspace';

export interface LayerFile {
  path: string;
  /** sha256:<hex> of the uncompressed tar: the layer's diff ID. */
  diffId: string;
  size: number;
}

/** Files owned by root, world-readable, executable bits kept: the run user can read but never change them. */
async function addTree(archive: ReturnType<typeof pack>, dir: string, name: string): Promise<void> {
  const common = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: MTIME };
  archive.entry({ ...common, name: `${name}/`, type: 'directory', mode: 0o755 });
  const entries = (await readdir(dir)).sort();
  for (const entry of entries) {
    const path = join(dir, entry);
    const child = `${name}/${entry}`;
    const stats = await lstat(path);
    if (stats.isDirectory()) {
      await addTree(archive, path, child);
    } else if (stats.isSymbolicLink()) {
      archive.entry({ ...common, name: child, type: 'symlink', linkname: await readlink(path), mode: 0o777 });
    } else if (stats.isFile()) {
      const header: Headers = { ...common, name: child, type: 'file', size: stats.size, mode: stats.mode & 0o111 ? 0o755 : 0o644 };
      await new Promise<void>((resolve, reject) => {
        const sink = archive.entry(header, (error) => (error ? reject(error) : resolve()));
        createReadStream(path).on('error', reject).pipe(sink);
      });
    }
    // Sockets, FIFOs and devices have no place in a checkout and are left out.
  }
}

export async function writeWorkspaceLayer(workspaceDir: string, file: string): Promise<LayerFile> {
  const archive = pack();
  const hash = createHash('sha256');
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const written = pipeline(archive, counter, createWriteStream(file));
  try {
    await addTree(archive, workspaceDir, ROOT);
    archive.finalize();
  } catch (error) {
    archive.destroy(error as Error);
  }
  await written;
  return { path: file, diffId: `sha256:${hash.digest('hex')}`, size };
}
