/**
 * The one vocabulary for a model web service (docs/design.md §3): the v1
 * `AksWebservice.deploy_configuration` fields in camelCase, their defaults and every validation
 * rule of the v1 SDK (aml-v1-spec §1.1–§1.3). Pure: no Pulumi, no I/O. Shared by `AksWebservice`
 * (Pulumi), the router (settings rendered into the cluster) and the local runtime (settings file).
 */
import {
    BOOLEAN_RULE,
    DNS1123_LABEL,
    NAME_RULES,
    NON_NEGATIVE_WHOLE_NUMBER_RULE,
    POSITIVE_WHOLE_NUMBER_RULE,
    Problems,
    REDACTED,
    wholeNumberRule,
} from "../common/validation";
import { DEFAULT_SERVICE_NAMESPACE } from "../cluster/router-rbac";

/** R27: at most 1000 models per deployment (per container). */
export const MAX_MODELS_PER_SERVICE = 1000;

/** v1 `NAMESPACE_REGEX` (S3): a DNS-1123 label. */
export const NAMESPACE_PATTERN = DNS1123_LABEL;

/**
 * Service names: v1 says 3–32 chars of lowercase letters, digits and dashes, starting with a letter.
 * We also require the last character to be a letter or digit, because the name becomes part of
 * Kubernetes object names (DNS-1123 labels cannot end with a dash).
 */
export const SERVICE_NAME_PATTERN = /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/;

/** What a user writes: every field optional except `name`. */
export interface WebserviceSettingsInput {
    /** Service name: 3–32 chars, lowercase letters, digits and dashes, starting with a letter. */
    name: string;
    /** CPU request per replica (cores). @default 0.1 */
    cpuCores?: number;
    /** Memory request per replica (GB). @default 0.5 */
    memoryGb?: number;
    /** GPUs per replica (whole number). @default 0 */
    gpuCores?: number;
    /** CPU limit per replica (cores); must be ≥ cpuCores. @default - no limit */
    cpuCoresLimit?: number;
    /** Memory limit per replica (GB); must be ≥ memoryGb. @default - no limit */
    memoryGbLimit?: number;
    /** Router autoscaling. @default true when numReplicas is not set, else false */
    autoscaleEnabled?: boolean;
    /** @default 1 (only with autoscaleEnabled: true) */
    autoscaleMinReplicas?: number;
    /** @default 10 (only with autoscaleEnabled: true) */
    autoscaleMaxReplicas?: number;
    /** How often the autoscaler decides, in seconds. @default 1 (only with autoscaleEnabled: true) */
    autoscaleRefreshSeconds?: number;
    /** Target utilization in percent (1–100). @default 70 (only with autoscaleEnabled: true) */
    autoscaleTargetUtilization?: number;
    /** Fixed replica count; required when autoscaleEnabled is false. @default - unset (autoscale) */
    numReplicas?: number;
    /** Key auth. @default true unless tokenAuthEnabled is true */
    authEnabled?: boolean;
    /** Token (JWT) auth; exclusive with key auth. @default false */
    tokenAuthEnabled?: boolean;
    /** Primary key. @default - generated */
    primaryKey?: string;
    /** Secondary key. @default - generated */
    secondaryKey?: string;
    /** Scoring timeout in ms (→ 504). @default 60000 */
    scoringTimeoutMs?: number;
    /** Concurrent requests per replica. @default 1 */
    replicaMaxConcurrentRequests?: number;
    /** Maximum time a request waits in the router queue, in ms (→ 503). @default 500 */
    maxRequestWaitTime?: number;
    /** Liveness probe period. @default 10 */
    periodSeconds?: number;
    /** Liveness probe initial delay. @default 310 */
    initialDelaySeconds?: number;
    /** Liveness probe timeout. @default 2 */
    timeoutSeconds?: number;
    /** Probe success threshold. @default 1 */
    successThreshold?: number;
    /** Probe failure threshold. @default 3 */
    failureThreshold?: number;
    /** Model data collection (R4). @default false */
    collectModelData?: boolean;
    /**
     * Fraction of successful scoring requests whose inputs and predictions are collected when
     * collectModelData is on, from 0 (none) to 1 (all). @default 1
     */
    modelDataCollectionSampleRate?: number;
    /** Application Insights (R3). @default false */
    enableAppInsights?: boolean;
    /** Kubernetes namespace of the service. @default "azureml-services" (the namespace the cluster creates for services) */
    namespace?: string;
    /** Free text. @default - none */
    description?: string;
    /** Mutable tags. @default {} */
    tags?: Record<string, string>;
    /** Properties (immutable keys in v1). @default {} */
    properties?: Record<string, string>;
    /** Model paths, only counted and checked here (R27: at most 1000). @default [] */
    models?: readonly string[];
}

/** The settings with every v1 default applied; what the router and the components consume. */
export interface WebserviceSettings {
    readonly name: string;
    readonly cpuCores: number;
    readonly memoryGb: number;
    readonly gpuCores: number;
    readonly cpuCoresLimit?: number;
    readonly memoryGbLimit?: number;
    readonly autoscaleEnabled: boolean;
    readonly autoscaleMinReplicas: number;
    readonly autoscaleMaxReplicas: number;
    readonly autoscaleRefreshSeconds: number;
    readonly autoscaleTargetUtilization: number;
    /** Set only when autoscale is off. */
    readonly numReplicas?: number;
    readonly authEnabled: boolean;
    readonly tokenAuthEnabled: boolean;
    readonly primaryKey?: string;
    readonly secondaryKey?: string;
    readonly scoringTimeoutMs: number;
    readonly replicaMaxConcurrentRequests: number;
    readonly maxRequestWaitTime: number;
    readonly periodSeconds: number;
    readonly initialDelaySeconds: number;
    readonly timeoutSeconds: number;
    readonly successThreshold: number;
    readonly failureThreshold: number;
    readonly collectModelData: boolean;
    readonly modelDataCollectionSampleRate: number;
    readonly enableAppInsights: boolean;
    readonly namespace: string;
    readonly description?: string;
    readonly tags: Readonly<Record<string, string>>;
    readonly properties: Readonly<Record<string, string>>;
    readonly models: readonly string[];
}

/**
 * v1 defaults (aml-v1-spec §1.1). Where the sources conflict we follow the SDK source (S1) over the
 * docs table (S6), because existing v1 configs were validated and applied by that code:
 * - autoscaleEnabled: on when numReplicas is unset (S1), not "on only when numReplicas = 0" (S6);
 * - gpuCores: 0 (S1), not 1 (S6) — a CPU model must not ask for a GPU by default;
 * - timeoutSeconds: 2 (S1 docstring and S6), not the deserializer fallback of 1.
 */
export const WEBSERVICE_DEFAULTS = {
    cpuCores: 0.1,
    memoryGb: 0.5,
    gpuCores: 0,
    autoscaleMinReplicas: 1,
    autoscaleMaxReplicas: 10,
    autoscaleRefreshSeconds: 1,
    autoscaleTargetUtilization: 70,
    scoringTimeoutMs: 60000,
    replicaMaxConcurrentRequests: 1,
    maxRequestWaitTime: 500,
    periodSeconds: 10,
    initialDelaySeconds: 310,
    timeoutSeconds: 2,
    successThreshold: 1,
    failureThreshold: 3,
    collectModelData: false,
    modelDataCollectionSampleRate: 1,
    enableAppInsights: false,
    namespace: DEFAULT_SERVICE_NAMESPACE,
} as const;

const POSITIVE_NUMBERS = ["cpuCores", "memoryGb", "cpuCoresLimit", "memoryGbLimit"] as const;

/**
 * Node fires a timer of 2^31 ms or more after 1 ms, so no duration the router arms may reach it
 * (issue 15: `scoringTimeoutMs: 2147483648` passed validation, then every request got 504 at once).
 * The router clamps to this again where it arms timers (router/timers.ts).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Upper bounds of every duration and count in the vocabulary: each is honoured by the router (as
 * a timer, a queue size, a process count) and by Kubernetes (int32 probe fields). Above them a
 * value is a typo, not a configuration.
 */
export const SETTING_LIMITS = {
    /**
     * 300 s: the longest request Azure ML allows on Kubernetes (request_timeout_ms max 300 s; the
     * v1 default is 60 s); the router also gives a client 300 s to send a request.
     */
    scoringTimeoutMs: 300_000,
    /** A queued request holds a client connection: never longer than the longest request (300 s). */
    maxRequestWaitTime: 300_000,
    /** Knative's `container-concurrency-max-limit`; the queue bound grows with it. */
    replicaMaxConcurrentRequests: 1000,
    /** Replica counts: the router starts and tracks each replica (1000 = R27's per-service bound scale). */
    numReplicas: 1000,
    autoscaleMinReplicas: 1000,
    autoscaleMaxReplicas: 1000,
    /** The autoscaler decides about every second (R33); an hour between decisions is no autoscaling. */
    autoscaleRefreshSeconds: 3600,
    /** Probe knobs: an hour between or for probes, a day for the model to load (v1 default 310 s). */
    periodSeconds: 3600,
    timeoutSeconds: 3600,
    initialDelaySeconds: 86_400,
    successThreshold: 1000,
    failureThreshold: 1000,
    /** Whole GPUs per replica: the largest Azure GPU VMs have 8. */
    gpuCores: 8,
    /** Per replica: the largest Azure VMs have under 1,000 vCPUs and 32 TB of memory. */
    cpuCores: 1024,
    cpuCoresLimit: 1024,
    memoryGb: 32_768,
    memoryGbLimit: 32_768,
} as const;

/**
 * Keys: at least 32 characters. At 4 bits per character (hex, the weakest common encoding of a
 * random key) that is 128 bits, out of reach of online guessing; generated keys have 43 (32 random
 * bytes, base64url). At least 8 different characters rejects "aaaa…" and "abab…" patterns while a
 * random 32-character hex key has fewer than 8 with probability below 1e-7.
 */
export const MIN_KEY_LENGTH = 32;
export const MAX_KEY_LENGTH = 256;
export const MIN_KEY_DISTINCT_CHARACTERS = 8;
const POSITIVE_INTEGERS = [
    "periodSeconds",
    "initialDelaySeconds",
    "timeoutSeconds",
    "successThreshold",
    "failureThreshold",
    "scoringTimeoutMs",
    "replicaMaxConcurrentRequests",
    "maxRequestWaitTime",
    "numReplicas",
] as const;
const AUTOSCALE_KNOBS = [
    "autoscaleMinReplicas",
    "autoscaleMaxReplicas",
    "autoscaleRefreshSeconds",
    "autoscaleTargetUtilization",
] as const;
const BOOLEANS = [
    "autoscaleEnabled",
    "authEnabled",
    "tokenAuthEnabled",
    "collectModelData",
    "enableAppInsights",
] as const;
const STRINGS = ["description"] as const;
const KEYS = ["primaryKey", "secondaryKey"] as const;
const MAPS = ["tags", "properties"] as const;

/** Every field the vocabulary knows; anything else is rejected (a typo must not pass silently). */
export const WEBSERVICE_SETTING_FIELDS: readonly string[] = [
    "name",
    ...POSITIVE_NUMBERS,
    "gpuCores",
    ...POSITIVE_INTEGERS,
    ...AUTOSCALE_KNOBS,
    ...BOOLEANS,
    ...STRINGS,
    ...KEYS,
    ...MAPS,
    "namespace",
    "models",
    "modelDataCollectionSampleRate",
];

/** Keys go into an `Authorization: Bearer` header: printable ASCII without spaces. */
const KEY_PATTERN = /^[\x21-\x7e]+$/;

/**
 * Why `key` is not acceptable as a service key, or undefined when it is. Never includes the key:
 * callers report the field with a redacted value.
 */
export function keyProblem(key: unknown): string | undefined {
    if (
        typeof key !== "string" ||
        key.length < MIN_KEY_LENGTH ||
        key.length > MAX_KEY_LENGTH ||
        !KEY_PATTERN.test(key)
    ) {
        return `must be ${MIN_KEY_LENGTH}-${MAX_KEY_LENGTH} printable ASCII characters without spaces`;
    }
    if (new Set(key).size < MIN_KEY_DISTINCT_CHARACTERS) {
        return `must contain at least ${MIN_KEY_DISTINCT_CHARACTERS} different characters (use a random key, e.g. generateServiceKey())`;
    }
    return undefined;
}

/** Problems of a primary/secondary key pair (R36): each valid, and the two different. */
export function keyPairProblems(
    primaryKey: unknown,
    secondaryKey: unknown,
): Array<{ field: "primaryKey" | "secondaryKey"; rule: string }> {
    const out: Array<{ field: "primaryKey" | "secondaryKey"; rule: string }> = [];
    for (const [field, v] of [
        ["primaryKey", primaryKey],
        ["secondaryKey", secondaryKey],
    ] as const) {
        if (v === undefined) continue;
        const rule = keyProblem(v);
        if (rule) out.push({ field, rule });
    }
    if (primaryKey !== undefined && primaryKey === secondaryKey) {
        // Two keys exist so one can be rotated while clients use the other (R36).
        out.push({ field: "secondaryKey", rule: "must differ from primaryKey" });
    }
    return out;
}

function upperBound(field: string): number | undefined {
    return (SETTING_LIMITS as Record<string, number>)[field];
}

function isNumber(v: unknown): v is number {
    return typeof v === "number" && Number.isFinite(v);
}

/**
 * Validates v1 web-service settings and returns them with the v1 defaults applied.
 * Throws one {@link ValidationError} listing every broken rule (field, value, rule).
 */
export function validateWebserviceSettings(settings: WebserviceSettingsInput): WebserviceSettings {
    const p = new Problems();
    if (settings === null || typeof settings !== "object" || Array.isArray(settings)) {
        p.add("settings", settings, "must be an object of web service settings");
        p.throwIfAny("web service settings");
    }
    const s = settings as unknown as Record<string, unknown>;

    for (const key of Object.keys(s)) {
        if (!WEBSERVICE_SETTING_FIELDS.includes(key) && s[key] !== undefined) {
            p.add(
                key,
                s[key],
                `is not a web service setting; allowed: ${WEBSERVICE_SETTING_FIELDS.join(", ")}`,
            );
        }
    }

    if (typeof s.name !== "string" || !SERVICE_NAME_PATTERN.test(s.name)) {
        p.add(
            "name",
            s.name,
            "must be 3-32 characters of lowercase letters, digits and dashes, start with a letter and end with a letter or digit",
        );
    }

    // Rules 1–2: requests > 0, limits ≥ requests (S1 validate_configuration).
    for (const f of POSITIVE_NUMBERS) {
        const v = s[f];
        if (v !== undefined && (!isNumber(v) || v <= 0)) p.add(f, v, "must be a number > 0");
        else if (isNumber(v) && v > SETTING_LIMITS[f]) {
            p.add(f, v, `must be <= ${SETTING_LIMITS[f]}`);
        }
    }
    const cpuCores = isNumber(s.cpuCores) ? s.cpuCores : WEBSERVICE_DEFAULTS.cpuCores;
    const memoryGb = isNumber(s.memoryGb) ? s.memoryGb : WEBSERVICE_DEFAULTS.memoryGb;
    if (isNumber(s.cpuCoresLimit) && s.cpuCoresLimit > 0 && s.cpuCoresLimit < cpuCores) {
        p.add("cpuCoresLimit", s.cpuCoresLimit, `must be >= cpuCores (${cpuCores})`);
    }
    if (isNumber(s.memoryGbLimit) && s.memoryGbLimit > 0 && s.memoryGbLimit < memoryGb) {
        p.add("memoryGbLimit", s.memoryGbLimit, `must be >= memoryGb (${memoryGb})`);
    }

    // Rule 3: whole GPUs ≥ 0 (pods cannot share GPUs).
    if (s.gpuCores !== undefined && (!Number.isInteger(s.gpuCores) || (s.gpuCores as number) < 0)) {
        p.add("gpuCores", s.gpuCores, NON_NEGATIVE_WHOLE_NUMBER_RULE);
    } else if (
        (s.gpuCores as number | undefined) !== undefined &&
        (s.gpuCores as number) > SETTING_LIMITS.gpuCores
    ) {
        p.add("gpuCores", s.gpuCores, `must be <= ${SETTING_LIMITS.gpuCores}`);
    }

    // Rules 4 and 6: probe, queue and timeout knobs are positive integers.
    for (const f of POSITIVE_INTEGERS) {
        const v = s[f];
        if (v !== undefined && (!Number.isInteger(v) || (v as number) <= 0)) {
            p.add(f, v, POSITIVE_WHOLE_NUMBER_RULE);
        } else {
            const max = upperBound(f);
            if (max !== undefined && (v as number) > max) {
                p.add(f, v, wholeNumberRule(1, max));
            }
        }
    }

    // Rule 5: namespace is a DNS-1123 label.
    if (
        s.namespace !== undefined &&
        (typeof s.namespace !== "string" || !NAMESPACE_PATTERN.test(s.namespace))
    ) {
        p.add("namespace", s.namespace, NAME_RULES.namespace.rule);
    }

    for (const f of BOOLEANS) {
        if (s[f] !== undefined && typeof s[f] !== "boolean") p.add(f, s[f], BOOLEAN_RULE);
    }
    for (const f of STRINGS) {
        if (s[f] !== undefined && typeof s[f] !== "string") p.add(f, s[f], "must be a string");
    }
    const rate = s.modelDataCollectionSampleRate;
    if (rate !== undefined && (!isNumber(rate) || rate < 0 || rate > 1)) {
        p.add(
            "modelDataCollectionSampleRate",
            rate,
            "must be a number from 0 to 1 (the fraction of scoring requests collected; 1 = all)",
        );
    }
    // Never echo a key, even a malformed one.
    for (const k of keyPairProblems(s.primaryKey, s.secondaryKey)) p.add(k.field, REDACTED, k.rule);
    for (const f of MAPS) {
        const v = s[f];
        if (v === undefined) continue;
        if (v === null || typeof v !== "object" || Array.isArray(v)) {
            p.add(f, v, "must be a map of string keys to string values");
        } else {
            for (const [k, val] of Object.entries(v)) {
                if (typeof val !== "string") p.add(`${f}.${k}`, val, "must be a string");
            }
        }
    }

    // Rules 7–8: autoscale knobs need autoscaleEnabled: true explicitly, and exclude numReplicas.
    if (s.autoscaleEnabled === true) {
        if (s.numReplicas !== undefined) {
            p.add("numReplicas", s.numReplicas, "cannot be set when autoscaleEnabled is true");
        }
        for (const f of AUTOSCALE_KNOBS) {
            const v = s[f];
            if (v !== undefined && (!Number.isInteger(v) || (v as number) <= 0)) {
                p.add(f, v, POSITIVE_WHOLE_NUMBER_RULE);
            } else {
                const max = upperBound(f);
                if (max !== undefined && (v as number) > max) {
                    p.add(f, v, wholeNumberRule(1, max));
                }
            }
        }
        const t = s.autoscaleTargetUtilization;
        if (Number.isInteger(t) && (t as number) > 100) {
            p.add("autoscaleTargetUtilization", t, "is a percentage and must be <= 100");
        }
        const min = s.autoscaleMinReplicas ?? WEBSERVICE_DEFAULTS.autoscaleMinReplicas;
        const max = s.autoscaleMaxReplicas ?? WEBSERVICE_DEFAULTS.autoscaleMaxReplicas;
        if (Number.isInteger(min) && Number.isInteger(max) && (min as number) > (max as number)) {
            p.add("autoscaleMinReplicas", min, `must be <= autoscaleMaxReplicas (${String(max)})`);
        }
    } else {
        if (s.autoscaleEnabled === false && s.numReplicas === undefined) {
            p.add("numReplicas", undefined, "is required when autoscaleEnabled is false");
        }
        for (const f of AUTOSCALE_KNOBS) {
            if (s[f] !== undefined) p.add(f, s[f], "requires autoscaleEnabled: true");
        }
    }

    // Rule 9: key auth and token auth are exclusive (R35).
    if (s.authEnabled === true && s.tokenAuthEnabled === true) {
        p.add(
            "tokenAuthEnabled",
            true,
            "cannot be true while authEnabled is true (key and token auth are exclusive)",
        );
    }

    // R27: at most 1000 models.
    if (s.models !== undefined) {
        if (!Array.isArray(s.models)) {
            p.add("models", s.models, "must be a list of model paths");
        } else {
            if (s.models.length > MAX_MODELS_PER_SERVICE) {
                p.add(
                    "models",
                    `${s.models.length} models`,
                    `must be at most ${MAX_MODELS_PER_SERVICE} per service (R27)`,
                );
            }
            s.models.forEach((m, i) => {
                if (typeof m !== "string" || m.length === 0)
                    p.add(`models[${i}]`, m, "must be a non-empty path");
            });
        }
    }

    p.throwIfAny("web service settings");

    const autoscaleEnabled =
        (s.autoscaleEnabled as boolean | undefined) ?? (s.numReplicas === undefined ? true : false);
    const tokenAuthEnabled = (s.tokenAuthEnabled as boolean | undefined) ?? false;
    const d = WEBSERVICE_DEFAULTS;
    const pick = <T>(key: keyof WebserviceSettingsInput, fallback: T): T =>
        (s[key] as T | undefined) ?? fallback;
    return {
        name: s.name as string,
        cpuCores,
        memoryGb,
        gpuCores: pick("gpuCores", d.gpuCores),
        cpuCoresLimit: s.cpuCoresLimit as number | undefined,
        memoryGbLimit: s.memoryGbLimit as number | undefined,
        autoscaleEnabled,
        autoscaleMinReplicas: pick("autoscaleMinReplicas", d.autoscaleMinReplicas),
        autoscaleMaxReplicas: pick("autoscaleMaxReplicas", d.autoscaleMaxReplicas),
        autoscaleRefreshSeconds: pick("autoscaleRefreshSeconds", d.autoscaleRefreshSeconds),
        autoscaleTargetUtilization: pick(
            "autoscaleTargetUtilization",
            d.autoscaleTargetUtilization,
        ),
        numReplicas: autoscaleEnabled ? undefined : (s.numReplicas as number),
        // R35: key auth is on by default, unless token auth was chosen instead.
        authEnabled: pick("authEnabled", !tokenAuthEnabled),
        tokenAuthEnabled,
        primaryKey: s.primaryKey as string | undefined,
        secondaryKey: s.secondaryKey as string | undefined,
        scoringTimeoutMs: pick("scoringTimeoutMs", d.scoringTimeoutMs),
        replicaMaxConcurrentRequests: pick(
            "replicaMaxConcurrentRequests",
            d.replicaMaxConcurrentRequests,
        ),
        maxRequestWaitTime: pick("maxRequestWaitTime", d.maxRequestWaitTime),
        periodSeconds: pick("periodSeconds", d.periodSeconds),
        initialDelaySeconds: pick("initialDelaySeconds", d.initialDelaySeconds),
        timeoutSeconds: pick("timeoutSeconds", d.timeoutSeconds),
        successThreshold: pick("successThreshold", d.successThreshold),
        failureThreshold: pick("failureThreshold", d.failureThreshold),
        collectModelData: pick("collectModelData", d.collectModelData),
        modelDataCollectionSampleRate: pick(
            "modelDataCollectionSampleRate",
            d.modelDataCollectionSampleRate,
        ),
        enableAppInsights: pick("enableAppInsights", d.enableAppInsights),
        namespace: pick("namespace", d.namespace),
        description: s.description as string | undefined,
        tags: { ...((s.tags as Record<string, string> | undefined) ?? {}) },
        properties: { ...((s.properties as Record<string, string> | undefined) ?? {}) },
        models: [...((s.models as string[] | undefined) ?? [])],
    };
}

/** How a service authenticates callers, derived from the settings (R35–R37). */
export function authMode(
    settings: Pick<WebserviceSettings, "authEnabled" | "tokenAuthEnabled">,
): "key" | "token" | "none" {
    if (settings.tokenAuthEnabled) return "token";
    return settings.authEnabled ? "key" : "none";
}

/** Inputs of the R34 sizing formula. */
export interface RequiredReplicasInput {
    /** Requests per second the service must sustain. */
    targetRps: number;
    /** Seconds one request takes on a replica. */
    requestSeconds: number;
    /** Target utilization as a fraction in (0, 1], e.g. 0.7 for 70%. */
    targetUtilization: number;
    /** Concurrent requests one replica handles (replicaMaxConcurrentRequests). */
    maxConcurrentPerReplica: number;
}

/**
 * R34: `concurrentRequests = targetRps * requestSeconds / targetUtilization`;
 * `replicas = ceil(concurrentRequests / maxConcurrentPerReplica)`.
 * Example: 20 rps, 10 s, 0.7, 1 → 286.
 */
export function requiredReplicas(input: RequiredReplicasInput): number {
    const p = new Problems();
    const i = (input ?? {}) as unknown as Record<string, unknown>;
    if (!isNumber(i.targetRps) || i.targetRps <= 0)
        p.add("targetRps", i.targetRps, "must be a number > 0");
    if (!isNumber(i.requestSeconds) || i.requestSeconds <= 0) {
        p.add("requestSeconds", i.requestSeconds, "must be a number > 0");
    }
    if (!isNumber(i.targetUtilization) || i.targetUtilization <= 0 || i.targetUtilization > 1) {
        p.add(
            "targetUtilization",
            i.targetUtilization,
            "must be a fraction in (0, 1], e.g. 0.7 for 70%",
        );
    }
    if (!Number.isInteger(i.maxConcurrentPerReplica) || (i.maxConcurrentPerReplica as number) < 1) {
        p.add("maxConcurrentPerReplica", i.maxConcurrentPerReplica, POSITIVE_WHOLE_NUMBER_RULE);
    }
    p.throwIfAny("requiredReplicas input");
    const concurrent = (input.targetRps * input.requestSeconds) / input.targetUtilization;
    // Round away float noise first (7 * 1 / 0.7 is 10.000000000000002, which must give 10).
    const replicas = Math.round((concurrent / input.maxConcurrentPerReplica) * 1e9) / 1e9;
    return Math.ceil(replicas);
}
