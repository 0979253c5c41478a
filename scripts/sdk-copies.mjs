// How many copies of each Pulumi SDK a project has installed (issue 17). Two copies of
// @pulumi/pulumi in one program make components misbehave (children that silently fail to
// register under a component, pulumi/pulumi#19264), and two copies of a provider SDK ask the engine
// for two provider plugins. `npm ls --all --parseable --long` lists one line per copy on disk
// (deduplicated uses collapse into one), so a single line per package means a single copy.
//
// CLI: `node scripts/sdk-copies.mjs <project dir> [package ...]` prints
// `{ "copies": { "<package>": [{ "path", "version" }] }, "npmStatus", "npmErrors" }` and exits 1
// when a package has more than one copy, 2 when npm ls finds none of them. npm's own complaints
// (an unmet or invalid peer, an extraneous package) are passed on in npmStatus/npmErrors.
import { spawnSync } from "node:child_process";
import { realpathSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The SDKs this package shares with the user's program (its peerDependencies). */
export const SDK_PACKAGES = [
    "@pulumi/pulumi",
    "@pulumi/azure-native",
    "@pulumi/docker",
    "@pulumi/kubernetes",
    "@pulumi/policy",
    "@pulumi/random",
    "@pulumi/tls",
];

/**
 * Parses `npm ls --parseable --long` lines (`<path>:<name>@<version>[:<flags>]`) into the copies
 * of each of `packages`. Lines of other packages (npm also prints the project itself) are ignored.
 */
export function parseCopies(output, packages) {
    const copies = Object.fromEntries(packages.map((p) => [p, []]));
    for (const line of output.split("\n")) {
        // The path may not contain ':' on POSIX systems npm supports here; the id follows it.
        const [path, id] = line.split(":");
        if (!path || !id) continue;
        const at = id.lastIndexOf("@");
        if (at <= 0) continue;
        const name = id.slice(0, at);
        if (name in copies) copies[name].push({ path, version: id.slice(at + 1) });
    }
    return copies;
}

/** Runs npm ls in `dir` for `packages`; returns the copies and npm's own exit status/stderr. */
export function sdkCopies(dir, packages = SDK_PACKAGES) {
    const r = spawnSync("npm", ["ls", ...packages, "--all", "--parseable", "--long"], {
        cwd: dir,
        encoding: "utf8",
    });
    if (r.error) throw r.error;
    return { copies: parseCopies(r.stdout, packages), status: r.status, stderr: r.stderr };
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
    const [dir, ...names] = process.argv.slice(2);
    if (!dir) {
        console.error("usage: node scripts/sdk-copies.mjs <project dir> [package ...]");
        process.exit(2);
    }
    const { copies, status, stderr } = sdkCopies(
        resolve(dir),
        names.length > 0 ? names : SDK_PACKAGES,
    );
    console.log(JSON.stringify({ copies, npmStatus: status, npmErrors: stderr }, null, 2));
    const total = Object.values(copies).reduce((n, c) => n + c.length, 0);
    if (total === 0) {
        console.error(`npm ls found none of the packages in ${dir}\n${stderr}`);
        process.exit(2);
    }
    const doubled = Object.entries(copies).filter(([, c]) => c.length > 1);
    for (const [name, c] of doubled) {
        console.error(`${name}: ${c.length} copies (${c.map((x) => x.version).join(", ")})`);
    }
    process.exit(doubled.length > 0 ? 1 : 0);
}
