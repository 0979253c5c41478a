import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
    renderDeployment as renderRouterDeployment,
    type RouterRenderConfig,
} from "../../components/cluster/router-install";
import {
    validateWebserviceSettings,
    type WebserviceSettingsInput,
} from "../../components/settings";
import {
    AUTH_SECRET_ANNOTATION,
    MODEL_DEPLOYMENT_LABEL,
    SECRET_PRIMARY_KEY,
    SECRET_SECONDARY_KEY,
    SECRET_SIGNING_JWKS,
    SECRET_SIGNING_KEY,
    SETTINGS_ANNOTATION,
    TOKEN_AUDIENCE_ANNOTATION,
    TOKEN_ISSUER,
    TOKEN_ISSUER_ANNOTATION,
    parseSettingsAnnotation,
} from "../../components/webservice/contract";
import {
    cpuQuantity,
    deploymentReplicaOptions,
    initialReplicas,
    memoryQuantity,
    renderAuthSecret,
    renderDeployment,
    renderNetworkPolicy,
    INSTANCE_METADATA_IP,
    preStopActionFor,
    renderPodDisruptionBudget,
    renderService,
    renderSettingsAnnotation,
    renderWebserviceObjects,
    terminationGracePeriodSeconds,
    type WebserviceRenderInput,
} from "../../components/webservice/render";
import { cidrContains, parseCidr, parseIpv4 } from "../../components/cluster/network";
import { APP_ROOT, renderAppLayerDockerfile } from "../../components/image/context";
import { validateK8s } from "./helpers";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const LAYOUT = {
    appRoot: "/var/azureml-app",
    sourceDirectory: "/var/azureml-app",
    entryScript: "score.py",
    modelDir: "/var/azureml-app/azureml-models/diabetes/1",
};

function input(
    settings: Partial<WebserviceSettingsInput> = {},
    extra: Partial<WebserviceRenderInput> = {},
): WebserviceRenderInput {
    const s = validateWebserviceSettings({ name: "diabetes", ...settings });
    return {
        settings: s,
        image: "registry.example.io/amlaks-apps/diabetes@sha256:" + "b".repeat(64),
        layout: LAYOUT,
        routerNamespace: "azureml",
        keys: s.authEnabled
            ? { primaryKey: "pk-1234567890", secondaryKey: "sk-0987654321" }
            : undefined,
        tokenSigning: s.tokenAuthEnabled
            ? {
                  privateKeyPem: "-----BEGIN PRIVATE KEY-----\nX\n-----END PRIVATE KEY-----\n",
                  publicJwks: "[]",
              }
            : undefined,
        appInsights: s.enableAppInsights
            ? { connectionString: "InstrumentationKey=k", instrumentationKey: "k" }
            : undefined,
        ...extra,
    };
}

function container(d: Any): Any {
    return d.spec.template.spec.containers[0];
}

function envOf(d: Any): Record<string, Any> {
    return Object.fromEntries(container(d).env.map((e: Any) => [e.name, e.value ?? e.valueFrom]));
}

describe("every rendered object is a valid Kubernetes object", () => {
    const cases: [string, Partial<WebserviceSettingsInput>][] = [
        ["key auth, autoscale", {}],
        [
            "token auth, fixed replicas",
            { tokenAuthEnabled: true, authEnabled: false, numReplicas: 3 },
        ],
        [
            "no auth, GPU, limits",
            { authEnabled: false, gpuCores: 1, cpuCoresLimit: 2, memoryGbLimit: 4 },
        ],
        ["app insights + data collection", { enableAppInsights: true, collectModelData: true }],
    ];
    for (const [label, settings] of cases) {
        test(label, () => {
            const objects = renderWebserviceObjects(input(settings));
            for (const o of objects) validateK8s(o.object);
            const kinds: string[] = objects.map((o) => o.kind);
            // R29: the router scales; there is never an HPA (or anything else that scales).
            assert.ok(!kinds.includes("HorizontalPodAutoscaler"));
            for (const k of ["Deployment", "Service", "NetworkPolicy", "PodDisruptionBudget"]) {
                assert.ok(kinds.includes(k), `${k} missing in ${kinds.join(",")}`);
            }
        });
    }

    test("the auth Secret exists exactly when auth is on; the App Insights Secret with enableAppInsights", () => {
        const suffixes = (s: Partial<WebserviceSettingsInput>) =>
            renderWebserviceObjects(input(s)).map((o) => o.suffix);
        assert.deepEqual(suffixes({}), ["auth", "deployment", "service", "netpol", "pdb"]);
        assert.deepEqual(suffixes({ authEnabled: false }), [
            "deployment",
            "service",
            "netpol",
            "pdb",
        ]);
        assert.deepEqual(suffixes({ enableAppInsights: true, authEnabled: false }), [
            "appinsights",
            "deployment",
            "service",
            "netpol",
            "pdb",
        ]);
    });
});

describe("model Deployment", () => {
    test("model server on 5001 with the AML contract environment (aml-v1-spec §5)", () => {
        const d: Any = renderDeployment(
            input({ replicaMaxConcurrentRequests: 4, scoringTimeoutMs: 30000 }),
        );
        assert.deepEqual(container(d).ports, [
            { name: "http", containerPort: 5001, protocol: "TCP" },
        ]);
        assert.equal(
            container(d).image,
            "registry.example.io/amlaks-apps/diabetes@sha256:" + "b".repeat(64),
        );
        const env = envOf(d);
        assert.equal(env.AML_APP_ROOT, "/var/azureml-app");
        assert.equal(env.AZUREML_SOURCE_DIRECTORY, "/var/azureml-app");
        assert.equal(env.AZUREML_ENTRY_SCRIPT, "score.py");
        assert.equal(env.AZUREML_MODEL_DIR, "/var/azureml-app/azureml-models/diabetes/1");
        assert.equal(env.SERVICE_NAME, "diabetes");
        assert.equal(env.SERVER_PORT, "5001");
        assert.equal(env.SERVER_HOST, "0.0.0.0");
        assert.equal(env.SCORING_TIMEOUT_MS, "30000");
        assert.equal(env.WORKER_COUNT, "4");
        assert.equal(env.AML_APP_INSIGHTS_ENABLED, undefined);
        assert.equal(env.AML_MODEL_DC_STORAGE_ENABLED, undefined);
    });

    test("App Insights (R3) reads its connection string from the App Insights Secret; data collection (R4) sets its flag", () => {
        const d: Any = renderDeployment(input({ enableAppInsights: true, collectModelData: true }));
        const env = envOf(d);
        assert.equal(env.AML_APP_INSIGHTS_ENABLED, "true");
        assert.deepEqual(env.APPLICATIONINSIGHTS_CONNECTION_STRING, {
            secretKeyRef: { name: "diabetes-appinsights", key: "connectionString" },
        });
        assert.deepEqual(env.AML_APP_INSIGHTS_KEY, {
            secretKeyRef: { name: "diabetes-appinsights", key: "instrumentationKey" },
        });
        assert.equal(env.AML_MODEL_DC_STORAGE_ENABLED, "true");
    });

    test("probes GET / from the v1 settings; liveness successThreshold is always 1", () => {
        const d: Any = renderDeployment(
            input({
                periodSeconds: 7,
                initialDelaySeconds: 120,
                timeoutSeconds: 3,
                successThreshold: 2,
                failureThreshold: 5,
            }),
        );
        const c = container(d);
        assert.deepEqual(c.readinessProbe, {
            httpGet: { path: "/", port: "http" },
            periodSeconds: 7,
            timeoutSeconds: 3,
            successThreshold: 2,
            failureThreshold: 5,
        });
        assert.deepEqual(c.livenessProbe, {
            httpGet: { path: "/", port: "http" },
            initialDelaySeconds: 120,
            periodSeconds: 7,
            timeoutSeconds: 3,
            successThreshold: 1,
            failureThreshold: 5,
        });
    });

    test("requests from cpuCores/memoryGb, limits only when set; GPUs as nvidia.com/gpu limits", () => {
        const cpu: Any = renderDeployment(input({}));
        assert.deepEqual(container(cpu).resources, { requests: { cpu: "100m", memory: "512Mi" } });
        assert.equal(cpu.spec.template.spec.tolerations, undefined);

        const gpu: Any = renderDeployment(
            input({
                cpuCores: 1.5,
                memoryGb: 2,
                cpuCoresLimit: 2,
                memoryGbLimit: 3.5,
                gpuCores: 2,
            }),
        );
        assert.deepEqual(container(gpu).resources, {
            requests: { cpu: "1500m", memory: "2Gi" },
            limits: { cpu: "2", memory: "3584Mi", "nvidia.com/gpu": "2" },
        });
        // GPU pools are tainted; a GPU roll replaces pods one by one (no spare GPU to surge onto).
        assert.ok(gpu.spec.template.spec.tolerations.some((t: Any) => t.key === "nvidia.com/gpu"));
        assert.deepEqual(gpu.spec.strategy.rollingUpdate, { maxSurge: 0, maxUnavailable: 1 });
        assert.deepEqual(cpu.spec.strategy.rollingUpdate, { maxSurge: "25%", maxUnavailable: 0 });
    });

    test("labels the router and the policy pack recognise; selector is a subset of the pod labels", () => {
        const d: Any = renderDeployment(input({}));
        assert.equal(d.metadata.labels[MODEL_DEPLOYMENT_LABEL], "true");
        assert.equal(d.metadata.labels["app.kubernetes.io/name"], "diabetes");
        assert.equal(d.metadata.labels["app.kubernetes.io/managed-by"], "amlaks");
        const podLabels = d.spec.template.metadata.labels;
        for (const [k, v] of Object.entries(d.spec.selector.matchLabels))
            assert.equal(podLabels[k], v);
        assert.equal(podLabels[MODEL_DEPLOYMENT_LABEL], "true");
    });

    test("the settings annotation round-trips through the router's parser, without keys or models", () => {
        const settings: Partial<WebserviceSettingsInput> = {
            primaryKey: "secret-primary-1-0123456789abcdefghij",
            secondaryKey: "secret-secondary-2-0123456789abcdefgh",
            autoscaleEnabled: true,
            autoscaleMaxReplicas: 4,
            autoscaleTargetUtilization: 30,
            tags: { b: "2", a: "1" },
            models: ["/m/one.pkl", "/m/two.pkl"],
        };
        const d: Any = renderDeployment(input(settings));
        const text: string = d.metadata.annotations[SETTINGS_ANNOTATION];
        assert.ok(
            !text.includes("secret-primary-1-0123456789abcdefghij") &&
                !text.includes("secret-secondary-2-0123456789abcdefgh"),
        );
        assert.ok(!text.includes("one.pkl"));
        const parsed = parseSettingsAnnotation(text);
        const full = validateWebserviceSettings({ name: "diabetes", ...settings });
        const hidden = { primaryKey: undefined, secondaryKey: undefined, models: [] };
        assert.deepEqual({ ...parsed, ...hidden }, { ...full, ...hidden });
        assert.equal(parsed.primaryKey, undefined);
        assert.deepEqual(parsed.models, []);
        assert.equal(d.metadata.annotations[AUTH_SECRET_ANNOTATION], "diabetes-auth");
        // No keys anywhere in the Deployment (model pods never see them).
        assert.ok(!JSON.stringify(d).includes("pk-1234567890"));
    });

    test("fixed replicas: the annotation still parses (autoscale knobs dropped with autoscale off)", () => {
        const d: Any = renderDeployment(input({ numReplicas: 3 }));
        const parsed = parseSettingsAnnotation(d.metadata.annotations[SETTINGS_ANNOTATION]);
        assert.equal(parsed.autoscaleEnabled, false);
        assert.equal(parsed.numReplicas, 3);
    });

    test("token auth: audience and issuer annotations match the contract", () => {
        const d: Any = renderDeployment(input({ tokenAuthEnabled: true, authEnabled: false }));
        assert.equal(d.metadata.annotations[TOKEN_AUDIENCE_ANNOTATION], "amlaks:service:diabetes");
        assert.equal(d.metadata.annotations[TOKEN_ISSUER_ANNOTATION], TOKEN_ISSUER);
        const none: Any = renderDeployment(input({ authEnabled: false }));
        assert.equal(none.metadata.annotations[AUTH_SECRET_ANNOTATION], undefined);
    });

    test("hardened pod: restricted PSS, no API token, drains before SIGTERM", () => {
        const d: Any = renderDeployment(input({ scoringTimeoutMs: 90000 }));
        const pod = d.spec.template.spec;
        assert.equal(pod.automountServiceAccountToken, false);
        assert.equal(pod.securityContext.runAsNonRoot, true);
        assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
        const sc = container(d).securityContext;
        assert.equal(sc.allowPrivilegeEscalation, false);
        assert.deepEqual(sc.capabilities, { drop: ["ALL"] });
        assert.deepEqual(container(d).lifecycle, { preStop: { sleep: { seconds: 10 } } });
        // preStop sleep + one full scoring timeout + margin, so a request in flight can finish.
        assert.equal(pod.terminationGracePeriodSeconds, 10 + 90 + 5);
        assert.equal(
            terminationGracePeriodSeconds(
                validateWebserviceSettings({ name: "abc", scoringTimeoutMs: 1000 }),
            ),
            30,
        );
        // The router sets pod-deletion-cost on live pods; the template must not.
        assert.equal(d.spec.template.metadata.annotations, undefined);
    });

    test("rendering is deterministic (no spurious diffs): same settings, same object; map order irrelevant", () => {
        const a = renderWebserviceObjects(input({ tags: { x: "1", y: "2" } }));
        const b = renderWebserviceObjects(input({ tags: { y: "2", x: "1" } }));
        assert.deepEqual(a, b);
        assert.equal(
            renderSettingsAnnotation(
                validateWebserviceSettings({ name: "abc", tags: { b: "1", a: "2" } }),
            ),
            renderSettingsAnnotation(
                validateWebserviceSettings({ name: "abc", tags: { a: "2", b: "1" } }),
            ),
        );
    });
});

describe("replica ownership (R29-R32)", () => {
    test("autoscale: created with autoscaleMinReplicas, spec.replicas ignored afterwards", () => {
        const s = validateWebserviceSettings({
            name: "abc",
            autoscaleEnabled: true,
            autoscaleMinReplicas: 2,
        });
        assert.equal(initialReplicas(s), 2);
        assert.deepEqual(deploymentReplicaOptions(s), { ignoreChanges: ["spec.replicas"] });
        const d: Any = renderDeployment(input({ autoscaleEnabled: true, autoscaleMinReplicas: 2 }));
        assert.equal(d.spec.replicas, 2);
        assert.equal(d.metadata.annotations["pulumi.com/patchForce"], undefined);
        // Default settings autoscale too (v1: autoscale on when numReplicas is unset).
        assert.deepEqual(deploymentReplicaOptions(validateWebserviceSettings({ name: "abc" })), {
            ignoreChanges: ["spec.replicas"],
        });
    });

    test("numReplicas: Pulumi owns spec.replicas (no ignoreChanges) and takes it back from the router", () => {
        const s = validateWebserviceSettings({ name: "abc", numReplicas: 5 });
        assert.equal(initialReplicas(s), 5);
        assert.deepEqual(deploymentReplicaOptions(s), {});
        const d: Any = renderDeployment(input({ numReplicas: 5 }));
        assert.equal(d.spec.replicas, 5);
        assert.equal(d.metadata.annotations["pulumi.com/patchForce"], "true");
    });
});

describe("Service, Secret, NetworkPolicy, PodDisruptionBudget", () => {
    test("ClusterIP Service on 5001 selects exactly the model pods", () => {
        const i = input({});
        const svc: Any = renderService(i);
        const d: Any = renderDeployment(i);
        assert.equal(svc.spec.type, "ClusterIP");
        assert.deepEqual(svc.spec.ports, [
            { name: "http", port: 5001, targetPort: "http", protocol: "TCP" },
        ]);
        assert.deepEqual(svc.spec.selector, d.spec.selector.matchLabels);
    });

    test("auth Secret: both keys for key auth, signing key + JWKs for token auth, none without auth", () => {
        const key: Any = renderAuthSecret(input({}));
        assert.deepEqual(
            Object.keys(key.stringData).sort(),
            [SECRET_PRIMARY_KEY, SECRET_SECONDARY_KEY].sort(),
        );
        assert.equal(key.stringData[SECRET_PRIMARY_KEY], "pk-1234567890");
        assert.equal(key.metadata.name, "diabetes-auth");
        const token: Any = renderAuthSecret(input({ tokenAuthEnabled: true, authEnabled: false }));
        assert.deepEqual(
            Object.keys(token.stringData).sort(),
            [SECRET_SIGNING_JWKS, SECRET_SIGNING_KEY].sort(),
        );
        assert.equal(renderAuthSecret(input({ authEnabled: false })), undefined);
    });

    test("the entry script can write its working directory (v1): the app folder belongs to the pod's user", () => {
        const pod: Any = (renderDeployment(input({})) as Any).spec.template.spec;
        const c = pod.containers[0];
        const uid = c.securityContext.runAsUser ?? pod.securityContext.runAsUser;
        assert.equal(c.securityContext.readOnlyRootFilesystem, undefined);
        assert.equal(c.workingDir, undefined, "the image's WORKDIR (the app folder) is used");
        const dockerfile = renderAppLayerDockerfile(
            `x.azurecr.io/env@sha256:${"a".repeat(64)}`,
            {},
            true,
            "s",
            "m",
        );
        assert.match(dockerfile, new RegExp(`^COPY --chown=${uid}:${uid} app/ ${APP_ROOT}/$`, "m"));
        // Models stay read-only for the model server.
        assert.match(dockerfile, /^COPY azureml-models\//m);
    });

    test("preStop pause: native sleep from Kubernetes 1.30, exec of sleep on older clusters", () => {
        assert.equal(preStopActionFor(undefined), "sleep");
        assert.equal(preStopActionFor("1.30"), "sleep");
        assert.equal(preStopActionFor("1.31.2"), "sleep");
        assert.equal(preStopActionFor("1.29"), "exec");
        assert.equal(preStopActionFor("1.27.9"), "exec");
        const old: Any = renderDeployment({ ...input({}), preStopAction: "exec" });
        assert.deepEqual(container(old).lifecycle, {
            preStop: { exec: { command: ["sleep", "10"] } },
        });
        validateK8s(old);
    });

    test("NetworkPolicy egress: DNS, pods and the internet allowed; the instance metadata endpoint is not", () => {
        const np: Any = renderNetworkPolicy(input({}));
        assert.ok(np.spec.policyTypes.includes("Egress"), "egress rules are ignored without it");
        // A small NetworkPolicy evaluator: a destination is either a pod (namespace given) or an
        // address outside the pod network.
        const allows = (dest: { ip: string; podNamespace?: string }): boolean =>
            (np.spec.egress as Any[]).some(
                (rule) =>
                    (rule.to as Any[]).some((peer) => {
                        if (peer.namespaceSelector && dest.podNamespace !== undefined) {
                            const want = peer.namespaceSelector.matchLabels ?? {};
                            return Object.entries(want).every(
                                ([k, v]) =>
                                    k === "kubernetes.io/metadata.name" && v === dest.podNamespace,
                            );
                        }
                        if (
                            !peer.ipBlock ||
                            dest.ip.includes(":") !== peer.ipBlock.cidr.includes(":")
                        ) {
                            return false;
                        }
                        if (dest.ip.includes(":")) return peer.ipBlock.cidr === "::/0";
                        const inBlock = (c: string) =>
                            cidrContains(parseCidr(c)!, parseIpv4(dest.ip)!);
                        return (
                            inBlock(peer.ipBlock.cidr) &&
                            !((peer.ipBlock.except ?? []) as string[]).some(inBlock)
                        );
                    }) && rule.ports === undefined,
            );
        assert.equal(allows({ ip: INSTANCE_METADATA_IP }), false, "IMDS must be unreachable");
        assert.equal(allows({ ip: "10.244.0.12", podNamespace: "kube-system" }), true, "CoreDNS");
        assert.equal(allows({ ip: "168.63.129.16" }), true, "Azure DNS");
        assert.equal(allows({ ip: "20.38.100.4" }), true, "storage, registries, APIs");
        assert.equal(allows({ ip: "10.244.1.7", podNamespace: "azureml-services" }), true);
        assert.equal(allows({ ip: "2001:db8::1" }), true);
        assert.equal(allows({ ip: "169.254.169.253" }), true, "only the metadata address is cut");
    });

    test("NetworkPolicy: only router pods of the router namespace reach model pods on 5001 (R25)", () => {
        const i = input({ namespace: "models" });
        const np: Any = renderNetworkPolicy(i);
        assert.deepEqual(np.spec.policyTypes, ["Ingress", "Egress"]);
        assert.deepEqual(
            np.spec.podSelector.matchLabels,
            (renderDeployment(i) as Any).spec.selector.matchLabels,
        );
        assert.equal(np.spec.ingress.length, 1);
        const rule = np.spec.ingress[0];
        assert.deepEqual(rule.ports, [{ protocol: "TCP", port: 5001 }]);
        assert.equal(
            rule.from.length,
            1,
            "namespace and pod selector must be ONE peer (AND), not two (OR)",
        );
        const peer = rule.from[0];
        assert.deepEqual(peer.namespaceSelector.matchLabels, {
            "kubernetes.io/metadata.name": "azureml",
        });

        // The selector matches the labels the cluster component puts on the router pods.
        const cfg: RouterRenderConfig = {
            namespace: "azureml",
            purpose: "FastProd",
            image: "router:1",
            tls: false,
            serviceType: "LoadBalancer",
            loadBalancerType: "PublicIp",
            azureAnnotations: true,
            serviceNamespaces: ["azureml-services"],
            createServiceNamespace: true,
        };
        const routerPodLabels: Any = (renderRouterDeployment(cfg) as Any).spec.template.metadata
            .labels;
        for (const [k, v] of Object.entries(peer.podSelector.matchLabels)) {
            assert.equal(routerPodLabels[k], v, `router pods lack ${k}=${String(v)}`);
        }
        // ...and not the model pods themselves (a model pod cannot call another model directly).
        const modelPodLabels: Any = (renderDeployment(i) as Any).spec.template.metadata.labels;
        assert.ok(
            Object.entries(peer.podSelector.matchLabels).some(([k, v]) => modelPodLabels[k] !== v),
        );
    });

    test("PDB: one pod at a time, whatever the router's replica count", () => {
        const i = input({});
        const pdb: Any = renderPodDisruptionBudget(i);
        assert.equal(pdb.spec.maxUnavailable, 1);
        assert.equal(pdb.spec.minAvailable, undefined);
        assert.equal(pdb.spec.unhealthyPodEvictionPolicy, "AlwaysAllow");
        assert.deepEqual(
            pdb.spec.selector.matchLabels,
            (renderDeployment(i) as Any).spec.selector.matchLabels,
        );
    });
});

describe("quantities", () => {
    test("CPU cores → whole cores or millicores", () => {
        assert.equal(cpuQuantity(1), "1");
        assert.equal(cpuQuantity(0.1), "100m");
        assert.equal(cpuQuantity(0.25), "250m");
        assert.equal(cpuQuantity(2.5), "2500m");
        assert.equal(cpuQuantity(0.0001), "1m");
    });
    test("memory GB (as GiB) → Gi or Mi, rounded up", () => {
        assert.equal(memoryQuantity(0.5), "512Mi");
        assert.equal(memoryQuantity(1), "1Gi");
        assert.equal(memoryQuantity(0.1), "103Mi");
        assert.equal(memoryQuantity(3.5), "3584Mi");
        assert.equal(memoryQuantity(16), "16Gi");
    });
});
