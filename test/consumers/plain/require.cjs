// CommonJS: require() of the ES module package (Node.js >= 20.19).
const { Outlast, declareTask, UnrecoverableError } = require("outlast");
const { sqliteStore } = require("outlast/sqlite");
const { createHandler } = require("outlast/server");
const { OutlastClient } = require("outlast/client");

const outlast = new Outlast({ store: sqliteStore({ path: ":memory:" }) });
outlast.define("hello", { run: async () => "hi" });
const handler = createHandler(outlast, { adminKey: "a-key-of-sixteen-characters" });
console.log(
  JSON.stringify({
    outlast: typeof Outlast,
    declareTask: typeof declareTask,
    unrecoverable: new UnrecoverableError("x").name,
    handler: typeof handler,
    client: typeof OutlastClient,
  }),
);
outlast.close().then(() => console.log("closed"));
