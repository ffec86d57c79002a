import { OutlastClient } from "../client/client.js";
import { UsageError, type Args } from "./args.js";

/** Help lines for the flags every HTTP command shares. */
export const HTTP_FLAGS_HELP = `  --url URL         the server (default $OUTLAST_URL, else http://127.0.0.1:7391)
  --token TOKEN     admin key or owner token (default $OUTLAST_TOKEN, else $OUTLAST_ADMIN_KEY)`;

/** The flags of {@link HTTP_FLAGS_HELP}, for a command's spec. */
export const HTTP_FLAGS = { "--url": "value", "--token": "value" } as const;

/** A client for the server named by `--url`/`--token` or the environment. Nothing is remembered across runs. */
export function clientFrom(args: Args): OutlastClient {
  const url = args.string("--url") ?? (process.env.OUTLAST_URL || "http://127.0.0.1:7391");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url must be a URL like http://127.0.0.1:7391, got "${url}"`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new UsageError(`--url must start with http:// or https://, got "${url}"`);
  const token = args.string("--token") ?? (process.env.OUTLAST_TOKEN || process.env.OUTLAST_ADMIN_KEY || undefined);
  return new OutlastClient({ baseUrl: url, storage: null, ...(token ? { token } : {}) });
}
