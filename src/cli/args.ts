/** Parsed flags of `outlast serve`. */
export interface ServeArgs {
  port: number;
  host: string;
  db: string;
  concurrency: number | null;
  maxQueued: number | null;
  anonymous: boolean;
  help: boolean;
}

export const DEFAULT_PORT = 7391;

export const SERVE_HELP = `Usage: outlast serve [options]

Runs the HTTP API, the workers and the demo task "demo.count".

Options:
  --port N          port to listen on (default ${DEFAULT_PORT})
  --host HOST       address to bind (default 127.0.0.1; 0.0.0.0 for every interface)
  --db PATH|URL     SQLite file (default ./outlast.db) or a postgres:// URL
  --concurrency N   tasks running at once on the default queue (default 10)
  --max-queued N    most tasks waiting on the default queue (default: no limit)
  --no-anonymous    turn off anonymous browser sessions (POST /api/v1/session)
  --help            show this help

Environment: OUTLAST_ADMIN_KEY (else one is generated and printed), OUTLAST_SECRET (token signing).
`;

/** Parses `serve` flags; throws an Error whose message says what to fix. */
export function parseServeArgs(argv: readonly string[]): ServeArgs {
  const out: ServeArgs = { port: DEFAULT_PORT, host: "127.0.0.1", db: "./outlast.db", concurrency: null, maxQueued: null, anonymous: true, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (arg.startsWith("--") && eq > 0) return arg.slice(eq + 1);
      const next = argv[++i];
      if (next === undefined) throw new Error(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case "--port":
        out.port = whole(value(), flag, 0, 65535);
        break;
      case "--host":
        out.host = value();
        break;
      case "--db":
        out.db = value();
        break;
      case "--concurrency":
        out.concurrency = whole(value(), flag, 1, 100_000);
        break;
      case "--max-queued":
        out.maxQueued = whole(value(), flag, 1, 100_000_000);
        break;
      case "--no-anonymous":
        out.anonymous = false;
        break;
      case "--help":
      case "-h":
        out.help = true;
        break;
      default:
        throw new Error(`Unknown option ${arg}; see --help`);
    }
  }
  return out;
}

function whole(text: string, flag: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new Error(`${flag} must be a whole number from ${min} to ${max}, got "${text}"`);
  return n;
}
