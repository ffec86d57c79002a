import { createReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { OutlastError } from "../core/errors.js";

/** A file a task saved. */
export interface ArtifactInfo {
  taskId: string;
  name: string;
  size: number;
  contentType: string;
  createdAt: string;
}

export type ArtifactData = string | Uint8Array | AsyncIterable<Uint8Array | string> | ReadableStream<Uint8Array>;

/**
 * Where task files live. Separate from the Store because files belong in a
 * filesystem or an object store, not in the task database.
 */
export interface ArtifactStore {
  /** Save (or replace) a task's file; visible to readers only once complete. */
  put(taskId: string, name: string, data: ArtifactData, contentType: string): Promise<ArtifactInfo>;
  info(taskId: string, name: string): Promise<ArtifactInfo | null>;
  /** The bytes `start..end` (inclusive) of a file, or all of it. */
  read(taskId: string, name: string, range?: { start: number; end: number }): Promise<ReadableStream<Uint8Array> | null>;
  list(taskId: string): Promise<ArtifactInfo[]>;
  /** Remove every file of a task (retention). */
  remove(taskId: string): Promise<void>;
  /** Ids of tasks that have files, so retention can find orphans. */
  taskIds?(): AsyncIterable<string>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkArtifactName(name: unknown): asserts name is string {
  if (typeof name !== "string" || !NAME.test(name) || name.includes("..")) {
    throw new OutlastError("bad_request", `An artifact name must be 1-128 letters, digits, ".", "_" or "-" (no ".."): got ${JSON.stringify(name)}`);
  }
}

/**
 * Artifacts as plain files: `<dir>/<taskId>/<name>` with a `<name>.json`
 * sidecar for its metadata. Writes go to a temporary file renamed into
 * place, so a reader never sees half a file.
 * @example new Outlast({ store, artifacts: fileArtifacts({ dir: "./outlast-data/artifacts" }) })
 */
export function fileArtifacts(options: { dir: string }): ArtifactStore {
  const dir = options.dir;
  const taskDir = (taskId: string) => {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(taskId)) throw new OutlastError("bad_request", `Invalid task id ${JSON.stringify(taskId)}`);
    return join(dir, taskId);
  };
  const metaPath = (taskId: string, name: string) => join(taskDir(taskId), `.${name}.json`);

  async function info(taskId: string, name: string): Promise<ArtifactInfo | null> {
    checkArtifactName(name);
    try {
      return JSON.parse(await readFile(metaPath(taskId, name), "utf8")) as ArtifactInfo;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  }

  return {
    async put(taskId, name, data, contentType) {
      checkArtifactName(name);
      const folder = taskDir(taskId);
      await mkdir(folder, { recursive: true });
      const final = join(folder, name);
      const temp = join(folder, `.${name}.${process.pid}.${Date.now()}.tmp`);
      let size = 0;
      const file = await open(temp, "w");
      try {
        for await (const chunk of chunks(data)) {
          await file.write(chunk);
          size += chunk.byteLength;
        }
        await file.sync();
      } catch (error) {
        await file.close();
        await rm(temp, { force: true });
        throw error;
      }
      await file.close();
      await rename(temp, final);
      const saved: ArtifactInfo = { taskId, name, size, contentType, createdAt: new Date().toISOString() };
      await writeFile(metaPath(taskId, name), JSON.stringify(saved));
      return saved;
    },
    info,
    async read(taskId, name, range) {
      const found = await info(taskId, name);
      if (!found) return null;
      const path = join(taskDir(taskId), name);
      const size = (await stat(path)).size;
      if (range && (range.start < 0 || range.end >= size || range.start > range.end)) {
        throw new OutlastError("bad_request", `Range ${range.start}-${range.end} is outside 0-${size - 1}`);
      }
      const stream = createReadStream(path, range ? { start: range.start, end: range.end } : {});
      return Readable.toWeb(stream) as ReadableStream<Uint8Array>;
    },
    async list(taskId) {
      let names: string[];
      try {
        names = await readdir(taskDir(taskId));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
        throw error;
      }
      const metas = names.filter((n) => n.startsWith(".") && n.endsWith(".json")).map((n) => n.slice(1, -5));
      const infos = await Promise.all(metas.filter((n) => NAME.test(n)).map((n) => info(taskId, n)));
      return infos.filter((i): i is ArtifactInfo => i !== null).sort((a, b) => a.name.localeCompare(b.name));
    },
    async remove(taskId) {
      await rm(taskDir(taskId), { recursive: true, force: true });
    },
    async *taskIds() {
      let entries: string[];
      try {
        entries = await readdir(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
        throw error;
      }
      yield* entries.filter((e) => /^[A-Za-z0-9_-]{1,128}$/.test(e));
    },
  };
}

async function* chunks(data: ArtifactData): AsyncGenerator<Uint8Array> {
  if (typeof data === "string") yield Buffer.from(data);
  else if (data instanceof Uint8Array) yield data;
  else if (typeof (data as ReadableStream<Uint8Array>).getReader === "function") {
    const reader = (data as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } else {
    for await (const chunk of data as AsyncIterable<Uint8Array | string>) yield typeof chunk === "string" ? Buffer.from(chunk) : chunk;
  }
}
