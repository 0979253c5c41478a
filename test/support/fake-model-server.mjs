// A tiny stand-in for the model server (aml-v1-spec §5) used by router and backend tests.
// Contract: listens on SERVER_HOST (default 127.0.0.1) : SERVER_PORT; `GET /` → 200 "Healthy"
// once init is done (503 before); `POST|GET /score` → 200 JSON {replica, pid, port, body}.
// Knobs (env):
//   FAKE_INIT_DELAY_MS        init takes this long (the port answers 503 meanwhile)
//   FAKE_LISTEN_AFTER_INIT=1  do not open the port before init is done
//   FAKE_INIT_FAIL=<msg>      init fails: a traceback on stderr, exit code 1
//   FAKE_FAIL_ONCE_FILE=<p>   first start (file absent) fails with FAKE_FAIL_ONCE_MESSAGE, creates the file
//   FAKE_SCORE_DELAY_MS       default scoring time (overridden by ?delay=<ms>)
//   FAKE_IGNORE_SIGTERM=1     ignore SIGTERM (tests the SIGKILL escalation)
//   FAKE_WATCHDOG=stdin|pid|both|none  how to notice the parent died (default both; needs AMLAKS_PARENT_PID)
//   FAKE_STDOUT_TEXT=<text>   written to stdout once ready (escape sequences and all)
//   FAKE_STDOUT_NO_NEWLINE_BYTES=<n>  once ready, write n bytes of "x" to stdout and never a newline
// Parent-death contract (the same one the Python harness honours): when AMLAKS_PARENT_PID is set,
// stdin is a pipe from the parent; exit on stdin EOF, or when that pid no longer exists.
import { existsSync, writeFileSync } from "node:fs";
import http from "node:http";

const env = process.env;
const port = Number(env.SERVER_PORT ?? 5001);
const host = env.SERVER_HOST ?? "127.0.0.1";
const replica = env.AMLAKS_REPLICA_ID ?? `pid-${process.pid}`;
const initDelay = Number(env.FAKE_INIT_DELAY_MS ?? 0);
const defaultScoreDelay = Number(env.FAKE_SCORE_DELAY_MS ?? 0);

function watchParent() {
    const parent = Number(env.AMLAKS_PARENT_PID ?? 0);
    if (!parent) return;
    const mode = env.FAKE_WATCHDOG ?? "both";
    if (mode === "stdin" || mode === "both") {
        process.stdin.on("data", () => undefined);
        process.stdin.on("end", () => process.exit(0));
        process.stdin.on("error", () => process.exit(0));
    }
    if (mode === "pid" || mode === "both") {
        setInterval(() => {
            try {
                process.kill(parent, 0);
            } catch {
                process.exit(0);
            }
        }, 200).unref();
    }
}

watchParent();

if (env.FAKE_FAIL_ONCE_FILE && !existsSync(env.FAKE_FAIL_ONCE_FILE)) {
    writeFileSync(env.FAKE_FAIL_ONCE_FILE, "failed once\n");
    process.stderr.write(
        `${env.FAKE_FAIL_ONCE_MESSAGE ?? "Error: listen EADDRINUSE: address already in use"}\n`,
    );
    process.exit(1);
}

let ready = false;
let inFlight = 0;
let closing = false;

const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method === "GET" && url.pathname === "/") {
        res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" });
        res.end(ready ? "Healthy" : "Initializing");
        return;
    }
    if (url.pathname === "/score") {
        inFlight++;
        const chunks = [];
        req.on("data", (c) => chunks.push(c));
        req.on("end", () => {
            const delay = Number(url.searchParams.get("delay") ?? defaultScoreDelay);
            setTimeout(() => {
                res.writeHead(200, { "content-type": "application/json" });
                res.end(
                    JSON.stringify({
                        replica,
                        pid: process.pid,
                        port,
                        body: Buffer.concat(chunks).toString("utf8"),
                    }),
                );
                inFlight--;
                if (closing && inFlight === 0) process.exit(0);
            }, delay);
        });
        return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ message: "not found" }));
});

process.on("SIGTERM", () => {
    if (env.FAKE_IGNORE_SIGTERM === "1") {
        process.stderr.write("ignoring SIGTERM\n");
        return;
    }
    closing = true;
    server.close();
    if (inFlight === 0) process.exit(0);
});

function listen() {
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => resolve());
    });
}

async function main() {
    process.stdout.write(`fake model server ${replica} starting on ${host}:${port}\n`);
    if (env.FAKE_LISTEN_AFTER_INIT !== "1") await listen();
    await new Promise((r) => setTimeout(r, initDelay));
    if (env.FAKE_INIT_FAIL) {
        process.stderr.write(
            "Traceback (most recent call last):\n" +
                '  File "score.py", line 3, in init\n' +
                `RuntimeError: ${env.FAKE_INIT_FAIL}\n`,
        );
        process.exit(1);
    }
    if (env.FAKE_LISTEN_AFTER_INIT === "1") await listen();
    ready = true;
    process.stdout.write(`fake model server ${replica} ready\n`);
    if (env.FAKE_STDOUT_TEXT) process.stdout.write(env.FAKE_STDOUT_TEXT);
    const endless = Number(env.FAKE_STDOUT_NO_NEWLINE_BYTES ?? 0);
    for (let left = endless; left > 0; left -= 64 * 1024) {
        await new Promise((r) => process.stdout.write("x".repeat(Math.min(left, 64 * 1024)), r));
    }
}

main().catch((err) => {
    process.stderr.write(`${err && err.stack ? err.stack : String(err)}\n`);
    process.exit(1);
});
