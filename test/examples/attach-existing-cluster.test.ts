/**
 * examples/attach-existing-cluster under Pulumi mocks, the AKS API answering for an existing
 * cluster: read, never modified; router and service installed into it.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { afterEach, before, describe, mock, test } from "node:test";
import type * as pulumi from "@pulumi/pulumi";
import {
    EXAMPLES,
    modelContainer,
    one,
    ofType,
    runExample,
    validateKubernetesObjects,
    type ExampleRun,
} from "./harness";

const README = readFileSync(path.join(EXAMPLES, "attach-existing-cluster", "README.md"), "utf8");
const SUB = "11111111-1111-1111-1111-111111111111";
const AKS_ID = `/subscriptions/${SUB}/resourceGroups/rg-prod/providers/Microsoft.ContainerService/managedClusters/aks-prod`;
const ACR_ID = `/subscriptions/${SUB}/resourceGroups/rg-prod/providers/Microsoft.ContainerRegistry/registries/myacr`;
const KUBELET = "00000000-0000-0000-0000-0000000000cc";
const IMAGE = `myacr.azurecr.io/amlaks-apps/diabetes@sha256:${"b".repeat(64)}`;
const ROUTER_IMAGE = `myacr.azurecr.io/amlaks/router@sha256:${"a".repeat(64)}`;
const FQDN = "aks-prod-1a2b3c4d.hcp.northeurope.azmk8s.io";

/** The invokes the program made, and the AKS API's answer for an existing cluster of `nodes`. */
function existingCluster(nodes: number, invokes: pulumi.runtime.MockCallArgs[]) {
    return (args: pulumi.runtime.MockCallArgs) => {
        invokes.push(args);
        if (!args.token.startsWith("azure-native:containerservice:getManagedCluster"))
            return undefined;
        return {
            id: AKS_ID,
            name: "aks-prod",
            location: "northeurope",
            fqdn: FQDN,
            agentPoolProfiles: [{ name: "system", count: nodes, vmSize: "Standard_D4s_v3" }],
            identityProfile: { kubeletidentity: { objectId: KUBELET } },
        };
    };
}

const config = {
    aksResourceId: AKS_ID,
    registryLoginServer: "myacr.azurecr.io",
    registryId: ACR_ID,
    imageRef: IMAGE,
    routerImage: ROUTER_IMAGE,
};

let run: ExampleRun;
const invokes: pulumi.runtime.MockCallArgs[] = [];

before(async () => {
    run = await runExample("attach-existing-cluster", {
        config,
        call: existingCluster(3, invokes),
    });
});
afterEach(() => mock.restoreAll());

describe("examples/attach-existing-cluster", () => {
    test("the cluster is read in its own resource group, never created or changed", () => {
        assert.equal(ofType(run, "azure-native:containerservice:ManagedCluster").length, 0);
        assert.equal(ofType(run, "azure-native:containerservice:AgentPool").length, 0);
        const read = invokes.filter((i) => i.token.includes("ManagedCluster"));
        assert.deepEqual(
            read.map((i) => [
                i.token.split(":").pop(),
                i.inputs.resourceGroupName,
                i.inputs.resourceName,
            ]),
            [
                ["getManagedCluster", "rg-prod", "aks-prod"],
                ["listManagedClusterUserCredentials", "rg-prod", "aks-prod"],
            ],
        );
        // Read through a provider for the subscription the id names.
        const provider = one(run, "pulumi:providers:azure-native", "myaks-azure");
        assert.equal(provider.inputs.subscriptionId, SUB);
    });

    test("AcrPull on registryId for the cluster's kubelet identity", () => {
        const grant = one(run, "azure-native:authorization:RoleAssignment", "myaks-acr-pull");
        assert.equal(grant.inputs.scope, ACR_ID);
        assert.equal(grant.inputs.principalId, KUBELET);
        assert.match(grant.inputs.roleDefinitionId, /7f951dda-4ed3-4680-a7ca-43fe172d538d$/);
    });

    test("FastProd router: 3 replicas behind an internal load balancer; the service from imageRef", () => {
        const router = one(run, "kubernetes:apps/v1:Deployment", "myaks-router");
        assert.equal(router.inputs.spec.replicas, 3);
        const svc = one(run, "kubernetes:core/v1:Service", "myaks-router-svc");
        assert.equal(
            svc.inputs.metadata.annotations[
                "service.beta.kubernetes.io/azure-load-balancer-internal"
            ],
            "true",
        );
        assert.equal(modelContainer(run, "diabetes").image, IMAGE);
        assert.equal(ofType(run, "docker:index/image:Image").length, 0);
    });

    test("outputs: the cluster's name and region, the URL, the required hosts the README lists", () => {
        assert.equal(run.outputs.clusterName, "aks-prod");
        assert.equal(run.outputs.location, "northeurope");
        assert.match(
            String(run.outputs.scoringUri),
            /^http:\/\/[0-9.]+\/api\/v1\/service\/diabetes\/score$/,
        );
        const hosts = (run.outputs.requiredHosts as { host: string }[]).map((h) => h.host);
        assert.deepEqual(hosts, [
            FQDN,
            "mcr.microsoft.com",
            "*.data.mcr.microsoft.com",
            "myacr.azurecr.io",
            "api.azureml.ms",
            "ingest-viennanortheurope.kusto.windows.net",
            "login.microsoftonline.com",
        ]);
        for (const h of hosts.slice(1)) assert.ok(README.includes(`\`${h}\``), h);
        assert.ok(README.includes(FQDN));
        assert.deepEqual(run.secretOutputs, ["primaryKey"]);
        for (const name of Object.keys(run.outputs)) {
            assert.ok(README.includes(`    ${name} `), `README lists output ${name}`);
        }
    });

    test("every Kubernetes object matches the OpenAPI schema; the policy pack passes (all mandatory)", () => {
        assert.ok(validateKubernetesObjects(run) >= 15);
        assert.deepEqual(run.evaluation.violations, []);
    });

    test("a one-node cluster is attached with the sizing warning the README shows", async () => {
        const warnings: string[] = [];
        mock.method(console, "warn", (...a: unknown[]) => warnings.push(a.join(" ")));
        await runExample("attach-existing-cluster", { config, call: existingCluster(1, []) });
        const line = warnings.find((w) => w.includes("does not meet the FastProd sizing rule"));
        assert.ok(line, warnings.join("\n"));
        const shown = /`(The attached cluster \(1 x Standard_D4s_v3\)[^`]*) \.\.\.`/.exec(
            README,
        )![1]!;
        assert.ok(line.includes(shown), `${line}\n  vs README: ${shown}`);
    });
});
