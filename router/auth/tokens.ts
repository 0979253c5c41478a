/**
 * Token auth material (R37): per-service signing keys, the `getToken` function that mints the
 * v1 `get_access_token` shape `{ accessToken, tokenType, refreshAfter, expiryOn }`, and the
 * `ServiceAuthConfig` the router verifies those tokens with. All JWT/JWK work goes through jose.
 *
 * There is deliberately no HTTP endpoint that trades a key for a token: whoever can read a
 * service's private signing key (cluster RBAC on its Secret, or the local settings directory)
 * can mint tokens for that service, as workspace RBAC decided in v1.
 */
import { createPrivateKey, randomUUID } from "node:crypto";
import {
    calculateJwkThumbprint,
    exportJWK,
    generateKeyPair,
    importJWK,
    SignJWT,
    type JWK,
} from "jose";
import { Problems, REDACTED } from "../../components/common/validation";
import type { JsonWebKeyLike, OidcTrust, ServiceAuthConfig } from "../types";

/**
 * Signature algorithms accepted on incoming tokens. Asymmetric only: `none` and every HS* are
 * refused, which also closes HS/RS key confusion (a public key used as an HMAC secret).
 * RS256 covers Microsoft Entra ID; ES256 is what `generateSigningKey` makes by default.
 */
export const ALLOWED_TOKEN_ALGORITHMS = ["RS256", "PS256", "ES256"] as const;
export type TokenAlgorithm = (typeof ALLOWED_TOKEN_ALGORITHMS)[number];

/** `typ` header of tokens minted by {@link getToken} (RFC 9068 access token). */
export const TOKEN_TYPE_HEADER = "at+jwt";

/** Private claim naming the service a minted token is for (checked on top of `aud`). */
export const SERVICE_CLAIM = "svc";

/** Default token lifetime: one hour. */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 3600;
/** Shortest lifetime `getToken` accepts. */
export const MIN_TOKEN_LIFETIME_SECONDS = 60;
/**
 * Longest lifetime `getToken` mints and the router accepts (from any issuer, checked as
 * `exp - iat`). Rotation must keep a previous public key listed at least this long.
 */
export const MAX_TOKEN_LIFETIME_SECONDS = 86_400;

/** Issuer used by the local runtime. */
export const DEFAULT_LOCAL_ISSUER = "amlaks://local";

/** Default issuer for a cluster or the local runtime: `amlaks://<scope>`. */
export function defaultTokenIssuer(scope = "local"): string {
    return `amlaks://${scope}`;
}

/** Default audience of a service's tokens: `amlaks:service:<name>` (binds a token to one service). */
export function defaultTokenAudience(service: string): string {
    return `amlaks:service:${service}`;
}

const PUBLIC_MEMBERS: Readonly<Record<string, readonly string[]>> = {
    RSA: ["kty", "n", "e"],
    EC: ["kty", "crv", "x", "y"],
};
const METADATA_MEMBERS = ["kid", "alg", "use"] as const;

/**
 * The public part of an RSA or EC JWK (private members such as `d`, `p`, `q` dropped), keeping
 * `kid`, `alg` and `use`. Returns undefined for key types tokens are never verified with
 * (`oct`, `OKP`...).
 */
export function toPublicJwk(jwk: JsonWebKeyLike): JsonWebKeyLike | undefined {
    const members = PUBLIC_MEMBERS[jwk.kty];
    if (!members) return undefined;
    const out: Record<string, unknown> = {};
    for (const m of [...members, ...METADATA_MEMBERS]) {
        if (jwk[m] !== undefined) out[m] = jwk[m];
    }
    return out as unknown as JsonWebKeyLike;
}

/** The allowed algorithm a JWK is used with: its `alg`, else RS256 for RSA, ES256 for P-256. */
export function algorithmForJwk(jwk: JsonWebKeyLike): TokenAlgorithm | undefined {
    if (typeof jwk.alg === "string") {
        return (ALLOWED_TOKEN_ALGORITHMS as readonly string[]).includes(jwk.alg)
            ? (jwk.alg as TokenAlgorithm)
            : undefined;
    }
    if (jwk.kty === "RSA") return "RS256";
    if (jwk.kty === "EC" && jwk.crv === "P-256") return "ES256";
    return undefined;
}

/** A new signing key pair for a service. */
export interface SigningKeyPair {
    /** Private JWK (with `kid`, `alg`, `use: "sig"`): store it as a secret; it mints tokens. */
    readonly privateJwk: JsonWebKeyLike;
    /** Public JWK (same `kid`): goes into `ServiceAuthConfig.signingPublicKeys`. */
    readonly publicJwk: JsonWebKeyLike;
    /** RFC 7638 JWK thumbprint (SHA-256) of the public key. */
    readonly kid: string;
}

/** Generates a signing key pair (default ES256 / P-256; RS256 and PS256 use 2048-bit RSA). */
export async function generateSigningKey(alg: TokenAlgorithm = "ES256"): Promise<SigningKeyPair> {
    if (!(ALLOWED_TOKEN_ALGORITHMS as readonly string[]).includes(alg)) {
        const problems = new Problems();
        problems.add("alg", alg, `must be one of ${ALLOWED_TOKEN_ALGORITHMS.join(", ")}`);
        problems.throwIfAny("signing key request");
    }
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk, "sha256");
    const meta = { kid, alg, use: "sig" };
    return {
        privateJwk: { ...(await exportJWK(privateKey)), ...meta } as JsonWebKeyLike,
        publicJwk: { ...publicJwk, ...meta } as JsonWebKeyLike,
        kid,
    };
}

/** Options of {@link getToken}. */
export interface GetTokenOptions {
    /** Service the token is for; written to the `svc` claim and checked by the router. */
    readonly service: string;
    /** The service's private signing key: a private JWK, or a PEM (PKCS#8, PKCS#1 or SEC1). */
    readonly signingKey: JsonWebKeyLike | string;
    /** `kid` header. @default the JWK's `kid`, else its RFC 7638 thumbprint */
    readonly kid?: string;
    /** `aud` claim; must equal the service's configured audience. @default `amlaks:service:<service>` */
    readonly audience?: string;
    /** `iss` claim; must equal the service's configured issuer. @default `amlaks://local` */
    readonly issuer?: string;
    /** Seconds the token is valid, 60..86400. @default 3600 */
    readonly lifetimeSeconds?: number;
    /** Seconds after issue when the client should fetch a new token. @default lifetimeSeconds / 2 */
    readonly refreshAfterSeconds?: number;
    /** Issue time. @default now */
    readonly now?: Date;
}

/** Same fields as v1 `get_access_token` (`AksServiceAccessToken`); times are epoch seconds. */
export interface AccessToken {
    readonly accessToken: string;
    readonly tokenType: "Bearer";
    /** Fetch a new token after this time (R37 `refresh_by`). */
    readonly refreshAfter: number;
    /** The token's `exp`. */
    readonly expiryOn: number;
}

function isInteger(v: unknown): v is number {
    return typeof v === "number" && Number.isInteger(v);
}

function nonEmpty(v: unknown): v is string {
    return typeof v === "string" && v.trim().length > 0;
}

/** Turns the signing key option into a private JWK, or undefined when it is not one. */
function privateJwkOf(key: JsonWebKeyLike | string): JsonWebKeyLike | undefined {
    if (typeof key === "string") {
        try {
            return createPrivateKey(key).export({ format: "jwk" }) as JsonWebKeyLike;
        } catch {
            return undefined;
        }
    }
    if (key && typeof key === "object" && typeof key.d === "string") return key;
    return undefined;
}

/**
 * Mints an access token for a service (R37) from its private signing key: claims `iss`, `aud`,
 * `svc`, `iat`, `exp`, `jti`; header `alg`, `kid`, `typ: at+jwt`. Throws a `ValidationError`
 * listing every bad option; key material is never echoed.
 */
export async function getToken(options: GetTokenOptions): Promise<AccessToken> {
    const problems = new Problems();
    const lifetime = options.lifetimeSeconds ?? DEFAULT_TOKEN_LIFETIME_SECONDS;
    if (
        !isInteger(lifetime) ||
        lifetime < MIN_TOKEN_LIFETIME_SECONDS ||
        lifetime > MAX_TOKEN_LIFETIME_SECONDS
    ) {
        problems.add(
            "lifetimeSeconds",
            lifetime,
            `must be an integer from ${MIN_TOKEN_LIFETIME_SECONDS} to ${MAX_TOKEN_LIFETIME_SECONDS}`,
        );
    }
    const refresh = options.refreshAfterSeconds ?? Math.floor(lifetime / 2);
    if (!isInteger(refresh) || refresh < 1 || refresh >= lifetime) {
        problems.add(
            "refreshAfterSeconds",
            refresh,
            "must be an integer of at least 1 and less than lifetimeSeconds",
        );
    }
    if (!nonEmpty(options.service)) {
        problems.add("service", options.service, "must be a non-empty service name");
    }
    const service = nonEmpty(options.service) ? options.service : "";
    const audience = options.audience ?? defaultTokenAudience(service);
    const issuer = options.issuer ?? DEFAULT_LOCAL_ISSUER;
    if (!nonEmpty(audience)) problems.add("audience", audience, "must be a non-empty string");
    if (!nonEmpty(issuer)) problems.add("issuer", issuer, "must be a non-empty string");
    if (options.kid !== undefined && !nonEmpty(options.kid)) {
        problems.add("kid", options.kid, "must be a non-empty string when set");
    }
    const now = options.now ?? new Date();
    if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
        problems.add("now", options.now, "must be a valid Date");
    }
    const jwk = privateJwkOf(options.signingKey);
    const alg = jwk ? algorithmForJwk(jwk) : undefined;
    if (!jwk) {
        problems.add(
            "signingKey",
            REDACTED,
            "must be a private JWK (with `d`) or a private key PEM (PKCS#8, PKCS#1 or SEC1)",
        );
    } else if (!alg) {
        problems.add(
            "signingKey",
            REDACTED,
            `must be an RSA or P-256 EC key usable with ${ALLOWED_TOKEN_ALGORITHMS.join(", ")}`,
        );
    }
    problems.throwIfAny("getToken options");

    const signingJwk = jwk as JsonWebKeyLike;
    const kid =
        options.kid ??
        (nonEmpty(signingJwk.kid)
            ? signingJwk.kid
            : await calculateJwkThumbprint(toPublicJwk(signingJwk) as JWK, "sha256"));
    const key = await importJWK(signingJwk as JWK, alg);
    const iat = Math.floor(now.getTime() / 1000);
    const exp = iat + lifetime;
    const accessToken = await new SignJWT({ [SERVICE_CLAIM]: service })
        .setProtectedHeader({ alg: alg as string, kid, typ: TOKEN_TYPE_HEADER })
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .setJti(randomUUID())
        .sign(key);
    return { accessToken, tokenType: "Bearer", refreshAfter: iat + refresh, expiryOn: exp };
}

/** Input of {@link tokenAuthConfig}. */
export interface TokenAuthConfigInput {
    /** Service name (for the default audience). */
    readonly service: string;
    /**
     * The service's signing keys, newest first (private JWKs are accepted and reduced to their
     * public part). After a rotation keep the previous key listed for at least the longest token
     * lifetime (default 1 h, at most 24 h) so tokens it signed stay valid until they expire.
     */
    readonly publicKeys?: readonly JsonWebKeyLike[];
    /** @default `amlaks://local` */
    readonly issuer?: string;
    /** @default `amlaks:service:<service>` */
    readonly audience?: string;
    /** External issuers (e.g. Microsoft Entra ID) whose tokens the service also accepts. */
    readonly oidc?: readonly OidcTrust[];
}

/**
 * Builds the token-mode `ServiceAuthConfig` from stored key material. Validates every key (RSA or
 * P-256 EC, a unique `kid`, an allowed `alg`) and every trust, and throws one `ValidationError`.
 */
export function tokenAuthConfig(input: TokenAuthConfigInput): ServiceAuthConfig {
    const problems = new Problems();
    if (!nonEmpty(input.service)) {
        problems.add("service", input.service, "must be a non-empty service name");
    }
    const issuer = input.issuer ?? DEFAULT_LOCAL_ISSUER;
    const audience = input.audience ?? defaultTokenAudience(input.service);
    if (!nonEmpty(issuer)) problems.add("issuer", issuer, "must be a non-empty string");
    if (!nonEmpty(audience)) problems.add("audience", audience, "must be a non-empty string");
    const keys: JsonWebKeyLike[] = [];
    const seen = new Set<string>();
    (input.publicKeys ?? []).forEach((jwk, i) => {
        const field = `publicKeys[${i}]`;
        const pub = jwk && typeof jwk === "object" ? toPublicJwk(jwk) : undefined;
        if (!pub) {
            problems.add(`${field}.kty`, jwk?.kty, "must be RSA or EC");
            return;
        }
        if (!algorithmForJwk(pub)) {
            problems.add(
                `${field}.alg`,
                pub.alg ?? `${pub.kty}/${String(pub.crv)}`,
                `must be one of ${ALLOWED_TOKEN_ALGORITHMS.join(", ")} (EC keys on P-256)`,
            );
        }
        if (!nonEmpty(pub.kid)) {
            problems.add(`${field}.kid`, pub.kid, "must be set (tokens are matched by kid)");
        } else if (seen.has(pub.kid)) {
            problems.add(`${field}.kid`, pub.kid, "must be unique among the keys");
        } else {
            seen.add(pub.kid);
        }
        keys.push(pub);
    });
    (input.oidc ?? []).forEach((trust, i) => {
        if (!nonEmpty(trust.issuer)) {
            problems.add(`oidc[${i}].issuer`, trust.issuer, "must be a non-empty URL");
        }
        if (!nonEmpty(trust.audience)) {
            problems.add(`oidc[${i}].audience`, trust.audience, "must be a non-empty string");
        }
    });
    if (keys.length === 0 && (input.oidc ?? []).length === 0) {
        problems.add("publicKeys", [], "at least one signing key or one oidc trust is required");
    }
    problems.throwIfAny(`token auth config of service ${JSON.stringify(input.service)}`);
    return Object.freeze({
        mode: "token" as const,
        signingPublicKeys: Object.freeze(keys.map((k) => Object.freeze(k))),
        issuer,
        audience,
        oidc: Object.freeze([...(input.oidc ?? [])]),
    });
}
