// The project every chaos run comes from: one model per behaviour, so each run's right ending is known.
export const CHAOS_FILES: Record<string, string> = {
  'sandrun.yaml': [
    'image: sandrun/python:3.11',
    'models:',
    '  ok: { command: ["python", "models/ok.py"] }',
    '  fail: { command: ["python", "models/fail.py"] }',
    '  sleepy: { command: ["python", "models/sleepy.py"], timeout_seconds: 2 }',
    '  hog: { command: ["python", "models/hog.py"], memory_mb: 64 }',
    '  flood: { command: ["python", "models/flood.py"] }',
    '  long: { command: ["python", "models/long.py"], timeout_seconds: 60 }',
    'limits: { timeout_seconds: 30, memory_mb: 256 }',
    '',
  ].join('\n'),
  'models/ok.py': 'import json, os\njson.dump({"ok": True}, open(os.environ["SANDRUN_OUTPUTS"] + "/result.json", "w"))\nprint("ok")\n',
  'models/fail.py': 'import sys\nprint("failing on purpose", file=sys.stderr)\nsys.exit(3)\n',
  'models/sleepy.py': 'import time\ntime.sleep(30)\n',
  'models/hog.py': 'blocks = [bytearray(1024 * 1024) for _ in range(1024)]\n',
  'models/flood.py': 'import sys\nline = "y" * 99 + "\\n"\nfor _ in range(200000): sys.stdout.write(line)\n',
  'models/long.py': 'import time\nprint("started", flush=True)\ntime.sleep(20)\n',
};

export type ChaosModel = 'ok' | 'fail' | 'sleepy' | 'hog' | 'flood' | 'long';
export const CHAOS_MODELS: ChaosModel[] = ['ok', 'fail', 'sleepy', 'hog', 'flood', 'long'];

/** The statuses a run of this model may end in when nothing interfered, and the error code that goes with them. */
export const EXPECTED: Record<ChaosModel, { status: string; code: string | null }> = {
  ok: { status: 'success', code: null },
  fail: { status: 'failed', code: 'nonzero_exit' },
  sleepy: { status: 'timed_out', code: 'timeout' },
  hog: { status: 'failed', code: 'oom_killed' },
  flood: { status: 'success', code: null },
  long: { status: 'cancelled', code: 'cancelled' },
};
