// A fixed-rate GET load in a process of its own: `node bench/load-generator.js URL TOKEN RATE SECONDS WARMUP`.
// Prints `measuring` once warmed up, then one JSON line: every request's latency in ms, in order. Plain JavaScript
// run apart from the benchmark, with node:http and keep-alive (fetch costs client and server more CPU per request),
// so that neither the benchmark's work nor a TypeScript loader's heap shows up as the server's latency.
import http from 'node:http';

const [url = '', token = '', rate = '500', seconds = '5', warmup = '0'] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
const headers = { authorization: `Bearer ${token}` };

function get() {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode));
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

// Warm-up: the server's (and this client's) code paths get compiled before anything is measured.
for (let i = 0; i < Number(warmup); i += 1) await get();
console.log('measuring');

const total = Number(rate) * Number(seconds);
const latencies = new Array(total);
const pending = [];
const started = performance.now();
for (let i = 0; i < total; i += 1) {
  const wait = started + (i * 1000) / Number(rate) - performance.now();
  if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
  pending.push(
    (async () => {
      const sent = performance.now();
      const status = await get();
      if (status !== 200) throw new Error(`GET ${url} answered ${status}`);
      latencies[i] = performance.now() - sent;
    })(),
  );
}
await Promise.all(pending);
const elapsedSeconds = (performance.now() - started) / 1000;
agent.destroy();
console.log(JSON.stringify({ latencies, elapsedSeconds }));
