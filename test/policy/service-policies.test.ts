/**
 * Web-service policies: gpu-service-on-gpu-cluster (R9), token-auth-same-region (R38),
 * webservice-auth-required (R35), public-endpoint-tls (R6), max-models-per-deployment (R27).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { gpuServiceOnGpuCluster } from "../../policy/gpu-service-on-gpu-cluster";
import { maxModelsPerDeployment } from "../../policy/max-models-per-deployment";
import { publicEndpointTls } from "../../policy/public-endpoint-tls";
import { tokenAuthSameRegion } from "../../policy/token-auth-same-region";
import { webserviceAuthRequired } from "../../policy/webservice-auth-required";
import {
    type FakeResource,
    messages,
    runResourcePolicy,
    runStackPolicy,
    UNKNOWN,
    urnOf,
} from "./harness";
import { managedCluster, modelDeployment, NS } from "./resources";

const gpuDeployment = (gpus = 1) =>
    modelDeployment({ container: { resources: { limits: { "nvidia.com/gpu": String(gpus) } } } });

describe("gpu-service-on-gpu-cluster", () => {
    const policy = gpuServiceOnGpuCluster;
    const gpuCluster = () =>
        managedCluster({
            agentPoolProfiles: [{ name: "gpu", count: 3, vmSize: "Standard_NC6s_v3" }],
        });

    test("is mandatory by default (R9: such deployments need that SKU)", () => {
        assert.equal(policy.enforcementLevel, "mandatory");
    });

    test("a GPU service on a cluster created with a GPU VM size passes; CPU services anywhere", async () => {
        assert.deepEqual(
            (await runStackPolicy(policy, [gpuCluster(), gpuDeployment()])).violations,
            [],
        );
        assert.deepEqual(
            (await runStackPolicy(policy, [managedCluster(), modelDeployment()])).violations,
            [],
        );
    });

    test("a GPU service on a CPU cluster is reported", async () => {
        const dep = gpuDeployment(2);
        const run = await runStackPolicy(policy, [managedCluster(), dep]);
        assert.deepEqual(run.violations, [
            {
                message: `Model Deployment "${NS}/diabetes" asks for 2 GPU(s) per replica, but AKS cluster "aks" was created with a VM size without GPUs (Standard_D4s_v3) (R9). Create the cluster with a GPU VM size or remove the GPU request.`,
                urn: urnOf(dep),
            },
        ]);
    });

    test("GPUs only in a node pool added later do not count (R9)", async () => {
        const pool: FakeResource = {
            type: "azure-native:containerservice:AgentPool",
            name: "gpu-pool",
            props: {
                resourceName: "aks",
                agentPoolName: "gpu",
                count: 1,
                vmSize: "Standard_NC6s_v3",
            },
        };
        assert.deepEqual(
            messages(await runStackPolicy(policy, [managedCluster(), pool, gpuDeployment()])),
            [
                `Model Deployment "${NS}/diabetes" asks for 1 GPU(s) per replica, but AKS cluster "aks" has GPUs only in node pool(s) added after it was created (gpu); GPU services need a cluster created with a GPU VM size (R9).`,
            ],
        );
    });

    test("gpuCores in the settings count; the component's gpuEnabled decides in kubeconfig mode", async () => {
        const settingsGpu = modelDeployment({ settings: { gpuCores: 1 }, provider: "k8s" });
        const component = {
            type: "amlaks:index:AksInferenceCluster",
            name: "inference",
            props: { gpuEnabled: false },
        };
        const provider = {
            type: "pulumi:providers:kubernetes",
            name: "k8s",
            parent: "inference",
            props: {},
        };
        assert.deepEqual(
            messages(await runStackPolicy(policy, [component, provider, settingsGpu])),
            [
                `Model Deployment "${NS}/diabetes" asks for 1 GPU(s) per replica, but inference cluster "inference" has no GPU nodes (gpuEnabled is false) (R9). Use a cluster created with a GPU VM size or remove the GPU request.`,
            ],
        );
        const enabled = { ...component, props: { gpuEnabled: true } };
        assert.deepEqual(
            (await runStackPolicy(policy, [enabled, provider, settingsGpu])).violations,
            [],
        );
    });

    test("any Deployment's GPU request counts, not only model Deployments'", async () => {
        const plain: FakeResource = {
            type: "kubernetes:apps/v1:Deployment",
            name: "trainer",
            props: {
                metadata: { name: "trainer", namespace: "jobs" },
                spec: {
                    template: {
                        spec: {
                            containers: [
                                {
                                    name: "t",
                                    image: "x",
                                    resources: { limits: { "nvidia.com/gpu": 1 } },
                                },
                            ],
                        },
                    },
                },
            },
        };
        assert.deepEqual(messages(await runStackPolicy(policy, [managedCluster(), plain])), [
            `Deployment "jobs/trainer" asks for 1 GPU(s) per replica, but AKS cluster "aks" was created with a VM size without GPUs (Standard_D4s_v3) (R9). Create the cluster with a GPU VM size or remove the GPU request.`,
        ]);
    });

    test("an FPGA request needs an FPGA VM size", async () => {
        const fpga = modelDeployment({
            container: { resources: { limits: { "xilinx.com/fpga-xilinx_u250": "1" } } },
        });
        assert.match(
            messages(await runStackPolicy(policy, [managedCluster(), fpga]))[0] ?? "",
            /asks for 1 FPGA\(s\) per replica/,
        );
        const fpgaCluster = managedCluster({
            agentPoolProfiles: [{ name: "fpga", count: 3, vmSize: "Standard_PB6s" }],
        });
        assert.deepEqual((await runStackPolicy(policy, [fpgaCluster, fpga])).violations, []);
    });

    test("without the cluster in the stack, or with unknown resources, it is skipped", async () => {
        const alone = await runStackPolicy(policy, [gpuDeployment()]);
        assert.equal(
            alone.notApplicable,
            `Model Deployment "${NS}/diabetes": its cluster is not in this stack`,
        );
        const unknown = modelDeployment({ container: { resources: UNKNOWN } });
        const run = await runStackPolicy(policy, [managedCluster(), unknown]);
        assert.equal(
            run.notApplicable,
            `Model Deployment "${NS}/diabetes": its container resources are unknown during preview`,
        );
    });
});

describe("token-auth-same-region", () => {
    const policy = tokenAuthSameRegion;
    const workspace = (location: string): FakeResource => ({
        type: "azure-native:machinelearningservices:Workspace",
        name: "ws",
        props: { workspaceName: "ws", location },
    });
    const tokenService = () =>
        modelDeployment({ settings: { authEnabled: false, tokenAuthEnabled: true } });

    test("workspace and cluster in the same region pass; key-auth services are not checked", async () => {
        assert.deepEqual(
            (
                await runStackPolicy(policy, [
                    workspace("West Europe"),
                    managedCluster(),
                    tokenService(),
                ])
            ).violations,
            [],
        );
        assert.deepEqual(
            (
                await runStackPolicy(policy, [
                    workspace("northeurope"),
                    managedCluster(),
                    modelDeployment(),
                ])
            ).violations,
            [],
        );
    });

    test("a token-auth service on a cluster in another region than the workspace is reported", async () => {
        const dep = tokenService();
        const run = await runStackPolicy(policy, [workspace("northeurope"), managedCluster(), dep]);
        assert.deepEqual(run.violations, [
            {
                message: `Model Deployment "${NS}/diabetes" uses token auth, but workspace "ws" is in northeurope and AKS cluster "aks" in westeurope. Token auth depends on the workspace region: keep the workspace and the cluster in the same region (R38).`,
                urn: urnOf(dep),
            },
        ]);
    });

    test("AmlWorkspace and AksInferenceCluster component outputs are used when the raw resources are absent", async () => {
        const ws = { type: "amlaks:index:AmlWorkspace", name: "ml", props: { location: "eastus" } };
        const cluster = {
            type: "amlaks:index:AksInferenceCluster",
            name: "inference",
            props: { location: "westus2" },
        };
        const provider = {
            type: "pulumi:providers:kubernetes",
            name: "k8s",
            parent: "inference",
            props: {},
        };
        const dep = { ...tokenService(), provider: "k8s" };
        assert.deepEqual(messages(await runStackPolicy(policy, [ws, cluster, provider, dep])), [
            `Model Deployment "${NS}/diabetes" uses token auth, but workspace "ml" is in eastus and inference cluster "inference" in westus2. Token auth depends on the workspace region: keep the workspace and the cluster in the same region (R38).`,
        ]);
    });

    test("an unknown region is skipped with a reason", async () => {
        const run = await runStackPolicy(policy, [
            workspace(UNKNOWN),
            managedCluster(),
            tokenService(),
        ]);
        assert.deepEqual(run.violations, []);
        assert.equal(
            run.notApplicable,
            `Model Deployment "${NS}/diabetes": the region of workspace "ws" is unknown`,
        );
    });
});

describe("webservice-auth-required", () => {
    const policy = webserviceAuthRequired;

    test("key auth (the default) and token auth pass", async () => {
        assert.deepEqual(
            (await runResourcePolicy(policy, modelDeployment({ settings: {} }))).violations,
            [],
        );
        const noKeys = modelDeployment({
            settings: { authEnabled: undefined, tokenAuthEnabled: undefined },
        });
        assert.deepEqual((await runResourcePolicy(policy, noKeys)).violations, []);
        const token = modelDeployment({ settings: { authEnabled: false, tokenAuthEnabled: true } });
        assert.deepEqual((await runResourcePolicy(policy, token)).violations, []);
    });

    test("a model service with auth disabled is reported", async () => {
        const run = await runResourcePolicy(
            policy,
            modelDeployment({ settings: { authEnabled: false } }),
        );
        assert.deepEqual(messages(run), [
            `Model Deployment "${NS}/diabetes" serves web service "diabetes" without authentication (authEnabled and tokenAuthEnabled are false): anyone who reaches the scoring endpoint can call the model (R5, R35). Enable key auth (the default) or token auth.`,
        ]);
    });

    test("Deployments that are not model Deployments are not checked; unknown settings are skipped", async () => {
        const plain = {
            type: "kubernetes:apps/v1:Deployment",
            name: "web",
            props: { metadata: { name: "web" } },
        };
        assert.deepEqual((await runResourcePolicy(policy, plain)).violations, []);
        const dep = modelDeployment();
        (dep.props.metadata as { annotations: Record<string, string> }).annotations[
            "amlaks.io/settings"
        ] = UNKNOWN;
        const run = await runResourcePolicy(policy, dep);
        assert.equal(
            run.notApplicable,
            `Model Deployment "${NS}/diabetes": its settings are unknown during preview`,
        );
    });
});

describe("public-endpoint-tls", () => {
    const policy = publicEndpointTls;
    const routerService = (
        extra: Record<string, unknown> = {},
        ports: unknown = [{ name: "http", port: 80, targetPort: "http" }],
    ): FakeResource => ({
        type: "kubernetes:core/v1:Service",
        name: "router-service",
        props: {
            metadata: { name: "amlaks-router", namespace: "azureml", ...extra },
            spec: {
                type: "LoadBalancer",
                selector: {
                    "app.kubernetes.io/name": "amlaks-router",
                    "app.kubernetes.io/component": "router",
                },
                ports,
            },
        },
    });
    const PLAIN = `Service "azureml/amlaks-router" exposes the scoring endpoint on a public load balancer without TLS (ports: 80): keys, tokens and payloads cross the internet in clear text (R5, R6). Give the inference cluster a certificate (sslCname, sslCertPem, sslKeyPem) or make the load balancer internal (loadBalancerType: InternalLoadBalancer).`;

    test("the router behind TLS, or on an internal load balancer, passes", async () => {
        const tls = routerService({}, [
            { name: "http", port: 80, targetPort: "http" },
            { name: "https", port: 443, targetPort: "https" },
        ]);
        assert.deepEqual((await runStackPolicy(policy, [tls])).violations, []);
        const internal = routerService({
            annotations: { "service.beta.kubernetes.io/azure-load-balancer-internal": "true" },
        });
        assert.deepEqual((await runStackPolicy(policy, [internal])).violations, []);
    });

    test("a public load balancer on plain HTTP is reported", async () => {
        const svc = routerService();
        const run = await runStackPolicy(policy, [svc]);
        assert.deepEqual(run.violations, [{ message: PLAIN, urn: urnOf(svc) }]);
    });

    test("a public Service straight to model pods is reported (model label or the pods' labels); others are not", async () => {
        const direct = routerService({ name: "diabetes-public", namespace: NS });
        (direct.props.spec as Record<string, unknown>).selector = {
            "amlaks.io/model-deployment": "true",
        };
        assert.match(
            messages(await runStackPolicy(policy, [direct]))[0] ?? "",
            /^Service "azureml-services\/diabetes-public" exposes/,
        );
        const byName = routerService({ name: "diabetes-lb", namespace: NS });
        (byName.props.spec as Record<string, unknown>).selector = {
            "app.kubernetes.io/name": "diabetes",
        };
        assert.match(
            messages(await runStackPolicy(policy, [modelDeployment(), byName]))[0] ?? "",
            /^Service "azureml-services\/diabetes-lb" exposes/,
        );
        assert.deepEqual((await runStackPolicy(policy, [byName])).violations, []);
        const web = routerService();
        (web.props.spec as Record<string, unknown>).selector = { app: "web" };
        assert.deepEqual((await runStackPolicy(policy, [modelDeployment(), web])).violations, []);
    });

    test("an Ingress to the router or a model Service needs a TLS section", async () => {
        const ingress = (
            tls: unknown[],
            service = "amlaks-router",
            ns = "azureml",
        ): FakeResource => ({
            type: "kubernetes:networking.k8s.io/v1:Ingress",
            name: `scoring-${service}`,
            props: {
                metadata: { name: "scoring", namespace: ns },
                spec: {
                    tls,
                    rules: [
                        {
                            host: "ml.example.com",
                            http: {
                                paths: [
                                    {
                                        path: "/",
                                        pathType: "Prefix",
                                        backend: {
                                            service: { name: service, port: { number: 80 } },
                                        },
                                    },
                                ],
                            },
                        },
                    ],
                },
            },
        });
        assert.deepEqual(messages(await runStackPolicy(policy, [ingress([])])), [
            `Ingress "azureml/scoring" routes to the scoring endpoint without TLS (spec.tls is empty) (R6). Add a TLS section with a certificate for its host.`,
        ]);
        const tls = [{ hosts: ["ml.example.com"], secretName: "tls" }];
        assert.deepEqual((await runStackPolicy(policy, [ingress(tls)])).violations, []);
        const modelService: FakeResource = {
            type: "kubernetes:core/v1:Service",
            name: "diabetes-svc",
            props: {
                metadata: { name: "diabetes", namespace: NS },
                spec: { type: "ClusterIP", selector: { "app.kubernetes.io/name": "diabetes" } },
            },
        };
        const toModel = ingress([], "diabetes", NS);
        assert.equal(
            messages(await runStackPolicy(policy, [modelDeployment(), modelService, toModel]))
                .length,
            1,
        );
    });

    test("a v1-style workspace compute on a public IP with SSL disabled is reported", async () => {
        const compute = (status: string): FakeResource => ({
            type: "azure-native:machinelearningservices:Compute",
            name: "compute",
            props: {
                computeName: "aks-compute",
                properties: {
                    computeType: "AKS",
                    properties: { loadBalancerType: "PublicIp", sslConfiguration: { status } },
                },
            },
        });
        assert.deepEqual(messages(await runStackPolicy(policy, [compute("Disabled")])), [
            `Workspace compute "aks-compute" serves AKS scoring on a public IP with SSL disabled (sslConfiguration.status Disabled) (R6). Enable SSL with a certificate and CNAME (or a leaf domain label), or use an internal load balancer.`,
        ]);
        assert.deepEqual((await runStackPolicy(policy, [compute("Enabled")])).violations, []);
    });

    test("unknown ports are skipped with a reason", async () => {
        const run = await runStackPolicy(policy, [routerService({}, UNKNOWN)]);
        assert.equal(
            run.notApplicable,
            `Service "azureml/amlaks-router": its ports are unknown during preview`,
        );
    });
});

describe("max-models-per-deployment", () => {
    const policy = maxModelsPerDeployment;
    const models = (n: number) => Array.from({ length: n }, (_, i) => `models/m${i}.pkl`);

    test("is mandatory by default (R27 is a hard limit)", () => {
        assert.equal(policy.enforcementLevel, "mandatory");
    });

    test("1000 models pass; 1001 are reported", async () => {
        assert.deepEqual(
            (
                await runResourcePolicy(
                    policy,
                    modelDeployment({ settings: { models: models(1000) } }),
                )
            ).violations,
            [],
        );
        assert.deepEqual(
            messages(
                await runResourcePolicy(
                    policy,
                    modelDeployment({ settings: { models: models(1001) } }),
                ),
            ),
            [
                `Model Deployment "${NS}/diabetes" serves 1001 models; a deployment (one container) holds at most 1000 (R27). Split the models over several web services.`,
            ],
        );
    });

    test("the model-count annotation and mounted model folders count too", async () => {
        const annotated = modelDeployment();
        (annotated.props.metadata as { annotations: Record<string, string> }).annotations[
            "amlaks.io/model-count"
        ] = "1200";
        assert.match(
            messages(await runResourcePolicy(policy, annotated))[0] ?? "",
            /serves 1200 models/,
        );
        const mounts = Array.from({ length: 1002 }, (_, i) => ({
            name: `m${i}`,
            mountPath: `/var/azureml-app/azureml-models/m${i}/1`,
        }));
        const mounted = modelDeployment({ container: { volumeMounts: mounts } });
        assert.match(
            messages(await runResourcePolicy(policy, mounted))[0] ?? "",
            /serves 1002 models/,
        );
    });

    test("maxModels lowers the bound; the schema refuses raising it", async () => {
        const dep = modelDeployment({ settings: { models: models(20) } });
        assert.match(
            messages(
                await runResourcePolicy(policy, dep, {
                    "max-models-per-deployment": { maxModels: 10 },
                }),
            )[0] ?? "",
            /holds at most 10 \(R27\)/,
        );
        await assert.rejects(
            runResourcePolicy(policy, dep, { "max-models-per-deployment": { maxModels: 5000 } }),
            /maxModels: must be <= 1000/,
        );
    });
});
