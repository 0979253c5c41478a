/**
 * Waivers: a policy finding on a resource is not reported when the resource, or the policy's
 * config, waives that policy with a reason. A waiver without a reason waives nothing (the finding
 * is reported and says why the waiver was ignored). Pure.
 *
 * - Kubernetes objects: annotation `waiver.amlaks.io/<policy>: "<reason>"`.
 * - Azure resources: tag `amlaks-waiver-<policy>: "<reason>"` (Azure tag names cannot hold `/`).
 * - Any resource, from the policy config: `waivers: [{ resource, reason }]`, where `resource` is
 *   the URN, the Pulumi logical name or, for Kubernetes objects, `<namespace>/<name>`.
 */
import type { ResourceView } from "./core";
import { at, isObject, str } from "./values";

/** Annotation key that waives `policy` on a Kubernetes object. */
export function waiverAnnotation(policy: string): string {
    return `waiver.amlaks.io/${policy}`;
}

/** Tag name that waives `policy` on an Azure resource. */
export function waiverTag(policy: string): string {
    return `amlaks-waiver-${policy}`;
}

/** A waiver given in the policy config. */
export interface ConfigWaiver {
    readonly resource: string;
    readonly reason: string;
}

/** The outcome of looking for a waiver. */
export type WaiverLookup =
    | { readonly status: "none" }
    | { readonly status: "waived"; readonly reason: string; readonly source: string }
    | { readonly status: "no-reason"; readonly source: string };

/** `<namespace>/<name>` of a Kubernetes object, when it has a name. */
function k8sRef(r: ResourceView): string | undefined {
    const name = str(at(r.props, "metadata.name"));
    if (name === undefined) return undefined;
    return `${str(at(r.props, "metadata.namespace")) ?? "default"}/${name}`;
}

/** Reads the config's `waivers` list, dropping malformed entries (the schema rejects them). */
export function readConfigWaivers(raw: unknown): ConfigWaiver[] {
    if (!Array.isArray(raw)) return [];
    return raw.flatMap((w) =>
        isObject(w) && typeof w.resource === "string" && typeof w.reason === "string"
            ? [{ resource: w.resource, reason: w.reason }]
            : [],
    );
}

/** Finds a waiver of `policy` for `resource` (config first, then the resource itself). */
export function findWaiver(
    policy: string,
    resource: ResourceView,
    configWaivers: readonly ConfigWaiver[],
): WaiverLookup {
    const ref = k8sRef(resource);
    for (const w of configWaivers) {
        if (w.resource === resource.urn || w.resource === resource.name || w.resource === ref) {
            return w.reason.trim()
                ? { status: "waived", reason: w.reason.trim(), source: "policy config" }
                : { status: "no-reason", source: `the policy config waiver for "${w.resource}"` };
        }
    }
    const annotation = waiverAnnotation(policy);
    const tag = waiverTag(policy);
    const candidates: [string, unknown][] = [
        [`annotation ${annotation}`, at(resource.props, `metadata.annotations`)],
        [`tag ${tag}`, at(resource.props, "tags")],
    ];
    for (const [source, map] of candidates) {
        if (!isObject(map)) continue;
        const key = source.startsWith("annotation") ? annotation : tag;
        if (!(key in map)) continue;
        const reason = str(map[key])?.trim();
        return reason ? { status: "waived", reason, source } : { status: "no-reason", source };
    }
    return { status: "none" };
}
