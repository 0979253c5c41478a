import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ValidationError } from "../../components/common/validation";
import { planAppLayout } from "../../components/webservice/app-layer";
import { validateAksWebserviceArgs } from "../../components/webservice/validate";
import { ENV_IMAGE, makeProject } from "./helpers";

const project = makeProject();
after(() => project.cleanup());

// Only "is an Output" matters to the validator; never resolved here.
const IMAGE = { imageRef: pulumi.output(ENV_IMAGE) };
const CLUSTER = {
    kubeProvider: {},
    scoringBaseUrl: "",
    gpuEnabled: false,
    routerNamespace: "azureml",
};

function base(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        cluster: CLUSTER,
        image: IMAGE,
        entryScript: "score.py",
        sourceDirectory: project.src,
        registryServer: "registry.example.io",
        ...extra,
    };
}

function problems(args: Record<string, unknown>, gpu?: boolean): string[] {
    try {
        validateAksWebserviceArgs("diabetes", args, project.root, gpu);
        return [];
    } catch (e) {
        assert.ok(e instanceof ValidationError, String(e));
        return e.problems.map((p) => `${p.field}: ${p.rule}`);
    }
}

function has(list: string[], field: string, re: RegExp): void {
    assert.ok(
        list.some((l) => l.startsWith(`${field}: `) && re.test(l)),
        `expected a problem on ${field} matching ${re}, got:\n${list.join("\n")}`,
    );
}

describe("validateAksWebserviceArgs", () => {
    test("valid args: settings with defaults, resolved files, service name from the component name", () => {
        const v = validateAksWebserviceArgs(
            "diabetes",
            base({ models: [project.modelA], cpuCores: 1 }),
            project.root,
            undefined,
        );
        assert.equal(v.settings.name, "diabetes");
        assert.equal(v.settings.cpuCores, 1);
        assert.equal(v.settings.memoryGb, 0.5);
        assert.equal(v.files.sourceDirectory, project.src);
        assert.equal(v.files.entryScript, "score.py");
        assert.deepEqual(v.files.models, [project.modelA]);
        assert.equal(v.delivery.kind, "image");
    });

    test("entryScript defaults its folder as the source directory; nested scripts keep their path", () => {
        const a = validateAksWebserviceArgs(
            "svc",
            base({ sourceDirectory: undefined, entryScript: "src/score.py" }),
            project.root,
            undefined,
        );
        assert.equal(a.files.sourceDirectory, project.src);
        assert.equal(a.files.entryScript, "score.py");
        const b = validateAksWebserviceArgs(
            "svc",
            base({ sourceDirectory: project.root, entryScript: "src/util/helpers.py" }),
            project.root,
            undefined,
        );
        assert.equal(b.files.entryScript, "src/util/helpers.py");
    });

    test("missing entry script", () => {
        has(
            problems(base({ entryScript: "missing.py" })),
            "entryScript",
            /must be an existing file; .*missing\.py was not found/,
        );
        has(problems(base({ entryScript: undefined })), "entryScript", /is required/);
    });

    test("entry script outside the source directory", () => {
        has(
            problems(
                base({
                    sourceDirectory: path.join(project.src, "util"),
                    entryScript: "../score.py",
                }),
            ),
            "entryScript",
            /must be inside sourceDirectory/,
        );
    });

    test("1001 models (R27), reported once by the settings vocabulary", () => {
        const models = Array.from({ length: 1001 }, () => project.modelA);
        const list = problems(base({ models }));
        has(list, "models", /at most 1000/);
        assert.equal(list.filter((l) => /at most 1000/.test(l)).length, 1);
    });

    test("missing model files and clashing model names", () => {
        has(
            problems(base({ models: [path.join(project.root, "nope.pkl")] })),
            "models[0]",
            /must exist/,
        );
        const twin = path.join(project.src, "diabetes.pkl");
        writeFileSync(twin, "x");
        has(
            problems(base({ models: [project.modelA, twin] })),
            "models[1]",
            /duplicates models\[0\]/,
        );
    });

    test("unknown settings field: rejected by the settings vocabulary with the allowed list", () => {
        has(
            problems(base({ cpuCore: 1 })),
            "cpuCore",
            /is not a web service setting; allowed: .*cpuCores/,
        );
    });

    test("key and token auth together (R35)", () => {
        has(
            problems(base({ authEnabled: true, tokenAuthEnabled: true })),
            "tokenAuthEnabled",
            /exclusive/,
        );
    });

    test("GPU service on a cluster known to have no GPU (R9)", () => {
        has(
            problems(base({ gpuCores: 1 }), false),
            "gpuCores",
            /needs a cluster created with a GPU VM size/,
        );
        assert.deepEqual(problems(base({ gpuCores: 1 }), true), []);
        // Unknown at this point: checked at deploy time instead.
        assert.deepEqual(problems(base({ gpuCores: 1 }), undefined), []);
    });

    test("image and imageRef: exactly one; a plain imageRef must be pinned by digest", () => {
        has(problems(base({ image: undefined })), "image", /or imageRef is required/);
        has(
            problems(base({ imageRef: ENV_IMAGE })),
            "imageRef",
            /cannot be given together with image/,
        );
        has(
            problems(
                base({ image: undefined, imageRef: "mcr.microsoft.com/azureml/minimal:latest" }),
            ),
            "imageRef",
            /must be pinned by digest/,
        );
        assert.deepEqual(problems(base({ image: undefined, imageRef: ENV_IMAGE })), []);
        assert.deepEqual(
            problems(base({ image: undefined, imageRef: pulumi.output(ENV_IMAGE) })),
            [],
        );
    });

    test("model delivery: blob is planned, not built; image needs a registry", () => {
        has(problems(base({ modelDelivery: "blob" })), "modelDelivery", /not available yet/);
        has(
            problems(base({ modelDelivery: "zip" })),
            "modelDelivery",
            /must be one of "image", "prebuilt", "blob"/,
        );
        has(problems(base({ registryServer: undefined })), "registryServer", /is required/);
    });

    test('model delivery "prebuilt": no registry needed, but an imageRef to run as is', () => {
        assert.deepEqual(
            problems(
                base({
                    modelDelivery: "prebuilt",
                    registryServer: undefined,
                    image: undefined,
                    imageRef: `registry.example.io/apps/diabetes@sha256:${"c".repeat(64)}`,
                }),
            ),
            [],
        );
        has(
            problems(base({ modelDelivery: "prebuilt", imageRef: undefined })),
            "modelDelivery",
            /needs imageRef/,
        );
    });

    test("the cluster is required", () => {
        has(
            problems(base({ cluster: undefined })),
            "cluster",
            /is required: an AksInferenceCluster/,
        );
        has(
            problems(base({ cluster: { kubeProvider: {} } })),
            "cluster",
            /missing scoringBaseUrl, gpuEnabled, routerNamespace/,
        );
    });

    test("platform must be os/arch", () => {
        has(problems(base({ platform: "amd64" })), "platform", /must be os\/arch/);
        assert.deepEqual(problems(base({ platform: "linux/arm64" })), []);
    });

    test("enableAppInsights needs a connection string", () => {
        has(
            problems(base({ enableAppInsights: true })),
            "appInsightsConnectionString",
            /is required/,
        );
    });

    test("every problem at once, keys never echoed", () => {
        try {
            validateAksWebserviceArgs(
                "diabetes",
                base({
                    entryScript: "missing.py",
                    cpuCores: -1,
                    primaryKey: "has space secret",
                    gpuCores: 1,
                }),
                project.root,
                false,
            );
            assert.fail("expected a ValidationError");
        } catch (e) {
            const msg = (e as Error).message;
            assert.match(msg, /Invalid AksWebservice "diabetes" arguments/);
            for (const f of ["entryScript", "cpuCores", "primaryKey", "gpuCores"])
                assert.match(msg, new RegExp(`- ${f}:`));
            assert.ok(!msg.includes("has space secret"));
        }
    });

    test("Output keys (from config secrets) are accepted without being read", () => {
        assert.deepEqual(problems(base({ primaryKey: pulumi.secret("k") })), []);
    });
});

describe("planAppLayout (the image helper's model plan)", () => {
    test("one model: AZUREML_MODEL_DIR is its name/version folder", () => {
        assert.deepEqual(planAppLayout("score.py", ["/x/models/diabetes.pkl"]), {
            appRoot: "/var/azureml-app",
            sourceDirectory: "/var/azureml-app",
            entryScript: "score.py",
            modelDir: "/var/azureml-app/azureml-models/diabetes/1",
            models: [{ name: "diabetes", version: "1" }],
        });
    });
    test("several models: AZUREML_MODEL_DIR is the models root; none: empty", () => {
        assert.equal(
            planAppLayout("s.py", ["/a/m1.pkl", "/b/m2.pkl"]).modelDir,
            "/var/azureml-app/azureml-models",
        );
        assert.equal(planAppLayout("s.py", []).modelDir, "");
    });
});
