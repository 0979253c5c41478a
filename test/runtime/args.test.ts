/**
 * `amlaks serve` argument rules (validated before anything starts, all problems at once), the
 * shell-free command split, the AZUREML_MODEL_DIR layout, the keys file and the progress lines.
 */
import assert from "node:assert/strict";
import {
    existsSync,
    lstatSync,
    mkdirSync,
    mkdtempSync,
    readFileSync,
    readdirSync,
    realpathSync,
    rmSync,
    statSync,
    writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ValidationError } from "../../components/common/validation";
import {
    validateServeArgs,
    parseServeArgs,
    systemProbe,
    type ServeProbe,
} from "../../runtime/args";
import { CommandSyntaxError, splitCommand } from "../../runtime/command";
import { formatDecision } from "../../runtime/serve";
import {
    materializeModelLayout,
    modelNameFor,
    planModelLayout,
    sweepStaleLayouts,
} from "../../runtime/models";
import { readKeysFile, resolveServiceAuth, writeKeysFile } from "../../runtime/keys";
import { validateWebserviceSettings } from "../../components/settings";
import { formatLogRecord } from "../../runtime/console";
import { selfSignedCert } from "../support/tls";

let dir: string;
let probe: ServeProbe;

function validate(argv: string[]) {
    return validateServeArgs(parseServeArgs(argv), probe);
}

function problemsOf(argv: string[]): ValidationError {
    try {
        validate(argv);
    } catch (e) {
        assert.ok(e instanceof ValidationError, String(e));
        return e;
    }
    assert.fail("expected a ValidationError");
}

function fields(e: ValidationError): string[] {
    return e.problems.map((p) => p.field);
}

before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "amlaks-args-")));
    mkdirSync(join(dir, "src"));
    writeFileSync(join(dir, "src", "score.py"), "def init(): pass\ndef run(d): return d\n");
    writeFileSync(join(dir, "outside.py"), "def init(): pass\ndef run(d): return d\n");
    writeFileSync(join(dir, "model.pkl"), "m");
    writeFileSync(
        join(dir, "settings.yaml"),
        "name: my-svc\nautoscaleEnabled: true\nautoscaleMaxReplicas: 3\n",
    );
    writeFileSync(
        join(dir, "settings.json"),
        JSON.stringify({ name: "json-svc", numReplicas: 2, autoscaleEnabled: false }),
    );
    writeFileSync(
        join(dir, "bad.yaml"),
        "name: Bad_Name\ncpuCores: -1\nautoscaleMinReplicas: 2\nprimaryKey: has space\n",
    );
    writeFileSync(join(dir, "broken.yaml"), "name: [unclosed\n");
    probe = { ...systemProbe, cwd: dir };
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe("serve arguments", () => {
    test("a valid command line gives absolute paths, validated settings and defaults", () => {
        const c = validate([
            "--entry-script",
            "src/score.py",
            "--settings",
            "settings.yaml",
            "--model",
            "model.pkl",
        ]);
        assert.equal(c.entryScript, join(dir, "src", "score.py"));
        assert.equal(c.sourceDir, join(dir, "src"), "source dir defaults to the script's folder");
        assert.deepEqual(c.models, [join(dir, "model.pkl")]);
        assert.equal(c.settings.name, "my-svc");
        assert.equal(c.settings.autoscaleMaxReplicas, 3);
        assert.equal(c.settings.autoscaleTargetUtilization, 70, "v1 default applied");
        assert.equal(c.host, "127.0.0.1", "loopback unless --host says otherwise");
        assert.equal(c.port, 8080);
        assert.equal(c.scaleDownDelayMs, 60_000);
        assert.equal(c.keysFile, join(dir, ".amlaks", "my-svc", "keys.json"));
        assert.equal(c.server.kind, "harness");
    });

    test("JSON settings files are read too", () => {
        const c = validate(["--entry-script", "src/score.py", "--settings", "settings.json"]);
        assert.equal(c.settings.name, "json-svc");
        assert.equal(c.settings.numReplicas, 2);
    });

    test("every problem is reported at once, naming the flag and the value", () => {
        const e = problemsOf([
            "--entry-script",
            "nope.py",
            "--settings",
            "missing.yaml",
            "--model",
            "ghost.onnx",
            "--port",
            "70000",
            "--tls-cert",
            "cert.pem",
            "--bogus",
            "--scale-down-delay",
            "soon",
            "--server",
            "gunicorn",
        ]);
        const f = fields(e);
        for (const flag of [
            "--entry-script",
            "--settings",
            "--model",
            "--port",
            "--tls-key",
            "--bogus",
            "--scale-down-delay",
            "--server",
        ]) {
            assert.ok(f.includes(flag), `${flag} is reported (got ${f.join(", ")})`);
        }
        assert.match(e.message, /"nope\.py"/);
        assert.match(e.message, /70000.*0 to 65535/);
        assert.match(e.message, /--tls-key.*required with --tls-cert/);
    });

    test("settings-file problems are reported per field with the v1 rules", () => {
        const e = problemsOf(["--entry-script", "src/score.py", "--settings", "bad.yaml"]);
        const f = fields(e);
        assert.ok(f.includes("bad.yaml: name"));
        assert.ok(f.includes("bad.yaml: cpuCores"));
        assert.ok(
            f.includes("bad.yaml: autoscaleMinReplicas"),
            "autoscale knob without autoscaleEnabled: true",
        );
        assert.ok(f.includes("bad.yaml: primaryKey"));
        assert.doesNotMatch(e.message, /has space/, "keys are never echoed");
    });

    test("a settings file that is not YAML/JSON is a clear problem", () => {
        const e = problemsOf(["--entry-script", "src/score.py", "--settings", "broken.yaml"]);
        assert.match(e.message, /--settings: "broken\.yaml" is not valid YAML or JSON/);
    });

    test("the entry script must be inside the source directory", () => {
        const e = problemsOf([
            "--entry-script",
            "outside.py",
            "--source-dir",
            "src",
            "--settings",
            "settings.yaml",
        ]);
        assert.match(
            e.message,
            /--entry-script: "outside\.py" must be inside the source directory/,
        );
    });

    test("more than 1000 models is refused (R27)", () => {
        const argv = ["--entry-script", "src/score.py", "--settings", "settings.yaml"];
        for (let i = 0; i < 1001; i++) argv.push("--model", "model.pkl");
        const e = problemsOf(argv);
        assert.match(e.message, /--model: "1001 models" must be at most 1000 per service \(R27\)/);
    });

    test("missing values, stray words and repeated single flags are problems", () => {
        const e = problemsOf([
            "serve-me",
            "--entry-script",
            "--settings",
            "settings.yaml",
            "--port",
            "1",
            "--port",
            "2",
        ]);
        const text = e.message;
        assert.match(text, /serve-me/);
        assert.match(text, /--entry-script: \(unset\) needs a value/);
        assert.match(text, /--port: "2" was given more than once/);
    });

    test("--sample brings its own files and cannot be mixed with them", () => {
        const c = validate(["--sample"]);
        assert.equal(c.settings.name, "diabetes");
        assert.equal(c.models.length, 1);
        const e = problemsOf(["--sample", "--entry-script", "src/score.py"]);
        assert.match(e.message, /--entry-script.*cannot be combined with --sample/);
    });

    test("--replica-command is split without a shell and must name an executable", () => {
        const c = validate([
            "--entry-script",
            "src/score.py",
            "--settings",
            "settings.yaml",
            "--replica-command",
            "python3 -m my_server --flag 'two words'",
        ]);
        assert.deepEqual(c.server, {
            kind: "command",
            argv: ["python3", "-m", "my_server", "--flag", "two words"],
        });
        const e = problemsOf([
            "--entry-script",
            "src/score.py",
            "--settings",
            "settings.yaml",
            "--replica-command",
            "no-such-binary-xyz --x",
        ]);
        assert.match(e.message, /--replica-command: "no-such-binary-xyz" is not an executable/);
    });

    test("TLS: a real certificate with the wrong key is refused, never echoing PEM contents", () => {
        const mk = (name: string) => selfSignedCert({ dir, name });
        mk("a");
        mk("b");
        const ok = validate([
            "--entry-script",
            "src/score.py",
            "--settings",
            "settings.yaml",
            "--tls-cert",
            "a.crt",
            "--tls-key",
            "a.key",
        ]);
        assert.equal(ok.tls?.certFile, join(dir, "a.crt"));
        const e = problemsOf([
            "--entry-script",
            "src/score.py",
            "--settings",
            "settings.yaml",
            "--tls-cert",
            "a.crt",
            "--tls-key",
            "b.key",
        ]);
        assert.match(e.message, /--tls-key: "b\.key" does not match the certificate/);
        assert.doesNotMatch(e.message, /BEGIN/);
    });
});

describe("splitCommand", () => {
    test("quotes and escapes, no shell semantics", () => {
        assert.deepEqual(splitCommand(`a "b c" 'd e' f\\ g "h\\"i" ;rm`), [
            "a",
            "b c",
            "d e",
            "f g",
            'h"i',
            ";rm",
        ]);
        assert.deepEqual(splitCommand("  "), []);
        assert.throws(() => splitCommand("a 'b"), CommandSyntaxError);
        assert.throws(() => splitCommand('a "b'), CommandSyntaxError);
    });
});

describe("AZUREML_MODEL_DIR layout", () => {
    test("names and versions: basename without extension, repeats get version 2, 3", () => {
        assert.equal(modelNameFor("/x/sklearn_regression_model.pkl"), "sklearn_regression_model");
        assert.equal(modelNameFor("/x/my model!.onnx"), "my-model-");
        assert.equal(modelNameFor("/x/folder/"), "folder");
        const plan = planModelLayout(["/a/model.pkl", "/b/model.pkl", "/c/other.bin"]);
        assert.deepEqual(
            plan.models.map((m) => m.relativePath),
            [
                join("model", "1", "model.pkl"),
                join("model", "2", "model.pkl"),
                join("other", "1", "other.bin"),
            ],
        );
        assert.equal(plan.modelDirRelative, "", "several models: the root");
        assert.equal(
            planModelLayout(["/a/m.pkl"]).modelDirRelative,
            join("m", "1"),
            "one model: its folder",
        );
    });

    test("layouts of runtimes that are gone are swept, live ones kept", () => {
        const root = mkdtempSync(join(tmpdir(), "amlaks-sweep-"));
        try {
            mkdirSync(join(root, "amlaks-models-999999999-dead"));
            mkdirSync(join(root, `amlaks-models-${process.pid}-live`));
            mkdirSync(join(root, "unrelated-999999999-"));
            assert.deepEqual(sweepStaleLayouts(root), ["amlaks-models-999999999-dead"]);
            assert.deepEqual(readdirSync(root).sort(), [
                `amlaks-models-${process.pid}-live`,
                "unrelated-999999999-",
            ]);
        } finally {
            rmSync(root, { recursive: true, force: true });
        }
    });

    test("one model: AZUREML_MODEL_DIR/<file> works as on AML; removal cleans up", () => {
        const layout = materializeModelLayout([join(dir, "model.pkl")]);
        try {
            assert.equal(readFileSync(join(layout.modelDir, "model.pkl"), "utf8"), "m");
            assert.ok(
                lstatSync(join(layout.modelDir, "model.pkl")).isSymbolicLink(),
                "symlinked, not copied",
            );
        } finally {
            layout.remove();
        }
        assert.equal(existsSync(layout.root), false);
    });

    test("several models: <name>/<version>/<file> under AZUREML_MODEL_DIR", () => {
        mkdirSync(join(dir, "bundle"), { recursive: true });
        writeFileSync(join(dir, "bundle", "weights.bin"), "w");
        const layout = materializeModelLayout([join(dir, "model.pkl"), join(dir, "bundle")]);
        try {
            assert.deepEqual(readdirSync(layout.modelDir).sort(), ["bundle", "model"]);
            assert.equal(
                readFileSync(join(layout.modelDir, "bundle", "1", "bundle", "weights.bin"), "utf8"),
                "w",
            );
        } finally {
            layout.remove();
        }
    });
});

describe("keys file", () => {
    test("key auth: generated once, written 0600, reused on the next start; settings keys win", async () => {
        const settings = validateWebserviceSettings({ name: "keyed" });
        const first = await resolveServiceAuth(settings, undefined);
        assert.deepEqual(first.generated, ["primaryKey", "secondaryKey"]);
        assert.notEqual(first.auth.primaryKey, first.auth.secondaryKey);
        const file = join(dir, "keys", "keyed.json");
        writeKeysFile(file, first.file);
        assert.equal(statSync(file).mode & 0o777, 0o600);
        const again = await resolveServiceAuth(settings, readKeysFile(file, "keyed"));
        assert.deepEqual(again.generated, []);
        assert.equal(again.auth.primaryKey, first.auth.primaryKey);
        const given = await resolveServiceAuth(
            validateWebserviceSettings({
                name: "keyed",
                primaryKey: "given-key-0123456789abcdefghijklmnop",
            }),
            readKeysFile(file, "keyed"),
        );
        assert.equal(given.auth.primaryKey, "given-key-0123456789abcdefghijklmnop");
        assert.equal(given.auth.secondaryKey, first.auth.secondaryKey);
        assert.equal(
            readKeysFile(file, "another-service"),
            undefined,
            "never reuse another service's keys",
        );
    });

    test("token auth: a signing key and a token-mode auth config", async () => {
        const settings = validateWebserviceSettings({ name: "tokened", tokenAuthEnabled: true });
        const r = await resolveServiceAuth(settings, undefined);
        assert.equal(r.auth.mode, "token");
        assert.equal(r.auth.signingPublicKeys?.length, 1);
        assert.equal(
            r.auth.signingPublicKeys?.[0].d,
            undefined,
            "only the public key goes to the router",
        );
        assert.equal(
            typeof r.file.signingKey?.d,
            "string",
            "the private key goes to the 0600 file",
        );
    });
});

describe("progress lines", () => {
    const load = { readyReplicas: 1, busyReplicas: 1, inFlight: 1, queued: 2 };
    test("scale decisions: one line with the reason", () => {
        const up = formatDecision(
            {
                service: "svc",
                atMs: 0,
                current: 1,
                load,
                decision: {
                    desired: 3,
                    direction: "up",
                    reason: "above-target",
                    utilization: 2.4,
                    wanted: 4,
                    state: {},
                },
            },
            70,
        );
        assert.equal(up, "scale svc 1 → 3 (utilization 240% > 70%)");
        const none = formatDecision(
            {
                service: "svc",
                atMs: 0,
                current: 1,
                load,
                decision: {
                    desired: 1,
                    direction: "none",
                    reason: "within-target",
                    utilization: 0.5,
                    wanted: 1,
                    state: {},
                },
            },
            70,
        );
        assert.equal(none, undefined);
    });

    test("log records: replica output shown, access logs only on request, no secrets", () => {
        assert.equal(
            formatLogRecord({ level: 30, stream: "stdout", msg: "[svc-1] hello" }, false)?.line,
            "[svc-1] hello",
        );
        const access = {
            level: 30,
            requestId: "r1",
            status: 200,
            method: "POST",
            path: "/api/v1/service/svc/score",
            durationMs: 3.21,
        };
        assert.equal(formatLogRecord(access, false), undefined);
        assert.equal(
            formatLogRecord(access, true)?.line,
            "POST /api/v1/service/svc/score 200 3.2 ms id=r1",
        );
        assert.equal(formatLogRecord({ level: 30, msg: "router listening" }, false), undefined);
        assert.equal(formatLogRecord({ level: 40, msg: "slow" }, false)?.toErr, true);
    });
});
