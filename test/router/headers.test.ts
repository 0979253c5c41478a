/**
 * Header rules of the proxy (router/routing/headers.ts), directly: what the model server gets and
 * what the client gets back, including the fast paths of the hot path (issue 16).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { downstreamResponseHeaders, upstreamRequestHeaders } from "../../router/routing/headers";

describe("upstreamRequestHeaders", () => {
    test("drops hop-by-hop headers, the ones Connection names and the caller's key (R5)", () => {
        const out = upstreamRequestHeaders(
            {
                host: "router.example",
                authorization: "Bearer secret",
                connection: "keep-alive, X-Private",
                "x-private": "1",
                "keep-alive": "timeout=5",
                "content-type": "application/json",
            },
            { requestId: "r-1", clientIp: "10.0.0.9", proto: "https" },
        );
        assert.equal(out.authorization, undefined);
        assert.equal(out["x-private"], undefined);
        assert.equal(out["keep-alive"], undefined);
        assert.equal(out.connection, undefined);
        assert.equal(out["content-type"], "application/json");
        assert.equal(out["x-request-id"], "r-1");
        assert.equal(out["x-forwarded-for"], "10.0.0.9");
    });

    test("a plain `Connection: keep-alive` keeps every end-to-end header", () => {
        const out = upstreamRequestHeaders(
            { connection: "Keep-Alive", "x-custom": "a" },
            { requestId: "r-2", clientIp: "10.0.0.9", proto: "http" },
        );
        assert.equal(out["x-custom"], "a");
    });

    test("Forwarded is the router's own element, right for each caller in any order", () => {
        const fwd = (clientIp: string | undefined, proto: "http" | "https", host?: string) =>
            upstreamRequestHeaders(
                { ...(host === undefined ? {} : { host }), forwarded: "for=evil" },
                { requestId: "r", clientIp, proto },
            ).forwarded;
        const cases: [string | undefined, "http" | "https", string | undefined, string][] = [
            ["10.0.0.1", "http", "a.example", "for=10.0.0.1;proto=http;host=a.example"],
            ["10.0.0.2", "http", "a.example", "for=10.0.0.2;proto=http;host=a.example"],
            ["10.0.0.2", "https", "a.example", "for=10.0.0.2;proto=https;host=a.example"],
            [
                "10.0.0.2",
                "https",
                "b.example:8443",
                'for=10.0.0.2;proto=https;host="b.example:8443"',
            ],
            ["::1", "https", undefined, 'for="[::1]";proto=https'],
            [undefined, "https", undefined, "proto=https"],
        ];
        // Twice over, alternating: the remembered element must never leak to another caller.
        for (let i = 0; i < 2; i++) {
            for (const [ip, proto, host, expected] of cases) {
                assert.equal(fwd(ip, proto, host), expected, `${ip} ${proto} ${host}`);
            }
        }
    });
});

describe("downstreamResponseHeaders", () => {
    test("drops hop-by-hop headers, Server and what Connection names; adds ids and the length", () => {
        // Passed through in order, repeated ones included.
        const kept = ["X-Ms-Run-Fn-Exec-Ms", "3", "Set-Cookie", "a", "Set-Cookie", "b"];
        const dropped = ["Connection", "keep-alive, X-Hop", "X-Hop", "1", "Server", "gunicorn"];
        assert.deepEqual(downstreamResponseHeaders([...dropped, ...kept], "r-9", 12, 200), [
            ...kept,
            ...["x-request-id", "r-9", "x-ms-request-id", "r-9", "content-length", "12"],
        ]);
    });

    test("`Connection: close` alone drops nothing else; no length on 204", () => {
        assert.deepEqual(
            downstreamResponseHeaders(["Connection", "close", "X-A", "1"], "r", 0, 204),
            ["X-A", "1", "x-request-id", "r", "x-ms-request-id", "r"],
        );
    });
});
