import { celeryDbSuite } from "./celery-db-suite.js";
import { describeCeleryDb, sqliteCeleryDb } from "./harness.js";

// Celery 5.2.6 with backend db+sqlite:////<tmp>/celery.db writes the rows; Ebb reads them.
await describeCeleryDb("celery database backend on SQLite", null, () => {
  celeryDbSuite("sqlite", sqliteCeleryDb);
});
