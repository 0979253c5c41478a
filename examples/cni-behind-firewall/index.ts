/**
 * Azure CNI behind Azure Firewall (R11, R23–R25): the cluster joins a VNet you own, its subnet
 * sends all egress (0.0.0.0/0) to the firewall, and the firewall allows exactly the hosts the
 * cluster must reach — generated from the cluster's own `requiredHosts` output, so the rule set
 * and the cluster never disagree. The amlaks policy pack (`cni-egress-allows-required-hosts`)
 * checks that in `pulumi preview`.
 *
 *   pulumi config set azure-native:location westeurope
 *   pulumi up
 *   pulumi preview --policy-pack ../../policy      # or node_modules/@amlaks/pulumi-aml-aks/policy
 *
 * See README.md for the order of creation and why two rule collection groups.
 */
import * as network from "@pulumi/azure-native/network";
import * as pulumi from "@pulumi/pulumi";
// In your own program: import { AksInferenceCluster, AmlWorkspace } from "@amlaks/pulumi-aml-aks";
import { AksInferenceCluster, AmlWorkspace } from "../../index";
import { requiredHostsCollection } from "./firewall-rules";

const config = new pulumi.Config();
const location = new pulumi.Config("azure-native").require("location");

/** Address plan: the VNet, the firewall's subnet (name fixed by Azure) and the nodes' subnet. */
const VNET = "10.10.0.0/16";
const FIREWALL_SUBNET = "10.10.0.0/26";
const AKS_SUBNET = "10.10.4.0/22";
/** Kubernetes services: outside the VNet, DNS inside it (checked by the component). */
const SERVICE_CIDR = "10.11.0.0/16";
const DNS_SERVICE_IP = "10.11.0.10";

const ws = new AmlWorkspace("ml", { location });
const resourceGroupName = ws.resourceGroupName;

const vnet = new network.VirtualNetwork("vnet", {
    resourceGroupName,
    location,
    addressSpace: { addressPrefixes: [VNET] },
});
const firewallSubnet = new network.Subnet("firewall-subnet", {
    resourceGroupName,
    virtualNetworkName: vnet.name,
    subnetName: "AzureFirewallSubnet",
    addressPrefix: FIREWALL_SUBNET,
});
const firewallIp = new network.PublicIPAddress("firewall-ip", {
    resourceGroupName,
    location,
    sku: { name: "Standard" },
    publicIPAllocationMethod: "Static",
});
const firewallPolicy = new network.FirewallPolicy("firewall-policy", {
    resourceGroupName,
    location,
    sku: { tier: "Standard" },
});
const firewall = new network.AzureFirewall("firewall", {
    resourceGroupName,
    location,
    sku: { name: "AZFW_VNet", tier: "Standard" },
    firewallPolicy: { id: firewallPolicy.id },
    ipConfigurations: [
        {
            name: "ipconfig",
            subnet: { id: firewallSubnet.id },
            publicIPAddress: { id: firewallIp.id },
        },
    ],
});

// 1. Before the cluster: what AKS nodes need to join it at all (the AzureKubernetesService FQDN
//    tag: API server, MCR, Ubuntu and Microsoft packages).
const aksBootstrap = new network.FirewallPolicyRuleCollectionGroup(
    "aks-bootstrap",
    {
        resourceGroupName,
        firewallPolicyName: firewallPolicy.name,
        priority: 100,
        ruleCollections: [
            {
                ruleCollectionType: "FirewallPolicyFilterRuleCollection",
                name: "aks-nodes",
                priority: 100,
                action: { type: "Allow" },
                rules: [
                    {
                        ruleType: "ApplicationRule",
                        name: "aks-fqdn-tag",
                        sourceAddresses: [AKS_SUBNET],
                        protocols: [
                            { protocolType: "Https", port: 443 },
                            { protocolType: "Http", port: 80 },
                        ],
                        fqdnTags: ["AzureKubernetesService"],
                    },
                ],
            },
        ],
    },
    { dependsOn: [firewall] },
);

const routes = new network.RouteTable("aks-routes", {
    resourceGroupName,
    location,
    routes: [
        {
            name: "default-via-firewall",
            addressPrefix: "0.0.0.0/0",
            nextHopType: "VirtualAppliance",
            nextHopIpAddress: firewall.ipConfigurations.apply(
                (c) => c?.[0]?.privateIPAddress ?? "",
            ),
        },
    ],
});
// The nodes' subnet routes through the firewall only once the bootstrap rules exist; subnets of
// one VNet are written one at a time.
const aksSubnet = new network.Subnet(
    "aks-subnet",
    {
        resourceGroupName,
        virtualNetworkName: vnet.name,
        subnetName: "aks",
        addressPrefix: AKS_SUBNET,
        routeTable: { id: routes.id },
    },
    { dependsOn: [firewallSubnet, aksBootstrap] },
);

const cluster = new AksInferenceCluster("inference", {
    workspace: ws,
    clusterPurpose: "FastProd",
    agentCount: 3,
    vmSize: "Standard_D4s_v3",
    // v1's Azure CNI: pods take addresses from the subnet (Calico enforces NetworkPolicies).
    networkPlugin: "azure",
    vnetSubnetId: aksSubnet.id,
    vnetSubnetAddressPrefix: AKS_SUBNET,
    serviceCidr: SERVICE_CIDR,
    dnsServiceIp: DNS_SERVICE_IP,
    // Scoring on a private IP of the VNet: no public inbound path around the firewall.
    loadBalancerType: "InternalLoadBalancer",
    routerImage: config.get("routerImage"),
});

// 2. From the cluster: every host it must reach (R23), one rule each, from its own list.
new network.FirewallPolicyRuleCollectionGroup(
    "aml-inference",
    {
        resourceGroupName,
        firewallPolicyName: firewallPolicy.name,
        priority: 200,
        ruleCollections: cluster.requiredHosts.apply((hosts) => [
            requiredHostsCollection(hosts, [AKS_SUBNET]),
        ]),
    },
    // Groups of one firewall policy are written one at a time.
    { dependsOn: [aksBootstrap] },
);

export const requiredHosts = cluster.requiredHosts;
export const firewallPrivateIp = firewall.ipConfigurations.apply(
    (c) => c?.[0]?.privateIPAddress ?? "",
);
export const scoringBaseUrl = cluster.scoringBaseUrl;
