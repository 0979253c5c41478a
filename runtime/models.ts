/**
 * Lays models out under a temporary `AZUREML_MODEL_DIR` the way Azure ML does for a deployment
 * (aml-v1-spec §5, "AZUREML_MODEL_DIR"; R27):
 *
 * - every model goes to `<root>/<model-name>/<version>/<original basename>` (file or folder,
 *   original names kept);
 * - one model: `AZUREML_MODEL_DIR` = `<root>/<name>/<version>`, the folder that contains the model,
 *   so `os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.pkl")` works as on AML;
 * - several models: `AZUREML_MODEL_DIR` = `<root>`; scripts find them by name and version
 *   (`<name>/<version>/...`), as on AML.
 *
 * A local path has no registry name or version, so: name = the basename without its last
 * extension, reduced to AML's model-name characters (letters, digits, `-`, `_`, `.`); version = 1,
 * or 2, 3... when several paths give the same name — as registering the same name twice in a
 * workspace does. Files are symlinked (fast, no copies of large models); copied when the file
 * system refuses symlinks.
 *
 * `planModelLayout` is pure; `materializeModelLayout` does the file-system work.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, extname, join, resolve } from "node:path";

export interface PlannedModel {
    /** Absolute path of the user's file or folder. */
    readonly source: string;
    readonly name: string;
    readonly version: number;
    /** Path relative to the layout root: `<name>/<version>/<basename>`. */
    readonly relativePath: string;
}

export interface ModelLayoutPlan {
    readonly models: readonly PlannedModel[];
    /** `AZUREML_MODEL_DIR` relative to the layout root ("" = the root itself). */
    readonly modelDirRelative: string;
}

/** AML model names: start with a letter or digit; letters, digits, `-`, `_`, `.`; ≤ 255 chars. */
export function modelNameFor(path: string): string {
    const base = basename(path.replace(/[\\/]+$/, ""));
    const stem =
        extname(base) && extname(base) !== base ? base.slice(0, -extname(base).length) : base;
    let name = stem.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "");
    if (name.length === 0) name = "model";
    return name.slice(0, 255);
}

/** Where each model goes and what `AZUREML_MODEL_DIR` is, relative to a root still to be made. */
export function planModelLayout(paths: readonly string[]): ModelLayoutPlan {
    const versions = new Map<string, number>();
    const models = paths.map((p) => {
        const source = resolve(p);
        const name = modelNameFor(source);
        const version = (versions.get(name) ?? 0) + 1;
        versions.set(name, version);
        return {
            source,
            name,
            version,
            relativePath: join(name, String(version), basename(source)),
        };
    });
    const modelDirRelative =
        models.length === 1 ? join(models[0].name, String(models[0].version)) : "";
    return { models, modelDirRelative };
}

export interface MaterializedLayout {
    /** The temporary root (delete with `remove()`). */
    readonly root: string;
    /** Value of `AZUREML_MODEL_DIR`. */
    readonly modelDir: string;
    readonly plan: ModelLayoutPlan;
    remove(): void;
}

/** Temporary layout folders are named `amlaks-models-<owner pid>-<random>`. */
const LAYOUT_PREFIX = "amlaks-models-";
const LAYOUT_NAME = /^amlaks-models-(\d+)-/;

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM";
    }
}

/**
 * Removes layouts left by runtimes that were killed hard (SIGKILL: no exit hook ran). A folder
 * whose owner pid is alive is kept, even if the pid was reused (the safe direction).
 */
export function sweepStaleLayouts(dir = tmpdir()): string[] {
    const removed: string[] = [];
    let names: string[];
    try {
        names = readdirSync(dir);
    } catch {
        return removed;
    }
    for (const name of names) {
        const m = LAYOUT_NAME.exec(name);
        if (!m || alive(Number(m[1]))) continue;
        rmSync(join(dir, name), { recursive: true, force: true });
        removed.push(name);
    }
    return removed;
}

/** Creates the layout under a new temporary directory (after sweeping stale ones). */
export function materializeModelLayout(
    paths: readonly string[],
    dir = tmpdir(),
): MaterializedLayout {
    const plan = planModelLayout(paths);
    sweepStaleLayouts(dir);
    const root = mkdtempSync(join(dir, `${LAYOUT_PREFIX}${process.pid}-`));
    try {
        for (const m of plan.models) {
            const target = join(root, m.relativePath);
            mkdirSync(join(root, m.name, String(m.version)), { recursive: true });
            try {
                symlinkSync(m.source, target);
            } catch {
                cpSync(m.source, target, { recursive: true });
            }
        }
    } catch (e) {
        rmSync(root, { recursive: true, force: true });
        throw e;
    }
    return {
        root,
        modelDir: join(root, plan.modelDirRelative),
        plan,
        remove: () => rmSync(root, { recursive: true, force: true }),
    };
}
