import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";

/** A fresh directory removed when the test ends (kept when OUTLAST_KEEP_TEMP is set, to inspect). */
export function tempDir(t: TestContext, label = "outlast"): string {
  const dir = mkdtempSync(join(tmpdir(), `${label}-`));
  t.after(() => {
    if (!process.env.OUTLAST_KEEP_TEMP) rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Path of a fresh SQLite file for this test. */
export function tempDbPath(t: TestContext): string {
  return join(tempDir(t, "outlast-db"), "outlast.db");
}
