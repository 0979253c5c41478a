/**
 * Files shipped with the package (package.json `files`: runtime/python, examples/sample), found
 * from this module whether it runs from source (tsx: runtime/*.ts) or compiled (dist/runtime/*.js).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

const PACKAGE_NAME = "@amlaks/pulumi-aml-aks";

let root: string | undefined;

/** The package root: the nearest parent folder whose package.json is this package's. */
export function packageRoot(): string {
    if (root) return root;
    let dir = __dirname;
    for (;;) {
        const manifest = join(dir, "package.json");
        if (existsSync(manifest)) {
            try {
                const pkg = JSON.parse(readFileSync(manifest, "utf8")) as { name?: string };
                if (pkg.name === PACKAGE_NAME && existsSync(join(dir, "runtime", "python"))) {
                    root = dir;
                    return dir;
                }
            } catch {
                // keep looking upwards
            }
        }
        const parent = dirname(dir);
        if (parent === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package root`);
        dir = parent;
    }
}

/** The package version (`amlaks --version`). */
export function packageVersion(): string {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as {
        version: string;
    };
    return pkg.version;
}

/** The stdlib model-server harness. */
export function harnessPath(): string {
    return join(packageRoot(), "runtime", "python", "amlserver.py");
}

/** The bundled diabetes sample (`amlaks serve --sample`, `npm start`). */
export function samplePaths(): {
    entryScript: string;
    sourceDir: string;
    models: string[];
    settingsFile: string;
} {
    const dir = join(packageRoot(), "examples", "sample");
    return {
        entryScript: join(dir, "score.py"),
        sourceDir: dir,
        models: [join(dir, "model", "sklearn_regression_model.json")],
        settingsFile: join(dir, "settings.yaml"),
    };
}
