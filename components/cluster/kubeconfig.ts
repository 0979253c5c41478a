/**
 * Kubeconfig helpers (pure). AKS clusters created here use Microsoft Entra ID + Azure RBAC with
 * local accounts disabled, so the user credentials AKS returns (`format=exec`) call `kubelogin`
 * instead of embedding a token or a client certificate: no secret material and nothing that
 * changes between runs, so the Kubernetes provider is never replaced by a credential refresh.
 * AKS writes `--login devicecode` (interactive); {@link setKubeloginMode} switches it to a
 * non-interactive method such as the Azure CLI login, like `kubelogin convert-kubeconfig -l`.
 */
import { createHash } from "node:crypto";
import { parseDocument, stringify } from "yaml";

/** kubelogin login methods we can switch to (kubelogin `--login`). */
export const KUBELOGIN_MODES = [
    "azurecli",
    "devicecode",
    "spn",
    "msi",
    "workloadidentity",
    "azd",
] as const;

/** Decodes a base64 kubeconfig (as returned by listManagedCluster*Credentials). */
export function decodeKubeconfig(base64: string): string {
    return Buffer.from(base64, "base64").toString("utf8");
}

/**
 * Rewrites every `kubelogin get-token` exec user to `--login <mode>`. For methods other than
 * devicecode, `--client-id` is dropped (it names the AKS AAD client app that only the device-code
 * flow uses; for msi/spn it would mean a different identity) and the exec plugin is marked
 * non-interactive. Kubeconfigs without kubelogin users are returned unchanged.
 */
export function setKubeloginMode(kubeconfig: string, mode: string): string {
    const doc = parseDocument(kubeconfig);
    const config = doc.toJS() as {
        users?: { user?: { exec?: { command?: string; args?: string[] } & object } }[];
    } | null;
    if (!config || !Array.isArray(config.users)) return kubeconfig;
    let changed = false;
    for (const u of config.users) {
        const exec = u.user?.exec as
            { command?: string; args?: string[]; interactiveMode?: string } | undefined;
        if (!exec || !/(^|\/)kubelogin(\.exe)?$/.test(exec.command ?? "")) continue;
        const args = [...(exec.args ?? [])];
        if (args[0] !== "get-token") continue;
        const out: string[] = [];
        for (let i = 0; i < args.length; i++) {
            const a = args[i];
            if (a === "--login" || a === "-l") {
                i++;
                continue;
            }
            if (a === "--client-id" && mode !== "devicecode") {
                i++;
                continue;
            }
            out.push(a);
        }
        out.push("--login", mode);
        exec.args = out;
        exec.interactiveMode = mode === "devicecode" ? "IfAvailable" : "Never";
        changed = true;
    }
    if (!changed) return kubeconfig;
    return stringify(config, { lineWidth: 0 });
}

/** API server URL of the current context (or the only cluster); `undefined` when not found. */
export function kubeconfigServer(kubeconfig: string): string | undefined {
    let config: {
        "current-context"?: string;
        contexts?: { name?: string; context?: { cluster?: string } }[];
        clusters?: { name?: string; cluster?: { server?: string } }[];
    } | null;
    try {
        config = parseDocument(kubeconfig).toJS();
    } catch {
        return undefined;
    }
    if (!config || !Array.isArray(config.clusters)) return undefined;
    const ctx = config.contexts?.find((c) => c.name === config?.["current-context"]);
    const clusterName = ctx?.context?.cluster;
    const cluster =
        config.clusters.find((c) => c.name === clusterName) ??
        (config.clusters.length === 1 ? config.clusters[0] : undefined);
    return cluster?.cluster?.server;
}

/**
 * Stable provider identity for kubeconfig mode: a hash of the API server URL, so pointing the
 * component at another cluster replaces the provider (and its objects) while credential changes
 * only update it (pulumi/pulumi#2047).
 */
export function kubeconfigClusterIdentifier(kubeconfig: string): string {
    const server = kubeconfigServer(kubeconfig) ?? kubeconfig;
    return `kubeconfig-${createHash("sha256").update(server).digest("hex").slice(0, 16)}`;
}

/** Rough structural check: YAML/JSON with `clusters` and `users` (never echoed in errors). */
export function looksLikeKubeconfig(text: string): boolean {
    try {
        const c = parseDocument(text).toJS() as Record<string, unknown> | null;
        return !!c && Array.isArray(c.clusters) && Array.isArray(c.users);
    } catch {
        return false;
    }
}
