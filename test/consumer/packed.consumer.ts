/**
 * Issue 17: the packed package in a platform team's Pulumi program that has its own, newest SDKs.
 * `npm pack`, then one `npm install` (on Node 22) of the tarball with the newest @pulumi/pulumi and
 * provider SDKs into a fresh project; then:
 * - npm ls finds ONE copy of each SDK (the user's): two copies of @pulumi/pulumi break components
 *   (children that silently fail to register under their component, pulumi/pulumi#19264);
 * - the README's Azure program compiles against the packed types with the user's TypeScript;
 * - on each current Node line, that program runs under mocks with all four components: each has
 *   children registered under it, the exports resolve, and the package loads the user's SDKs;
 * - the tarball is complete: every `files` entry matches, `main`, `types`, `exports`, `bin`, the
 *   policy pack and the multi-language plugin folder (provider/) find every file they load, and
 *   no sources or tests ship; the version is semver and the same in all three manifests;
 * - `npx amlaks serve --sample` runs from the installed package and answers a scoring request.
 *
 * Slow (it installs from the npm registry), so not part of `npm test`: `npm run test:consumer`
 * (`.ci/run` runs it). AMLAKS_CONSUMER_NODE_LINES (default "22,24") picks the Node lines;
 * AMLAKS_CONSUMER_TARBALL tests a given tarball instead of packing this checkout;
 * AMLAKS_CONSUMER_KEEP=1 keeps the project for a look.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix, resolve } from "node:path";
import { startRegistry, type RegistryHandle } from "../support/docker";
import {
    compileProgram,
    createConsumerProject,
    envWithNode,
    installedCopies,
    newestVersions,
    nodeBinary,
    packPackage,
    readmeProgram,
    run,
    USER_SDKS,
} from "./project";

const LINES = (process.env.AMLAKS_CONSUMER_NODE_LINES ?? "22,24").split(",").map((l) => l.trim());

/** What test/consumer/fixtures/project/harness.js writes. */
interface Report {
    node: string;
    sdks: Record<string, { fromProgram: string | null; fromPackage: string | null }>;
    exports: Record<string, unknown>;
    registrations: { type: string; name: string; urn: string; parent: string }[];
}

const COMPONENTS = {
    "amlaks:index:AmlWorkspace": "ml",
    "amlaks:index:AksInferenceCluster": "inference",
    "amlaks:index:ModelImage": "env",
    "amlaks:index:AksWebservice": "diabetes",
} as const;

/** Resource types each component must have among its descendants (what it exists to create). */
const EXPECTED_DESCENDANTS: Record<keyof typeof COMPONENTS, string[]> = {
    "amlaks:index:AmlWorkspace": [
        "azure-native:machinelearningservices:Workspace",
        "azure-native:containerregistry:Registry",
        "azure-native:storage:StorageAccount",
    ],
    "amlaks:index:AksInferenceCluster": [
        "azure-native:containerservice:ManagedCluster",
        // The router image, built from the package's own bundle on a miss.
        "docker:index/image:Image",
        "kubernetes:apps/v1:Deployment",
    ],
    // Built on a miss: the loopback registry starts empty.
    "amlaks:index:ModelImage": ["docker:index/image:Image"],
    "amlaks:index:AksWebservice": [
        "docker:index/image:Image",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:Service",
    ],
};

let root: string;
let tarball: string;
let project: string;
let node22: string;
let registry: RegistryHandle;
let newest: Record<string, string>;

before(async () => {
    root = mkdtempSync(join(tmpdir(), "amlaks-consumer-"));
    project = join(root, "project");
    node22 = nodeBinary("22");
    const given = process.env.AMLAKS_CONSUMER_TARBALL;
    const [packed, versions] = await Promise.all([
        given ? resolve(given) : packPackage(root),
        newestVersions(USER_SDKS),
    ]);
    tarball = packed;
    newest = versions;
    await createConsumerProject({
        dir: project,
        tarball,
        node: node22,
        // The user's own project: the newest SDKs, TypeScript as @pulumi/pulumi accepts it.
        packages: [...USER_SDKS.map((n) => `${n}@${newest[n]}`), "typescript@<7", "@types/node@22"],
        program: readmeProgram("new amlaks.AmlWorkspace("),
    });
    registry = await startRegistry();
});

after(async () => {
    await registry?.stop();
    if (process.env.AMLAKS_CONSUMER_KEEP) process.stderr.write(`# consumer kept in ${root}\n`);
    else if (root) rmSync(root, { recursive: true, force: true });
});

describe("the packed package in a project with the newest SDKs", () => {
    test("npm ls: one copy of @pulumi/pulumi and of each provider SDK, the user's newest", async () => {
        const { copies, npmStatus, npmErrors } = await installedCopies(project);
        assert.equal(npmStatus, 0, `npm ls complains (unmet or invalid peer?):\n${npmErrors}`);
        for (const name of USER_SDKS) {
            assert.deepEqual(
                copies[name]?.map((c) => [c.path, c.version]),
                [[join(project, "node_modules", name), newest[name]]],
                `${name}: ${JSON.stringify(copies[name])}`,
            );
        }
    });

    test("the README's Azure program compiles against the packed types (strict, libraries checked)", async () => {
        const r = await compileProgram(project, node22);
        assert.equal(r.code, 0, r.stdout + r.stderr);
    });

    for (const line of LINES) {
        test(`Node ${line}: all four components under mocks — children registered, outputs resolved, the user's SDKs loaded`, async () => {
            const node = line === "22" ? node22 : nodeBinary(line);
            const reportFile = join(root, `report-${line}.json`);
            const r = await run(node, ["harness.js", reportFile], project, {
                ...envWithNode(node),
                AMLAKS_CONSUMER_REGISTRY: registry.host,
            });
            assert.equal(r.code, 0, r.stdout + r.stderr);
            const report = JSON.parse(readFileSync(reportFile, "utf8")) as Report;
            assert.match(report.node, new RegExp(`^v${line}\\.`));

            // At run time the package resolves every SDK to the very file the program uses.
            for (const name of USER_SDKS) {
                const sdk = report.sdks[name]!;
                assert.ok(sdk.fromProgram, `${name} not found from the program`);
                assert.equal(sdk.fromPackage, sdk.fromProgram, name);
            }

            const regs = report.registrations;
            const byUrn = new Map(regs.map((g) => [g.urn, g]));
            assert.ok(
                regs.every((g) => g.urn !== ""),
                "every registration got its URN",
            );
            for (const [type, name] of Object.entries(COMPONENTS)) {
                const found = regs.filter((g) => g.type === type);
                assert.deepEqual(
                    found.map((g) => g.name),
                    [name],
                    `${type}: ${JSON.stringify(found)}`,
                );
                const urn = found[0]!.urn;
                const descendants = regs.filter((g) => {
                    for (let p = byUrn.get(g.parent); p; p = byUrn.get(p.parent)) {
                        if (p.urn === urn) return true;
                    }
                    return false;
                });
                assert.ok(
                    regs.some((g) => g.parent === urn),
                    `${type} has no child registered under it`,
                );
                const types = new Set(descendants.map((g) => g.type));
                for (const t of EXPECTED_DESCENDANTS[type as keyof typeof COMPONENTS]) {
                    assert.ok(types.has(t), `${type} lacks a ${t} child: ${[...types].join(", ")}`);
                }
            }
            // Nothing lands outside the components: only the four have no parent.
            const roots = regs.filter((g) => !byUrn.has(g.parent));
            assert.deepEqual(roots.map((g) => g.type).sort(), Object.keys(COMPONENTS).sort());

            // The program's exports, resolved through the user's SDK.
            assert.match(
                String(report.exports.scoringUri),
                /^https?:\/\/[^/]+\/api\/v1\/service\/diabetes\/score$/,
            );
            assert.deepEqual(report.exports.primaryKey, { secret: true, length: 32 });
        });
    }
});

/** A package.json in the tarball (read from the installed copy, which is the tarball unpacked). */
function installedManifest(path = "package.json"): Record<string, unknown> {
    const file = join(project, "node_modules", "@amlaks", "pulumi-aml-aks", path);
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
}

/** Paths in the tarball, relative to its `package/` folder. */
async function tarballFiles(): Promise<string[]> {
    const r = await run("tar", ["-tzf", tarball], root);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout
        .split("\n")
        .filter((l) => l.startsWith("package/") && !l.endsWith("/"))
        .map((l) => l.slice("package/".length));
}

/** Glob of a `files` entry as npm reads it: a file, or a folder and everything under it. */
function matchesEntry(file: string, entry: string): boolean {
    const e = entry.replace(/^\.\//, "").replace(/\/$/, "");
    return file === e || file.startsWith(`${e}/`);
}

describe("the tarball", () => {
    test("complete: every file main, types, exports, bin, the policy pack and the plugin load is in it", async () => {
        const files = new Set(await tarballFiles());
        const pkg = installedManifest() as {
            version: string;
            main: string;
            types: string;
            bin: Record<string, string>;
            exports: Record<string, string | Record<string, string>>;
            files: string[];
        };
        const inTarball = (from: string, rel: string): void => {
            const path = posix.normalize(posix.join(posix.dirname(from), rel));
            assert.ok(files.has(path), `${rel} (from ${from}) is not in the tarball`);
        };
        // Every `files` entry ships something (a stale entry is a mistake).
        for (const entry of pkg.files.filter((f) => !f.startsWith("!"))) {
            assert.ok(
                [...files].some((f) => matchesEntry(f, entry)),
                `files entry "${entry}" matches nothing in the tarball`,
            );
        }
        inTarball("package.json", pkg.main);
        inTarball("package.json", pkg.types);
        for (const target of Object.values(pkg.exports).flatMap((e) =>
            typeof e === "string" ? [e] : Object.values(e),
        )) {
            inTarball("package.json", target);
        }
        for (const bin of Object.values(pkg.bin)) {
            inTarball("package.json", bin);
            const text = readFileSync(
                join(project, "node_modules", "@amlaks", "pulumi-aml-aks", bin),
                "utf8",
            );
            assert.match(text, /^#!\/usr\/bin\/env node\n/, `${bin} has no node shebang`);
        }
        // The policy pack folder (pulumi preview --policy-pack) and what its entry loads.
        const policy = installedManifest("policy/package.json") as {
            main: string;
            version: string;
        };
        inTarball("policy/package.json", policy.main);
        assert.ok(files.has("policy/PulumiPolicy.yaml"));
        inTarball("policy/entry.js", "../dist/policy/index.js");
        // The multi-language plugin folder: its manifest, main, and the schema's entry and target.
        const plugin = installedManifest("provider/package.json") as {
            main: string;
            version: string;
        };
        for (const f of ["PulumiPlugin.yaml", "package.json", "tsconfig.json", "index.ts"]) {
            assert.ok(files.has(`provider/${f}`), `provider/${f} is not in the tarball`);
        }
        inTarball("provider/package.json", plugin.main);
        inTarball("provider/index.ts", "../dist/index.d.ts");
        // The sample `amlaks serve --sample` serves, and the model server it starts.
        for (const f of ["score.py", "settings.yaml", "model/sklearn_regression_model.json"]) {
            assert.ok(files.has(`examples/sample/${f}`), `examples/sample/${f} missing`);
        }
        assert.ok(files.has("runtime/python/amlserver.py"));
        // No sources (besides the plugin's entry), tests, build leftovers or local state.
        const stray = [...files].filter(
            (f) =>
                (f.endsWith(".ts") && !f.endsWith(".d.ts") && f !== "provider/index.ts") ||
                f.startsWith("test/") ||
                f.includes("__pycache__") ||
                f.startsWith(".amlaks/") ||
                /(^|\/)package-lock\.json$/.test(f),
        );
        assert.deepEqual(stray, []);
        // One version, semver, in the three manifests the tools read.
        assert.match(pkg.version, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
        assert.equal(policy.version, pkg.version, "policy/package.json version");
        assert.equal(plugin.version, pkg.version, "provider/package.json version");
    });
});

describe("npx amlaks serve --sample from the installed package", () => {
    test("serves the bundled sample: scoring answers as the reference predictions, Ctrl-C stops it", async () => {
        // Its own process group, so that the test's Ctrl-C reaches npx and amlaks alike, as a
        // terminal's does.
        const child = spawn("npx", ["--no-install", "amlaks", "serve", "--sample", "--port", "0"], {
            cwd: project,
            env: envWithNode(node22),
            detached: true,
        });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (out += d.toString()));
        const exited = new Promise<string>((r) =>
            child.on("close", (code, signal) => r(signal ?? String(code))),
        );
        try {
            const uri = await new Promise<string>((ok, fail) => {
                const timer = setTimeout(
                    () => fail(new Error(`not ready in 60 s:\n${out}`)),
                    60_000,
                );
                const check = (): void => {
                    const m = /scoring URI:\s+(http:\/\/127\.0\.0\.1:\d+\S*)/.exec(out);
                    if (m) {
                        clearTimeout(timer);
                        ok(m[1]!);
                    }
                };
                child.stdout.on("data", check);
                void exited.then((code) => fail(new Error(`exited ${code}:\n${out}`)));
            });
            const keys = JSON.parse(
                readFileSync(join(project, ".amlaks", "diabetes", "keys.json"), "utf8"),
            ) as { primaryKey: string };
            const reference = JSON.parse(
                readFileSync(
                    join(
                        project,
                        "node_modules",
                        "@amlaks",
                        "pulumi-aml-aks",
                        "examples",
                        "sample",
                        "reference-predictions.json",
                    ),
                    "utf8",
                ),
            ) as { input: unknown; predictions: number[] };
            const res = await fetch(uri, {
                method: "POST",
                headers: {
                    "Content-Type": "application/json",
                    Authorization: `Bearer ${keys.primaryKey}`,
                },
                body: JSON.stringify(reference.input),
            });
            assert.equal(res.status, 200, await res.clone().text());
            const predictions = (await res.json()) as number[];
            assert.equal(predictions.length, reference.predictions.length);
            predictions.forEach((p, i) =>
                assert.ok(
                    Math.abs(p - reference.predictions[i]!) <=
                        1e-9 * Math.abs(reference.predictions[i]!),
                    `prediction ${i}: ${p} vs ${reference.predictions[i]}`,
                ),
            );
        } finally {
            process.kill(-child.pid!, "SIGINT");
        }
        // amlaks drains and stops cleanly; npx then ends as a Ctrl-C'd npm does (0 or SIGINT).
        const how = await exited;
        assert.ok(how === "0" || how === "SIGINT", `npx ended with ${how}:\n${out}`);
        assert.match(out, /amlaks: stopped in/);
    });
});
