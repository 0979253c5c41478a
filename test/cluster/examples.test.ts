/**
 * The component examples build under Pulumi mocks with the documented stack config, and
 * produce the resources they describe.
 */
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { certKubeconfig, settle, setupMocks } from "./mocks";

const mocks = setupMocks();
pulumi.runtime.setAllConfig(
    {
        "azure-native:location": "westeurope",
        "amlaks:routerImage": "acrml.azurecr.io/amlaks-router:0.1.0",
        "amlaks:kubeconfig": certKubeconfig(),
    },
    ["amlaks:kubeconfig"],
);

describe("examples", () => {
    it("workspace-and-cluster: workspace, DevTest AKS taking its settings from it, router", async () => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const program = require("../../examples/workspace-and-cluster");
        await new Promise((r) => pulumi.output(program.requiredHosts).apply(r));
        await settle(mocks.resources);
        const types = new Set(mocks.resources.map((r) => r.type));
        for (const t of [
            "amlaks:index:AmlWorkspace",
            "amlaks:index:AksInferenceCluster",
            "azure-native:machinelearningservices:Workspace",
            "azure-native:containerservice:ManagedCluster",
            "kubernetes:apps/v1:Deployment",
        ]) {
            assert.ok(types.has(t), t);
        }
        assert.ok(!types.has("azure-native:machinelearningservices:Compute"), "no v1 compute");
        // Region and resource group come from the workspace.
        const aks = mocks.resources.find(
            (r) => r.type === "azure-native:containerservice:ManagedCluster",
        )!;
        const rg = mocks.resources.find((r) => r.type === "azure-native:resources:ResourceGroup")!;
        assert.equal(aks.inputs.location, "westeurope");
        assert.equal(aks.inputs.resourceGroupName, rg.inputs.resourceGroupName);
        // The workspace's Log Analytics workspace is reused by the cluster.
        assert.equal(
            mocks.resources.filter((r) => r.type === "azure-native:operationalinsights:Workspace")
                .length,
            1,
        );
    });

    it("local-cluster: kubeconfig mode creates only Kubernetes objects", async () => {
        const before = mocks.resources.length;
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const program = require("../../examples/local-cluster");
        await new Promise((r) => pulumi.output(program.clusterId).apply(r));
        await settle(mocks.resources);
        const added = mocks.resources.slice(before);
        assert.ok(added.length > 5);
        assert.ok(added.every((r) => !r.type.startsWith("azure-native:")));
        const svc = added.find((r) => r.type === "kubernetes:core/v1:Service");
        assert.equal(svc?.inputs.spec.type, "NodePort");
    });
});
