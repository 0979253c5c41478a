/**
 * scripts/sdk-copies.mjs, the "one SDK copy" check of issue 17 (used by the consumer test and the
 * newest-SDK run), on small installed trees: it must see a nested second @pulumi/pulumi (what a
 * user got while this package pinned `~3.248.0`) and pass a tree where the package shares the
 * user's copy.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "./project";

type Manifest = Record<string, unknown>;

/** Writes a project whose node_modules holds `installed` (path under node_modules → manifest). */
function tree(dir: string, project: Manifest, installed: Record<string, Manifest>): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "package.json"), JSON.stringify(project));
    for (const [path, manifest] of Object.entries(installed)) {
        mkdirSync(join(dir, "node_modules", path), { recursive: true });
        writeFileSync(join(dir, "node_modules", path, "package.json"), JSON.stringify(manifest));
    }
}

function check(dir: string): { status: number | null; out: Record<string, unknown>; err: string } {
    const r = spawnSync(process.execPath, [join(REPO, "scripts", "sdk-copies.mjs"), dir], {
        encoding: "utf8",
    });
    return {
        status: r.status,
        out: JSON.parse(r.stdout) as Record<string, unknown>,
        err: r.stderr,
    };
}

const USER = {
    name: "platform-program",
    version: "1.0.0",
    dependencies: { "@pulumi/pulumi": "^3.276.0", "@amlaks/pulumi-aml-aks": "0.1.0" },
};

describe("scripts/sdk-copies.mjs", () => {
    let root: string;
    before(() => {
        root = mkdtempSync(join(tmpdir(), "amlaks-sdk-copies-"));
    });
    after(() => rmSync(root, { recursive: true, force: true }));

    test("a pinned dependency nested under the package is a second copy: exit 1, both listed", () => {
        const dir = join(root, "pinned");
        tree(dir, USER, {
            "@pulumi/pulumi": { name: "@pulumi/pulumi", version: "3.276.0" },
            "@amlaks/pulumi-aml-aks": {
                name: "@amlaks/pulumi-aml-aks",
                version: "0.1.0",
                dependencies: { "@pulumi/pulumi": "~3.248.0" },
            },
            "@amlaks/pulumi-aml-aks/node_modules/@pulumi/pulumi": {
                name: "@pulumi/pulumi",
                version: "3.248.0",
            },
        });
        const r = check(dir);
        assert.equal(r.status, 1, r.err);
        assert.deepEqual((r.out.copies as Record<string, unknown>)["@pulumi/pulumi"], [
            { path: join(dir, "node_modules", "@pulumi", "pulumi"), version: "3.276.0" },
            {
                path: join(
                    dir,
                    "node_modules",
                    "@amlaks",
                    "pulumi-aml-aks",
                    "node_modules",
                    "@pulumi",
                    "pulumi",
                ),
                version: "3.248.0",
            },
        ]);
        assert.match(r.err, /@pulumi\/pulumi: 2 copies \(3\.276\.0, 3\.248\.0\)/);
    });

    test("a peer dependency the user's copy satisfies: one copy, exit 0, npm ls satisfied", () => {
        const dir = join(root, "peer");
        tree(dir, USER, {
            "@pulumi/pulumi": { name: "@pulumi/pulumi", version: "3.276.0" },
            "@amlaks/pulumi-aml-aks": {
                name: "@amlaks/pulumi-aml-aks",
                version: "0.1.0",
                peerDependencies: { "@pulumi/pulumi": "^3.248.0" },
            },
        });
        const r = check(dir);
        assert.equal(r.status, 0, r.err);
        assert.deepEqual((r.out.copies as Record<string, unknown>)["@pulumi/pulumi"], [
            { path: join(dir, "node_modules", "@pulumi", "pulumi"), version: "3.276.0" },
        ]);
        assert.equal(r.out.npmStatus, 0, String(r.out.npmErrors));
    });

    test("a user's copy outside the peer range is reported by npm (npmStatus, npmErrors)", () => {
        const dir = join(root, "too-old");
        tree(
            dir,
            { ...USER, dependencies: { ...USER.dependencies, "@pulumi/pulumi": "3.200.0" } },
            {
                "@pulumi/pulumi": { name: "@pulumi/pulumi", version: "3.200.0" },
                "@amlaks/pulumi-aml-aks": {
                    name: "@amlaks/pulumi-aml-aks",
                    version: "0.1.0",
                    peerDependencies: { "@pulumi/pulumi": "^3.248.0" },
                },
            },
        );
        const r = check(dir);
        assert.notEqual(r.out.npmStatus, 0);
        assert.match(String(r.out.npmErrors), /invalid: @pulumi\/pulumi@3\.200\.0/);
    });
});
