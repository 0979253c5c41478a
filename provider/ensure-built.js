// Install script of the plugin folder (package.json "install"), run by the `npm install` the Pulumi
// CLI does here before it starts the plugin. The plugin runs the built library (../dist), which an
// installed package has but a checkout does not (dist/ is not committed): a fresh clone, or
// `pulumi package add <git-url>/provider`, is installed and built first.
"use strict";
const { execFileSync } = require("node:child_process");
const { existsSync } = require("node:fs");
const { join } = require("node:path");

const root = join(__dirname, "..");
if (!existsSync(join(root, "dist", "index.js"))) {
    // npm sets npm_execpath for lifecycle scripts: run the same npm that runs this script.
    const npm = process.env.npm_execpath;
    const run = (args) =>
        execFileSync(npm ? process.execPath : "npm", npm ? [npm, ...args] : args, {
            cwd: root,
            stdio: "inherit",
        });
    if (!existsSync(join(root, "node_modules"))) run(["ci", "--no-audit", "--no-fund"]);
    run(["run", "build"]);
}
