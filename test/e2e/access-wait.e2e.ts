/**
 * The role-assignment wait against a real API server with RBAC (issue 11 item 4): a deployer
 * whose rights arrive while it waits gets through; one that never gets them fails within the
 * bound with the exact rights it lacks; and through the real engine, a program whose kubeconfig
 * lacks them fails before any Kubernetes object exists.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import {
    AccessWaitError,
    installAccessChecks,
    kubernetesAccessReviewer,
    waitForAccess,
} from "../../components/cluster/access-wait";
import { join } from "node:path";
import { serviceAccountKubeconfig } from "./cluster/kubelet";
import { Stack } from "./pulumi/stack";
import { type E2e, REPO, ROUTER_IMAGE, setupE2e } from "./support";

let e2e: E2e;

before(async () => {
    e2e = await setupE2e("access-wait");
    const core = e2e.kc.makeApiClient(k8s.CoreV1Api);
    for (const name of ["deployer-late", "deployer-never", "deployer-partial"])
        await core.createNamespacedServiceAccount({
            namespace: "default",
            body: { metadata: { name } },
        });
});
after(async () => {
    await e2e?.cleanup();
});

function kubeconfigOf(serviceAccountName: string): Promise<string> {
    return serviceAccountKubeconfig(e2e.kc, e2e.cluster.server, {
        namespace: "default",
        serviceAccountName,
    });
}

async function bindClusterRole(serviceAccountName: string, role: string): Promise<void> {
    await e2e.kc.makeApiClient(k8s.RbacAuthorizationV1Api).createClusterRoleBinding({
        body: {
            metadata: { name: `${serviceAccountName}-${role}` },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
            subjects: [{ kind: "ServiceAccount", name: serviceAccountName, namespace: "default" }],
        },
    });
}

const plan = { timeoutMs: 20_000, initialDelayMs: 250, maxDelayMs: 1_000 };
const checks = installAccessChecks("azureml-fe", ["azureml-services"]);

describe("waiting for the deployer's Kubernetes rights", () => {
    test("returns once a grant made while waiting takes effect", async () => {
        const review = kubernetesAccessReviewer(await kubeconfigOf("deployer-late"));
        assert.equal((await review(checks)).length, checks.length, "nothing allowed yet");
        const started = Date.now();
        const grant = new Promise<void>((resolve, reject) =>
            setTimeout(
                () => bindClusterRole("deployer-late", "cluster-admin").then(resolve, reject),
                2_000,
            ),
        );
        const result = await waitForAccess(review, checks, plan, "");
        await grant;
        assert.ok(result.attempts > 1, `attempts ${result.attempts}`);
        assert.ok(Date.now() - started >= 2_000);
    });

    test("fails within the bound naming exactly the rights still missing", async () => {
        // `edit` grants workloads and Secrets, never RBAC objects or namespaces.
        await bindClusterRole("deployer-partial", "edit");
        const review = kubernetesAccessReviewer(await kubeconfigOf("deployer-partial"));
        const started = Date.now();
        await assert.rejects(
            waitForAccess(review, checks, { ...plan, timeoutMs: 2_000 }, "hint"),
            (err: unknown) => {
                assert.ok(err instanceof AccessWaitError);
                const denied = err.denied.map((c) => c.resource).sort();
                assert.deepEqual(
                    [...new Set(denied)],
                    ["namespaces", "rolebindings", "roles"],
                    "deployments and secrets are allowed by edit",
                );
                return true;
            },
        );
        assert.ok(Date.now() - started < 5_000);
    });

    test("a deployer never granted anything is refused with every check listed", async () => {
        const review = kubernetesAccessReviewer(await kubeconfigOf("deployer-never"));
        await assert.rejects(
            waitForAccess(review, checks, { ...plan, timeoutMs: 0 }, ""),
            (err: unknown) => err instanceof AccessWaitError && err.denied.length === checks.length,
        );
    });
});

describe("the component checks the rights before creating anything", () => {
    test("pulumi up with a kubeconfig lacking them fails naming them; no object is created", async () => {
        const stack = new Stack(e2e.engine, join(REPO, "examples", "local-cluster"), "e2e");
        await stack.init(
            { routerImage: ROUTER_IMAGE },
            { kubeconfig: await kubeconfigOf("deployer-partial") },
        );
        const up = await stack.up();
        assert.notEqual(up.code, 0);
        const out = up.stdout + up.stderr;
        assert.match(out, /still denied: create namespaces \(cluster-wide\)/);
        assert.doesNotMatch(out, /token:|client-key-data/);
        const created = (await stack.resources()).filter(
            (r) => r.type.startsWith("kubernetes:") && r.type !== "pulumi:providers:kubernetes",
        );
        assert.deepEqual(created, []);
        const ns = await e2e.kc
            .makeApiClient(k8s.CoreV1Api)
            .readNamespace({ name: "azureml-fe" })
            .then(
                () => true,
                () => false,
            );
        assert.equal(ns, false, "the router namespace must not exist");
    });
});
