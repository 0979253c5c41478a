/**
 * The amlaks policy pack run by the real Pulumi CLI (`pulumi preview --policy-pack`) on
 * Kubernetes-only stacks against a real API server: from the repository (`policy/`) and from the
 * installed package (`node_modules/@amlaks/pulumi-aml-aks/policy`, which runs the compiled pack in
 * dist/). An HPA aimed at a model Deployment fails the preview; compliant stacks pass; advisory
 * findings pass until `{"all": "mandatory"}`; a waiver with a reason lets a stack through.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
    copyFileSync,
    existsSync,
    mkdirSync,
    readdirSync,
    rmSync,
    symlinkSync,
    writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import type { RunResult } from "./pulumi/engine";
import { Stack } from "./pulumi/stack";
import { type E2e, MODEL_IMAGE, newKey, REPO, ROUTER_IMAGE, setupE2e } from "./support";

const COMPONENTS = join(REPO, "test", "e2e", "programs", "policy-components");
const RAW = join(REPO, "test", "e2e", "programs", "policy-raw");
const PACK = join(REPO, "policy");

const HPA_FINDING =
    'HorizontalPodAutoscaler (autoscaling/v2) "azureml-services/diabetes" targets the model Deployment "azureml-services/diabetes".';

let e2e: E2e;
let stacks = 0;
before(async () => {
    e2e = await setupE2e("policy");
});
after(async () => {
    await e2e?.cleanup();
});

/** A fresh stack of `program` with the base config plus `config`. */
async function stackOf(program: string, config: Record<string, string> = {}): Promise<Stack> {
    const stack = new Stack(e2e.engine, program, `policy${++stacks}`);
    await stack.init(
        { routerImage: ROUTER_IMAGE, imageRef: MODEL_IMAGE, ...config },
        { kubeconfig: e2e.cluster.kubeconfig, primaryKey: newKey(), secondaryKey: newKey() },
    );
    return stack;
}

/** `pulumi preview --policy-pack <pack>` (plus `args`); output is stdout and stderr together. */
async function preview(stack: Stack, pack: string, args: string[] = []) {
    const r: RunResult = await stack.run(["preview", "--policy-pack", pack, ...args]);
    return { code: r.code, out: r.stdout + r.stderr };
}

/** The policy lines of a preview's output (`[mandatory] ... <policy>`). */
function findings(out: string): string[] {
    return [...out.matchAll(/\[(mandatory|advisory)\][^\n]*?\s([a-z0-9]+(?:-[a-z0-9]+)+)\s/g)].map(
        (m) => `${m[1]} ${m[2]}`,
    );
}

describe("pulumi preview --policy-pack policy (the repository's pack)", () => {
    test("the components' compliant Kubernetes-only stack passes", async () => {
        const r = await preview(await stackOf(COMPONENTS), PACK);
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /amlaks@v\d+\.\d+\.\d+/, r.out);
        assert.deepEqual(findings(r.out), [], r.out);
    });

    test("an HPA aimed at the model Deployment is refused", async () => {
        const r = await preview(await stackOf(COMPONENTS, { hpa: "v2" }), PACK);
        assert.notEqual(r.code, 0, r.out);
        assert.deepEqual(findings(r.out), ["mandatory no-hpa-on-model-deployments"], r.out);
        assert.ok(r.out.includes(HPA_FINDING), r.out);
    });

    test("a waiver with a reason lets the HPA through", async () => {
        const stack = await stackOf(COMPONENTS, { hpa: "v2", hpaWaiver: "load test until OPS-12" });
        const r = await preview(stack, PACK);
        assert.equal(r.code, 0, r.out);
        assert.deepEqual(findings(r.out), [], r.out);
    });

    test('advisory findings pass; {"all": "mandatory"} makes them fail', async () => {
        const stack = await stackOf(COMPONENTS, { authEnabled: "false" });
        const advisory = await preview(stack, PACK);
        assert.equal(advisory.code, 0, advisory.out);
        assert.deepEqual(
            findings(advisory.out),
            ["advisory webservice-auth-required"],
            advisory.out,
        );

        const configFile = join(e2e.dir, "all-mandatory.json");
        writeFileSync(configFile, JSON.stringify({ all: "mandatory" }));
        const raised = await preview(stack, PACK, ["--policy-pack-config", configFile]);
        assert.notEqual(raised.code, 0, raised.out);
        assert.deepEqual(findings(raised.out), ["mandatory webservice-auth-required"], raised.out);
    });

    test("hand-written resources: a compliant model Deployment passes, an autoscaling/v1 HPA on it is refused", async () => {
        const ok = await preview(await stackOf(RAW), PACK);
        assert.equal(ok.code, 0, ok.out);
        assert.deepEqual(findings(ok.out), [], ok.out);
        const bad = await preview(await stackOf(RAW, { hpa: "v1" }), PACK);
        assert.notEqual(bad.code, 0, bad.out);
        assert.deepEqual(findings(bad.out), ["mandatory no-hpa-on-model-deployments"], bad.out);
        assert.ok(
            bad.out.includes(
                'HorizontalPodAutoscaler (autoscaling/v1) "models/scorer" targets the model Deployment "models/scorer".',
            ),
            bad.out,
        );
    });
});

describe("pulumi preview --policy-pack node_modules/@amlaks/pulumi-aml-aks/policy", () => {
    const root = join(REPO, ".tmp", "e2e-policy-installed");
    after(() => rmSync(root, { recursive: true, force: true }));

    /** The package as npm installs it (the files `npm pack` ships), with the repo's dependencies. */
    function install(): string {
        assert.ok(
            existsSync(join(REPO, "dist", "policy", "index.js")),
            "run `npm run build` first: the installed pack runs dist/policy",
        );
        rmSync(root, { recursive: true, force: true });
        const modules = join(root, "node_modules");
        const pkg = join(modules, "@amlaks", "pulumi-aml-aks");
        const listing = JSON.parse(
            execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
                cwd: REPO,
                encoding: "utf8",
            }),
        ) as { files: { path: string }[] }[];
        for (const { path } of listing[0]!.files) {
            mkdirSync(dirname(join(pkg, path)), { recursive: true });
            copyFileSync(join(REPO, path), join(pkg, path));
        }
        for (const entry of readdirSync(join(REPO, "node_modules"))) {
            if (entry === ".bin" || entry === "@amlaks" || entry.startsWith(".")) continue;
            symlinkSync(join(REPO, "node_modules", entry), join(modules, entry));
        }
        return join(pkg, "policy");
    }

    test("ships the pack without its sources and runs the compiled one: the HPA is refused", async () => {
        const pack = install();
        assert.deepEqual(readdirSync(pack).sort(), [
            "PulumiPolicy.yaml",
            "entry.js",
            "package.json",
        ]);
        const bad = await preview(await stackOf(COMPONENTS, { hpa: "v2" }), pack);
        assert.notEqual(bad.code, 0, bad.out);
        assert.deepEqual(findings(bad.out), ["mandatory no-hpa-on-model-deployments"], bad.out);
        assert.ok(bad.out.includes(HPA_FINDING), bad.out);
        assert.match(bad.out, /\(local: [^)]*pulumi-aml-aks\/policy\)/, bad.out);
        const ok = await preview(await stackOf(COMPONENTS), pack);
        assert.equal(ok.code, 0, ok.out);
        assert.deepEqual(findings(ok.out), [], ok.out);
    });
});
