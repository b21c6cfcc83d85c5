// YAML parsed off the event loop: one worker thread, bounded in time, heap and stack, replaced when a parse breaks it.
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { PACKAGE_ROOT } from '../package-root.ts';
import { SandrunError, errorMessage } from '../errors.ts';

// Plain JavaScript in src/ (as the console's assets are), loaded from there whether the server runs from src/ or dist/.
const WORKER_FILE = join(PACKAGE_ROOT, 'src', 'projects', 'yaml-worker.js');

export type YamlParse =
  | { kind: 'parsed'; value: unknown; lines: Map<string, number> }
  | { kind: 'syntax'; line: number; message: string }
  | { kind: 'refused'; reason: string };

const workerAnswer = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('parsed'), value: z.unknown(), lines: z.array(z.tuple([z.string(), z.number()])) }),
  z.object({ kind: z.literal('syntax'), line: z.number(), message: z.string() }),
  z.object({ kind: z.literal('refused'), reason: z.string() }),
]);

export interface YamlParserLimits {
  /** A parse still running after this long is stopped (the worker with it). */
  timeoutMs: number;
  /** The worker's old-generation heap. */
  maxHeapMb: number;
  /** The worker's stack: nesting deeper than it allows is refused rather than parsed. */
  stackMb: number;
  /** Alias expansions per document (the yaml package's guard against a billion-laughs document). */
  maxAliasCount: number;
}

/**
 * The yaml package spends seconds on some small documents (10 KB of `- - - -` blocks its thread ~2 s, then overflows
 * the stack; 10,000 keys take ~1 s), so no tenant's text is parsed on the server's own thread. Real manifests are a
 * few hundred bytes and parse in milliseconds; these bounds are far above what they need.
 */
export const DEFAULT_YAML_LIMITS: YamlParserLimits = { timeoutMs: 5_000, maxHeapMb: 64, stackMb: 2, maxAliasCount: 100 };

export class YamlParser {
  private worker: Worker | undefined;
  /** One parse at a time: the worker is single-threaded anyway, and a queue keeps answers with their texts. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly limits: YamlParserLimits = DEFAULT_YAML_LIMITS) {}

  /** Parses `text` as one YAML document; what no parse may do (run too long, nest too deep, expand too much) is `refused`. */
  parse(text: string): Promise<YamlParse> {
    const answer = this.queue.then(() => this.parseNow(text));
    this.queue = answer.catch(() => undefined);
    return answer;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    const { maxHeapMb, stackMb, maxAliasCount } = this.limits;
    const worker = new Worker(WORKER_FILE, {
      workerData: { maxAliasCount },
      resourceLimits: { maxOldGenerationSizeMb: maxHeapMb, maxYoungGenerationSizeMb: Math.max(1, Math.floor(maxHeapMb / 4)), stackSizeMb: stackMb },
    });
    // An idle parser does not keep the process alive; one that died between parses is replaced at the next.
    worker.unref();
    worker.once('exit', () => {
      if (this.worker === worker) this.worker = undefined;
    });
    this.worker = worker;
    return worker;
  }

  private parseNow(text: string): Promise<YamlParse> {
    const { timeoutMs, maxHeapMb } = this.limits;
    const worker = this.worker ?? this.start();
    return new Promise<YamlParse>((resolve, reject) => {
      const detach = () => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      // A worker that timed out, ran out of memory or died is not used again.
      const discard = () => {
        detach();
        if (this.worker === worker) this.worker = undefined;
        void worker.terminate();
      };
      const onMessage = (message: unknown) => {
        detach();
        const parsed = workerAnswer.safeParse(message);
        if (!parsed.success) reject(new SandrunError('internal', `the YAML worker answered with an unexpected message: ${parsed.error.message}`));
        else resolve(parsed.data.kind === 'parsed' ? { ...parsed.data, lines: new Map(parsed.data.lines) } : parsed.data);
      };
      const onError = (error: Error & { code?: string }) => {
        discard();
        if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') resolve({ kind: 'refused', reason: `parsing it needs more than ${maxHeapMb} MB of memory` });
        else reject(new SandrunError('internal', `parsing YAML in a worker failed: ${errorMessage(error)}`, undefined, { cause: error }));
      };
      const onExit = (code: number) => {
        discard();
        reject(new SandrunError('internal', `the YAML worker exited with code ${code} without an answer`));
      };
      const timer = setTimeout(() => {
        discard();
        resolve({ kind: 'refused', reason: `parsing it took longer than ${timeoutMs / 1000} s` });
      }, timeoutMs);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage(text);
    });
  }
}
