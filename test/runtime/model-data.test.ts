/**
 * `amlaks serve --collect-model-data <dir>`: the flags' validation, and an end-to-end run of the
 * CLI with the bundled sample (real router, real Python replica) whose inputs and predictions
 * land in v1's layout, correlated by request id, flushed on Ctrl-C, with no key anywhere.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ValidationError } from "../../components/common/validation";
import { parseServeArgs, systemProbe, validateServeArgs } from "../../runtime/args";
import { batchFilesBelow, filesBelow, readLines } from "../router/collect/helpers";
import { ROOT, eventually, request, runCli, startServe } from "./helpers";

let work: string;
before(() => {
    work = realpathSync(mkdtempSync(join(tmpdir(), "amlaks-model-data-")));
    writeFileSync(join(work, "a-file"), "x");
});
after(() => rmSync(work, { recursive: true, force: true }));

function problems(argv: string[]): string[] {
    try {
        validateServeArgs(parseServeArgs(["--sample", ...argv]), { ...systemProbe, cwd: work });
    } catch (e) {
        assert.ok(e instanceof ValidationError, String(e));
        return e.problems.map((p) => `${p.field}: ${String(p.value)} ${p.rule}`);
    }
    return [];
}

describe("--collect-model-data and --model-data-scope", () => {
    test("a directory (made when missing) and the scope, local/local/local by default", () => {
        const probe = { ...systemProbe, cwd: work };
        const c = validateServeArgs(
            parseServeArgs(["--sample", "--collect-model-data", "data/out"]),
            probe,
        );
        assert.deepEqual(c.modelData, {
            dir: join(work, "data", "out"),
            scope: { subscription: "local", resourceGroup: "local", workspace: "local" },
        });
        const scoped = validateServeArgs(
            parseServeArgs([
                "--sample",
                "--collect-model-data",
                work,
                "--model-data-scope",
                "8f2c0d1e-0000-4f5e-9c3b-123456789abc/ml-rg/ml-ws",
            ]),
            probe,
        );
        assert.deepEqual(scoped.modelData?.scope, {
            subscription: "8f2c0d1e-0000-4f5e-9c3b-123456789abc",
            resourceGroup: "ml-rg",
            workspace: "ml-ws",
        });
        assert.equal(validateServeArgs(parseServeArgs(["--sample"]), probe).modelData, undefined);
    });

    test("bad values are named with the rule", () => {
        assert.deepEqual(problems(["--collect-model-data", "a-file"]), [
            "--collect-model-data: a-file is not a directory (it is created when missing)",
        ]);
        assert.deepEqual(problems(["--model-data-scope", "a/b/c"]), [
            "--model-data-scope: a/b/c is only used with --collect-model-data <dir>",
        ]);
        for (const bad of ["a/b", "a/../c", "a/b/c/d", "a//c"]) {
            assert.deepEqual(
                problems(["--collect-model-data", work, "--model-data-scope", bad]),
                [
                    `--model-data-scope: ${bad} must be <subscription>/<resourceGroup>/<workspace>, each 1-255 letters, digits, '.', '_', '-', '(' or ')'`,
                ],
                bad,
            );
        }
    });
});

describe("amlaks serve --sample --collect-model-data", { timeout: 180_000 }, () => {
    test("a folder that cannot be made: exit 2 naming the flag, before anything listens", async () => {
        const r = await runCli(
            ["serve", "--sample", "--port", "0", "--collect-model-data", "a-file/data"],
            { cwd: work },
        );
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /--collect-model-data: ".*a-file\/data" cannot be created/);
        assert.doesNotMatch(r.stdout, /scoring URI/);
    });

    test("inputs and predictions land in the layout, correlated by request id; no key is kept or logged", async () => {
        const data = join(work, "collected");
        const svc = await startServe(
            [
                "--sample",
                "--access-log",
                "--collect-model-data",
                data,
                "--model-data-scope",
                "sub-e2e/rg-e2e/ws-e2e",
            ],
            { cwd: work },
        );
        const keys = JSON.parse(readFileSync(svc.keysFile, "utf8")) as { primaryKey: string };
        const folder = join(
            data,
            "modeldata",
            "sub-e2e/rg-e2e/ws-e2e/diabetes/sklearn_regression_model/1",
        );
        let stopped = false;
        try {
            assert.match(
                svc.proc.stdout,
                /model data:\s+\S*sub-e2e\/rg-e2e\/ws-e2e\/diabetes\/sklearn_regression_model\/1\/\{inputs,predictions\}/,
            );
            const reference = JSON.parse(
                readFileSync(
                    join(ROOT, "examples", "sample", "reference-predictions.json"),
                    "utf8",
                ),
            ) as { input: { data: number[][] } };
            const sent = new Map<string, { input: unknown; answer: unknown }>();
            const post = (id: string, body: unknown) =>
                request(svc.scoringUri, {
                    method: "POST",
                    headers: {
                        authorization: `Bearer ${keys.primaryKey}`,
                        "content-type": "application/json",
                        "x-ms-request-id": id,
                    },
                    body: JSON.stringify(body),
                });
            for (let i = 0; i < 4; i++) {
                const input = { data: reference.input.data.slice(i, i + 1 + (i % 2)) };
                const res = await post(`e2e-${i}`, input);
                assert.equal(res.status, 200, res.body);
                sent.set(`e2e-${i}`, { input, answer: JSON.parse(res.body) });
            }
            // run() raising (500) and a wrong key (401) are not collected.
            assert.equal((await post("e2e-bad", { data: "x" })).status, 500);
            assert.equal(
                (
                    await request(svc.scoringUri, {
                        method: "POST",
                        headers: { authorization: "Bearer wrong", "x-ms-request-id": "e2e-401" },
                        body: "{}",
                    })
                ).status,
                401,
            );
            const lines = (designation: string) =>
                batchFilesBelow(join(folder, designation)).flatMap((f) =>
                    readLines(join(folder, designation, f)),
                );
            assert.ok(
                await eventually(
                    () => lines("inputs").length === 4 && lines("predictions").length === 4,
                    15_000,
                ),
                "four requests collected within the local flush interval",
            );

            // One more, then Ctrl-C at once: stopping writes what is still queued.
            const last = { data: reference.input.data.slice(0, 1) };
            const res = await post("e2e-last", last);
            assert.equal(res.status, 200);
            sent.set("e2e-last", { input: last, answer: JSON.parse(res.body) });
            const exit = await svc.proc.stop("SIGINT");
            stopped = true;
            assert.equal(exit.code, 0, svc.proc.stderr);

            const byId = (l: Record<string, unknown>) => l.requestId as string;
            const inputs = lines("inputs").sort((a, b) => byId(a).localeCompare(byId(b)));
            const predictions = lines("predictions").sort((a, b) => byId(a).localeCompare(byId(b)));
            const expected = [...sent].sort(([a], [b]) => a.localeCompare(b));
            assert.deepEqual(
                inputs.map((l) => [l.requestId, l.data]),
                expected.map(([id, v]) => [id, v.input]),
            );
            assert.deepEqual(
                predictions.map((l) => [l.requestId, l.data]),
                expected.map(([id, v]) => [id, v.answer]),
            );
            // Day folders are UTC dates; every file has its twin in the other designation.
            const inputFiles = filesBelow(join(folder, "inputs"));
            assert.ok(
                inputFiles.every((f) =>
                    /^\d{4}\/\d{2}\/\d{2}\/data-\d{6}-[0-9a-f]{8}-\d{6}\.jsonl$/.test(f),
                ),
                inputFiles.join(", "),
            );
            assert.deepEqual(filesBelow(join(folder, "predictions")), inputFiles);

            const everything = [
                svc.proc.stdout,
                svc.proc.stderr,
                ...filesBelow(data).map((f) => readFileSync(join(data, f), "utf8")),
            ].join("\n");
            assert.ok(
                !everything.includes(keys.primaryKey),
                "the key is in no log line and no data file",
            );
        } finally {
            if (!stopped) await svc.proc.stop("SIGINT");
        }
    });
});
