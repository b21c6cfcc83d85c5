// A run's artifacts for readers (REST, MCP): found by tenant, run and path, their bytes opened from the store of blobs.
import type { Readable } from 'node:stream';
import type { Artifact } from '../artifacts/artifact-types.ts';
import type { ArtifactBlobs } from '../artifacts/artifact-blobs.ts';
import { SandrunError } from '../errors.ts';
import type { RunStore } from '../store/run-store.ts';

export class RunArtifacts {
  constructor(
    private readonly runs: RunStore,
    private readonly blobs: ArtifactBlobs,
  ) {}

  /** One artifact's record; 404 for another tenant's run, an unknown run or an unknown path. */
  async find(tenantId: string, runId: string, path: string): Promise<Artifact> {
    if (!(await this.runs.getForTenant(tenantId, runId))) throw new SandrunError('not_found', `run ${runId} not found`);
    const artifact = await this.runs.artifacts.find(tenantId, runId, path);
    if (!artifact) throw new SandrunError('not_found', `run ${runId} has no artifact ${JSON.stringify(path)}`);
    return artifact;
  }

  /** The artifact and a stream of its bytes (the caller consumes or destroys it). */
  async open(tenantId: string, runId: string, path: string): Promise<{ artifact: Artifact; content: Readable }> {
    const artifact = await this.find(tenantId, runId, path);
    const content = await this.blobs.open(artifact.sha256);
    // Its row outlived its bytes (removed by hand, a disk restored from an older backup): said, not served empty.
    if (!content) throw new SandrunError('not_found', `the bytes of artifact ${JSON.stringify(path)} of run ${runId} are no longer stored`);
    return { artifact, content };
  }

  /** The tenant's recent runs' artifacts, newest run first, at most `limit` (MCP resources/list). */
  async recent(tenantId: string, limit: number, runsToLook: number): Promise<{ runId: string; artifact: Artifact }[]> {
    const found: { runId: string; artifact: Artifact }[] = [];
    for (const run of await this.runs.list({ tenantId, limit: runsToLook })) {
      for (const artifact of run.artifacts) {
        if (found.length >= limit) return found;
        found.push({ runId: run.id, artifact });
      }
    }
    return found;
  }
}
