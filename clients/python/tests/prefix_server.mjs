// An Outlast server mounted under /jobs (createHandler's basePath), from the built package,
// for the Python client's mount-prefix test. Prints "running on URL"; SIGTERM stops it.
import { Outlast } from "../../../dist/index.js";
import { sqliteStore } from "../../../dist/store/sqlite/index.js";
import { serve } from "../../../dist/server/index.js";

const outlast = new Outlast({ store: sqliteStore({ path: ":memory:" }) });
outlast.define("py.echo", { run: (input) => ({ echo: input }) });
await outlast.start();
const server = await serve(outlast, {
  port: 0,
  basePath: "/jobs",
  adminKey: process.env.OUTLAST_ADMIN_KEY,
  logger: "warn",
  handleSignals: true,
  shutdownGraceMs: 0,
});
process.stdout.write(`running on ${server.url}\n`);
