/**
 * Kubernetes objects as the pack sees them: type tokens of @pulumi/kubernetes, namespaces, and what
 * makes a Deployment a model Deployment (the contract `AksWebservice` renders and the router
 * discovers, components/webservice/contract.ts). Pure.
 */
import {
    MODEL_DEPLOYMENT_LABEL,
    SETTINGS_ANNOTATION,
    TOKEN_AUDIENCE_ANNOTATION,
} from "../../components/webservice/contract";
import { ROUTER_POD_LABELS } from "../../components/cluster/router-rbac";
import type { ResourceView } from "./core";
import { at, isObject, isUnknown, type JsonObject, str, stringMap } from "./values";

/** Type tokens of the components (literals: importing the component modules would load every provider SDK into the pack). */
export const AKS_WEBSERVICE_TOKEN = "amlaks:index:AksWebservice";
export const AKS_INFERENCE_CLUSTER_TOKEN = "amlaks:index:AksInferenceCluster";
export const AML_WORKSPACE_TOKEN = "amlaks:index:AmlWorkspace";

/**
 * Azure cloud-provider annotations of a Service, as components/cluster/router-install.ts sets them
 * (kept as literals for the same reason; test/policy/contract.test.ts keeps the values equal).
 */
export const AZURE_LB_INTERNAL = "service.beta.kubernetes.io/azure-load-balancer-internal";
export const AZURE_DNS_LABEL = "service.beta.kubernetes.io/azure-dns-label-name";

/**
 * True for `kubernetes:<group/version>:<kind>` tokens (any version) of `kind`, e.g.
 * `isKind(t, "apps", "Deployment")`. Group "" is the core group. Patch resources are not matched.
 */
export function isKind(type: string, group: string, kind: string): boolean {
    const m = /^kubernetes:([^:]+):([^:]+)$/.exec(type);
    if (!m || m[2] !== kind) return false;
    const gv = m[1]!;
    const g = gv.includes("/") ? gv.slice(0, gv.lastIndexOf("/")) : "";
    return g === group || (group === "" && g === "core");
}

/** `apiVersion` part of a Kubernetes type token (`autoscaling/v2`, `core/v1`). */
export function tokenApiVersion(type: string): string {
    return type.split(":")[1] ?? "";
}

/** Namespace of an object: its own, else the provider's default, else `default`. */
export function namespaceOf(r: ResourceView): string | undefined {
    const ns = at(r.props, "metadata.namespace");
    if (isUnknown(ns)) return undefined;
    if (typeof ns === "string" && ns) return ns;
    const providerNs = str(r.provider?.props.namespace);
    return providerNs || "default";
}

/** `metadata.name`, `undefined` when unknown or missing. */
export function nameOf(r: ResourceView): string | undefined {
    return str(at(r.props, "metadata.name"));
}

/** `<namespace>/<name>` for messages. */
export function refOf(r: ResourceView): string {
    return `${namespaceOf(r) ?? "(unknown namespace)"}/${nameOf(r) ?? r.name}`;
}

function hasAncestor(r: ResourceView, type: string): boolean {
    for (let p = r.parent; p; p = p.parent) if (p.type === type) return true;
    return false;
}

/**
 * True for a model Deployment: rendered by `AksWebservice` (child of the component), or carrying
 * its marks — label {@link MODEL_DEPLOYMENT_LABEL}=`"true"` on the Deployment or its pods, or
 * the settings annotation the router reads.
 */
export function isModelDeployment(r: ResourceView): boolean {
    if (!isKind(r.type, "apps", "Deployment")) return false;
    if (hasAncestor(r, AKS_WEBSERVICE_TOKEN)) return true;
    const labels = stringMap(at(r.props, "metadata.labels"));
    const podLabels = stringMap(at(r.props, "spec.template.metadata.labels"));
    if (labels[MODEL_DEPLOYMENT_LABEL] === "true" || podLabels[MODEL_DEPLOYMENT_LABEL] === "true") {
        return true;
    }
    return isObject(at(r.props, "metadata.annotations"))
        ? SETTINGS_ANNOTATION in (at(r.props, "metadata.annotations") as JsonObject)
        : false;
}

/** Labels of the pods a Deployment creates. */
export function podLabelsOf(r: ResourceView): Record<string, string> {
    return stringMap(at(r.props, "spec.template.metadata.labels"));
}

/**
 * The web-service settings a model Deployment carries ({@link SETTINGS_ANNOTATION}, JSON), or
 * `undefined` when absent or unreadable; `"unknown"` during a preview that cannot know it.
 */
export function settingsOf(r: ResourceView): JsonObject | "unknown" | undefined {
    const text = at(r.props, `metadata.annotations`);
    if (!isObject(text)) return undefined;
    const value = text[SETTINGS_ANNOTATION];
    if (isUnknown(value)) return "unknown";
    if (typeof value !== "string") return undefined;
    try {
        const parsed: unknown = JSON.parse(value);
        return isObject(parsed) ? parsed : undefined;
    } catch {
        return undefined;
    }
}

/** True when the Deployment serves with token auth (settings or the token annotations). */
export function usesTokenAuth(r: ResourceView): boolean {
    const s = settingsOf(r);
    if (isObject(s) && s.tokenAuthEnabled === true) return true;
    const annotations = at(r.props, "metadata.annotations");
    return isObject(annotations) && TOKEN_AUDIENCE_ANNOTATION in annotations;
}

/** True when a label selector's `matchLabels` all hold in `labels` (and it selects something). */
export function selects(selector: unknown, labels: Readonly<Record<string, string>>): boolean {
    const match = stringMap(at(selector, "matchLabels"));
    const keys = Object.keys(match);
    const exprs = at(selector, "matchExpressions");
    if (keys.length === 0 && !(Array.isArray(exprs) && exprs.length > 0)) return true;
    return keys.every((k) => labels[k] === match[k]);
}

/** True for labels that select the router's pods. */
export function isRouterSelector(labels: Readonly<Record<string, string>>): boolean {
    const entries = Object.entries(labels);
    return (
        entries.length > 0 &&
        entries.every(([k, v]) => ROUTER_POD_LABELS[k] === v) &&
        Object.keys(ROUTER_POD_LABELS).some((k) => k in labels)
    );
}
