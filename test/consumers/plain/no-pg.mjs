// outlast/postgres without the optional "pg" package installed.
import { postgresStore } from "outlast/postgres";

try {
  postgresStore({ connectionString: "postgres://127.0.0.1:5432/test" });
  console.log("no error");
} catch (error) {
  console.log(JSON.stringify({ code: error.code, message: error.message }));
}
