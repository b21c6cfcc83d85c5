// What a repository takes on disk: a commit's files as a checkout would write them (read from git's trees, nothing written), and a directory's bytes.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { GitRunner } from './git.ts';

export interface Caps {
  maxBytes: number;
  maxFiles: number;
}

export interface Measured {
  bytes: number;
  files: number;
  /** True once either cap was passed; counting stopped there, so bytes and files are lower bounds. */
  exceeded: boolean;
}

const TREE_TIMEOUT_MS = 5 * 60_000;

/**
 * The files of `commitSha` in the bare repository `gitDir`, from `git ls-tree -r -l`: every blob's size and how many
 * there are, so that a small repository that expands to gigabytes or millions of files (one blob repeated, trees that
 * share subtrees) is measured without writing a byte. Submodules (no blob) count as nothing, as `git archive` writes them.
 */
export async function measureTree(git: GitRunner, gitDir: string, commitSha: string, caps: Caps): Promise<Measured> {
  const measured: Measured = { bytes: 0, files: 0, exceeded: false };
  await git.streamRecords(
    ['--git-dir', gitDir, 'ls-tree', '-r', '-l', '-z', '--full-tree', commitSha],
    `measuring the files of commit ${commitSha}`,
    (record) => {
      // "<mode> <type> <object> <size>\t<path>", the size right-aligned with spaces.
      const [, type = '', , size = ''] = record.slice(0, record.indexOf('\t')).split(/ +/);
      if (type !== 'blob') return;
      measured.files += 1;
      measured.bytes += Number(size);
      if (measured.files > caps.maxFiles || measured.bytes > caps.maxBytes) {
        measured.exceeded = true;
        return 'stop';
      }
    },
    { timeoutMs: TREE_TIMEOUT_MS },
  );
  return measured;
}

/** The bytes of the regular files under `dir` (symlinks not followed); stops once past `maxBytes`. */
export async function directoryBytes(dir: string, maxBytes: number): Promise<{ bytes: number; exceeded: boolean }> {
  let bytes = 0;
  const pending = [dir];
  for (let current = pending.pop(); current !== undefined; current = pending.pop()) {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) pending.push(path);
      else if (entry.isFile()) bytes += (await lstat(path)).size;
      if (bytes > maxBytes) return { bytes, exceeded: true };
    }
  }
  return { bytes, exceeded: false };
}
