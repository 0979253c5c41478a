// Bundles the router (router/main.ts and everything it imports, node_modules included) into ONE
// file, dist/router-image/router.js, and copies router/Dockerfile next to it: the ready build
// context that `routerImage()` (components/cluster/router-image.ts) builds and pushes.
//
// The output must be byte-identical on every machine for the same sources and dependency
// versions: its hash names the image, so an image built elsewhere is reused. Paths in the bundle
// are therefore relative to the repository root, and nothing time- or host-dependent goes in.
//
// `--outdir <dir>` writes the context elsewhere (tests); the default is dist/router-image.
//
// Fails when the bundle would contain @pulumi/* code: the router must not pull the deployment
// engine's SDK (hundreds of MB of gRPC and plugins) into a pod image. Fails too when code is left
// to `require` at run time (the image holds router.js only), except the optional modules below.
import { copyFileSync, mkdirSync, rmSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outArg = process.argv.indexOf("--outdir");
if (outArg !== -1 && !process.argv[outArg + 1]) {
    console.error("bundle-router: --outdir needs a folder");
    process.exit(2);
}
const outDir =
    outArg === -1 ? join(root, "dist", "router-image") : resolve(process.argv[outArg + 1]);
const outFile = join(outDir, "router.js");

/**
 * Modules that dependencies `require` inside try/catch and work without; they are not installed,
 * so they stay unresolved in the bundle on purpose.
 */
const OPTIONAL_EXTERNALS = new Set([
    "bufferutil", // ws: native masking speed-up
    "utf-8-validate", // ws: native UTF-8 check
    "encoding", // node-fetch: non-UTF-8 charsets in textConverted()
]);

function fail(message) {
    rmSync(outDir, { recursive: true, force: true });
    console.error(`bundle-router: ${message}`);
    process.exit(1);
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

let result;
try {
    result = await esbuild.build({
        absWorkingDir: root,
        entryPoints: ["router/main.ts"],
        outfile: outFile,
        bundle: true,
        platform: "node",
        target: "node20",
        format: "cjs",
        minify: false,
        sourcemap: false,
        // Third-party licence headers travel with the code they cover.
        legalComments: "eof",
        // ESM builds of some dependencies (@azure/storage-common) read import.meta.url when
        // loaded; in this CommonJS bundle it is empty unless it becomes the bundle's own URL.
        banner: { js: 'const __bundleUrl = require("node:url").pathToFileURL(__filename).href;' },
        define: { "import.meta.url": "__bundleUrl" },
        metafile: true,
        logLevel: "warning",
        tsconfig: join(root, "tsconfig.build.json"),
    });
} catch {
    // esbuild has printed the errors.
    fail("esbuild failed (errors above)");
}

const pulumiInputs = Object.keys(result.metafile.inputs).filter((p) =>
    /(^|\/)node_modules\/@pulumi\//.test(p),
);
if (pulumiInputs.length > 0) {
    fail(
        `the router bundle pulls in @pulumi/* code, which must stay out of the router image. ` +
            `Offending inputs:\n  ${pulumiInputs.slice(0, 20).join("\n  ")}\n` +
            `Check what router/ imports from components/ (only pure modules may be shared).`,
    );
}

const builtins = new Set(builtinModules);
const unresolved = new Set();
for (const [file, input] of Object.entries(result.metafile.inputs)) {
    for (const imp of input.imports) {
        if (!imp.external || imp.path.startsWith("node:") || builtins.has(imp.path)) continue;
        if (!OPTIONAL_EXTERNALS.has(imp.path)) unresolved.add(`${imp.path} (from ${file})`);
    }
}
if (unresolved.size > 0) {
    fail(
        `the router bundle leaves modules to load at run time, but the image holds router.js ` +
            `only:\n  ${[...unresolved].join("\n  ")}`,
    );
}

copyFileSync(join(root, "router", "Dockerfile"), join(outDir, "Dockerfile"));

const size = statSync(outFile).size;
console.log(
    `bundle-router: ${relative(root, outFile)} (${(size / 1024).toFixed(0)} KiB, ` +
        `${Object.keys(result.metafile.inputs).length} inputs) + Dockerfile`,
);
