/** custom-dns-resolves-required-hosts (R11, R23): custom DNS servers and private DNS zones. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { customDnsResolvesRequiredHosts as policy } from "../../policy/custom-dns-resolves-required-hosts";
import { type FakeResource, messages, runStackPolicy, UNKNOWN, urnOf } from "./harness";
import { managedCluster, SUB } from "./resources";

function vnet(dnsServers?: unknown): FakeResource {
    return {
        type: "azure-native:network:VirtualNetwork",
        name: "vnet",
        props: {
            virtualNetworkName: "vnet",
            ...(dnsServers === undefined ? {} : { dhcpOptions: { dnsServers } }),
            subnets: [{ name: "aks", addressPrefix: "10.1.0.0/20" }],
        },
    };
}

const acr: FakeResource = {
    type: "azure-native:containerregistry:Registry",
    name: "acr",
    props: { registryName: "myacr" },
};

function privateEndpoint(group = "registry"): FakeResource {
    return {
        type: "azure-native:network:PrivateEndpoint",
        name: `pe-${group}`,
        props: {
            privateEndpointName: `pe-${group}`,
            subnet: { id: `${SUB}/Microsoft.Network/virtualNetworks/vnet/subnets/aks` },
            privateLinkServiceConnections: [
                { name: "c", privateLinkServiceId: "x", groupIds: [group] },
            ],
        },
    };
}

const zone: FakeResource = {
    type: "azure-native:privatedns:PrivateZone",
    name: "zone-acr",
    props: { privateZoneName: "privatelink.azurecr.io", location: "global" },
};
const link: FakeResource = {
    type: "azure-native:privatedns:VirtualNetworkLink",
    name: "zone-acr-link",
    props: {
        privateZoneName: "privatelink.azurecr.io",
        virtualNetwork: { id: UNKNOWN },
        registrationEnabled: false,
    },
    propertyDependencies: { virtualNetwork: ["vnet"], privateZoneName: ["zone-acr"] },
};

const HOSTS =
    "*.hcp.westeurope.azmk8s.io (AKS API server), mcr.microsoft.com (Microsoft Container Registry), myacr.azurecr.io (workspace container registry (model images)), api.azureml.ms (Microsoft Entra authentication (Azure ML)), ingest-viennawesteurope.kusto.windows.net (telemetry upload (Kusto))";

describe("custom-dns-resolves-required-hosts", () => {
    test("is advisory by default (the pack cannot query the DNS servers)", () => {
        assert.equal(policy.enforcementLevel, "advisory");
    });

    test("a VNet on Azure-provided DNS passes", async () => {
        assert.deepEqual(
            (await runStackPolicy(policy, [acr, vnet(), managedCluster()])).violations,
            [],
        );
        assert.deepEqual(
            (await runStackPolicy(policy, [acr, vnet([]), managedCluster()])).violations,
            [],
        );
    });

    test("a VNet with custom DNS servers gets the R23 list it must resolve", async () => {
        const run = await runStackPolicy(policy, [
            acr,
            vnet(["10.0.0.4", "10.0.0.5"]),
            managedCluster(),
        ]);
        assert.deepEqual(run.violations, [
            {
                message: `VNet "vnet" uses custom DNS servers (10.0.0.4, 10.0.0.5) for AKS cluster "aks": they must resolve ${HOSTS} (R11, R23). Forward Azure names to Azure DNS (168.63.129.16).`,
                urn: urnOf(vnet()),
            },
        ]);
    });

    test("VNets of other clusters' subnets or of no cluster are not checked", async () => {
        const otherVnet = {
            ...vnet(["10.0.0.4"]),
            name: "vnet2",
            props: { ...vnet(["10.0.0.4"]).props, virtualNetworkName: "vnet2" },
        };
        assert.deepEqual(
            (await runStackPolicy(policy, [otherVnet, managedCluster()])).violations,
            [],
        );
        assert.deepEqual((await runStackPolicy(policy, [vnet(["10.0.0.4"])])).violations, []);
    });

    test("preview: unknown DNS servers are skipped with a reason", async () => {
        const run = await runStackPolicy(policy, [vnet(UNKNOWN), managedCluster()]);
        assert.deepEqual(run.violations, []);
        assert.equal(run.notApplicable, `VNet "vnet": its DNS servers are unknown during preview`);
    });

    test("a private endpoint with its zone linked to the cluster's VNet passes", async () => {
        const run = await runStackPolicy(policy, [
            acr,
            vnet(),
            managedCluster(),
            privateEndpoint(),
            zone,
            link,
        ]);
        assert.deepEqual(run.violations, []);
    });

    test("a private endpoint without its privatelink zone is reported", async () => {
        const run = await runStackPolicy(policy, [
            acr,
            vnet(),
            managedCluster(),
            privateEndpoint("blob"),
        ]);
        assert.deepEqual(messages(run), [
            `Private endpoint "pe-blob" (blob) needs the private DNS zone privatelink.blob.core.windows.net so the cluster resolves the service to its private address (R23), but no such zone is in this stack. Create it and link it to the cluster's VNet, or attach an existing one with a private DNS zone group.`,
        ]);
    });

    test("a zone kept in another stack and attached with a private DNS zone group passes", async () => {
        const group: FakeResource = {
            type: "azure-native:network:PrivateDnsZoneGroup",
            name: "pe-blob-dns",
            props: {
                privateEndpointName: "pe-blob",
                privateDnsZoneConfigs: [
                    {
                        name: "blob",
                        privateDnsZoneId: `${SUB}/Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net`,
                    },
                ],
            },
        };
        const run = await runStackPolicy(policy, [
            vnet(),
            managedCluster(),
            privateEndpoint("blob"),
            group,
        ]);
        assert.deepEqual(run.violations, []);
    });

    test("a zone without a virtual network link to the cluster's VNet is reported once", async () => {
        const run = await runStackPolicy(policy, [
            acr,
            vnet(),
            managedCluster(),
            privateEndpoint(),
            {
                ...privateEndpoint(),
                name: "pe-2",
                props: { ...privateEndpoint().props, privateEndpointName: "pe-2" },
            },
            zone,
        ]);
        assert.deepEqual(run.violations, [
            {
                message: `Private DNS zone privatelink.azurecr.io has no virtual network link to VNet "vnet", so the cluster cannot resolve private endpoint "pe-registry" (registry) (R23). Add a virtualNetworkLinks entry for that VNet.`,
                urn: urnOf(zone),
            },
        ]);
    });

    test("privateDnsZonesManagedElsewhere turns the zone checks off", async () => {
        const run = await runStackPolicy(
            policy,
            [vnet(), managedCluster(), privateEndpoint("blob")],
            {
                "custom-dns-resolves-required-hosts": { privateDnsZonesManagedElsewhere: true },
            },
        );
        assert.deepEqual(run.violations, []);
    });
});
