/**
 * The router objects (R18-R21): pure renders, each validated against the Kubernetes schema.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { renderNvidiaDevicePlugin } from "../../components/cluster/gpu";
import {
    AZURE_DNS_LABEL,
    AZURE_LB_INTERNAL,
    AZURE_LB_INTERNAL_SUBNET,
    installRouter,
    renderDeployment,
    renderHorizontalPodAutoscaler,
    renderRouterObjects,
    renderService,
    RouterRenderConfig,
    routerProfile,
} from "../../components/cluster/router-install";
import { copyRules, ROUTER_LEASE_NAME, ROUTER_RBAC } from "../../components/cluster/router-rbac";
import { validateK8sObject } from "./k8s-validate";
import { settle, setupMocks, unwrap } from "./mocks";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const BASE: RouterRenderConfig = {
    namespace: "azureml",
    purpose: "FastProd",
    image: "myacr.azurecr.io/amlaks-router:0.1.0",
    tls: false,
    serviceType: "LoadBalancer",
    loadBalancerType: "PublicIp",
    azureAnnotations: true,
    serviceNamespaces: ["azureml-services"],
    createServiceNamespace: true,
};
const PEM = { certPem: "CERT", keyPem: "KEY" };

function env(dep: Any): Record<string, Any> {
    return Object.fromEntries(
        dep.spec.template.spec.containers[0].env.map((e: Any) => [e.name, e.value ?? e.valueFrom]),
    );
}

describe("router objects are valid Kubernetes objects for every purpose and option", () => {
    const variants: [string, RouterRenderConfig][] = [
        ["DevTest", { ...BASE, purpose: "DevTest" }],
        ["FastProd", BASE],
        ["DenseProd + TLS", { ...BASE, purpose: "DenseProd", tls: true, tlsChecksum: "abc" }],
        [
            "ILB + subnet",
            { ...BASE, loadBalancerType: "InternalLoadBalancer", loadBalancerSubnet: "aks-lb" },
        ],
        ["leaf label", { ...BASE, leafDomainLabel: "scoring" }],
        [
            "NodePort, watched namespaces",
            {
                ...BASE,
                serviceType: "NodePort",
                azureAnnotations: false,
                serviceNamespaces: ["a", "b"],
                createServiceNamespace: false,
            },
        ],
    ];
    for (const [label, cfg] of variants) {
        test(label, () => {
            const objects = renderRouterObjects(cfg, PEM);
            for (const { object } of objects) validateK8sObject(object);
            const kinds = objects.map((o) => o.kind);
            assert.deepEqual(kinds, [
                "Namespace",
                ...(cfg.createServiceNamespace ? ["Namespace"] : []),
                "ServiceAccount",
                "Role",
                "RoleBinding",
                ...cfg.serviceNamespaces.flatMap(() => ["Role", "RoleBinding"]),
                ...(cfg.tls ? ["Secret"] : []),
                "Deployment",
                "Service",
                "PodDisruptionBudget",
                ...(cfg.purpose === "DevTest" ? [] : ["HorizontalPodAutoscaler"]),
            ]);
        });
    }
    test("the NVIDIA device plugin DaemonSet", () => {
        const ds: Any = renderNvidiaDevicePlugin();
        validateK8sObject(ds);
        assert.equal(ds.metadata.namespace, "kube-system");
        assert.equal(
            ds.spec.template.spec.containers[0].image,
            "nvcr.io/nvidia/k8s-device-plugin:v0.17.0",
        );
        assert.ok(ds.spec.template.spec.tolerations.some((t: Any) => t.key === "nvidia.com/gpu"));
    });

    test("two installs on one cluster get distinct plugin DaemonSets that do not share pods", () => {
        const a: Any = renderNvidiaDevicePlugin(undefined, "azureml");
        const b: Any = renderNvidiaDevicePlugin(undefined, "team-b-router");
        validateK8sObject(b);
        assert.notEqual(a.metadata.name, b.metadata.name);
        const matches = (sel: Record<string, string>, labels: Record<string, string>) =>
            Object.entries(sel).every(([k, v]) => labels[k] === v);
        assert.equal(
            matches(a.spec.selector.matchLabels, b.spec.template.metadata.labels),
            false,
            "A's selector must not adopt B's pods",
        );
        assert.ok(matches(b.spec.selector.matchLabels, b.spec.template.metadata.labels));
        const long: Any = renderNvidiaDevicePlugin(undefined, "x".repeat(63));
        assert.ok(long.metadata.name.length <= 63);
    });
});

describe("router Deployment: the container contract", () => {
    test("env, probes, metrics annotations and labels", () => {
        const dep: Any = renderDeployment({
            ...BASE,
            serviceNamespaces: ["models", "team-a"],
            createServiceNamespace: false,
        });
        assert.deepEqual(env(dep), {
            ROUTER_BACKEND: "kubernetes",
            ROUTER_HTTP_PORT: "8080",
            ROUTER_NAMESPACE: { fieldRef: { fieldPath: "metadata.namespace" } },
            ROUTER_POD_NAME: { fieldRef: { fieldPath: "metadata.name" } },
            ROUTER_CLUSTER_PURPOSE: "FastProd",
            ROUTER_WATCH_NAMESPACES: "models,team-a",
            ROUTER_METRICS_PORT: "9090",
            ROUTER_DRAIN_TIMEOUT_MS: "60000",
        });
        const c = dep.spec.template.spec.containers[0];
        assert.deepEqual(c.livenessProbe.httpGet, { path: "/healthz", port: "http" });
        assert.deepEqual(c.readinessProbe.httpGet, { path: "/readyz", port: "http" });
        // /metrics and the peer load endpoint on their own port (R21), not in the Service.
        assert.deepEqual(c.ports, [
            { name: "http", containerPort: 8080, protocol: "TCP" },
            { name: "metrics", containerPort: 9090, protocol: "TCP" },
        ]);
        // R20: a terminating router keeps serving while it leaves the endpoints, then drains.
        assert.deepEqual(c.lifecycle, { preStop: { sleep: { seconds: 5 } } });
        assert.equal(dep.spec.template.spec.terminationGracePeriodSeconds, 75);
        assert.deepEqual(dep.spec.template.metadata.annotations, {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "9090",
            "prometheus.io/path": "/metrics",
        });
        assert.equal(dep.spec.template.metadata.labels["app.kubernetes.io/name"], "amlaks-router");
        assert.equal(dep.spec.template.metadata.labels["app.kubernetes.io/component"], "router");
        assert.deepEqual(dep.spec.selector.matchLabels, {
            "app.kubernetes.io/name": "amlaks-router",
            "app.kubernetes.io/component": "router",
        });
        assert.equal(env(renderDeployment(BASE)).ROUTER_WATCH_NAMESPACES, "azureml-services");
    });

    test("hardened pod: non-root, read-only root, no capabilities, RuntimeDefault seccomp", () => {
        const dep: Any = renderDeployment(BASE);
        const pod = dep.spec.template.spec;
        assert.equal(pod.securityContext.runAsNonRoot, true);
        assert.deepEqual(pod.securityContext.seccompProfile, { type: "RuntimeDefault" });
        const sc = pod.containers[0].securityContext;
        assert.equal(sc.readOnlyRootFilesystem, true);
        assert.equal(sc.allowPrivilegeEscalation, false);
        assert.deepEqual(sc.capabilities, { drop: ["ALL"] });
        assert.equal(pod.serviceAccountName, "amlaks-router");
        // Writable /tmp on a read-only root.
        assert.ok(pod.containers[0].volumeMounts.some((m: Any) => m.mountPath === "/tmp"));
        // R20: rolling a resize never drops below the current replicas.
        assert.deepEqual(dep.spec.strategy.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
    });

    test("TLS: https port, cert/key files from the mounted Secret, checksum to roll pods", () => {
        const dep: Any = renderDeployment({ ...BASE, tls: true, tlsChecksum: "sum1" });
        const e = env(dep);
        assert.equal(e.ROUTER_HTTPS_PORT, "8443");
        assert.equal(e.ROUTER_TLS_CERT_FILE, "/etc/amlaks/tls/tls.crt");
        assert.equal(e.ROUTER_TLS_KEY_FILE, "/etc/amlaks/tls/tls.key");
        const c = dep.spec.template.spec.containers[0];
        assert.ok(c.ports.some((p: Any) => p.name === "https" && p.containerPort === 8443));
        assert.ok(
            c.volumeMounts.some(
                (m: Any) => m.name === "tls" && m.mountPath === "/etc/amlaks/tls" && m.readOnly,
            ),
        );
        const vol = dep.spec.template.spec.volumes.find((v: Any) => v.name === "tls");
        assert.equal(vol.secret.secretName, "amlaks-router-tls");
        assert.equal(dep.spec.template.metadata.annotations["amlaks.io/tls-checksum"], "sum1");
        // Without TLS none of it.
        assert.equal(env(renderDeployment(BASE)).ROUTER_HTTPS_PORT, undefined);
        const secret: Any = renderRouterObjects({ ...BASE, tls: true }, PEM).find(
            (o) => o.kind === "Secret",
        )!.object;
        assert.equal(secret.type, "kubernetes.io/tls");
        assert.deepEqual(secret.stringData, { "tls.crt": "CERT", "tls.key": "KEY" });
    });
});

describe("router size and self-scaling by purpose (R10, R18, R20)", () => {
    test("DevTest: one replica, no HPA, no spread", () => {
        const dep: Any = renderDeployment({ ...BASE, purpose: "DevTest" });
        assert.equal(dep.spec.replicas, 1);
        assert.equal(dep.spec.template.spec.topologySpreadConstraints, undefined);
        assert.equal(renderHorizontalPodAutoscaler({ ...BASE, purpose: "DevTest" }), undefined);
        assert.deepEqual(dep.spec.template.spec.containers[0].resources, {
            requests: { cpu: "100m", memory: "128Mi" },
            limits: { cpu: "1", memory: "512Mi" },
        });
    });

    test("FastProd: 3 replicas spread across nodes; CPU HPA on the ROUTER Deployment, min 3", () => {
        const dep: Any = renderDeployment(BASE);
        assert.equal(dep.spec.replicas, 3);
        const spread = dep.spec.template.spec.topologySpreadConstraints;
        assert.equal(spread[0].topologyKey, "kubernetes.io/hostname");
        assert.equal(spread[0].whenUnsatisfiable, "DoNotSchedule");
        const hpa: Any = renderHorizontalPodAutoscaler({ ...BASE, maxReplicas: 5 });
        assert.deepEqual(hpa.spec.scaleTargetRef, {
            apiVersion: "apps/v1",
            kind: "Deployment",
            name: "amlaks-router",
        });
        assert.equal(hpa.spec.minReplicas, 3);
        assert.equal(hpa.spec.maxReplicas, 5);
        assert.equal(hpa.spec.metrics[0].resource.name, "cpu");
        assert.equal(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds, 300);
    });

    test("max replicas: one per node for FastProd (cap 10), two per node for DenseProd (cap 20)", () => {
        assert.deepEqual(routerProfile("FastProd", 3).autoscale, { min: 3, max: 3 });
        assert.deepEqual(routerProfile("FastProd", 7).autoscale, { min: 3, max: 7 });
        assert.deepEqual(routerProfile("FastProd", 50).autoscale, { min: 3, max: 10 });
        assert.deepEqual(routerProfile("FastProd").autoscale, { min: 3, max: 10 });
        assert.deepEqual(routerProfile("DenseProd", 4).autoscale, { min: 3, max: 8 });
        assert.deepEqual(routerProfile("DenseProd", 30).autoscale, { min: 3, max: 20 });
        assert.deepEqual(routerProfile("DenseProd").requests, { cpu: "1", memory: "1Gi" });
        assert.equal(routerProfile("DevTest", 10).autoscale, undefined);
    });
});

describe("router Service (R6): ports and Azure annotations", () => {
    test("public: 80 -> http only, no annotations", () => {
        const svc: Any = renderService(BASE);
        assert.equal(svc.spec.type, "LoadBalancer");
        assert.deepEqual(svc.spec.ports, [
            { name: "http", port: 80, targetPort: "http", protocol: "TCP" },
        ]);
        assert.equal(svc.metadata.annotations, undefined);
    });
    test("internal load balancer with subnet; TLS adds 443 -> https", () => {
        const svc: Any = renderService({
            ...BASE,
            tls: true,
            loadBalancerType: "InternalLoadBalancer",
            loadBalancerSubnet: "aks-lb",
        });
        assert.deepEqual(svc.metadata.annotations, {
            [AZURE_LB_INTERNAL]: "true",
            [AZURE_LB_INTERNAL_SUBNET]: "aks-lb",
        });
        assert.deepEqual(svc.spec.ports[1], {
            name: "https",
            port: 443,
            targetPort: "https",
            protocol: "TCP",
        });
    });
    test("leaf domain label -> Azure DNS label; none of it off AKS", () => {
        assert.deepEqual(
            (renderService({ ...BASE, leafDomainLabel: "scoring" }) as Any).metadata.annotations,
            {
                [AZURE_DNS_LABEL]: "scoring",
            },
        );
        const local: Any = renderService({
            ...BASE,
            leafDomainLabel: "scoring",
            azureAnnotations: false,
            serviceType: "NodePort",
        });
        assert.equal(local.metadata.annotations, undefined);
        assert.equal(local.spec.type, "NodePort");
    });
});

describe("router RBAC: exactly the shared constant, namespaced only (R21)", () => {
    test("one Role in the router namespace, one per service namespace, no ClusterRole", () => {
        const objects = renderRouterObjects({
            ...BASE,
            serviceNamespaces: ["models", "team-a"],
            createServiceNamespace: false,
        });
        assert.ok(!objects.some((o) => o.kind.startsWith("Cluster")));
        const roles: Any[] = objects.filter((o) => o.kind === "Role").map((o) => o.object);
        assert.deepEqual(
            roles.map((r) => r.metadata.namespace),
            ["azureml", "models", "team-a"],
        );
        assert.deepEqual(roles[0].rules, copyRules(ROUTER_RBAC.routerNamespaceRules));
        for (const r of roles.slice(1)) {
            assert.deepEqual(r.rules, copyRules(ROUTER_RBAC.serviceNamespaceRules));
        }
        const bindings: Any[] = objects
            .filter((o) => o.kind === "RoleBinding")
            .map((o) => o.object);
        for (const b of bindings) {
            assert.deepEqual(b.subjects, [
                { kind: "ServiceAccount", name: "amlaks-router", namespace: "azureml" },
            ]);
            assert.deepEqual(b.roleRef, {
                apiGroup: "rbac.authorization.k8s.io",
                kind: "Role",
                name: "amlaks-router",
            });
        }
    });

    test("Secrets are readable only in service namespaces; writes are scale, pod patch, events, the Lease", () => {
        const all = [...ROUTER_RBAC.routerNamespaceRules, ...ROUTER_RBAC.serviceNamespaceRules];
        const writes = all.filter((r) =>
            r.verbs.some((v) => !["get", "list", "watch"].includes(v)),
        );
        assert.deepEqual(
            writes.map((r) => [
                r.resources.join(","),
                r.verbs.join(","),
                r.resourceNames?.join(",") ?? "",
            ]),
            [
                ["leases", "create", ""],
                ["leases", "get,update", ROUTER_LEASE_NAME],
                ["deployments/scale", "get,patch,update", ""],
                ["pods", "patch", ""],
                ["events", "create", ""],
            ],
        );
        assert.ok(!ROUTER_RBAC.routerNamespaceRules.some((r) => r.resources.includes("secrets")));
        for (const r of all) {
            assert.ok(
                !r.verbs.includes("*") && !r.resources.includes("*") && !r.apiGroups.includes("*"),
            );
            assert.ok(!r.verbs.includes("delete"));
        }
        assert.ok(Object.isFrozen(ROUTER_RBAC.serviceNamespaceRules[0].verbs));
    });

    test("the default service namespace is created with the restricted Pod Security Standard", () => {
        const ns: Any[] = renderRouterObjects(BASE)
            .filter((o) => o.kind === "Namespace")
            .map((o) => o.object);
        assert.deepEqual(
            ns.map((n) => [
                n.metadata.name,
                n.metadata.labels["pod-security.kubernetes.io/enforce"],
            ]),
            [
                ["azureml", "restricted"],
                ["azureml-services", "restricted"],
            ],
        );
    });
});

describe("installRouter", () => {
    test("creates exactly the objects of renderRouterObjects, with their dependencies", async () => {
        const mocks = setupMocks();
        const cfg: RouterRenderConfig = {
            ...BASE,
            tls: true,
            appInsights: true,
            serviceMonitor: true,
            metricsNamespaces: ["monitoring"],
            serviceNamespaces: ["team-a", "team-b"],
        };
        const cs = "InstrumentationKey=11111111-2222-3333-4444-555555555555";
        const parent = new pulumi.ComponentResource("test:index:Cluster", "c");
        const provider = new k8s.Provider("c-k8s", { kubeconfig: "{}" }, { parent });
        const router = installRouter("c", cfg, PEM, { parent, provider }, cs);
        await settle(mocks.registrations);

        const plan = renderRouterObjects(cfg, PEM, cs);
        const regs = mocks.registrations.filter((r) => r.type.startsWith("kubernetes:"));
        const byName = new Map(regs.map((r) => [r.name, r]));
        const name = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);
        assert.deepEqual(regs.map((r) => r.name).sort(), plan.map((o) => `c-${o.suffix}`).sort());
        for (const o of plan) {
            const r = byName.get(`c-${o.suffix}`);
            assert.ok(r, o.suffix);
            assert.ok(r.type.endsWith(`:${o.kind}`), `${o.suffix}: ${r.type} is not ${o.kind}`);
            assert.deepEqual(
                r.dependencies
                    .map(name)
                    .filter((n) => byName.has(n))
                    .sort(),
                (o.dependsOn ?? []).map((s) => `c-${s}`).sort(),
                o.suffix,
            );
        }
        assert.deepEqual(byName.get("c-router")?.ignoreChanges, ["spec.replicas"]);
        // The component's outputs come from the planned children.
        assert.equal(await unwrap(router.deployment.metadata.name), "amlaks-router");
        assert.equal(router.serviceBindings.length, 2);
        assert.equal(router.serviceNamespaces.length, 2);
    });
});
