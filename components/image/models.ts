/**
 * Model files laid out under `AZUREML_MODEL_DIR` as AML v1 does (R27; aml-v1-spec §5, S17):
 *
 *   <app root>/azureml-models/<name>/<version>/<original file or folder name>[/...]
 *
 * - one model   → AZUREML_MODEL_DIR = <app root>/azureml-models/<name>/<version> (the folder that
 *                 contains the model file or folder);
 * - several     → AZUREML_MODEL_DIR = <app root>/azureml-models, with `<name>/<version>/` below.
 *
 * A model is a path (file or folder) or `{ path, name?, version? }`. Without a name, the name is the
 * path's base name without its last extension (`outputs/model.pkl` → `model`, `bert-base/` →
 * `bert-base`), characters AML does not allow replaced by `_`. The version defaults to `1`.
 * At most 1000 models (R27). The layout is content-addressed like the snapshot.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { Problems } from "../common/validation";
import { MAX_MODELS_PER_SERVICE } from "../settings";
import {
    comparePaths,
    hashTree,
    manifestHash,
    normalizeMode,
    walkTree,
    type TreeEntry,
} from "./fstree";

/** Folder (relative to the app root) that holds the models. */
export const MODELS_ROOT = "azureml-models";

/** First line of the model manifest; bump if the manifest format changes. */
export const MODELS_MANIFEST_VERSION = "amlaks-models-v1";

/** AML model names: letters, digits, `-`, `_`, `.`; start with a letter or digit; ≤ 255 chars. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

/** Versions: AML uses integers; any short token of letters, digits, `.`, `_`, `-` is accepted. */
export const MODEL_VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A registered model: its files and, optionally, its AML name and version. */
export interface ModelSpec {
    /** File or folder with the model's files. */
    readonly path: string;
    /** @default - base name of `path` without its last extension */
    readonly name?: string;
    /** @default "1" */
    readonly version?: string | number;
}

/** A model given as a path, or with an explicit name/version. */
export type ModelInput = string | ModelSpec;

/** Where one model goes. */
export interface PlannedModel {
    readonly name: string;
    readonly version: string;
    /** Absolute source path. */
    readonly source: string;
    /** Target relative to the app root: `azureml-models/<name>/<version>/<basename>`. */
    readonly target: string;
}

export interface ModelPlan {
    readonly models: readonly PlannedModel[];
    /**
     * `AZUREML_MODEL_DIR` relative to the app root: `azureml-models/<name>/<version>` for one model,
     * `azureml-models` for several, undefined for none.
     */
    readonly modelDir?: string;
}

/** Name derived from a path: base name minus last extension, invalid characters → `_`. */
export function deriveModelName(p: string): string {
    const base = path.basename(p.replace(/[\\/]+$/, ""));
    const ext = path.extname(base);
    const stem = ext && ext !== base ? base.slice(0, -ext.length) : base;
    return stem.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^[^A-Za-z0-9]+/, "");
}

/**
 * Decides names, versions and targets without touching the disk. Collects every problem (count
 * above 1000, bad names/versions, duplicates) and throws one {@link ValidationError}.
 */
export function planModelLayout(
    models: readonly ModelInput[],
    baseDir = ".",
    field = "models",
): ModelPlan {
    const problems = new Problems();
    const plan = checkModelLayout(models, baseDir, problems, field);
    problems.throwIfAny("models");
    return plan;
}

/** {@link planModelLayout} that adds its problems to `problems` instead of throwing. */
export function checkModelLayout(
    models: readonly ModelInput[],
    baseDir: string,
    problems: Problems,
    field = "models",
): ModelPlan {
    if (!Array.isArray(models)) {
        problems.add(field, models, "must be an array of model paths or { path, name, version }");
        return { models: [] };
    }
    if (models.length > MAX_MODELS_PER_SERVICE) {
        // R27: AML refuses more than 1000 models per deployment.
        problems.add(
            field,
            `${models.length} models`,
            `must be at most ${MAX_MODELS_PER_SERVICE} per deployment (R27)`,
        );
        return { models: [] };
    }
    const planned: PlannedModel[] = [];
    const seen = new Map<string, number>();
    models.forEach((m: unknown, i) => {
        const f = `${field}[${i}]`;
        const spec: Partial<ModelSpec> | undefined =
            typeof m === "string" ? { path: m } : m && typeof m === "object" ? m : undefined;
        if (!spec || typeof spec.path !== "string" || spec.path.trim() === "") {
            problems.add(
                typeof m === "object" && m ? `${f}.path` : f,
                m,
                "must be a non-empty path",
            );
            return;
        }
        const name = spec.name ?? deriveModelName(spec.path);
        if (typeof name !== "string" || !MODEL_NAME_PATTERN.test(name)) {
            problems.add(
                spec.name === undefined ? `${f}.path` : `${f}.name`,
                spec.name === undefined ? spec.path : spec.name,
                spec.name === undefined
                    ? "gives no usable model name; set name explicitly"
                    : "must be 1-255 letters, digits, '-', '_' or '.', starting with a letter or digit",
            );
            return;
        }
        const rawVersion = spec.version ?? "1";
        const version =
            typeof rawVersion === "number" && Number.isInteger(rawVersion) && rawVersion > 0
                ? String(rawVersion)
                : rawVersion;
        if (typeof version !== "string" || !MODEL_VERSION_PATTERN.test(version)) {
            problems.add(
                `${f}.version`,
                rawVersion,
                "must be a positive integer or a short token of letters, digits, '.', '_', '-'",
            );
            return;
        }
        const key = `${name}/${version}`;
        const first = seen.get(key);
        if (first !== undefined) {
            problems.add(f, key, `duplicates ${field}[${first}]: each name/version must be unique`);
            return;
        }
        seen.set(key, i);
        const source = path.resolve(baseDir, spec.path);
        planned.push({
            name,
            version,
            source,
            target: `${MODELS_ROOT}/${name}/${version}/${path.basename(source)}`,
        });
    });
    const modelDir =
        planned.length === 0
            ? undefined
            : planned.length === 1
              ? `${MODELS_ROOT}/${planned[0].name}/${planned[0].version}`
              : MODELS_ROOT;
    return { models: planned, ...(modelDir ? { modelDir } : {}) };
}

export interface ModelLayout extends ModelPlan {
    /** Every file and directory under `azureml-models/`, paths relative to the app root. */
    readonly files: readonly TreeEntry[];
    /** SHA-256 hex of the layout's manifest (paths, modes, sizes, content hashes). */
    readonly hash: string;
    readonly fileCount: number;
    readonly size: number;
}

/**
 * Plans (see {@link planModelLayout}), then reads and hashes every model file. Missing paths are
 * reported together in one {@link ValidationError}.
 */
export async function layoutModels(
    models: readonly ModelInput[],
    options: { readonly baseDir?: string } = {},
): Promise<ModelLayout> {
    const plan = planModelLayout(models, options.baseDir ?? ".");
    const problems = new Problems();
    const stats = await Promise.all(
        plan.models.map((m) => fsp.stat(m.source).catch(() => undefined)),
    );
    plan.models.forEach((m, i) => {
        const st = stats[i];
        if (!st) problems.add(`models[${m.name}/${m.version}]`, m.source, "does not exist");
        else if (!st.isFile() && !st.isDirectory()) {
            problems.add(`models[${m.name}/${m.version}]`, m.source, "must be a file or a folder");
        }
    });
    problems.throwIfAny("models");

    const entries: TreeEntry[] = [];
    const dirs = new Set<string>();
    const addDir = (p: string, source: string) => {
        if (dirs.has(p)) return;
        dirs.add(p);
        entries.push({ path: p, type: "directory", mode: 0o755, size: 0, source });
    };
    for (let i = 0; i < plan.models.length; i++) {
        const m = plan.models[i];
        const st = stats[i]!;
        const parts = m.target.split("/");
        for (let k = 1; k < parts.length; k++) addDir(parts.slice(0, k).join("/"), m.source);
        if (st.isFile()) {
            entries.push({
                path: m.target,
                type: "file",
                mode: normalizeMode(st),
                size: st.size,
                source: m.source,
            });
        } else {
            addDir(m.target, m.source);
            const walked = await walkTree(m.source);
            for (const e of walked.entries) entries.push({ ...e, path: `${m.target}/${e.path}` });
        }
    }
    entries.sort((a, b) => comparePaths(a.path, b.path));
    const files = await hashTree(entries);
    const regular = files.filter((f) => f.type === "file");
    return {
        ...plan,
        files,
        hash: manifestHash(MODELS_MANIFEST_VERSION, files),
        fileCount: regular.length,
        size: regular.reduce((n, f) => n + f.size, 0),
    };
}
