/**
 * How the router's metrics are scraped on the cluster (docs/router.md "Metrics"): the pod
 * annotations are always there; a Prometheus Operator ServiceMonitor and a NetworkPolicy on the
 * metrics port are opt-in.
 */
import {
    type ArgBag,
    checkBoolean,
    checkNamespaceList,
    isSet,
    isUnresolved,
    mustBePlain,
    onlyWithRule,
    type Problems,
    UNRESOLVED,
} from "../../common/validation";
import type { CheckContext } from "./context";

/** Kubernetes label key: optional DNS prefix and "/", then a name of up to 63 characters. */
const LABEL_KEY =
    /^(([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** Kubernetes label value: empty, or up to 63 characters. */
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export interface RouterMetricsChoice {
    /** Render a ServiceMonitor (and the metrics Service it selects). */
    readonly serviceMonitor: boolean;
    /** Extra labels on the ServiceMonitor (e.g. `release` for kube-prometheus-stack). */
    readonly serviceMonitorLabels: Readonly<Record<string, string>>;
    /**
     * Namespaces whose pods may reach the metrics port, besides the router's own pods; undefined:
     * no NetworkPolicy (any pod may scrape).
     */
    readonly metricsNamespaces: readonly string[] | undefined;
}

export function checkRouterMetrics({ p, a }: CheckContext): RouterMetricsChoice {
    const why = "the component creates the ServiceMonitor only when it is on";
    mustBePlain(p, "routerServiceMonitor", a.routerServiceMonitor, why);
    const serviceMonitor = checkBoolean(p, "routerServiceMonitor", a.routerServiceMonitor, false);
    const serviceMonitorLabels: Record<string, string> = {};
    const labels = a.routerServiceMonitorLabels;
    if (isSet(labels)) {
        if (!serviceMonitor) {
            p.add(
                "routerServiceMonitorLabels",
                "(set)",
                onlyWithRule("routerServiceMonitor: true"),
            );
        } else if (isUnresolved(labels) || typeof labels !== "object" || Array.isArray(labels)) {
            p.add(
                "routerServiceMonitorLabels",
                isUnresolved(labels) ? UNRESOLVED : labels,
                "must be a plain map of label names to values",
            );
        } else {
            for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
                const field = `routerServiceMonitorLabels.${k}`;
                if (!LABEL_KEY.test(k) || k.length > 317) {
                    p.add(
                        field,
                        k,
                        "must be a Kubernetes label name ([prefix/]name, name ≤ 63 characters)",
                    );
                } else if (typeof v !== "string" || !LABEL_VALUE.test(v)) {
                    p.add(
                        field,
                        isUnresolved(v) ? UNRESOLVED : v,
                        "must be a plain Kubernetes label value (≤ 63 letters, digits, '-', '_', '.')",
                    );
                } else {
                    serviceMonitorLabels[k] = v;
                }
            }
        }
    }
    return {
        serviceMonitor,
        serviceMonitorLabels,
        metricsNamespaces: checkMetricsNamespaces(p, a),
    };
}

/** `routerMetricsNamespaces`: a plain, non-empty list of distinct namespace names. */
function checkMetricsNamespaces(p: Problems, a: ArgBag): string[] | undefined {
    return checkNamespaceList(
        p,
        "routerMetricsNamespaces",
        a.routerMetricsNamespaces,
        "they go into the NetworkPolicy",
        "no NetworkPolicy",
    );
}
