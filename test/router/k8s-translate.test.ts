// The Kubernetes backend's pure translation: what AksWebservice renders (the real render
// functions) → what the router serves. Objects are shaped as the API server returns them
// (Secret stringData → base64 data, metadata filled in).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { modelServiceInput } from "../support/model-service";
import { generateKeyPairSync } from "node:crypto";
import { type WebserviceSettingsInput } from "../../components/settings";
import {
    SETTINGS_ANNOTATION,
    TOKEN_ISSUER,
    tokenAudience,
} from "../../components/webservice/contract";
import { renderPublicJwks } from "../../components/webservice/keys";
import {
    renderAuthSecret,
    renderDeployment,
    type WebserviceRenderInput,
} from "../../components/webservice/render";
import { matchesServiceKey } from "../../router/auth/keys";
import {
    type DeploymentLike,
    type EndpointSliceLike,
    replicasFromSlices,
    resolveOwners,
    type SecretLike,
    translateDeployment,
} from "../../router/backends/kubernetes/translate";

const PRIMARY = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const SECONDARY = "0f9e8d7c6b5a49382716f5e4d3c2b1a0";

function renderInput(
    settings: Partial<WebserviceSettingsInput>,
    extra: Partial<WebserviceRenderInput> = {},
): WebserviceRenderInput {
    return modelServiceInput(settings, { primaryKey: PRIMARY, secondaryKey: SECONDARY }, extra);
}

/** The Deployment as the API server returns it. */
function deployment(
    input: WebserviceRenderInput,
    meta: { uid?: string; created?: Date | string; namespace?: string } = {},
): DeploymentLike {
    const d = renderDeployment(input) as unknown as {
        metadata: Record<string, unknown>;
        spec: { replicas: number };
    };
    return {
        ...d,
        metadata: {
            ...d.metadata,
            namespace: meta.namespace ?? (d.metadata.namespace as string),
            uid: meta.uid ?? "uid-1",
            creationTimestamp: meta.created ?? "2025-01-01T00:00:00Z",
        },
    } as DeploymentLike;
}

/** The auth Secret as the API server returns it: stringData folded into base64 data. */
function secret(input: WebserviceRenderInput): SecretLike {
    const s = renderAuthSecret(input) as unknown as {
        metadata: Record<string, string>;
        stringData: Record<string, string>;
    };
    const data = Object.fromEntries(
        Object.entries(s.stringData).map(([k, v]) => [k, Buffer.from(v).toString("base64")]),
    );
    return { metadata: s.metadata, data };
}

function withSettingsText(d: DeploymentLike, text: string): DeploymentLike {
    return {
        ...d,
        metadata: {
            ...d.metadata,
            annotations: { ...d.metadata?.annotations, [SETTINGS_ANNOTATION]: text },
        },
    };
}

describe("model Deployment + auth Secret → service definition", () => {
    test("key auth: the rendered settings and both keys from the Secret", () => {
        const input = renderInput({ authEnabled: true, cpuCores: 0.5, scoringTimeoutMs: 5000 });
        const t = translateDeployment(deployment(input), secret(input));
        assert.ok(t.ok, !t.ok ? t.problem : "");
        assert.equal(t.definition.name, "diabetes");
        assert.equal(t.definition.settings.cpuCores, 0.5);
        assert.equal(t.definition.settings.scoringTimeoutMs, 5000);
        assert.equal(t.definition.settings.namespace, input.settings.namespace);
        assert.deepEqual(t.definition.auth, {
            mode: "key",
            primaryKey: PRIMARY,
            secondaryKey: SECONDARY,
        });
        assert.equal(t.definition.settings.primaryKey, undefined, "keys live in auth only");
        assert.deepEqual(t.warnings, []);
    });

    test("a rotated secondary key arrives together with the unchanged primary", () => {
        const input = renderInput({ authEnabled: true });
        const rotated = "fedcba9876543210fedcba9876543210";
        const s = secret({ ...input, keys: { primaryKey: PRIMARY, secondaryKey: rotated } });
        const t = translateDeployment(deployment(input), s);
        assert.ok(t.ok);
        assert.ok(matchesServiceKey(t.definition.auth, PRIMARY));
        assert.ok(matchesServiceKey(t.definition.auth, rotated));
        assert.ok(!matchesServiceKey(t.definition.auth, SECONDARY), "the old secondary is gone");
    });

    test("key auth without its Secret, or with an empty one, accepts no key (never open)", () => {
        const input = renderInput({ authEnabled: true });
        const emptySecret: SecretLike = { metadata: secret(input).metadata, data: {} };
        for (const s of [undefined, emptySecret]) {
            const t = translateDeployment(deployment(input), s);
            assert.ok(t.ok);
            assert.equal(t.definition.auth.mode, "key");
            for (const k of [PRIMARY, SECONDARY, "", "undefined"]) {
                assert.ok(!matchesServiceKey(t.definition.auth, k), `key ${k} must not pass`);
            }
            assert.ok(
                t.warnings.some((w) => /no usable key/.test(w)),
                t.warnings.join("; "),
            );
        }
    });

    test("a weak key edited into the Secret is refused without being echoed", () => {
        const input = renderInput({ authEnabled: true });
        const s = secret({ ...input, keys: { primaryKey: "short", secondaryKey: SECONDARY } });
        const t = translateDeployment(deployment(input), s);
        assert.ok(t.ok);
        assert.ok(!matchesServiceKey(t.definition.auth, "short"));
        assert.ok(matchesServiceKey(t.definition.auth, SECONDARY));
        assert.ok(t.warnings.some((w) => /primaryKey/.test(w)));
        assert.ok(!t.warnings.join(" ").includes("short"), "the refused key is not logged");
    });

    test("auth off: no Secret needed, nothing required", () => {
        const input = renderInput({ authEnabled: false });
        const t = translateDeployment(deployment(input), undefined);
        assert.ok(t.ok);
        assert.deepEqual(t.definition.auth, { mode: "none" });
    });

    test("token auth: public JWKs, audience and issuer; the private key is never read", () => {
        const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
        const publicPem = publicKey.export({ type: "spki", format: "pem" }).toString();
        const privatePem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
        const jwks = renderPublicJwks([publicPem]);
        const input = renderInput(
            { tokenAuthEnabled: true },
            { keys: undefined, tokenSigning: { privateKeyPem: privatePem, publicJwks: jwks } },
        );
        const t = translateDeployment(deployment(input), secret(input));
        assert.ok(t.ok, !t.ok ? t.problem : "");
        assert.equal(t.definition.auth.mode, "token");
        assert.deepEqual(t.definition.auth.signingPublicKeys, JSON.parse(jwks));
        assert.equal(t.definition.auth.audience, tokenAudience("diabetes"));
        assert.equal(t.definition.auth.issuer, TOKEN_ISSUER);
        assert.equal(t.definition.auth.primaryKey, undefined);
        assert.ok(!JSON.stringify(t.definition).includes("PRIVATE KEY"));
    });

    test("token auth: private JWK members are dropped, a missing JWKS accepts no token", () => {
        const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
        const leaked = privateKey.export({ format: "jwk" });
        const input = renderInput(
            { tokenAuthEnabled: true },
            {
                keys: undefined,
                tokenSigning: { privateKeyPem: "x", publicJwks: JSON.stringify([leaked]) },
            },
        );
        const t = translateDeployment(deployment(input), secret(input));
        assert.ok(t.ok);
        const [k] = t.definition.auth.signingPublicKeys ?? [];
        assert.equal(k.kty, "EC");
        assert.equal(k.d, undefined, "the private scalar must not reach the router");
        const none = translateDeployment(deployment(input), undefined);
        assert.ok(none.ok);
        assert.deepEqual(none.ok && none.definition.auth.signingPublicKeys, []);
    });

    test("invalid or missing settings annotation → a problem that says why", () => {
        const d = deployment(renderInput({ authEnabled: true }));
        const badJson = translateDeployment(withSettingsText(d, "{not json"), undefined);
        assert.ok(!badJson.ok);
        assert.match(badJson.problem, /amlaks\.io\/settings is not valid JSON/);

        const badValue = translateDeployment(
            withSettingsText(d, JSON.stringify({ name: "diabetes", memoryGb: -1 })),
            undefined,
        );
        assert.ok(!badValue.ok);
        assert.match(badValue.problem, /memoryGb: -1/);

        const otherName = translateDeployment(
            withSettingsText(d, JSON.stringify({ name: "other-svc" })),
            undefined,
        );
        assert.ok(!otherName.ok);
        assert.match(otherName.problem, /names service "other-svc"/);

        const { [SETTINGS_ANNOTATION]: _drop, ...rest } = d.metadata?.annotations ?? {};
        const missing = translateDeployment(
            { ...d, metadata: { ...d.metadata, annotations: rest } },
            undefined,
        );
        assert.ok(!missing.ok);
        assert.match(missing.problem, /has no amlaks\.io\/settings annotation/);
    });
});

function endpoint(pod: string, address: string, ready: boolean | undefined) {
    return {
        addresses: [address],
        conditions: { ready, serving: true, terminating: ready === false },
        targetRef: { kind: "Pod", name: pod },
    };
}

describe("EndpointSlices → ready replicas", () => {
    test("only ready endpoints, on the port named http, one replica per pod", () => {
        const slices: EndpointSliceLike[] = [
            {
                metadata: { name: "diabetes-b" },
                ports: [
                    { name: "metrics", port: 9000 },
                    { name: "http", port: 5001 },
                ],
                endpoints: [
                    endpoint("pod-2", "198.18.0.12", true),
                    endpoint("pod-1", "198.18.0.11", true), // also in slice a
                ],
            },
            {
                metadata: { name: "diabetes-a" },
                ports: [{ name: "http", port: 5001 }],
                endpoints: [
                    endpoint("pod-1", "198.18.0.11", true),
                    endpoint("pod-3", "198.18.0.13", false), // terminating, still serving
                    endpoint("pod-4", "198.18.0.14", undefined), // readiness unknown
                ],
            },
            {
                metadata: { name: "diabetes-v6" },
                ports: [{ name: "http", port: 5001 }],
                endpoints: [endpoint("pod-6", "fd00::6", true)],
            },
            {
                metadata: { name: "diabetes-noport" },
                ports: [{ name: "other", port: 80 }],
                endpoints: [endpoint("pod-5", "198.18.0.15", true)],
            },
        ];
        assert.deepEqual(replicasFromSlices(slices), [
            { id: "pod-1", url: "http://198.18.0.11:5001" },
            { id: "pod-2", url: "http://198.18.0.12:5001" },
            { id: "pod-6", url: "http://[fd00::6]:5001" },
        ]);
    });

    test("no slices or no endpoints → no replicas", () => {
        assert.deepEqual(replicasFromSlices([]), []);
        assert.deepEqual(
            replicasFromSlices([
                { metadata: { name: "s" }, ports: [{ name: "http", port: 5001 }], endpoints: null },
            ]),
            [],
        );
    });
});

describe("two namespaces claiming one service name", () => {
    const input = renderInput({ authEnabled: true });
    const older = deployment(input, {
        namespace: "team-b",
        uid: "b",
        created: new Date("2025-01-01T00:00:00Z"),
    });
    const newer = deployment(input, {
        namespace: "team-a",
        uid: "a",
        created: "2025-02-01T00:00:00Z",
    });

    test("the older Deployment serves the name whatever the order seen; the other is a conflict", () => {
        for (const order of [
            [older, newer],
            [newer, older],
        ]) {
            const { owners, conflicts } = resolveOwners(order);
            assert.equal(owners.get("diabetes"), older);
            assert.deepEqual(conflicts, [
                { service: "diabetes", winner: "team-b/diabetes", loser: "team-a/diabetes" },
            ]);
        }
    });

    test("same creation time: the namespace name decides; a lone Deployment has no conflict", () => {
        const twin = deployment(input, {
            namespace: "team-c",
            uid: "c",
            created: "2025-01-01T00:00:00Z",
        });
        const { owners, conflicts } = resolveOwners([twin, older]);
        assert.equal(owners.get("diabetes"), older);
        assert.equal(conflicts.length, 1);
        assert.equal(conflicts[0].loser, "team-c/diabetes");
        assert.deepEqual(resolveOwners([newer]).conflicts, []);
    });
});
