/**
 * Replica output cannot exhaust the router (issue 15 item 3): lines are cut at a fixed size as the
 * bytes arrive (never a whole line in memory), and terminal control sequences are stripped before
 * anything reaches a log or a terminal. Real child processes (the fake model server).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LocalBackend } from "../../router/backends/local";
import {
    CUT_MARKER,
    LineCutter,
    MAX_LINE_BYTES,
    stripControlSequences,
} from "../../router/backends/output";
import { formatLogRecord } from "../../runtime/console";
import { RecordingListener, capturingLogger, fakeService, waitFor } from "./local-backend-helpers";

const T = { timeout: 60_000 };

describe("replica output (issue 15)", () => {
    test("LineCutter holds at most MAX_LINE_BYTES of a line that never ends", () => {
        const lines: string[] = [];
        const cutter = new LineCutter((l) => lines.push(l));
        const chunk = Buffer.alloc(64 * 1024, 0x78);
        let most = 0;
        for (let i = 0; i < 800; i++) {
            // 50 MB without a newline.
            cutter.push(chunk);
            most = Math.max(most, cutter.pending);
        }
        assert.ok(most <= MAX_LINE_BYTES, `held ${most} bytes`);
        assert.equal(lines.length, 1, "one cut line, emitted as soon as the limit was reached");
        assert.equal(lines[0], "x".repeat(MAX_LINE_BYTES) + CUT_MARKER);
        cutter.push(Buffer.from("rest of the long line\nnext line\r\npartial"));
        assert.deepEqual(lines.slice(1), ["next line"], "the rest of the cut line is dropped");
        cutter.end();
        assert.deepEqual(lines.slice(2), ["partial"]);
    });

    test("control sequences and control characters are stripped, text and tabs kept", () => {
        const nasty =
            "\x1b[2J\x1b[H\x1b]0;owned\x07ok\x1b[31m red\x1b[0m\tcol\x1bP+q\x1b\\\x08\x07\x9b1m";
        assert.equal(stripControlSequences(nasty), "ok red\tcol1m");
        const f = formatLogRecord(
            { level: 30, stream: "stdout", msg: "[r-1] \x1b[2Jclear" },
            false,
        );
        assert.equal(f?.line, "[r-1] clear");
    });

    test(
        "a replica writing without a newline is logged cut, before any newline arrives",
        T,
        async () => {
            const lines: Record<string, unknown>[] = [];
            const backend = new LocalBackend({
                services: [
                    fakeService("svc-flood", {
                        FAKE_STDOUT_TEXT: "\x1b]0;title\x07\x1b[2Jhello \x1b[1mworld\x1b[0m\n",
                        // 4 MB and no newline ever: the old line reader held all of it, logged nothing.
                        FAKE_STDOUT_NO_NEWLINE_BYTES: String(4 * 1024 * 1024),
                    }),
                ],
                logger: capturingLogger(lines),
            });
            try {
                await backend.start(new RecordingListener());
                await backend.firstReady("svc-flood");
                const clean = await waitFor(
                    () => lines.find((l) => String(l.msg).startsWith("[svc-flood-1] hello")),
                    "the escaped line",
                );
                assert.equal(clean.msg, "[svc-flood-1] hello world");
                const cut = await waitFor(
                    () => lines.find((l) => String(l.msg).startsWith("[svc-flood-1] xxx")),
                    "the cut line",
                );
                assert.equal(cut.msg, `[svc-flood-1] ${"x".repeat(MAX_LINE_BYTES)}${CUT_MARKER}`);
                assert.ok(
                    lines.every((l) => !String(l.msg).includes("\x1b")),
                    "no escape character reached the log",
                );
            } finally {
                await backend.stop();
            }
        },
    );
});
