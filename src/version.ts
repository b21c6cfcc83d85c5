// sandrun's version, from package.json (read once; shown by the OpenAPI document and `sandrun doctor`).
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export const VERSION: string = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))).version;
