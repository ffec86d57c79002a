import { parseArgs, type CommandSpec } from "./args.js";
import { DB_FLAGS_HELP, describeTarget, openStore, storeTarget } from "./store-target.js";

export const MIGRATE_HELP = `Usage: outlast migrate [options]

Creates Outlast's tables, or upgrades them to this version's schema, and
prints the schema version. Safe to run again, and from several machines at once.

Options:
${DB_FLAGS_HELP}
  --json            print {"schemaVersion", "databaseId"}
  --help            show this help

Exit codes: 0 done, 1 refused (e.g. the database was written by a newer
Outlast), 2 usage error, 3 database unreachable.
`;

const SPEC: CommandSpec = { command: "migrate", flags: { "--db": "value", "--schema": "value", "--json": "switch" } };

/** `outlast migrate`: `store.init()` and the schema version. */
export async function migrateCommand(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv, SPEC);
  if (args.help) {
    process.stdout.write(MIGRATE_HELP);
    return;
  }
  const target = storeTarget(args.string("--db") ?? "./outlast.db", args.string("--schema"));
  const store = await openStore(target);
  try {
    const info = await store.init();
    process.stdout.write(
      args.has("--json")
        ? `${JSON.stringify({ schemaVersion: info.schemaVersion, databaseId: info.databaseId })}\n`
        : `${describeTarget(target)}: schema version ${info.schemaVersion}\n`,
    );
  } finally {
    await store.close();
  }
}
