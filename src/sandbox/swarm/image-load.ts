// `docker load` of an archive file into one engine, which reports a failed load inside the body of a 200 answer.
import type Dockerode from 'dockerode';
import { createReadStream } from 'node:fs';

export async function loadArchive(engine: Dockerode, file: string): Promise<void> {
  const response = await engine.loadImage(createReadStream(file), { quiet: true });
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(Buffer.from(chunk as Buffer));
  const body = Buffer.concat(chunks).toString('utf8');
  if (body.includes('"error"')) throw new Error(body.trim());
}
