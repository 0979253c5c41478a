/**
 * examples/multi-model: the program under Pulumi mocks, its image build context, its entry script
 * on that context's model layout, and the local runtime answering the README's requests.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { parse } from "yaml";
import { validateWebserviceSettings } from "../../components/settings";
import { writeContext } from "../../examples/multi-model/build-context";
import { request, startServe } from "../runtime/helpers";
import {
    EXAMPLES,
    envOf,
    modelContainer,
    one,
    ofType,
    runExample,
    validateKubernetesObjects,
    type ExampleRun,
} from "./harness";

const DIR = path.join(EXAMPLES, "multi-model");
const README = readFileSync(path.join(DIR, "README.md"), "utf8");
const ROUTER_IMAGE = `registry.example.io/amlaks-router@sha256:${"a".repeat(64)}`;
const IMAGE = `registry.example.io/amlaks-apps/diabetes-models@sha256:${"b".repeat(64)}`;
const ENV_IMAGE = `registry.example.io/azureml/azureml_${"c".repeat(32)}@sha256:${"d".repeat(64)}`;
const PRIMARY = "p".repeat(16) + "0123456789abcdef";
const SECONDARY = "s".repeat(16) + "fedcba9876543210";
const KUBECONFIG = [
    "apiVersion: v1",
    "kind: Config",
    "clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:6443' } }]",
    "contexts: [{ name: c, context: { cluster: c, user: u } }]",
    "current-context: c",
    "users: [{ name: u, user: { token: t } }]",
    "",
].join("\n");
const MODEL_DIR = "/var/azureml-app/azureml-models";
const PYTHON = process.env.AMLAKS_PYTHON ?? "python3";

/** The README's JSON answers, in order. */
function readmeAnswers(): unknown[] {
    return [...README.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!));
}

/** The `-d '...'` bodies of the README's curl commands, in order. */
function readmeBodies(): string[] {
    return [...README.matchAll(/-d '([^']*)'/g)].map((m) => m[1]!);
}

function close(actual: unknown, expected: unknown, where: string): void {
    if (typeof expected === "number") {
        assert.equal(typeof actual, "number", where);
        const e = expected;
        assert.ok(Math.abs((actual as number) - e) <= 1e-9 * Math.max(1, Math.abs(e)), where);
    } else if (Array.isArray(expected)) {
        assert.ok(Array.isArray(actual) && actual.length === expected.length, where);
        expected.forEach((x, i) => close((actual as unknown[])[i], x, `${where}[${i}]`));
    } else if (expected !== null && typeof expected === "object") {
        assert.deepEqual(Object.keys(actual as object).sort(), Object.keys(expected).sort(), where);
        for (const [k, x] of Object.entries(expected)) {
            close((actual as Record<string, unknown>)[k], x, `${where}.${k}`);
        }
    } else {
        assert.equal(actual, expected, where);
    }
}

let run: ExampleRun;
let work: string;

before(async () => {
    work = mkdtempSync(path.join(tmpdir(), "amlaks-multi-model-"));
    run = await runExample("multi-model", {
        config: { routerImage: ROUTER_IMAGE, imageRef: IMAGE },
        secrets: { kubeconfig: KUBECONFIG, primaryKey: PRIMARY, secondaryKey: SECONDARY },
    });
});
after(() => rmSync(work, { recursive: true, force: true }));

describe("examples/multi-model: the program", () => {
    test("one Deployment serving three models from the given image, nothing built, no Azure", () => {
        assert.equal(ofType(run, "docker:index/image:Image").length, 0);
        assert.ok(run.resources.every((r) => !r.type.startsWith("azure-native:")));
        const c = modelContainer(run, "diabetes-models");
        assert.equal(c.image, IMAGE);
        assert.equal(envOf(c).AZUREML_MODEL_DIR, MODEL_DIR);
        assert.equal(envOf(c).AZUREML_ENTRY_SCRIPT, "score.py");
        assert.deepEqual(c.resources.requests, { cpu: "500m", memory: "1Gi" });
        assert.equal(run.outputs.modelDir, MODEL_DIR);
        assert.equal(run.outputs.scoringPath, "/api/v1/service/diabetes-models/score");
        assert.equal(run.outputs.routerNamespace, "azureml");
        for (const [name, value] of Object.entries(run.outputs)) {
            const shown = run.secretOutputs.includes(name) ? "[secret]" : String(value);
            assert.match(
                README,
                new RegExp(`\\n {4}${name} +${shown.replace(/[[\]/.]/g, "\\$&")}\\n`),
                name,
            );
        }
    });

    test("the keys from the stack config, secret", () => {
        const secret = one(run, "kubernetes:core/v1:Secret", "diabetes-models-auth");
        assert.deepEqual(secret.inputs.stringData, {
            primaryKey: PRIMARY,
            secondaryKey: SECONDARY,
        });
        assert.equal(run.outputs.primaryKey, PRIMARY);
        assert.deepEqual(run.secretOutputs, ["primaryKey"]);
    });

    test("settings.yaml (local runtime) holds the settings the program deploys", () => {
        const d = one(run, "kubernetes:apps/v1:Deployment", "diabetes-models-deployment");
        const deployed = JSON.parse(d.inputs.metadata.annotations["amlaks.io/settings"]);
        const { models, ...local } = parse(readFileSync(path.join(DIR, "settings.yaml"), "utf8"));
        assert.deepEqual(models, ["models/ridge.json", "models/lasso.json", "models/linear.json"]);
        assert.deepEqual(validateWebserviceSettings(local), validateWebserviceSettings(deployed));
    });

    test("every Kubernetes object matches the OpenAPI schema; the policy pack passes (all mandatory)", () => {
        assert.ok(validateKubernetesObjects(run) >= 12);
        assert.deepEqual(run.evaluation.violations, []);
    });
});

describe("examples/multi-model: image and entry script", () => {
    test("build-context.ts lays the models out where the Deployment points, and score.py reads them", async () => {
        const ctx = await writeContext(ENV_IMAGE, path.join(work, "context"));
        const dockerfile = readFileSync(path.join(ctx.directory, ctx.dockerfile), "utf8");
        assert.match(dockerfile, new RegExp(`^FROM ${ENV_IMAGE.replace(/[.]/g, "\\.")}$`, "m"));
        assert.match(dockerfile, new RegExp(`AZUREML_MODEL_DIR="${MODEL_DIR}"`));
        assert.equal(
            ctx.env.AZUREML_MODEL_DIR,
            envOf(modelContainer(run, "diabetes-models")).AZUREML_MODEL_DIR,
        );
        for (const m of ["ridge", "lasso", "linear"]) {
            assert.ok(
                existsSync(path.join(ctx.directory, "azureml-models", m, "1", `${m}.json`)),
                `${m}/1/${m}.json`,
            );
        }
        assert.ok(existsSync(path.join(ctx.directory, "app", "score.py")));

        // score.py on that layout, against scikit-learn's predictions.
        const reference = JSON.parse(
            readFileSync(path.join(DIR, "reference-predictions.json"), "utf8"),
        );
        const out = execFileSync(
            PYTHON,
            [
                "-c",
                "import json, sys; sys.path.insert(0, 'app'); import score; score.init(); " +
                    "print(json.dumps(score.run(sys.stdin.read())))",
            ],
            {
                cwd: ctx.directory,
                env: {
                    ...process.env,
                    AZUREML_MODEL_DIR: path.join(ctx.directory, "azureml-models"),
                    PYTHONDONTWRITEBYTECODE: "1",
                },
                input: JSON.stringify(reference.input),
                encoding: "utf8",
            },
        );
        close(JSON.parse(out.trim().split("\n").pop()!), reference.predictions, "predictions");
    });

    test("amlaks serve with settings.yaml answers the README's requests with the README's answers", async () => {
        const keysFile = path.join(work, "keys.json");
        const serve = await startServe(
            [
                "--entry-script",
                "src/score.py",
                "--settings",
                "settings.yaml",
                "--keys-file",
                keysFile,
            ],
            { cwd: DIR, env: { PYTHONDONTWRITEBYTECODE: "1" } },
        );
        try {
            assert.match(serve.scoringUri, /\/api\/v1\/service\/diabetes-models\/score$/);
            const key = JSON.parse(readFileSync(keysFile, "utf8")).primaryKey as string;
            const headers = { Authorization: `Bearer ${key}`, "Content-Type": "application/json" };
            const [withModel, clusterRequest] = readmeBodies();
            const [one_, all] = readmeAnswers();
            const post = (body: string) =>
                request(serve.scoringUri, { method: "POST", headers, body });

            const r1 = await post(withModel!);
            assert.equal(r1.status, 200, r1.body);
            close(JSON.parse(r1.body), one_, "model lasso");

            const everyModel = JSON.parse(withModel!) as { data: unknown };
            const r2 = await post(JSON.stringify({ data: everyModel.data }));
            close(JSON.parse(r2.body), all, "every model");

            const r3 = await post(clusterRequest!);
            const expected = /# (\{"ridge": \[[^\]]+\]\})/.exec(README)![1]!;
            close(JSON.parse(r3.body), JSON.parse(expected), "ridge");

            const r4 = await post(JSON.stringify({ model: "tree", data: everyModel.data }));
            assert.equal(r4.status, 500);
            assert.ok(
                README.includes(`"message": ${JSON.stringify(JSON.parse(r4.body).message)}`),
                r4.body,
            );

            const r5 = await request(serve.scoringUri, { method: "POST", body: withModel! });
            assert.equal(r5.status, 401);
        } finally {
            await serve.proc.stop();
        }
    });
});
