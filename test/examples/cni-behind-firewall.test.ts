/**
 * examples/cni-behind-firewall under Pulumi mocks: the firewall rules generated from the cluster's
 * requiredHosts make the stack pass the policy pack; without them it fails, host by host.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import type { RequiredHost } from "../../components/cluster/hosts";
import { requiredHostRules, ruleName } from "../../examples/cni-behind-firewall/firewall-rules";
import {
    EXAMPLES,
    one,
    runExample,
    validateKubernetesObjects,
    type ExampleRun,
    type RunOptions,
} from "./harness";

const README = readFileSync(path.join(EXAMPLES, "cni-behind-firewall", "README.md"), "utf8");
const FIREWALL_IP = "10.10.0.4";
const CNI_POLICY = "cni-egress-allows-required-hosts";

const options = (extra: Pick<RunOptions, "state" | "preview"> = {}): RunOptions => ({
    preview: extra.preview,
    providerConfig: { "azure-native:location": "westeurope" },
    config: { routerImage: `registry.example.io/amlaks-router@sha256:${"a".repeat(64)}` },
    state: (r) => {
        if (r.type === "azure-native:network:AzureFirewall") {
            // Azure assigns the first usable address of AzureFirewallSubnet.
            return {
                ipConfigurations: [
                    { ...r.inputs.ipConfigurations[0], privateIPAddress: FIREWALL_IP },
                ],
            };
        }
        return extra.state?.(r);
    },
});

let run: ExampleRun;
before(async () => {
    run = await runExample("cni-behind-firewall", options());
});

describe("examples/cni-behind-firewall", () => {
    test("the nodes' subnet routes 0.0.0.0/0 to the firewall; the cluster uses Azure CNI in it", () => {
        const routes = one(run, "azure-native:network:RouteTable", "aks-routes");
        assert.deepEqual(routes.inputs.routes, [
            {
                name: "default-via-firewall",
                addressPrefix: "0.0.0.0/0",
                nextHopType: "VirtualAppliance",
                nextHopIpAddress: FIREWALL_IP,
            },
        ]);
        const subnet = one(run, "azure-native:network:Subnet", "aks-subnet");
        assert.equal(subnet.inputs.routeTable.id, routes.state.id);
        const aks = one(run, "azure-native:containerservice:ManagedCluster");
        assert.equal(aks.inputs.agentPoolProfiles[0].vnetSubnetID, subnet.state.id);
        assert.equal(aks.inputs.networkProfile.networkPlugin, "azure");
        assert.equal(aks.inputs.networkProfile.networkPluginMode, undefined);
        assert.equal(aks.inputs.networkProfile.networkPolicy, "calico");
        assert.equal(aks.inputs.networkProfile.serviceCidr, "10.11.0.0/16");
        assert.equal(aks.inputs.networkProfile.dnsServiceIP, "10.11.0.10");
        assert.equal(
            one(run, "azure-native:network:Subnet", "firewall-subnet").inputs.subnetName,
            "AzureFirewallSubnet",
        );
        assert.equal(run.outputs.firewallPrivateIp, FIREWALL_IP);
    });

    test("one HTTPS rule per required host, from the nodes' subnet, after the AKS bootstrap group", () => {
        const hosts = run.outputs.requiredHosts as RequiredHost[];
        assert.equal(hosts.length, 10);
        const bootstrap = one(
            run,
            "azure-native:network:FirewallPolicyRuleCollectionGroup",
            "aks-bootstrap",
        );
        assert.deepEqual(bootstrap.inputs.ruleCollections[0].rules[0].fqdnTags, [
            "AzureKubernetesService",
        ]);
        const group = one(
            run,
            "azure-native:network:FirewallPolicyRuleCollectionGroup",
            "aml-inference",
        );
        assert.equal(group.inputs.priority, 200);
        const [collection] = group.inputs.ruleCollections;
        assert.equal(collection.action.type, "Allow");
        assert.deepEqual(collection.rules, requiredHostRules(hosts, ["10.10.4.0/22"]));
        assert.deepEqual(
            collection.rules.map((r: { targetFqdns: string[] }) => r.targetFqdns[0]),
            hosts.map((h) => h.host),
        );
        // Hosts the README lists (the names with a hash differ per subscription).
        for (const h of hosts.filter((x) => !/hcp|acrml|stml|example/.test(x.host))) {
            assert.ok(README.includes(`{ "host": "${h.host}", "usedBy": "${h.usedBy}" }`), h.host);
        }
    });

    test("rule names Azure accepts", () => {
        assert.equal(ruleName("*.data.mcr.microsoft.com"), "any.data.mcr.microsoft.com");
        assert.equal(ruleName("a".repeat(100)).length, 80);
        for (const r of requiredHostRules(run.outputs.requiredHosts as RequiredHost[], [
            "10.0.0.0/8",
        ])) {
            assert.match(String(r.name), /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/);
        }
    });

    test("the policy pack passes with every policy mandatory, and the egress check really ran", () => {
        assert.deepEqual(run.evaluation.violations, []);
        assert.deepEqual(
            run.evaluation.notApplicable.filter((n) => n.policy === CNI_POLICY),
            [],
        );
        assert.ok(validateKubernetesObjects(run) >= 10);
    });

    test("first preview: what is not known yet is skipped with its reason, never failed", async () => {
        const preview = await runExample("cni-behind-firewall", options({ preview: true }));
        assert.deepEqual(preview.evaluation.violations, []);
        const skipped = preview.evaluation.notApplicable.filter((n) => n.policy === CNI_POLICY);
        assert.ok(skipped.length > 0);
        assert.ok(
            skipped.every((n) => /unknown during preview|is unknown/.test(n.reason)),
            JSON.stringify(skipped),
        );
    });

    test("without the generated rules the preview fails: one mandatory finding per host", async () => {
        const failing = await runExample(
            "cni-behind-firewall",
            options({
                state: (r) =>
                    r.type === "azure-native:network:FirewallPolicyRuleCollectionGroup" &&
                    r.name === "aml-inference"
                        ? { ruleCollections: [] }
                        : undefined,
            }),
        );
        const cni = failing.evaluation.violations.filter((v) => v.policy === CNI_POLICY);
        assert.ok(cni.length >= 5, JSON.stringify(cni, null, 2));
        assert.ok(cni.every((v) => v.enforcementLevel === "mandatory"));
        const api = cni.find((v) => v.message.includes("allows api.azureml.ms "));
        assert.ok(api && README.includes(api.message), JSON.stringify(cni, null, 1));
        for (const host of ["stml", "acrml", "ingest-viennawesteurope.kusto.windows.net"]) {
            assert.ok(
                cni.some((v) => v.message.includes(`allows ${host}`)),
                host,
            );
        }
        // The AzureKubernetesService tag of aks-bootstrap covers the API server and MCR.
        assert.ok(
            !cni.some((v) => /allows (mcr\.microsoft\.com|\S+\.azmk8s\.io) /.test(v.message)),
        );
    });
});
