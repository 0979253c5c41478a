/**
 * TLS termination (R6): HTTPS from PEM files, TLS ≥ 1.2, and certificate reload when the files
 * change (rotation without restart; a half-written pair keeps the old certificate).
 * Certificates are made with the openssl CLI (test/support/tls.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as tls from "node:tls";
import { ReplicaServer } from "../support/replica-server";
import { selfSignedCert } from "../support/tls";
import { eventually, sleep, startHarness, type Harness } from "./core-harness";

const dir = mkdtempSync(join(tmpdir(), "router-tls-"));
const certFile = join(dir, "tls.crt");
const keyFile = join(dir, "tls.key");

/** A certificate for 127.0.0.1 and localhost whose subject CN tells it apart. */
function makeCert(cn: string): { cert: string; key: string } {
    return selfSignedCert({ dir, name: `gen-${cn}`, cn });
}

/** Subject CN of the certificate the server presents on a new connection. */
function presentedCn(
    port: number,
    extra: tls.ConnectionOptions = {},
): Promise<{ cn: string; protocol: string | null }> {
    return new Promise((resolve, reject) => {
        const s = tls.connect(
            { host: "127.0.0.1", port, rejectUnauthorized: false, ...extra },
            () => {
                const cn = String(s.getPeerCertificate().subject?.CN ?? "");
                const protocol = s.getProtocol();
                s.end();
                resolve({ cn, protocol });
            },
        );
        s.on("error", reject);
    });
}

let replica: ReplicaServer;
let h: Harness;
let port: number;
let first: { cert: string; key: string };

before(async () => {
    first = makeCert("first");
    writeFileSync(certFile, first.cert);
    writeFileSync(keyFile, first.key);
    replica = await ReplicaServer.start({ id: "tls-1" });
    h = await startHarness({
        httpsPort: 0,
        tls: { certFile, keyFile },
        services: [
            { settings: { name: "tls-svc", authEnabled: false }, replicas: [replica.replica] },
        ],
    });
    port = Number(new URL(h.server.httpsUrl as string).port);
});
after(async () => {
    await h.close();
    await replica.close();
    rmSync(dir, { recursive: true, force: true });
});

describe("router core: TLS", () => {
    test("serves scoring over HTTPS with the configured certificate", async () => {
        const body = await new Promise<{ status: number; text: string }>((resolve, reject) => {
            const req = https.request(
                `https://127.0.0.1:${port}/api/v1/service/tls-svc/score`,
                { method: "POST", ca: first.cert, agent: false },
                (res) => {
                    let text = "";
                    res.on("data", (d) => (text += d));
                    res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
                },
            );
            req.on("error", reject);
            req.end("{}");
        });
        assert.equal(body.status, 200);
        assert.equal(JSON.parse(body.text).headers["x-forwarded-proto"], "https");
        const { cn, protocol } = await presentedCn(port);
        assert.equal(cn, "first");
        assert.ok(protocol === "TLSv1.2" || protocol === "TLSv1.3");
    });

    test("refuses TLS below 1.2", async () => {
        await assert.rejects(
            presentedCn(port, {
                maxVersion: "TLSv1.1",
                minVersion: "TLSv1",
                ciphers: "DEFAULT:@SECLEVEL=0",
            }),
        );
        const { protocol } = await presentedCn(port, { maxVersion: "TLSv1.2" });
        assert.equal(protocol, "TLSv1.2");
    });

    test("keeps the old certificate while the new pair is incomplete, then reloads it", async () => {
        const second = makeCert("second");
        // Half a rotation: new cert, old key — not a valid pair, so nothing changes.
        writeFileSync(certFile, second.cert);
        await sleep(400);
        assert.equal((await presentedCn(port)).cn, "first");
        // Complete it the way rotation tools do: write aside, rename into place.
        writeFileSync(`${keyFile}.tmp`, second.key);
        renameSync(`${keyFile}.tmp`, keyFile);
        let cn = "";
        await eventually(
            () => {
                void presentedCn(port).then(
                    (r) => (cn = r.cn),
                    () => undefined,
                );
                return cn === "second";
            },
            5000,
            "new certificate served",
        );
        assert.ok(h.server.tlsReloads >= 1);
    });
});
