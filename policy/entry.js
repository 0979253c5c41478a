// Entry of the amlaks policy pack for the Pulumi CLI, which loads this folder's package.json main.
// - In the repository it loads the TypeScript sources next to it (the CLI registers ts-node for
//   `runtime: nodejs` packs).
// - In the installed package the sources are not shipped: it loads the compiled pack from
//   ../dist/policy.
// CrossGuard reads the pack version from package.json in the working directory, and the CLI starts
// packs in the program's folder, so the pack runs from its own folder.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

process.chdir(__dirname);
const source = path.join(__dirname, "index.ts");
require(fs.existsSync(source) ? source : path.join(__dirname, "..", "dist", "policy", "index.js"));
