/**
 * The router's model data settings from its environment (router/main.ts lists the variables):
 * where data goes — a blob container reached with the pod's workload identity (the cluster), a
 * connection string (the storage emulator), or a directory — and the layout's first segments.
 * Every problem is reported at once, naming the variable; secrets are never echoed.
 */
import { REDACTED, type Problems } from "../../components/common/validation";
import { MODEL_DATA_CONTAINER, segmentProblem, type ModelDataScope } from "./layout";

export type ModelDataStore =
    | { readonly kind: "directory"; readonly dir: string }
    | { readonly kind: "blob"; readonly accountUrl: string; readonly container: string }
    | {
          readonly kind: "connection-string";
          readonly connectionString: string;
          readonly container: string;
      };

export interface ModelDataConfig {
    readonly store: ModelDataStore;
    readonly scope: ModelDataScope;
    /** @default the collector's (64 MiB) */
    readonly maxQueuedBytes?: number;
    /** @default the collector's (10 s) */
    readonly flushIntervalMs?: number;
    /** File-name part telling router pods apart (the pod name). @default random */
    readonly writerId?: string;
}

/** Layout segments used when none are configured (local runs). */
export const LOCAL_SCOPE: ModelDataScope = Object.freeze({
    subscription: "local",
    resourceGroup: "local",
    workspace: "local",
});

/** Blob container names: 3-63 lowercase letters, digits and single dashes. */
const CONTAINER_PATTERN = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;

const STORE_VARIABLES = [
    "ROUTER_MODEL_DATA_ACCOUNT_URL",
    "ROUTER_MODEL_DATA_CONNECTION_STRING",
    "ROUTER_MODEL_DATA_DIR",
] as const;

function set(env: NodeJS.ProcessEnv, name: string): string | undefined {
    const v = env[name];
    return v === undefined || v === "" ? undefined : v;
}

/** Why `raw` is not a blob endpoint the router may use with a token, or undefined. */
export function accountUrlProblem(raw: string): string | undefined {
    let url: URL;
    try {
        url = new URL(raw);
    } catch {
        return "must be the storage account's blob endpoint, e.g. https://<account>.blob.core.windows.net";
    }
    if (url.protocol !== "https:") return "must be an https:// URL (tokens are only sent over TLS)";
    if (url.search !== "" || url.username !== "" || url.password !== "") {
        return "must not carry a SAS token or credentials: the router authenticates with its workload identity";
    }
    if (url.pathname !== "/" && url.pathname !== "") {
        return "must be the account endpoint without a path (the container is ROUTER_MODEL_DATA_CONTAINER)";
    }
    return undefined;
}

function wholeNumber(
    env: NodeJS.ProcessEnv,
    name: string,
    min: number,
    max: number,
    p: Problems,
): number | undefined {
    const raw = set(env, name);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
        p.add(name, raw, `must be a whole number from ${min} to ${max}`);
        return undefined;
    }
    return n;
}

/**
 * Reads the model data variables; undefined when no store is configured (nothing is collected,
 * whatever the services' `collectModelData`). Problems go to `p`.
 */
export function modelDataConfigFromEnv(
    env: NodeJS.ProcessEnv,
    p: Problems,
): ModelDataConfig | undefined {
    const given = STORE_VARIABLES.filter((v) => set(env, v) !== undefined);
    if (given.length === 0) return undefined;
    if (given.length > 1) {
        p.add(
            given[1],
            given[1] === "ROUTER_MODEL_DATA_CONNECTION_STRING" ? REDACTED : env[given[1]],
            `cannot be combined with ${given[0]}: model data goes to one store`,
        );
    }
    const container = set(env, "ROUTER_MODEL_DATA_CONTAINER") ?? MODEL_DATA_CONTAINER;
    if (!CONTAINER_PATTERN.test(container)) {
        p.add(
            "ROUTER_MODEL_DATA_CONTAINER",
            container,
            "must be a blob container name: 3-63 lowercase letters, digits and single dashes",
        );
    }
    let store: ModelDataStore;
    const kind = given[0];
    if (kind === "ROUTER_MODEL_DATA_ACCOUNT_URL") {
        const accountUrl = env.ROUTER_MODEL_DATA_ACCOUNT_URL as string;
        const problem = accountUrlProblem(accountUrl);
        // A URL with a query string may hold a SAS token: never echo it.
        if (problem) p.add(kind, accountUrl.includes("?") ? REDACTED : accountUrl, problem);
        store = { kind: "blob", accountUrl: accountUrl.replace(/\/+$/, ""), container };
    } else if (kind === "ROUTER_MODEL_DATA_CONNECTION_STRING") {
        const connectionString = env.ROUTER_MODEL_DATA_CONNECTION_STRING as string;
        if (
            !/(^|;)\s*(BlobEndpoint|AccountName|UseDevelopmentStorage)\s*=/i.test(connectionString)
        ) {
            p.add(
                kind,
                REDACTED,
                "must be a storage connection string (AccountName=...;AccountKey=... or UseDevelopmentStorage=true)",
            );
        }
        store = { kind: "connection-string", connectionString, container };
    } else {
        store = { kind: "directory", dir: env.ROUTER_MODEL_DATA_DIR as string };
    }

    const segments = [
        ["ROUTER_MODEL_DATA_SUBSCRIPTION", "subscription"],
        ["ROUTER_MODEL_DATA_RESOURCE_GROUP", "resourceGroup"],
        ["ROUTER_MODEL_DATA_WORKSPACE", "workspace"],
    ] as const;
    const scope: Record<string, string> = {};
    for (const [name, key] of segments) {
        const value = set(env, name);
        if (value === undefined && store.kind !== "directory") {
            // The workspace's data must land where its users look: no guessed segment.
            p.add(
                name,
                undefined,
                `is required with ${kind}: the ${key} segment of the model data path`,
            );
            continue;
        }
        const v = value ?? LOCAL_SCOPE[key];
        const problem = segmentProblem(v);
        if (problem) p.add(name, v, problem);
        scope[key] = v;
    }
    const writerId = set(env, "ROUTER_POD_NAME");
    return {
        store,
        scope: scope as unknown as ModelDataScope,
        maxQueuedBytes: wholeNumber(
            env,
            "ROUTER_MODEL_DATA_MAX_QUEUED_BYTES",
            1024 * 1024,
            Number.MAX_SAFE_INTEGER,
            p,
        ),
        flushIntervalMs: wholeNumber(env, "ROUTER_MODEL_DATA_FLUSH_MS", 100, 3_600_000, p),
        ...(writerId && !segmentProblem(writerId) ? { writerId } : {}),
    };
}
