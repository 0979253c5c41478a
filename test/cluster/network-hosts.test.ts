import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseArmId, parseArmIdOfType } from "../../components/common/arm-id";
import {
    computeRequiredHosts,
    imageRegistryHost,
    normalizeRegion,
} from "../../components/cluster/hosts";
import {
    cidrContains,
    cidrsOverlap,
    formatIpv4,
    isNetworkAligned,
    parseCidr,
    parseIpv4,
} from "../../components/cluster/network";
import {
    deriveAksClusterName,
    deriveComputeName,
    deriveDnsPrefix,
} from "../../components/cluster/names";
import { COMPUTE_NAME, AKS_CLUSTER_NAME } from "../../components/cluster/validate";

describe("IPv4 / CIDR arithmetic", () => {
    test("parses addresses strictly", () => {
        assert.equal(parseIpv4("10.0.0.10"), 0x0a00000a);
        assert.equal(formatIpv4(0x0a00000a), "10.0.0.10");
        for (const bad of [
            "10.0.0",
            "10.0.0.256",
            "10.0.0.01",
            "a.b.c.d",
            " 10.0.0.1",
            "10.0.0.-1",
        ]) {
            assert.equal(parseIpv4(bad), undefined, bad);
        }
    });

    test("parses CIDRs, alignment, containment and overlap", () => {
        const svc = parseCidr("10.0.0.0/16")!;
        assert.equal(svc.network, parseIpv4("10.0.0.0"));
        assert.equal(svc.last, parseIpv4("10.0.255.255"));
        assert.ok(isNetworkAligned(svc));
        assert.ok(!isNetworkAligned(parseCidr("172.17.0.1/16")!));
        assert.ok(cidrContains(svc, parseIpv4("10.0.0.10")!));
        assert.ok(!cidrContains(svc, parseIpv4("10.1.0.10")!));
        assert.ok(cidrsOverlap(svc, parseCidr("10.0.128.0/17")!));
        assert.ok(cidrsOverlap(parseCidr("10.0.0.0/8")!, svc));
        assert.ok(!cidrsOverlap(svc, parseCidr("10.1.0.0/16")!));
        assert.ok(cidrsOverlap(parseCidr("0.0.0.0/0")!, svc));
        for (const bad of ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/ 8", "x/8"]) {
            assert.equal(parseCidr(bad), undefined, bad);
        }
    });
});

describe("ARM ids", () => {
    const aks =
        "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-1/providers/Microsoft.ContainerService/managedClusters/aks1";
    test("parses a cluster id and checks its type case-insensitively", () => {
        assert.deepEqual(parseArmId(aks), {
            subscriptionId: "00000000-0000-0000-0000-000000000001",
            resourceGroupName: "rg-1",
            providerNamespace: "Microsoft.ContainerService",
            type: "managedClusters",
            name: "aks1",
            names: ["aks1"],
        });
        assert.ok(
            parseArmIdOfType(
                aks.replace("resourceGroups", "resourcegroups"),
                "microsoft.containerservice/MANAGEDCLUSTERS",
            ),
        );
        assert.equal(parseArmIdOfType(aks, "Microsoft.Storage/storageAccounts"), undefined);
    });
    test("parses nested subnet ids and rejects malformed ids", () => {
        const subnet =
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/aks";
        assert.deepEqual(
            parseArmIdOfType(subnet, "Microsoft.Network/virtualNetworks/subnets")?.names,
            ["vnet", "aks"],
        );
        for (const bad of [
            "",
            "subscriptions/x",
            aks + "/",
            aks.replace("00000000-0000-0000-0000-000000000001", "not-a-guid"),
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters",
        ]) {
            assert.equal(parseArmId(bad), undefined, bad);
        }
    });
});

describe("requiredHosts (R23)", () => {
    test("lists every R23 row from the cluster's names and region, in order", () => {
        const hosts = computeRequiredHosts({
            clusterFqdn: "aks-1234.hcp.westeurope.azmk8s.io",
            region: "West Europe",
            acrName: "MyAcr01",
            storageAccountName: "stml01",
            leafDomainLabel: "scoring",
            routerImage: "myacr01.azurecr.io/amlaks-router:0.1.0",
        });
        assert.deepEqual(hosts, [
            { host: "aks-1234.hcp.westeurope.azmk8s.io", usedBy: "AKS API server" },
            { host: "mcr.microsoft.com", usedBy: "Microsoft Container Registry" },
            {
                host: "*.data.mcr.microsoft.com",
                usedBy: "Microsoft Container Registry (image layer downloads)",
            },
            { host: "myacr01.azurecr.io", usedBy: "workspace container registry (model images)" },
            { host: "stml01.table.core.windows.net", usedBy: "storage account (table)" },
            {
                host: "stml01.blob.core.windows.net",
                usedBy: "storage account (blob: configuration, models)",
            },
            { host: "api.azureml.ms", usedBy: "Microsoft Entra authentication (Azure ML)" },
            {
                host: "ingest-viennawesteurope.kusto.windows.net",
                usedBy: "telemetry upload (Kusto)",
            },
            {
                host: "scoring.westeurope.cloudapp.azure.com",
                usedBy: "scoring endpoint domain name (Azure-generated)",
            },
            {
                host: "login.microsoftonline.com",
                usedBy: "router token auth (Microsoft Entra OIDC discovery and keys)",
            },
        ]);
    });

    test("skips the endpoint host with a custom domain and rows whose inputs are missing", () => {
        const hosts = computeRequiredHosts({
            region: "eastus",
            leafDomainLabel: "x",
            customDomain: true,
        });
        assert.deepEqual(
            hosts.map((h) => h.host),
            [
                "mcr.microsoft.com",
                "*.data.mcr.microsoft.com",
                "api.azureml.ms",
                "ingest-viennaeastus.kusto.windows.net",
                "login.microsoftonline.com",
            ],
        );
    });

    test("adds registries of deployed images (Docker Hub with its auth and CDN hosts), once", () => {
        const hosts = computeRequiredHosts({
            acrLoginServer: "reg.example.io",
            routerImage: "ghcr.io/amlaks/router:1",
            extraImages: [
                "nvcr.io/nvidia/k8s-device-plugin:v0.17.0",
                "busybox",
                "reg.example.io/x:1",
                "mcr.microsoft.com/a:1",
            ],
        }).map((h) => h.host);
        assert.deepEqual(hosts.slice(2), [
            "reg.example.io",
            "api.azureml.ms",
            "login.microsoftonline.com",
            "ghcr.io",
            "nvcr.io",
            "registry-1.docker.io",
            "auth.docker.io",
            "production.cloudflare.docker.com",
        ]);
    });

    test("reads registry hosts from image references", () => {
        assert.equal(imageRegistryHost("nginx:1.27"), "registry-1.docker.io");
        assert.equal(imageRegistryHost("library/nginx"), "registry-1.docker.io");
        assert.equal(imageRegistryHost("localhost:5000/router:1"), "localhost");
        assert.equal(imageRegistryHost("MyAcr.azurecr.io/router@sha256:abc"), "myacr.azurecr.io");
        assert.equal(normalizeRegion("North Europe"), "northeurope");
    });
});

describe("derived cluster names", () => {
    test("are valid for AKS and the workspace whatever the component name", () => {
        for (const n of ["prod", "my cluster!", "-x-", "9lives", "a", "a".repeat(100), "ünïcode"]) {
            assert.match(deriveAksClusterName(n), AKS_CLUSTER_NAME.pattern, n);
            assert.match(deriveComputeName(n), COMPUTE_NAME.pattern, n);
            assert.match(
                deriveDnsPrefix(deriveAksClusterName(n)),
                /^[a-z0-9]([a-z0-9-]{0,52}[a-z0-9])?$/,
                n,
            );
        }
        assert.equal(deriveAksClusterName("inference"), "inference");
        assert.equal(deriveComputeName("9lives"), "aks-9lives");
    });
});
