/**
 * The router's one vocabulary of outcomes (router/outcomes.ts) and its documentation: every
 * reason documented with its status, every metric the router registers documented by name.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Registry } from "prom-client";
import { AutoscalerLoop } from "../../router/autoscaler/loop";
import { OUTCOMES, OUTCOME_REASONS, outcomeStatus } from "../../router/outcomes";
import { Router } from "../../router/router";
import { silentLogger } from "../../router/log";

const DOC = readFileSync(join(__dirname, "..", "..", "docs", "router.md"), "utf8");

describe("OUTCOMES", () => {
    test("gives every 503 a Retry-After and only 503s", () => {
        for (const reason of OUTCOME_REASONS) {
            const o = OUTCOMES[reason];
            assert.equal("retryAfter" in o && o.retryAfter, o.status === 503, reason);
        }
    });

    test("counts 401s as auth failures and the two size limits as payload-limit rejections", () => {
        const counted = (c: string) =>
            OUTCOME_REASONS.filter(
                (r) =>
                    "counter" in OUTCOMES[r] && (OUTCOMES[r] as { counter?: string }).counter === c,
            );
        assert.deepEqual(counted("auth_failures"), ["unauthorized"]);
        assert.deepEqual(counted("payload_limit_rejections"), [
            "body_too_large",
            "replica_response_too_large",
        ]);
        assert.equal(outcomeStatus("unauthorized"), 401);
    });

    test("are documented in docs/router.md, each with its status", () => {
        for (const reason of OUTCOME_REASONS) {
            const row = new RegExp(`^\\| \`${reason}\` \\| (\\d{3}|\\(sent\\)) \\|`, "m").exec(DOC);
            assert.ok(row, `docs/router.md has a row for ${reason}`);
            if (reason !== "client_stalled")
                assert.equal(Number(row[1]), OUTCOMES[reason].status, reason);
        }
    });
});

describe("metrics documentation", () => {
    test("names every metric the router and the autoscaler register", async () => {
        const router = new Router({ logger: silentLogger(), defaultMetrics: false });
        new AutoscalerLoop({
            routing: router,
            backend: { currentReplicas: () => 0, scaleTo: async () => undefined },
            registry: router.registry as Registry,
        });
        const names = (await router.registry.getMetricsAsJSON()).map((m) => m.name);
        assert.ok(names.length >= 19, `found ${names.length}`);
        for (const name of names) {
            assert.ok(DOC.includes(`\`${name}\``), `docs/router.md documents ${name}`);
        }
        await router.close(0);
    });
});
