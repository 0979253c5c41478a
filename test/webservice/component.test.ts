/**
 * AksWebservice under Pulumi mocks with a test-double cluster: the children and their inputs,
 * secrets, replica ownership in both modes, idempotence, and bad inputs failing before any child.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ValidationError } from "../../components/common/validation";
import {
    AksWebservice,
    type AksWebserviceArgs,
    type InferenceClusterLike,
} from "../../components/webservice";
import { appLayerContextDirectory } from "../../components/webservice/app-layer";
import { publicJwkFromPem } from "../../components/webservice/keys";
import type { AksInferenceCluster } from "../../components/cluster";
import type { ModelImage } from "../../components/image/model-image";
import type { ModelImageLike } from "../../components/webservice";
import { ENV_IMAGE, makeProject, validateK8s } from "./helpers";
import { fakeDigest, fakePassword, one, settle, setupMocks, unwrap, type Recorded } from "./mocks";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

// The real components fit the structural arg types (checked by tsc).
type Fits<T, U> = T extends U ? true : never;
const _clusterFits: Fits<AksInferenceCluster, InferenceClusterLike> = true;
const _imageFits: Fits<ModelImage, ModelImageLike> = true;
void [_clusterFits, _imageFits];

const { resources, registrations } = setupMocks();
const project = makeProject();
const usedNames: string[] = [];
after(() => {
    project.cleanup();
    for (const n of usedNames)
        rmSync(appLayerContextDirectory(process.cwd(), n), { recursive: true, force: true });
});

const K8S_TYPES = [
    "kubernetes:core/v1:Secret",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:core/v1:Service",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "kubernetes:policy/v1:PodDisruptionBudget",
];

/**
 * Runs fixtures/failing-program.ts in its own process: a throw inside an apply fails a Pulumi
 * program through an unhandled rejection, which the test runner would blame on the running test.
 * (Its exit status is the Pulumi runtime's, which reports the children that never registered.)
 */
function runFailingProgram(scenario: string): { created: string[]; errors: string[] } {
    const program = path.join(__dirname, "fixtures", "failing-program.ts");
    const out = spawnSync(
        process.execPath,
        ["--import", "tsx", program, scenario, project.src, project.modelA],
        { encoding: "utf8", timeout: 60_000 },
    );
    const last = out.stdout.trim().split("\n").pop() ?? "";
    assert.ok(last.startsWith("{"), `no result line; stderr:\n${out.stderr}`);
    return JSON.parse(last);
}

/** A stand-in for AksInferenceCluster: a provider and the outputs the component reads. */
function fakeCluster(name: string, gpu: boolean, base = "http://20.1.2.3/"): InferenceClusterLike {
    return {
        kubeProvider: new k8s.Provider(`${name}-k8s`, {
            kubeconfig: "apiVersion: v1\nkind: Config\n",
        }),
        scoringBaseUrl: pulumi.output(base),
        gpuEnabled: pulumi.output(gpu),
        routerNamespace: pulumi.output("azureml"),
    };
}

const cpuCluster = fakeCluster("cpu", false);

function args(extra: Partial<AksWebserviceArgs> = {}): AksWebserviceArgs {
    return {
        cluster: cpuCluster,
        imageRef: ENV_IMAGE,
        entryScript: "score.py",
        sourceDirectory: project.src,
        models: [project.modelA],
        registryServer: "registry.example.io",
        registryUsername: "pusher",
        registryPassword: "registry-password-123",
        ...extra,
    };
}

/** Creates a service and waits until all its children are registered. */
async function deploy(
    name: string,
    extra: Partial<AksWebserviceArgs> = {},
): Promise<AksWebservice> {
    usedNames.push(name);
    const ws = new AksWebservice(name, args(extra));
    await unwrap(ws.deploymentName);
    await unwrap(ws.imageRef);
    await settle(resources);
    return ws;
}

function childrenOf(name: string): Recorded[] {
    return resources.filter((r) => r.name === name || r.name.startsWith(`${name}-`));
}

function byType(name: string, type: string, suffix: string): Recorded {
    return one(resources, type, `${name}-${suffix}`);
}

describe("AksWebservice children (key auth, autoscale)", () => {
    let ws: AksWebservice;
    const name = "diabetes";
    test("creates exactly the expected children, on the cluster's provider, parented to the component", async () => {
        ws = await deploy(name, {
            cpuCores: 0.5,
            memoryGb: 1,
            autoscaleEnabled: true,
            autoscaleMinReplicas: 2,
        });
        const kinds = childrenOf(name)
            .map((r) => `${r.type}/${r.name}`)
            .sort();
        assert.deepEqual(kinds, [
            `amlaks:index:AksWebservice/${name}`,
            `docker:index/image:Image/${name}-app-image`,
            `kubernetes:apps/v1:Deployment/${name}-deployment`,
            `kubernetes:core/v1:Secret/${name}-auth`,
            `kubernetes:core/v1:Service/${name}-service`,
            `kubernetes:networking.k8s.io/v1:NetworkPolicy/${name}-netpol`,
            `kubernetes:policy/v1:PodDisruptionBudget/${name}-pdb`,
            `random:index/randomPassword:RandomPassword/${name}-primary-key`,
            `random:index/randomPassword:RandomPassword/${name}-secondary-key`,
        ]);
        const providerUrn = await unwrap(cpuCluster.kubeProvider.urn);
        for (const r of childrenOf(name).filter((c) => K8S_TYPES.includes(c.type))) {
            assert.ok(
                r.provider?.startsWith(`${providerUrn}::`),
                `${r.name} not on the cluster provider`,
            );
            validateK8s(r.inputs);
        }
        const componentUrn = await unwrap(ws.urn);
        for (const reg of registrations.filter((g) => g.name.startsWith(`${name}-`))) {
            assert.equal(reg.parent, componentUrn, `${reg.name} is not a child of the component`);
        }
    });

    test("the app layer is built FROM the environment image, tagged by content, pushed, run by digest", async () => {
        const img = byType(name, "docker:index/image:Image", "app-image");
        const dir = appLayerContextDirectory(process.cwd(), name);
        assert.equal(img.inputs.build.context, dir);
        assert.equal(img.inputs.build.dockerfile, path.join(dir, "Dockerfile"));
        assert.match(
            img.inputs.imageName,
            /^registry\.example\.io\/amlaks-apps\/diabetes:[0-9a-f]{32}$/,
        );
        assert.equal(img.inputs.registry.server, "registry.example.io");
        assert.equal(img.inputs.registry.username, "pusher");
        assert.equal(img.inputs.build.platform, "linux/amd64");
        assert.equal(img.inputs.buildOnPreview, false, "never build during preview");
        const dockerfile = readFileSync(path.join(dir, "Dockerfile"), "utf8");
        assert.match(
            dockerfile,
            new RegExp(`^FROM ${ENV_IMAGE.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"),
        );
        assert.ok(existsSync(path.join(dir, "app", "score.py")));
        assert.ok(existsSync(path.join(dir, "app", "util", "helpers.py")));
        assert.ok(existsSync(path.join(dir, "azureml-models", "diabetes", "1", "diabetes.pkl")));
        const reg = one(registrations, "docker:index/image:Image", `${name}-app-image`);
        assert.ok(
            reg.secretInputs.includes("registry"),
            "registry password must be sent as a secret",
        );

        const expectedRef = fakeDigest(img.inputs.imageName);
        assert.equal(await unwrap(ws.imageRef), expectedRef);
        const d = byType(name, "kubernetes:apps/v1:Deployment", "deployment");
        assert.equal(d.inputs.spec.template.spec.containers[0].image, expectedRef);
    });

    test("Deployment: name, namespace, resources, replicas from autoscaleMinReplicas, settings annotation", async () => {
        const d = byType(name, "kubernetes:apps/v1:Deployment", "deployment").inputs;
        assert.equal(d.metadata.name, "diabetes");
        assert.equal(d.metadata.namespace, "azureml-services");
        assert.equal(d.spec.replicas, 2);
        const c = d.spec.template.spec.containers[0];
        assert.deepEqual(c.resources, { requests: { cpu: "500m", memory: "1Gi" } });
        const env = Object.fromEntries(c.env.map((e: Any) => [e.name, e.value]));
        assert.equal(env.AZUREML_MODEL_DIR, "/var/azureml-app/azureml-models/diabetes/1");
        assert.equal(env.AZUREML_ENTRY_SCRIPT, "score.py");
        const settings = JSON.parse(d.metadata.annotations["amlaks.io/settings"]);
        assert.equal(settings.autoscaleMinReplicas, 2);
        assert.equal(settings.cpuCores, 0.5);
        assert.equal(await unwrap(ws.deploymentName), "diabetes");
        assert.equal(await unwrap(ws.modelDir), "/var/azureml-app/azureml-models/diabetes/1");
    });

    test("replicas owned by the router: ignoreChanges on spec.replicas", () => {
        const reg = one(registrations, "kubernetes:apps/v1:Deployment", `${name}-deployment`);
        assert.deepEqual(reg.ignoreChanges, ["spec.replicas"]);
    });

    test("keys: generated, stored in the auth Secret as secrets, exposed as secret outputs", async () => {
        const primary = fakePassword(`${name}-primary-key`, { version: "0" });
        const secondary = fakePassword(`${name}-secondary-key`, { version: "0" });
        const pw = byType(name, "random:index/randomPassword:RandomPassword", "primary-key").inputs;
        assert.equal(pw.length, 32);
        assert.equal(pw.special, false);
        const secret = byType(name, "kubernetes:core/v1:Secret", "auth").inputs;
        assert.deepEqual(secret.stringData, { primaryKey: primary, secondaryKey: secondary });
        const reg = one(registrations, "kubernetes:core/v1:Secret", `${name}-auth`);
        assert.ok(reg.secretInputs.includes("stringData"), "keys must reach the engine as secrets");
        assert.ok(reg.additionalSecretOutputs.includes("stringData"));
        assert.ok(reg.additionalSecretOutputs.includes("data"));
        assert.equal(await pulumi.isSecret(ws.primaryKey), true);
        assert.equal(await pulumi.isSecret(ws.secondaryKey), true);
        assert.equal(await unwrap(ws.primaryKey), primary);
        assert.equal(await unwrap(ws.secondaryKey), secondary);
        // Keys never reach the Deployment (model pods do not need them).
        const d = byType(name, "kubernetes:apps/v1:Deployment", "deployment").inputs;
        assert.ok(!JSON.stringify(d).includes(primary));
    });

    test("NetworkPolicy admits router pods of the cluster's router namespace only", () => {
        const np = byType(name, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "netpol").inputs;
        assert.deepEqual(np.spec.ingress[0].from, [
            {
                namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "azureml" } },
                podSelector: { matchLabels: { "app.kubernetes.io/name": "amlaks-router" } },
            },
        ]);
    });

    test("outputs: scoring and swagger URIs from the cluster's base URL (trailing slash dropped)", async () => {
        assert.equal(await unwrap(ws.scoringUri), "http://20.1.2.3/api/v1/service/diabetes/score");
        assert.equal(
            await unwrap(ws.swaggerUri),
            "http://20.1.2.3/api/v1/service/diabetes/swagger.json",
        );
        assert.equal(await unwrap(ws.name), "diabetes");
        assert.equal(await unwrap(ws.namespace), "azureml-services");
        assert.equal(await unwrap(ws.authMode), "key");
    });
});

describe('modelDelivery "prebuilt": the given image runs as is', () => {
    test("no app layer is built or pushed; the Deployment runs imageRef with the checked layout", async () => {
        const name = "prebuilt-svc";
        const ws = await deploy(name, {
            modelDelivery: "prebuilt",
            registryServer: undefined,
            registryUsername: undefined,
            registryPassword: undefined,
        });
        const types = childrenOf(name).map((r) => r.type);
        assert.ok(
            !types.includes("docker:index/image:Image"),
            `unexpected app layer: ${types.join(", ")}`,
        );
        assert.equal(await unwrap(ws.imageRef), ENV_IMAGE);
        const dep = byType(name, "kubernetes:apps/v1:Deployment", "deployment");
        validateK8s(dep.inputs);
        const container = dep.inputs.spec.template.spec.containers[0];
        assert.equal(container.image, ENV_IMAGE);
        const env = Object.fromEntries(
            (container.env as { name: string; value?: string }[]).map((e) => [e.name, e.value]),
        );
        assert.equal(env.AZUREML_ENTRY_SCRIPT, "score.py");
        assert.ok(
            env.AZUREML_MODEL_DIR?.startsWith("/var/azureml-app/azureml-models"),
            env.AZUREML_MODEL_DIR,
        );
    });

    test("prebuilt needs imageRef, not a ModelImage to build on", () => {
        assert.throws(
            () =>
                new AksWebservice("prebuilt-bad", {
                    ...args({ modelDelivery: "prebuilt" }),
                    imageRef: undefined,
                    image: { imageRef: pulumi.output(ENV_IMAGE) },
                }),
            (e: unknown) =>
                e instanceof ValidationError &&
                /modelDelivery.*prebuilt.*needs imageRef/s.test(e.message),
        );
    });
});

describe("replica ownership in both modes", () => {
    test("numReplicas: Pulumi owns spec.replicas (set, no ignoreChanges)", async () => {
        await deploy("fixed", { numReplicas: 4 });
        const d = byType("fixed", "kubernetes:apps/v1:Deployment", "deployment").inputs;
        assert.equal(d.spec.replicas, 4);
        assert.equal(d.metadata.annotations["pulumi.com/patchForce"], "true");
        const reg = one(registrations, "kubernetes:apps/v1:Deployment", "fixed-deployment");
        assert.deepEqual(reg.ignoreChanges, []);
    });
});

describe("keys given and rotated", () => {
    test("given keys are used as is (no RandomPassword) and still secret", async () => {
        const ws = await deploy("given", {
            primaryKey: "my-primary-key-0123456789abcdefghijkl",
            secondaryKey: pulumi.secret("my-secondary-key-0123456789abcdefghij"),
        });
        assert.equal(childrenOf("given").filter((r) => r.type.startsWith("random:")).length, 0);
        const secret = byType("given", "kubernetes:core/v1:Secret", "auth").inputs;
        assert.deepEqual(secret.stringData, {
            primaryKey: "my-primary-key-0123456789abcdefghijkl",
            secondaryKey: "my-secondary-key-0123456789abcdefghij",
        });
        assert.equal(await pulumi.isSecret(ws.primaryKey), true);
    });

    test("bumping primaryKeyVersion changes the primary key only", async () => {
        await deploy("rotate", { primaryKeyVersion: 1 });
        const p = byType(
            "rotate",
            "random:index/randomPassword:RandomPassword",
            "primary-key",
        ).inputs;
        const s = byType(
            "rotate",
            "random:index/randomPassword:RandomPassword",
            "secondary-key",
        ).inputs;
        assert.deepEqual(p.keepers, { version: "1" });
        assert.deepEqual(s.keepers, { version: "0" });
        const secret = byType("rotate", "kubernetes:core/v1:Secret", "auth").inputs;
        assert.equal(
            secret.stringData.secondaryKey,
            fakePassword("rotate-secondary-key", { version: "0" }),
        );
        assert.equal(
            secret.stringData.primaryKey,
            fakePassword("rotate-primary-key", { version: "1" }),
        );
    });
});

describe("token auth (R37)", () => {
    test("a P-256 signing key; the Secret holds the PKCS#8 key and its public JWK; no keys", async () => {
        const ws = await deploy("tokensvc", {
            tokenAuthEnabled: true,
            authEnabled: false,
            tokenSigningKeyVersion: 3,
        });
        const key = byType(
            "tokensvc",
            "tls:index/privateKey:PrivateKey",
            "token-signing-key",
        ).inputs;
        assert.equal(key.algorithm, "ECDSA");
        assert.equal(key.ecdsaCurve, "P256");
        assert.equal(childrenOf("tokensvc").filter((r) => r.type.startsWith("random:")).length, 0);
        const secret = byType("tokensvc", "kubernetes:core/v1:Secret", "auth").inputs;
        const pem: string = secret.stringData["tokenSigningKey.pem"];
        assert.match(pem, /^-----BEGIN PRIVATE KEY-----/);
        const jwks = JSON.parse(secret.stringData["tokenSigningKeys.json"]);
        assert.equal(jwks.length, 1);
        assert.equal(jwks[0].d, undefined);
        const { createPublicKey } = await import("node:crypto");
        const pub = createPublicKey(pem).export({ format: "pem", type: "spki" }) as string;
        assert.equal(
            jwks[0].kid,
            publicJwkFromPem(pub).kid,
            "JWK must be the public half of the stored key",
        );
        const d = byType("tokensvc", "kubernetes:apps/v1:Deployment", "deployment").inputs;
        assert.equal(d.metadata.annotations["amlaks.io/token-audience"], "amlaks:service:tokensvc");
        assert.equal(await unwrap(ws.tokenAudience), "amlaks:service:tokensvc");
        assert.equal(await unwrap(ws.tokenIssuer), "amlaks://cluster");
        // Absent outputs are "" (docs/components.md), still marked secret.
        assert.equal(await unwrap(ws.primaryKey), "");
        assert.equal(await pulumi.isSecret(ws.primaryKey), true);
    });
});

describe("App Insights (R3)", () => {
    test("a Secret with the connection string and instrumentation key; pods read it, the Deployment waits for it", async () => {
        const guid = "11111111-2222-3333-4444-555555555555";
        await deploy("insights", {
            authEnabled: false,
            enableAppInsights: true,
            appInsightsConnectionString: `InstrumentationKey=${guid};IngestionEndpoint=https://x/`,
        });
        const secret = byType("insights", "kubernetes:core/v1:Secret", "appinsights").inputs;
        assert.equal(secret.stringData.instrumentationKey, guid);
        assert.equal(childrenOf("insights").filter((r) => r.name === "insights-auth").length, 0);
        const reg = one(registrations, "kubernetes:apps/v1:Deployment", "insights-deployment");
        const secretReg = resources.find((r) => r.name === "insights-appinsights");
        assert.ok(secretReg);
        assert.ok(reg.dependencies.some((u) => u.endsWith("::insights-appinsights")));
    });
});

describe("no spurious diffs", () => {
    test("two runs of the same program register identical inputs", async () => {
        const run = async (): Promise<Map<string, string>> => {
            const start = resources.length;
            await deploy("twice", {
                models: [project.modelA, project.modelB],
                tags: { team: "ml", env: "dev" },
            });
            return new Map(
                resources
                    .slice(start)
                    .map((r) => [`${r.type}/${r.name}`, JSON.stringify(r.inputs)]),
            );
        };
        const first = await run();
        const second = await run();
        assert.ok(first.size >= 8);
        assert.deepEqual([...second.keys()].sort(), [...first.keys()].sort());
        for (const [k, v] of first) assert.equal(second.get(k), v, `${k} differs between runs`);
    });
});

describe("bad inputs fail before any child exists", () => {
    const cases: [string, Partial<AksWebserviceArgs>, RegExp][] = [
        [
            "missing entry script",
            { entryScript: "nope.py" },
            /entryScript: "nope\.py" must be an existing file/,
        ],
        [
            "1001 models",
            { models: Array.from({ length: 1001 }, () => project.modelA) },
            /models: "1001 models" must be at most 1000/,
        ],
        [
            "unknown settings field",
            { cpuCore: 2 } as Any,
            /cpuCore: 2 is not a web service setting/,
        ],
        [
            "GPU on a known non-GPU cluster",
            { gpuCores: 1, clusterGpuEnabled: false },
            /gpuCores: 1 needs a cluster created with a GPU VM size/,
        ],
        [
            "key + token auth",
            { authEnabled: true, tokenAuthEnabled: true },
            /tokenAuthEnabled: true cannot be true while authEnabled is true/,
        ],
    ];
    for (const [label, extra, message] of cases) {
        test(label, async () => {
            await settle(resources);
            const before = resources.length;
            const regBefore = registrations.length;
            const name = `bad-${label.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`.slice(0, 30);
            assert.throws(
                () => new AksWebservice(name, args(extra)),
                (e: unknown) => e instanceof ValidationError && message.test(e.message),
            );
            await settle(resources);
            assert.equal(
                resources.length,
                before,
                "no newResource call at all, not even the component",
            );
            assert.equal(registrations.length, regBefore);
        });
    }

    test("GPU service on a cluster that turns out to have no GPU: the program fails with a ResourceError, no child is created", () => {
        const result = runFailingProgram("gpu-late");
        assert.ok(result.errors.length >= 1);
        assert.match(
            result.errors[0],
            /gpuCores is 1 but the cluster has no GPU nodes \(cluster\.gpuEnabled is false\)/,
        );
        // Only the component itself was registered; none of its children.
        assert.deepEqual(
            result.created.filter((n) => n.startsWith("gpu-late")),
            ["gpu-late"],
        );
    });

    test("a service in a namespace the router does not watch: a ResourceError naming both, no child is created (R21)", () => {
        const result = runFailingProgram("unwatched-namespace");
        assert.match(
            result.errors.join("\n"),
            /namespace is "team-b" but the cluster's router only serves the namespaces \[azureml-services, team-a\] \(routerWatchNamespaces\)/,
        );
        assert.deepEqual(
            result.created.filter((n) => n.startsWith("unwatched-namespace")),
            ["unwatched-namespace"],
        );
    });

    test("a key given as a secret Output is checked by the settings vocabulary at deploy time, never echoed", () => {
        const result = runFailingProgram("bad-output-key");
        assert.ok(
            result.errors.some((e) =>
                /primaryKey: "\(redacted\)" must be 32-256 printable ASCII/.test(e),
            ),
            result.errors.join("\n"),
        );
        assert.ok(result.errors.every((e) => !e.includes("in-the-key")));
        assert.ok(
            !result.created.includes("bad-output-key-auth"),
            "the auth Secret must not be created",
        );
    });

    test("two keys given as secret Outputs must differ (R36), checked at deploy time, never echoed", () => {
        const result = runFailingProgram("equal-output-keys");
        assert.ok(
            result.errors.some((e) =>
                /secondaryKey: "\(redacted\)" must differ from primaryKey/.test(e),
            ),
            result.errors.join("\n"),
        );
        assert.ok(result.errors.every((e) => !e.includes("7f3a9c2e1b8d")));
        assert.ok(
            !result.created.includes("equal-output-keys-auth"),
            "the auth Secret must not be created",
        );
    });

    test("a cluster on Kubernetes 1.29 gets the exec preStop (the native sleep action needs 1.30)", async () => {
        const old = { ...fakeCluster("old", false), kubernetesVersion: "1.29" };
        await deploy("oldk8s", { cluster: old, modelDelivery: "prebuilt" });
        const d = byType("oldk8s", "kubernetes:apps/v1:Deployment", "deployment").inputs;
        assert.deepEqual(d.spec.template.spec.containers[0].lifecycle.preStop, {
            exec: { command: ["sleep", "10"] },
        });
        await deploy("newk8s", { cluster: old, modelDelivery: "prebuilt", preStopAction: "sleep" });
        const n = byType("newk8s", "kubernetes:apps/v1:Deployment", "deployment").inputs;
        assert.deepEqual(n.spec.template.spec.containers[0].lifecycle.preStop, {
            sleep: { seconds: 10 },
        });
    });

    test("GPU service on a GPU cluster deploys with nvidia.com/gpu limits", async () => {
        await deploy("gpusvc", { gpuCores: 1, cluster: fakeCluster("gpu", true) });
        const d = byType("gpusvc", "kubernetes:apps/v1:Deployment", "deployment").inputs;
        assert.equal(d.spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"], "1");
    });
});
