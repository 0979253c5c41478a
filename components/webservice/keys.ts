/**
 * Auth material of a web service (R35–R37): the primary and secondary keys (key auth) and the
 * per-service token signing key (token auth). No dynamic providers (anchors §8):
 * - keys not given in args come from `random.RandomPassword` (the provider's CSPRNG; the value is
 *   kept in the Pulumi state, so it is stable across `pulumi up`s and secret there);
 * - the signing key is a `tls.PrivateKey` (ECDSA P-256 → ES256), also kept in the state.
 * Each key is its own resource with its own `keepers`/trigger, so rotating one never touches the
 * other. Pure helpers (JWK conversion, App Insights key extraction) sit at the top.
 */
import { createHash, createPublicKey } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { GUID, REDACTED } from "../common/validation";
import { keyPairProblems } from "../settings";

/** Length of generated keys: 32 characters of [A-Za-z0-9] (≈ 190 bits), like v1's keys. */
export const GENERATED_KEY_LENGTH = 32;

/** A public EC signing key as a JWK, as the router's `ServiceAuthConfig.signingPublicKeys` wants. */
export interface PublicSigningJwk {
    readonly kty: "EC";
    readonly crv: "P-256";
    readonly x: string;
    readonly y: string;
    readonly kid: string;
    readonly alg: "ES256";
    readonly use: "sig";
    readonly [key: string]: unknown;
}

/**
 * Public JWK of a P-256 public key PEM, with `kid` = its RFC 7638 thumbprint (base64url SHA-256
 * of the canonical `{"crv","kty","x","y"}` JSON), so the kid changes exactly when the key does.
 */
export function publicJwkFromPem(publicKeyPem: string): PublicSigningJwk {
    const jwk = createPublicKey(publicKeyPem).export({ format: "jwk" }) as Record<string, unknown>;
    if (jwk.kty !== "EC" || jwk.crv !== "P-256") {
        throw new Error(
            `token signing key must be an EC P-256 key, got ${String(jwk.kty)} ${String(jwk.crv)}`,
        );
    }
    const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
    const kid = createHash("sha256").update(canonical).digest("base64url");
    return {
        kty: "EC",
        crv: "P-256",
        x: jwk.x as string,
        y: jwk.y as string,
        kid,
        alg: "ES256",
        use: "sig",
    };
}

/** JSON text of the public JWKs list stored in the auth Secret (newest first). */
export function renderPublicJwks(publicKeyPems: readonly string[]): string {
    return JSON.stringify(publicKeyPems.map(publicJwkFromPem));
}

/**
 * The instrumentation key (a GUID) inside an App Insights connection string
 * (`InstrumentationKey=<guid>;IngestionEndpoint=...`). The AML inference server reads it from
 * `AML_APP_INSIGHTS_KEY` and disables App Insights unless it is a GUID (aml-v1-spec §5). Returns
 * `undefined` when absent; never echoes the input.
 */
export function instrumentationKeyFromConnectionString(
    connectionString: string,
): string | undefined {
    for (const part of connectionString.split(";")) {
        const eq = part.indexOf("=");
        if (eq < 0) continue;
        if (part.slice(0, eq).trim().toLowerCase() === "instrumentationkey") {
            const v = part.slice(eq + 1).trim();
            return GUID.test(v) ? v : undefined;
        }
    }
    return undefined;
}

/** Options of the token signing key resource: a version bump replaces (rotates) the key. */
export function signingKeyOptions(version: number | undefined): { replacementTrigger?: number } {
    // replacementTrigger, because tls.PrivateKey has no `keepers`. Only set when used, so stacks
    // that never rotate do not depend on the engine feature.
    return version === undefined ? {} : { replacementTrigger: version };
}

/** What {@link createKeys} needs. */
export interface KeyArgs {
    readonly primaryKey?: pulumi.Input<string>;
    readonly secondaryKey?: pulumi.Input<string>;
    readonly primaryKeyVersion?: pulumi.Input<number>;
    readonly secondaryKeyVersion?: pulumi.Input<number>;
}

/**
 * Primary and secondary keys (key auth). Given keys are used as is; missing ones are generated,
 * each by its own `RandomPassword` whose `keepers.version` regenerates only that key. Both are
 * returned as secrets.
 */
export function createKeys(
    name: string,
    args: KeyArgs,
    opts: pulumi.CustomResourceOptions,
): { primaryKey: pulumi.Output<string>; secondaryKey: pulumi.Output<string> } {
    // Given keys (plain ones were checked before any child existed; Outputs such as config
    // secrets only now) pass the same rules as a pair, so two equal secrets are caught too.
    // Never echoes a key.
    const givenPair =
        args.primaryKey !== undefined || args.secondaryKey !== undefined
            ? pulumi.all([args.primaryKey, args.secondaryKey]).apply(([p, s]) => {
                  const problems = keyPairProblems(p, s);
                  if (problems.length > 0) {
                      throw new pulumi.ResourceError(
                          `AksWebservice "${name}": ${problems.map((x) => `${x.field}: "${REDACTED}" ${x.rule}`).join("; ")}`,
                          opts.parent,
                      );
                  }
                  return [p, s] as const;
              })
            : undefined;
    const one = (
        which: "primary" | "secondary",
        given: pulumi.Input<string> | undefined,
        version: pulumi.Input<number> | undefined,
    ): pulumi.Output<string> => {
        if (given !== undefined) {
            return pulumi.secret(givenPair!.apply(([p, s]) => (which === "primary" ? p : s)!));
        }
        const generated = new random.RandomPassword(
            `${name}-${which}-key`,
            {
                length: GENERATED_KEY_LENGTH,
                special: false,
                // Always present (also at version 0), so adding a version later is not a change.
                keepers: { version: pulumi.output(version ?? 0).apply(String) },
            },
            opts,
        );
        return pulumi.secret(generated.result);
    };
    return {
        primaryKey: one("primary", args.primaryKey, args.primaryKeyVersion),
        secondaryKey: one("secondary", args.secondaryKey, args.secondaryKeyVersion),
    };
}

/**
 * The per-service token signing key (token auth): ECDSA P-256 (ES256). Returns the private key
 * (PKCS#8 PEM) and the public JWKs JSON, both secrets (the JWKs only because they travel in the
 * same Secret; they are public keys).
 */
export function createSigningKey(
    name: string,
    version: number | undefined,
    opts: pulumi.CustomResourceOptions,
): { privateKeyPem: pulumi.Output<string>; publicJwks: pulumi.Output<string> } {
    const key = new tls.PrivateKey(
        `${name}-token-signing-key`,
        { algorithm: "ECDSA", ecdsaCurve: "P256" },
        { ...opts, ...signingKeyOptions(version) },
    );
    return {
        privateKeyPem: pulumi.secret(key.privateKeyPemPkcs8),
        publicJwks: pulumi.secret(key.publicKeyPem.apply((pem) => renderPublicJwks([pem]))),
    };
}
