/**
 * Issue 17: the packed package in a platform team's Pulumi program that has its own, newest SDKs.
 * `npm pack`, then one `npm install` (on Node 22) of the tarball with the newest @pulumi/pulumi and
 * provider SDKs into a fresh project; then:
 * - npm ls finds ONE copy of each SDK (the user's): two copies of @pulumi/pulumi break components
 *   (children that silently fail to register under their component, pulumi/pulumi#19264);
 * - the README's Azure program compiles against the packed types with the user's TypeScript;
 * - on each current Node line, that program runs under mocks with all four components: each has
 *   children registered under it, the exports resolve, and the package loads the user's SDKs.
 *
 * Slow (it installs from the npm registry), so not part of `npm test`: `npm run test:consumer`
 * (`.ci/run` runs it). AMLAKS_CONSUMER_NODE_LINES (default "22,24") picks the Node lines;
 * AMLAKS_CONSUMER_TARBALL tests a given tarball instead of packing this checkout;
 * AMLAKS_CONSUMER_KEEP=1 keeps the project for a look.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
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
let project: string;
let node22: string;
let registry: RegistryHandle;
let newest: Record<string, string>;

before(async () => {
    root = mkdtempSync(join(tmpdir(), "amlaks-consumer-"));
    project = join(root, "project");
    node22 = nodeBinary("22");
    const given = process.env.AMLAKS_CONSUMER_TARBALL;
    const [tarball, versions] = await Promise.all([
        given ? resolve(given) : packPackage(root),
        newestVersions(USER_SDKS),
    ]);
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
