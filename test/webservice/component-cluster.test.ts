/**
 * AksWebservice on the real AksInferenceCluster (kubeconfig mode) under mocks: the service uses
 * the cluster's provider, router namespace and scoring URL, and its NetworkPolicy admits the pods
 * the cluster's router Deployment actually creates.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { AksInferenceCluster } from "../../components/cluster";
import { detectAccelerators } from "../../components/cluster/sizing";
import { ValidationError } from "../../components/common/validation";
import { AksWebservice } from "../../components/webservice";
import { appLayerContextDirectory } from "../../components/webservice/app-layer";
import { ENV_IMAGE, makeProject, validateK8s } from "./helpers";
import { LB_IP, one, settle, setupMocks, unwrap } from "./mocks";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const { resources } = setupMocks();
const project = makeProject();
let cluster: AksInferenceCluster;
let ws: AksWebservice;

const KUBECONFIG = [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: local",
    "  cluster: { server: https://127.0.0.1:6443 }",
    "contexts:",
    "- name: local",
    "  context: { cluster: local, user: admin }",
    "current-context: local",
    "users:",
    "- name: admin",
    "  user: { client-certificate-data: Q0VSVA==, client-key-data: S0VZ }",
    "",
].join("\n");

before(async () => {
    cluster = new AksInferenceCluster("local", {
        kubeconfig: KUBECONFIG,
        clusterPurpose: "DevTest",
        routerNamespace: "amlaks",
        routerImage: "localhost:5000/amlaks-router:dev",
        routerWatchNamespaces: ["models"],
    });
    ws = new AksWebservice("sample", {
        cluster,
        imageRef: ENV_IMAGE,
        entryScript: "score.py",
        sourceDirectory: project.src,
        models: [project.modelA, project.modelB],
        registryServer: "localhost:5000",
        namespace: "models",
    });
    await unwrap(ws.deploymentName);
    await unwrap(ws.scoringUri);
    await settle(resources);
});

after(() => {
    project.cleanup();
    rmSync(appLayerContextDirectory(process.cwd(), "sample"), { recursive: true, force: true });
});

describe("AksWebservice on AksInferenceCluster (kubeconfig mode)", () => {
    test("every Kubernetes child of the service uses the cluster's provider", async () => {
        const providerUrn = await unwrap(cluster.kubeProvider.urn);
        const k8sChildren = resources.filter(
            (r) => r.name.startsWith("sample-") && r.type.startsWith("kubernetes:"),
        );
        assert.equal(k8sChildren.length, 5);
        for (const r of k8sChildren) {
            assert.ok(r.provider?.startsWith(`${providerUrn}::`), `${r.name} uses ${r.provider}`);
            validateK8s(r.inputs);
        }
    });

    test("NetworkPolicy selects the router pods the cluster deploys, in the cluster's router namespace", () => {
        const np = one(
            resources,
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            "sample-netpol",
        ).inputs;
        const peer = np.spec.ingress[0].from[0];
        assert.deepEqual(peer.namespaceSelector.matchLabels, {
            "kubernetes.io/metadata.name": "amlaks",
        });
        const router = one(resources, "kubernetes:apps/v1:Deployment", "local-router").inputs;
        assert.equal(router.metadata.namespace, "amlaks");
        const podLabels: Record<string, string> = router.spec.template.metadata.labels;
        for (const [k, v] of Object.entries(
            peer.podSelector.matchLabels as Record<string, string>,
        )) {
            assert.equal(podLabels[k], v, `router pods lack ${k}=${v}`);
        }
    });

    test("scoring URI on the router's load balancer address; two models → the models root", async () => {
        assert.equal(await unwrap(ws.scoringUri), `http://${LB_IP}/api/v1/service/sample/score`);
        assert.equal(await unwrap(ws.modelDir), "/var/azureml-app/azureml-models");
        const d: Any = one(resources, "kubernetes:apps/v1:Deployment", "sample-deployment").inputs;
        assert.equal(d.metadata.namespace, "models");
    });

    test("a plain GPU check against a plain vmSize fails before anything is created", async () => {
        const before = resources.length;
        assert.throws(
            () =>
                new AksWebservice("gpu", {
                    cluster,
                    clusterGpuEnabled: detectAccelerators("Standard_D3_v2").gpu,
                    imageRef: ENV_IMAGE,
                    entryScript: "score.py",
                    sourceDirectory: project.src,
                    registryServer: "localhost:5000",
                    gpuCores: 1,
                }),
            (e: unknown) =>
                e instanceof ValidationError &&
                /gpuCores: 1 needs a cluster created with a GPU VM size/.test(e.message),
        );
        await settle(resources);
        assert.equal(resources.length, before);
    });

    test("the cluster's own plain vmSize refuses a GPU service before any child (no clusterGpuEnabled)", async () => {
        const cpu = new AksInferenceCluster("cpu", {
            kubeconfig: KUBECONFIG,
            clusterPurpose: "DevTest",
            vmSize: "Standard_D4s_v3",
            routerImage: "localhost:5000/amlaks-router:dev",
            routerServiceType: "ClusterIP",
        });
        assert.equal(cpu.gpuKnown, false);
        assert.equal(cpu.vmSize, "Standard_D4s_v3");
        await settle(resources);
        const before = resources.length;
        assert.throws(
            () =>
                new AksWebservice("gpu2", {
                    cluster: cpu,
                    image: ENV_IMAGE,
                    entryScript: "score.py",
                    sourceDirectory: project.src,
                    registryServer: "localhost:5000",
                    gpuCores: 1,
                }),
            (e: unknown) =>
                e instanceof ValidationError &&
                /gpuCores: 1 needs a cluster created with a GPU VM size/.test(e.message),
        );
        await settle(resources);
        assert.deepEqual(
            resources.slice(before).map((r) => r.name),
            [],
            "nothing registered, not even the component",
        );
    });

    test("image accepts a pinned image reference string (as imageRef)", async () => {
        const svc = new AksWebservice("bystring", {
            cluster,
            image: ENV_IMAGE,
            entryScript: "score.py",
            sourceDirectory: project.src,
            modelDelivery: "prebuilt",
            namespace: "models",
        });
        assert.equal(await unwrap(svc.imageRef), ENV_IMAGE);
        await settle(resources);
        const d: Any = one(
            resources,
            "kubernetes:apps/v1:Deployment",
            "bystring-deployment",
        ).inputs;
        assert.equal(d.spec.template.spec.containers[0].image, ENV_IMAGE);
    });
});
