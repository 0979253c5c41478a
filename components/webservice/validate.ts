/**
 * Synchronous validation of `AksWebservice` args, run before the component registers anything
 * (anchors §7.7/§7.8). The settings rules are NOT repeated here: every setting goes through
 * `validateWebserviceSettings` (docs/design.md §3); this module adds the rules that belong to the
 * component (image source, files on disk, delivery, GPU vs cluster, App Insights wiring) and
 * reports all problems in one `ValidationError`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import {
    isUnresolved,
    named,
    NON_NEGATIVE_WHOLE_NUMBER_RULE,
    oneOfRule,
    plainRule,
    Problems,
    UNRESOLVED,
    ValidationError,
} from "../common/validation";
import { imageReferenceRule, isImageReference, PLATFORM_RULE } from "../image/hash";
import { PRE_STOP_ACTIONS, type PreStopAction } from "./render";
import { checkModelLayout } from "../image/models";
import {
    MAX_MODELS_PER_SERVICE,
    validateWebserviceSettings,
    type WebserviceSettings,
    type WebserviceSettingsInput,
} from "../settings";

/** Documented values of `modelDelivery`. */
export const MODEL_DELIVERIES = ["image", "prebuilt", "blob"] as const;

/**
 * Args that belong to the component rather than to the settings vocabulary. Every other key of
 * the args object is a web-service setting and is checked by `validateWebserviceSettings`
 * (which also rejects unknown names).
 */
export const COMPONENT_ARGS: readonly string[] = [
    "cluster",
    "clusterGpuEnabled",
    "image",
    "imageRef",
    "models",
    "entryScript",
    "sourceDirectory",
    "modelDelivery",
    "registryServer",
    "registryUsername",
    "registryPassword",
    "platform",
    "preStopAction",
    "appInsightsConnectionString",
    "primaryKeyVersion",
    "secondaryKeyVersion",
    "tokenSigningKeyVersion",
];

const PINNED_DIGEST = /@sha256:[0-9a-f]{64}$/;

/**
 * What the component reads from the cluster. Its `kubeProvider` is not required: other languages
 * give the provider in the resource options (the component checks that one is found).
 */
const CLUSTER_MEMBERS = ["scoringBaseUrl", "gpuEnabled", "routerNamespace"];

/** Settings that may be Outputs (secrets from config); validated when plain. */
const SECRET_SETTINGS = ["primaryKey", "secondaryKey"];

/** Files of the service, resolved to absolute paths. */
export interface ResolvedFiles {
    /** Absolute source directory. */
    readonly sourceDirectory: string;
    /** Absolute entry script (inside sourceDirectory). */
    readonly entryScriptPath: string;
    /** Entry script relative to the source directory, POSIX separators. */
    readonly entryScript: string;
    /** Absolute model paths (files or folders), in the given order. */
    readonly models: readonly string[];
}

/** The result of {@link validateAksWebserviceArgs}. */
/**
 * How code and models reach the pods: a thin app layer built on the environment image and pushed
 * to `registryServer` (`"image"`), or the given complete image as is (`"prebuilt"`).
 */
export type ServiceDelivery =
    | { readonly kind: "prebuilt"; readonly imageRef: pulumi.Input<string> }
    | {
          readonly kind: "image";
          readonly environmentImage: pulumi.Input<string>;
          readonly registryServer: pulumi.Input<string>;
      };

export interface ValidatedWebserviceArgs {
    readonly settings: WebserviceSettings;
    readonly files: ResolvedFiles;
    readonly delivery: ServiceDelivery;
}

function isInside(dir: string, file: string): boolean {
    const rel = path.relative(dir, file);
    return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

function statOf(p: string): fs.Stats | undefined {
    try {
        return fs.statSync(p);
    } catch {
        return undefined;
    }
}

/**
 * Validates the component args. `name` is the component name (the service name defaults to it);
 * `cwd` resolves relative paths (the Pulumi program directory). `clusterGpuEnabled` is the
 * cluster's GPU support when known synchronously; `undefined` defers that check to deploy time.
 * Throws one `ValidationError` listing every problem.
 */
export function validateAksWebserviceArgs(
    name: string,
    args: Record<string, unknown>,
    cwd: string,
    clusterGpuEnabled: boolean | undefined,
): ValidatedWebserviceArgs {
    const p = new Problems();

    if (args === null || typeof args !== "object") {
        p.add("args", args, "must be an object of AksWebservice arguments");
        p.throwIfAny("AksWebservice arguments");
    }

    // ---- Settings: everything that is not a component arg, through the ONE validator ----------
    const settingsInput: Record<string, unknown> = { name: args.name ?? name };
    for (const [k, v] of Object.entries(args)) {
        if (v === undefined || k === "name" || COMPONENT_ARGS.includes(k)) continue;
        // Keys from `config.requireSecret` are Outputs: checked for presence only here.
        if (SECRET_SETTINGS.includes(k) && isUnresolved(v)) continue;
        settingsInput[k] = v;
    }
    const models = args.models;
    if (models !== undefined) settingsInput.models = models;
    let settings: WebserviceSettings | undefined;
    try {
        settings = validateWebserviceSettings(settingsInput as unknown as WebserviceSettingsInput);
    } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        for (const q of e.problems) p.add(q.field, q.value, q.rule);
    }

    // ---- The cluster ----------------------------------------------------------------------------
    const cluster = args.cluster as Record<string, unknown> | undefined;
    const missing = CLUSTER_MEMBERS.filter((m) => cluster?.[m] === undefined);
    if (cluster === null || typeof cluster !== "object" || missing.length > 0) {
        p.add(
            "cluster",
            cluster === undefined ? undefined : "(object)",
            `is required: an AksInferenceCluster (an object with ${CLUSTER_MEMBERS.join(", ")})` +
                (cluster && typeof cluster === "object" ? `; missing ${missing.join(", ")}` : ""),
        );
    }

    // ---- Image source: exactly one of image / imageRef ---------------------------------------
    if (args.image === undefined && args.imageRef === undefined) {
        p.add("image", undefined, "or imageRef is required (a ModelImage, or an image reference)");
    } else if (args.image !== undefined && args.imageRef !== undefined) {
        p.add("imageRef", "(set)", "cannot be given together with image; pass exactly one");
    } else if (
        args.image !== undefined &&
        (typeof args.image !== "object" ||
            args.image === null ||
            !isUnresolved((args.image as { imageRef?: unknown }).imageRef))
    ) {
        p.add(
            "image",
            "(object)",
            "must be a ModelImage (an object with an imageRef Output) or an image reference string",
        );
    } else if (typeof args.imageRef === "string") {
        // The app layer is built FROM it: a moving tag would make the layer irreproducible.
        if (!isImageReference(args.imageRef)) {
            p.add("imageRef", args.imageRef, imageReferenceRule());
        } else if (!PINNED_DIGEST.test(args.imageRef)) {
            p.add(
                "imageRef",
                args.imageRef,
                "must be pinned by digest (<repository>@sha256:<64 hex>) so the service image is reproducible",
            );
        }
    }

    // ---- Delivery of code and models -----------------------------------------------------------
    const modelDelivery = args.modelDelivery ?? "image";
    if (typeof modelDelivery !== "string" || !MODEL_DELIVERIES.includes(modelDelivery as never)) {
        p.add("modelDelivery", modelDelivery, oneOfRule(MODEL_DELIVERIES));
    } else if (modelDelivery === "blob") {
        p.add(
            "modelDelivery",
            modelDelivery,
            'is not available yet (planned: models and code downloaded from the workspace blob storage by an init container); use "image"',
        );
    } else if (modelDelivery === "prebuilt") {
        // The image is used as is: it must already hold the code and models (R13's thin layer,
        // built by the pipeline), and it is never rebuilt here, so it needs no registry.
        if (args.imageRef === undefined) {
            p.add(
                "modelDelivery",
                modelDelivery,
                "needs imageRef: the complete service image (code and models inside), pinned by digest",
            );
        }
    } else if (args.registryServer === undefined) {
        p.add(
            "registryServer",
            undefined,
            'is required with modelDelivery "image": the thin code-and-models image is pushed there (e.g. <acr>.azurecr.io)',
        );
    }

    // ---- Files: source directory, entry script, models ----------------------------------------
    const files = checkFiles(args, cwd, p);

    // ---- GPU service on a GPU cluster (R9) -----------------------------------------------------
    // From the raw args when other settings are invalid: report this problem too.
    const gpuCores = settings?.gpuCores ?? (typeof args.gpuCores === "number" ? args.gpuCores : 0);
    if (gpuCores > 0 && clusterGpuEnabled === false) {
        p.add(
            "gpuCores",
            gpuCores,
            "needs a cluster created with a GPU VM size (R9); the cluster's vmSize has no GPU. Use gpuCores: 0 or a GPU cluster (e.g. Standard_NC6s_v3)",
        );
    }

    // ---- App Insights (R3) ---------------------------------------------------------------------
    const appInsights = settings?.enableAppInsights ?? args.enableAppInsights === true;
    if (appInsights && args.appInsightsConnectionString === undefined) {
        p.add(
            "appInsightsConnectionString",
            undefined,
            "is required when enableAppInsights is true (the workspace's Application Insights connection string)",
        );
    }

    if (
        args.preStopAction !== undefined &&
        !PRE_STOP_ACTIONS.includes(args.preStopAction as PreStopAction)
    ) {
        p.add("preStopAction", args.preStopAction, 'must be "sleep" or "exec"');
    }
    named(p, "platform", args.platform, PLATFORM_RULE);

    for (const f of ["primaryKeyVersion", "secondaryKeyVersion", "tokenSigningKeyVersion"]) {
        const v = args[f];
        if (v !== undefined && !isUnresolved(v) && (!Number.isInteger(v) || (v as number) < 0)) {
            p.add(f, v, `${NON_NEGATIVE_WHOLE_NUMBER_RULE} (increase it to regenerate the key)`);
        }
    }
    if (args.tokenSigningKeyVersion !== undefined && isUnresolved(args.tokenSigningKeyVersion)) {
        p.add(
            "tokenSigningKeyVersion",
            UNRESOLVED,
            plainRule("it decides whether the signing key is replaced"),
        );
    }

    p.throwIfAny(`AksWebservice "${name}" arguments`);
    if (settings === undefined || files === undefined) {
        throw new Error(`AksWebservice "${name}": settings or files passed unchecked`);
    }
    const given = args.imageRef as pulumi.Input<string>;
    const delivery: ServiceDelivery =
        modelDelivery === "prebuilt"
            ? { kind: "prebuilt", imageRef: given }
            : {
                  kind: "image",
                  environmentImage:
                      args.image !== undefined
                          ? (args.image as { imageRef: pulumi.Input<string> }).imageRef
                          : given,
                  registryServer: args.registryServer as pulumi.Input<string>,
              };
    return { settings, files, delivery };
}

function checkFiles(
    args: Record<string, unknown>,
    cwd: string,
    p: Problems,
): ResolvedFiles | undefined {
    const entry = args.entryScript;
    const srcArg = args.sourceDirectory;
    let ok = true;
    if (typeof entry !== "string" || entry.length === 0) {
        p.add("entryScript", entry, "is required: path of the scoring script (init() and run())");
        ok = false;
    }
    if (srcArg !== undefined && (typeof srcArg !== "string" || srcArg.length === 0)) {
        p.add("sourceDirectory", srcArg, "must be a path to a folder");
        ok = false;
    }
    let sourceDirectory = "";
    let entryScriptPath = "";
    if (ok) {
        // v1 InferenceConfig: with a source directory, the entry script is relative to it;
        // without one, the folder of the entry script is the source directory.
        if (typeof srcArg === "string") {
            sourceDirectory = path.resolve(cwd, srcArg);
            entryScriptPath = path.resolve(sourceDirectory, entry as string);
        } else {
            entryScriptPath = path.resolve(cwd, entry as string);
            sourceDirectory = path.dirname(entryScriptPath);
        }
        const srcStat = statOf(sourceDirectory);
        if (!srcStat?.isDirectory()) {
            p.add(
                "sourceDirectory",
                srcArg,
                `must be an existing folder; ${sourceDirectory} is not`,
            );
            ok = false;
        } else if (!isInside(sourceDirectory, entryScriptPath)) {
            p.add(
                "entryScript",
                entry,
                `must be inside sourceDirectory (${sourceDirectory}); it resolves to ${entryScriptPath} (entryScript is relative to sourceDirectory, as in v1 InferenceConfig)`,
            );
            ok = false;
        } else if (!statOf(entryScriptPath)?.isFile()) {
            p.add(
                "entryScript",
                entry,
                `must be an existing file; ${entryScriptPath} was not found (entryScript is relative to sourceDirectory when that is set)`,
            );
            ok = false;
        }
    }
    const models: string[] = [];
    if (Array.isArray(args.models)) {
        let missing = 0;
        args.models.forEach((m, i) => {
            if (typeof m !== "string" || m.length === 0) return; // reported by the settings validator
            const abs = path.resolve(cwd, m);
            if (!statOf(abs)) {
                // Report the first few only: 1000 missing paths would drown the message.
                if (missing++ < 5) p.add(`models[${i}]`, m, `must exist; ${abs} was not found`);
                ok = false;
            }
            models.push(abs);
        });
        if (missing > 5) p.add("models", `${missing} missing`, "must all exist (first 5 listed)");
        // Names, versions and duplicates as the image layer plans them (the count is the settings
        // validator's rule, R27).
        if (args.models.length <= MAX_MODELS_PER_SERVICE) {
            const before = p.count;
            checkModelLayout(
                args.models.filter((m): m is string => typeof m === "string" && m.length > 0),
                cwd,
                p,
            );
            if (p.count > before) ok = false;
        }
    }
    if (!ok) return undefined;
    return {
        sourceDirectory,
        entryScriptPath,
        entryScript: path.relative(sourceDirectory, entryScriptPath).split(path.sep).join("/"),
        models,
    };
}
