/**
 * Issue 17 with the real engine: the packed package in a fresh project on Node 22 with the newest
 * @pulumi/pulumi, and the README's Kubernetes program previewed there by the real Pulumi CLI
 * against a real API server. @pulumi/kubernetes is the version whose provider is built here
 * (tools/pulumi-kubernetes, no plugin downloads); the other SDKs are the peers npm installs
 * itself, at their newest. The mocks-side proof (all four components, Node 22 and 24) is
 * test/consumer/packed.consumer.ts.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
    compileProgram,
    createConsumerProject,
    installedCopies,
    newestVersions,
    nodeBinary,
    packPackage,
    readmeProgram,
    USER_SDKS,
} from "../consumer/project";
import { PULUMI_TOOLS, requireTools } from "./cluster/tools";
import { kubernetesProviderVersion, type Engine, type RunResult } from "./pulumi/engine";
import { changes, Stack } from "./pulumi/stack";
import { type E2e, MODEL_IMAGE, newKey, ROUTER_IMAGE, setupE2e } from "./support";

let e2e: E2e;
let project: string;
let node22: string;
let newestPulumi: string;

/**
 * The e2e engine, but its programs run on `node` (the language host finds `node` on PATH). Each
 * Node process the engine starts appends its version to `versionsFile` (a preload), so the test
 * can tell which Node ran the program.
 */
function engineOnNode(engine: Engine, node: string, versionsFile: string): Engine {
    const preload = join(engine.dir, "record-node-version.cjs");
    writeFileSync(
        preload,
        `require("node:fs").appendFileSync(${JSON.stringify(versionsFile)}, process.version + "\\n");\n`,
    );
    const env = {
        ...engine.env,
        PATH: `${join(node, "..")}:${engine.env.PATH ?? ""}`,
        NODE_OPTIONS: `--require=${preload}`,
    };
    const pulumi = requireTools(PULUMI_TOOLS).pulumi;
    const run = (args: readonly string[], cwd: string, input?: string): Promise<RunResult> =>
        new Promise((resolve, reject) => {
            const child = spawn(pulumi, [...args, "--non-interactive"], { cwd, env });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
            child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
            child.on("error", reject);
            child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
            child.stdin.end(input ?? "");
        });
    const ok = async (args: readonly string[], cwd: string, input?: string) => {
        const r = await run(args, cwd, input);
        if (r.code !== 0) {
            throw new Error(`pulumi ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
        }
        return r;
    };
    return { dir: engine.dir, env, run, ok };
}

/** `22.x.y` of a node binary. */
function nodeVersion(node: string): string {
    return execFileSync(node, ["-p", "process.versions.node"], { encoding: "utf8" }).trim();
}

before(async () => {
    e2e = await setupE2e("consumer");
    project = join(e2e.dir, "consumer", "project");
    node22 = nodeBinary("22");
    // A tarball CI has packed already (AMLAKS_CONSUMER_TARBALL), or this checkout packed now.
    const given = process.env.AMLAKS_CONSUMER_TARBALL;
    const [tarball, newest] = await Promise.all([
        given ? resolve(given) : packPackage(join(e2e.dir, "consumer")),
        newestVersions(["@pulumi/pulumi"]),
    ]);
    newestPulumi = newest["@pulumi/pulumi"]!;
    await createConsumerProject({
        dir: project,
        tarball,
        node: node22,
        packages: [
            `@pulumi/pulumi@${newestPulumi}`,
            `@pulumi/kubernetes@${kubernetesProviderVersion()}`,
            "typescript@<7",
            "@types/node@22",
        ],
        program: readmeProgram('config.requireSecret("kubeconfig")'),
    });
    // Declaration files are checked by test/consumer/packed.consumer.ts; here the program only
    // has to run.
    const compiled = await compileProgram(project, node22, { skipLibCheck: true });
    assert.equal(compiled.code, 0, compiled.stdout + compiled.stderr);
});

after(async () => {
    await e2e?.cleanup();
});

describe("the packed package with the newest @pulumi/pulumi, on Node 22, real engine", () => {
    test("npm ls: the package shares the project's SDKs (one copy each)", async () => {
        const { copies, npmStatus, npmErrors } = await installedCopies(project);
        assert.equal(npmStatus, 0, npmErrors);
        for (const name of USER_SDKS) {
            assert.equal(copies[name]?.length, 1, `${name}: ${JSON.stringify(copies[name])}`);
        }
        assert.equal(copies["@pulumi/pulumi"]![0]!.version, newestPulumi);
    });

    test("pulumi preview of the README's Kubernetes program: every object planned under its component", async () => {
        const versions = join(e2e.dir, "node-versions.txt");
        const stack = new Stack(engineOnNode(e2e.engine, node22, versions), project, "consumer");
        await stack.init(
            { routerImage: ROUTER_IMAGE, imageRef: MODEL_IMAGE },
            { kubeconfig: e2e.cluster.kubeconfig, primaryKey: newKey(), secondaryKey: newKey() },
        );
        const planned = changes(await stack.previewSteps());
        assert.ok(
            planned.length > 0 && planned.every((s) => s.op === "create"),
            JSON.stringify(planned),
        );
        const urns = planned.map((s) => s.urn);
        // Children carry their component's type in the URN: registered under it, not at the root.
        for (const child of [
            "amlaks:index:AksInferenceCluster$kubernetes:apps/v1:Deployment",
            "amlaks:index:AksInferenceCluster$kubernetes:core/v1:Service",
            "amlaks:index:AksWebservice$kubernetes:apps/v1:Deployment",
            "amlaks:index:AksWebservice$kubernetes:core/v1:Service",
        ]) {
            assert.ok(
                urns.some((u) => u.includes(`::${child}::`)),
                `${child} not planned: ${urns.join("\n")}`,
            );
        }
        const outside = urns.filter((u) => !/::amlaks:index:[A-Za-z]+(\$|::)/.test(u));
        assert.deepEqual(outside, [], "resources planned outside the components");
        // The program ran on Node 22 (the machine's Node is 20).
        const ran = new Set(readFileSync(versions, "utf8").trim().split("\n"));
        assert.deepEqual([...ran], [`v${nodeVersion(node22)}`]);
    });
});
