/**
 * Per-service authentication of scoring requests (docs/design.md §5, R35–R37).
 *
 * - `none`: every request passes (v1 `auth_enabled=False`).
 * - `key`: `Authorization: Bearer <primary or secondary key>`, compared in constant time. The
 *   config passed on each call is authoritative, so a rotated key works on the next request.
 * - `token`: `Authorization: Bearer <JWT>`, verified with jose: algorithm allow-list (RS256,
 *   PS256, ES256), `exp` required, `nbf`/`iat` checked, `aud` and `iss` must match, with a small
 *   clock skew. Keys: the service's own signing public keys (tokens from {@link getToken}, which
 *   must also name this service in `svc`) and any trusted OpenID issuer (Microsoft Entra ID)
 *   through discovery + remote JWKS.
 *
 * Failures answer 401 with one fixed challenge; which check failed is only logged, at debug level,
 * as a reason code (never a key or a token; at most a hash prefix of the `kid`).
 */
import type { IncomingHttpHeaders } from "node:http";
import {
    createLocalJWKSet,
    decodeJwt,
    decodeProtectedHeader,
    errors,
    jwtVerify,
    type JWTPayload,
    type JWTVerifyGetKey,
} from "jose";
import type { Logger } from "pino";
import type { JsonWebKeyLike, OidcTrust, ServiceAuthConfig } from "../types";
import { CHALLENGE_INVALID, CHALLENGE_MISSING, matchesServiceKey, parseBearer } from "./keys";
import { logTag, OidcKeyStore, OidcUnavailableError, type OidcCacheOptions } from "./oidc";
import {
    ALLOWED_TOKEN_ALGORITHMS,
    defaultTokenAudience,
    MAX_TOKEN_LIFETIME_SECONDS,
    SERVICE_CLAIM,
    TOKEN_TYPE_HEADER,
    toPublicJwk,
} from "./tokens";

export * from "./keys";
export * from "./tokens";
export {
    discoveryUrlOf,
    isAllowedKeyUrl,
    OidcKeyStore,
    OidcUnavailableError,
    type OidcCacheOptions,
} from "./oidc";

/** Outcome of {@link Authenticator.authenticate}. */
export interface AuthResult {
    readonly ok: boolean;
    /** Value for `WWW-Authenticate` on a 401. */
    readonly challenge?: string;
}

/** Options of {@link Authenticator}. */
export interface AuthenticatorOptions {
    /** Receives reason codes of denials (debug) and fetch failures (warn). @default silent */
    readonly logger?: Logger;
    /** fetch used for OIDC discovery and JWKS. @default globalThis.fetch */
    readonly fetch?: typeof fetch;
    /** Tolerated clock difference for `exp`, `nbf` and `iat`, in seconds. @default 30 */
    readonly clockSkewSeconds?: number;
    /** Longest accepted token lifetime (`exp - iat`), in seconds. @default 86400 */
    readonly maxTokenLifetimeSeconds?: number;
    /** Caching and refetch limits of OIDC discovery and JWKS. */
    readonly oidc?: OidcCacheOptions;
}

const OK: AuthResult = Object.freeze({ ok: true });
const MISSING: AuthResult = Object.freeze({ ok: false, challenge: CHALLENGE_MISSING });
const INVALID: AuthResult = Object.freeze({ ok: false, challenge: CHALLENGE_INVALID });

/** Reason a request was denied: logged, never sent to the client. */
class Denied extends Error {
    constructor(readonly reason: string) {
        super(reason);
    }
}

type LocalKeys = ReturnType<typeof createLocalJWKSet>;

/** Checks the `Authorization` header of a request against a service's auth config. */
export class Authenticator {
    private readonly logger?: Logger;
    private readonly skew: number;
    private readonly maxLifetime: number;
    private readonly oidc: OidcKeyStore;
    /** Local key sets per key list object: a rotated config brings a new list, hence new keys. */
    private readonly localKeys = new WeakMap<readonly JsonWebKeyLike[], LocalKeys | null>();

    constructor(opts: AuthenticatorOptions = {}) {
        this.logger = opts.logger;
        this.skew = opts.clockSkewSeconds ?? 30;
        this.maxLifetime = opts.maxTokenLifetimeSeconds ?? MAX_TOKEN_LIFETIME_SECONDS;
        this.oidc = new OidcKeyStore({
            options: opts.oidc,
            fetch: opts.fetch,
            logger: opts.logger,
        });
    }

    /** Never throws: any unexpected error denies the request (fail closed). */
    async authenticate(
        auth: ServiceAuthConfig,
        headers: IncomingHttpHeaders,
        service: string,
    ): Promise<AuthResult> {
        let bearer: ReturnType<typeof parseBearer> | undefined;
        try {
            if (auth.mode === "none") return OK;
            if (auth.mode !== "key" && auth.mode !== "token") {
                return this.deny(service, "unknown_mode", MISSING);
            }
            bearer = parseBearer(headers.authorization);
            if (bearer.kind === "missing") return this.deny(service, "no_bearer", MISSING);
            if (bearer.kind === "malformed") return this.deny(service, "malformed_bearer", INVALID);
            if (auth.mode === "key") {
                return matchesServiceKey(auth, bearer.credential)
                    ? OK
                    : this.deny(service, "key_mismatch", INVALID);
            }
            await this.verifyToken(auth, bearer.credential, service);
            return OK;
        } catch (err) {
            const reason =
                err instanceof Denied || err instanceof OidcUnavailableError
                    ? err.reason
                    : err instanceof errors.JOSEError
                      ? err.code
                      : "internal_error";
            const kid =
                bearer?.kind === "bearer" && auth?.mode === "token"
                    ? kidTag(bearer.credential)
                    : undefined;
            return this.deny(service, reason, bearer ? INVALID : MISSING, kid);
        }
    }

    /** Aborts in-flight OIDC fetches and drops caches. The authenticator starts no timers. */
    close(): void {
        this.oidc.close();
    }

    private deny(service: string, reason: string, result: AuthResult, kid?: string): AuthResult {
        this.logger?.debug({ service, reason, kid }, "auth denied");
        return result;
    }

    private async verifyToken(auth: ServiceAuthConfig, token: string, service: string) {
        let header: ReturnType<typeof decodeProtectedHeader>;
        let claims: JWTPayload;
        try {
            header = decodeProtectedHeader(token);
            claims = decodeJwt(token);
        } catch {
            throw new Denied("malformed_token");
        }
        // Cheap rejections before any key lookup (and before any fetch).
        if (!(ALLOWED_TOKEN_ALGORITHMS as readonly string[]).includes(String(header.alg))) {
            throw new Denied("alg_not_allowed");
        }
        if (typeof header.kid !== "string" || header.kid.length === 0) throw new Denied("no_kid");
        const iss = claims.iss;
        if (typeof iss !== "string") throw new Denied("no_iss");

        const ownKeys = auth.signingPublicKeys ?? [];
        if (auth.issuer !== undefined && iss === auth.issuer && ownKeys.length > 0) {
            const { payload } = await jwtVerify(token, this.keysOf(ownKeys), {
                algorithms: [...ALLOWED_TOKEN_ALGORITHMS],
                issuer: auth.issuer,
                audience: auth.audience ?? defaultTokenAudience(service),
                typ: TOKEN_TYPE_HEADER,
                requiredClaims: ["exp", "iat"],
                clockTolerance: this.skew,
            });
            // Second binding besides `aud`: services sharing an audience or key still differ here.
            if (payload[SERVICE_CLAIM] !== service) throw new Denied("wrong_service");
            this.checkLifetime(payload);
            return;
        }

        const trusts = (auth.oidc ?? []).filter((t) => t.issuer === iss);
        if (trusts.length === 0) throw new Denied("unknown_issuer");
        let last: unknown;
        for (const trust of trusts) {
            try {
                await this.verifyOidc(trust, token);
                return;
            } catch (err) {
                last = err;
            }
        }
        throw last;
    }

    private async verifyOidc(trust: OidcTrust, token: string) {
        const getKey: JWTVerifyGetKey = await this.oidc.resolver(trust);
        const { payload } = await jwtVerify(token, getKey, {
            algorithms: [...ALLOWED_TOKEN_ALGORITHMS],
            issuer: trust.issuer,
            audience: trust.audience,
            requiredClaims: ["exp"],
            clockTolerance: this.skew,
        });
        this.checkLifetime(payload);
    }

    /** `iat` not in the future; `exp - iat` within the longest accepted lifetime. */
    private checkLifetime(payload: JWTPayload) {
        const now = Math.floor(Date.now() / 1000);
        const iat = payload.iat ?? now;
        if (iat > now + this.skew) throw new Denied("iat_in_future");
        if ((payload.exp as number) - iat > this.maxLifetime + this.skew) {
            throw new Denied("lifetime_too_long");
        }
    }

    private keysOf(list: readonly JsonWebKeyLike[]): LocalKeys {
        let keys = this.localKeys.get(list);
        if (keys === undefined) {
            const pub = list.map(toPublicJwk).filter((k) => k !== undefined);
            keys = pub.length > 0 ? createLocalJWKSet({ keys: pub as never[] }) : null;
            this.localKeys.set(list, keys);
        }
        if (!keys) throw new Denied("no_usable_keys");
        return keys;
    }
}

/** sha256 prefix of the token's `kid` for logs, if it has one. */
function kidTag(token: string): string | undefined {
    try {
        const kid = decodeProtectedHeader(token).kid;
        return typeof kid === "string" ? logTag(kid) : undefined;
    } catch {
        return undefined;
    }
}
