// Runner images stripped of what the launcher relies on: sandrun's Python image without its shells (and tar), as a
// distroless image is, or without tar alone.
import { execFileSync } from 'node:child_process';

const SHELLS_AND_TAR = ['/usr/bin/sh', '/usr/bin/dash', '/usr/bin/bash', '/usr/bin/rbash', '/usr/bin/tar'];

/** Builds the Python image without the given files, under a tag of this test process's own; remove it with removeImage. */
function buildImageWithout(name: string, paths: string[]): string {
  const tag = `sandrun-test/${name}:${process.pid}`;
  // The exec form needs no shell: python removes the files.
  const remove = `import os\\nfor p in ${JSON.stringify(paths).replaceAll('"', "'")}:\\n    os.path.lexists(p) and os.remove(p)`;
  const dockerfile = ['FROM sandrun/python:3.11', 'USER root', `RUN ["python3", "-c", "${remove}"]`, 'USER 10001:10001'].join('\n');
  execFileSync('docker', ['build', '-q', '--force-rm', '-t', tag, '-'], { input: dockerfile, env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['pipe', 'ignore', 'inherit'] });
  return tag;
}

export function buildNoShellImage(name: string): string {
  return buildImageWithout(name, SHELLS_AND_TAR);
}

export function buildNoTarImage(name: string): string {
  return buildImageWithout(name, ['/usr/bin/tar']);
}

export function removeImage(tag: string): void {
  execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
}
