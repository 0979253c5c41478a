/**
 * examples/workspace-and-cluster under Pulumi mocks: a workspace and a DevTest cluster taking its
 * settings from it, with the router.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import {
    EXAMPLES,
    one,
    ofType,
    runExample,
    validateKubernetesObjects,
    type ExampleRun,
} from "./harness";

const README = readFileSync(path.join(EXAMPLES, "workspace-and-cluster", "README.md"), "utf8");

let run: ExampleRun;
before(async () => {
    run = await runExample("workspace-and-cluster", {
        providerConfig: { "azure-native:location": "westeurope" },
        config: { routerImage: `registry.example.io/amlaks-router@sha256:${"a".repeat(64)}` },
        policyConfig: {},
    });
});

describe("examples/workspace-and-cluster", () => {
    test("the cluster in the workspace's region and resource group, sharing its Log Analytics; no v1 compute", () => {
        const aks = one(run, "azure-native:containerservice:ManagedCluster");
        const rg = one(run, "azure-native:resources:ResourceGroup");
        assert.equal(aks.inputs.location, "westeurope");
        assert.equal(aks.inputs.resourceGroupName, rg.state.name);
        assert.equal(ofType(run, "azure-native:operationalinsights:Workspace").length, 1);
        assert.equal(ofType(run, "azure-native:machinelearningservices:Compute").length, 0);
        assert.equal(
            one(run, "kubernetes:apps/v1:Deployment", "inference-router").inputs.spec.replicas,
            1,
        );
        // "ml" is shorter than a workspace name may be: the derived name gets "-ws".
        assert.equal(run.outputs.workspaceName, "ml-ws");
        assert.ok(README.includes("    workspaceName   ml-ws"));
        assert.deepEqual(run.secretOutputs, ["kubeconfig"]);
    });

    test("every Kubernetes object matches the OpenAPI schema; only the advisory plain-HTTP finding", () => {
        assert.ok(validateKubernetesObjects(run) >= 9);
        assert.deepEqual(
            run.evaluation.violations.map((v) => [v.policy, v.enforcementLevel]),
            [["public-endpoint-tls", "advisory"]],
        );
    });
});
