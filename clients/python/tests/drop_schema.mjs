// Drops a PostgreSQL schema the Python tests made: node drop_schema.mjs URL SCHEMA.
// Python has no PostgreSQL driver in its standard library; the repository's `pg` does it.
import pg from "pg";

const [url, schema] = process.argv.slice(2);
if (!url || !schema || !/^py_[a-z0-9_]+$/.test(schema)) {
  console.error("usage: node drop_schema.mjs POSTGRES_URL py_SCHEMA");
  process.exit(2);
}
const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
await client.connect();
try {
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
} finally {
  await client.end();
}
