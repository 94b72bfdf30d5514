import { execFile } from 'node:child_process';

// The child: its own process and connection, default settings (foreign keys
// off, autocommit), one commit per statement: what `sqlite3 file "sql"` does.
const SCRIPT = `
const Database = require(process.argv[1]);
const db = new Database(process.argv[2]);
db.exec(process.argv[3]);
db.close();
`;

/**
 * Runs SQL against a registry file from another process, as an operator
 * would with the sqlite3 shell (not installed here; better-sqlite3 embeds the
 * same SQLite). Asynchronous, so the broker keeps running meanwhile.
 */
export function sqliteShell(file: string, sql: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', SCRIPT, require.resolve('better-sqlite3'), file, sql], (err, _stdout, stderr) =>
      err ? reject(new Error(`sqlite shell failed: ${stderr || err.message}`)) : resolve(),
    );
  });
}
