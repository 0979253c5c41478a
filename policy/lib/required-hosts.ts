/**
 * The R23 host list of an AKS cluster of the stack, computed with the same function the cluster
 * component uses (`computeRequiredHosts`), from what the stack holds: the cluster (region, API
 * server FQDN), the workspace's registry and storage account, the endpoint's Azure DNS label, and
 * the images the cluster's workloads pull. Pure.
 */
import {
    computeRequiredHosts,
    type RequiredHost,
    type RequiredHostsInput,
} from "../../components/cluster/hosts";
import { azureName, isAzureType, isMlWorkspace, regionOf, resolveRef } from "./azure";
import type { PolicyConfigJSONSchema } from "@pulumi/policy/schema";
import type { ResourceView } from "./core";
import { clusterOf, computesOf } from "./graph";
import {
    AZURE_DNS_LABEL,
    isKind,
    isModelDeployment,
    isRouterSelector,
    podLabelsOf,
    usesTokenAuth,
} from "./k8s";
import { arr, at, bool, isObject, isUnknown, str, stringMap } from "./values";

export type { RequiredHost };

/** MCR's layer download endpoint (computeRequiredHosts lists it after mcr.microsoft.com). */
export const MCR_DATA_HOST = "*.data.mcr.microsoft.com";
/** Microsoft Entra sign-in (the router's Entra token validation). */
export const ENTRA_LOGIN_HOST = "login.microsoftonline.com";

const isRegistry = (r: ResourceView) => isAzureType(r.type, "containerregistry", "Registry");
const isStorage = (r: ResourceView) => isAzureType(r.type, "storage", "StorageAccount");

/** The hosts, and the rows that could not be computed (values unknown during preview). */
export interface ClusterHosts {
    readonly hosts: RequiredHost[];
    readonly unknown: string[];
}

/** Registries and storage accounts of the workspace(s) the cluster serves. */
function workspaceResources(cluster: ResourceView, all: readonly ResourceView[]) {
    const computes = computesOf(cluster, all);
    const workspaces = all.filter((r) => isMlWorkspace(r.type));
    const attached = workspaces.filter((w) =>
        computes.some((c) => {
            const name = str(c.props.workspaceName);
            return name
                ? name.toLowerCase() === azureName(w, "workspaceName").toLowerCase()
                : (c.propertyDependencies.workspaceName ?? []).includes(w);
        }),
    );
    const chosen = attached.length > 0 ? attached : workspaces;
    if (chosen.length === 0) {
        // No workspace in the stack: the registries and storage accounts it holds are the ones.
        return { registries: all.filter(isRegistry), storage: all.filter(isStorage) };
    }
    return {
        registries: chosen.flatMap((w) =>
            resolveRef(w, w.props.containerRegistry, "containerRegistry", all, isRegistry),
        ),
        storage: chosen.flatMap((w) =>
            resolveRef(w, w.props.storageAccount, "storageAccount", all, isStorage),
        ),
    };
}

function imagesOf(r: ResourceView): unknown[] {
    const spec = at(r.props, "spec.template.spec");
    return [...arr(at(spec, "containers")), ...arr(at(spec, "initContainers"))].map((c) =>
        at(c, "image"),
    );
}

/** The R23 hosts of `cluster` (a ManagedCluster of the stack), plus `extra`. */
export function clusterRequiredHosts(
    cluster: ResourceView,
    all: readonly ResourceView[],
    extra: readonly RequiredHost[] = [],
): ClusterHosts {
    const unknown: string[] = [];
    const region = regionOf(cluster);
    if (region === undefined) unknown.push("the cluster's location is unknown");

    // API server: the FQDN once known; before that any name under <region>.azmk8s.io. Private
    // clusters are reached inside the VNet, not through the egress path.
    const privateCluster = bool(at(cluster.props, "apiServerAccessProfile.enablePrivateCluster"));
    const fqdn = str(cluster.props.fqdn);
    const input: { -readonly [K in keyof RequiredHostsInput]: RequiredHostsInput[K] } = {
        region,
        clusterFqdn: privateCluster
            ? undefined
            : (fqdn ?? (region ? `*.hcp.${region}.azmk8s.io` : undefined)),
    };

    const { registries, storage } = workspaceResources(cluster, all);
    const registry = registries[0];
    if (registry) {
        const login = str(registry.props.loginServer);
        if (login) input.acrLoginServer = login.toLowerCase();
        else if (isUnknown(registry.props.registryName))
            unknown.push("the registry name is unknown");
        else input.acrName = azureName(registry, "registryName");
    }
    const account = storage[0];
    if (account) {
        if (isUnknown(account.props.accountName))
            unknown.push("the storage account name is unknown");
        else input.storageAccountName = azureName(account, "accountName");
    }

    // Endpoint domain: the workspace compute's SSL settings, or the router Service's DNS label.
    for (const c of computesOf(cluster, all)) {
        const ssl = at(c.props, "properties.properties.sslConfiguration");
        if (!isObject(ssl)) continue;
        if (str(ssl.cname)) input.customDomain = true;
        if (str(ssl.leafDomainLabel)) input.leafDomainLabel = str(ssl.leafDomainLabel);
    }
    const images: string[] = [];
    let routerImage: string | undefined;
    let tokenAuth = false;
    for (const r of all) {
        if (!r.type.startsWith("kubernetes:")) continue;
        const link = clusterOf(r, all);
        if (link.managedCluster !== cluster) continue;
        if (isKind(r.type, "", "Service")) {
            const label = stringMap(at(r.props, "metadata.annotations"))[AZURE_DNS_LABEL];
            if (label && isRouterSelector(stringMap(at(r.props, "spec.selector")))) {
                input.leafDomainLabel ??= label;
            }
        }
        if (isModelDeployment(r) && usesTokenAuth(r)) tokenAuth = true;
        if (isKind(r.type, "apps", "Deployment") || isKind(r.type, "apps", "DaemonSet")) {
            for (const image of imagesOf(r)) {
                if (isUnknown(image)) continue; // built in this run: pushed to the workspace ACR
                const s = str(image);
                if (!s) continue;
                if (isRouterSelector(podLabelsOf(r))) routerImage ??= s;
                else images.push(s);
            }
        }
    }
    input.routerImage = routerImage;
    input.extraImages = images;

    // The library adds rows beyond R23; two are checked only where they apply: Entra sign-in when a
    // service uses token auth, and MCR's data endpoint goes with mcr.microsoft.com (named in
    // that row's message) so a rule set written from R23 is judged by R23.
    const hosts = computeRequiredHosts(input).filter(
        (h) => h.host !== MCR_DATA_HOST && (h.host !== ENTRA_LOGIN_HOST || tokenAuth),
    );
    for (const e of extra) if (!hosts.some((h) => h.host === e.host)) hosts.push(e);
    return { hosts, unknown };
}

/** Config schema of `extraRequiredHosts` (R25: hosts the models themselves call). */
export const EXTRA_HOSTS_SCHEMA = {
    type: "array",
    description:
        "Hosts the model services also need (R25: databases, REST APIs, storage the entry script calls): a host name, or { host, usedBy }.",
    items: {
        anyOf: [
            { type: "string", minLength: 1 },
            {
                type: "object",
                properties: {
                    host: { type: "string", minLength: 1 },
                    usedBy: { type: "string" },
                },
                required: ["host"],
                additionalProperties: false,
            },
        ],
    },
    default: [],
} as PolicyConfigJSONSchema;

/** Reads `extraRequiredHosts` from a policy config. */
export function readExtraHosts(raw: unknown): RequiredHost[] {
    return arr(raw).flatMap((h): RequiredHost[] => {
        if (typeof h === "string" && h)
            return [{ host: h.toLowerCase(), usedBy: "policy config (R25)" }];
        if (isObject(h) && typeof h.host === "string" && h.host) {
            return [{ host: h.host.toLowerCase(), usedBy: str(h.usedBy) ?? "policy config (R25)" }];
        }
        return [];
    });
}
