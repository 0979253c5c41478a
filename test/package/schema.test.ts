/**
 * The multi-language schema, inferred in process by the analyzer the Node.js language host runs
 * (from @pulumi/pulumi), over the TypeScript sources: a fast gate in `npm test` for arg and output
 * types the inference cannot handle (unions, readonly arrays, provider references, ...). The real
 * CLI's `pulumi package get-schema` on provider/ and on the packed files, with the built
 * declarations, is test/e2e/package-schema.e2e.ts.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Analyzer } from "@pulumi/pulumi/provider/experimental/analyzer";
import { getPulumiComponents } from "@pulumi/pulumi/provider/experimental/provider";
import { generateSchema } from "@pulumi/pulumi/provider/experimental/schema";
import { checkSchema, type PackageSchema } from "./schema-checks";

const REPO = resolve(__dirname, "..", "..");
const plugin = JSON.parse(readFileSync(join(REPO, "provider", "package.json"), "utf8")) as {
    name: string;
    version: string;
    main: string;
};
const root = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as {
    version: string;
    main: string;
};

let dir: string;
before(() => {
    dir = mkdtempSync(join(tmpdir(), "amlaks-schema-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("the multi-language package", () => {
    test("provider/package.json: the package name of the type tokens, the library's version and main", () => {
        assert.equal(plugin.name, "amlaks");
        assert.equal(plugin.version, root.version);
        assert.equal(resolve(REPO, "provider", plugin.main), resolve(REPO, root.main));
    });

    test("the schema inferred from the sources holds the four components", () => {
        // The components the host would serve: what the library's entry exports.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const names = getPulumiComponents(require(join(REPO, "index"))).map((c) => c.name);
        // The host analyzes provider/index.ts; here an entry of the same shape over the sources.
        writeFileSync(
            join(dir, "package.json"),
            JSON.stringify({ name: plugin.name, version: plugin.version, main: "index.js" }),
        );
        writeFileSync(
            join(dir, "tsconfig.json"),
            JSON.stringify({
                compilerOptions: {
                    target: "ES2022",
                    module: "commonjs",
                    moduleResolution: "node",
                    strict: true,
                    skipLibCheck: true,
                    resolveJsonModule: true,
                    esModuleInterop: true,
                    types: ["node"],
                    typeRoots: [join(REPO, "node_modules", "@types")],
                },
                files: ["index.ts"],
            }),
        );
        writeFileSync(
            join(dir, "index.ts"),
            `export * from ${JSON.stringify(join(REPO, "index"))};\n`,
        );
        const pkg = { name: plugin.name, version: plugin.version };
        const analyzed = new Analyzer(dir, plugin.name, pkg, new Set(names)).analyze();
        const schema = generateSchema(
            plugin.name,
            plugin.version,
            "",
            analyzed.components,
            analyzed.typeDefinitions,
            analyzed.dependencies,
        ) as unknown as PackageSchema;
        checkSchema(schema, root.version);
    });
});
