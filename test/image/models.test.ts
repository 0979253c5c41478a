// Model layout under AZUREML_MODEL_DIR (R27, aml-v1-spec §5 / S17): one model → the folder that
// contains it; several → <name>/<version>/ subfolders; at most 1000 models.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ValidationError } from "../../components/common/validation";
import {
    deriveModelName,
    layoutModels,
    planModelLayout,
    type ModelInput,
} from "../../components/image/models";

const roots: string[] = [];
after(async () => {
    for (const r of roots) await fsp.rm(r, { recursive: true, force: true });
});

async function tree(files: Record<string, string>): Promise<string> {
    const root = await fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-models-"));
    roots.push(root);
    for (const [p, content] of Object.entries(files)) {
        await fsp.mkdir(path.dirname(path.join(root, p)), { recursive: true });
        await fsp.writeFile(path.join(root, p), content);
    }
    return root;
}

function problems(fn: () => unknown): string[] {
    try {
        fn();
    } catch (e) {
        assert.ok(e instanceof ValidationError, String(e));
        return e.problems.map((p) => `${p.field}: ${p.rule}`);
    }
    return [];
}

describe("one model: AZUREML_MODEL_DIR is the folder containing it", () => {
    test("a file keeps its name under azureml-models/<name>/<version>/", async () => {
        const root = await tree({ "outputs/sklearn_regression_model.pkl": "pickle" });
        const l = await layoutModels(["outputs/sklearn_regression_model.pkl"], { baseDir: root });
        assert.equal(l.modelDir, "azureml-models/sklearn_regression_model/1");
        assert.deepEqual(
            l.files.map((f) => `${f.type} ${f.path}`),
            [
                "directory azureml-models",
                "directory azureml-models/sklearn_regression_model",
                "directory azureml-models/sklearn_regression_model/1",
                "file azureml-models/sklearn_regression_model/1/sklearn_regression_model.pkl",
            ],
        );
        assert.equal(l.fileCount, 1);
        assert.equal(l.size, 6);
    });

    test("a folder keeps its name and content below the version folder", async () => {
        const root = await tree({ "bert/config.json": "{}", "bert/weights/part1.bin": "01" });
        const l = await layoutModels([
            { path: path.join(root, "bert"), name: "bert-base", version: 3 },
        ]);
        assert.equal(l.modelDir, "azureml-models/bert-base/3");
        assert.deepEqual(
            l.files.filter((f) => f.type === "file").map((f) => f.path),
            [
                "azureml-models/bert-base/3/bert/config.json",
                "azureml-models/bert-base/3/bert/weights/part1.bin",
            ],
        );
    });
});

describe("several models: AZUREML_MODEL_DIR is azureml-models with <name>/<version>/", () => {
    test("names and versions from paths and explicit entries", async () => {
        const root = await tree({ "a/model.pkl": "a", "b/model.onnx": "b", "enc/vocab.txt": "v" });
        const models: ModelInput[] = [
            "a/model.pkl",
            { path: "b/model.onnx", name: "onnx-model", version: "2" },
            { path: "enc", version: 7 },
        ];
        const l = await layoutModels(models, { baseDir: root });
        assert.equal(l.modelDir, "azureml-models");
        assert.deepEqual(
            l.models.map((m) => m.target),
            [
                "azureml-models/model/1/model.pkl",
                "azureml-models/onnx-model/2/model.onnx",
                "azureml-models/enc/7/enc",
            ],
        );
        assert.deepEqual(
            l.files.filter((f) => f.type === "file").map((f) => f.path),
            [
                "azureml-models/enc/7/enc/vocab.txt",
                "azureml-models/model/1/model.pkl",
                "azureml-models/onnx-model/2/model.onnx",
            ],
        );
    });

    test("two versions of the same model are allowed; the same name/version twice is not", () => {
        assert.equal(
            planModelLayout([{ path: "m.pkl" }, { path: "other/m.pkl", version: 2 }]).modelDir,
            "azureml-models",
        );
        assert.deepEqual(
            problems(() => planModelLayout(["m.pkl", "other/m.pkl"])),
            ["models[1]: duplicates models[0]: each name/version must be unique"],
        );
    });

    test("no models: no AZUREML_MODEL_DIR", async () => {
        const l = await layoutModels([]);
        assert.equal(l.modelDir, undefined);
        assert.equal(l.files.length, 0);
    });
});

describe("limits and names (R27)", () => {
    test("1000 models are accepted, 1001 are refused before touching the disk", async () => {
        const many = (n: number) => Array.from({ length: n }, (_, i) => `/nonexistent/m${i}.pkl`);
        assert.equal(planModelLayout(many(1000)).models.length, 1000);
        assert.deepEqual(
            problems(() => planModelLayout(many(1001))),
            ["models: must be at most 1000 per deployment (R27)"],
        );
        await assert.rejects(
            layoutModels(many(1001)),
            /models: "1001 models" must be at most 1000 per deployment \(R27\)/,
        );
    });

    test("derived names: base name without the last extension, invalid characters replaced", () => {
        assert.equal(deriveModelName("outputs/model.pkl"), "model");
        assert.equal(deriveModelName("models/bert-base/"), "bert-base");
        assert.equal(deriveModelName("x/my model (v2).tar.gz"), "my_model__v2_.tar");
        assert.equal(deriveModelName(".hidden"), "hidden");
    });

    test("bad names, versions and paths are all reported at once", () => {
        assert.deepEqual(
            problems(() =>
                planModelLayout([
                    { path: "a.pkl", name: "-bad" },
                    { path: "b.pkl", version: 0 },
                    { path: "" },
                    "___.pkl",
                ] as ModelInput[]),
            ),
            [
                "models[0].name: must be 1-255 letters, digits, '-', '_' or '.', starting with a letter or digit",
                "models[1].version: must be a positive integer or a short token of letters, digits, '.', '_', '-'",
                "models[2].path: must be a non-empty path",
                "models[3].path: gives no usable model name; set name explicitly",
            ],
        );
    });

    test("missing paths are reported together", async () => {
        const root = await tree({ "ok.pkl": "x" });
        await assert.rejects(
            layoutModels(["ok.pkl", "a.pkl", "b.pkl"], { baseDir: root }),
            (e: Error) => {
                assert.ok(e instanceof ValidationError);
                assert.deepEqual(
                    e.problems.map((p) => p.field),
                    ["models[a/1]", "models[b/1]"],
                );
                return true;
            },
        );
    });
});

describe("content addressing", () => {
    test("same files in another place give the same hash; content, name or version change it", async () => {
        const one = await tree({ "m.pkl": "weights" });
        const two = await tree({ "m.pkl": "weights" });
        const a = await layoutModels([path.join(one, "m.pkl")]);
        assert.equal((await layoutModels([path.join(two, "m.pkl")])).hash, a.hash);
        assert.match(a.hash, /^[0-9a-f]{64}$/);
        assert.notEqual(
            (await layoutModels([{ path: path.join(one, "m.pkl"), version: 2 }])).hash,
            a.hash,
        );
        assert.notEqual(
            (await layoutModels([{ path: path.join(one, "m.pkl"), name: "n" }])).hash,
            a.hash,
        );
        await fsp.writeFile(path.join(two, "m.pkl"), "weightz");
        assert.notEqual((await layoutModels([path.join(two, "m.pkl")])).hash, a.hash);
    });
});
