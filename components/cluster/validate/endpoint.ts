/** The scoring endpoint: load balancer, DNS label or custom domain and certificate (R6). */
import {
    checkBoolean,
    exclusiveRule,
    isSet,
    named,
    NameRule,
    onlyWithRule,
    oneOf,
    plainValue,
    REDACTED,
    requiredRule,
    shownValue,
} from "../../common/validation";
import { CLUSTER_DEFAULTS } from "../defaults";
import type { CheckContext } from "./context";
import { NO_AZURE_LOAD_BALANCER, notInKubeconfigRule } from "./mode";

export const LOAD_BALANCER_TYPES = ["PublicIp", "InternalLoadBalancer"] as const;
export const ROUTER_SERVICE_TYPES = ["LoadBalancer", "NodePort", "ClusterIP"] as const;
const CERTIFICATE_ARGS = ["sslCname", "sslCertPem", "sslKeyPem"] as const;

/** Azure public IP DNS label: 3–63 chars, lowercase letters, digits, dashes, starts with a letter. */
export const LEAF_DOMAIN_LABEL = {
    pattern: /^[a-z][a-z0-9-]{1,61}[a-z0-9]$/,
    rule: "must be 3-63 characters of lowercase letters, digits and dashes, start with a letter and end with a letter or digit",
} satisfies NameRule;
const DNS_NAME = {
    pattern:
        /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/,
    rule: "must be a DNS name such as scoring.example.com",
} satisfies NameRule;
const SUBNET_NAME = {
    pattern: /^[A-Za-z0-9]([\w.-]{0,78}\w)?$/,
    rule: "must be a subnet name (1-80 letters, digits, '_', '.', '-')",
} satisfies NameRule;
const CERTIFICATE_PEM = /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/;
const PRIVATE_KEY_PEM =
    /-----BEGIN ([A-Z]+ )?PRIVATE KEY-----[\s\S]+-----END ([A-Z]+ )?PRIVATE KEY-----/;

export interface EndpointChoice {
    readonly loadBalancerType: (typeof LOAD_BALANCER_TYPES)[number];
    readonly routerServiceType: (typeof ROUTER_SERVICE_TYPES)[number];
    /** The router terminates TLS (sslCname, sslCertPem and sslKeyPem given). */
    readonly tls: boolean;
    /** A leaf domain label is given (HTTP on `<label>.<region>.cloudapp.azure.com`). */
    readonly leafDomain: boolean;
}

export function checkEndpoint({ p, a, mode, warnings }: CheckContext): EndpointChoice {
    const loadBalancerType =
        oneOf(p, "loadBalancerType", a.loadBalancerType, LOAD_BALANCER_TYPES) ??
        CLUSTER_DEFAULTS.loadBalancerType;
    const routerServiceType =
        oneOf(p, "routerServiceType", a.routerServiceType, ROUTER_SERVICE_TYPES) ??
        CLUSTER_DEFAULTS.routerServiceType;
    const internal = loadBalancerType === "InternalLoadBalancer";
    if (mode === "kubeconfig" && internal) {
        p.add("loadBalancerType", loadBalancerType, notInKubeconfigRule(NO_AZURE_LOAD_BALANCER));
    }
    if (isSet(a.loadBalancerSubnet) && !internal) {
        p.add(
            "loadBalancerSubnet",
            shownValue(a.loadBalancerSubnet),
            onlyWithRule('loadBalancerType "InternalLoadBalancer"'),
        );
    }
    named(p, "loadBalancerSubnet", a.loadBalancerSubnet, SUBNET_NAME);
    const leaf = isSet(a.leafDomainLabel);
    const certificate = CERTIFICATE_ARGS.filter((f) => isSet(a[f]));
    if (leaf && internal) {
        p.add(
            "leafDomainLabel",
            shownValue(a.leafDomainLabel),
            'cannot be used with loadBalancerType "InternalLoadBalancer": an internal endpoint needs a custom certificate (sslCname, sslCertPem, sslKeyPem)',
        );
    }
    if (leaf && certificate.length > 0) {
        p.add(
            "leafDomainLabel",
            shownValue(a.leafDomainLabel),
            exclusiveRule(
                "the custom certificate (sslCname, sslCertPem, sslKeyPem)",
                "use a leaf domain label or your own domain and certificate",
            ),
        );
    }
    if (certificate.length > 0 && certificate.length < 3) {
        for (const f of CERTIFICATE_ARGS) {
            if (!isSet(a[f])) {
                p.add(
                    f,
                    undefined,
                    requiredRule(
                        "when any of sslCname, sslCertPem, sslKeyPem is set (custom certificate: give all three)",
                    ),
                );
            }
        }
    }
    if (isSet(a.overwriteExistingDomain) && !leaf) {
        p.add(
            "overwriteExistingDomain",
            shownValue(a.overwriteExistingDomain),
            onlyWithRule("leafDomainLabel"),
        );
    }
    checkBoolean(
        p,
        "overwriteExistingDomain",
        a.overwriteExistingDomain,
        CLUSTER_DEFAULTS.overwriteExistingDomain,
    );
    named(p, "leafDomainLabel", a.leafDomainLabel, LEAF_DOMAIN_LABEL);
    named(p, "sslCname", a.sslCname, DNS_NAME);
    const cert = plainValue<unknown>(a.sslCertPem);
    if (cert !== undefined && (typeof cert !== "string" || !CERTIFICATE_PEM.test(cert))) {
        p.add(
            "sslCertPem",
            REDACTED,
            "must be a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)",
        );
    }
    const key = plainValue<unknown>(a.sslKeyPem);
    if (key !== undefined && (typeof key !== "string" || !PRIVATE_KEY_PEM.test(key))) {
        p.add(
            "sslKeyPem",
            REDACTED,
            "must be a PEM private key (-----BEGIN PRIVATE KEY----- ... -----END PRIVATE KEY-----)",
        );
    }
    if ((internal || leaf) && routerServiceType !== "LoadBalancer") {
        p.add(
            "routerServiceType",
            routerServiceType,
            'must be "LoadBalancer" with loadBalancerType "InternalLoadBalancer" or leafDomainLabel',
        );
    }

    // Keys and tokens travel in clear text over plain HTTP (issue 11 item 6): say so at preview.
    const tls = certificate.length === 3;
    if (leaf) {
        warnings.push(
            "leafDomainLabel gives a plain-HTTP endpoint (v1's Microsoft-issued certificate is not " +
                "available): keys and tokens travel in clear text. For HTTPS use sslCname + sslCertPem + sslKeyPem.",
        );
    } else if (!tls && !internal && routerServiceType === "LoadBalancer") {
        warnings.push(
            "The scoring endpoint is plain HTTP on a public IP (the v1 default): keys and tokens travel " +
                "in clear text. Give sslCname + sslCertPem + sslKeyPem for HTTPS, or use " +
                'loadBalancerType "InternalLoadBalancer".',
        );
    }
    return { loadBalancerType, routerServiceType, tls, leafDomain: leaf };
}
