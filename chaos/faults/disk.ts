// A full disk under the SQLite database: the database folder is a small
// tmpfs, and the fault fills what is left of it with a ballast file for a
// few seconds, then frees it.
import { spawnSync } from "node:child_process";
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

export const TMPFS_SIZE = "8m";

/** Mounts a tmpfs at `dir`; returns why not when this machine does not allow it. */
export function mountTmpfs(dir: string): string | null {
  if (process.getuid?.() !== 0) return "not root: mount of a tmpfs is not permitted, so the full-disk fault is skipped";
  const result = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${TMPFS_SIZE}`, "tmpfs", dir], { encoding: "utf8", timeout: 10_000 });
  if (result.status !== 0) return `mount -t tmpfs failed (${(result.stderr || String(result.error)).trim()}): the full-disk fault is skipped`;
  return null;
}

export function unmount(dir: string): void {
  const result = spawnSync("umount", [dir], { encoding: "utf8", timeout: 10_000 });
  // Lazily, when a killed process still held a file there a moment ago.
  if (result.status !== 0) spawnSync("umount", ["-l", dir], { timeout: 10_000 });
}

/** Writes zeros into `dir` until the disk is full (bounded by `maxBytes`); returns the ballast's path and size. */
export function fillDisk(dir: string, maxBytes: number): { path: string; bytes: number } {
  const path = join(dir, "ballast");
  const chunk = Buffer.alloc(64 * 1024);
  const fd = openSync(path, "w");
  let bytes = 0;
  try {
    while (bytes < maxBytes) {
      try {
        bytes += writeSync(fd, chunk);
      } catch {
        break; // ENOSPC: full
      }
    }
  } finally {
    closeSync(fd);
  }
  return { path, bytes };
}

export function freeDisk(path: string): void {
  rmSync(path, { force: true });
}
