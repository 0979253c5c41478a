/**
 * examples/token-auth under Pulumi mocks: a token-auth service behind HTTPS in the workspace's
 * region, and get-token.ts minting tokens that the router (its Kubernetes backend's reading of the
 * rendered objects, and its authenticator) accepts for this service only.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { tokenFromSecret } from "../../examples/token-auth/get-token";
import { Authenticator } from "../../router/auth";
import { translateDeployment } from "../../router/backends/kubernetes/translate";
import type { ServiceAuthConfig } from "../../router/types";
import {
    EXAMPLES,
    one,
    ofType,
    runExample,
    validateKubernetesObjects,
    type ExampleRun,
} from "./harness";
import { startRegistryDouble, type RegistryDouble } from "./registry-double";

const README = readFileSync(path.join(EXAMPLES, "token-auth", "README.md"), "utf8");
const ROUTER_IMAGE = `registry.example.io/amlaks-router@sha256:${"a".repeat(64)}`;
const CNAME = "scoring.example.com";

let registry: RegistryDouble;
let run: ExampleRun;
let certPem: string;
let keyPem: string;

/** The service's auth config as the router's Kubernetes backend reads it from the cluster. */
function routerAuth(): ServiceAuthConfig {
    const d = one(run, "kubernetes:apps/v1:Deployment", "diabetes-token-deployment");
    const t = translateDeployment(d.inputs, secretAsApiReturnsIt());
    assert.ok(t.ok, JSON.stringify(t));
    assert.deepEqual(t.warnings, []);
    return t.definition.auth;
}

/** The auth Secret as the API returns it: `stringData` folded into base64 `data`. */
function secretAsApiReturnsIt(): {
    metadata: Record<string, unknown>;
    data: Record<string, string>;
} {
    const s = one(run, "kubernetes:core/v1:Secret", "diabetes-token-auth");
    const data = Object.fromEntries(
        Object.entries(s.inputs.stringData as Record<string, string>).map(([k, v]) => [
            k,
            Buffer.from(v).toString("base64"),
        ]),
    );
    return { metadata: s.inputs.metadata, data };
}

before(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "amlaks-token-example-"));
    try {
        execFileSync(
            "openssl",
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
                .concat(["-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")])
                .concat(["-days", "1", "-subj", `/CN=${CNAME}`]),
            { stdio: "ignore" },
        );
        certPem = readFileSync(path.join(dir, "cert.pem"), "utf8");
        keyPem = readFileSync(path.join(dir, "key.pem"), "utf8");
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
    registry = await startRegistryDouble();
    run = await runExample("token-auth", {
        providerConfig: { "azure-native:location": "northeurope" },
        config: { routerImage: ROUTER_IMAGE, sslCname: CNAME },
        secrets: { sslCertPem: certPem, sslKeyPem: keyPem },
        registryServer: registry.host,
    });
});
after(() => registry?.close());

describe("examples/token-auth", () => {
    test("token auth only: a signing key, no keys; the URL is HTTPS on the custom domain", () => {
        assert.equal(run.outputs.authMode, "token");
        assert.equal(
            run.outputs.scoringUri,
            `https://${CNAME}/api/v1/service/diabetes-token/score`,
        );
        assert.equal(run.outputs.tokenAudience, "amlaks:service:diabetes-token");
        assert.equal(run.outputs.tokenIssuer, "amlaks://cluster");
        assert.equal(ofType(run, "random:index/randomPassword:RandomPassword").length, 0);
        const secret = one(run, "kubernetes:core/v1:Secret", "diabetes-token-auth");
        assert.deepEqual(Object.keys(secret.inputs.stringData).sort(), [
            "tokenSigningKey.pem",
            "tokenSigningKeys.json",
        ]);
        assert.deepEqual(run.secretOutputs, ["kubeconfig"]);
        for (const v of Object.values(run.outputs)) {
            assert.ok(!String(v).includes("PRIVATE KEY"), "no private key in an output");
        }
    });

    test("the cluster is in the workspace's region, with the certificate on the router", () => {
        const aks = one(run, "azure-native:containerservice:ManagedCluster");
        const ws = one(run, "azure-native:machinelearningservices:Workspace");
        assert.equal(aks.inputs.location, "northeurope");
        assert.equal(ws.inputs.location, "northeurope");
        const tls = ofType(run, "kubernetes:core/v1:Secret").filter(
            (s) => s.inputs.type === "kubernetes.io/tls",
        );
        assert.equal(tls.length, 1);
        assert.equal(tls[0]!.inputs.stringData["tls.crt"], certPem);
    });

    test("get-token.ts mints a token the router accepts for this service, and only for it", async () => {
        const auth = routerAuth();
        const authenticator = new Authenticator();
        const before = Math.floor(Date.now() / 1000);
        const token = await tokenFromSecret(secretAsApiReturnsIt());
        assert.equal(token.tokenType, "Bearer");
        // The README's sample token starts as every token does: base64url of {"alg":"ES256","kid":
        assert.ok(README.includes(`"${token.accessToken.slice(0, 28)}…"`), token.accessToken);
        assert.ok(token.expiryOn - before >= 3600 - 1 && token.expiryOn - before <= 3600 + 1);
        assert.equal(token.expiryOn - token.refreshAfter, 1800);
        const ok = await authenticator.authenticate(
            auth,
            { authorization: `Bearer ${token.accessToken}` },
            "diabetes-token",
        );
        assert.ok(ok.ok);

        // The same signing key, another service's name: refused.
        const other = await tokenFromSecret(secretAsApiReturnsIt(), "diabetes-other");
        const refused = await authenticator.authenticate(
            auth,
            { authorization: `Bearer ${other.accessToken}` },
            "diabetes-token",
        );
        assert.equal(refused.ok, false);
        // No token at all.
        assert.equal((await authenticator.authenticate(auth, {}, "diabetes-token")).ok, false);
        for (const field of ["accessToken", "tokenType", "refreshAfter", "expiryOn"]) {
            assert.ok(README.includes(`"${field}"`), `README shows ${field}`);
        }
    });

    test("get-token.ts on a key-auth Secret says what is wrong", () => {
        assert.throws(
            () => tokenFromSecret({ data: { primaryKey: "eA==" } }),
            /Secret diabetes-token-auth has no tokenSigningKey\.pem: is "diabetes-token" a token-auth service\?/,
        );
    });

    test("every Kubernetes object matches the OpenAPI schema; the policy pack passes (all mandatory)", () => {
        assert.ok(validateKubernetesObjects(run) >= 15);
        assert.deepEqual(run.evaluation.violations, []);
    });
});
