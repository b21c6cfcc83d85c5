// The run lifecycle (pending → running → terminal): submit, execute, get, list, cancel. One implementation for REST, MCP and CLI.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { SandrunError } from '../errors.ts';
import type { ProjectService } from '../projects/project-service.ts';
import { planRun } from '../projects/run-plan.ts';
import type { SandboxBackend } from '../sandbox/backend.ts';
import { isTerminal, type RunCompletion, type RunRecord, type RunStatus, type RunStore } from '../store/run-store.ts';
import type { ProjectRecord } from '../store/project-store.ts';
import type { LiveLogs } from './live-logs.ts';
import { cancelledBeforeStart, completionFromFailure, completionFromSandbox } from './run-outcome.ts';
import { parseRunRequest } from './run-request.ts';
import type { FairScheduler } from './scheduler.ts';

export type SubmitResult = { mode: 'sync'; run: RunRecord } | { mode: 'async'; run: RunRecord };

export interface RunListOptions {
  projectName?: string;
  status?: RunStatus;
  limit: number;
  cursor?: string;
}

export class RunService {
  private readonly active = new Map<string, AbortController>();
  private readonly finished = new Map<string, { promise: Promise<RunRecord>; resolve: (run: RunRecord) => void }>();

  constructor(
    private readonly runs: RunStore,
    private readonly projects: ProjectService,
    private readonly sandbox: SandboxBackend,
    private readonly scheduler: FairScheduler,
    private readonly liveLogs: LiveLogs,
    private readonly config: Pick<Config, 'defaultImage' | 'defaultLimits' | 'maxLimits'>,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Validates, resolves and records a run, queues it, and (sync) waits for its terminal state. */
  async submit(tenantId: string, input: unknown): Promise<SubmitResult> {
    const request = parseRunRequest(input);
    const project = this.projects.require(tenantId, request.project_name);
    const { commitSha, warning } = await this.projects.resolve(project, { branch: request.branch, commitSha: request.commit_sha });
    const manifest = await this.projects.manifestAt(project, commitSha);
    const plan = planRun(manifest, { scope: request.scope, modelName: request.model_name, projectName: project.name }, this.config);
    this.scheduler.assertCapacity(tenantId);
    const run = this.runs.insert(
      {
        id: randomUUID(),
        tenantId,
        projectId: project.id,
        projectName: project.name,
        scope: request.scope,
        modelName: request.scope === 'model' ? (request.model_name ?? null) : null,
        branch: request.branch ?? null,
        commitSha,
        parameters: request.parameters ?? {},
        image: plan.image,
        command: plan.command,
        limits: plan.limits,
        warning,
      },
      this.now().toISOString(),
    );
    this.logger.info({ runId: run.id, tenantId, project: project.name, runNumber: run.runNumber }, 'run queued');
    this.enqueue(run, project);
    if (request.mode === 'async') return { mode: 'async', run };
    return { mode: 'sync', run: await this.waitForTerminal(run.id) };
  }

  /** Queues a pending run (new, or found pending at start-up). */
  enqueue(run: RunRecord, project: ProjectRecord): void {
    this.trackCompletion(run.id);
    this.liveLogs.open(run.id);
    this.scheduler.enqueue({ runId: run.id, tenantId: run.tenantId, start: () => this.execute(run, project) });
  }

  private trackCompletion(runId: string): void {
    if (this.finished.has(runId)) return;
    let resolve!: (run: RunRecord) => void;
    const promise = new Promise<RunRecord>((done) => (resolve = done));
    this.finished.set(runId, { promise, resolve });
  }

  /** Resolves with the run once it is terminal. */
  async waitForTerminal(runId: string): Promise<RunRecord> {
    const current = this.runs.get(runId);
    if (!current) throw new SandrunError('not_found', `run ${runId} not found`);
    if (isTerminal(current.status)) return current;
    const waiter = this.finished.get(runId);
    if (!waiter) throw new SandrunError('internal', `run ${runId} is ${current.status} but not tracked by this server`);
    return waiter.promise;
  }

  private async execute(run: RunRecord, project: ProjectRecord): Promise<void> {
    const controller = new AbortController();
    this.active.set(run.id, controller);
    let completion: RunCompletion;
    try {
      const workspaceDir = await this.projects.checkout(project, run.commitSha);
      controller.signal.throwIfAborted();
      const result = await this.sandbox.run(
        {
          runId: run.id,
          image: run.image,
          command: run.command,
          workspaceDir,
          parameters: run.parameters,
          env: {
            SANDRUN_RUN_ID: run.id,
            SANDRUN_RUN_NUMBER: String(run.runNumber),
            SANDRUN_PROJECT: run.projectName,
            SANDRUN_MODEL: run.modelName ?? '',
            SANDRUN_COMMIT_SHA: run.commitSha,
          },
          limits: run.limits,
          labels: { 'sandrun.tenant': run.tenantId, 'sandrun.project': run.projectName },
        },
        {
          signal: controller.signal,
          onStart: (startedAt) => this.runs.markRunning(run.id, startedAt.toISOString()),
          onLog: (stream, chunk) => this.liveLogs.push(run.id, stream, chunk),
        },
      );
      completion = completionFromSandbox(result, run.limits);
    } catch (error) {
      completion = controller.signal.aborted ? cancelledBeforeStart(this.now()) : completionFromFailure(error, this.now());
      if (!controller.signal.aborted) this.logger.warn({ runId: run.id, err: error }, 'run failed on the platform side');
    } finally {
      this.active.delete(run.id);
    }
    this.finish(run.id, completion);
  }

  private finish(runId: string, completion: RunCompletion): RunRecord {
    this.runs.complete(runId, completion);
    const record = this.runs.get(runId)!;
    this.liveLogs.close(runId);
    this.finished.get(runId)?.resolve(record);
    this.finished.delete(runId);
    this.logger.info({ runId, status: record.status, exitCode: record.exitCode, durationSeconds: record.durationSeconds }, 'run finished');
    return record;
  }

  get(tenantId: string, runId: string): RunRecord {
    const run = this.runs.getForTenant(tenantId, runId);
    if (!run) throw new SandrunError('not_found', `run ${runId} not found`);
    return run;
  }

  list(tenantId: string, options: RunListOptions): { runs: RunRecord[]; nextCursor: string | null } {
    const beforeSeq = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const runs = this.runs.list({ tenantId, projectName: options.projectName, status: options.status, limit: options.limit + 1, beforeSeq });
    const page = runs.slice(0, options.limit);
    const nextCursor = runs.length > options.limit ? encodeCursor(page[page.length - 1]!.seq) : null;
    return { runs: page, nextCursor };
  }

  /** Cancels a pending or running run; 409 when it is already terminal. */
  async cancel(tenantId: string, runId: string): Promise<RunRecord> {
    const run = this.get(tenantId, runId);
    if (isTerminal(run.status)) throw new SandrunError('conflict', `run ${runId} is already ${run.status}`);
    if (this.scheduler.remove(runId)) return this.finish(runId, cancelledBeforeStart(this.now()));
    const controller = this.active.get(runId);
    if (!controller) throw new SandrunError('conflict', `run ${runId} is ${run.status} but not handled by this server`);
    controller.abort();
    return this.waitForTerminal(runId);
  }

  /** Marks a run that can no longer be carried out (reconciliation after a restart). */
  abandon(runId: string, message: string): void {
    this.runs.complete(runId, { ...completionFromFailure(new SandrunError('internal', message), this.now()), error: { code: 'server_restarted', message } });
  }

  /**
   * Stops starting runs and cancels the running ones, waiting until each is recorded; pending runs stay
   * pending and are queued again at the next start.
   */
  async shutdown(): Promise<void> {
    this.scheduler.stop();
    const recorded = [...this.active.keys()].flatMap((runId) => this.finished.get(runId)?.promise ?? []);
    for (const controller of this.active.values()) controller.abort();
    await Promise.all(recorded);
  }

  /** True while this process is carrying out the run (its container, if any, is in use). */
  isActive(runId: string): boolean {
    return this.active.has(runId);
  }
}

function encodeCursor(seq: number): string {
  return Buffer.from(`seq:${seq}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const match = /^seq:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new SandrunError('invalid_request', 'cursor: not a cursor this server returned');
  return Number(match[1]);
}
