/**
 * What the Azure Firewalls of a stack allow out: HTTPS destinations of Allow rule collections in
 * firewall policy rule collection groups and in classic firewall rules (application rules by FQDN
 * or FQDN tag; network rules by FQDN, `*` or service tag), and whether a host is covered, with
 * Azure Firewall's wildcard rules. Pure.
 */
import type { ResourceView } from "./core";
import { isAzureType } from "./azure";
import { arr, at, containsUnknown, isUnknown, str } from "./values";

/** One allowed destination pattern and where it comes from. */
export interface AllowedTarget {
    /** Lowercase host pattern: `host`, `*.suffix`, `*suffix` or `*`. */
    readonly pattern: string;
    readonly source: string;
}

/** The allowed destinations of a stack. */
export interface FirewallRules {
    readonly targets: readonly AllowedTarget[];
    /** Rules whose destinations are unknown during preview (where they are). */
    readonly unknown: readonly string[];
    /** Number of firewall resources (policies' rule collection groups and classic firewalls). */
    readonly firewalls: number;
}

/**
 * Hosts behind FQDN tags (application rules) and service tags (network rules) that matter for
 * R23 (Microsoft's AKS egress documentation and the Azure service tag list). A service tag with a
 * region suffix (`Storage.westeurope`) counts as the tag.
 */
export const TAG_HOSTS: Readonly<Record<string, readonly string[]>> = {
    azurekubernetesservice: [
        "*.azmk8s.io",
        "mcr.microsoft.com",
        "*.data.mcr.microsoft.com",
        "management.azure.com",
        "login.microsoftonline.com",
        "packages.microsoft.com",
        "acs-mirror.azureedge.net",
    ],
    microsoftcontainerregistry: ["mcr.microsoft.com", "*.data.mcr.microsoft.com"],
    azurecontainerregistry: ["*.azurecr.io"],
    storage: ["*.blob.core.windows.net", "*.table.core.windows.net", "*.queue.core.windows.net"],
    azureactivedirectory: ["login.microsoftonline.com"],
    azuremachinelearning: ["api.azureml.ms", "*.api.azureml.ms"],
    azurecloud: [
        "*.azmk8s.io",
        "mcr.microsoft.com",
        "*.data.mcr.microsoft.com",
        "*.azurecr.io",
        "*.core.windows.net",
        "api.azureml.ms",
        "*.api.azureml.ms",
        "*.kusto.windows.net",
        "*.cloudapp.azure.com",
        "login.microsoftonline.com",
    ],
};

function tagHosts(tag: string): readonly string[] {
    return TAG_HOSTS[tag.toLowerCase().split(".")[0]!] ?? [];
}

/** True when an application rule's protocols let HTTPS through (no protocols: any). */
function allowsHttps(protocols: unknown): boolean {
    const list = arr(protocols);
    if (list.length === 0) return true;
    return list.some((p) => {
        const type = str(at(p, "protocolType"))?.toLowerCase();
        const port = at(p, "port");
        return type === "https" && (port === undefined || port === 443);
    });
}

/** True when a network rule's ports include 443. */
function allowsPort443(ports: unknown): boolean {
    const list = arr(ports);
    if (list.length === 0) return true;
    return list.some((p) => {
        const s = String(p).trim();
        if (s === "*" || s === "443") return true;
        const m = /^(\d+)-(\d+)$/.exec(s);
        return m !== null && Number(m[1]) <= 443 && 443 <= Number(m[2]);
    });
}

function collect(
    rules: unknown,
    source: string,
    out: AllowedTarget[],
    unknown: string[],
    networkRule: (r: unknown) => boolean,
): void {
    if (isUnknown(rules)) {
        unknown.push(source);
        return;
    }
    for (const rule of arr(rules)) {
        const name = str(at(rule, "name"));
        const where = name ? `${source}, rule "${name}"` : source;
        if (containsUnknown(rule)) unknown.push(where);
        const add = (pattern: unknown) => {
            const s = str(pattern);
            if (s) out.push({ pattern: s.trim().toLowerCase(), source: where });
        };
        if (networkRule(rule)) {
            if (!allowsPort443(at(rule, "destinationPorts"))) continue;
            for (const f of arr(at(rule, "destinationFqdns"))) add(f);
            for (const a of arr(at(rule, "destinationAddresses"))) {
                const s = str(a);
                if (s === "*") add("*");
                else if (s && /^[A-Za-z]/.test(s)) for (const h of tagHosts(s)) add(h);
            }
            continue;
        }
        if (!allowsHttps(at(rule, "protocols"))) continue;
        for (const f of arr(at(rule, "targetFqdns"))) add(f);
        // Premium TLS inspection rules name URLs: the host part is what they let through.
        for (const u of arr(at(rule, "targetUrls")))
            add(
                str(u)
                    ?.replace(/^[a-z]+:\/\//i, "")
                    .split("/")[0],
            );
        for (const t of arr(at(rule, "fqdnTags"))) {
            const s = str(t);
            if (s) for (const h of tagHosts(s)) add(h);
        }
    }
}

function isAllow(collection: unknown): boolean {
    const action = str(at(collection, "action.type"));
    return action === undefined || action.toLowerCase() === "allow";
}

/** Allowed HTTPS destinations of every Azure Firewall rule in the stack. */
export function firewallRules(all: readonly ResourceView[]): FirewallRules {
    const targets: AllowedTarget[] = [];
    const unknown: string[] = [];
    let firewalls = 0;
    for (const r of all) {
        if (isAzureType(r.type, "network", "FirewallPolicyRuleCollectionGroup")) {
            firewalls++;
            const group = `firewall policy rule collection group "${str(r.props.name) ?? r.name}"`;
            const collections = r.props.ruleCollections;
            if (isUnknown(collections)) unknown.push(group);
            for (const c of arr(collections)) {
                if (str(at(c, "ruleCollectionType")) === "FirewallPolicyNatRuleCollection")
                    continue;
                if (!isAllow(c)) continue;
                const source = `${group}, collection "${str(at(c, "name")) ?? "?"}"`;
                collect(at(c, "rules"), source, targets, unknown, (rule) => {
                    return str(at(rule, "ruleType")) === "NetworkRule";
                });
            }
        } else if (isAzureType(r.type, "network", "AzureFirewall")) {
            firewalls++;
            const fw = `Azure Firewall "${str(r.props.azureFirewallName) ?? r.name}"`;
            for (const [prop, network] of [
                ["applicationRuleCollections", false],
                ["networkRuleCollections", true],
            ] as const) {
                const collections = r.props[prop];
                if (isUnknown(collections)) unknown.push(fw);
                for (const c of arr(collections)) {
                    if (!isAllow(c)) continue;
                    const source = `${fw}, collection "${str(at(c, "name")) ?? "?"}"`;
                    collect(at(c, "rules"), source, targets, unknown, () => network);
                }
            }
        }
    }
    return { targets, unknown, firewalls };
}

/**
 * True when the rule pattern lets traffic to `host` through. Patterns: `*` (anything), `*.suffix`
 * (any subdomain of suffix), `*suffix` (any name ending in suffix), or an exact name. A required
 * wildcard host (`*.data.mcr.microsoft.com`) is covered only by a pattern covering all its names.
 */
export function covers(pattern: string, host: string): boolean {
    const p = pattern.trim().toLowerCase();
    const h = host.trim().toLowerCase();
    if (p === "*") return true;
    if (h.startsWith("*.")) {
        const base = h.slice(2);
        if (p.startsWith("*.")) {
            const suffix = p.slice(2);
            return base === suffix || base.endsWith(`.${suffix}`);
        }
        if (p.startsWith("*")) return base.endsWith(p.slice(1));
        return false;
    }
    if (p.startsWith("*")) return h.endsWith(p.slice(1));
    return p === h;
}

/** The rule that lets `host` through, if any. */
export function allowedBy(rules: FirewallRules, host: string): AllowedTarget | undefined {
    return rules.targets.find((t) => covers(t.pattern, host));
}
