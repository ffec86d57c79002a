import { randomBytes } from "node:crypto";
import { chmod, link, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Outlast } from "../engine/outlast.js";
import { CliError, EXIT } from "./errors.js";

/** Where `outlast serve` got its admin key, for the start banner. */
export type AdminKeySource = { kind: "env" } | { kind: "file"; path: string } | { kind: "database" };

export interface ServeAdminKey {
  key: string;
  source: AdminKeySource;
}

/** Name of the file beside a SQLite database, and of the secret in a database without a data folder. */
export const ADMIN_KEY_NAME = "admin-key";
const MIN_LENGTH = 16;

/**
 * The admin key `outlast serve` runs with: OUTLAST_ADMIN_KEY when set; else
 * one made on the first start and kept, so a restart does not sign out every
 * dashboard and script. Beside a SQLite file it is a file the operator can
 * read (`outlast-data/admin-key`, mode 0600); a database with no local folder
 * (PostgreSQL) keeps it with its token-signing secret, so every `serve` node
 * on that database shares one key — anyone who can read that table can mint
 * tokens already, so it widens nothing.
 */
export async function serveAdminKey(outlast: Outlast, env: NodeJS.ProcessEnv = process.env): Promise<ServeAdminKey> {
  const fromEnv = env.OUTLAST_ADMIN_KEY;
  if (fromEnv) return { key: fromEnv, source: { kind: "env" } };
  const dir = outlast.store.localDataDir;
  if (dir) {
    const path = join(dir, ADMIN_KEY_NAME);
    return { key: await keyFile(path), source: { kind: "file", path } };
  }
  return { key: await outlast.sharedSecret(ADMIN_KEY_NAME, makeKey), source: { kind: "database" } };
}

function makeKey(): string {
  return `olk_${randomBytes(24).toString("base64url")}`;
}

async function keyFile(path: string): Promise<string> {
  const existing = await readKey(path);
  if (existing !== null) return existing;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Written whole under a name of its own, then linked into place: two servers
  // starting at once keep one key (link fails on an existing file), and a
  // reader never sees a half-written one.
  const temp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(temp, `${makeKey()}\n`, { mode: 0o600, flag: "wx" });
  try {
    await link(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await rm(temp, { force: true });
  }
  const written = await readKey(path);
  if (written === null) throw new CliError(`The admin key file ${path} vanished while it was being made; start again`, EXIT.failed);
  return written;
}

async function readKey(path: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  const key = text.trim();
  if (key.length < MIN_LENGTH) {
    throw new CliError(`The admin key in ${path} is shorter than ${MIN_LENGTH} characters: delete the file for a new key, or set OUTLAST_ADMIN_KEY`, EXIT.usage);
  }
  // A copy or an editor may have widened it; it is as good as a password.
  if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600);
  return key;
}
