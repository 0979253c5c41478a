/**
 * The multi-language package (provider/) from a YAML program, through the real CLI, the YAML
 * language host (tools/pulumi-language-yaml), the Node.js host running the component plugin, the
 * real Kubernetes provider and a real API server: preview, up, every object on the server, no
 * changes on a second preview, destroy. The program is test/e2e/programs/yaml-webservice
 * (its `packages` entry points at provider/): AksInferenceCluster in kubeconfig mode and
 * AksWebservice on the Kubernetes-only path. The plugin runs the built library: `npm run build`
 * first. Stack config and state live in the e2e folder; the program folder is left as it is.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { toolsDir } from "./cluster/tools";
import { changes, Stack, urnTail } from "./pulumi/stack";
import { type E2e, MODEL_IMAGE, newKey, readObject, REPO, ROUTER_IMAGE, setupE2e } from "./support";

const PROGRAM = join(REPO, "test", "e2e", "programs", "yaml-webservice");

let e2e: E2e;
let stack: Stack;
const primaryKey = newKey();
const secondaryKey = newKey();

before(async () => {
    const yamlHost = join(toolsDir(), "bin", "pulumi-language-yaml");
    if (!existsSync(yamlHost)) {
        throw new Error(
            `${yamlHost} is missing: run \`bash scripts/tools/build.sh pulumi-language-yaml\``,
        );
    }
    if (!existsSync(join(REPO, "dist", "index.js"))) {
        throw new Error("dist/ is missing: the plugin runs the built library (`npm run build`)");
    }
    e2e = await setupE2e("yaml");
});
after(async () => {
    await e2e?.cleanup();
});

describe("a YAML program with the package's components", () => {
    test("preview: both components and every child to create, nothing else", async () => {
        stack = new Stack(e2e.engine, PROGRAM, "dev");
        await stack.init(
            { routerImage: ROUTER_IMAGE, imageRef: MODEL_IMAGE },
            // As YAML text, the way kubeconfigs are written: the YAML language host reads a config
            // value that parses as JSON as an object, not as the string the component expects.
            { kubeconfig: stringify(parse(e2e.cluster.kubeconfig)), primaryKey, secondaryKey },
        );
        const planned = changes(await stack.previewSteps()).map((s) => `${s.op} ${urnTail(s.urn)}`);
        for (const want of [
            "create amlaks:index:AksInferenceCluster::cluster",
            "create amlaks:index:AksWebservice::diabetes",
            "create pulumi:providers:kubernetes::clusterProvider",
            "create kubernetes:apps/v1:Deployment::cluster-router",
            "create kubernetes:apps/v1:Deployment::diabetes-deployment",
            "create kubernetes:core/v1:Secret::diabetes-auth",
            "create kubernetes:core/v1:Service::diabetes-service",
            "create kubernetes:networking.k8s.io/v1:NetworkPolicy::diabetes-netpol",
            "create kubernetes:policy/v1:PodDisruptionBudget::diabetes-pdb",
        ]) {
            assert.ok(planned.includes(want), `plan lacks "${want}":\n${planned.join("\n")}`);
        }
        assert.ok(
            planned.every((p) => p.startsWith("create ")),
            planned.join("\n"),
        );
    });

    test("up: the service's objects are on the API server, made with the given provider", async () => {
        const r = await stack.up();
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const out = await stack.outputs();
        assert.match(String(out.scoringUri), /\/api\/v1\/service\/diabetes\/score$/);
        assert.equal(out.primaryKey, primaryKey);
        const dep = await e2e.kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({
            name: out.deploymentName as string,
            namespace: out.namespace as string,
        });
        const c = dep.spec!.template.spec!.containers[0]!;
        assert.equal(c.image, MODEL_IMAGE);
        assert.equal(c.resources?.requests?.memory, "512Mi");
        const policy = await readObject(e2e.kc, {
            apiVersion: "networking.k8s.io/v1",
            kind: "NetworkPolicy",
            name: "diabetes",
            namespace: out.namespace as string,
        });
        assert.ok(policy, "the service's NetworkPolicy is not on the API server");
        // The router namespace reached the service through the YAML `cluster` object.
        assert.ok(
            JSON.stringify(policy).includes(String(out.routerNamespace)),
            JSON.stringify(policy),
        );
        const state = await stack.resources();
        const provider = state.find((x) => x.urn.endsWith("::clusterProvider"))!;
        const objects = state.filter((x) => x.urn.includes("AksWebservice$kubernetes:"));
        assert.ok(objects.length >= 5, state.map((x) => x.urn).join("\n"));
        for (const o of objects) {
            assert.ok(
                String((o as { provider?: string }).provider).startsWith(provider.urn),
                `${o.urn} does not use clusterProvider`,
            );
        }
        // The keys are secrets in the state, never plaintext.
        assert.ok(!stack.stateText().includes(primaryKey), "primary key in plaintext in the state");
    });

    test("a second preview reports no changes (--expect-no-changes)", async () => {
        const r = await stack.run(["preview", "--expect-no-changes"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
    });

    test("destroy removes every object", async () => {
        const out = await stack.outputs();
        const r = await stack.run(["destroy", "--yes", "--skip-preview"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const gone = await readObject(e2e.kc, {
            apiVersion: "apps/v1",
            kind: "Deployment",
            name: out.deploymentName as string,
            namespace: out.namespace as string,
        });
        assert.equal(gone, undefined);
    });
});
