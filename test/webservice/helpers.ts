/** Shared fixtures of the AksWebservice tests: a project folder on disk and schema validation. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";

/** An environment image pinned by digest. */
export const ENV_IMAGE = `registry.example.io/azureml/azureml_${"e".repeat(32)}@sha256:${"a".repeat(64)}`;

/** A project: `<root>/src/score.py`, `<root>/src/util/helpers.py`, two model files. */
export interface Project {
    readonly root: string;
    readonly src: string;
    readonly entry: string;
    readonly modelA: string;
    readonly modelB: string;
    cleanup(): void;
}

export function makeProject(): Project {
    const root = mkdtempSync(path.join(os.tmpdir(), "amlaks-ws-test-"));
    const src = path.join(root, "src");
    mkdirSync(path.join(src, "util"), { recursive: true });
    writeFileSync(
        path.join(src, "score.py"),
        "def init():\n    pass\n\ndef run(data):\n    return data\n",
    );
    writeFileSync(path.join(src, "util", "helpers.py"), "X = 1\n");
    mkdirSync(path.join(root, "models"), { recursive: true });
    const modelA = path.join(root, "models", "diabetes.pkl");
    const modelB = path.join(root, "models", "encoder.json");
    writeFileSync(modelA, "model-a");
    writeFileSync(modelB, "{}");
    return {
        root,
        src,
        entry: path.join(src, "score.py"),
        modelA,
        modelB,
        cleanup: () => rmSync(root, { recursive: true, force: true }),
    };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
    Deployment,
    Service,
    Secret,
    NetworkPolicy,
    PodDisruptionBudget,
};

/** Validates a rendered object against the Kubernetes OpenAPI schema (kubernetes-models). */
export function validateK8s(obj: object): void {
    const kind = (obj as { kind?: string }).kind ?? "";
    const Model = MODELS[kind];
    if (!Model) throw new Error(`no kubernetes-models class for kind ${kind}`);
    // Through JSON: the object must be plain data (no Outputs left in it).
    new Model(JSON.parse(JSON.stringify(obj))).validate();
}
