// Models that read, inspect and print a run's secrets (sandbox.secrets tests), and the values they are given.

export const API_TOKEN = 's3cr3t-value-123';
/** A value whose URL-encoded and JSON forms differ from it. */
export const ODD_TOKEN = 'p@ss w/rd+?é=ü&';
export const PROBE_SECRETS = { API_TOKEN, ODD_TOKEN };

export interface ProbeReport {
  names: string[];
  sha256: string;
  oddSha256: string;
  mode: string;
  uid: number;
  gid: number;
  writeFile: string | number;
  newFile: string | number;
  chmod: string | number;
  mounts: { target: string; type: string; options: string }[];
  envHasValue: boolean;
}

/** Reports what the run sees of /run/secrets without printing a value (hashes only). */
export const PROBE_MODEL = `import hashlib, json, os, stat
d = "/run/secrets"
v = open(d + "/API_TOKEN").read()
odd = open(d + "/ODD_TOKEN").read()
st = os.stat(d + "/API_TOKEN")
def attempt(fn):
    try:
        fn()
        return "WROTE"
    except OSError as e:
        return e.errno
mounts = []
for line in open("/proc/self/mounts"):
    source, target, fstype, options = line.split()[:4]
    if target == d or target.startswith(d + "/"):
        mounts.append({"target": target, "type": fstype, "options": options})
environ = open("/proc/self/environ", "rb").read()
report = {
    "names": sorted(os.listdir(d)),
    "sha256": hashlib.sha256(v.encode()).hexdigest(),
    "oddSha256": hashlib.sha256(odd.encode()).hexdigest(),
    "mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid, "gid": st.st_gid,
    "writeFile": attempt(lambda: open(d + "/API_TOKEN", "a").write("x")),
    "newFile": attempt(lambda: open(d + "/NEW", "w").write("x")),
    "chmod": attempt(lambda: os.chmod(d + "/API_TOKEN", 0o600)),
    "mounts": mounts,
    "envHasValue": any(s in x for s in (v, odd) for x in os.environ.values()) or v.encode() in environ or odd.encode() in environ,
}
print("REPORT " + json.dumps(report))
`;

/** Prints the values in the forms a model might (plain, base64, URL-encoded, split across two flushed writes) and outputs them. */
export const PRINT_MODEL = `import base64, json, sys, time, urllib.parse
v = open("/run/secrets/API_TOKEN").read()
odd = open("/run/secrets/ODD_TOKEN").read()
print("plain", v)
print("b64", base64.b64encode(v.encode()).decode())
print("b64url", base64.urlsafe_b64encode(odd.encode()).decode().rstrip("="))
print("url", urllib.parse.quote(odd, safe=""))
print("embedded", base64.b64encode(b"x" + v.encode() + b"tail").decode())
sys.stdout.flush()
print("err", v, file=sys.stderr)
sys.stderr.flush()
# Two writes with a pause between: the value reaches the server in two chunks.
sys.stdout.write("split " + v[:7]); sys.stdout.flush(); time.sleep(0.3)
sys.stdout.write(v[7:] + "\\n"); sys.stdout.flush()
sys.stderr.write(odd[:4]); sys.stderr.flush(); time.sleep(0.3)
sys.stderr.write(odd[4:] + "\\n"); sys.stderr.flush()
json.dump({"token": v, v: "as key", "b64": base64.b64encode(v.encode()).decode(), "nested": [{"odd": odd}]}, open("/outputs/leak.json", "w"))
`;
