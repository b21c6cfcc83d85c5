// sandrun's version, from package.json (read once; shown by the OpenAPI document and `sandrun doctor`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PACKAGE_ROOT } from './package-root.ts';

export const VERSION: string = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8'))).version;
