import { celeryDbSuite, celeryTableConformance } from "./celery-db-suite.js";
import { describeCeleryDb, postgresCeleryDb } from "./harness.js";

// Celery 5.2.6 with backend db+postgresql://postgres@127.0.0.1:5432/test and its tables in a
// schema of their own per test (database_table_schemas); Ebb reads them with ?schema=.
await describeCeleryDb("celery database backend on PostgreSQL", "postgres", () => {
  celeryDbSuite("postgresql", postgresCeleryDb);
  celeryTableConformance("db+postgresql", postgresCeleryDb);
});
