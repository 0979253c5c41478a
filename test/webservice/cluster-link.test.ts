/**
 * AksWebservice given its cluster the way other languages give it through the multi-language
 * package (provider/): an object of plain values or Outputs without a provider, the Kubernetes
 * provider in the `providers` resource option; or the whole object as one Output. Under mocks.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AksWebservice, type AksWebserviceArgs } from "../../components/webservice";
import { linkCluster } from "../../components/webservice/cluster-link";
import { ENV_IMAGE, makeProject, validateK8s } from "./helpers";
import { one, settle, setupMocks, unwrap } from "./mocks";

const { resources } = setupMocks();
const project = makeProject();
after(() => project.cleanup());

const K8S_TYPES = new Set([
    "kubernetes:core/v1:Secret",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:core/v1:Service",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:policy/v1:PodDisruptionBudget",
]);

/** What a YAML program passes as `cluster` with literal values: no kubeProvider. */
const plainCluster = {
    scoringBaseUrl: "http://10.1.2.3/",
    gpuEnabled: false,
    routerNamespace: "azureml",
    serviceNamespaces: ["azureml-services"],
};

function args(cluster: unknown, extra: Partial<AksWebserviceArgs> = {}): AksWebserviceArgs {
    return {
        cluster: cluster as AksWebserviceArgs["cluster"],
        imageRef: ENV_IMAGE,
        modelDelivery: "prebuilt",
        entryScript: "score.py",
        sourceDirectory: project.src,
        models: [project.modelA],
        primaryKey: "7f3a9c2e1b8d4f6a0c5e9b2d7a1f4c8e",
        secondaryKey: "0c5e9b2d7a1f4c8e7f3a9c2e1b8d4f6a",
        ...extra,
    };
}

function provider(name: string): k8s.Provider {
    return new k8s.Provider(name, { kubeconfig: "apiVersion: v1\nkind: Config\n" });
}

async function kubernetesChildren(ws: AksWebservice, name: string) {
    await unwrap(ws.deploymentName);
    await settle(resources);
    return resources.filter((r) => K8S_TYPES.has(r.type) && r.name.startsWith(`${name}-`));
}

describe("AksWebservice with the cluster as other languages pass it", () => {
    test("plain values and the provider in `providers`: every object on that provider", async () => {
        const p = provider("yaml-k8s");
        const ws = new AksWebservice("plain", args(plainCluster), { providers: [p] });
        const children = await kubernetesChildren(ws, "plain");
        assert.equal(children.length, 5, children.map((c) => c.type).join(", "));
        const urn = await unwrap(p.urn);
        for (const c of children) {
            assert.ok(c.provider?.startsWith(`${urn}::`), `${c.name} is not on the given provider`);
            validateK8s(c.inputs);
        }
        // The plain router namespace reaches the NetworkPolicy; the base URL the outputs.
        const policy = one(
            resources,
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            "plain-netpol",
        );
        assert.match(JSON.stringify(policy.inputs), /"azureml"/);
        assert.equal(await unwrap(ws.scoringUri), "http://10.1.2.3/api/v1/service/plain/score");
    });

    test("the whole cluster object as one Output: its members are read from it", async () => {
        const ws = new AksWebservice("wrapped", args(pulumi.output(plainCluster)), {
            providers: [provider("wrapped-k8s")],
        });
        const children = await kubernetesChildren(ws, "wrapped");
        assert.equal(children.length, 5);
        assert.equal(await unwrap(ws.scoringUri), "http://10.1.2.3/api/v1/service/wrapped/score");
    });

    test("no provider anywhere: a ResourceError naming both ways to give one, no child", () => {
        assert.throws(
            () => new AksWebservice("orphan", args(plainCluster)),
            (e: Error) =>
                /no Kubernetes provider/.test(e.message) &&
                /`providers` resource option/.test(e.message) &&
                /cluster/.test(e.message),
        );
        assert.deepEqual(
            resources.filter((r) => r.name.startsWith("orphan-")).map((r) => r.name),
            [],
        );
    });
});

describe("linkCluster", () => {
    test("plain facts only from plain values; Outputs and plain values both become Outputs", async () => {
        const fromOutputs = linkCluster({
            ...plainCluster,
            scoringBaseUrl: pulumi.output("http://x"),
            gpuKnown: pulumi.output(true),
            kubernetesVersion: pulumi.output("1.31"),
        });
        assert.equal(fromOutputs.gpuKnown, undefined);
        assert.equal(fromOutputs.kubernetesVersion, undefined);
        assert.equal(await unwrap(fromOutputs.scoringBaseUrl), "http://x");
        const fromPlain = linkCluster({
            ...plainCluster,
            gpuKnown: false,
            kubernetesVersion: "1.29",
        });
        assert.equal(fromPlain.gpuKnown, false);
        assert.equal(fromPlain.kubernetesVersion, "1.29");
        assert.equal(fromPlain.kubeProvider, undefined);
        assert.deepEqual(await unwrap(fromPlain.serviceNamespaces!), ["azureml-services"]);
        assert.equal(await unwrap(fromPlain.gpuEnabled), false);
    });
});
