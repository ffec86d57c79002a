// What the consumer suites share: the installed consumer apps (made once per
// run by scripts/prepare-consumers.mjs), processes started in them, and an
// HTTP check of the API that every mounted app must pass.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { SseReader, type ParsedEvent } from "../server/sse-reader.js";

const root = new URL("../../", import.meta.url).pathname;
export const ADMIN_KEY = "olk_consumer-tests-admin-key-0123456789";

let prepared: { apps: string; packDir: string } | null = null;

/** The consumer apps, installed from the packed tarballs; prepared here when `npm test` did not. */
export function consumerApps(): { apps: string; packDir: string } {
  if (prepared) return prepared;
  let packDir = process.env.OUTLAST_TEST_PACK_DIR;
  const ready = process.env.OUTLAST_TEST_CONSUMERS_DIR;
  if (ready && packDir) return (prepared = { apps: ready, packDir });
  if (!packDir) {
    packDir = join(root, "node_modules/.cache/outlast-pack-by-hand");
    rmSync(packDir, { recursive: true, force: true });
    mkdirSync(packDir, { recursive: true });
    mustRun(process.execPath, [join(root, "scripts/build.mjs")]);
    mustRun(process.execPath, [join(root, "scripts/check-package.mjs"), "--out", packDir]);
  }
  const out = mustRun(process.execPath, [join(root, "scripts/prepare-consumers.mjs"), packDir]);
  const apps = out.trim().split("\n").at(-1)!;
  prepared = { apps, packDir };
  return prepared;
}

function mustRun(command: string, args: string[]): string {
  const result = spawnSync(command, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed:\n${result.stdout}`);
  return result.stdout;
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface App {
  process: ChildProcess;
  output(): string;
  /** Resolves once the output matches `pattern`; rejects if the process exits first. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/**
 * A process in a consumer app, as its user would start it. SIGTERM, then
 * SIGKILL, when the test ends. The whole process group is signalled, so
 * `npx` and `next start` take their children with them.
 */
export function startApp(t: TestContext, cwd: string, command: string, args: string[], env: Record<string, string> = {}): App {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, OUTLAST_ADMIN_KEY: ADMIN_KEY, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: env.NODE_ENV ?? "production", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString("utf8");
    for (const listener of listeners) listener();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? -1 : null))));
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // already gone
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      signal("SIGTERM");
      const killer = setTimeout(() => signal("SIGKILL"), 10_000);
      await exited;
      clearTimeout(killer);
    }
    signal("SIGKILL"); // anything the group left behind
    return exited;
  };
  t.after(stop);
  return {
    process: child,
    output: () => out,
    exited,
    stop,
    waitFor(pattern, ms = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = out.match(pattern);
          if (match) {
            done();
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${command} ${args.join(" ")} never printed ${pattern}; it printed:\n${out}`));
        }, ms);
        const onExit = () => {
          check();
          done();
          reject(new Error(`${command} ${args.join(" ")} exited before printing ${pattern}; it printed:\n${out}`));
        };
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off("exit", onExit);
        };
        listeners.add(check);
        child.once("exit", onExit);
        check();
      });
    },
  };
}

/** The status of a request, its body read to the end (an unread body would hold its socket open). */
export async function statusOf(url: string, init: RequestInit = {}): Promise<number> {
  const response = await fetch(url, init);
  await response.arrayBuffer();
  return response.status;
}

/** Polls `url` until it answers (any status), for servers that print nothing when ready. */
export async function waitForHttp(url: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await statusOf(url, { signal: AbortSignal.timeout(2_000) });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${url} never answered: ${String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

const auth = { authorization: `Bearer ${ADMIN_KEY}` };

/** Reads a task's stream until `stopAfter` events arrived (then drops the connection) or the stream ends. */
async function readEvents(base: string, id: string, lastEventId: string | null, stopAfter: number): Promise<{ events: ParsedEvent[]; ended: boolean }> {
  const headers: Record<string, string> = { ...auth, accept: "text/event-stream" };
  if (lastEventId !== null) headers["last-event-id"] = lastEventId;
  const response = await fetch(`${base}/api/v1/tasks/${id}/events`, { headers });
  if (response.status === 204) return { events: [], ended: true };
  assert.equal(response.status, 200, `the event stream answered ${response.status}`);
  assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
  const reader = new SseReader(response);
  const events: ParsedEvent[] = [];
  for (;;) {
    const event = await reader.next();
    if (!event) return { events, ended: true };
    events.push(event);
    if (events.length >= stopAfter) {
      await reader.cancel();
      return { events, ended: false };
    }
  }
}

/**
 * What every mounted app must do: the app's own JSON route still works,
 * a submit through the mount answers 202, and the task's event stream, cut
 * after a few events and resumed with Last-Event-ID, delivers every state
 * change once, in order, with no gap in the seq of non-progress events, up
 * to the final state.
 */
export async function checkMountedApi(base: string, app: { echo?: string } = {}): Promise<void> {
  if (app.echo) {
    const echo = await fetch(app.echo, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ hello: "app" }) });
    assert.equal(echo.status, 200, "the app's own JSON route broke");
    assert.deepEqual(await echo.json(), { hello: "app" });
  }
  assert.equal(await statusOf(`${base}/healthz`), 200);
  const submitted = await fetch(`${base}/api/v1/tasks`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    // Delayed, so the stream is open before the first step: every step must then arrive exactly once.
    body: JSON.stringify({ name: "count", input: { to: 12 }, delayMs: 1_500 }),
  });
  const body = (await submitted.json()) as { task?: { id: string; state: string } };
  assert.equal(submitted.status, 202, `submit answered ${submitted.status}: ${JSON.stringify(body)}`);
  const id = body.task!.id;

  const all: ParsedEvent[] = [];
  let lastId: string | null = null;
  let connections = 0;
  for (let ended = false; !ended; ) {
    assert.ok(++connections < 30, "the stream never reached the final state");
    const part = await readEvents(base, id, lastId, 4);
    all.push(...part.events);
    lastId = part.events.at(-1)?.id ?? lastId;
    ended = part.ended;
  }
  assert.ok(connections >= 2, "the stream was never cut and resumed");
  assert.equal((all[0]?.data as { task?: { state?: string } }).task?.state, "queued", "the stream opened after the task started");
  const seqs = all.filter((e) => e.event !== "snapshot").map((e) => e.data.seq as number);
  assert.deepEqual([...seqs].sort((a, b) => a - b), seqs, `events out of order: ${seqs.join(",")}`);
  assert.equal(new Set(seqs).size, seqs.length, `an event came twice: ${seqs.join(",")}`);
  const states = all.filter((e) => e.event === "state").map((e) => e.data.state);
  assert.deepEqual(states.slice(-1), ["succeeded"]);
  assert.ok(states.includes("running"), `states seen: ${states.join(",")}`);
  const steps = all.filter((e) => e.event === "step").map((e) => e.data.name);
  assert.deepEqual(steps, Array.from({ length: 12 }, (_, i) => `n-${i + 1}`), "a step event was missed or repeated across reconnects");
  const final = all.at(-1)!;
  assert.deepEqual((final.data as { result?: unknown }).result, { counted: 12 });
}

/** The README, for tests that compare what it says with what they see. */
export function readme(): string {
  return readFileSync(join(root, "README.md"), "utf8");
}
