/**
 * `amlaks serve` arguments: parsing (node's util.parseArgs) and validation of everything — flags,
 * files, the settings file (validateWebserviceSettings, docs/design.md §3), models (R27), TLS
 * material — before anything starts. Every problem is collected and reported at once (one
 * ValidationError). File-system and PATH look-ups go through {@link ServeProbe} so the rules are
 * testable without I/O.
 */
import { spawnSync } from "node:child_process";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { delimiter, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import YAML from "yaml";
import { Problems, REDACTED, ValidationError } from "../components/common/validation";
import {
    MAX_MODELS_PER_SERVICE,
    type WebserviceSettings,
    type WebserviceSettingsInput,
    validateWebserviceSettings,
} from "../components/settings";
import { LOCAL_SCOPE } from "../router/collect/config";
import { segmentProblem, type ModelDataScope } from "../router/collect/layout";
import { otlpTracesUrl } from "../router/telemetry/config";
import { CommandSyntaxError, splitCommand } from "./command";
import { samplePaths } from "./paths";

/** Flags of `amlaks serve` (name → parseArgs type). */
export const SERVE_OPTIONS = {
    "entry-script": { type: "string" },
    "source-dir": { type: "string" },
    model: { type: "string", multiple: true },
    settings: { type: "string" },
    host: { type: "string" },
    port: { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "replica-command": { type: "string" },
    server: { type: "string" },
    python: { type: "string" },
    "keys-file": { type: "string" },
    "scale-down-delay": { type: "string" },
    "access-log": { type: "boolean" },
    "collect-model-data": { type: "string" },
    "model-data-scope": { type: "string" },
    "log-format": { type: "string" },
    "otlp-endpoint": { type: "string" },
    sample: { type: "boolean" },
    help: { type: "boolean", short: "h" },
} as const;

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 8080;
export const DEFAULT_SCALE_DOWN_DELAY_SECONDS = 60;
export const MIN_PYTHON: readonly [number, number] = [3, 9];

/** How replicas are started. */
export type ReplicaServer =
    | { readonly kind: "harness"; readonly python: string }
    | { readonly kind: "azmlinfsrv"; readonly executable: string }
    | { readonly kind: "command"; readonly argv: readonly string[] };

/** Everything `serve` needs, validated. Paths are absolute. */
export interface ServeConfig {
    readonly sample: boolean;
    readonly entryScript: string;
    readonly sourceDir: string;
    readonly models: readonly string[];
    readonly settingsFile: string;
    readonly settings: WebserviceSettings;
    readonly host: string;
    /** 0 = any free port. */
    readonly port: number;
    readonly tls?: { readonly certFile: string; readonly keyFile: string };
    readonly server: ReplicaServer;
    readonly keysFile: string;
    readonly keysFileGiven: boolean;
    readonly scaleDownDelayMs: number;
    readonly accessLog: boolean;
    /**
     * `--collect-model-data <dir>`: inputs and predictions go below `<dir>/modeldata/` in v1's
     * layout, the first three segments from `--model-data-scope`. @default - no collection
     */
    readonly modelData?: { readonly dir: string; readonly scope: ModelDataScope };
    /** `text`: readable lines for a terminal; `json`: every line on stdout is a JSON record. */
    readonly logFormat: LogFormat;
    /**
     * `--otlp-endpoint <url>`: the traces URL (`<url>/v1/traces`) requests are exported to, as
     * Application Insights gets them on the cluster. @default - no export
     */
    readonly otlpEndpoint?: string;
}

export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The I/O validation needs (injected in tests). */
export interface ServeProbe {
    readonly cwd: string;
    readonly env: Readonly<Record<string, string | undefined>>;
    /** "file", "dir" or undefined when the path does not exist. */
    kind(path: string): "file" | "dir" | "other" | undefined;
    readText(path: string): string;
    /** Absolute path of an executable on PATH (or the path itself when it contains a slash). */
    which(command: string): string | undefined;
    /** `[major, minor]` of a Python interpreter, or undefined when it does not run. */
    pythonVersion(python: string): [number, number] | undefined;
}

export const systemProbe: ServeProbe = {
    cwd: process.cwd(),
    env: process.env,
    kind(path) {
        try {
            const s = statSync(path);
            return s.isFile() ? "file" : s.isDirectory() ? "dir" : "other";
        } catch {
            return undefined;
        }
    },
    readText: (path) => readFileSync(path, "utf8"),
    which(command) {
        if (command.includes("/")) {
            return systemProbe.kind(command) === "file" ? resolve(command) : undefined;
        }
        for (const dir of (process.env.PATH ?? "").split(delimiter)) {
            if (!dir) continue;
            const candidate = join(dir, command);
            if (systemProbe.kind(candidate) === "file") return candidate;
        }
        return undefined;
    },
    pythonVersion(python) {
        const r = spawnSync(python, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], {
            encoding: "utf8",
            timeout: 10_000,
        });
        const m = /^(\d+)\.(\d+)/.exec((r.stdout ?? "").trim());
        return r.status === 0 && m ? [Number(m[1]), Number(m[2])] : undefined;
    },
};

/** Result of parsing argv: the subcommand and the raw flag values. */
export interface ParsedServeArgs {
    readonly values: Partial<Record<keyof typeof SERVE_OPTIONS, string | string[] | boolean>>;
    readonly problems: Problems;
}

/**
 * Parses `serve` flags leniently (every unknown flag, missing value and stray word becomes a
 * problem instead of stopping at the first).
 */
export function parseServeArgs(argv: readonly string[]): ParsedServeArgs {
    const p = new Problems();
    const { tokens } = parseArgs({
        args: [...argv],
        options: SERVE_OPTIONS,
        strict: false,
        allowPositionals: true,
        tokens: true,
    });
    const values: Record<string, string | string[] | boolean> = {};
    for (const t of tokens ?? []) {
        if (t.kind === "positional") {
            p.add(t.value, t.value, "is not a flag of `amlaks serve` (see `amlaks serve --help`)");
            continue;
        }
        if (t.kind !== "option") continue;
        const spec = (SERVE_OPTIONS as Record<string, { type: string; multiple?: boolean }>)[
            t.name
        ];
        const flag = t.rawName.startsWith("--") ? `--${t.name}` : t.rawName;
        if (!spec) {
            p.add(flag, undefined, "is not a flag of `amlaks serve` (see `amlaks serve --help`)");
            continue;
        }
        if (spec.type === "boolean") {
            if (t.value !== undefined) p.add(flag, t.value, "takes no value");
            values[t.name] = true;
            continue;
        }
        if (t.value === undefined || (t.inlineValue !== true && t.value.startsWith("--"))) {
            p.add(flag, undefined, "needs a value");
            continue;
        }
        if (spec.multiple) {
            values[t.name] = [...((values[t.name] as string[] | undefined) ?? []), t.value];
        } else {
            if (values[t.name] !== undefined) p.add(flag, t.value, "was given more than once");
            values[t.name] = t.value;
        }
    }
    return { values, problems: p };
}

function str(v: unknown): string | undefined {
    return typeof v === "string" ? v : undefined;
}

function isLoopback(host: string): boolean {
    return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** Reads a YAML or JSON settings file into an object; problems go to `p`. */
export function readSettingsFile(
    path: string,
    probe: ServeProbe,
    p: Problems,
    shown: string = path,
): Record<string, unknown> | undefined {
    let text: string;
    try {
        text = probe.readText(path);
    } catch (e) {
        p.add("--settings", shown, `cannot be read: ${(e as Error).message}`);
        return undefined;
    }
    let parsed: unknown;
    try {
        // YAML 1.2 is a superset of JSON: one parser reads both. Duplicate keys are errors.
        parsed = YAML.parse(text, { prettyErrors: true });
    } catch (e) {
        const first = (e as Error).message.split("\n")[0].replace(/:$/, "");
        p.add("--settings", shown, `is not valid YAML or JSON: ${first}`);
        return undefined;
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        p.add("--settings", shown, "must contain a mapping of web service settings (name: ...)");
        return undefined;
    }
    return parsed as Record<string, unknown>;
}

/**
 * Validates parsed flags into a {@link ServeConfig}; throws one ValidationError listing every
 * problem (flag, value, rule). Keys and PEM contents are never echoed.
 */
export function validateServeArgs(
    parsed: ParsedServeArgs,
    probe: ServeProbe = systemProbe,
): ServeConfig {
    const p = parsed.problems;
    const v = parsed.values;
    const sample = v.sample === true;
    const at = (x: string): string => resolve(probe.cwd, x);

    let entryArg = str(v["entry-script"]);
    let sourceArg = str(v["source-dir"]);
    let modelArgs = (v.model as string[] | undefined) ?? [];
    let settingsArg = str(v.settings);
    if (sample) {
        for (const f of ["entry-script", "source-dir", "model", "settings"] as const) {
            if (v[f] !== undefined) {
                p.add(
                    `--${f}`,
                    v[f],
                    "cannot be combined with --sample (the sample brings its own)",
                );
            }
        }
        const s = samplePaths();
        entryArg = s.entryScript;
        sourceArg = s.sourceDir;
        modelArgs = [...s.models];
        settingsArg = s.settingsFile;
    }

    // Entry script and source directory.
    let entryScript = "";
    let sourceDir = "";
    if (entryArg === undefined) {
        p.add("--entry-script", undefined, "is required (or use --sample)");
    } else {
        entryScript = at(entryArg);
        sourceDir = sourceArg !== undefined ? at(sourceArg) : dirname(entryScript);
        if (sourceArg !== undefined && probe.kind(sourceDir) !== "dir") {
            p.add("--source-dir", sourceArg, "is not an existing directory");
        }
        const entryKind = probe.kind(entryScript);
        if (entryKind !== "file") {
            p.add("--entry-script", entryArg, "is not an existing file");
        }
        const rel = relative(sourceDir, entryScript);
        if (rel.startsWith("..") || isAbsolute(rel)) {
            p.add(
                "--entry-script",
                entryArg,
                `must be inside the source directory ${sourceDir} (AML loads it relative to AZUREML_SOURCE_DIRECTORY)`,
            );
        }
        if (
            entryKind === "file" &&
            !/\.py$/.test(entryScript) &&
            v["replica-command"] === undefined
        ) {
            p.add("--entry-script", entryArg, "must be a Python file (.py)");
        }
    }

    // Settings file (YAML or JSON) with the models from --model (R27).
    let settingsFile = "";
    let settings: WebserviceSettings | undefined;
    let models: string[] = modelArgs.map(at);
    if (settingsArg === undefined) {
        p.add(
            "--settings",
            undefined,
            "is required: a YAML or JSON file with at least `name:` (or use --sample)",
        );
    } else {
        settingsFile = at(settingsArg);
        if (probe.kind(settingsFile) !== "file") {
            p.add("--settings", settingsArg, "is not an existing file");
        } else {
            const raw = readSettingsFile(settingsFile, probe, p, settingsArg);
            if (raw) {
                const fromFile = raw.models;
                if (fromFile !== undefined && modelArgs.length > 0) {
                    p.add(
                        "--model",
                        `${modelArgs.length} models`,
                        `cannot be combined with \`models:\` in ${settingsArg}; list models in one place`,
                    );
                } else if (Array.isArray(fromFile)) {
                    // Paths in the settings file are relative to the file.
                    models = fromFile.map((m) =>
                        typeof m === "string" ? resolve(dirname(settingsFile), m) : m,
                    );
                }
                try {
                    settings = validateWebserviceSettings({
                        ...(raw as unknown as WebserviceSettingsInput),
                        models,
                    });
                } catch (e) {
                    if (!(e instanceof ValidationError)) throw e;
                    for (const q of e.problems) {
                        const field =
                            q.field === "models" && modelArgs.length > 0
                                ? "--model"
                                : `${settingsArg}: ${q.field}`;
                        p.add(field, q.value, q.rule);
                    }
                }
            }
        }
    }
    if (models.length <= MAX_MODELS_PER_SERVICE) {
        for (const m of models) {
            if (typeof m === "string" && probe.kind(m) === undefined) {
                p.add("--model", relative(probe.cwd, m) || m, "does not exist");
            }
        }
    }

    // Network.
    const host = str(v.host) ?? DEFAULT_HOST;
    if (!/^[A-Za-z0-9.:_-]+$/.test(host)) {
        p.add("--host", host, "must be an IP address or host name");
    }
    let port = DEFAULT_PORT;
    const portArg = str(v.port);
    if (portArg !== undefined) {
        port = /^\d+$/.test(portArg) ? Number(portArg) : NaN;
        if (!Number.isInteger(port) || port < 0 || port > 65535) {
            p.add("--port", portArg, "must be a whole number from 0 to 65535 (0 = any free port)");
        }
    }

    // TLS (R6): both files, a certificate and a matching private key.
    let tls: ServeConfig["tls"];
    const certArg = str(v["tls-cert"]);
    const keyArg = str(v["tls-key"]);
    if ((certArg === undefined) !== (keyArg === undefined)) {
        p.add(
            certArg === undefined ? "--tls-cert" : "--tls-key",
            undefined,
            `is required with ${certArg === undefined ? "--tls-key" : "--tls-cert"} (TLS needs both)`,
        );
    } else if (certArg !== undefined && keyArg !== undefined) {
        const certFile = at(certArg);
        const keyFile = at(keyArg);
        let cert: X509Certificate | undefined;
        let keyOk = false;
        if (probe.kind(certFile) !== "file") {
            p.add("--tls-cert", certArg, "is not an existing file");
        } else {
            try {
                cert = new X509Certificate(probe.readText(certFile));
            } catch {
                p.add("--tls-cert", certArg, "is not a PEM certificate");
            }
        }
        if (probe.kind(keyFile) !== "file") {
            p.add("--tls-key", keyArg, "is not an existing file");
        } else {
            try {
                const key = createPrivateKey(probe.readText(keyFile));
                keyOk = true;
                if (cert && !cert.checkPrivateKey(key)) {
                    p.add("--tls-key", keyArg, "does not match the certificate in --tls-cert");
                }
            } catch {
                // Never echo the key material itself.
                p.add("--tls-key", keyArg, `is not an unencrypted PEM private key (${REDACTED})`);
            }
        }
        if (cert && keyOk) tls = { certFile, keyFile };
    }

    // How replicas run.
    const serverArg = str(v.server);
    const commandArg = str(v["replica-command"]);
    const python = str(v.python) ?? probe.env.AMLAKS_PYTHON ?? "python3";
    let server: ReplicaServer = { kind: "harness", python };
    if (serverArg !== undefined && !["auto", "harness", "azmlinfsrv"].includes(serverArg)) {
        p.add("--server", serverArg, "must be auto, harness or azmlinfsrv");
    }
    if (commandArg !== undefined) {
        if (serverArg !== undefined) {
            p.add("--server", serverArg, "cannot be combined with --replica-command");
        }
        try {
            const argv = splitCommand(commandArg);
            if (argv.length === 0) {
                p.add("--replica-command", commandArg, "is empty");
            } else if (!probe.which(argv[0])) {
                p.add(
                    "--replica-command",
                    argv[0],
                    "is not an executable on PATH or an existing file",
                );
            } else {
                server = { kind: "command", argv };
            }
        } catch (e) {
            if (!(e instanceof CommandSyntaxError)) throw e;
            p.add("--replica-command", commandArg, `cannot be split into arguments: ${e.message}`);
        }
    } else {
        const azmlinfsrv = probe.which("azmlinfsrv");
        const mode = serverArg ?? "auto";
        if (mode === "azmlinfsrv") {
            if (!azmlinfsrv)
                p.add(
                    "--server",
                    mode,
                    "needs azmlinfsrv on PATH (pip install azureml-inference-server-http)",
                );
            else server = { kind: "azmlinfsrv", executable: azmlinfsrv };
        } else if (mode === "auto" && azmlinfsrv && !isLoopback(host)) {
            // azmlinfsrv always listens on 0.0.0.0: use it only when the user already opened the host.
            server = { kind: "azmlinfsrv", executable: azmlinfsrv };
        }
        if (server.kind === "harness") {
            const version = probe.pythonVersion(python);
            if (!version) {
                p.add(
                    "--python",
                    python,
                    "does not run; the model-server harness needs Python >= 3.9 (set --python or AMLAKS_PYTHON)",
                );
            } else if (
                version[0] < MIN_PYTHON[0] ||
                (version[0] === MIN_PYTHON[0] && version[1] < MIN_PYTHON[1])
            ) {
                p.add("--python", `${python} (${version.join(".")})`, "must be Python >= 3.9");
            }
        }
    }
    if (str(v.python) !== undefined && server.kind !== "harness") {
        p.add("--python", v.python, "applies only to the built-in harness (--server harness)");
    }

    // Auto-scaler and keys.
    let scaleDownDelayMs = DEFAULT_SCALE_DOWN_DELAY_SECONDS * 1000;
    const delayArg = str(v["scale-down-delay"]);
    if (delayArg !== undefined) {
        const seconds = /^\d+(\.\d+)?$/.test(delayArg) ? Number(delayArg) : NaN;
        if (!Number.isFinite(seconds) || seconds > 86_400) {
            p.add("--scale-down-delay", delayArg, "must be a number of seconds from 0 to 86400");
        } else {
            scaleDownDelayMs = Math.round(seconds * 1000);
        }
    }
    const keysArg = str(v["keys-file"]);
    const keysFile =
        keysArg !== undefined
            ? at(keysArg)
            : join(probe.cwd, ".amlaks", settings?.name ?? "service", "keys.json");
    if (keysArg !== undefined && probe.kind(keysFile) === "dir") {
        p.add("--keys-file", keysArg, "is a directory; give a file path");
    }

    const logFormat = str(v["log-format"]) ?? "text";
    if (!(LOG_FORMATS as readonly string[]).includes(logFormat)) {
        p.add("--log-format", logFormat, `must be one of ${LOG_FORMATS.join(", ")}`);
    }

    const modelData = modelDataArgs(v, at, probe, p);

    const otlpArg = str(v["otlp-endpoint"]);
    const otlpEndpoint = otlpArg === undefined ? undefined : otlpTracesUrl(otlpArg);
    if (otlpArg !== undefined && !otlpEndpoint) {
        p.add(
            "--otlp-endpoint",
            otlpArg,
            "must be the http(s) URL of an OTLP/HTTP collector, e.g. http://127.0.0.1:4318 (traces go to <url>/v1/traces)",
        );
    }

    p.throwIfAny("arguments for `amlaks serve`");
    return {
        sample,
        entryScript,
        sourceDir,
        models,
        settingsFile,
        settings: settings as WebserviceSettings,
        host,
        port,
        tls,
        server,
        keysFile,
        keysFileGiven: keysArg !== undefined,
        scaleDownDelayMs,
        accessLog: v["access-log"] === true,
        ...(modelData ? { modelData } : {}),
        logFormat: logFormat as LogFormat,
        ...(otlpEndpoint ? { otlpEndpoint } : {}),
    };
}

/** `--collect-model-data <dir>` and `--model-data-scope <subscription>/<resourceGroup>/<workspace>`. */
function modelDataArgs(
    v: ParsedServeArgs["values"],
    at: (x: string) => string,
    probe: ServeProbe,
    p: Problems,
): ServeConfig["modelData"] {
    const dirArg = str(v["collect-model-data"]);
    const scopeArg = str(v["model-data-scope"]);
    if (dirArg === undefined) {
        if (scopeArg !== undefined) {
            p.add("--model-data-scope", scopeArg, "is only used with --collect-model-data <dir>");
        }
        return undefined;
    }
    const dir = at(dirArg);
    const kind = probe.kind(dir);
    if (kind !== undefined && kind !== "dir") {
        p.add("--collect-model-data", dirArg, "is not a directory (it is created when missing)");
    }
    let scope: ModelDataScope = LOCAL_SCOPE;
    if (scopeArg !== undefined) {
        const parts = scopeArg.split("/");
        if (parts.length !== 3 || parts.some((x) => segmentProblem(x) !== undefined)) {
            p.add(
                "--model-data-scope",
                scopeArg,
                "must be <subscription>/<resourceGroup>/<workspace>, each 1-255 letters, digits, '.', '_', '-', '(' or ')'",
            );
        } else {
            scope = { subscription: parts[0], resourceGroup: parts[1], workspace: parts[2] };
        }
    }
    return { dir, scope };
}
