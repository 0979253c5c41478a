/**
 * evaluatePolicyPack: whole programs built from the components plus hand-written resources, run
 * under mocks, evaluated with the pack's own policy objects (resource and stack policies).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { evaluatePolicyPack, evaluatePolicyPackDetailed } from "../../policy/testing";
import * as pkg from "../../index";
import { attachedCluster, cniStack, kubernetesStack } from "./programs";

const HPA_URN =
    "urn:pulumi:stack::project::kubernetes:autoscaling/v2:HorizontalPodAutoscaler::model-hpa";
const HPA_MESSAGE = `HorizontalPodAutoscaler (autoscaling/v2) "azureml-services/diabetes" targets the model Deployment "azureml-services/diabetes". The amlaks router autoscales model deployments; a Kubernetes autoscaler on the same Deployment would compete with it (R29). Remove it and use the web service's autoscale settings (autoscaleMinReplicas, autoscaleMaxReplicas, autoscaleTargetUtilization).`;
const CLUSTER_URN =
    "urn:pulumi:stack::project::amlaks:index:AksInferenceCluster$azure-native:containerservice:ManagedCluster::inference-aks";
const MCR_MESSAGE = `AKS cluster "inference" uses Azure CNI with egress through route table "rt-aks" on subnet "aks" (0.0.0.0/0 to a virtual appliance (10.0.1.4)), but no Azure Firewall rule in this stack allows mcr.microsoft.com (needed by: Microsoft Container Registry). Allow it over HTTPS (and *.data.mcr.microsoft.com, where its layers download) (R11, R23).`;

describe("evaluatePolicyPack", () => {
    test("is exported from the package's main entry", () => {
        assert.equal(pkg.evaluatePolicyPack, evaluatePolicyPack);
    });

    test("a Kubernetes-only stack from the components passes", async () => {
        assert.deepEqual(await evaluatePolicyPack(() => kubernetesStack()), []);
    });

    test("an HPA aimed at the model Deployment is refused (mandatory)", async () => {
        assert.deepEqual(await evaluatePolicyPack(() => kubernetesStack({ hpa: "v2" })), [
            {
                policy: "no-hpa-on-model-deployments",
                message: HPA_MESSAGE,
                urn: HPA_URN,
                enforcementLevel: "mandatory",
            },
        ]);
    });

    test("a CNI cluster behind a firewall that misses mcr.microsoft.com is reported, and only that", async () => {
        assert.deepEqual(await evaluatePolicyPack(() => cniStack()), []);
        assert.deepEqual(
            await evaluatePolicyPack(() => cniStack({ omit: ["mcr.microsoft.com"] })),
            [
                {
                    policy: "cni-egress-allows-required-hosts",
                    message: MCR_MESSAGE,
                    urn: CLUSTER_URN,
                    enforcementLevel: "mandatory",
                },
            ],
        );
    });

    test("an undersized FastProd cluster attached by AksInferenceCluster is reported", async () => {
        for (const preview of [false, true]) {
            const violations = await evaluatePolicyPack(() => attachedCluster(1), { preview });
            assert.deepEqual(violations, [
                {
                    policy: "prod-cluster-minimum-size",
                    message: `AKS cluster "aks-small" is FastProd but has 1 node(s) (1 x Standard_D4s_v3, 4 vCPUs in total); FastProd and DenseProd need at least 3 nodes so the router's replicas sit on different nodes (R10). Add nodes or use DevTest.`,
                    urn: "urn:pulumi:stack::project::azure-native:containerservice:ManagedCluster::aks",
                    enforcementLevel: "advisory",
                },
            ]);
        }
        assert.deepEqual(await evaluatePolicyPack(() => attachedCluster(3)), []);
    });

    test("preview: ids are unknown, the stack is linked through dependencies", async () => {
        const violations = await evaluatePolicyPack(
            () => cniStack({ omit: ["mcr.microsoft.com"], literalNames: true }),
            { preview: true },
        );
        assert.deepEqual(
            violations.map((v) => v.message),
            [MCR_MESSAGE],
        );
    });

    test("preview: rules unknown during preview are skipped with a reason, never failed", async () => {
        const result = await evaluatePolicyPackDetailed(
            () => cniStack({ omit: ["mcr.microsoft.com"] }),
            { preview: true },
        );
        assert.deepEqual(result.violations, []);
        const reasons = result.notApplicable.filter(
            (n) => n.policy === "cni-egress-allows-required-hosts",
        );
        assert.equal(reasons.length, 1);
        assert.match(
            reasons[0]!.reason,
            /cannot tell whether mcr\.microsoft\.com is allowed: rules are unknown during preview/,
        );
    });

    test("advisory findings, and {all: mandatory} raises every policy", async () => {
        const program = () => kubernetesStack({ authEnabled: false });
        const advisory = await evaluatePolicyPack(program);
        assert.deepEqual(
            advisory.map((v) => [v.policy, v.enforcementLevel]),
            [["webservice-auth-required", "advisory"]],
        );
        const raised = await evaluatePolicyPack(program, { config: { all: "mandatory" } });
        assert.deepEqual(
            raised.map((v) => [v.policy, v.enforcementLevel]),
            [["webservice-auth-required", "mandatory"]],
        );
        const off = await evaluatePolicyPack(program, {
            config: { "webservice-auth-required": "disabled" },
        });
        assert.deepEqual(off, []);
    });

    test("invalid config is refused before the program runs", async () => {
        let ran = false;
        await assert.rejects(
            evaluatePolicyPack(() => (ran = true), { config: { "no-such-policy": "mandatory" } }),
            /policy config names "no-such-policy", which is not a policy of this pack/,
        );
        await assert.rejects(
            evaluatePolicyPack(() => (ran = true), { config: { all: "fatal" as never } }),
            /"all": "fatal" is not an enforcement level/,
        );
        assert.equal(ran, false);
    });

    test("calls do not leak resources into each other, even when started together", async () => {
        const [withHpa, without, again] = await Promise.all([
            evaluatePolicyPackDetailed(() => kubernetesStack({ hpa: "v1" }), { stack: "a" }),
            evaluatePolicyPackDetailed(() => kubernetesStack(), { stack: "b" }),
            evaluatePolicyPackDetailed(
                () => {
                    new k8s.core.v1.Namespace("only", {});
                },
                { stack: "c" },
            ),
        ]);
        assert.deepEqual(
            withHpa.violations.map((v) => v.policy),
            ["no-hpa-on-model-deployments"],
        );
        assert.deepEqual(without.violations, []);
        assert.equal(
            without.resources.some((r) => r.type.includes("HorizontalPodAutoscaler")),
            false,
        );
        assert.ok(without.resources.every((r) => r.urn.startsWith("urn:pulumi:b::")));
        assert.deepEqual(
            again.resources.map((r) => r.type),
            ["pulumi:pulumi:Stack", "kubernetes:core/v1:Namespace"],
        );
    });

    test("a failing program rejects with its error", async () => {
        await assert.rejects(
            evaluatePolicyPack(() => kubernetesStack({ cpuCores: -1 })),
            /cpuCores: -1 must be a number > 0/,
        );
        await assert.rejects(
            evaluatePolicyPack(() => {
                throw new Error("boom");
            }),
            /boom/,
        );
        // A failure inside an apply (as a component's deploy-time check raises it): the resource
        // that needs the value never registers.
        await assert.rejects(
            evaluatePolicyPack(() => {
                const name = pulumi.output("models").apply((): string => {
                    throw new Error("late failure");
                });
                new k8s.core.v1.Namespace("ns", { metadata: { name } });
            }),
            /late failure/,
        );
        // And the next call still works.
        assert.deepEqual(await evaluatePolicyPack(() => kubernetesStack()), []);
    });

    test("your own mocks answer first", async () => {
        const seen: string[] = [];
        await evaluatePolicyPack(() => kubernetesStack(), {
            mocks: {
                newResource: (args) => {
                    seen.push(args.type);
                    return undefined;
                },
            },
        });
        assert.ok(seen.includes("kubernetes:apps/v1:Deployment"));
    });
});
