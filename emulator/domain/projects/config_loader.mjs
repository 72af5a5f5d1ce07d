// Runs one TypeScript / JavaScript config file (hexclave.config.ts, stack.config.ts, ...) for the emulator and
// writes what it exports as `config` to a result file, as JSON: {"config": ...} or {"line": n, "error": "..."}.
// Usage: node config_loader.mjs CACHE_DIR CONFIG_FILE RESULT_FILE
// CACHE_DIR holds node_modules/esbuild (the TSX renderer's cache folder). esbuild strips the types and bundles the
// file's relative imports; package imports stay `require`s resolved from the config file's own folder.
import fs from "node:fs";
import { createRequire, SourceMap } from "node:module";
import path from "node:path";
import vm from "node:vm";

const [cacheDir, file, resultFile] = process.argv.slice(2);

function answer(result) {
  fs.writeFileSync(resultFile, JSON.stringify(result));
  process.exit(0); // timers or handles the file left behind must not keep this process alive
}

// Whatever the file prints goes to the emulator's log (stderr), never into the answer.
for (const name of ["log", "info", "debug"]) console[name] = console.error;

const esbuild = createRequire(path.join(cacheDir, "package.json"))("esbuild");
let built;
try {
  built = esbuild.buildSync({
    entryPoints: [file], bundle: true, packages: "external", platform: "node", format: "cjs", target: "node18",
    write: false, sourcemap: "external", outfile: path.join(path.dirname(file), "config.out.js"), logLevel: "silent",
    loader: { ".ts": "ts", ".mts": "ts", ".cts": "ts", ".js": "js", ".mjs": "js", ".cjs": "js" },
  });
} catch (error) {
  const first = error.errors?.[0];
  if (!first) answer({ error: `could not compile the file: ${error.message}` });
  const where = first.location;
  const elsewhere = where && path.resolve(where.file) !== file ? ` (in ${where.file}:${where.line})` : "";
  answer({ line: !elsewhere && where ? where.line : null, error: `syntax error: ${first.text}${elsewhere}` });
}
const code = built.outputFiles.find(f => f.path.endsWith(".js")).text;
const map = new SourceMap(JSON.parse(built.outputFiles.find(f => f.path.endsWith(".map")).text));

// The line of `file` where an error was raised: the deepest frame in the compiled file, mapped back to the source.
function sourceLine(error) {
  const frames = String(error?.stack ?? "").split("\n");
  for (const frame of frames) {
    const match = frame.includes(file) && frame.match(/:(\d+):(\d+)\)?\s*$/);
    if (!match) continue;
    const entry = map.findEntry(Number(match[1]) - 1, Number(match[2]) - 1);
    if (entry?.originalSource && path.resolve(path.dirname(file), entry.originalSource) === file) {
      return entry.originalLine + 1;
    }
  }
  return null;
}

const module = { exports: {} };
try {
  const wrapper = vm.runInThisContext(
    `(function (exports, require, module, __filename, __dirname) {${code}\n})`, { filename: file });
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
} catch (error) {
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : `the file threw ${String(error)}`;
  answer({ line: sourceLine(error), error: reason });
}

const config = module.exports.config;
if (config === null || typeof config !== "object" || Array.isArray(config)) {
  answer({ error: "the file must export `config`, an object (e.g. `export const config = {};`)" });
}

// Only JSON values: a function, a bigint or NaN in the config is an error naming its key, not a silent drop.
function check(value, where) {
  if (value === undefined || value === null || typeof value === "string" || typeof value === "boolean") return;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`${where}: ${value} is not a JSON number`);
    return;
  }
  if (typeof value !== "object") throw new Error(`${where}: a ${typeof value} is not a JSON value`);
  if (typeof value.toJSON === "function") return;
  for (const [key, sub] of Object.entries(value)) check(sub, `${where}.${key}`);
}
try {
  check(config, "config");
  answer({ config: JSON.parse(JSON.stringify(config)) });
} catch (error) {
  answer({ error: `invalid config: ${error.message}` });
}
