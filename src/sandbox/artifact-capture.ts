// A run's files under /outputs kept as they stream out of the tar: secrets redacted from every text file, then handed to the sink.
import { contentTypeOf, isRedactable, type Artifact } from '../artifacts/artifact-types.ts';
import type { ArtifactSink } from './backend.ts';
import type { ArtifactCapture } from './outputs.ts';
import { Redactor } from './redaction.ts';

/** The capture for one run; undefined when the run keeps no artifacts (no sink). */
export function artifactCapture(sink: ArtifactSink | undefined, secrets: Record<string, string> | undefined): ArtifactCapture | undefined {
  if (!sink) return undefined;
  const redactor = Redactor.of(secrets);
  return {
    async keep(path: string, content: AsyncIterable<Buffer>): Promise<Artifact> {
      const bytes = redactor && isRedactable(path) ? redacted(content, redactor) : content;
      const { size, sha256 } = await sink.store(bytes);
      return { path, size, sha256, contentType: contentTypeOf(path) };
    },
  };
}

/** The bytes with every form of a secret replaced, chunk by chunk (a value split across chunks included). */
async function* redacted(content: AsyncIterable<Buffer>, redactor: Redactor): AsyncGenerator<Buffer> {
  const cleared: Buffer[] = [];
  const stream = redactor.stream((chunk) => cleared.push(chunk));
  for await (const chunk of content) {
    stream.push(chunk);
    yield* cleared.splice(0);
  }
  stream.end();
  yield* cleared.splice(0);
}
