/**
 * The router's model data environment (ROUTER_MODEL_DATA_*) and the directory sink.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Problems, ValidationError } from "../../../components/common/validation";
import { modelDataConfigFromEnv } from "../../../router/collect";
import { DirectorySink } from "../../../router/collect/directory-sink";
import { StoreError } from "../../../router/collect/sink";
import { optionsFromEnv } from "../../../router/main";

function problemsOf(env: NodeJS.ProcessEnv): string[] {
    const p = new Problems();
    modelDataConfigFromEnv(env, p);
    try {
        p.throwIfAny("env");
        return [];
    } catch (e) {
        assert.ok(e instanceof ValidationError);
        return e.problems.map((q) => `${q.field}: ${String(q.value)} ${q.rule}`);
    }
}

const WORKSPACE = {
    ROUTER_MODEL_DATA_SUBSCRIPTION: "8f2c0d1e-0000-4f5e-9c3b-123456789abc",
    ROUTER_MODEL_DATA_RESOURCE_GROUP: "ml-rg",
    ROUTER_MODEL_DATA_WORKSPACE: "ml-ws",
};

describe("ROUTER_MODEL_DATA_* environment", () => {
    test("no store: no collection", () => {
        assert.equal(modelDataConfigFromEnv({}, new Problems()), undefined);
    });

    test("blob account URL with the workspace segments (the cluster's rendering)", () => {
        const p = new Problems();
        const c = modelDataConfigFromEnv(
            {
                ROUTER_MODEL_DATA_ACCOUNT_URL: "https://mlws123.blob.core.windows.net/",
                ROUTER_POD_NAME: "amlaks-router-5d8f7-abcde",
                ROUTER_MODEL_DATA_FLUSH_MS: "2000",
                ...WORKSPACE,
            },
            p,
        );
        assert.equal(p.count, 0);
        assert.deepEqual(c, {
            store: {
                kind: "blob",
                accountUrl: "https://mlws123.blob.core.windows.net",
                container: "modeldata",
            },
            scope: {
                subscription: WORKSPACE.ROUTER_MODEL_DATA_SUBSCRIPTION,
                resourceGroup: "ml-rg",
                workspace: "ml-ws",
            },
            maxQueuedBytes: undefined,
            flushIntervalMs: 2000,
            writerId: "amlaks-router-5d8f7-abcde",
        });
    });

    test("a directory needs no workspace segments (local/local/local)", () => {
        const c = modelDataConfigFromEnv({ ROUTER_MODEL_DATA_DIR: "/data" }, new Problems());
        assert.deepEqual(c?.scope, {
            subscription: "local",
            resourceGroup: "local",
            workspace: "local",
        });
    });

    test("every problem is named, and no SAS token or connection string is echoed", () => {
        const sas = "https://acct.blob.core.windows.net/?sv=2024&sig=SECRETSIG";
        const lines = problemsOf({
            ROUTER_MODEL_DATA_ACCOUNT_URL: sas,
            ROUTER_MODEL_DATA_CONNECTION_STRING: "AccountName=x;AccountKey=SECRETKEY",
            ROUTER_MODEL_DATA_CONTAINER: "Model_Data",
            ROUTER_MODEL_DATA_RESOURCE_GROUP: "a/b",
            ROUTER_MODEL_DATA_MAX_QUEUED_BYTES: "10",
        });
        assert.deepEqual(lines, [
            "ROUTER_MODEL_DATA_CONNECTION_STRING: (redacted) cannot be combined with ROUTER_MODEL_DATA_ACCOUNT_URL: model data goes to one store",
            "ROUTER_MODEL_DATA_CONTAINER: Model_Data must be a blob container name: 3-63 lowercase letters, digits and single dashes",
            "ROUTER_MODEL_DATA_ACCOUNT_URL: (redacted) must not carry a SAS token or credentials: the router authenticates with its workload identity",
            "ROUTER_MODEL_DATA_SUBSCRIPTION: undefined is required with ROUTER_MODEL_DATA_ACCOUNT_URL: the subscription segment of the model data path",
            "ROUTER_MODEL_DATA_RESOURCE_GROUP: a/b must be 1-255 letters, digits, '.', '_', '-', '(' or ')', not starting with '.'",
            "ROUTER_MODEL_DATA_WORKSPACE: undefined is required with ROUTER_MODEL_DATA_ACCOUNT_URL: the workspace segment of the model data path",
            "ROUTER_MODEL_DATA_MAX_QUEUED_BYTES: 10 must be a whole number from 1048576 to 9007199254740991",
        ]);
        assert.ok(!lines.join("\n").includes("SECRET"));
        assert.deepEqual(
            problemsOf({
                ROUTER_MODEL_DATA_ACCOUNT_URL: "http://acct.blob.core.windows.net",
                ...WORKSPACE,
            }),
            [
                "ROUTER_MODEL_DATA_ACCOUNT_URL: http://acct.blob.core.windows.net must be an https:// URL (tokens are only sent over TLS)",
            ],
        );
        assert.deepEqual(
            problemsOf({ ROUTER_MODEL_DATA_CONNECTION_STRING: "nonsense", ...WORKSPACE }),
            [
                "ROUTER_MODEL_DATA_CONNECTION_STRING: (redacted) must be a storage connection string (AccountName=...;AccountKey=... or UseDevelopmentStorage=true)",
            ],
        );
    });

    test("optionsFromEnv: the collector is an observer and its metrics join the router's registry", () => {
        const dir = mkdtempSync(join(tmpdir(), "amlaks-md-env-"));
        try {
            const o = optionsFromEnv({ ROUTER_MODEL_DATA_DIR: dir, ROUTER_HTTP_PORT: "0" });
            assert.equal(o.observers?.length, 1);
            assert.ok((o.extensions?.length ?? 0) >= 1);
            assert.throws(
                () =>
                    optionsFromEnv({ ROUTER_MODEL_DATA_DIR: dir, ROUTER_MODEL_DATA_FLUSH_MS: "x" }),
                /ROUTER_MODEL_DATA_FLUSH_MS: "x" must be a whole number from 100 to 3600000/,
            );
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("directory sink", () => {
    const root = mkdtempSync(join(tmpdir(), "amlaks-md-dir-"));
    after(() => rmSync(root, { recursive: true, force: true }));

    test("writes below <dir>/modeldata, replacing a file written again, with no temp file left", async () => {
        const sink = new DirectorySink(root);
        const path = "local/local/local/svc/m/1/inputs/2025/01/02/data-1.jsonl";
        await sink.put(path, Buffer.from("one\n"), new AbortController().signal);
        await sink.put(path, Buffer.from("two\n"), new AbortController().signal);
        assert.equal(readFileSync(join(root, "modeldata", path), "utf8"), "two\n");
        assert.deepEqual(
            readdirSync(join(root, "modeldata", "local/local/local/svc/m/1/inputs/2025/01/02")),
            ["data-1.jsonl"],
        );
        assert.equal(sink.description, `directory ${join(root, "modeldata")}`);
    });

    test("errors are classified: a file where a folder must go is permanent; a path outside is refused", async () => {
        const sink = new DirectorySink(root);
        writeFileSync(join(root, "modeldata", "blocker"), "x");
        const err = await sink
            .put("blocker/inputs/f.jsonl", Buffer.from("x"), new AbortController().signal)
            .then(
                () => undefined,
                (e: unknown) => e,
            );
        assert.ok(err instanceof StoreError);
        assert.equal(err.transient, false);
        assert.match(err.code, /ENOTDIR|EEXIST/);
        await assert.rejects(
            sink.put("../escape.jsonl", Buffer.from("x"), new AbortController().signal),
            (e: unknown) => e instanceof StoreError && e.code === "bad_path" && !e.transient,
        );
    });
});
