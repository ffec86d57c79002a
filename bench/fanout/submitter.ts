// Submits over HTTP one after another from a process of its own, so the
// latency it times is the server's and not the bench's own event loop, busy
// reading ten thousand streams. argv: PORT COUNT. Prints "ready", starts at
// a "go" line on stdin, stops after COUNT submits or at a "stop" line, then
// prints the latencies (ms) as JSON.
import { request } from "node:http";
import { createInterface } from "node:readline";

const ADMIN_KEY = "bench-admin-key-0123456789abcdef";
const [port = "0", count = "200"] = process.argv.slice(2);
let stopped = false;
let go: () => void = () => {};
const started = new Promise<void>((resolve) => (go = resolve));
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "go") go();
  if (line === "stop") stopped = true;
});

function submit(): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const body = JSON.stringify({ name: "fan.tick", input: {}, delayMs: 3_600_000 });
    const req = request(
      { host: "127.0.0.1", port: Number(port), method: "POST", path: "/api/v1/tasks", headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" } },
      (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 202 ? resolve() : reject(new Error(`submit answered ${res.statusCode}`))));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

process.stdout.write("ready\n");
await started;
const out: number[] = [];
for (let i = 0; i < Number(count) && !stopped; i++) {
  const t0 = performance.now();
  await submit();
  out.push(performance.now() - t0);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
