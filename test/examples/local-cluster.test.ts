/**
 * examples/local-cluster under Pulumi mocks: kubeconfig mode creates only Kubernetes objects.
 * (Its real-engine run is in test/e2e/examples.e2e.ts.)
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { one, runExample, validateKubernetesObjects, type ExampleRun } from "./harness";

const KUBECONFIG = [
    "apiVersion: v1",
    "kind: Config",
    "clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:6443' } }]",
    "contexts: [{ name: c, context: { cluster: c, user: u } }]",
    "current-context: c",
    "users: [{ name: u, user: { token: t } }]",
    "",
].join("\n");

let run: ExampleRun;
before(async () => {
    run = await runExample("local-cluster", { secrets: { kubeconfig: KUBECONFIG } });
});

describe("examples/local-cluster", () => {
    test("kubeconfig mode: only Kubernetes objects, a NodePort router running amlaks-router:dev", () => {
        assert.ok(run.resources.every((r) => !r.type.startsWith("azure-native:")));
        assert.equal(
            one(run, "kubernetes:core/v1:Service", "local-router-svc").inputs.spec.type,
            "NodePort",
        );
        const router = one(run, "kubernetes:apps/v1:Deployment", "local-router");
        assert.equal(router.inputs.spec.template.spec.containers[0].image, "amlaks-router:dev");
        assert.equal(run.outputs.routerNamespace, "azureml");
        assert.match(String(run.outputs.clusterId), /^kubeconfig-[0-9a-f]+$/);
    });

    test("every Kubernetes object matches the OpenAPI schema; the policy pack passes (all mandatory)", () => {
        assert.ok(validateKubernetesObjects(run) >= 9);
        assert.deepEqual(run.evaluation.violations, []);
    });
});
