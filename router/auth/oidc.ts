/**
 * Keys of external token issuers (Microsoft Entra ID or any OpenID provider): OIDC discovery
 * (`/.well-known/openid-configuration` → `jwks_uri`), then a remote JWKS through jose's
 * `createRemoteJWKSet`.
 *
 * Refetch control, so callers (or attackers) cannot cause fetch storms:
 * - a token with an unknown `kid` refetches the JWKS at most once per cooldown (jose);
 * - concurrent fetches of one URL are shared (jose for JWKS, here for discovery);
 * - after a failed fetch nothing is fetched again for `failureBackoffSeconds`; meanwhile the last
 *   good key set (if younger than `staleMaxAgeSeconds`) keeps verifying tokens, else requests fail
 *   closed (401).
 * URLs only ever come from configuration and discovery documents, never from a token (`jku`,
 * `x5u` are ignored), and must be https (plain http only on loopback, for tests and local runs).
 * No timers: refreshes happen lazily on requests, so there is nothing to stop but in-flight fetches.
 */
import { createHash } from "node:crypto";
import {
    createLocalJWKSet,
    createRemoteJWKSet,
    customFetch,
    errors,
    jwksCache,
    type JSONWebKeySet,
    type RemoteJWKSet,
} from "jose";
// jose is ESM-only: a plain import in the emitted .d.ts breaks CommonJS programs resolved with
// node16/nodenext (issue 17).
import type { JWTVerifyGetKey } from "jose" with { "resolution-mode": "import" };
import type { Logger } from "pino";
import type { OidcTrust } from "../types";

/** Tuning of discovery and JWKS caching. All optional. */
export interface OidcCacheOptions {
    /** Minimum seconds between JWKS refetches triggered by an unknown `kid`. @default 30 */
    readonly cooldownSeconds?: number;
    /** Seconds a fetched JWKS is used before it is refetched. @default 600 */
    readonly cacheMaxAgeSeconds?: number;
    /** Seconds a discovery document is used before it is refetched. @default 3600 */
    readonly discoveryMaxAgeSeconds?: number;
    /** Seconds without any fetch to a URL after a fetch to it failed. @default 10 */
    readonly failureBackoffSeconds?: number;
    /** Last good documents/keys keep working this long while their server fails. @default 86400 */
    readonly staleMaxAgeSeconds?: number;
    /** Timeout of one HTTP fetch, in milliseconds. @default 5000 */
    readonly timeoutMs?: number;
}

/** Largest discovery document read. */
const MAX_DISCOVERY_BYTES = 512 * 1024;

/** Keys of a trusted issuer could not be obtained (server down, bad document, bad URL). */
export class OidcUnavailableError extends Error {
    constructor(readonly reason: string) {
        super(`OIDC keys unavailable: ${reason}`);
        this.name = "OidcUnavailableError";
    }
}

/** Default discovery URL of a trust: `<issuer without trailing slash>/.well-known/openid-configuration`. */
export function discoveryUrlOf(trust: OidcTrust): string {
    return (
        trust.discoveryUrl ?? `${trust.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`
    );
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** https anywhere; plain http only to a loopback host. */
export function isAllowedKeyUrl(raw: string): boolean {
    let url: URL;
    try {
        url = new URL(raw);
    } catch {
        return false;
    }
    if (url.username || url.password) return false;
    if (url.protocol === "https:") return true;
    return url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname);
}

/** A short, non-reversible tag for logs (never log URLs with secrets, kids or tokens in full). */
export function logTag(value: string): string {
    return createHash("sha256").update(value).digest("hex").slice(0, 12);
}

/** Key-selection errors: the JWKS was fetched fine but has no (single) usable key. */
function isKeySelectionError(err: unknown): boolean {
    return (
        err instanceof errors.JWKSNoMatchingKey ||
        err instanceof errors.JWKSMultipleMatchingKeys ||
        err instanceof errors.JOSENotSupported ||
        err instanceof errors.JWKInvalid ||
        err instanceof errors.JOSEAlgNotAllowed
    );
}

interface Resolved {
    readonly opts: Required<OidcCacheOptions>;
    readonly fetch: typeof fetch;
    readonly signal: AbortSignal;
    readonly logger?: Logger;
}

/** One remote JWKS URL: jose's resolver plus failure backoff and stale fallback. */
class JwksEntry {
    private readonly cache: { uat?: number; jwks?: JSONWebKeySet } = {};
    private readonly remote: RemoteJWKSet;
    private failedUntil = 0;
    private stale?: { uat: number; keys: ReturnType<typeof createLocalJWKSet> };

    constructor(
        private readonly uri: string,
        private readonly ctx: Resolved,
    ) {
        const fetchImpl = ctx.fetch;
        const closeSignal = ctx.signal;
        this.remote = createRemoteJWKSet(new URL(uri), {
            cooldownDuration: ctx.opts.cooldownSeconds * 1000,
            cacheMaxAge: ctx.opts.cacheMaxAgeSeconds * 1000,
            timeoutDuration: ctx.opts.timeoutMs,
            [jwksCache]: this.cache as Record<string, never>,
            [customFetch]: (url, init) =>
                fetchImpl(url, { ...init, signal: AbortSignal.any([init.signal, closeSignal]) }),
        });
    }

    /** jose key resolver for `jwtVerify`. */
    readonly getKey: JWTVerifyGetKey = async (header, token) => {
        if (Date.now() < this.failedUntil) return this.fromStale(header, token);
        try {
            return await this.remote(header, token);
        } catch (err) {
            if (isKeySelectionError(err)) throw err;
            this.failedUntil = Date.now() + this.ctx.opts.failureBackoffSeconds * 1000;
            this.ctx.logger?.warn(
                { reason: "jwks_fetch_failed", url: logTag(this.uri) },
                "token auth: JWKS fetch failed",
            );
            return this.fromStale(header, token);
        }
    };

    private fromStale(...args: Parameters<JWTVerifyGetKey>) {
        const { uat, jwks } = this.cache;
        if (uat === undefined || !jwks) throw new OidcUnavailableError("jwks_unavailable");
        if (Date.now() - uat > this.ctx.opts.staleMaxAgeSeconds * 1000) {
            throw new OidcUnavailableError("jwks_stale");
        }
        if (!this.stale || this.stale.uat !== uat) {
            this.stale = { uat, keys: createLocalJWKSet(jwks) };
        }
        return this.stale.keys(...args);
    }
}

interface DiscoveryDoc {
    readonly issuer: string;
    readonly jwksUri: string;
}

/** One discovery URL: cached document, shared in-flight fetch, failure backoff. */
class DiscoveryEntry {
    private doc?: DiscoveryDoc;
    private fetchedAt = 0;
    private failedUntil = 0;
    private pending?: Promise<DiscoveryDoc>;

    constructor(
        private readonly url: string,
        private readonly ctx: Resolved,
    ) {}

    async get(): Promise<DiscoveryDoc> {
        const now = Date.now();
        if (this.doc && now - this.fetchedAt < this.ctx.opts.discoveryMaxAgeSeconds * 1000) {
            return this.doc;
        }
        if (now < this.failedUntil) return this.staleOr("discovery_unavailable");
        try {
            this.pending ??= this.fetchDoc().finally(() => (this.pending = undefined));
            const doc = await this.pending;
            this.doc = doc;
            this.fetchedAt = Date.now();
            return doc;
        } catch (err) {
            if (this.ctx.signal.aborted) throw new OidcUnavailableError("closed");
            this.failedUntil = Date.now() + this.ctx.opts.failureBackoffSeconds * 1000;
            const reason = err instanceof OidcUnavailableError ? err.reason : "discovery_fetch";
            this.ctx.logger?.warn(
                { reason, url: logTag(this.url) },
                "token auth: OIDC discovery failed",
            );
            return this.staleOr("discovery_unavailable");
        }
    }

    private staleOr(reason: string): DiscoveryDoc {
        const fresh = Date.now() - this.fetchedAt <= this.ctx.opts.staleMaxAgeSeconds * 1000;
        if (this.doc && fresh) return this.doc;
        throw new OidcUnavailableError(reason);
    }

    private async fetchDoc(): Promise<DiscoveryDoc> {
        const signal = AbortSignal.any([
            AbortSignal.timeout(this.ctx.opts.timeoutMs),
            this.ctx.signal,
        ]);
        const res = await this.ctx.fetch(this.url, {
            method: "GET",
            redirect: "manual",
            headers: { accept: "application/json" },
            signal,
        });
        const length = Number(res.headers.get("content-length") ?? "0");
        if (res.status !== 200 || length > MAX_DISCOVERY_BYTES) {
            await res.body?.cancel().catch(() => undefined);
            throw new OidcUnavailableError(`discovery_status_${res.status}`);
        }
        const text = await res.text();
        if (text.length > MAX_DISCOVERY_BYTES) throw new OidcUnavailableError("discovery_size");
        let body: unknown;
        try {
            body = JSON.parse(text);
        } catch {
            throw new OidcUnavailableError("discovery_json");
        }
        const { issuer, jwks_uri: jwksUri } = (body ?? {}) as Record<string, unknown>;
        if (typeof issuer !== "string" || typeof jwksUri !== "string") {
            throw new OidcUnavailableError("discovery_fields");
        }
        if (!isAllowedKeyUrl(jwksUri)) throw new OidcUnavailableError("jwks_uri_insecure");
        return { issuer, jwksUri };
    }
}

/**
 * Discovery documents and remote key sets of the trusted issuers, shared by all services (keyed
 * by URL, so config swaps do not refetch).
 */
export class OidcKeyStore {
    private readonly ctx: Resolved;
    private readonly abort = new AbortController();
    private readonly discovery = new Map<string, DiscoveryEntry>();
    private readonly jwks = new Map<string, JwksEntry>();

    constructor(opts: { options?: OidcCacheOptions; fetch?: typeof fetch; logger?: Logger } = {}) {
        const o = opts.options ?? {};
        this.ctx = {
            opts: {
                cooldownSeconds: o.cooldownSeconds ?? 30,
                cacheMaxAgeSeconds: o.cacheMaxAgeSeconds ?? 600,
                discoveryMaxAgeSeconds: o.discoveryMaxAgeSeconds ?? 3600,
                failureBackoffSeconds: o.failureBackoffSeconds ?? 10,
                staleMaxAgeSeconds: o.staleMaxAgeSeconds ?? 86_400,
                timeoutMs: o.timeoutMs ?? 5000,
            },
            fetch: opts.fetch ?? globalThis.fetch,
            signal: this.abort.signal,
            logger: opts.logger,
        };
    }

    /**
     * The key resolver for a trust. Throws {@link OidcUnavailableError} when the keys cannot be
     * obtained (the caller answers 401: fail closed).
     */
    async resolver(trust: OidcTrust): Promise<JWTVerifyGetKey> {
        if (this.abort.signal.aborted) throw new OidcUnavailableError("closed");
        const url = discoveryUrlOf(trust);
        if (!isAllowedKeyUrl(url)) throw new OidcUnavailableError("discovery_url_insecure");
        let entry = this.discovery.get(url);
        if (!entry) {
            entry = new DiscoveryEntry(url, this.ctx);
            this.discovery.set(url, entry);
        }
        const doc = await entry.get();
        // OpenID Connect Discovery §4.3: the document must name the issuer we trust.
        if (doc.issuer !== trust.issuer)
            throw new OidcUnavailableError("discovery_issuer_mismatch");
        let keys = this.jwks.get(doc.jwksUri);
        if (!keys) {
            keys = new JwksEntry(doc.jwksUri, this.ctx);
            this.jwks.set(doc.jwksUri, keys);
        }
        return keys.getKey;
    }

    /** Aborts in-flight fetches and drops caches; later lookups fail closed. */
    close(): void {
        this.abort.abort();
        this.discovery.clear();
        this.jwks.clear();
    }
}
