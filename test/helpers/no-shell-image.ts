// An image without a shell, as a distroless one: sandrun's Python image with every shell (and tar) removed.
import { execFileSync } from 'node:child_process';

const DOCKERFILE = [
  'FROM sandrun/python:3.11',
  'USER root',
  `RUN ["python3", "-c", "import os\\nfor p in ['/usr/bin/sh', '/usr/bin/dash', '/usr/bin/bash', '/usr/bin/rbash', '/usr/bin/tar']:\\n    os.path.lexists(p) and os.remove(p)"]`,
  'USER 10001:10001',
].join('\n');

/** Builds it under a tag of this test process's own; remove it with removeImage. */
export function buildNoShellImage(name: string): string {
  const tag = `sandrun-test/${name}:${process.pid}`;
  execFileSync('docker', ['build', '-q', '--force-rm', '-t', tag, '-'], { input: DOCKERFILE, env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['pipe', 'ignore', 'inherit'] });
  return tag;
}

export function removeImage(tag: string): void {
  execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
}
