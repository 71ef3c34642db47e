// Copies the non-TypeScript sources (Lua scripts, SQL, the dashboard's script and styles) next to the compiled JS in dist/,
// so code can load them relative to its own module URL in both src/ (tests) and dist/.
import { cpSync, readdirSync, statSync, mkdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const exts = [".lua", ".sql", ".css", ".js"];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (exts.some((e) => name.endsWith(e))) {
      const target = join(root, "dist", relative(root, path));
      mkdirSync(dirname(target), { recursive: true });
      cpSync(path, target);
    }
  }
}
walk(join(root, "src"));
