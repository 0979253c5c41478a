/**
 * AksInferenceCluster (kubeconfig mode) + AksWebservice through the real Pulumi CLI and engine,
 * the real Kubernetes provider and a real API server: preview, up, every object on the server,
 * no changes on a second preview, a one-setting change touching exactly one object, replicas owned
 * by the router, secrets encrypted at rest, bad input creating nothing, destroy leaving nothing.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { join } from "node:path";
import { changes, Stack, type StateResource, urnTail } from "./pulumi/stack";
import {
    type E2e,
    eventually,
    MODEL_IMAGE,
    newKey,
    readObject,
    REPO,
    ROUTER_IMAGE,
    setupE2e,
} from "./support";

const PROGRAM = join(REPO, "test", "e2e", "programs", "service");

let e2e: E2e;
const primaryKey = newKey();
const secondaryKey = newKey();

before(async () => {
    e2e = await setupE2e("service");
});
after(async () => {
    await e2e?.cleanup();
});

function baseConfig(): Record<string, string> {
    return { routerImage: ROUTER_IMAGE, imageRef: MODEL_IMAGE };
}
function baseSecrets(): Record<string, string> {
    return { kubeconfig: e2e.cluster.kubeconfig, primaryKey, secondaryKey };
}

/** Kubernetes objects of a stack's state, as API references. */
function k8sObjects(resources: readonly StateResource[]) {
    return resources
        .filter((r) => r.type.startsWith("kubernetes:") && r.type !== "pulumi:providers:kubernetes")
        .map((r) => {
            const o = r.outputs as {
                apiVersion: string;
                kind: string;
                metadata: { name: string; namespace?: string };
            };
            return {
                urn: r.urn,
                apiVersion: o.apiVersion,
                kind: o.kind,
                name: o.metadata.name,
                namespace: o.metadata.namespace,
            };
        });
}

describe("bad input through the real engine", () => {
    test("pulumi up: the validation error is shown and nothing is created", async () => {
        const bad = new Stack(e2e.engine, PROGRAM, "bad");
        await bad.init({ ...baseConfig(), memoryGb: "-1" }, baseSecrets());
        // `up` previews first (the default): the program fails there, before any change.
        const r = await bad.run(["up", "--yes"]);
        assert.notEqual(r.code, 0, "up with memoryGb -1 must fail");
        const out = r.stdout + r.stderr;
        assert.match(out, /memoryGb: -1 must be a number > 0/, out);
        const created = (await bad.resources()).filter((x) => x.type !== "pulumi:pulumi:Stack");
        assert.deepEqual(
            created.map((x) => x.type),
            [],
            "nothing may be created",
        );
        await assertClusterEmpty();
    });

    test("pulumi up --skip-preview: the invalid component registers nothing of its own", async () => {
        // Without a preview the engine creates what the program registered before the failing
        // component (here the cluster); the failing component itself validates before registering.
        const bad = new Stack(e2e.engine, PROGRAM, "bad");
        const r = await bad.up();
        assert.notEqual(r.code, 0);
        assert.match(r.stdout + r.stderr, /memoryGb: -1 must be a number > 0/);
        const types = (await bad.resources()).map((x) => x.urn);
        assert.ok(
            !types.some((u) => u.includes("AksWebservice") || u.includes("::diabetes")),
            types.join("\n"),
        );
        const down = await bad.run(["destroy", "--yes", "--skip-preview"]);
        assert.equal(down.code, 0, down.stdout + down.stderr);
        await bad.ok(["stack", "rm", "--yes"]);
        await eventually("router namespace gone", 60_000, async () =>
            (await readObject(e2e.kc, { apiVersion: "v1", kind: "Namespace", name: "azureml" }))
                ? undefined
                : true,
        );
        await assertClusterEmpty();
    });
});

async function assertClusterEmpty(): Promise<void> {
    const core = e2e.kc.makeApiClient(k8s.CoreV1Api);
    const namespaces = (await core.listNamespace()).items.map((n) => n.metadata!.name);
    assert.ok(!namespaces.includes("azureml"), `router namespace exists: ${namespaces.join(", ")}`);
    const deployments = await e2e.kc.makeApiClient(k8s.AppsV1Api).listDeploymentForAllNamespaces();
    assert.deepEqual(
        deployments.items.map((d) => d.metadata?.name),
        [],
    );
}

describe("cluster + web service lifecycle", () => {
    let stack: Stack;

    test("preview shows the plan: every child to create, nothing else", async () => {
        stack = new Stack(e2e.engine, PROGRAM, "dev");
        await stack.init(baseConfig(), baseSecrets());
        const steps = await stack.previewSteps();
        const created = changes(steps)
            .map((s) => `${s.op} ${urnTail(s.urn)}`)
            .sort();
        for (const want of [
            "create kubernetes:core/v1:Namespace::e2e-router-ns",
            "create kubernetes:apps/v1:Deployment::e2e-router",
            "create kubernetes:core/v1:Service::e2e-router-svc",
            "create kubernetes:rbac.authorization.k8s.io/v1:Role::e2e-router-role-azureml-services",
            "create kubernetes:core/v1:Namespace::e2e-services-ns-azureml-services",
            "create kubernetes:apps/v1:Deployment::diabetes-deployment",
            "create kubernetes:core/v1:Secret::diabetes-auth",
            "create kubernetes:core/v1:Service::diabetes-service",
            "create kubernetes:networking.k8s.io/v1:NetworkPolicy::diabetes-netpol",
            "create kubernetes:policy/v1:PodDisruptionBudget::diabetes-pdb",
        ]) {
            assert.ok(created.includes(want), `plan lacks "${want}":\n${created.join("\n")}`);
        }
        assert.ok(
            created.every((c) => c.startsWith("create ")),
            created.join("\n"),
        );
    });

    test("up succeeds and every object it created is on the API server as rendered", async () => {
        const r = await stack.up();
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const resources = await stack.resources();
        const objects = k8sObjects(resources);
        assert.ok(objects.length >= 12, `only ${objects.length} Kubernetes objects in the state`);
        for (const o of objects) {
            const live = await readObject(e2e.kc, o);
            assert.ok(live, `${o.kind} ${o.namespace ?? ""}/${o.name} is not on the API server`);
        }
        // The model Deployment as intended: the given image, the requested resources, ready pods.
        const out = await stack.outputs();
        const apps = e2e.kc.makeApiClient(k8s.AppsV1Api);
        const dep = await apps.readNamespacedDeployment({
            name: out.deploymentName as string,
            namespace: out.namespace as string,
        });
        const c = dep.spec!.template.spec!.containers[0]!;
        assert.equal(c.image, MODEL_IMAGE);
        assert.equal(c.resources?.requests?.memory, "512Mi");
        assert.equal(dep.status?.readyReplicas, 1);
        // Keys reach the router through the auth Secret, never the pod spec.
        assert.ok(!JSON.stringify(dep.spec).includes(primaryKey), "primary key in the pod spec");
        const secret = await e2e.kc
            .makeApiClient(k8s.CoreV1Api)
            .readNamespacedSecret({ name: "diabetes-auth", namespace: out.namespace as string })
            .catch(() => undefined);
        const auth =
            secret ??
            (
                await e2e.kc
                    .makeApiClient(k8s.CoreV1Api)
                    .listNamespacedSecret({ namespace: out.namespace as string })
            ).items.find((s) => s.metadata?.name?.startsWith("diabetes"));
        assert.ok(auth, "auth Secret missing");
        const values = Object.values(auth.data ?? {}).map((v) =>
            Buffer.from(v, "base64").toString(),
        );
        assert.ok(
            values.some((v) => v.includes(primaryKey)),
            "auth Secret does not hold the primary key",
        );
        assert.equal(out.primaryKey, primaryKey);
    });

    test("a second preview reports no changes (--expect-no-changes)", async () => {
        const r = await stack.run(["preview", "--expect-no-changes"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
    });

    test("changing memoryGb previews as an update of exactly the model Deployment", async () => {
        await stack.setConfig("memoryGb", "1");
        const steps = changes(await stack.previewSteps());
        assert.deepEqual(
            steps.map((s) => `${s.op} ${urnTail(s.urn)}`),
            ["update kubernetes:apps/v1:Deployment::diabetes-deployment"],
        );
        await stack.removeConfig("memoryGb");
    });

    test("replicas set by someone else (the router's autoscaler) survive pulumi up", async () => {
        const out = await stack.outputs();
        const apps = e2e.kc.makeApiClient(k8s.AppsV1Api);
        const ref = { name: out.deploymentName as string, namespace: out.namespace as string };
        await apps.patchNamespacedDeploymentScale(
            { ...ref, body: { spec: { replicas: 3 } } },
            k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
        );
        await eventually("3 ready replicas", 60_000, async () => {
            const d = await apps.readNamespacedDeployment(ref);
            return d.status?.readyReplicas === 3 ? true : undefined;
        });
        const pre = await stack.run(["preview", "--expect-no-changes"]);
        assert.equal(
            pre.code,
            0,
            `a scaled Deployment must not show as a change:\n${pre.stdout}${pre.stderr}`,
        );
        const r = await stack.run(["up", "--yes", "--skip-preview", "--refresh"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const d = await apps.readNamespacedDeployment(ref);
        assert.equal(d.spec?.replicas, 3, "pulumi up reset the replica count");
    });

    test("keys and the kubeconfig are encrypted in the state file", async () => {
        const text = stack.stateText();
        assert.ok(text.length > 1000, "state file not found");
        const kubeconfigKey = JSON.parse(e2e.cluster.kubeconfig).users[0].user[
            "client-key-data"
        ] as string;
        for (const [what, plain] of [
            ["primary key", primaryKey],
            ["secondary key", secondaryKey],
            ["kubeconfig client key", kubeconfigKey],
            [
                "kubeconfig client key (decoded)",
                Buffer.from(kubeconfigKey, "base64").toString().split("\n")[1]!,
            ],
        ] as const) {
            assert.ok(!text.includes(plain), `${what} is in the state in plain text`);
        }
        assert.match(text, /"ciphertext"/);
    });

    test("destroy leaves nothing behind on the API server", async () => {
        const objects = k8sObjects(await stack.resources());
        const r = await stack.run(["destroy", "--yes", "--skip-preview"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        for (const o of objects) {
            await eventually(`${o.kind} ${o.name} deleted`, 60_000, async () =>
                (await readObject(e2e.kc, o)) === undefined ? true : undefined,
            );
        }
        const remaining = (await stack.resources()).filter((x) => x.type !== "pulumi:pulumi:Stack");
        assert.deepEqual(remaining, []);
        const pods = await e2e.kc.makeApiClient(k8s.CoreV1Api).listPodForAllNamespaces();
        assert.deepEqual(
            pods.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`),
            [],
            "pods left behind",
        );
    });
});
