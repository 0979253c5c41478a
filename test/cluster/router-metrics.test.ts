/**
 * Scraping the router on the cluster (issue 12 item 2): pod annotations always; opt-in
 * ServiceMonitor (validated against the Prometheus Operator schema) with the metrics Service it
 * selects; opt-in NetworkPolicy on the metrics port; the args that turn them on, validated.
 */
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { AksInferenceClusterArgs } from "../../components/cluster/args";
import {
    ROUTER_METRICS_PORT,
    ROUTER_METRICS_SERVICE_NAME,
    renderRouterObjects,
    type RouterRenderConfig,
} from "../../components/cluster/router-install";
import { validateAksInferenceClusterArgs } from "../../components/cluster/validate";
import { ValidationError } from "../../components/common/validation";
import { validateK8sObject } from "./k8s-validate";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const BASE: RouterRenderConfig = {
    namespace: "azureml",
    purpose: "FastProd",
    image: "myacr.azurecr.io/amlaks-router:0.1.0",
    tls: true,
    serviceType: "LoadBalancer",
    loadBalancerType: "PublicIp",
    azureAnnotations: true,
    serviceNamespaces: ["azureml-services"],
    createServiceNamespace: true,
};
const PEM = { certPem: "CERT", keyPem: "KEY" };

/** A label selector's matchLabels hold for `labels`. */
function selects(matchLabels: Record<string, string>, labels: Record<string, string>): boolean {
    return Object.entries(matchLabels).every(([k, v]) => labels[k] === v);
}

function byKind(objects: { kind: string; object: object }[], kind: string): Any[] {
    return objects.filter((o) => o.kind === kind).map((o) => o.object);
}

describe("router metrics on the cluster", () => {
    test("by default: pod annotations only, no ServiceMonitor, no metrics Service, no policy", () => {
        const objects = renderRouterObjects(BASE, PEM);
        assert.deepEqual(byKind(objects, "ServiceMonitor"), []);
        assert.deepEqual(byKind(objects, "NetworkPolicy"), []);
        assert.deepEqual(
            byKind(objects, "Service").map((s) => s.metadata.name),
            ["amlaks-router"],
        );
        const pod = byKind(objects, "Deployment")[0].spec.template;
        assert.deepEqual(
            pod.metadata.annotations["prometheus.io/port"],
            String(ROUTER_METRICS_PORT),
        );
    });

    test("renders a valid ServiceMonitor that reaches the pods' metrics port through its Service", () => {
        const objects = renderRouterObjects(
            { ...BASE, serviceMonitor: true, serviceMonitorLabels: { release: "kps" } },
            PEM,
        );
        const [monitor] = byKind(objects, "ServiceMonitor");
        new ServiceMonitor(JSON.parse(JSON.stringify(monitor))).validate();
        assert.equal(monitor.apiVersion, "monitoring.coreos.com/v1");
        assert.equal(monitor.metadata.namespace, "azureml");
        assert.equal(monitor.metadata.labels.release, "kps");
        assert.deepEqual(monitor.spec.namespaceSelector, { matchNames: ["azureml"] });

        const services = byKind(objects, "Service");
        for (const s of services) validateK8sObject(s);
        const selected = services.filter((s) =>
            selects(monitor.spec.selector.matchLabels, s.metadata.labels),
        );
        assert.deepEqual(
            selected.map((s) => s.metadata.name),
            [ROUTER_METRICS_SERVICE_NAME],
            "the monitor selects the metrics Service only, not the public one",
        );
        const metricsService = selected[0];
        assert.equal(metricsService.spec.type, "ClusterIP");
        const endpoint = monitor.spec.endpoints[0];
        assert.equal(endpoint.path, "/metrics");
        const port = metricsService.spec.ports.find((p: Any) => p.name === endpoint.port);
        assert.equal(port.port, ROUTER_METRICS_PORT);

        const deployment = byKind(objects, "Deployment")[0];
        assert.ok(selects(metricsService.spec.selector, deployment.spec.template.metadata.labels));
        const containerPort = deployment.spec.template.spec.containers[0].ports.find(
            (p: Any) => p.name === port.targetPort,
        );
        assert.equal(containerPort.containerPort, ROUTER_METRICS_PORT);
    });

    test("limits the metrics port to the router's pods and the listed namespaces", () => {
        const objects = renderRouterObjects(
            { ...BASE, metricsNamespaces: ["monitoring", "kube-system"] },
            PEM,
        );
        const [policy] = byKind(objects, "NetworkPolicy");
        new NetworkPolicy(JSON.parse(JSON.stringify(policy))).validate();
        const deployment = byKind(objects, "Deployment")[0];
        assert.ok(
            selects(policy.spec.podSelector.matchLabels, deployment.spec.template.metadata.labels),
        );
        assert.deepEqual(policy.spec.policyTypes, ["Ingress"]);
        const [scoring, metrics] = policy.spec.ingress;
        // Scoring ports: from anywhere (no `from`), HTTP and HTTPS.
        assert.equal(scoring.from, undefined);
        assert.deepEqual(
            scoring.ports.map((p: Any) => p.port),
            [8080, 8443],
        );
        assert.deepEqual(
            metrics.ports.map((p: Any) => p.port),
            [ROUTER_METRICS_PORT],
        );
        assert.ok(
            selects(
                metrics.from[0].podSelector.matchLabels,
                deployment.spec.template.metadata.labels,
            ),
        );
        assert.deepEqual(metrics.from[1].namespaceSelector.matchExpressions, [
            {
                key: "kubernetes.io/metadata.name",
                operator: "In",
                values: ["monitoring", "kube-system"],
            },
        ]);
    });
});

describe("router metrics args", () => {
    const ARGS: AksInferenceClusterArgs = {
        location: "westeurope",
        resourceGroupName: "rg",
        routerImage: "myacr.azurecr.io/amlaks-router:0.1.0",
    };
    function problems(args: Record<string, unknown>): [string, unknown, string][] {
        try {
            validateAksInferenceClusterArgs(args as AksInferenceClusterArgs);
        } catch (e) {
            assert.ok(e instanceof ValidationError, String(e));
            return e.problems.map((p) => [p.field, p.value, p.rule]);
        }
        return [];
    }

    test("default to no ServiceMonitor and no policy", () => {
        assert.deepEqual(validateAksInferenceClusterArgs(ARGS).routerMetrics, {
            serviceMonitor: false,
            serviceMonitorLabels: {},
            metricsNamespaces: undefined,
        });
    });

    test("resolve to the plan the render functions take", () => {
        const r = validateAksInferenceClusterArgs({
            ...ARGS,
            routerServiceMonitor: true,
            routerServiceMonitorLabels: {
                release: "kube-prometheus-stack",
                "example.com/team": "ml",
            },
            routerMetricsNamespaces: ["monitoring"],
        });
        assert.deepEqual(r.routerMetrics, {
            serviceMonitor: true,
            serviceMonitorLabels: { release: "kube-prometheus-stack", "example.com/team": "ml" },
            metricsNamespaces: ["monitoring"],
        });
    });

    test("name the field, the value and the rule", () => {
        assert.deepEqual(problems({ ...ARGS, routerServiceMonitor: "yes" }), [
            ["routerServiceMonitor", "yes", "must be true or false"],
        ]);
        assert.deepEqual(problems({ ...ARGS, routerServiceMonitor: pulumi.output(true) }), [
            [
                "routerServiceMonitor",
                "(unresolved Output)",
                "must be a plain value, not an Output: the component creates the ServiceMonitor only when it is on",
            ],
        ]);
        assert.deepEqual(problems({ ...ARGS, routerServiceMonitorLabels: { release: "x" } }), [
            ["routerServiceMonitorLabels", "(set)", "is only used with routerServiceMonitor: true"],
        ]);
        assert.deepEqual(
            problems({
                ...ARGS,
                routerServiceMonitor: true,
                routerServiceMonitorLabels: { "bad key!": "x", release: "not valid!" },
            }),
            [
                [
                    "routerServiceMonitorLabels.bad key!",
                    "bad key!",
                    "must be a Kubernetes label name ([prefix/]name, name ≤ 63 characters)",
                ],
                [
                    "routerServiceMonitorLabels.release",
                    "not valid!",
                    "must be a plain Kubernetes label value (≤ 63 letters, digits, '-', '_', '.')",
                ],
            ],
        );
        assert.deepEqual(problems({ ...ARGS, routerMetricsNamespaces: [] }), [
            [
                "routerMetricsNamespaces",
                [],
                "must be a non-empty list of namespace names (leave it unset for no NetworkPolicy)",
            ],
        ]);
        const twice = problems({
            ...ARGS,
            routerMetricsNamespaces: ["monitoring", "monitoring", "Bad"],
        });
        assert.deepEqual(
            twice.map(([f, v]) => [f, v]),
            [
                ["routerMetricsNamespaces[1]", "monitoring"],
                ["routerMetricsNamespaces[2]", "Bad"],
            ],
        );
    });
});
