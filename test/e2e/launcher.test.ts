/**
 * The launcher's pure decisions, in `npm test` (no tools needed): which addresses may become test
 * hosts, certificate subjects, tool discovery errors, and how preview steps are read.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { POD_CIDR, SERVICE_CIDR } from "./cluster/control-plane";
import { subjectOf } from "./cluster/pki";
import { checkTestHostAddress, HOST_SIDE_IP, inCidr } from "./cluster/test-hosts";
import { CLUSTER_TOOLS, requireTools } from "./cluster/tools";
import { changes, urnTail } from "./pulumi/stack";

describe("address plan", () => {
    test("inCidr honours the block's edges", () => {
        assert.ok(inCidr("198.18.0.0", "198.18.0.0/17"));
        assert.ok(inCidr("198.18.127.255", "198.18.0.0/17"));
        assert.ok(!inCidr("198.18.128.0", "198.18.0.0/17"));
        assert.ok(!inCidr("198.17.255.255", "198.18.0.0/17"));
        assert.ok(!inCidr("not-an-ip", "198.18.0.0/17"));
    });

    test("pods, services and the host side of test hosts never overlap, and none is private", () => {
        assert.ok(!inCidr(HOST_SIDE_IP, POD_CIDR));
        assert.ok(!inCidr(HOST_SIDE_IP, SERVICE_CIDR));
        for (const cidr of [POD_CIDR, SERVICE_CIDR]) {
            const base = cidr.split("/")[0]!;
            for (const priv of ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"]) {
                assert.ok(!inCidr(base, priv), `${cidr} is inside ${priv}`);
            }
        }
    });

    test("only pod addresses may become test hosts", () => {
        checkTestHostAddress("198.18.0.5");
        for (const bad of [
            "10.0.0.1",
            "127.0.0.1",
            "192.168.1.1",
            "8.8.8.8",
            "198.18.200.1",
            HOST_SIDE_IP,
        ]) {
            assert.throws(
                () => checkTestHostAddress(bad),
                /is not a pod address in 198\.18\.0\.0\/17/,
                bad,
            );
        }
    });
});

describe("certificates", () => {
    test("subjects carry the user as CN and each group as O, with separators escaped", () => {
        assert.equal(
            subjectOf({ user: "amlaks-admin", groups: ["system:masters"] }),
            "/CN=amlaks-admin/O=system:masters",
        );
        assert.equal(subjectOf({ user: "a/b=c", groups: [] }), "/CN=a\\/b\\=c");
    });
});

describe("tools", () => {
    test("a missing tool names every missing file and how to build it", () => {
        const dir = mkdtempSync(join(tmpdir(), "amlaks-tools-"));
        const saved = process.env.AMLAKS_TOOLS_DIR;
        process.env.AMLAKS_TOOLS_DIR = dir;
        try {
            assert.throws(
                () => requireTools(CLUSTER_TOOLS),
                (e: Error) =>
                    e.message.includes(join(dir, "bin", "kube-apiserver")) &&
                    e.message.includes(join(dir, "bin", "kwok-stages.yaml")) &&
                    e.message.includes("scripts/tools/build.sh"),
            );
        } finally {
            if (saved === undefined) delete process.env.AMLAKS_TOOLS_DIR;
            else process.env.AMLAKS_TOOLS_DIR = saved;
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("reading a preview", () => {
    const urn = (type: string, name: string): string =>
        `urn:pulumi:dev::proj::amlaks:index:AksWebservice$${type}::${name}`;
    test("urnTail keeps the last type and the name", () => {
        assert.equal(
            urnTail(urn("kubernetes:apps/v1:Deployment", "svc-deployment")),
            "kubernetes:apps/v1:Deployment::svc-deployment",
        );
    });
    test("changes drops same, read and the stack itself", () => {
        const steps = [
            { op: "same", urn: urn("kubernetes:core/v1:Service", "a") },
            { op: "read", urn: urn("kubernetes:core/v1:Service", "b") },
            { op: "update", urn: "urn:pulumi:dev::proj::pulumi:pulumi:Stack::proj-dev" },
            { op: "update", urn: urn("kubernetes:apps/v1:Deployment", "d") },
        ];
        assert.deepEqual(
            changes(steps).map((s) => s.op),
            ["update"],
        );
    });
});
