/**
 * The Kubernetes Events the router writes for its scaling actions (R29–R32: it replaces the HPA,
 * so it reports as one): the pure Event body (checked against the core/v1 Event schema), the
 * repeat throttle for Warnings, and the writer against a loopback HTTP server that answers as the
 * API server would. The same writes against a real API server, with the router's own Role, are in
 * test/e2e/router-backend.e2e.ts.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { Event } from "kubernetes-models/v1/Event";
import pino from "pino";
import {
    apiErrorText,
    EVENT_COMPONENT,
    EventWriter,
    rescaleMessage,
    scaleEvent,
    WarningThrottle,
} from "../../router/backends/kubernetes/events";

const TARGET = { namespace: "models", deployment: "diabetes", deploymentUid: "0b6b3c4e-uid" };
const NOW = new Date("2026-11-29T12:00:00.123Z");

describe("scaleEvent: the Event body", () => {
    test("a core/v1 Event on the Deployment, valid against the schema, named as client-go names them", () => {
        const e = scaleEvent({
            ...TARGET,
            reason: "SuccessfulRescale",
            message: rescaleMessage(1, 3, []),
            instance: "router-abc",
            now: NOW,
        });
        new Event(JSON.parse(JSON.stringify(e))).validate();
        assert.equal(e.metadata?.namespace, "models");
        // <name>.<unix nanoseconds in hex>
        assert.equal(
            e.metadata?.name,
            `diabetes.${(BigInt(NOW.getTime()) * 1_000_000n).toString(16)}`,
        );
        assert.deepEqual(e.involvedObject, {
            apiVersion: "apps/v1",
            kind: "Deployment",
            name: "diabetes",
            namespace: "models",
            uid: "0b6b3c4e-uid",
        });
        assert.equal(e.type, "Normal");
        assert.equal(e.reason, "SuccessfulRescale");
        assert.equal(e.message, "New size: 3; was 1; reason: router autoscaler");
        assert.equal(e.count, 1);
        assert.deepEqual(e.source, { component: EVENT_COMPONENT });
        assert.equal(e.reportingComponent, EVENT_COMPONENT);
        assert.equal(e.reportingInstance, "router-abc");
    });

    test("failures and kept victims are Warnings; a scale-in names the drained pods", () => {
        for (const reason of ["FailedRescale", "DrainedPodKept"] as const) {
            const e = scaleEvent({ ...TARGET, reason, message: "m", instance: "r", now: NOW });
            new Event(JSON.parse(JSON.stringify(e))).validate();
            assert.equal(e.type, "Warning", reason);
        }
        assert.equal(
            rescaleMessage(4, 2, ["diabetes-7f-a", "diabetes-7f-b"]),
            "New size: 2; was 4; reason: router autoscaler; drained first: diabetes-7f-a, diabetes-7f-b",
        );
    });

    test("a message over 1024 characters is cut (the Events API's limit on a note)", () => {
        const e = scaleEvent({
            ...TARGET,
            reason: "FailedRescale",
            message: "x".repeat(5000),
            instance: "r",
            now: NOW,
        });
        assert.equal(e.message?.length, 1024);
        assert.ok(e.message?.endsWith("..."));
    });
});

describe("apiErrorText", () => {
    test("the Status message of an API error, without the body and headers the client adds", () => {
        const status = {
            kind: "Status",
            message:
                'deployments.apps "diabetes" is forbidden: cannot patch resource "deployments/scale"',
            code: 403,
        };
        const e = Object.assign(
            new Error(`HTTP-Code: 403\nBody: ...\nHeaders: {"audit-id": "x"}`),
            {
                code: 403,
                body: JSON.stringify(status),
            },
        );
        assert.equal(apiErrorText(e), `403 ${status.message}`);
        assert.equal(apiErrorText(Object.assign(new Error("x"), { code: 401 })), "HTTP 401");
        assert.equal(
            apiErrorText(new Error("connect ECONNREFUSED 127.0.0.1:6443")),
            "connect ECONNREFUSED 127.0.0.1:6443",
        );
    });
});

describe("WarningThrottle", () => {
    test("the same key passes once per window; other keys are independent", () => {
        const t = new WarningThrottle(60_000);
        assert.equal(t.admit("a", 0), true);
        assert.equal(t.admit("a", 59_999), false);
        assert.equal(t.admit("b", 59_999), true);
        assert.equal(t.admit("a", 60_000), true);
        assert.equal(t.admit("a", 60_001), false);
    });
});

/** Answers event creation as the API server does, or with `status` when set. */
class FakeEventsApi {
    readonly posts: { path: string; body: k8s.CoreV1Event }[] = [];
    status = 201;
    private readonly server = http.createServer((req, res) => {
        let raw = "";
        req.on("data", (c: Buffer) => (raw += c.toString()));
        req.on("end", () => {
            if (this.status !== 201) {
                res.writeHead(this.status, { "content-type": "application/json" });
                res.end(
                    JSON.stringify({
                        kind: "Status",
                        apiVersion: "v1",
                        status: "Failure",
                        message: 'events is forbidden: User "x" cannot create resource "events"',
                        reason: "Forbidden",
                        code: this.status,
                    }),
                );
                return;
            }
            const body = JSON.parse(raw) as k8s.CoreV1Event;
            this.posts.push({ path: `${req.method} ${req.url}`, body });
            res.writeHead(201, { "content-type": "application/json" });
            res.end(JSON.stringify(body));
        });
    });

    async start(): Promise<k8s.CoreV1Api> {
        await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
        const { port } = this.server.address() as AddressInfo;
        const kc = new k8s.KubeConfig();
        kc.loadFromOptions({
            clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
            users: [{ name: "u", token: "t" }],
            contexts: [{ name: "c", cluster: "c", user: "u" }],
            currentContext: "c",
        });
        return kc.makeApiClient(k8s.CoreV1Api);
    }

    close(): Promise<void> {
        return new Promise((r) => this.server.close(() => r()));
    }
}

describe("EventWriter", () => {
    const api = new FakeEventsApi();
    let core: k8s.CoreV1Api;
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: "info" }, { write: (l: string) => lines.push(JSON.parse(l)) });
    let nowMs = NOW.getTime();
    before(async () => {
        core = await api.start();
    });
    after(() => api.close());

    test("POSTs the Event to the Deployment's namespace; identical Warnings are held back for the window, Normal never", async () => {
        const w = new EventWriter(core, "router-1", logger, 60_000, () => new Date(nowMs));
        w.write(TARGET, "SuccessfulRescale", "up");
        w.write(TARGET, "FailedRescale", "boom");
        nowMs += 1;
        w.write(TARGET, "SuccessfulRescale", "up");
        w.write(TARGET, "FailedRescale", "boom"); // held back
        w.write(TARGET, "FailedRescale", "other error");
        await w.settled();
        assert.deepEqual(
            api.posts.map((p) => [p.path, p.body.reason, p.body.message]),
            [
                ["POST /api/v1/namespaces/models/events", "SuccessfulRescale", "up"],
                ["POST /api/v1/namespaces/models/events", "FailedRescale", "boom"],
                ["POST /api/v1/namespaces/models/events", "SuccessfulRescale", "up"],
                ["POST /api/v1/namespaces/models/events", "FailedRescale", "other error"],
            ],
        );
        // Names are unique even within one millisecond (the API server answers 409 otherwise).
        assert.equal(new Set(api.posts.map((p) => p.body.metadata?.name)).size, 4);
        nowMs += 60_000;
        w.write(TARGET, "FailedRescale", "boom");
        await w.settled();
        assert.equal(api.posts.at(-1)?.body.message, "boom", "written again after the window");
    });

    test("a refused write never throws; it is logged once per writer", async () => {
        api.status = 403;
        const w = new EventWriter(core, "router-1", logger, 60_000, () => new Date(nowMs++));
        const before = lines.length;
        w.write(TARGET, "SuccessfulRescale", "a");
        w.write(TARGET, "SuccessfulRescale", "b");
        await w.settled();
        const logged = lines.slice(before);
        assert.equal(logged.length, 1);
        assert.match(logged[0].msg, /could not write a Kubernetes Event/);
        assert.equal(logged[0].level, 40);
        api.status = 201;
    });
});
