/**
 * The contract between `AksWebservice` (which renders model services into the cluster), the
 * router's Kubernetes backend (which discovers them, docs/design.md §5, R21) and the policy pack
 * (which recognises model Deployments, R29). Pure constants and parsers: no Pulumi, no I/O, so the
 * router image can import this module without the Pulumi SDK.
 *
 * What a model service looks like in the cluster (namespace = settings.namespace):
 * - Deployment `<service>`: labels {@link MODEL_DEPLOYMENT_LABEL}=`"true"`,
 *   `app.kubernetes.io/name`=`<service>`, `app.kubernetes.io/managed-by`=`amlaks`; annotations
 *   {@link SETTINGS_ANNOTATION} (JSON settings, no keys, no model list),
 *   {@link AUTH_SECRET_ANNOTATION} (name of the auth Secret, absent with auth off),
 *   {@link MODELS_ANNOTATION} (model names and versions, absent without models) and, with token
 *   auth, {@link TOKEN_AUDIENCE_ANNOTATION} / {@link TOKEN_ISSUER_ANNOTATION}.
 * - Service `<service>` (ClusterIP, port {@link MODEL_SERVER_PORT}): its EndpointSlices list the
 *   ready model pods the router talks to directly.
 * - Secret `<service>-auth` (type Opaque, label {@link SERVICE_LABEL}=`<service>`): key auth →
 *   {@link SECRET_PRIMARY_KEY}, {@link SECRET_SECONDARY_KEY}; token auth →
 *   {@link SECRET_SIGNING_KEY} (PKCS#8 PEM, ES256) and {@link SECRET_SIGNING_JWKS} (JSON array of
 *   public JWKs, newest first).
 */
import { ROUTER_NAME } from "../cluster/router-rbac";
import { validateWebserviceSettings, type WebserviceSettings } from "../settings";

/** Port of the model server in every model pod (AML inference server default, aml-v1-spec §5). */
export const MODEL_SERVER_PORT = 5001;
/** Name of that port on the container and the Service. */
export const MODEL_SERVER_PORT_NAME = "http";

/** Marks a Deployment as a model deployment (router discovery, policy pack R29 check). */
export const MODEL_DEPLOYMENT_LABEL = "amlaks.io/model-deployment";
/** Service name on every object of a service (Deployment, pods, Service, Secret, ...). */
export const SERVICE_LABEL = "amlaks.io/service";
export const NAME_LABEL = "app.kubernetes.io/name";
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "amlaks";

/** JSON of the validated settings (a `WebserviceSettingsInput` without keys and models). */
export const SETTINGS_ANNOTATION = "amlaks.io/settings";
/** Name of the Secret holding the service's auth material (same namespace). */
export const AUTH_SECRET_ANNOTATION = "amlaks.io/auth-secret";
/**
 * JSON list of the service's models in the order given, `[{"name":"…","version":"…"}]`: the
 * router files collected model data under the first (docs/observability.md). Names and versions
 * only, within {@link MODELS_ANNOTATION_MAX_BYTES}: a longer list keeps its leading models
 * (annotations share a 256 KiB budget and 1000 long names would not fit).
 */
export const MODELS_ANNOTATION = "amlaks.io/models";
export const MODELS_ANNOTATION_MAX_BYTES = 32 * 1024;
/** Expected `aud` of tokens minted for the service (token auth). */
export const TOKEN_AUDIENCE_ANNOTATION = "amlaks.io/token-audience";
/** Expected `iss` of tokens minted for the service (token auth). */
export const TOKEN_ISSUER_ANNOTATION = "amlaks.io/token-issuer";

export const SECRET_PRIMARY_KEY = "primaryKey";
export const SECRET_SECONDARY_KEY = "secondaryKey";
export const SECRET_SIGNING_KEY = "tokenSigningKey.pem";
export const SECRET_SIGNING_JWKS = "tokenSigningKeys.json";

/**
 * Issuer of tokens minted with a service's signing key in a cluster (the router's
 * `defaultTokenIssuer("cluster")` form, `amlaks://<scope>`; pass it to `getToken`).
 */
export const TOKEN_ISSUER = "amlaks://cluster";

/** Labels of the router pods that may reach model pods (set by the cluster component). */
export const ROUTER_POD_SELECTOR: Readonly<Record<string, string>> = Object.freeze({
    [NAME_LABEL]: ROUTER_NAME,
});

/**
 * Audience of tokens for one service: the router's `defaultTokenAudience` form
 * (`amlaks:service:<name>`), so `getToken({ service, signingKey })` needs no audience option.
 * Tokens are also bound to the service by its own signing key and the `svc` claim.
 */
export function tokenAudience(service: string): string {
    return `amlaks:service:${service}`;
}

/** Name of the Secret holding a service's keys or token signing key. */
export function authSecretName(service: string): string {
    return `${service}-auth`;
}

/**
 * Reads {@link SETTINGS_ANNOTATION} back into settings with every default applied (router side).
 * Throws a `ValidationError` when the annotation was edited into something invalid.
 */
export function parseSettingsAnnotation(text: string): WebserviceSettings {
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch (e) {
        throw new Error(`${SETTINGS_ANNOTATION} is not valid JSON: ${(e as Error).message}`);
    }
    return validateWebserviceSettings(parsed as Parameters<typeof validateWebserviceSettings>[0]);
}

/**
 * Pod annotation the ReplicaSet controller reads when it scales in: pods with the lowest cost go
 * first. The router sets it on the replicas it drained before lowering `spec.replicas`.
 */
export const POD_DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost";

/** A model as the router knows it: its AML name and version. */
export interface ModelNameVersion {
    readonly name: string;
    readonly version: string;
}

/**
 * AML model names and versions: a letter or digit, then letters, digits, `.`, `_`, `-`. The
 * exact bounds live in components/image/models.ts; this module stays free of its file-system
 * code because the router bundles it.
 */
const MODEL_PART = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

/** {@link MODELS_ANNOTATION} text for `models` (leading models within the size bound). */
export function renderModelsAnnotation(models: readonly ModelNameVersion[]): string {
    const items: string[] = [];
    let size = 2;
    for (const m of models) {
        const item = JSON.stringify({ name: m.name, version: m.version });
        if (size + item.length + 1 > MODELS_ANNOTATION_MAX_BYTES) break;
        items.push(item);
        size += item.length + 1;
    }
    return `[${items.join(",")}]`;
}

/** Reads {@link MODELS_ANNOTATION}; entries that are not a valid name/version are reported. */
export function parseModelsAnnotation(text: string): {
    models: ModelNameVersion[];
    problems: string[];
} {
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch (e) {
        return {
            models: [],
            problems: [`${MODELS_ANNOTATION} is not valid JSON: ${(e as Error).message}`],
        };
    }
    if (!Array.isArray(parsed)) {
        return {
            models: [],
            problems: [`${MODELS_ANNOTATION} must be a JSON array of {name, version}`],
        };
    }
    const models: ModelNameVersion[] = [];
    const problems: string[] = [];
    parsed.forEach((m: unknown, i) => {
        const o = m as { name?: unknown; version?: unknown } | null;
        const name = o?.name;
        const version = o?.version;
        if (
            typeof name === "string" &&
            typeof version === "string" &&
            MODEL_PART.test(name) &&
            MODEL_PART.test(version)
        ) {
            models.push({ name, version });
        } else {
            problems.push(`${MODELS_ANNOTATION}[${i}] is not a model {name, version}; ignored`);
        }
    });
    return { models, problems };
}
