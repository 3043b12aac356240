// Runs the real drizzle-orm migrator (node-postgres driver) on a folder:
//   node migrate.mjs FOLDER            (DATABASE_URL from the environment)
// Used by upshift's optional compatibility test and by `make bench`. The
// drizzle-orm version is whatever node_modules next to NODE_PATH holds.
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";

const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
try {
  await migrate(drizzle({ client }), { migrationsFolder: process.argv[2] });
} finally {
  await client.end();
}
