// Environment hash (R13, aml-v1-spec §6): formatting-only changes keep it, changes of meaning
// (including reordered dependencies/channels, S18) change it; pinned by known-answer vectors.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { ValidationError } from "../../components/common/validation";
import {
    canonicalCondaYaml,
    canonicalEnvironment,
    environmentHash,
    environmentHashDocument,
    imageReference,
    imageRepository,
    imageTag,
    isImageReference,
    normalizeDockerSteps,
    type EnvironmentSpec,
} from "../../components/image/hash";

const BASE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20240908.v1";

const CONDA = `name: project_environment
channels:
  - conda-forge
  - defaults
dependencies:
  - python=3.10
  - numpy=1.26
  - pip:
      - azureml-defaults
      - scikit-learn==1.3.2
`;

function h(spec: Partial<EnvironmentSpec>): string {
    return environmentHash({ baseImage: BASE, condaYaml: CONDA, ...spec });
}

function problemsOf(fn: () => unknown): string[] {
    try {
        fn();
    } catch (e) {
        assert.ok(e instanceof ValidationError, `expected ValidationError, got ${String(e)}`);
        return e.problems.map((p) => `${p.field}: ${p.rule}`);
    }
    assert.fail("expected a ValidationError");
}

describe("environmentHash: shape and known answers", () => {
    test("is 32 lowercase hex chars (first 128 bits of SHA-256)", () => {
        assert.match(h({}), /^[0-9a-f]{32}$/);
    });

    test("known-answer vectors: a change of algorithm or canonical form is caught", () => {
        // If one of these changes on purpose, bump ENVIRONMENT_HASH_VERSION and update them:
        // every cached image in every registry gets a new name. The first one is, by hand:
        // printf '%s' '{"amlaksEnvironment":1,"baseImage":"busybox:1.36","conda":null,
        //   "dockerSteps":null,"pipPackages":[]}' | sha256sum | cut -c1-32   (one line, no spaces)
        assert.equal(
            environmentHash({ baseImage: "busybox:1.36" }),
            "0aec26535f1e7f8d4ccb9a80de334f23",
        );
        assert.equal(h({}), "62499988ba1589082aa8f09f3f88afbd");
        assert.equal(
            h({
                dockerSteps: "RUN apt-get update && apt-get install -y libgomp1",
                pipPackages: ["lightgbm==4.3.0"],
            }),
            "959e0f198fb40135c91bfd414aadb153",
        );
    });

    test("the hashed document is canonical JSON of the three AML inputs (+ pip packages)", () => {
        const doc = environmentHashDocument(
            canonicalEnvironment({ baseImage: BASE, condaYaml: "dependencies: [python=3.10]" }),
        );
        assert.equal(
            doc,
            `{"amlaksEnvironment":1,"baseImage":"${BASE}","conda":{"dependencies":["python=3.10"]},` +
                `"dockerSteps":null,"pipPackages":[]}`,
        );
    });

    test("is the same in another process with another time zone and locale", () => {
        const spec = {
            baseImage: BASE,
            condaYaml: CONDA,
            dockerSteps: "RUN echo é ü 日本",
            pipPackages: ["a"],
        };
        const out = execFileSync(
            process.execPath,
            [
                "--import",
                "tsx",
                path.join(__dirname, "fixtures", "print-hash.ts"),
                JSON.stringify(spec),
            ],
            {
                env: {
                    ...process.env,
                    TZ: "Pacific/Kiritimati",
                    LANG: "tr_TR.UTF-8",
                    LC_ALL: "tr_TR.UTF-8",
                },
            },
        ).toString();
        assert.equal(out, environmentHash(spec));
    });
});

describe("environmentHash: conda YAML formatting does not matter", () => {
    const same: [string, string][] = [
        [
            "indentation, blank lines and comments",
            `# my env
name: project_environment   # the name
channels:
    - conda-forge

    - defaults
dependencies:
    - python=3.10   # pinned
    - numpy=1.26
    - pip:
        - azureml-defaults
        - scikit-learn==1.3.2
`,
        ],
        [
            "key quoting and value quoting",
            `"name": 'project_environment'
'channels': ["conda-forge", 'defaults']
dependencies: ["python=3.10", 'numpy=1.26', {"pip": ["azureml-defaults", "scikit-learn==1.3.2"]}]
`,
        ],
        [
            "mapping key order",
            `dependencies:
  - python=3.10
  - numpy=1.26
  - pip: [azureml-defaults, scikit-learn==1.3.2]
channels: [conda-forge, defaults]
name: project_environment
`,
        ],
        ["CRLF line endings", CONDA.replace(/\n/g, "\r\n")],
        ["no trailing newline", CONDA.trimEnd()],
        [
            "another environment name (conda env create -p ignores it)",
            CONDA.replace("project_environment", "other"),
        ],
        ["a prefix line (ignored by conda env create -p)", `${CONDA}prefix: /home/me/envs/x\n`],
    ];
    for (const [what, yaml] of same) {
        test(what, () => assert.equal(h({ condaYaml: yaml }), h({})));
    }
});

describe("environmentHash: any change of meaning changes it", () => {
    const different: [string, string][] = [
        [
            "reordered dependencies (S18)",
            CONDA.replace("  - python=3.10\n  - numpy=1.26", "  - numpy=1.26\n  - python=3.10"),
        ],
        [
            "reordered channels (S18)",
            CONDA.replace("  - conda-forge\n  - defaults", "  - defaults\n  - conda-forge"),
        ],
        [
            "reordered pip packages",
            CONDA.replace(
                "      - azureml-defaults\n      - scikit-learn==1.3.2",
                "      - scikit-learn==1.3.2\n      - azureml-defaults",
            ),
        ],
        ["a version", CONDA.replace("numpy=1.26", "numpy=1.25")],
        ["an added dependency", CONDA.replace("  - numpy=1.26\n", "  - numpy=1.26\n  - pandas\n")],
        ["a removed channel", CONDA.replace("  - defaults\n", "")],
        ["an extra top-level key", `${CONDA}variables:\n  OMP_NUM_THREADS: "1"\n`],
    ];
    for (const [what, yaml] of different) {
        test(what, () => assert.notEqual(h({ condaYaml: yaml }), h({})));
    }

    test("a quoted number is a string, an unquoted one a number", () => {
        assert.notEqual(h({ condaYaml: "x: '3.10'\n" }), h({ condaYaml: "x: 3.10\n" }));
    });

    test("no conda file differs from an empty dependency list", () => {
        assert.notEqual(h({ condaYaml: undefined }), h({ condaYaml: "dependencies: []\n" }));
    });

    test("base image: tag and registry matter; surrounding spaces do not", () => {
        assert.notEqual(h({ baseImage: `${BASE}x` }), h({}));
        assert.notEqual(h({ baseImage: BASE.replace(/:.*$/, ":latest") }), h({}));
        assert.equal(h({ baseImage: `  ${BASE}\n` }), h({}));
    });

    test("pip packages: order matters, surrounding spaces do not; [] equals none", () => {
        assert.notEqual(h({ pipPackages: ["a", "b"] }), h({ pipPackages: ["b", "a"] }));
        assert.equal(h({ pipPackages: [" a ", "b"] }), h({ pipPackages: ["a", "b"] }));
        assert.equal(h({ pipPackages: [] }), h({}));
    });

    test("installEnvironment: false is a different image; true is the default", () => {
        assert.notEqual(h({ installEnvironment: false }), h({}));
        assert.equal(h({ installEnvironment: true }), h({}));
    });

    test("platform: linux/amd64 is the default; another platform is a different image", () => {
        assert.equal(h({ platform: "linux/amd64" }), h({}));
        assert.notEqual(h({ platform: "linux/arm64" }), h({}));
    });
});

describe("docker steps normalisation", () => {
    const steps = "RUN apt-get update \\\n    && apt-get install -y libgomp1\nENV A=1";

    test("line endings, trailing whitespace and surrounding blank lines do not matter", () => {
        const variants = [
            steps.replace(/\n/g, "\r\n"),
            steps.replace(/\n/g, "\r"),
            steps.replace(/\n/g, "  \t\n") + "   ",
            `\n\n${steps}\n\n\n`,
        ];
        for (const v of variants)
            assert.equal(h({ dockerSteps: v }), h({ dockerSteps: steps }), JSON.stringify(v));
        assert.equal(normalizeDockerSteps(`\r\n${steps.replace(/\n/g, " \r\n")}\r\n`), steps);
    });

    test("indentation, inner blank lines, case and order do matter", () => {
        const base = h({ dockerSteps: steps });
        assert.notEqual(h({ dockerSteps: steps.replace("    &&", "&&") }), base);
        assert.notEqual(h({ dockerSteps: steps.replace("\nENV", "\n\nENV") }), base);
        assert.notEqual(h({ dockerSteps: steps.replace("ENV", "env") }), base);
        assert.notEqual(
            h({ dockerSteps: "ENV A=1\nRUN true" }),
            h({ dockerSteps: "RUN true\nENV A=1" }),
        );
    });

    test("empty or blank steps equal no steps", () => {
        assert.equal(h({ dockerSteps: " \n\r\n" }), h({}));
        assert.equal(normalizeDockerSteps(""), null);
    });
});

describe("validation: clear errors naming the field", () => {
    test("invalid YAML names condaYaml, the line and column", () => {
        const problems = problemsOf(() =>
            h({ condaYaml: "dependencies:\n  - python=3.10\n - bad: [\n" }),
        );
        assert.equal(problems.length, 1);
        assert.match(problems[0], /^condaYaml: is not valid YAML: .*\(line \d+, column \d+\)$/);
    });

    test("duplicate keys, several documents, a non-mapping, a non-sequence dependencies", () => {
        assert.match(
            problemsOf(() => h({ condaYaml: "a: 1\na: 2\n" }))[0],
            /^condaYaml: is not valid YAML/,
        );
        assert.match(
            problemsOf(() => h({ condaYaml: "a: 1\n---\nb: 2\n" }))[0],
            /^condaYaml: is not valid YAML/,
        );
        assert.deepEqual(
            problemsOf(() => h({ condaYaml: "- python\n" })),
            ["condaYaml: must be a YAML mapping (a conda environment file)"],
        );
        assert.deepEqual(
            problemsOf(() => h({ condaYaml: "# only a comment\n" })),
            ["condaYaml: must be a YAML mapping (a conda environment file)"],
        );
        assert.deepEqual(
            problemsOf(() => h({ condaYaml: "dependencies: python\n" })),
            ["condaYaml.dependencies: must be a YAML sequence"],
        );
    });

    test("every problem is reported at once", () => {
        const problems = problemsOf(() =>
            environmentHash({
                baseImage: "Not A Valid/Image",
                dockerSteps: "FROM ubuntu\nRUN true",
                condaYaml: "a: [",
                pipPackages: ["ok", "", "-r other.txt", "a\nb"],
                installEnvironment: "yes" as unknown as boolean,
                platform: "amd64",
            }),
        );
        assert.deepEqual(
            problems.map((p) => p.split(":")[0]),
            [
                "baseImage",
                "dockerSteps",
                "condaYaml",
                "pipPackages[1]",
                "pipPackages[2]",
                "pipPackages[3]",
                "installEnvironment",
                "platform",
            ],
        );
        assert.match(problems[1], /must not contain FROM: the base image is set by baseImage/);
    });

    test("canonicalCondaYaml reports under the field name it is given", () => {
        assert.throws(
            () => canonicalCondaYaml("a: [", "condaFile"),
            /condaFile: .* is not valid YAML/,
        );
        assert.deepEqual(canonicalCondaYaml("b: 1\na: [x, y]\nname: n\n"), {
            a: ["x", "y"],
            b: 1n,
        });
    });

    test("image references", () => {
        for (const ok of [
            "busybox",
            "busybox:1.36",
            "127.0.0.1:5000/azureml/x:1",
            "a.io/b/c@sha256:" + "a".repeat(64),
        ]) {
            assert.ok(isImageReference(ok), ok);
        }
        for (const bad of ["", "UPPER/case", "a b", "x:", "-x", "a//b"])
            assert.ok(!isImageReference(bad), bad);
    });
});

describe("image names", () => {
    test("repository azureml/azureml_<hash>, tag <hash>", () => {
        const hash = h({});
        assert.equal(imageRepository(hash), `azureml/azureml_${hash}`);
        assert.equal(imageTag(hash), hash);
        assert.equal(
            imageReference("myacr.azurecr.io", hash),
            `myacr.azurecr.io/azureml/azureml_${hash}:${hash}`,
        );
    });

    test("rejects something that is not a hash", () => {
        assert.throws(() => imageRepository("ABC"), /must be 32 lowercase hex characters/);
    });
});
