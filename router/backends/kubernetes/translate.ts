/**
 * Pure translation of what `AksWebservice` renders into the cluster (components/webservice/
 * contract.ts) into what the router serves (router/types.ts): model Deployment + auth Secret →
 * `ServiceDefinition`, EndpointSlices → ready `Replica`s, and which Deployment owns a service name
 * when two namespaces claim it. No I/O: the backend feeds it objects from its watch caches.
 *
 * Inputs are structural (`…Like`) so both typed client objects (list calls, `creationTimestamp`
 * as a Date) and raw watch JSON (`creationTimestamp` as a string) fit.
 */
import { keyProblem, authMode, type WebserviceSettings } from "../../../components/settings";
import {
    AUTH_SECRET_ANNOTATION,
    MODEL_SERVER_PORT_NAME,
    MODELS_ANNOTATION,
    SECRET_PRIMARY_KEY,
    SECRET_SECONDARY_KEY,
    SECRET_SIGNING_JWKS,
    SERVICE_LABEL,
    SETTINGS_ANNOTATION,
    TOKEN_AUDIENCE_ANNOTATION,
    TOKEN_ISSUER,
    TOKEN_ISSUER_ANNOTATION,
    authSecretName,
    parseModelsAnnotation,
    parseSettingsAnnotation,
    tokenAudience,
} from "../../../components/webservice/contract";
import type {
    JsonWebKeyLike,
    ModelRef,
    Replica,
    ServiceAuthConfig,
    ServiceDefinition,
} from "../../types";

/** Label the EndpointSlice controller puts on every slice of a Service. */
export const SLICE_SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** The object metadata the backend reads. */
export interface MetaLike {
    readonly name?: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
    readonly creationTimestamp?: Date | string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
}

export interface DeploymentLike {
    readonly metadata?: MetaLike;
    readonly spec?: { readonly replicas?: number };
}

/** A Secret as the API returns it: values in `data` are base64. */
export interface SecretLike {
    readonly metadata?: MetaLike;
    readonly data?: Readonly<Record<string, string>>;
}

export interface EndpointSliceLike {
    readonly metadata?: MetaLike;
    readonly ports?: ReadonlyArray<{ readonly name?: string; readonly port?: number }> | null;
    readonly endpoints?: ReadonlyArray<{
        readonly addresses?: readonly string[];
        readonly conditions?: { readonly ready?: boolean };
        readonly targetRef?: { readonly kind?: string; readonly name?: string };
    }> | null;
}

/** Settings read from a Deployment, or why they cannot be. */
export type SettingsResult =
    | { readonly ok: true; readonly settings: WebserviceSettings; readonly warnings: string[] }
    | { readonly ok: false; readonly problem: string };

/** A full definition, or why the Deployment cannot be served. */
export type Translation =
    | { readonly ok: true; readonly definition: ServiceDefinition; readonly warnings: string[] }
    | { readonly ok: false; readonly problem: string };

/** `namespace/name` of an object, for logs and map keys. */
export function objectRef(o: { readonly metadata?: MetaLike }): string {
    return `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;
}

/** The service a model Deployment serves: its {@link SERVICE_LABEL}, else its name. */
export function serviceNameOf(d: DeploymentLike): string | undefined {
    return d.metadata?.labels?.[SERVICE_LABEL] ?? d.metadata?.name;
}

/** Name of the auth Secret a Deployment points at (same namespace). */
export function authSecretNameOf(d: DeploymentLike, service: string): string {
    // The renderer always sets the annotation; the conventional name covers hand-made objects.
    return d.metadata?.annotations?.[AUTH_SECRET_ANNOTATION] ?? authSecretName(service);
}

/**
 * Validated settings from {@link SETTINGS_ANNOTATION}, with the same validator the component used
 * (docs/design.md §3). Keys never come from the annotation (they live in the Secret, R36): any
 * found there are dropped.
 */
export function readSettings(d: DeploymentLike): SettingsResult {
    const ref = objectRef(d);
    const service = serviceNameOf(d);
    const text = d.metadata?.annotations?.[SETTINGS_ANNOTATION];
    if (!service) return { ok: false, problem: `Deployment ${ref} has no name` };
    if (text === undefined) {
        return { ok: false, problem: `Deployment ${ref} has no ${SETTINGS_ANNOTATION} annotation` };
    }
    let parsed: WebserviceSettings;
    try {
        parsed = parseSettingsAnnotation(text);
    } catch (e) {
        return { ok: false, problem: `Deployment ${ref}: ${(e as Error).message}` };
    }
    if (parsed.name !== service) {
        return {
            ok: false,
            problem: `Deployment ${ref}: ${SETTINGS_ANNOTATION} names service "${parsed.name}" but the Deployment serves "${service}"`,
        };
    }
    const warnings: string[] = [];
    const { primaryKey, secondaryKey, ...rest } = parsed;
    if (primaryKey !== undefined || secondaryKey !== undefined) {
        warnings.push(
            `Deployment ${ref}: ${SETTINGS_ANNOTATION} carries keys; they are ignored (keys come from the auth Secret)`,
        );
    }
    return { ok: true, settings: rest, warnings };
}

function decodeSecretValue(secret: SecretLike | undefined, key: string): string | undefined {
    const raw = secret?.data?.[key];
    if (typeof raw !== "string") return undefined;
    const text = Buffer.from(raw, "base64").toString("utf8").trim();
    return text.length > 0 ? text : undefined;
}

/** Private JWK members: a public key list must never carry them into the router's memory. */
const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

function readJwks(text: string, where: string, warnings: string[]): JsonWebKeyLike[] {
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch (e) {
        warnings.push(`${where} is not valid JSON (${(e as Error).message}); no token accepted`);
        return [];
    }
    if (!Array.isArray(parsed)) {
        warnings.push(`${where} must be a JSON array of public JWKs; no token accepted`);
        return [];
    }
    const keys: JsonWebKeyLike[] = [];
    parsed.forEach((k: unknown, i) => {
        const jwk = k as Record<string, unknown> | null;
        if (!jwk || typeof jwk !== "object" || typeof jwk.kty !== "string" || jwk.kty === "oct") {
            warnings.push(`${where}[${i}] is not a public JWK; ignored`);
            return;
        }
        const pub = Object.fromEntries(
            Object.entries(jwk).filter(([name]) => !PRIVATE_JWK_MEMBERS.includes(name)),
        ) as JsonWebKeyLike;
        keys.push(pub);
    });
    return keys;
}

/**
 * Auth material of a service (R35–R37). Key auth: both keys from the Secret's `data` in one go, so
 * a rotation of one key never disturbs the other; with no usable key the service accepts none
 * (never open). Token auth: public JWKs from {@link SECRET_SIGNING_JWKS} and the audience/issuer
 * annotations. The private signing key is never read.
 */
export function readAuth(
    d: DeploymentLike,
    settings: WebserviceSettings,
    secret: SecretLike | undefined,
): { auth: ServiceAuthConfig; warnings: string[] } {
    const mode = authMode(settings);
    const warnings: string[] = [];
    if (mode === "none") return { auth: { mode }, warnings };
    const secretRef = `${d.metadata?.namespace ?? ""}/${authSecretNameOf(d, settings.name)}`;
    if (!secret) warnings.push(`auth Secret ${secretRef} not found`);

    if (mode === "key") {
        const keys: { primaryKey?: string; secondaryKey?: string } = {};
        for (const [field, dataKey] of [
            ["primaryKey", SECRET_PRIMARY_KEY],
            ["secondaryKey", SECRET_SECONDARY_KEY],
        ] as const) {
            const value = decodeSecretValue(secret, dataKey);
            if (value === undefined) continue;
            const rule = keyProblem(value); // never echoes the key
            if (rule) warnings.push(`${secretRef} ${dataKey} ${rule}; it is not accepted`);
            else keys[field] = value;
        }
        if (!keys.primaryKey && !keys.secondaryKey) {
            warnings.push(`service "${settings.name}" has no usable key: every request gets 401`);
        }
        return { auth: { mode, ...keys }, warnings };
    }

    const jwksText = decodeSecretValue(secret, SECRET_SIGNING_JWKS);
    const where = `${secretRef} ${SECRET_SIGNING_JWKS}`;
    const signingPublicKeys = jwksText === undefined ? [] : readJwks(jwksText, where, warnings);
    if (jwksText === undefined) warnings.push(`${where} is missing; no token accepted`);
    const annotations = d.metadata?.annotations ?? {};
    return {
        auth: {
            mode,
            signingPublicKeys,
            audience: annotations[TOKEN_AUDIENCE_ANNOTATION] ?? tokenAudience(settings.name),
            issuer: annotations[TOKEN_ISSUER_ANNOTATION] ?? TOKEN_ISSUER,
        },
        warnings,
    };
}

/** The models of {@link MODELS_ANNOTATION}; none (with a warning per bad entry) otherwise. */
export function readModels(d: DeploymentLike): { models: ModelRef[]; warnings: string[] } {
    const text = d.metadata?.annotations?.[MODELS_ANNOTATION];
    if (text === undefined) return { models: [], warnings: [] };
    const { models, problems } = parseModelsAnnotation(text);
    return { models, warnings: problems.map((p) => `Deployment ${objectRef(d)}: ${p}`) };
}

/** Deployment (+ its auth Secret, if found) → the definition the router serves. */
export function translateDeployment(
    d: DeploymentLike,
    secret: SecretLike | undefined,
): Translation {
    const s = readSettings(d);
    if (!s.ok) return s;
    const { auth, warnings } = readAuth(d, s.settings, secret);
    const models = readModels(d);
    return {
        ok: true,
        definition: { name: s.settings.name, settings: s.settings, auth, models: models.models },
        warnings: [...s.warnings, ...warnings, ...models.warnings],
    };
}

function hostForUrl(address: string): string {
    return address.includes(":") ? `[${address}]` : address;
}

/**
 * Ready replicas of one Service from its EndpointSlices: endpoints with `conditions.ready ===
 * true` only (a terminating pod is not ready, so it gets no new request even while it still
 * serves), on the slice port named {@link MODEL_SERVER_PORT_NAME}; one replica per pod across
 * slices (a pod can briefly sit in two slices). Sorted by id so equal sets compare equal.
 */
export function replicasFromSlices(slices: readonly EndpointSliceLike[]): Replica[] {
    const byId = new Map<string, Replica>();
    const ordered = [...slices].sort((a, b) =>
        (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""),
    );
    for (const slice of ordered) {
        const port = slice.ports?.find((p) => p.name === MODEL_SERVER_PORT_NAME)?.port;
        if (typeof port !== "number") continue;
        for (const ep of slice.endpoints ?? []) {
            if (ep.conditions?.ready !== true) continue;
            const address = ep.addresses?.[0];
            if (!address) continue;
            const id = ep.targetRef?.name ?? address;
            if (byId.has(id)) continue;
            byId.set(id, { id, url: `http://${hostForUrl(address)}:${port}` });
        }
    }
    return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** A Deployment that claims a service name another one already owns. */
export interface OwnershipConflict {
    readonly service: string;
    /** `namespace/name` of the Deployment that serves the name. */
    readonly winner: string;
    /** `namespace/name` of the Deployment that is ignored. */
    readonly loser: string;
}

function createdAt(d: DeploymentLike): number {
    const t = d.metadata?.creationTimestamp;
    const ms = t === undefined ? NaN : new Date(t).getTime();
    // Unknown age sorts last: an object with a timestamp has proven it was there first.
    return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

/**
 * Which Deployment serves each service name. Names are global in the router's URL space
 * (`/api/v1/service/<name>/score`) while Deployments are namespaced, so when several claim one
 * name the oldest wins (creationTimestamp, then namespace, then name), and the others are
 * conflicts. The winner never changes because a newer claimant appears.
 */
export function resolveOwners<D extends DeploymentLike>(
    deployments: Iterable<D>,
): { owners: Map<string, D>; conflicts: OwnershipConflict[] } {
    const claims = new Map<string, D[]>();
    for (const d of deployments) {
        const service = serviceNameOf(d);
        if (!service) continue;
        const list = claims.get(service) ?? [];
        list.push(d);
        claims.set(service, list);
    }
    const owners = new Map<string, D>();
    const conflicts: OwnershipConflict[] = [];
    for (const [service, list] of [...claims].sort(([a], [b]) => (a < b ? -1 : 1))) {
        list.sort(
            (a, b) =>
                createdAt(a) - createdAt(b) ||
                (a.metadata?.namespace ?? "").localeCompare(b.metadata?.namespace ?? "") ||
                (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""),
        );
        const [winner, ...losers] = list;
        owners.set(service, winner);
        for (const l of losers) {
            conflicts.push({ service, winner: objectRef(winner), loser: objectRef(l) });
        }
    }
    return { owners, conflicts };
}
