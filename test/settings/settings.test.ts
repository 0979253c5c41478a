import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
    MAX_MODELS_PER_SERVICE,
    MAX_TIMER_MS,
    MIN_KEY_LENGTH,
    SETTING_LIMITS,
    keyProblem,
    WEBSERVICE_DEFAULTS,
    WEBSERVICE_SETTING_FIELDS,
    authMode,
    requiredReplicas,
    validateWebserviceSettings,
    type WebserviceSettingsInput,
} from "../../components/settings";
import { ValidationError } from "../../components/common/validation";
import { generateServiceKey } from "../../router/auth";

/** Runs the validator and returns its problems as "field: rule" lines (or [] when valid). */
function problems(input: unknown): string[] {
    try {
        validateWebserviceSettings(input as WebserviceSettingsInput);
        return [];
    } catch (e) {
        assert.ok(e instanceof ValidationError, `expected ValidationError, got ${String(e)}`);
        return e.problems.map((p) => `${p.field}: ${p.rule}`);
    }
}

function messageOf(input: unknown): string {
    try {
        validateWebserviceSettings(input as WebserviceSettingsInput);
    } catch (e) {
        return (e as Error).message;
    }
    assert.fail("expected the settings to be rejected");
}

describe("validateWebserviceSettings defaults (aml-v1-spec §1.1)", () => {
    test("applies every v1 default to a minimal service", () => {
        const s = validateWebserviceSettings({ name: "diabetes" });
        assert.deepEqual(s, {
            name: "diabetes",
            cpuCores: 0.1,
            memoryGb: 0.5,
            gpuCores: 0,
            cpuCoresLimit: undefined,
            memoryGbLimit: undefined,
            autoscaleEnabled: true,
            autoscaleMinReplicas: 1,
            autoscaleMaxReplicas: 10,
            autoscaleRefreshSeconds: 1,
            autoscaleTargetUtilization: 70,
            numReplicas: undefined,
            authEnabled: true,
            tokenAuthEnabled: false,
            primaryKey: undefined,
            secondaryKey: undefined,
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
            namespace: "azureml-services",
            description: undefined,
            tags: {},
            properties: {},
            models: [],
        });
    });

    test("conflict choices: autoscale on unless numReplicas, gpuCores 0, probe timeout 2 s", () => {
        assert.equal(WEBSERVICE_DEFAULTS.gpuCores, 0);
        assert.equal(WEBSERVICE_DEFAULTS.timeoutSeconds, 2);
        const fixed = validateWebserviceSettings({ name: "svc", numReplicas: 3 });
        assert.equal(fixed.autoscaleEnabled, false);
        assert.equal(fixed.numReplicas, 3);
        assert.equal(validateWebserviceSettings({ name: "svc" }).autoscaleEnabled, true);
    });

    test("R35: key auth by default, token auth instead of key auth when asked", () => {
        assert.equal(authMode(validateWebserviceSettings({ name: "svc" })), "key");
        const token = validateWebserviceSettings({ name: "svc", tokenAuthEnabled: true });
        assert.equal(token.authEnabled, false);
        assert.equal(authMode(token), "token");
        assert.equal(
            authMode(validateWebserviceSettings({ name: "svc", authEnabled: false })),
            "none",
        );
    });

    test("explicit autoscale knobs are kept", () => {
        const s = validateWebserviceSettings({
            name: "svc",
            autoscaleEnabled: true,
            autoscaleMinReplicas: 1,
            autoscaleMaxReplicas: 4,
            autoscaleTargetUtilization: 30,
            autoscaleRefreshSeconds: 2,
        });
        assert.equal(s.autoscaleMaxReplicas, 4);
        assert.equal(s.autoscaleTargetUtilization, 30);
        assert.equal(s.autoscaleRefreshSeconds, 2);
    });

    test("the result does not share maps with the input", () => {
        const tags = { team: "ml" };
        const s = validateWebserviceSettings({ name: "svc", tags });
        tags.team = "changed";
        assert.equal(s.tags.team, "ml");
    });
});

describe("validateWebserviceSettings rules (aml-v1-spec §1.2)", () => {
    test("service name: 3-32 chars, lowercase, starts with a letter (S2)", () => {
        for (const ok of ["abc", "a-1", "diabetes-v2", "a".repeat(32)]) {
            assert.deepEqual(problems({ name: ok }), [], ok);
        }
        for (const bad of ["ab", "a".repeat(33), "1abc", "Abc", "ab_c", "abc-", "", undefined]) {
            assert.deepEqual(
                problems({ name: bad }),
                [
                    "name: must be 3-32 characters of lowercase letters, digits and dashes, start with a letter and end with a letter or digit",
                ],
                String(bad),
            );
        }
    });

    test("rule 1-2: requests > 0 and limits >= requests", () => {
        assert.deepEqual(problems({ name: "svc", cpuCores: 0 }), [
            "cpuCores: must be a number > 0",
        ]);
        assert.deepEqual(problems({ name: "svc", memoryGb: -1 }), [
            "memoryGb: must be a number > 0",
        ]);
        assert.deepEqual(problems({ name: "svc", cpuCores: 2, cpuCoresLimit: 1 }), [
            "cpuCoresLimit: must be >= cpuCores (2)",
        ]);
        assert.deepEqual(problems({ name: "svc", memoryGb: 4, memoryGbLimit: 2 }), [
            "memoryGbLimit: must be >= memoryGb (4)",
        ]);
        // The limit is compared with the default request when the request is not given.
        assert.deepEqual(problems({ name: "svc", cpuCoresLimit: 0.05 }), [
            "cpuCoresLimit: must be >= cpuCores (0.1)",
        ]);
        assert.deepEqual(problems({ name: "svc", cpuCores: 1, cpuCoresLimit: 1 }), []);
        assert.deepEqual(problems({ name: "svc", cpuCores: Number.NaN }), [
            "cpuCores: must be a number > 0",
        ]);
    });

    test("rule 3: gpuCores is a whole number >= 0", () => {
        assert.deepEqual(problems({ name: "svc", gpuCores: -1 }), [
            "gpuCores: must be a whole number >= 0",
        ]);
        assert.deepEqual(problems({ name: "svc", gpuCores: 0.5 }), [
            "gpuCores: must be a whole number >= 0",
        ]);
        assert.deepEqual(problems({ name: "svc", gpuCores: 1 }), []);
    });

    test("rules 4 and 6: probe, timeout, concurrency, queue and replica knobs are positive", () => {
        for (const f of [
            "periodSeconds",
            "initialDelaySeconds",
            "timeoutSeconds",
            "successThreshold",
            "failureThreshold",
            "scoringTimeoutMs",
            "replicaMaxConcurrentRequests",
            "maxRequestWaitTime",
        ]) {
            assert.deepEqual(
                problems({ name: "svc", [f]: 0 }),
                [`${f}: must be a whole number > 0`],
                f,
            );
            assert.deepEqual(
                problems({ name: "svc", [f]: 1.5 }),
                [`${f}: must be a whole number > 0`],
                f,
            );
        }
        assert.deepEqual(problems({ name: "svc", numReplicas: 0 }), [
            "numReplicas: must be a whole number > 0",
        ]);
    });

    test("rule 5: namespace is a DNS label (S3 NAMESPACE_REGEX)", () => {
        assert.deepEqual(problems({ name: "svc", namespace: "ml-prod" }), []);
        assert.deepEqual(problems({ name: "svc", namespace: "a".repeat(63) }), []);
        for (const bad of ["ML", "-a", "a-", "a".repeat(64), "a_b"]) {
            assert.deepEqual(
                problems({ name: "svc", namespace: bad }),
                [
                    "namespace: must be a Kubernetes namespace name (lowercase letters, digits and dashes, at most 63 characters)",
                ],
                bad,
            );
        }
    });

    test("modelDataCollectionSampleRate: a fraction from 0 to 1 (issue 12)", () => {
        for (const ok of [0, 0.25, 1]) {
            assert.deepEqual(
                problems({ name: "svc", modelDataCollectionSampleRate: ok }),
                [],
                String(ok),
            );
        }
        const rule =
            "modelDataCollectionSampleRate: must be a number from 0 to 1 (the fraction of scoring requests collected; 1 = all)";
        for (const bad of [-0.1, 1.5, Number.NaN, "0.5", null]) {
            assert.deepEqual(
                problems({ name: "svc", modelDataCollectionSampleRate: bad }),
                [rule],
                String(bad),
            );
        }
        assert.match(
            messageOf({ name: "svc", modelDataCollectionSampleRate: 2 }),
            /modelDataCollectionSampleRate.*2/,
        );
    });

    test("rule 7: with autoscale on, numReplicas is refused and knobs must be positive, min <= max", () => {
        assert.deepEqual(problems({ name: "svc", autoscaleEnabled: true, numReplicas: 2 }), [
            "numReplicas: cannot be set when autoscaleEnabled is true",
        ]);
        assert.deepEqual(
            problems({
                name: "svc",
                autoscaleEnabled: true,
                autoscaleMinReplicas: 0,
                autoscaleRefreshSeconds: -1,
            }),
            [
                "autoscaleMinReplicas: must be a whole number > 0",
                "autoscaleRefreshSeconds: must be a whole number > 0",
            ],
        );
        assert.deepEqual(
            problems({
                name: "svc",
                autoscaleEnabled: true,
                autoscaleMinReplicas: 5,
                autoscaleMaxReplicas: 4,
            }),
            ["autoscaleMinReplicas: must be <= autoscaleMaxReplicas (4)"],
        );
        // Min above the default max (10) is caught too.
        assert.deepEqual(
            problems({ name: "svc", autoscaleEnabled: true, autoscaleMinReplicas: 11 }),
            ["autoscaleMinReplicas: must be <= autoscaleMaxReplicas (10)"],
        );
        assert.deepEqual(
            problems({ name: "svc", autoscaleEnabled: true, autoscaleTargetUtilization: 101 }),
            ["autoscaleTargetUtilization: is a percentage and must be <= 100"],
        );
    });

    test("rule 8: autoscale knobs need autoscaleEnabled: true; autoscale off needs numReplicas", () => {
        assert.deepEqual(problems({ name: "svc", autoscaleEnabled: false }), [
            "numReplicas: is required when autoscaleEnabled is false",
        ]);
        assert.deepEqual(problems({ name: "svc", autoscaleMaxReplicas: 4 }), [
            "autoscaleMaxReplicas: requires autoscaleEnabled: true",
        ]);
        assert.deepEqual(
            problems({
                name: "svc",
                autoscaleEnabled: false,
                numReplicas: 2,
                autoscaleMinReplicas: 1,
            }),
            ["autoscaleMinReplicas: requires autoscaleEnabled: true"],
        );
    });

    test("rule 9: key auth and token auth are exclusive (R35)", () => {
        assert.deepEqual(problems({ name: "svc", authEnabled: true, tokenAuthEnabled: true }), [
            "tokenAuthEnabled: cannot be true while authEnabled is true (key and token auth are exclusive)",
        ]);
    });

    test("R27: at most 1000 models", () => {
        const models = Array.from({ length: MAX_MODELS_PER_SERVICE }, (_, i) => `m${i}.pkl`);
        assert.deepEqual(problems({ name: "svc", models }), []);
        assert.deepEqual(problems({ name: "svc", models: [...models, "one-more.pkl"] }), [
            "models: must be at most 1000 per service (R27)",
        ]);
        assert.deepEqual(problems({ name: "svc", models: ["a.pkl", ""] }), [
            "models[1]: must be a non-empty path",
        ]);
    });

    test("unknown fields are rejected (a typo must not pass silently)", () => {
        const [only] = problems({ name: "svc", cpu_cores: 1 });
        assert.match(only, /^cpu_cores: is not a web service setting; allowed: name, cpuCores/);
        assert.ok(WEBSERVICE_SETTING_FIELDS.includes("replicaMaxConcurrentRequests"));
    });

    test("types are checked", () => {
        assert.deepEqual(problems({ name: "svc", authEnabled: "yes" }), [
            "authEnabled: must be true or false",
        ]);
        assert.deepEqual(problems({ name: "svc", tags: { a: 1 } }), ["tags.a: must be a string"]);
        assert.deepEqual(problems({ name: "svc", properties: [] }), [
            "properties: must be a map of string keys to string values",
        ]);
        assert.deepEqual(problems({ name: "svc", description: 5 }), [
            "description: must be a string",
        ]);
        assert.deepEqual(problems(null), ["settings: must be an object of web service settings"]);
    });

    test("keys are checked without ever being echoed", () => {
        const secret = "has a space and is secret";
        const message = messageOf({ name: "svc", primaryKey: secret });
        assert.ok(!message.includes(secret));
        assert.match(
            message,
            /primaryKey: "\(redacted\)" must be 32-256 printable ASCII characters without spaces/,
        );
    });

    test("issue 15: keys are long, varied and two different ones; generated keys pass", () => {
        const strong = "k3y-0123456789abcdefghijklmnopqrstuv";
        assert.deepEqual(problems({ name: "svc", primaryKey: "x" }), [
            "primaryKey: must be 32-256 printable ASCII characters without spaces",
        ]);
        assert.deepEqual(problems({ name: "svc", primaryKey: "a".repeat(40) }), [
            "primaryKey: must contain at least 8 different characters (use a random key, e.g. generateServiceKey())",
        ]);
        assert.deepEqual(problems({ name: "svc", primaryKey: strong, secondaryKey: strong }), [
            "secondaryKey: must differ from primaryKey",
        ]);
        assert.ok(
            !messageOf({ name: "svc", primaryKey: strong, secondaryKey: strong }).includes(strong),
        );
        for (let i = 0; i < 50; i++) {
            assert.equal(keyProblem(generateServiceKey()), undefined);
        }
        assert.equal(MIN_KEY_LENGTH, 32);
    });

    test("issue 15: every duration and count has an upper bound the runtime honours", () => {
        // 2^31 ms and more fire after 1 ms in Node; 1e30 is no duration at all.
        for (const v of [2 ** 31, 1e30]) {
            assert.deepEqual(problems({ name: "svc", scoringTimeoutMs: v }), [
                "scoringTimeoutMs: must be a whole number from 1 to 300000",
            ]);
            assert.deepEqual(problems({ name: "svc", maxRequestWaitTime: v }), [
                "maxRequestWaitTime: must be a whole number from 1 to 300000",
            ]);
        }
        assert.deepEqual(problems({ name: "svc", scoringTimeoutMs: 300_000 }), []);
        for (const [field, max] of Object.entries(SETTING_LIMITS)) {
            const autoscale = field.startsWith("autoscale") ? { autoscaleEnabled: true } : {};
            const replicas = field === "numReplicas" ? { autoscaleEnabled: false } : {};
            const over = problems({ name: "svc", ...autoscale, ...replicas, [field]: max + 1 });
            assert.ok(
                over.some((p) => p.startsWith(`${field}: must`) && p.includes(String(max))),
                `${field} above ${max}: ${over.join("; ")}`,
            );
            const at = problems({
                name: "svc",
                ...autoscale,
                ...replicas,
                ...(field === "autoscaleMinReplicas" ? { autoscaleMaxReplicas: max } : {}),
                [field]: max,
            });
            assert.deepEqual(at, [], `${field} at ${max}`);
            assert.ok(max <= MAX_TIMER_MS);
        }
    });

    test("every problem is reported at once, with field, value and rule", () => {
        const message = messageOf({
            name: "X",
            cpuCores: -2,
            gpuCores: 1.5,
            authEnabled: true,
            tokenAuthEnabled: true,
            autoscaleMaxReplicas: 3,
        });
        assert.equal(
            message,
            [
                "Invalid web service settings:",
                '  - name: "X" must be 3-32 characters of lowercase letters, digits and dashes, start with a letter and end with a letter or digit',
                "  - cpuCores: -2 must be a number > 0",
                "  - gpuCores: 1.5 must be a whole number >= 0",
                "  - autoscaleMaxReplicas: 3 requires autoscaleEnabled: true",
                "  - tokenAuthEnabled: true cannot be true while authEnabled is true (key and token auth are exclusive)",
            ].join("\n"),
        );
    });
});

describe("requiredReplicas (R34)", () => {
    test("the article's example: 20 rps, 10 s, 70%, 1 per replica → 286", () => {
        assert.equal(
            requiredReplicas({
                targetRps: 20,
                requestSeconds: 10,
                targetUtilization: 0.7,
                maxConcurrentPerReplica: 1,
            }),
            286,
        );
    });

    test("divides by concurrency per replica and is not fooled by float noise", () => {
        assert.equal(
            requiredReplicas({
                targetRps: 20,
                requestSeconds: 10,
                targetUtilization: 0.7,
                maxConcurrentPerReplica: 4,
            }),
            72,
        );
        // 7 * 1 / 0.7 is 10.000000000000002 in floating point; the answer is 10.
        assert.equal(
            requiredReplicas({
                targetRps: 7,
                requestSeconds: 1,
                targetUtilization: 0.7,
                maxConcurrentPerReplica: 1,
            }),
            10,
        );
        assert.equal(
            requiredReplicas({
                targetRps: 0.1,
                requestSeconds: 0.1,
                targetUtilization: 1,
                maxConcurrentPerReplica: 1,
            }),
            1,
        );
    });

    test("validates every input at once", () => {
        assert.throws(
            () =>
                requiredReplicas({
                    targetRps: 0,
                    requestSeconds: -1,
                    targetUtilization: 70,
                    maxConcurrentPerReplica: 0.5,
                }),
            (e: unknown) =>
                e instanceof ValidationError &&
                e.message ===
                    [
                        "Invalid requiredReplicas input:",
                        "  - targetRps: 0 must be a number > 0",
                        "  - requestSeconds: -1 must be a number > 0",
                        "  - targetUtilization: 70 must be a fraction in (0, 1], e.g. 0.7 for 70%",
                        "  - maxConcurrentPerReplica: 0.5 must be a whole number > 0",
                    ].join("\n"),
        );
    });
});
