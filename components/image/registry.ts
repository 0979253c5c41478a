/**
 * OCI / Docker registry lookups (R14): does `<registry>/<repository>:<tag>` exist, and what is its
 * manifest digest? One `HEAD /v2/<repository>/manifests/<tag>` per registry, with the auth a
 * registry asks for:
 *
 * - anonymous;
 * - Basic (`WWW-Authenticate: Basic`, e.g. distribution with htpasswd);
 * - the Docker token flow (`WWW-Authenticate: Bearer realm=...,service=...,scope=...`): GET the
 *   realm with Basic credentials (or none) for a bearer token. For ACR with a Microsoft Entra
 *   refresh token (username `00000000-0000-0000-0000-000000000000`) the token is fetched with
 *   ACR's documented `POST <realm>` `grant_type=refresh_token` exchange instead.
 *
 * Scheme: http for loopback (`localhost`, `127.x`, `::1`), https otherwise; a `http://` or
 * `https://` prefix on the server, or `protocol`, overrides it. Error messages name the registry,
 * repository and HTTP status, never the password or a token.
 */

import { createHash } from "node:crypto";
import { knownValue, Problems, REDACTED, requiredRule } from "../common/validation";

/** Timeout of each registry request when none is given, in milliseconds. */
export const DEFAULT_LOOKUP_TIMEOUT_MS = 15000;

/** Accept header: Docker v2 manifest + manifest list, OCI manifest + index. Without the Docker v2
 * type, distribution answers with a schema1 manifest and a different digest (local-infra §2). */
export const MANIFEST_MEDIA_TYPES = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
] as const;

/** Username ACR expects with a Microsoft Entra (AAD) refresh token as password. */
export const ACR_REFRESH_TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000";

/** A registry to look in, with optional credentials. */
export interface RegistryEndpoint {
    /** Login server: `myacr.azurecr.io`, `127.0.0.1:5000`, optionally `http://` / `https://`. */
    readonly server: string;
    readonly username?: string;
    readonly password?: string;
    /** Overrides the scheme chosen from the host. */
    readonly protocol?: "http" | "https";
}

export interface LookupOptions {
    /** Per-request timeout. @default 15000 */
    readonly timeoutMs?: number;
}

/** What a HEAD on a manifest said. */
export interface ManifestLookup {
    readonly found: boolean;
    /** `sha256:<hex>` from `Docker-Content-Digest`, when found. */
    readonly digest?: string;
    /** Manifest media type, when found. */
    readonly mediaType?: string;
    /** Registry host (no scheme), as used in image references. */
    readonly registry: string;
    readonly repository: string;
    readonly reference: string;
}

export type RegistryErrorCode =
    | "invalid" // bad server / repository / tag
    | "network" // DNS, connection refused/reset, TLS
    | "timeout"
    | "auth" // missing or rejected credentials
    | "http" // unexpected status
    | "protocol"; // a response we cannot use

/** A lookup failed for a reason other than "not there". */
export class RegistryError extends Error {
    constructor(
        readonly code: RegistryErrorCode,
        readonly registry: string,
        message: string,
        readonly status?: number,
    ) {
        super(message);
        this.name = "RegistryError";
    }
}

/** A parsed registry server. */
export interface RegistryAddress {
    /** `host[:port]` as it appears in image references. */
    readonly host: string;
    readonly protocol: "http" | "https";
    /** `<protocol>://<host>` */
    readonly baseUrl: string;
}

const HOST_RE =
    /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::(\d{1,5}))?$/;

/** Why `server` is not a usable registry server, or undefined when it is. */
export function registryServerProblem(server: unknown): string | undefined {
    if (typeof server !== "string" || server.trim() === "") {
        return "must be a registry host such as myacr.azurecr.io or 127.0.0.1:5000";
    }
    const host = server.trim().replace(/^https?:\/\//i, "");
    const m = HOST_RE.exec(host);
    if (!m) {
        return "must be host[:port] (optionally with http:// or https://), without a path";
    }
    if (m[1] !== undefined && (Number(m[1]) < 1 || Number(m[1]) > 65535)) {
        return "has a port outside 1-65535";
    }
    return undefined;
}

/**
 * Registry credentials: a non-empty username and a string password (values checked when known,
 * never echoed), given together (presence of the values as passed).
 */
export function checkRegistryCredentials(
    p: Problems,
    userField: string,
    passwordField: string,
    username: unknown,
    password: unknown,
): void {
    const user = knownValue<unknown>(username);
    const pass = knownValue<unknown>(password);
    if (user !== undefined && (typeof user !== "string" || user === "")) {
        p.add(userField, user, "must be a non-empty string");
    }
    if (pass !== undefined && typeof pass !== "string") {
        p.add(passwordField, REDACTED, "must be a string");
    }
    if (username !== undefined && password === undefined) {
        p.add(passwordField, undefined, requiredRule(`when ${userField} is set`));
    }
    if (password !== undefined && username === undefined) {
        p.add(userField, undefined, requiredRule(`when ${passwordField} is set`));
    }
}

/** `lookupTimeoutMs`: a whole number of milliseconds from 100 to 600000; the default when unset. */
export function checkLookupTimeout(p: Problems, value: number | undefined): number {
    const timeout = value ?? DEFAULT_LOOKUP_TIMEOUT_MS;
    if (!Number.isInteger(timeout) || timeout < 100 || timeout > 600000) {
        p.add("lookupTimeoutMs", value, "must be an integer from 100 to 600000");
    }
    return timeout;
}

/** True for `localhost`, `127.0.0.0/8` and `::1`: registries that are reached over plain http. */
export function isLoopbackHost(host: string): boolean {
    const h = host
        .replace(/:\d+$/, "")
        .replace(/^\[|\]$/g, "")
        .toLowerCase();
    return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Parses a server string; throws {@link RegistryError} `invalid` when it is not usable. */
export function parseRegistryServer(server: string, protocol?: "http" | "https"): RegistryAddress {
    const problem = registryServerProblem(server);
    if (problem) {
        throw new RegistryError(
            "invalid",
            String(server),
            `Registry server ${JSON.stringify(server)} ${problem}`,
        );
    }
    const trimmed = server.trim();
    const scheme = /^https?:\/\//i.exec(trimmed)?.[0].slice(0, -3).toLowerCase() as
        "http" | "https" | undefined;
    const host = trimmed.replace(/^https?:\/\//i, "").toLowerCase();
    const proto = protocol ?? scheme ?? (isLoopbackHost(host) ? "http" : "https");
    return { host, protocol: proto, baseUrl: `${proto}://${host}` };
}

const REPOSITORY_RE =
    /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** One `WWW-Authenticate` challenge. */
export interface AuthChallenge {
    readonly scheme: string;
    readonly params: Readonly<Record<string, string>>;
}

/** Parses `WWW-Authenticate` (`Bearer realm="...",service="...",scope="..."`, `Basic realm=...`). */
export function parseAuthenticateHeader(header: string): AuthChallenge[] {
    const out: { scheme: string; params: Record<string, string> }[] = [];
    const s = header;
    let i = 0;
    const isTokenChar = (c: string) => /[A-Za-z0-9!#$%&'*+.^_`|~-]/.test(c);
    while (i < s.length) {
        while (i < s.length && /[\s,]/.test(s[i])) i++;
        const start = i;
        while (i < s.length && isTokenChar(s[i])) i++;
        if (i === start) {
            i++; // skip a stray character
            continue;
        }
        const token = s.slice(start, i);
        let j = i;
        while (j < s.length && s[j] === " ") j++;
        if (s[j] !== "=") {
            out.push({ scheme: token.toLowerCase(), params: {} });
            continue;
        }
        i = j + 1;
        while (i < s.length && s[i] === " ") i++;
        let value = "";
        if (s[i] === '"') {
            i++;
            while (i < s.length && s[i] !== '"') {
                if (s[i] === "\\" && i + 1 < s.length) i++;
                value += s[i++];
            }
            i++;
        } else {
            const vs = i;
            while (i < s.length && s[i] !== ",") i++;
            value = s.slice(vs, i).trim();
        }
        if (out.length === 0) out.push({ scheme: "", params: {} });
        out[out.length - 1].params[token.toLowerCase()] = value;
    }
    return out;
}

interface TokenCacheEntry {
    readonly token: string;
    readonly expires: number;
}

/**
 * Looks manifests up. Keeps bearer tokens per (realm, service, scope, user) for their lifetime, so
 * several lookups against one registry fetch one token.
 */
export class RegistryClient {
    private readonly tokens = new Map<string, TokenCacheEntry>();
    private readonly timeoutMs: number;

    constructor(options: LookupOptions = {}) {
        this.timeoutMs = options.timeoutMs ?? DEFAULT_LOOKUP_TIMEOUT_MS;
    }

    /** HEADs `/v2/<repository>/manifests/<reference>`; 404 → `{ found: false }`. */
    async lookupManifest(
        endpoint: RegistryEndpoint,
        repository: string,
        reference: string,
    ): Promise<ManifestLookup> {
        const addr = parseRegistryServer(endpoint.server, endpoint.protocol);
        if (!REPOSITORY_RE.test(repository) || repository.length > 255) {
            throw new RegistryError(
                "invalid",
                addr.host,
                `Invalid repository name ${JSON.stringify(repository)}`,
            );
        }
        if (!TAG_RE.test(reference) && !DIGEST_RE.test(reference)) {
            throw new RegistryError(
                "invalid",
                addr.host,
                `Invalid tag or digest ${JSON.stringify(reference)}`,
            );
        }
        const what = `${addr.host}/${repository}:${reference}`;
        const url = `${addr.baseUrl}/v2/${repository}/manifests/${encodeURIComponent(reference)}`;
        const scope = `repository:${repository}:pull`;
        const secrets = [endpoint.password].filter((s): s is string => !!s);

        let res = await this.request(
            addr,
            url,
            { method: "HEAD", headers: acceptHeaders() },
            what,
            secrets,
        );
        if (res.status === 401) {
            const challenges = parseAuthenticateHeader(res.headers.get("www-authenticate") ?? "");
            const bearer = challenges.find((c) => c.scheme === "bearer");
            const basic = challenges.find((c) => c.scheme === "basic");
            let authorization: string;
            if (bearer) {
                const token = await this.bearerToken(addr, endpoint, bearer, scope, what, secrets);
                secrets.push(token);
                authorization = `Bearer ${token}`;
            } else if (basic || challenges.length === 0) {
                if (!endpoint.username || endpoint.password === undefined) {
                    throw new RegistryError(
                        "auth",
                        addr.host,
                        `Registry ${addr.host} requires credentials to read ${what} (HTTP 401); ` +
                            `set a username and password`,
                        401,
                    );
                }
                authorization = basicAuth(endpoint.username, endpoint.password);
            } else {
                throw new RegistryError(
                    "auth",
                    addr.host,
                    `Registry ${addr.host} asks for an unsupported auth scheme "${challenges[0].scheme}" for ${what}`,
                    401,
                );
            }
            res = await this.request(
                addr,
                url,
                { method: "HEAD", headers: { ...acceptHeaders(), authorization } },
                what,
                secrets,
            );
            if (res.status === 401 || res.status === 403) {
                throw new RegistryError(
                    "auth",
                    addr.host,
                    `Registry ${addr.host} rejected the credentials${endpoint.username ? ` of user "${endpoint.username}"` : ""} ` +
                        `for ${what} (HTTP ${res.status})`,
                    res.status,
                );
            }
        }
        if (res.status === 404) {
            return { found: false, registry: addr.host, repository, reference };
        }
        if (res.status === 403) {
            throw new RegistryError(
                "auth",
                addr.host,
                `Registry ${addr.host} denied access to ${what} (HTTP 403)`,
                403,
            );
        }
        if (res.status !== 200) {
            throw new RegistryError(
                "http",
                addr.host,
                `Registry ${addr.host} answered HTTP ${res.status} for ${what}`,
                res.status,
            );
        }
        const digest = res.headers.get("docker-content-digest") ?? undefined;
        if (!digest || !DIGEST_RE.test(digest)) {
            throw new RegistryError(
                "protocol",
                addr.host,
                `Registry ${addr.host} found ${what} but sent no valid Docker-Content-Digest header`,
                res.status,
            );
        }
        const mediaType = res.headers.get("content-type")?.split(";")[0].trim();
        return {
            found: true,
            digest,
            ...(mediaType ? { mediaType } : {}),
            registry: addr.host,
            repository,
            reference,
        };
    }

    private async bearerToken(
        addr: RegistryAddress,
        endpoint: RegistryEndpoint,
        challenge: AuthChallenge,
        defaultScope: string,
        what: string,
        secrets: string[],
    ): Promise<string> {
        const realm = challenge.params.realm;
        if (!realm || !/^https?:\/\//i.test(realm)) {
            throw new RegistryError(
                "protocol",
                addr.host,
                `Registry ${addr.host} sent a Bearer challenge without a usable realm for ${what}`,
                401,
            );
        }
        const service = challenge.params.service;
        const scope = challenge.params.scope || defaultScope;
        // Keyed by a digest of the credentials too: other credentials must not reuse a token.
        const credential = createHash("sha256")
            .update(`${endpoint.username ?? ""}\0${endpoint.password ?? ""}`)
            .digest("hex");
        const key = JSON.stringify([realm, service, scope, credential]);
        const cached = this.tokens.get(key);
        if (cached && cached.expires > Date.now()) return cached.token;

        const user = endpoint.username;
        const password = endpoint.password;
        let res: Response;
        if (user === ACR_REFRESH_TOKEN_USERNAME && password) {
            // ACR + Microsoft Entra: exchange the refresh token for an access token.
            const body = new URLSearchParams({
                grant_type: "refresh_token",
                refresh_token: password,
                scope,
            });
            if (service) body.set("service", service);
            res = await this.request(
                addr,
                realm,
                {
                    method: "POST",
                    headers: { "content-type": "application/x-www-form-urlencoded" },
                    body: body.toString(),
                },
                `the token service of ${addr.host}`,
                secrets,
            );
        } else {
            const u = new URL(realm);
            if (service) u.searchParams.set("service", service);
            u.searchParams.set("scope", scope);
            const headers: Record<string, string> = {};
            if (user && password !== undefined) headers.authorization = basicAuth(user, password);
            res = await this.request(
                addr,
                u.toString(),
                { method: "GET", headers },
                `the token service of ${addr.host}`,
                secrets,
            );
        }
        if (res.status === 401 || res.status === 403) {
            throw new RegistryError(
                "auth",
                addr.host,
                `The token service of ${addr.host} rejected the ${user ? `credentials of user "${user}"` : "anonymous request"} ` +
                    `for ${what} (HTTP ${res.status})${await errorDetail(res, secrets)}`,
                res.status,
            );
        }
        if (res.status !== 200) {
            throw new RegistryError(
                "http",
                addr.host,
                `The token service of ${addr.host} answered HTTP ${res.status} for ${what}${await errorDetail(res, secrets)}`,
                res.status,
            );
        }
        let json: { token?: unknown; access_token?: unknown; expires_in?: unknown };
        try {
            json = (await res.json()) as typeof json;
        } catch {
            throw new RegistryError(
                "protocol",
                addr.host,
                `The token service of ${addr.host} did not return JSON for ${what}`,
            );
        }
        const token = typeof json.token === "string" ? json.token : json.access_token;
        if (typeof token !== "string" || token === "") {
            throw new RegistryError(
                "protocol",
                addr.host,
                `The token service of ${addr.host} returned no token for ${what}`,
            );
        }
        const ttl =
            typeof json.expires_in === "number" && json.expires_in > 0 ? json.expires_in : 60;
        // Renew 30 s early; never cache for less than 0.
        this.tokens.set(key, { token, expires: Date.now() + Math.max(0, ttl - 30) * 1000 });
        return token;
    }

    private async request(
        addr: RegistryAddress,
        url: string,
        init: RequestInit,
        what: string,
        secrets: readonly string[],
    ): Promise<Response> {
        try {
            return await fetch(url, {
                ...init,
                redirect: "follow",
                signal: AbortSignal.timeout(this.timeoutMs),
            });
        } catch (e) {
            throw networkError(addr, url, e, what, this.timeoutMs, secrets);
        }
    }
}

function acceptHeaders(): Record<string, string> {
    return { accept: MANIFEST_MEDIA_TYPES.join(", ") };
}

function basicAuth(user: string, password: string): string {
    return `Basic ${Buffer.from(`${user}:${password}`, "utf8").toString("base64")}`;
}

/** `: <registry error code/message>` from a JSON error body, secrets removed, ≤ 200 chars. */
async function errorDetail(res: Response, secrets: readonly string[]): Promise<string> {
    let text: string;
    try {
        text = await res.text();
    } catch {
        return "";
    }
    let detail = "";
    try {
        const j = JSON.parse(text) as {
            errors?: { code?: unknown; message?: unknown }[];
            details?: unknown;
        };
        const e = j.errors?.[0];
        if (e) detail = [e.code, e.message].filter((x) => typeof x === "string").join(": ");
    } catch {
        detail = "";
    }
    if (!detail) return "";
    return `: ${redact(detail, secrets).slice(0, 200)}`;
}

/** Removes every secret (and its Basic-auth base64 forms) from `text`. */
export function redact(text: string, secrets: readonly string[]): string {
    let out = text;
    for (const s of secrets) {
        if (s.length < 4) continue;
        out = out.split(s).join("***");
    }
    return out;
}

function networkError(
    addr: RegistryAddress,
    url: string,
    e: unknown,
    what: string,
    timeoutMs: number,
    secrets: readonly string[],
): RegistryError {
    const err = e as {
        name?: string;
        cause?: { code?: string; message?: string };
        message?: string;
    };
    if (err?.name === "TimeoutError" || err?.name === "AbortError") {
        return new RegistryError(
            "timeout",
            addr.host,
            `Registry ${addr.host} did not answer within ${timeoutMs} ms (${what})`,
        );
    }
    const code = err?.cause?.code ?? "";
    let origin: string;
    try {
        origin = new URL(url).origin;
    } catch {
        origin = addr.baseUrl;
    }
    const reason =
        code === "ENOTFOUND" || code === "EAI_AGAIN"
            ? `cannot resolve host ${new URL(origin).hostname} (DNS ${code})`
            : code === "ECONNREFUSED"
              ? `connection refused by ${origin}`
              : code === "ECONNRESET"
                ? `connection reset by ${origin}`
                : /CERT|SSL|TLS|SELF_SIGNED/i.test(code)
                  ? `TLS error talking to ${origin} (${code})`
                  : `cannot reach ${origin} (${code || err?.cause?.message || err?.message || "network error"})`;
    return new RegistryError(
        "network",
        addr.host,
        redact(`Lookup of ${what} failed: ${reason}`, secrets),
    );
}

/** Result of {@link findImage}. */
export interface ImageSearchResult {
    readonly found: boolean;
    /** Registry host where the image was found. */
    readonly registry?: string;
    /** `sha256:<hex>` of the manifest. */
    readonly digest?: string;
    /** `<registry>/<repository>@<digest>`, when found. */
    readonly imageRef?: string;
    /** Index in the search order: 0 = the workspace registry, 1.. = fallbacks. */
    readonly index?: number;
    /** Registries looked in, in order. */
    readonly searched: readonly string[];
    /** Fallback registries that failed (their errors, without secrets); they count as misses. */
    readonly warnings: readonly string[];
}

/**
 * R14 lookup order: the workspace registry first, then each fallback ("global") registry in
 * order; the first hit wins and is used by digest where it was found (no copy). An error from the
 * workspace registry is thrown (a build would fail to push there anyway); an error from a fallback
 * is reported in `warnings` and counts as "not found there".
 */
export async function findImage(
    workspace: RegistryEndpoint,
    fallbacks: readonly RegistryEndpoint[],
    repository: string,
    tag: string,
    options: LookupOptions & { readonly client?: RegistryClient } = {},
): Promise<ImageSearchResult> {
    const client = options.client ?? new RegistryClient(options);
    const searched: string[] = [];
    const warnings: string[] = [];
    const all = [workspace, ...fallbacks];
    for (let i = 0; i < all.length; i++) {
        let r: ManifestLookup;
        try {
            r = await client.lookupManifest(all[i], repository, tag);
        } catch (e) {
            if (i === 0) throw e;
            searched.push(String(all[i].server));
            warnings.push(`fallback registry ${all[i].server} skipped: ${(e as Error).message}`);
            continue;
        }
        searched.push(r.registry);
        if (r.found && r.digest) {
            return {
                found: true,
                registry: r.registry,
                digest: r.digest,
                imageRef: `${r.registry}/${repository}@${r.digest}`,
                index: i,
                searched,
                warnings,
            };
        }
    }
    return { found: false, searched, warnings };
}

/** `lookupManifest` with a one-off client. */
export function lookupManifest(
    endpoint: RegistryEndpoint,
    repository: string,
    reference: string,
    options: LookupOptions = {},
): Promise<ManifestLookup> {
    return new RegistryClient(options).lookupManifest(endpoint, repository, reference);
}
