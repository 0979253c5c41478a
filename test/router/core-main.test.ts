/**
 * The router entry: environment parsing (ROUTER_*), the static services file, `startRouter` with
 * a backend and an extension (the autoscaler's plug), readiness once synced, graceful stop order.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ValidationError } from "../../components/common/validation";
import { silentLogger } from "../../router/log";
import { optionsFromEnv, parseStaticServices, startRouter } from "../../router/main";
import type { Backend, BackendListener } from "../../router/types";
import { ReplicaServer } from "../support/replica-server";
import { call, definition, score } from "./core-harness";

const dir = mkdtempSync(join(tmpdir(), "router-main-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("router core: entry", () => {
    test("reads ROUTER_* with the documented defaults", () => {
        const o = optionsFromEnv({});
        assert.equal(o.host, "0.0.0.0");
        assert.equal(o.httpPort, 8080);
        assert.equal(o.httpsPort, undefined);
        assert.deepEqual(o.services, []);
        const t = optionsFromEnv({
            ROUTER_HOST: "127.0.0.1",
            ROUTER_HTTP_PORT: "off",
            ROUTER_HTTPS_PORT: "8443",
            ROUTER_TLS_CERT_FILE: "/c.pem",
            ROUTER_TLS_KEY_FILE: "/k.pem",
            ROUTER_MAX_BODY_BYTES: "1000",
            ROUTER_ACCESS_LOG: "false",
            ROUTER_METRICS: "false",
        });
        assert.equal(t.httpPort, null);
        assert.equal(t.httpsPort, 8443);
        assert.deepEqual(t.router, { maxBodyBytes: 1000, accessLog: false, metrics: false });
        assert.equal(optionsFromEnv({}).router?.metrics, true);
    });

    test("reports every bad variable at once", () => {
        assert.throws(
            () =>
                optionsFromEnv({
                    ROUTER_HTTP_PORT: "eighty",
                    ROUTER_HTTPS_PORT: "443",
                    ROUTER_DRAIN_TIMEOUT_MS: "-1",
                    ROUTER_METRICS: "no",
                }),
            (err: ValidationError) => {
                const fields = err.problems.map((p) => p.field).sort();
                assert.deepEqual(fields, [
                    "ROUTER_DRAIN_TIMEOUT_MS",
                    "ROUTER_HTTPS_PORT",
                    "ROUTER_HTTP_PORT",
                    "ROUTER_METRICS",
                ]);
                return true;
            },
        );
    });

    test("reads a static services file and validates its settings", () => {
        const file = join(dir, "services.yaml");
        writeFileSync(
            file,
            [
                "services:",
                "  - settings: { name: sample, primaryKey: k-0123456789abcdefghijklmnopqrstuv }",
                "    replicas: [{ id: a, url: 'http://127.0.0.1:5001/' }]",
            ].join("\n"),
        );
        const o = optionsFromEnv({ ROUTER_SERVICES_FILE: file });
        assert.equal(o.services?.length, 1);
        const s = o.services?.[0];
        assert.equal(s?.definition.auth.mode, "key");
        assert.equal(s?.definition.auth.primaryKey, "k-0123456789abcdefghijklmnopqrstuv");
        assert.deepEqual(s?.replicas, [{ id: "a", url: "http://127.0.0.1:5001" }]);
        assert.throws(
            () =>
                parseStaticServices({
                    services: [{ settings: { name: "x" } }, { settings: { name: "okay-name" } }],
                }),
            (err: ValidationError) => {
                const fields = err.problems.map((p) => p.field);
                assert.ok(fields.includes("services[0].settings.name"));
                assert.ok(
                    fields.includes("services[1].settings.primaryKey"),
                    "key auth needs a key",
                );
                return true;
            },
        );
    });

    test("starts with a backend and an extension, is ready once synced, and stops in order", async () => {
        const replica = await ReplicaServer.start({ id: "b1" });
        const events: string[] = [];
        const backend: Backend = {
            kind: "local",
            async start(listener: BackendListener) {
                events.push("backend.start");
                listener.onService(definition({ name: "from-backend", authEnabled: false }));
                listener.onReplicas("from-backend", [replica.replica]);
            },
            currentReplicas: () => 1,
            scaleTo: async () => undefined,
            async stop() {
                events.push("backend.stop");
            },
        };
        const running = await startRouter({
            host: "127.0.0.1",
            httpPort: 0,
            backend,
            logger: silentLogger(),
            router: { defaultMetrics: false },
            extensions: [
                (ctx) => ({
                    wrapListener: (next) => ({
                        onService: (d) => {
                            events.push(`ext.onService:${d.name}`);
                            next.onService(d);
                        },
                        onServiceRemoved: (n) => next.onServiceRemoved(n),
                        onReplicas: (s, r) => next.onReplicas(s, r),
                    }),
                    start: () => {
                        events.push(`ext.start:${ctx.registry === ctx.router.registry}`);
                    },
                    stop: () => {
                        events.push("ext.stop");
                    },
                }),
            ],
        });
        try {
            const url = running.httpUrl as string;
            assert.equal((await call(`${url}/readyz`, { method: "GET" })).status, 200);
            assert.equal((await score(url, "from-backend")).status, 200);
        } finally {
            await running.stop();
            await replica.close();
        }
        assert.deepEqual(events, [
            "backend.start",
            "ext.onService:from-backend",
            "ext.start:true",
            "ext.stop",
            "backend.stop",
        ]);
    });
});
describe("router entry: kubernetes backend", () => {
    test("reports every missing or bad kubernetes variable at once, naming what is allowed", () => {
        assert.throws(
            () =>
                optionsFromEnv({
                    ROUTER_BACKEND: "kubernetes",
                    ROUTER_WATCH_NAMESPACES: "models,Bad_NS",
                    ROUTER_LEASE_DURATION_MS: "500",
                    ROUTER_METRICS_PORT: "0",
                }),
            (err: ValidationError) => {
                const byField = Object.fromEntries(err.problems.map((p) => [p.field, p]));
                assert.deepEqual(Object.keys(byField).sort(), [
                    "ROUTER_LEASE_DURATION_MS",
                    "ROUTER_METRICS_PORT",
                    "ROUTER_NAMESPACE",
                    "ROUTER_POD_NAME",
                    "ROUTER_WATCH_NAMESPACES",
                ]);
                assert.match(byField.ROUTER_WATCH_NAMESPACES.rule, /not valid: Bad_NS/);
                assert.match(byField.ROUTER_LEASE_DURATION_MS.rule, /from 1000 to 3600000/);
                return true;
            },
        );
    });

    test("builds the backend, the scaler and the metrics port from a complete environment", () => {
        const dir = mkdtempSync(join(tmpdir(), "router-k8s-env-"));
        const kubeconfig = join(dir, "kubeconfig");
        writeFileSync(
            kubeconfig,
            [
                "apiVersion: v1",
                "kind: Config",
                "clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:6443' } }]",
                "users: [{ name: u, user: { token: t } }]",
                "contexts: [{ name: x, context: { cluster: c, user: u } }]",
                "current-context: x",
            ].join("\n"),
        );
        const o = optionsFromEnv({
            ROUTER_BACKEND: "kubernetes",
            ROUTER_NAMESPACE: "azureml",
            ROUTER_POD_NAME: "amlaks-router-5d8f-abcde",
            ROUTER_WATCH_NAMESPACES: "models, team-b",
            KUBECONFIG: kubeconfig,
        });
        assert.equal(o.backend?.kind, "kubernetes");
        assert.equal(o.metricsPort, 9090);
        assert.equal(o.routerId, "amlaks-router-5d8f-abcde");
        assert.equal(o.extensions?.length, 2);
        assert.throws(
            () =>
                optionsFromEnv({
                    ROUTER_BACKEND: "kubernetes",
                    ROUTER_NAMESPACE: "azureml",
                    ROUTER_POD_NAME: "p",
                    ROUTER_WATCH_NAMESPACES: "models",
                    KUBECONFIG: join(dir, "missing"),
                }),
            /KUBECONFIG: "[^"]*missing" cannot be loaded/,
        );
    });
});
