#!/usr/bin/env node
/**
 * `amlaks` command line (package.json `bin`; `npm start` = `amlaks serve --sample`).
 *
 *   amlaks serve ...   the local runtime: router + autoscaler + model replicas on this machine
 *   amlaks token ...   mint an access token for a token-auth service from its keys file
 *
 * Exit codes: 0 stopped by Ctrl-C / SIGTERM; 1 runtime failure; 2 bad arguments (one message
 * listing every problem); 3 the model failed to start (init() raised: its stderr is shown).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ValidationError } from "../components/common/validation";
import { getToken } from "../router/auth";
import { ReplicaFailedError } from "../router/backends/local";
import { parseServeArgs, validateServeArgs } from "./args";
import { jsonConsole } from "./console";
import { keysFileProblem, type KeysFile } from "./keys";
import { packageVersion } from "./paths";
import { startService, type RunningService } from "./serve";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_MODEL_FAILED = 3;

export const MAIN_HELP = `amlaks — Azure ML v1 "deploy a model to AKS", as code

Usage:
  amlaks serve --entry-script <file> --settings <file> [--model <path> ...] [options]
  amlaks serve --sample [options]
  amlaks token --keys-file <file> [--lifetime <seconds>]
  amlaks --version
  amlaks <command> --help
`;

export const SERVE_HELP = `amlaks serve — run an Azure ML v1 entry script locally behind the amlaks router
(no cloud, no Kubernetes, no Docker): the router on --host:--port, model replicas as local
processes on 127.0.0.1, autoscaled by utilization as on AKS.

Usage:
  amlaks serve --entry-script <file> --settings <file> [--model <path> ...] [options]
  amlaks serve --sample [options]          the bundled diabetes sample (npm start)

Service:
  --entry-script <file>    score.py with init() and run(); must be inside --source-dir
  --source-dir <dir>       project folder: on sys.path and the replicas' working directory
                           (AZUREML_SOURCE_DIRECTORY). Default: the entry script's folder
  --model <path>           a model file or folder; repeat for several (at most 1000, R27).
                           Laid out under a temporary AZUREML_MODEL_DIR as Azure ML does:
                           one model -> the folder that contains it; several ->
                           <name>/<version>/<file> (name = file name without extension,
                           version = 1, or 2, 3... when names repeat)
  --settings <file>        YAML or JSON web-service settings: the v1 deploy_configuration
                           fields in camelCase. name (required), autoscaleEnabled,
                           autoscaleMinReplicas, autoscaleMaxReplicas,
                           autoscaleTargetUtilization, autoscaleRefreshSeconds, numReplicas,
                           authEnabled, tokenAuthEnabled, primaryKey, secondaryKey,
                           scoringTimeoutMs, replicaMaxConcurrentRequests,
                           maxRequestWaitTime, ... (models: paths relative to the file)
  --sample                 serve examples/sample (score.py, model, settings.yaml)

Network:
  --host <address>         router address (default 127.0.0.1; 0.0.0.0 exposes the service)
  --port <port>            router port (default 8080; 0 = any free port)
  --tls-cert <file>        PEM certificate chain: serve HTTPS on --port (needs --tls-key)
  --tls-key <file>         PEM private key, unencrypted

Replicas:
  --server <kind>          auto | harness | azmlinfsrv. harness = the built-in model server
                           (Python standard library only). auto (default) = harness, or
                           azmlinfsrv when it is on PATH and --host is not a loopback address
                           (azmlinfsrv always listens on 0.0.0.0)
  --python <exe>           Python >= 3.9 for the harness (default $AMLAKS_PYTHON or python3)
  --replica-command <cmd>  a custom model server instead: split into argv without a shell,
                           run in --source-dir with SERVER_PORT, SERVER_HOST and the
                           AZUREML_* variables set; it must answer GET / with 200 when ready
                           and serve POST /score
  --scale-down-delay <s>   seconds fewer replicas must have been enough before scaling down
                           (default 60, as azureml-fe's ~1 minute; scale-up is immediate)

Keys and output:
  --keys-file <file>       where the keys (key auth) or the token signing key (token auth)
                           are kept, mode 0600 (default .amlaks/<name>/keys.json); reused on
                           the next start. Keys in the settings file win. The keys are
                           printed only when stdout is a terminal, never into a pipe or log
  --access-log             one line per request (status, time, request id; never keys or
                           payloads)
  --log-format <format>    text (default): readable lines; json: every line on stdout is a
                           JSON record (the router's access and event lines with time,
                           service, replica, status, timings; the runtime's own lines as
                           {"level","time","name":"amlaks","msg"}); keys are not printed
  --otlp-endpoint <url>    export every request as Application Insights gets it on the
                           cluster (request and dependency spans, exceptions; no payloads)
                           to an OTLP/HTTP collector: JSON to <url>/v1/traces, e.g.
                           http://127.0.0.1:4318 (Jaeger, the OpenTelemetry Collector)

Model data collection (collectModelData, docs/observability.md):
  --collect-model-data <dir>
                           keep the inputs and predictions of successful POST /score calls
                           (sampled by modelDataCollectionSampleRate) as JSON Lines under
                           <dir>/modeldata/<subscription>/<resourceGroup>/<workspace>/
                           <service>/<model>/<version>/<inputs|predictions>/<yyyy>/<mm>/<dd>/,
                           the layout v1 used in the workspace's storage; turns
                           collectModelData on for this run
  --model-data-scope <subscription>/<resourceGroup>/<workspace>
                           the first three folders (default local/local/local)
  -h, --help               this help

Exit codes: 0 stopped by Ctrl-C or SIGTERM (in-flight requests finish first), 1 runtime
failure, 2 bad arguments, 3 the model failed to start (init() raised; its stderr is shown).
`;

export const TOKEN_HELP = `amlaks token — mint an access token for a token-auth service (tokenAuthEnabled: true)

Usage:
  amlaks token --keys-file <file> [--lifetime <seconds>]

Prints {"accessToken", "tokenType", "refreshAfter", "expiryOn"} (epoch seconds), the fields of v1
get_access_token(). Send it as "Authorization: Bearer <accessToken>"; get a new one after
refreshAfter (R37).

  --keys-file <file>       the file amlaks serve wrote (default .amlaks/<name>/keys.json)
  --lifetime <seconds>     60..86400 (default 3600)
`;

interface Io {
    out(line: string): void;
    err(line: string): void;
}

const stdio: Io = {
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`${line}\n`),
};

function usageError(io: Io, message: string, help: string): number {
    io.err(message);
    io.err(`Run \`amlaks ${help} --help\` for the flags.`);
    return EXIT_USAGE;
}

async function tokenCommand(argv: string[], io: Io): Promise<number> {
    let values: { "keys-file"?: string; lifetime?: string; help?: boolean };
    try {
        ({ values } = parseArgs({
            args: argv,
            options: {
                "keys-file": { type: "string" },
                lifetime: { type: "string" },
                help: { type: "boolean", short: "h" },
            },
            strict: true,
            allowPositionals: false,
        }));
    } catch (e) {
        return usageError(io, `amlaks token: ${(e as Error).message}`, "token");
    }
    if (values.help) {
        io.out(TOKEN_HELP);
        return EXIT_OK;
    }
    const problems: string[] = [];
    if (!values["keys-file"]) problems.push("--keys-file is required");
    const lifetime = values.lifetime === undefined ? undefined : Number(values.lifetime);
    if (lifetime !== undefined && !Number.isInteger(lifetime)) {
        problems.push(
            `--lifetime: ${JSON.stringify(values.lifetime)} must be a whole number of seconds`,
        );
    }
    let keys: KeysFile | undefined;
    if (values["keys-file"]) {
        try {
            keys = JSON.parse(readFileSync(values["keys-file"], "utf8")) as KeysFile;
        } catch (e) {
            problems.push(
                `--keys-file: ${JSON.stringify(values["keys-file"])} cannot be read as JSON: ${(e as Error).message.split("\n")[0]}`,
            );
        }
        if (keys && (keys.authMode !== "token" || !keys.signingKey)) {
            problems.push(
                `--keys-file: ${JSON.stringify(values["keys-file"])} is not the keys file of a token-auth service (authMode: ${String(keys.authMode)})`,
            );
        }
    }
    if (problems.length > 0) {
        return usageError(
            io,
            `Invalid arguments for \`amlaks token\`:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
            "token",
        );
    }
    try {
        const k = keys as KeysFile;
        const token = await getToken({
            service: k.service,
            signingKey: k.signingKey as NonNullable<KeysFile["signingKey"]>,
            issuer: k.issuer,
            audience: k.audience,
            lifetimeSeconds: lifetime,
        });
        io.out(JSON.stringify(token, null, 2));
        return EXIT_OK;
    } catch (e) {
        if (e instanceof ValidationError) return usageError(io, e.message, "token");
        throw e;
    }
}

async function serveCommand(argv: string[], io: Io): Promise<number> {
    const parsed = parseServeArgs(argv);
    if (parsed.values.help === true) {
        io.out(SERVE_HELP);
        return EXIT_OK;
    }
    let config;
    try {
        config = validateServeArgs(parsed);
    } catch (e) {
        if (e instanceof ValidationError) return usageError(io, e.message, "serve");
        throw e;
    }
    // Before anything listens (issue 15: a keys file under /proc used to fail after the
    // listener was up).
    const keysProblem = keysFileProblem(config.keysFile);
    if (keysProblem) {
        return usageError(
            io,
            `Invalid arguments for \`amlaks serve\`:\n  - --keys-file: ${JSON.stringify(config.keysFile)} ${keysProblem}`,
            "serve",
        );
    }

    // From here on, with --log-format json, the CLI's own lines are JSON records too
    // (startService gets the terminal and formats its lines itself).
    const terminal = io;
    if (config.logFormat === "json") io = jsonConsole(io);
    let service: RunningService | undefined;
    let signalled = 0;
    let finish!: (code: number) => void;
    const finished = new Promise<number>((resolve) => (finish = resolve));
    const onSignal = (signal: NodeJS.Signals): void => {
        if (signalled > 0 && Date.now() - signalled < 500) {
            // The same Ctrl-C delivered twice (by the terminal to the whole process group and
            // relayed by a wrapper such as npm/tsx): one request to stop.
            return;
        }
        if (signalled > 0 || !service) {
            // A second Ctrl-C, or one before the service is up: leave now. The exit hook of the
            // local backend SIGKILLs every replica group, so nothing is left behind.
            io.err(`amlaks: ${signal} — exiting now`);
            process.exit(130);
        }
        signalled = Date.now();
        io.out(`amlaks: ${signal} — draining requests and stopping replicas…`);
        const t0 = Date.now();
        service.stop().then(
            () => {
                io.out(`amlaks: stopped in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
                finish(EXIT_OK);
            },
            (err: Error) => {
                io.err(`amlaks: error while stopping: ${err.message}`);
                finish(EXIT_FAILURE);
            },
        );
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);

    try {
        service = await startService(config, {
            ...terminal,
            showKeys: process.stdout.isTTY === true,
        });
    } catch (e) {
        if (e instanceof ValidationError) return usageError(io, e.message, "serve");
        if (e instanceof ReplicaFailedError) {
            io.err(`amlaks: the model failed to start: replica ${e.replica} ${e.reason}`);
            io.err(
                e.stderrTail
                    ? `--- replica stderr (last lines) ---\n${e.stderrTail}`
                    : "(the replica wrote nothing to stderr)",
            );
            return EXIT_MODEL_FAILED;
        }
        io.err(`amlaks: ${(e as Error).message}`);
        return EXIT_FAILURE;
    }
    return finished;
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[], io: Io = stdio): Promise<number> {
    const [command, ...rest] = argv;
    if (command === "--version" || command === "-v" || command === "version") {
        io.out(packageVersion());
        return EXIT_OK;
    }
    if (command === undefined || command === "--help" || command === "-h" || command === "help") {
        io.out(MAIN_HELP);
        return command === undefined ? EXIT_USAGE : EXIT_OK;
    }
    if (command === "serve") return serveCommand(rest, io);
    if (command === "token") return tokenCommand(rest, io);
    return usageError(
        io,
        `amlaks: unknown command ${JSON.stringify(command)} (commands: serve, token)`,
        "",
    );
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (err: Error) => {
            process.stderr.write(`amlaks: ${err.stack ?? err.message}\n`);
            process.exit(EXIT_FAILURE);
        },
    );
}
