/**
 * The hosts an inference cluster must resolve and reach (R23, R24; aml-v1-spec §4.1). Pure, so the
 * cluster component, the policy pack and a firewall rule set all compute the same list.
 */

/** One host to allow in DNS and egress rules, and who needs it. */
export interface RequiredHost {
    readonly host: string;
    readonly usedBy: string;
}

/** Inputs for {@link computeRequiredHosts}; absent values drop the rows that need them. */
export interface RequiredHostsInput {
    /** AKS API server FQDN as AKS reports it (`<dns-prefix>-<hash>.hcp.<region>.azmk8s.io`). */
    readonly clusterFqdn?: string;
    /** Azure region of the cluster, e.g. `westeurope` or `West Europe`. */
    readonly region?: string;
    /** Workspace container registry name (without `.azurecr.io`). */
    readonly acrName?: string;
    /** Registry login server; overrides `<acrName>.azurecr.io` (e.g. sovereign clouds). */
    readonly acrLoginServer?: string;
    /** Workspace storage account name. */
    readonly storageAccountName?: string;
    /** Leaf domain label of the scoring endpoint (Azure-generated domain). */
    readonly leafDomainLabel?: string;
    /** True when the endpoint uses a custom domain (sslCname): no cloudapp.azure.com row then. */
    readonly customDomain?: boolean;
    /** Router image reference; its registry is listed unless it is MCR or the workspace ACR. */
    readonly routerImage?: string;
    /** Extra image references pulled by the component (e.g. the NVIDIA device plugin). */
    readonly extraImages?: readonly string[];
}

/** Normalises a region display name (`West Europe`) to its programmatic name (`westeurope`). */
export function normalizeRegion(region: string): string {
    return region.replace(/\s+/g, "").toLowerCase();
}

/**
 * Registry host of an image reference, following the Docker reference rules: the first path
 * component is a registry when it contains `.` or `:` or is `localhost`; otherwise Docker Hub.
 */
export function imageRegistryHost(image: string): string {
    const slash = image.indexOf("/");
    if (slash > 0) {
        const first = image.slice(0, slash);
        if (first.includes(".") || first.includes(":") || first === "localhost") {
            return first.replace(/:\d+$/, "").toLowerCase();
        }
    }
    return "registry-1.docker.io";
}

/**
 * Computes the R23 host list. Rows, in order:
 * AKS API server; MCR (+ its data endpoint); workspace ACR; storage table and blob;
 * `api.azureml.ms`; Kusto telemetry; the Azure-generated endpoint domain (not with a custom
 * domain); then hosts this library adds: Microsoft Entra sign-in (the router's token auth checks
 * Entra keys, R37) and the registries of images the component deploys. Duplicates are dropped.
 */
export function computeRequiredHosts(input: RequiredHostsInput): RequiredHost[] {
    const region = input.region ? normalizeRegion(input.region) : undefined;
    const rows: RequiredHost[] = [];
    if (input.clusterFqdn) rows.push({ host: input.clusterFqdn, usedBy: "AKS API server" });
    rows.push({ host: "mcr.microsoft.com", usedBy: "Microsoft Container Registry" });
    rows.push({
        host: "*.data.mcr.microsoft.com",
        usedBy: "Microsoft Container Registry (image layer downloads)",
    });
    const acrHost = input.acrLoginServer
        ? input.acrLoginServer.toLowerCase()
        : input.acrName
          ? `${input.acrName.toLowerCase()}.azurecr.io`
          : undefined;
    if (acrHost)
        rows.push({ host: acrHost, usedBy: "workspace container registry (model images)" });
    if (input.storageAccountName) {
        const sa = input.storageAccountName.toLowerCase();
        rows.push({ host: `${sa}.table.core.windows.net`, usedBy: "storage account (table)" });
        rows.push({
            host: `${sa}.blob.core.windows.net`,
            usedBy: "storage account (blob: configuration, models)",
        });
    }
    rows.push({ host: "api.azureml.ms", usedBy: "Microsoft Entra authentication (Azure ML)" });
    if (region) {
        rows.push({
            host: `ingest-vienna${region}.kusto.windows.net`,
            usedBy: "telemetry upload (Kusto)",
        });
    }
    if (input.leafDomainLabel && !input.customDomain && region) {
        rows.push({
            host: `${input.leafDomainLabel.toLowerCase()}.${region}.cloudapp.azure.com`,
            usedBy: "scoring endpoint domain name (Azure-generated)",
        });
    }
    rows.push({
        host: "login.microsoftonline.com",
        usedBy: "router token auth (Microsoft Entra OIDC discovery and keys)",
    });
    const images: [string, string][] = [];
    if (input.routerImage) images.push([input.routerImage, "router image registry"]);
    for (const img of input.extraImages ?? []) images.push([img, "add-on image registry"]);
    for (const [image, usedBy] of images) {
        const host = imageRegistryHost(image);
        if (host === "mcr.microsoft.com" || host === acrHost) continue;
        rows.push({ host, usedBy });
        if (host === "registry-1.docker.io") {
            // Docker Hub pulls also need its token service and its layer CDN.
            rows.push({ host: "auth.docker.io", usedBy: `${usedBy} (Docker Hub auth)` });
            rows.push({
                host: "production.cloudflare.docker.com",
                usedBy: `${usedBy} (Docker Hub layers)`,
            });
        }
    }
    const seen = new Set<string>();
    return rows.filter((r) => (seen.has(r.host) ? false : (seen.add(r.host), true)));
}
