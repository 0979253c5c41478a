/**
 * The `workspace` shorthand (issue 11 item 8): an AksInferenceCluster takes region, resource
 * group, registry, storage and Log Analytics from an AmlWorkspace; explicit args win; only the
 * args of the cluster's mode are filled.
 */
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { AksInferenceCluster } from "../../components/cluster";
import { validateAksInferenceClusterArgs } from "../../components/cluster/validate";
import { withWorkspace } from "../../components/cluster/workspace-link";
import { ValidationError } from "../../components/common/validation";
import { AmlWorkspace } from "../../components/workspace";
import {
    certKubeconfig,
    EXISTING_CLUSTER,
    one,
    Recorded,
    settle,
    setupMocks,
    unwrap,
} from "./mocks";

const mocks = setupMocks();
const IMAGE = "myacr.azurecr.io/amlaks-router:1";
const AKS_ID = `/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/${EXISTING_CLUSTER.rg}/providers/Microsoft.ContainerService/managedClusters/${EXISTING_CLUSTER.name}`;

let ws: AmlWorkspace;
let mine: Recorded[];
let cluster: AksInferenceCluster;

before(async () => {
    ws = new AmlWorkspace("ml", { location: "westeurope", resourceGroupName: "rg-ml" });
    cluster = new AksInferenceCluster("inf", {
        workspace: ws,
        clusterPurpose: "DevTest",
        agentCount: 1,
        routerImage: IMAGE,
    });
    await unwrap(cluster.requiredHosts);
    await settle(mocks.resources);
    mine = mocks.resources;
});

describe("AksInferenceCluster { workspace: ws }", () => {
    test("creates the cluster in the workspace's region and resource group", () => {
        const aks = one(mine, "azure-native:containerservice:ManagedCluster").inputs;
        assert.equal(aks.location, "westeurope");
        assert.equal(aks.resourceGroupName, "rg-ml");
    });

    test("reuses the workspace's Log Analytics workspace and grants AcrPull on its registry", async () => {
        const laws = mine.filter((r) => r.type === "azure-native:operationalinsights:Workspace");
        assert.equal(laws.length, 1, "no second Log Analytics workspace");
        const aks = one(mine, "azure-native:containerservice:ManagedCluster").inputs;
        assert.equal(
            aks.addonProfiles.omsagent.config.logAnalyticsWorkspaceResourceID,
            await unwrap(ws.logAnalyticsWorkspaceId),
        );
        const pull = one(mine, "azure-native:authorization:RoleAssignment", "inf-acr-pull").inputs;
        assert.equal(pull.scope, await unwrap(ws.containerRegistryId));
    });

    test("lists the workspace's registry and storage among the required hosts (R23)", async () => {
        const hosts = (await unwrap(cluster.requiredHosts)).map((h) => h.host);
        assert.ok(hosts.includes(await unwrap(ws.acrLoginServer)), hosts.join(", "));
        const sa = await unwrap(ws.storageAccountName);
        assert.ok(
            hosts.some((h) => h.startsWith(`${sa}.`)),
            hosts.join(", "),
        );
    });

    test("exposes the workspace's Application Insights connection string (secret)", async () => {
        assert.ok(cluster.appInsightsConnectionString);
        assert.equal(await pulumi.isSecret(cluster.appInsightsConnectionString!), true);
    });
});

describe("withWorkspace (pure)", () => {
    test("explicit args win; attach mode keeps the cluster's region and resource group", () => {
        const args = withWorkspace({ workspace: ws, location: "northeurope", routerImage: IMAGE });
        assert.equal(args.location, "northeurope");
        assert.equal(args.acrLoginServer, ws.acrLoginServer);
        const attach = withWorkspace({ workspace: ws, resourceId: AKS_ID, routerImage: IMAGE });
        assert.equal(attach.location, undefined);
        assert.equal(attach.resourceGroupName, undefined);
        assert.equal(attach.logAnalyticsWorkspaceId, undefined);
        assert.equal(attach.containerRegistryId, ws.containerRegistryId);
        // ...and the result is valid for its mode (no create-only args filled in).
        validateAksInferenceClusterArgs(attach);
        const kube = withWorkspace({
            workspace: ws,
            kubeconfig: certKubeconfig(),
            routerImage: IMAGE,
        });
        assert.equal(kube.containerRegistryId, undefined);
        validateAksInferenceClusterArgs(kube);
    });

    test("no routerImage and no resource group: valid, the router image goes to the workspace registry", () => {
        const args = withWorkspace({ workspace: ws });
        const cfg = validateAksInferenceClusterArgs(args);
        assert.equal(cfg.mode, "create");
        assert.equal(args.acrLoginServer, ws.acrLoginServer);
        assert.equal(args.resourceGroupName, ws.resourceGroupName);
    });

    test("something that is not a workspace is refused", () => {
        assert.throws(
            () =>
                validateAksInferenceClusterArgs(
                    withWorkspace({ workspace: { location: "x" } } as never),
                ),
            (e: unknown) =>
                e instanceof ValidationError &&
                /workspace: "\(object\)" must be an AmlWorkspace/.test(e.message),
        );
    });
});
