// Build contexts: the environment image (R13: no entry script, no models) and the thin app layer
// (snapshot + models, AML's container contract, aml-v1-spec §5), both written deterministically.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ValidationError } from "../../components/common/validation";
import {
    APP_ROOT,
    INFERENCE_SERVER_PACKAGE,
    planEnvironmentContext,
    renderAppLayerContext,
    renderEnvironmentContext,
} from "../../components/image/context";
import { environmentHash } from "../../components/image/hash";

const roots: string[] = [];
after(async () => {
    for (const r of roots) await fsp.rm(r, { recursive: true, force: true });
});

async function tmp(): Promise<string> {
    const d = await fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-ctx-"));
    roots.push(d);
    return d;
}

async function tree(files: Record<string, string>): Promise<string> {
    const root = await tmp();
    for (const [p, content] of Object.entries(files)) {
        await fsp.mkdir(path.dirname(path.join(root, p)), { recursive: true });
        await fsp.writeFile(path.join(root, p), content);
    }
    return root;
}

/** Every file under dir: relative path → [mode, mtime ISO, content]. */
async function snapshotOf(dir: string): Promise<Record<string, [string, string, string]>> {
    const out: Record<string, [string, string, string]> = {};
    async function walk(d: string, rel: string): Promise<void> {
        for (const name of (await fsp.readdir(d)).sort()) {
            const abs = path.join(d, name);
            const r = rel ? `${rel}/${name}` : name;
            const st = await fsp.stat(abs);
            const meta: [string, string] = [(st.mode & 0o777).toString(8), st.mtime.toISOString()];
            if (st.isDirectory()) {
                out[`${r}/`] = [...meta, ""];
                await walk(abs, r);
            } else out[r] = [...meta, await fsp.readFile(abs, "utf8")];
        }
    }
    await walk(dir, "");
    return out;
}

const BASE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20240908.v1";
const CONDA =
    "channels: [conda-forge]\ndependencies:\n  - python=3.10\n  - pip: [scikit-learn==1.3.2]\n";
const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("environment context (R13)", () => {
    test("FROM, docker steps, conda env at /azureml-envs/azureml_<hash>, pip, azmlinfsrv on 5001", () => {
        const plan = planEnvironmentContext({
            baseImage: BASE,
            dockerSteps: "RUN apt-get update && apt-get install -y libgomp1",
            condaYaml: CONDA,
            pipPackages: ["lightgbm==4.3.0"],
        });
        const hash = plan.environmentHash;
        assert.equal(
            hash,
            environmentHash({
                baseImage: BASE,
                dockerSteps: "RUN apt-get update && apt-get install -y libgomp1",
                condaYaml: CONDA,
                pipPackages: ["lightgbm==4.3.0"],
            }),
        );
        assert.deepEqual(
            plan.files.map((f) => f.path),
            ["Dockerfile", "conda_dependencies.yml", "requirements.txt"],
        );
        const df = plan.files[0].content;
        const lines = df.split("\n").filter((l) => l && !l.startsWith("#"));
        assert.deepEqual(lines, [
            `FROM ${BASE}`,
            "RUN apt-get update && apt-get install -y libgomp1",
            "COPY conda_dependencies.yml /azureml-environment-setup/conda_dependencies.yml",
            `RUN conda env create -p /azureml-envs/azureml_${hash} -f /azureml-environment-setup/conda_dependencies.yml && conda clean -aqy`,
            `ENV PATH=/azureml-envs/azureml_${hash}/bin:$PATH AZUREML_CONDA_ENVIRONMENT_PATH=/azureml-envs/azureml_${hash}`,
            "COPY requirements.txt /azureml-environment-setup/requirements.txt",
            `RUN /azureml-envs/azureml_${hash}/bin/python -m pip install --no-cache-dir -r /azureml-environment-setup/requirements.txt`,
            `LABEL com.amlaks.environment-hash="${hash}"`,
            `ENV AML_APP_ROOT=/var/azureml-app SERVER_PORT=5001 AZUREML_ENVIRONMENT_HASH=${hash}`,
            "WORKDIR /var/azureml-app",
            "EXPOSE 5001",
            'CMD ["/bin/sh","-c","exec azmlinfsrv --entry_script \\"${AZUREML_ENTRY_SCRIPT}\\" --port \\"${SERVER_PORT}\\""]',
        ]);
        assert.equal(plan.files[2].content, `lightgbm==4.3.0\n${INFERENCE_SERVER_PACKAGE}\n`);
        // R13: nothing about an entry script or models in the environment image.
        assert.doesNotMatch(df, /AZUREML_ENTRY_SCRIPT=|AZUREML_MODEL_DIR|azureml-models/);
    });

    test("the inference server is not added when azureml-defaults or the server is already listed", () => {
        const withDefaults = planEnvironmentContext({
            baseImage: BASE,
            condaYaml: "dependencies:\n  - python=3.10\n  - pip:\n    - azureml_defaults>=1.50\n",
        });
        assert.deepEqual(
            withDefaults.files.map((f) => f.path),
            ["Dockerfile", "conda_dependencies.yml"],
        );
        const withServer = planEnvironmentContext({
            baseImage: BASE,
            pipPackages: ["azureml-inference-server-http==1.3.0"],
        });
        assert.equal(
            withServer.files.find((f) => f.path === "requirements.txt")!.content,
            "azureml-inference-server-http==1.3.0\n",
        );
        assert.match(withServer.files[0].content, /RUN python -m pip install --no-cache-dir -r/);
    });

    test("installEnvironment: false has no conda or pip step and no extra files", () => {
        const plan = planEnvironmentContext({
            baseImage: BASE,
            condaYaml: CONDA,
            installEnvironment: false,
        });
        assert.deepEqual(
            plan.files.map((f) => f.path),
            ["Dockerfile"],
        );
        assert.doesNotMatch(plan.files[0].content, /conda|pip install/);
        assert.match(plan.files[0].content, /EXPOSE 5001/);
    });

    test("the context is a function of the hash: formatting-only conda changes give the same files", () => {
        const a = planEnvironmentContext({ baseImage: BASE, condaYaml: CONDA });
        const b = planEnvironmentContext({
            baseImage: BASE,
            condaYaml:
                "# comment\nname: other\ndependencies:\n- python=3.10\n- {pip: ['scikit-learn==1.3.2']}\nchannels:\n- conda-forge\n",
        });
        assert.equal(a.environmentHash, b.environmentHash);
        assert.equal(a.contextHash, b.contextHash);
        assert.deepEqual(a.files, b.files);
        assert.equal(
            a.files[1].content,
            "# Canonical form of condaYaml (keys sorted; name/prefix dropped).\n" +
                "channels:\n  - conda-forge\ndependencies:\n  - python=3.10\n  - pip:\n      - scikit-learn==1.3.2\n",
        );
    });

    test("written with fixed mtimes and modes; re-rendering reuses it; a new spec replaces it whole", async () => {
        const dir = path.join(await tmp(), "env");
        const ctx = renderEnvironmentContext(dir, { baseImage: BASE, condaYaml: CONDA });
        const first = await snapshotOf(dir);
        assert.deepEqual(Object.keys(first), [
            ".amlaks-context",
            ".dockerignore",
            "Dockerfile",
            "conda_dependencies.yml",
            "requirements.txt",
        ]);
        assert.deepEqual(first["Dockerfile"].slice(0, 2), ["644", "1980-01-01T00:00:00.000Z"]);
        assert.equal(first[".amlaks-context"][2], `${ctx.contextHash}\n`);
        renderEnvironmentContext(dir, { baseImage: BASE, condaYaml: CONDA });
        assert.deepEqual(await snapshotOf(dir), first);
        renderEnvironmentContext(dir, { baseImage: BASE, installEnvironment: false });
        assert.deepEqual(Object.keys(await snapshotOf(dir)), [
            ".amlaks-context",
            ".dockerignore",
            "Dockerfile",
        ]);
    });

    test("an invalid spec is a ValidationError and writes nothing", async () => {
        const dir = path.join(await tmp(), "env");
        assert.throws(
            () => renderEnvironmentContext(dir, { baseImage: BASE, condaYaml: "a: [" }),
            ValidationError,
        );
        await assert.rejects(fsp.stat(dir));
    });
});

describe("app layer context", () => {
    const project = {
        "score.py": "def init():\n    pass\n",
        "lib/util.py": "X = 1\n",
        ".amlignore": "*.log\n",
        "debug.log": "x",
    };

    async function render(dir: string, src: string, models: string, extra = {}) {
        return renderAppLayerContext({
            directory: dir,
            environmentImage: `myacr.azurecr.io/azureml/azureml_${"0".repeat(32)}@${DIGEST}`,
            sourceDirectory: src,
            entryScript: "score.py",
            models: ["m1.pkl", { path: "m2", name: "encoder", version: 3 }],
            modelsBaseDir: models,
            ...extra,
        });
    }

    test("Dockerfile copies the snapshot to /var/azureml-app and the models under azureml-models", async () => {
        const src = await tree(project);
        const models = await tree({ "m1.pkl": "w1", "m2/vocab.txt": "v" });
        const ctx = await render(path.join(await tmp(), "app"), src, models);
        const files = await snapshotOf(ctx.directory);
        assert.equal(
            files["Dockerfile"][2],
            [
                `# Generated by @amlaks/pulumi-aml-aks: app layer (snapshot ${ctx.snapshot.hash.slice(0, 12)}, models ${ctx.models.hash.slice(0, 12)}). Do not edit.`,
                `FROM myacr.azurecr.io/azureml/azureml_${"0".repeat(32)}@${DIGEST}`,
                `COPY --chown=1000:1000 app/ ${APP_ROOT}/`,
                `COPY azureml-models/ ${APP_ROOT}/azureml-models/`,
                `ENV AML_APP_ROOT="/var/azureml-app" \\`,
                `    AZUREML_ENTRY_SCRIPT="score.py" \\`,
                `    AZUREML_MODEL_DIR="/var/azureml-app/azureml-models"`,
                "",
            ].join("\n"),
        );
        assert.deepEqual(
            Object.keys(files).filter(
                (k) => k.startsWith("app/") || k.startsWith("azureml-models/"),
            ),
            [
                "app/",
                "app/.amlignore",
                "app/lib/",
                "app/lib/util.py",
                "app/score.py",
                "azureml-models/",
                "azureml-models/encoder/",
                "azureml-models/encoder/3/",
                "azureml-models/encoder/3/m2/",
                "azureml-models/encoder/3/m2/vocab.txt",
                "azureml-models/m1/",
                "azureml-models/m1/1/",
                "azureml-models/m1/1/m1.pkl",
            ],
        );
        for (const [name, [mode, mtime]] of Object.entries(files)) {
            assert.equal(mtime, "1980-01-01T00:00:00.000Z", name);
            assert.equal(mode, name.endsWith("/") ? "755" : "644", name);
        }
        assert.deepEqual(ctx.env, {
            AML_APP_ROOT: "/var/azureml-app",
            AZUREML_ENTRY_SCRIPT: "score.py",
            AZUREML_MODEL_DIR: "/var/azureml-app/azureml-models",
        });
    });

    test("deterministic: same inputs elsewhere give the same bytes, modes, mtimes and hash", async () => {
        const a = await render(
            path.join(await tmp(), "a"),
            await tree(project),
            await tree({ "m1.pkl": "w1", "m2/vocab.txt": "v" }),
        );
        const b = await render(
            path.join(await tmp(), "b"),
            await tree(project),
            await tree({ "m1.pkl": "w1", "m2/vocab.txt": "v" }),
        );
        assert.equal(a.hash, b.hash);
        assert.deepEqual(await snapshotOf(a.directory), await snapshotOf(b.directory));
    });

    test("reused when unchanged; rewritten when the entry script changes", async () => {
        const src = await tree(project);
        const models = await tree({ "m1.pkl": "w1", "m2/vocab.txt": "v" });
        const dir = path.join(await tmp(), "app");
        const first = await render(dir, src, models);
        assert.equal(first.reused, false);
        const again = await render(dir, src, models);
        assert.equal(again.reused, true);
        assert.equal(again.hash, first.hash);
        await fsp.writeFile(path.join(src, "score.py"), "def init():\n    return 1\n");
        const changed = await render(dir, src, models);
        assert.equal(changed.reused, false);
        assert.notEqual(changed.hash, first.hash);
        assert.equal(
            await fsp.readFile(path.join(dir, "app", "score.py"), "utf8"),
            "def init():\n    return 1\n",
        );
    });

    test("one model: AZUREML_MODEL_DIR is its <name>/<version> folder; no models: unset", async () => {
        const src = await tree(project);
        const models = await tree({ "m1.pkl": "w1" });
        const one = await render(path.join(await tmp(), "one"), src, models, {
            models: ["m1.pkl"],
        });
        assert.equal(one.env.AZUREML_MODEL_DIR, "/var/azureml-app/azureml-models/m1/1");
        const none = await render(path.join(await tmp(), "none"), src, models, { models: [] });
        assert.equal(none.env.AZUREML_MODEL_DIR, undefined);
        assert.doesNotMatch(
            await fsp.readFile(path.join(none.directory, "Dockerfile"), "utf8"),
            /azureml-models/,
        );
    });

    test("refuses an unpinned environment image, a clashing azureml-models folder, a bad entry script", async () => {
        const src = await tree({ ...project, "azureml-models/x.txt": "" });
        const models = await tree({ "m1.pkl": "w1", "m2/vocab.txt": "v" });
        await assert.rejects(
            render(path.join(await tmp(), "x"), src, models, {
                environmentImage: "myacr.azurecr.io/azureml/x:latest",
            }),
            /environmentImage: .* must be pinned by digest/,
        );
        await assert.rejects(
            render(path.join(await tmp(), "x"), src, models),
            /must not contain a top-level azureml-models\/ folder/,
        );
        await assert.rejects(
            render(path.join(await tmp(), "x"), await tree(project), models, {
                entryScript: "debug.log",
            }),
            /entryScript: "debug.log" exists in .* but is excluded by the ignore files \(\.amlignore\)/,
        );
    });

    test("extra environment values are quoted so Docker does not expand them", async () => {
        const ctx = await render(
            path.join(await tmp(), "env"),
            await tree(project),
            await tree({ "m1.pkl": "w1", "m2/vocab.txt": "v" }),
            {
                environment: { WORKER_COUNT: "2", GREETING: 'say "hi" $HOME \\o/' },
            },
        );
        const df = await fsp.readFile(path.join(ctx.directory, "Dockerfile"), "utf8");
        assert.match(df, /GREETING="say \\"hi\\" \\\$HOME \\\\o\/"/);
        assert.match(df, /WORKER_COUNT="2"/);
    });
});
