// The unit suite on a current Node line with the newest Pulumi SDKs (issue 17). `npm test` runs
// on the machine's Node (20 in CI) with the lockfile's SDKs; users run Node 22/24 with whatever
// SDK is newest. This runs the same suite in a scratch copy of the repository where the SDKs are
// replaced by their newest releases, on the newest Node of the line (from the npm registry,
// scripts/node-line.mjs), and checks that each SDK is installed once. The build (tsc) in the copy
// checks the sources against the newest SDKs' types.
//
//   node scripts/test-newest-sdks.mjs [--node 22] [--skip test/<folder>]... [--keep] [test paths...]
//
// `.ci/run` skips test/runtime there (the local runtime CLI: minutes of subprocess waits, no SDK
// code) to stay within its time budget; with no arguments every test folder runs.
// The repository itself is not touched (its node_modules and lockfile stay as they are).
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { envWithNode, nodeBinary } from "./node-line.mjs";
import { SDK_PACKAGES, sdkCopies } from "./sdk-copies.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
/** Value of `--name <value>` options (repeatable). */
const option = (name) => args.flatMap((a, i) => (a === name && args[i + 1] ? [args[i + 1]] : []));
const line = option("--node")[0] ?? "22";
const skip = new Set(option("--skip").map((p) => p.replace(/\/+$/, "")));
const keep = args.includes("--keep");
const paths = args.filter(
    (a, i) => !a.startsWith("--") && !["--node", "--skip"].includes(args[i - 1] ?? ""),
);

/** Test folders to run: the given paths, or every folder under test/ not skipped. */
function testRoots() {
    if (paths.length > 0) return paths;
    return readdirSync(join(root, "test"), { withFileTypes: true })
        .filter((e) => e.isDirectory() && !skip.has(`test/${e.name}`))
        .map((e) => `test/${e.name}`);
}

// Not copied: installs, build output and local state (re-created in the copy as needed).
const NOT_COPIED = new Set([".git", "node_modules", "dist", ".tmp", ".amlaks", ".bench"]);

function run(command, argv, cwd, env) {
    const r = spawnSync(command, argv, { cwd, env, stdio: "inherit" });
    if (r.status !== 0) {
        throw new Error(`${[command, ...argv].join(" ")} exited ${r.status ?? r.signal}`);
    }
}

function newestVersion(name) {
    const r = spawnSync("npm", ["view", `${name}@latest`, "version"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`npm view ${name}: ${r.stderr}`);
    return r.stdout.trim();
}

const node = nodeBinary(line);
const env = envWithNode(node);
const scratch = mkdtempSync(join(tmpdir(), `amlaks-node${line}-`));
try {
    const started = Date.now();
    cpSync(root, scratch, {
        recursive: true,
        filter: (src) => !(dirname(src) === root && NOT_COPIED.has(src.slice(root.length + 1))),
    });
    // The newest release of every SDK, as devDependencies (where the lockfile's versions live);
    // the peer ranges must accept them, or npm refuses the install.
    const pkgFile = join(scratch, "package.json");
    const pkg = JSON.parse(readFileSync(pkgFile, "utf8"));
    const newest = Object.fromEntries(SDK_PACKAGES.map((n) => [n, newestVersion(n)]));
    Object.assign(pkg.devDependencies, newest);
    writeFileSync(pkgFile, JSON.stringify(pkg, null, 4) + "\n");
    console.log(`# Node ${line} (${node}) with ${JSON.stringify(newest)}`);
    // npm itself runs on the chosen Node (env's PATH), so `engines` are checked against it. No
    // install scripts: @pulumi/kubernetes's would download a provider plugin (the tests need none).
    run("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts"], scratch, env);

    const { copies } = sdkCopies(scratch);
    for (const name of SDK_PACKAGES) {
        const found = copies[name].map((c) => c.version);
        if (found.length !== 1 || found[0] !== newest[name]) {
            throw new Error(`${name}: expected one copy ${newest[name]}, found [${found}]`);
        }
    }
    console.log(`# installed in ${Math.round((Date.now() - started) / 1000)} s, one copy each`);
    // The build compiles the sources against the newest SDKs' types, and some tests use dist/.
    run("npm", ["run", "build"], scratch, env);
    run(node, [join(scratch, "scripts", "run-tests.mjs"), ...testRoots()], scratch, env);
} finally {
    if (keep) console.log(`# scratch copy kept in ${scratch}`);
    else rmSync(scratch, { recursive: true, force: true });
}
