import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { calculateJwkThumbprint } from "jose";
import { Authenticator, defaultTokenAudience, getToken, tokenAuthConfig } from "../../router/auth";
import { TOKEN_ISSUER, tokenAudience } from "../../components/webservice/contract";
import {
    instrumentationKeyFromConnectionString,
    publicJwkFromPem,
    renderPublicJwks,
    signingKeyOptions,
} from "../../components/webservice/keys";

/** What tls.PrivateKey (ECDSA, P256) gives: PKCS#8 private PEM and SPKI public PEM. */
function p256(): { privateKeyPemPkcs8: string; publicKeyPem: string } {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    return {
        privateKeyPemPkcs8: privateKey.export({ format: "pem", type: "pkcs8" }) as string,
        publicKeyPem: publicKey.export({ format: "pem", type: "spki" }) as string,
    };
}

describe("token signing key material (R37)", () => {
    test("public JWK: EC P-256, ES256, kid = RFC 7638 thumbprint (as jose computes it)", async () => {
        const key = p256();
        const jwk = publicJwkFromPem(key.publicKeyPem);
        assert.equal(jwk.kty, "EC");
        assert.equal(jwk.crv, "P-256");
        assert.equal(jwk.alg, "ES256");
        assert.equal(jwk.use, "sig");
        assert.equal(jwk.d, undefined, "no private member in the public JWK");
        assert.equal(
            jwk.kid,
            await calculateJwkThumbprint({ kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }),
        );
        assert.notEqual(publicJwkFromPem(p256().publicKeyPem).kid, jwk.kid);
    });

    test("rejects a key that is not P-256", () => {
        const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
        const pem = rsa.publicKey.export({ format: "pem", type: "spki" }) as string;
        assert.throws(() => publicJwkFromPem(pem), /must be an EC P-256 key/);
    });

    test("the Secret's material works with the router: getToken mints, the Authenticator accepts", async () => {
        const key = p256();
        const jwks = JSON.parse(renderPublicJwks([key.publicKeyPem]));
        // The component's audience is the router's default one: getToken needs no audience option.
        assert.equal(tokenAudience("diabetes"), defaultTokenAudience("diabetes"));
        const token = await getToken({
            service: "diabetes",
            signingKey: key.privateKeyPemPkcs8,
            issuer: TOKEN_ISSUER,
        });
        const auth = tokenAuthConfig({
            service: "diabetes",
            publicKeys: jwks,
            issuer: TOKEN_ISSUER,
            audience: tokenAudience("diabetes"),
        });
        const authenticator = new Authenticator();
        const ok = await authenticator.authenticate(
            auth,
            { authorization: `Bearer ${token.accessToken}` },
            "diabetes",
        );
        assert.equal(ok.ok, true);
        // A token signed by another service's key is refused.
        const other = await getToken({
            service: "diabetes",
            signingKey: p256().privateKeyPemPkcs8,
            issuer: TOKEN_ISSUER,
        });
        const denied = await authenticator.authenticate(
            auth,
            { authorization: `Bearer ${other.accessToken}` },
            "diabetes",
        );
        assert.equal(denied.ok, false);
    });

    test("signing key rotation is opt-in: replacementTrigger only with a version", () => {
        assert.deepEqual(signingKeyOptions(undefined), {});
        assert.deepEqual(signingKeyOptions(2), { replacementTrigger: 2 });
    });
});

describe("App Insights instrumentation key (R3)", () => {
    test("extracted from a connection string, GUID only", () => {
        const guid = "11111111-2222-3333-4444-555555555555";
        assert.equal(
            instrumentationKeyFromConnectionString(
                `InstrumentationKey=${guid};IngestionEndpoint=https://x/`,
            ),
            guid,
        );
        assert.equal(
            instrumentationKeyFromConnectionString(
                `IngestionEndpoint=https://x/;instrumentationkey=${guid}`,
            ),
            guid,
        );
        assert.equal(
            instrumentationKeyFromConnectionString("InstrumentationKey=not-a-guid"),
            undefined,
        );
        assert.equal(
            instrumentationKeyFromConnectionString("IngestionEndpoint=https://x/"),
            undefined,
        );
    });
});
