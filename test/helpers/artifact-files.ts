// A model that leaves files under /outputs (a real PNG, a CSV, a nested text file, an output JSON), with the bytes tests expect back.
import { createHash } from 'node:crypto';
import { crc32, deflateSync } from 'node:zlib';

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A valid RGB PNG of one colour (8-bit, no interlace): a browser decodes it to width x height pixels. */
export function solidPng(width: number, height: number, rgb: [number, number, number]): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => rgb).flat())]);
  const pixels = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(pixels)), chunk('IEND', Buffer.alloc(0))]);
}

export const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

export const CHART_PNG = solidPng(12, 7, [200, 30, 60]);
export const TABLE_CSV = ['year,revenue', ...Array.from({ length: 250 }, (_, i) => `${2000 + i},${100 + i * 10}`), ''].join('\n');
export const REPORT_TXT = 'revenue grew every year\n';
export const RESULT_JSON = '{"revenue": [100, 110, 121]}';

/** What the model writes, by path under /outputs. */
export const EXPECTED_ARTIFACTS: Record<string, Buffer> = {
  'chart.png': CHART_PNG,
  'nested/dir/report.txt': Buffer.from(REPORT_TXT),
  'result.json': Buffer.from(RESULT_JSON),
  'table.csv': Buffer.from(TABLE_CSV),
};

/** A project whose model `charts` writes EXPECTED_ARTIFACTS (the PNG's bytes decoded by Python) plus a symlink, which is not kept. */
export const ARTIFACT_PROJECT_FILES: Record<string, string> = {
  'models/charts.py': [
    'import base64, os',
    `png = base64.b64decode(${JSON.stringify(CHART_PNG.toString('base64'))})`,
    'open("/outputs/chart.png", "wb").write(png)',
    `open("/outputs/table.csv", "w").write(${JSON.stringify(TABLE_CSV)})`,
    'os.makedirs("/outputs/nested/dir")',
    `open("/outputs/nested/dir/report.txt", "w").write(${JSON.stringify(REPORT_TXT)})`,
    `open("/outputs/result.json", "w").write(${JSON.stringify(RESULT_JSON)})`,
    'os.symlink("/etc/passwd", "/outputs/nested/passwd")',
    'print("charts written")',
    '',
  ].join('\n'),
};
