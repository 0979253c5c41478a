/**
 * A fresh consumer project (issue 17): the packed package installed from its tarball next to the
 * user's own Pulumi SDKs, as a platform team's program would have it. Shared by the consumer test
 * (mocks, test/consumer/packed.consumer.ts) and the real-engine one (test/e2e/consumer.e2e.ts).
 */
import { execFile, execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { promisify } from "node:util";

export const REPO = resolve(__dirname, "..", "..");
const FIXTURE = join(__dirname, "fixtures", "project");
const execFileAsync = promisify(execFile);

/** The SDKs a user's program brings itself; the package shares them (its peerDependencies). */
export const USER_SDKS = [
    "@pulumi/pulumi",
    "@pulumi/azure-native",
    "@pulumi/docker",
    "@pulumi/kubernetes",
    "@pulumi/policy",
    "@pulumi/random",
    "@pulumi/tls",
] as const;

/**
 * Path of the newest Node.js `line` binary (fetched from the npm registry once, see
 * scripts/node-line.mjs).
 */
export function nodeBinary(line: string): string {
    return execFileSync(process.execPath, [join(REPO, "scripts", "node-line.mjs"), line], {
        encoding: "utf8",
    }).trim();
}

/**
 * Environment whose PATH finds `node` as the given binary first: child processes get it, and so
 * does npm (its launcher is `#!/usr/bin/env node`), which then checks `engines` against it.
 */
export function envWithNode(node: string): NodeJS.ProcessEnv {
    return { ...process.env, PATH: `${resolve(node, "..")}:${process.env.PATH ?? ""}` };
}

export interface RunResult {
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
}

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export async function run(
    command: string,
    args: readonly string[],
    cwd: string,
    env: NodeJS.ProcessEnv = process.env,
): Promise<RunResult> {
    try {
        const { stdout, stderr } = await execFileAsync(command, [...args], {
            cwd,
            env,
            maxBuffer: 64 * 1024 * 1024,
        });
        return { code: 0, stdout, stderr };
    } catch (e) {
        const err = e as { code?: unknown; stdout?: string; stderr?: string; message: string };
        if (typeof err.code !== "number") throw e;
        return { code: err.code, stdout: err.stdout ?? "", stderr: err.stderr ?? err.message };
    }
}

/** Like run, but throws with the output when the exit code is not 0. */
export async function runOk(
    command: string,
    args: readonly string[],
    cwd: string,
    env?: NodeJS.ProcessEnv,
): Promise<RunResult> {
    const r = await run(command, args, cwd, env);
    if (r.code !== 0) {
        throw new Error(
            `${command} ${args.join(" ")} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
        );
    }
    return r;
}

/** Not copied when packing: installs, build output and local state. */
const PACK_SKIP = new Set([".git", "node_modules", "dist", ".tmp", ".amlaks", ".bench"]);

/**
 * Packs the repository as a release does: `npm pack`, whose `prepack` script builds dist/ first.
 * It runs in a copy of the sources (sharing node_modules), so the repository's own dist/ is never
 * rewritten under other running tests. Returns the tarball's path in `dest`.
 */
export async function packPackage(dest: string): Promise<string> {
    const sources = join(dest, "sources");
    cpSync(REPO, sources, {
        recursive: true,
        filter: (src) => !(dirname(src) === REPO && PACK_SKIP.has(basename(src))),
    });
    symlinkSync(join(REPO, "node_modules"), join(sources, "node_modules"));
    const r = await runOk("npm", ["pack", "--json", "--pack-destination", dest], sources);
    // npm prints the prepack script's output before the JSON on stdout.
    const json = r.stdout.slice(r.stdout.lastIndexOf("\n[\n") + 1);
    const [packed] = JSON.parse(json) as { filename: string }[];
    return join(dest, packed!.filename);
}

/** The ```ts block of the README that contains `marker` (exactly one must). */
export function readmeProgram(marker: string): string {
    const readme = readFileSync(join(REPO, "README.md"), "utf8");
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const found = blocks.filter((b) => b.includes(marker));
    if (found.length !== 1) {
        throw new Error(`expected one ts block with ${marker} in README.md, found ${found.length}`);
    }
    return found[0]!;
}

export interface ConsumerOptions {
    /** Folder of the project (created). */
    readonly dir: string;
    /** The packed package. */
    readonly tarball: string;
    /** Node binary that runs npm (and whose line the project targets). */
    readonly node: string;
    /** The user's own packages, as npm specs (e.g. `@pulumi/pulumi@latest`). */
    readonly packages: readonly string[];
    /** The program, written as index.ts. */
    readonly program: string;
}

/**
 * Writes the consumer project (fixture files, the program, the sample's entry script and model)
 * and installs the tarball together with the user's packages, in one `npm install` on `node`.
 * No install scripts run: @pulumi/kubernetes's would download a provider plugin from the internet.
 */
export async function createConsumerProject(opts: ConsumerOptions): Promise<void> {
    cpSync(FIXTURE, opts.dir, { recursive: true });
    writeFileSync(join(opts.dir, "index.ts"), opts.program);
    const sample = join(REPO, "examples", "sample");
    mkdirSync(join(opts.dir, "src"), { recursive: true });
    cpSync(join(sample, "score.py"), join(opts.dir, "src", "score.py"));
    cpSync(join(sample, "model"), join(opts.dir, "model"), { recursive: true });
    await runOk(
        "npm",
        ["install", "--no-audit", "--no-fund", "--ignore-scripts", opts.tarball, ...opts.packages],
        opts.dir,
        envWithNode(opts.node),
    );
}

/**
 * Compiles the project's index.ts to index.js next to it (so the program runs from the project
 * folder, where its relative paths point) with the project's own TypeScript: strict, and
 * declaration files are checked too unless `skipLibCheck`.
 */
export function compileProgram(
    dir: string,
    node: string,
    opts: { skipLibCheck?: boolean } = {},
): Promise<RunResult> {
    const tsc = join(dir, "node_modules", "typescript", "bin", "tsc");
    return run(node, [tsc, "-p", dir, ...(opts.skipLibCheck ? ["--skipLibCheck"] : [])], dir);
}

export interface Copy {
    readonly path: string;
    readonly version: string;
}

/** Installed copies of each SDK, by `npm ls` (scripts/sdk-copies.mjs), and npm's complaints. */
export async function installedCopies(dir: string): Promise<{
    copies: Record<string, Copy[]>;
    npmStatus: number;
    npmErrors: string;
}> {
    const r = await run(
        process.execPath,
        [join(REPO, "scripts", "sdk-copies.mjs"), dir, ...USER_SDKS],
        dir,
    );
    return JSON.parse(r.stdout) as {
        copies: Record<string, Copy[]>;
        npmStatus: number;
        npmErrors: string;
    };
}

/** The newest published version of each package (`npm view <name>@latest version`). */
export async function newestVersions(names: readonly string[]): Promise<Record<string, string>> {
    const versions = await Promise.all(
        names.map(
            async (n) => (await runOk("npm", ["view", `${n}@latest`, "version"], REPO)).stdout,
        ),
    );
    return Object.fromEntries(names.map((n, i) => [n, versions[i]!.trim()]));
}
