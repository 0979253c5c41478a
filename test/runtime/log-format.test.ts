/**
 * `amlaks serve --log-format json` (issue 12 item 1): every stdout line is a JSON record — the
 * router's access and event lines and the CLI's own lines — and no line carries the key.
 * Text mode (the default) is covered by serve.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ValidationError } from "../../components/common/validation";
import { parseServeArgs, systemProbe, validateServeArgs } from "../../runtime/args";
import { jsonConsole, jsonDestination } from "../../runtime/console";
import { Proc, ROOT, eventually, request } from "./helpers";
import { pathToFileURL } from "node:url";

const TSX = pathToFileURL(join(ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;
const CLI = join(ROOT, "runtime", "cli.ts");

function records(stdout: string): Array<Record<string, unknown>> {
    return stdout
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => {
            try {
                return JSON.parse(l) as Record<string, unknown>;
            } catch {
                assert.fail(`stdout line is not JSON: ${l}`);
            }
        });
}

describe("amlaks serve --log-format json", { timeout: 120_000 }, () => {
    let work: string;
    let proc: Proc;
    before(() => {
        work = realpathSync(mkdtempSync(join(tmpdir(), "amlaks-logfmt-")));
    });
    after(async () => {
        if (proc && proc.child.exitCode === null) await proc.stop("SIGINT");
        rmSync(work, { recursive: true, force: true });
    });

    test("writes JSON records only, with access lines and without the key", async () => {
        proc = new Proc(
            process.execPath,
            [
                "--import",
                TSX,
                CLI,
                "serve",
                "--sample",
                "--port",
                "0",
                "--log-format",
                "json",
                "--access-log",
            ],
            { cwd: work },
        );
        await proc.waitFor(/Ctrl-C stops the service/, 60_000, "stdout");
        const ready = records(proc.stdout);
        const msgs = ready.map((r) => String(r.msg));
        const uri = msgs
            .find((m) => m.includes("scoring URI:"))
            ?.split(/\s+/)
            .at(-1) as string;
        assert.match(uri, /^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/service\/\S+\/score$/);
        const keysLine = msgs.find((m) => /keys \((generated|reused)\):/.test(m)) as string;
        assert.ok(keysLine, "the keys file is named, the keys are not printed");
        const keysFile = join(work, keysLine.split(/\s+/).find((w) => w.endsWith(".json")) ?? "");
        const keys = JSON.parse(readFileSync(keysFile, "utf8")) as { primaryKey: string };
        for (const r of ready.filter((x) => x.name === "amlaks")) {
            assert.equal(typeof r.time, "string");
            assert.ok(r.level === 30 || r.level === 50);
        }

        const sample = JSON.parse(
            readFileSync(join(ROOT, "examples", "sample", "reference-predictions.json"), "utf8"),
        ) as { input: { data: number[][] } };
        const res = await request(uri, {
            method: "POST",
            headers: {
                authorization: `Bearer ${keys.primaryKey}`,
                "content-type": "application/json",
                "x-request-id": "json-format-1",
            },
            body: JSON.stringify({ data: [sample.input.data[0]] }),
        });
        assert.equal(res.status, 200);
        await eventually(() => proc.stdout.includes('"json-format-1"'), 10_000);
        const access = records(proc.stdout).find((r) => r.requestId === "json-format-1");
        assert.ok(access);
        assert.equal(access.msg, "request");
        assert.equal(access.status, 200);
        assert.equal(access.method, "POST");
        assert.equal(typeof access.time, "string");
        assert.equal(typeof access.replica, "string");
        assert.equal(typeof access.modelMs, "number");
        assert.equal(access.clientAddress, "127.0.0.1");

        await proc.stop("SIGINT");
        const all = records(proc.stdout);
        assert.ok(all.some((r) => r.name === "amlaks" && /stopped in/.test(String(r.msg))));
        assert.equal(proc.stdout.includes(keys.primaryKey), false, "the key is not on stdout");
        assert.equal(proc.stderr.includes(keys.primaryKey), false, "the key is not on stderr");
    });
});

describe("--log-format", () => {
    test("takes text or json, named in the error otherwise", () => {
        const config = (argv: string[]) => validateServeArgs(parseServeArgs(argv), systemProbe);
        assert.equal(config(["--sample"]).logFormat, "text");
        assert.equal(config(["--sample", "--log-format", "json"]).logFormat, "json");
        assert.throws(
            () => config(["--sample", "--log-format", "yaml"]),
            (e: unknown) =>
                e instanceof ValidationError &&
                e.problems.some(
                    (p) =>
                        p.field === "--log-format" &&
                        p.value === "yaml" &&
                        p.rule === "must be one of text, json",
                ),
        );
    });

    test("json: the runtime's lines become records; access lines only with --access-log", () => {
        const out: string[] = [];
        const sink = { out: (l: string) => out.push(l), err: (l: string) => out.push(`ERR ${l}`) };
        const lines = jsonConsole(sink, () => new Date("2025-01-02T03:04:05.000Z"));
        lines.out("  scoring URI:  http://127.0.0.1:8080/x");
        lines.err("replica r-1 failed");
        assert.deepEqual(
            out.map((l) => JSON.parse(l)),
            [
                {
                    level: 30,
                    time: "2025-01-02T03:04:05.000Z",
                    name: "amlaks",
                    msg: "scoring URI:  http://127.0.0.1:8080/x",
                },
                {
                    level: 50,
                    time: "2025-01-02T03:04:05.000Z",
                    name: "amlaks",
                    msg: "replica r-1 failed",
                },
            ],
        );

        const ok = JSON.stringify({ level: 30, msg: "request", requestId: "a", status: 200 });
        const failed = JSON.stringify({ level: 40, msg: "request", requestId: "b", status: 502 });
        const event = JSON.stringify({ level: 30, msg: "router listening" });
        for (const [accessLog, expected] of [
            [false, [failed, event]],
            [true, [ok, failed, event]],
        ] as const) {
            const seen: string[] = [];
            jsonDestination({ out: (l) => seen.push(l), err: () => undefined }, accessLog).write(
                `${ok}\n${failed}\n${event}\n`,
            );
            assert.deepEqual(seen, expected, `accessLog ${accessLog}`);
        }
    });
});
