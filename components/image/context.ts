/**
 * Docker build contexts, written deterministically (same inputs → same bytes, modes and mtimes):
 *
 * 1. The environment image (R13): `FROM <baseImage>`, the custom Docker steps, the conda
 *    environment (created at `/azureml-envs/azureml_<hash>`) and pip packages, and the model-server
 *    entry (azureml-inference-server-http's `azmlinfsrv` on port 5001, aml-v1-spec §5). It holds NO
 *    entry script and NO models, so changing those never changes this image.
 * 2. The thin app layer: `FROM <environment image@digest>`, the project snapshot copied to
 *    `/var/azureml-app` and the models to `/var/azureml-app/azureml-models/...`, with
 *    `AZUREML_ENTRY_SCRIPT` / `AZUREML_MODEL_DIR` set. This is how code and models reach pods.
 */
import { createHash, randomBytes } from "node:crypto";
import {
    existsSync,
    mkdirSync,
    readFileSync,
    renameSync,
    rmSync,
    utimesSync,
    writeFileSync,
} from "node:fs";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import { Problems } from "../common/validation";
import { FIXED_MTIME, copyTree, manifestHash, type TreeEntry } from "./fstree";
import {
    canonicalEnvironment,
    hashCanonicalEnvironment,
    imageReferenceRule,
    isImageReference,
    type CanonicalEnvironment,
    type EnvironmentSpec,
} from "./hash";
import { MODELS_ROOT, layoutModels, type ModelInput, type ModelLayout } from "./models";
import { snapshotDirectory, type SnapshotResult } from "./snapshot";

/** Where user code lives in the container (AML_APP_ROOT default, aml-v1-spec §5). */
export const APP_ROOT = "/var/azureml-app";
/**
 * uid/gid the model pods run as (non-root). The project snapshot is owned by it, so entry scripts
 * can write to their working directory as they could in v1 (issue 11 item 6); models stay
 * root-owned and read-only.
 */
export const APP_UID = 1000;
/** Where the model server listens (SERVER_PORT default, aml-v1-spec §5). */
export const SERVER_PORT = 5001;
/** Parent of the conda environment prefix, as in AML images. */
export const CONDA_ENVIRONMENTS_ROOT = "/azureml-envs";
/** Where the environment files are copied inside the image. */
export const ENVIRONMENT_SETUP_DIR = "/azureml-environment-setup";
/** The package that provides `azmlinfsrv`; added to the pip step when no dependency brings it. */
export const INFERENCE_SERVER_PACKAGE = "azureml-inference-server-http";
/** Marker file holding a context's hash; lets an unchanged context be reused as is. */
export const CONTEXT_MARKER = ".amlaks-context";

/** Packages that bring `azmlinfsrv` (azureml-defaults depends on it). */
const SERVER_PACKAGES = new Set(["azureml-inference-server-http", "azureml-defaults"]);

function pipName(requirement: string): string {
    const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(requirement);
    return m ? m[1].toLowerCase().replace(/[-_.]+/g, "-") : "";
}

/** True when the conda dependencies (conda or pip part) or pip packages already bring the server. */
export function bringsInferenceServer(env: CanonicalEnvironment): boolean {
    const names: string[] = env.pipPackages.map(pipName);
    const deps = (env.conda as { dependencies?: unknown } | null)?.dependencies;
    if (Array.isArray(deps)) {
        for (const d of deps) {
            if (typeof d === "string") names.push(pipName(d.replace(/^[\w.-]+::/, "")));
            else if (d && typeof d === "object" && Array.isArray((d as { pip?: unknown }).pip)) {
                for (const p of (d as { pip: unknown[] }).pip) {
                    if (typeof p === "string") names.push(pipName(p));
                }
            }
        }
    }
    return names.some((n) => SERVER_PACKAGES.has(n));
}

/** One generated file of a context. */
export interface ContextFile {
    readonly path: string;
    readonly content: string;
}

/** The environment context before it is written: pure, from the spec alone. */
export interface EnvironmentContextPlan {
    readonly environmentHash: string;
    /** SHA-256 hex over the files' manifest. */
    readonly contextHash: string;
    /** `Dockerfile` first, then the files it copies. */
    readonly files: readonly ContextFile[];
}

/** Conda prefix inside the image: `/azureml-envs/azureml_<hash>`. */
export function condaPrefix(hash: string): string {
    return `${CONDA_ENVIRONMENTS_ROOT}/azureml_${hash}`;
}

/** The model-server command: `azmlinfsrv` with the entry script and port from the environment. */
export const SERVER_COMMAND = [
    "/bin/sh",
    "-c",
    'exec azmlinfsrv --entry_script "${AZUREML_ENTRY_SCRIPT}" --port "${SERVER_PORT}"',
] as const;

/** Renders the environment Dockerfile and its files. Throws ValidationError on a bad spec. */
export function planEnvironmentContext(spec: EnvironmentSpec): EnvironmentContextPlan {
    const env = canonicalEnvironment(spec);
    const hash = hashCanonicalEnvironment(env);
    const files: ContextFile[] = [];
    const lines = [
        `# Generated by @amlaks/pulumi-aml-aks for environment azureml_${hash}. Do not edit.`,
        `# Contains no entry script and no models: those come in the app layer (R13).`,
        `FROM ${env.baseImage}`,
    ];
    if (env.dockerSteps !== null) {
        lines.push("", "# dockerSteps", env.dockerSteps);
    }
    if (env.installEnvironment) {
        const requirements = [...env.pipPackages];
        if (!bringsInferenceServer(env)) requirements.push(INFERENCE_SERVER_PACKAGE);
        let python = "python";
        if (env.conda !== null) {
            const prefix = condaPrefix(hash);
            files.push({
                path: "conda_dependencies.yml",
                content:
                    "# Canonical form of condaYaml (keys sorted; name/prefix dropped).\n" +
                    stringify(env.conda, { lineWidth: 0 }),
            });
            lines.push(
                "",
                "# conda environment (condaYaml)",
                `COPY conda_dependencies.yml ${ENVIRONMENT_SETUP_DIR}/conda_dependencies.yml`,
                `RUN conda env create -p ${prefix} -f ${ENVIRONMENT_SETUP_DIR}/conda_dependencies.yml && conda clean -aqy`,
                `ENV PATH=${prefix}/bin:$PATH AZUREML_CONDA_ENVIRONMENT_PATH=${prefix}`,
            );
            python = `${prefix}/bin/python`;
        }
        if (requirements.length > 0) {
            files.push({ path: "requirements.txt", content: `${requirements.join("\n")}\n` });
            lines.push(
                "",
                "# pip packages (pipPackages, plus the inference server when nothing brings it)",
                `COPY requirements.txt ${ENVIRONMENT_SETUP_DIR}/requirements.txt`,
                `RUN ${python} -m pip install --no-cache-dir -r ${ENVIRONMENT_SETUP_DIR}/requirements.txt`,
            );
        }
    }
    lines.push(
        "",
        "# model server contract (azureml-inference-server-http, aml-v1-spec §5)",
        `LABEL com.amlaks.environment-hash="${hash}"`,
        `ENV AML_APP_ROOT=${APP_ROOT} SERVER_PORT=${SERVER_PORT} AZUREML_ENVIRONMENT_HASH=${hash}`,
        `WORKDIR ${APP_ROOT}`,
        `EXPOSE ${SERVER_PORT}`,
        `CMD ${JSON.stringify(SERVER_COMMAND)}`,
        "",
    );
    files.unshift({ path: "Dockerfile", content: lines.join("\n") });
    return { environmentHash: hash, contextHash: filesHash("amlaks-env-context-v1", files), files };
}

function filesHash(header: string, files: readonly ContextFile[]): string {
    const entries: TreeEntry[] = [...files]
        .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
        .map((f) => {
            const data = Buffer.from(f.content, "utf8");
            return {
                path: f.path,
                type: "file",
                mode: 0o644,
                size: data.length,
                sha256: createHash("sha256").update(data).digest("hex"),
                source: "",
            };
        });
    return manifestHash(header, entries);
}

export interface EnvironmentContext extends EnvironmentContextPlan {
    /** Absolute path of the written context. */
    readonly directory: string;
    /** Dockerfile path relative to the context. */
    readonly dockerfile: string;
}

/**
 * Writes the environment context to `directory` (replaced as a whole; reused untouched when it
 * already holds the same context). Synchronous: a few small files.
 */
export function renderEnvironmentContext(
    directory: string,
    spec: EnvironmentSpec,
): EnvironmentContext {
    const plan = planEnvironmentContext(spec);
    const dir = path.resolve(directory);
    if (readMarker(dir) !== plan.contextHash) {
        const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
        rmSync(tmp, { recursive: true, force: true });
        mkdirSync(tmp, { recursive: true });
        for (const f of plan.files) {
            const p = path.join(tmp, f.path);
            writeFileSync(p, f.content, { mode: 0o644 });
            utimesSync(p, FIXED_MTIME, FIXED_MTIME);
        }
        writeFileSync(path.join(tmp, CONTEXT_MARKER), `${plan.contextHash}\n`);
        writeFileSync(path.join(tmp, ".dockerignore"), `${CONTEXT_MARKER}\n`);
        for (const p of [CONTEXT_MARKER, ".dockerignore", "."]) {
            utimesSync(path.join(tmp, p), FIXED_MTIME, FIXED_MTIME);
        }
        replaceDir(tmp, dir);
    }
    return { ...plan, directory: dir, dockerfile: "Dockerfile" };
}

function readMarker(dir: string): string | undefined {
    try {
        return readFileSync(path.join(dir, CONTEXT_MARKER), "utf8").trim();
    } catch {
        return undefined;
    }
}

function replaceDir(tmp: string, dir: string): void {
    mkdirSync(path.dirname(dir), { recursive: true });
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
}

/** Options of {@link renderAppLayerContext}. */
export interface AppLayerOptions {
    /** Where to write the context (replaced as a whole; reused when unchanged). */
    readonly directory: string;
    /** The environment image, pinned by digest (`<repo>@sha256:...`) so the layer is reproducible. */
    readonly environmentImage: string;
    /** Project folder (R12); ignored when `snapshot` is given. */
    readonly sourceDirectory?: string;
    /** Entry script relative to the project folder. */
    readonly entryScript: string;
    /** Models (R27); ignored when `modelLayout` is given. */
    readonly models?: readonly ModelInput[];
    /** Base folder for relative model paths. @default process.cwd() */
    readonly modelsBaseDir?: string;
    /** A snapshot already taken with {@link snapshotDirectory} (saves a second read). */
    readonly snapshot?: SnapshotResult;
    /** A layout already computed with {@link layoutModels}. */
    readonly modelLayout?: ModelLayout;
    /** Extra environment variables baked into the layer (sorted by name in the Dockerfile). */
    readonly environment?: Readonly<Record<string, string>>;
    /** Allow an environment image that is not pinned by digest (tests). @default false */
    readonly allowUnpinnedEnvironmentImage?: boolean;
}

export interface AppLayerContext {
    readonly directory: string;
    readonly dockerfile: string;
    /** SHA-256 hex over Dockerfile + snapshot + models: the app layer's content address. */
    readonly hash: string;
    /** True when an identical context was already there and was left untouched. */
    readonly reused: boolean;
    readonly snapshot: SnapshotResult;
    readonly models: ModelLayout;
    /** Environment variables the layer sets (AZUREML_ENTRY_SCRIPT, AZUREML_MODEL_DIR, extras). */
    readonly env: Readonly<Record<string, string>>;
}

/** Dockerfile ENV value: double-quoted, with `\`, `"` and `$` escaped. */
function envValue(v: string): string {
    return `"${v.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

/** Environment variables of the model-server contract for a given entry script and model dir. */
export function modelServerEnvironment(
    entryScript: string,
    modelDir: string | undefined,
): Record<string, string> {
    return {
        AML_APP_ROOT: APP_ROOT,
        AZUREML_ENTRY_SCRIPT: entryScript,
        ...(modelDir ? { AZUREML_MODEL_DIR: `${APP_ROOT}/${modelDir}` } : {}),
    };
}

/** The app-layer Dockerfile (pure). */
export function renderAppLayerDockerfile(
    environmentImage: string,
    env: Readonly<Record<string, string>>,
    hasModels: boolean,
    snapshotHash: string,
    modelsHash: string,
): string {
    const keys = Object.keys(env).sort();
    return [
        `# Generated by @amlaks/pulumi-aml-aks: app layer (snapshot ${snapshotHash.slice(0, 12)}, ` +
            `models ${modelsHash.slice(0, 12)}). Do not edit.`,
        `FROM ${environmentImage}`,
        `COPY --chown=${APP_UID}:${APP_UID} app/ ${APP_ROOT}/`,
        ...(hasModels ? [`COPY ${MODELS_ROOT}/ ${APP_ROOT}/${MODELS_ROOT}/`] : []),
        ...(keys.length > 0
            ? [`ENV ${keys.map((k) => `${k}=${envValue(env[k])}`).join(" \\\n    ")}`]
            : []),
        "",
    ].join("\n");
}

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Writes the thin app-layer context: `Dockerfile`, `app/` (the snapshot) and `azureml-models/`
 * (the model layout), all with normalised modes and fixed mtimes. Returns its content hash; an
 * existing context with the same hash is reused without copying.
 */
export async function renderAppLayerContext(options: AppLayerOptions): Promise<AppLayerContext> {
    const problems = new Problems();
    if (
        typeof options.environmentImage !== "string" ||
        !isImageReference(options.environmentImage)
    ) {
        problems.add("environmentImage", options.environmentImage, imageReferenceRule());
    } else if (
        !options.allowUnpinnedEnvironmentImage &&
        !/@sha256:[0-9a-f]{64}$/.test(options.environmentImage)
    ) {
        problems.add(
            "environmentImage",
            options.environmentImage,
            "must be pinned by digest (<repository>@sha256:<64 hex>) so the layer is reproducible",
        );
    }
    if (!options.snapshot && typeof options.sourceDirectory !== "string") {
        problems.add("sourceDirectory", options.sourceDirectory, "is required (or pass snapshot)");
    }
    for (const [k, v] of Object.entries(options.environment ?? {})) {
        if (!ENV_NAME_RE.test(k))
            problems.add(`environment.${k}`, k, "is not a valid variable name");
        if (typeof v !== "string") problems.add(`environment.${k}`, v, "must be a string");
        if (k === "AZUREML_ENTRY_SCRIPT" || k === "AZUREML_MODEL_DIR") {
            problems.add(
                `environment.${k}`,
                v,
                "is set by the layer itself (entryScript / models)",
            );
        }
    }
    problems.throwIfAny("app layer");

    const snapshot =
        options.snapshot ??
        (await snapshotDirectory(options.sourceDirectory as string, {
            entryScript: options.entryScript,
        }));
    const entryScript = snapshot.entryScript ?? options.entryScript;
    if (!snapshot.files.some((f) => f.type === "file" && f.path === entryScript)) {
        problems.add(
            "entryScript",
            options.entryScript,
            `is not a file of the snapshot of ${snapshot.root}`,
        );
    }
    const models =
        options.modelLayout ??
        (await layoutModels(options.models ?? [], {
            baseDir: options.modelsBaseDir ?? process.cwd(),
        }));
    if (
        models.files.length > 0 &&
        snapshot.files.some((f) => f.path === MODELS_ROOT || f.path.startsWith(`${MODELS_ROOT}/`))
    ) {
        problems.add(
            "sourceDirectory",
            snapshot.root,
            `must not contain a top-level ${MODELS_ROOT}/ folder: models are placed there`,
        );
    }
    problems.throwIfAny("app layer");

    const env = {
        ...(options.environment ?? {}),
        ...modelServerEnvironment(entryScript, models.modelDir),
    };
    const dockerfile = renderAppLayerDockerfile(
        options.environmentImage,
        env,
        models.files.length > 0,
        snapshot.hash,
        models.hash,
    );
    const dockerfileHash = createHash("sha256").update(dockerfile).digest("hex");
    const hash = createHash("sha256")
        .update(`amlaks-app-context-v1\n${dockerfileHash}\n${snapshot.hash}\n${models.hash}\n`)
        .digest("hex");

    const dir = path.resolve(options.directory);
    if (readMarker(dir) === hash) {
        return {
            directory: dir,
            dockerfile: "Dockerfile",
            hash,
            reused: true,
            snapshot,
            models,
            env,
        };
    }
    const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    await fsp.rm(tmp, { recursive: true, force: true });
    try {
        await fsp.mkdir(tmp, { recursive: true });
        await copyTree(snapshot.files, path.join(tmp, "app"));
        if (models.files.length > 0) await copyTree(models.files, tmp);
        const df = path.join(tmp, "Dockerfile");
        await fsp.writeFile(df, dockerfile, { mode: 0o644 });
        await fsp.writeFile(path.join(tmp, ".dockerignore"), `${CONTEXT_MARKER}\n`);
        await fsp.writeFile(path.join(tmp, CONTEXT_MARKER), `${hash}\n`);
        for (const p of ["Dockerfile", ".dockerignore", CONTEXT_MARKER, "app", "."]) {
            await fsp.utimes(path.join(tmp, p), FIXED_MTIME, FIXED_MTIME);
        }
        replaceDir(tmp, dir);
    } catch (e) {
        await fsp.rm(tmp, { recursive: true, force: true });
        throw e;
    }
    return { directory: dir, dockerfile: "Dockerfile", hash, reused: false, snapshot, models, env };
}
