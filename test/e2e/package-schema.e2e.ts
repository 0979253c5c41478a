/**
 * The real CLI's schema step of the multi-language package: `pulumi package get-schema` (the
 * built CLI and Node.js language host, its own PULUMI_HOME, no plugin downloads, no network) on
 * provider/ of this checkout and on the same folder inside the files `npm pack` ships, laid out as
 * an installed dependency. The CLI installs the plugin folder, runs it, infers the schema from the
 * built declarations (dist/*.d.ts) and binds it: a type the inference cannot handle fails here.
 * Needs `npm run build` (the plugin runs dist/).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
    cpSync,
    existsSync,
    mkdirSync,
    mkdtempSync,
    readdirSync,
    readFileSync,
    rmSync,
    symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { checkSchema, type PackageSchema } from "../package/schema-checks";
import { createEngine, type Engine } from "./pulumi/engine";
import { REPO } from "./support";

const VERSION = (
    JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }
).version;

let dir: string;
let engine: Engine;

before(async () => {
    if (!existsSync(join(REPO, "dist", "index.d.ts"))) {
        throw new Error("dist/ is missing: the plugin runs the built library (`npm run build`)");
    }
    dir = mkdtempSync(join(tmpdir(), "amlaks-e2e-schema-"));
    engine = await createEngine(join(dir, "pulumi"));
});
after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * `pulumi package get-schema` of a plugin folder, given as "." from inside it: the CLI reads an `@`
 * in a source as `<name>@<version>`, so a path through node_modules/@amlaks cannot be passed.
 */
async function getSchema(pluginDir: string): Promise<PackageSchema> {
    const r = await engine.ok(["package", "get-schema", "."], pluginDir);
    return JSON.parse(r.stdout) as PackageSchema;
}

/** The files `npm pack` would ship (the `files` list plus what npm always adds). */
function packedFiles(): string[] {
    const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
        cwd: REPO,
        encoding: "utf8",
    });
    const [pack] = JSON.parse(out) as { files: { path: string }[] }[];
    return pack!.files.map((f) => f.path);
}

describe("pulumi package get-schema", () => {
    test("provider/ of the checkout: the four components, their key inputs and outputs", async () => {
        checkSchema(await getSchema(join(REPO, "provider")), VERSION);
        // The CLI's `npm install` in the plugin folder leaves nothing behind (provider/.npmrc).
        assert.ok(!existsSync(join(REPO, "provider", "package-lock.json")));
    });

    test("provider/ inside the packed files, installed as a dependency: the same schema", async () => {
        // node_modules/@amlaks/pulumi-aml-aks holds exactly the packed files; its dependencies
        // are the checkout's (links), as npm would hoist them next to it.
        const project = join(dir, "project");
        const pkgDir = join(project, "node_modules", "@amlaks", "pulumi-aml-aks");
        for (const f of packedFiles()) {
            mkdirSync(dirname(join(pkgDir, f)), { recursive: true });
            cpSync(join(REPO, f), join(pkgDir, f));
        }
        for (const entry of readdirSync(join(REPO, "node_modules"))) {
            if (entry === "@amlaks" || entry.startsWith(".")) continue;
            symlinkSync(join(REPO, "node_modules", entry), join(project, "node_modules", entry));
        }
        checkSchema(await getSchema(join(pkgDir, "provider")), VERSION);
    });
});
