/**
 * Choice of the AKS network plugin, plugin mode and NetworkPolicy engine (R11; issue 11 item 1).
 * Pure: no Pulumi. Without a policy engine the NetworkPolicy of every model service ("only the
 * router reaches model pods") is not enforced, and any pod could call a model on its port,
 * bypassing key and token auth (R35). So a cluster is never created without one.
 *
 * Defaults follow today's AKS: Azure CNI Overlay with the Cilium dataplane ("Azure CNI powered by
 * Cilium", the `az aks create` recommendation; kubenet is retired by Azure on 31 March 2028). The
 * v1 values stay accepted: `kubenet` (with Calico, the only engine AKS supports for it) and
 * `azure` given explicitly keeps v1's Azure CNI, where pods take addresses from the node subnet
 * (with Calico).
 */
import { onlyWithRule, oneOf, Problems } from "../common/validation";
import { CLUSTER_DEFAULTS } from "./defaults";

/** v1 plugin names (`AksCompute.provisioning_configuration(network_plugin=...)`). */
export const NETWORK_PLUGINS = ["azure", "kubenet"] as const;
/** Azure CNI modes: pod addresses from an overlay range, or from the node subnet (v1). */
export const NETWORK_PLUGIN_MODES = ["overlay", "subnet"] as const;
/** NetworkPolicy engines AKS offers. */
export const NETWORK_POLICIES = ["cilium", "calico", "azure"] as const;

/** What goes into the AKS `networkProfile` besides the address ranges. */
export interface NetworkChoice {
    /** ARM `networkPlugin`. */
    readonly networkPlugin: "azure" | "kubenet";
    /** Our mode; `undefined` for kubenet. ARM gets `networkPluginMode: "overlay"` for overlay only. */
    readonly networkPluginMode: "overlay" | "subnet" | undefined;
    /** ARM `networkPolicy`: always set. */
    readonly networkPolicy: "cilium" | "calico" | "azure";
    /** ARM `networkDataplane`: `cilium` with the Cilium engine, else unset (AKS default). */
    readonly networkDataplane: "cilium" | undefined;
    /** Whether AKS uses `podCidr` (kubenet and overlay); Azure CNI in subnet mode does not. */
    readonly usesPodCidr: boolean;
    /** Whether the plugin needs `vnetSubnetId` + `serviceCidr` + `dnsServiceIp` (subnet mode). */
    readonly needsSubnet: boolean;
}

/**
 * Resolves plugin, mode and policy engine from the (plain or unset) args, adding a problem for
 * each unsupported combination. Unset values get today's defaults; see the module comment.
 */
export function resolveNetworkChoice(
    p: Problems,
    plugin: unknown,
    mode: unknown,
    policy: unknown,
): NetworkChoice {
    const pl = oneOf(p, "networkPlugin", plugin, NETWORK_PLUGINS);
    const md = oneOf(p, "networkPluginMode", mode, NETWORK_PLUGIN_MODES);
    const po = oneOf(p, "networkPolicy", policy, NETWORK_POLICIES);
    const networkPlugin = pl ?? CLUSTER_DEFAULTS.networkPlugin;
    if (networkPlugin === "kubenet") {
        if (md) {
            p.add("networkPluginMode", md, onlyWithRule('networkPlugin "azure"'));
        }
        if (po && po !== "calico") {
            p.add(
                "networkPolicy",
                po,
                'must be "calico" with networkPlugin "kubenet" (the only engine AKS supports for kubenet)',
            );
        }
        return {
            networkPlugin,
            networkPluginMode: undefined,
            networkPolicy: "calico",
            networkDataplane: undefined,
            usesPodCidr: true,
            needsSubnet: false,
        };
    }
    // An explicit "azure" without a mode is a v1 program: keep v1's pods-in-the-subnet CNI.
    const networkPluginMode =
        md ?? (pl === "azure" ? "subnet" : CLUSTER_DEFAULTS.networkPluginMode);
    const networkPolicy =
        po ?? (networkPluginMode === "overlay" ? CLUSTER_DEFAULTS.networkPolicy : "calico");
    if (networkPolicy === "cilium" && networkPluginMode !== "overlay") {
        p.add(
            "networkPolicy",
            "cilium",
            'needs networkPluginMode "overlay" (the Cilium dataplane does not take pod addresses from the node subnet); use "calico" or "azure" in subnet mode',
        );
    }
    if (networkPolicy === "azure" && networkPluginMode !== "subnet") {
        p.add(
            "networkPolicy",
            "azure",
            'needs networkPluginMode "subnet" (Azure Network Policy Manager does not support overlay); use "cilium" or "calico" with overlay',
        );
    }
    return {
        networkPlugin,
        networkPluginMode,
        networkPolicy,
        networkDataplane: networkPolicy === "cilium" ? "cilium" : undefined,
        usesPodCidr: networkPluginMode === "overlay",
        needsSubnet: networkPluginMode === "subnet",
    };
}
