/**
 * Answers the router gives itself (errors, health). Bodies follow the AML inference server's error
 * shape, `{"message": ...}`, and never say more than the status does (no auth detail, no internals).
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * Messages of answers outside the router's outcomes (router/outcomes.ts holds those): the
 * server's own 404 for unknown paths and 500 when metrics fail.
 */
const STATUS_MESSAGES: Readonly<Record<number, string>> = {
    404: "Not found",
    500: "Internal error",
};

function body(status: number, message?: string): string {
    return JSON.stringify({ message: message ?? STATUS_MESSAGES[status] ?? "Error" });
}

/**
 * Sends a small JSON error unless headers already went out (then the response is cut). Returns
 * the body's length in bytes (0 when cut).
 */
export function sendError(
    res: ServerResponse,
    status: number,
    requestId: string | undefined,
    extraHeaders?: Record<string, string>,
    message?: string,
): number {
    if (res.headersSent) {
        res.destroy();
        return 0;
    }
    const text = body(status, message);
    const headers: Record<string, string | number> = {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
        ...extraHeaders,
    };
    if (requestId) {
        headers["x-request-id"] = requestId;
        headers["x-ms-request-id"] = requestId;
    }
    const length = headers["content-length"] as number;
    res.writeHead(status, headers);
    res.end(text);
    return length;
}

/**
 * Sends an error and closes the connection without reading the rest of the request body
 * (413, 408). To avoid a TCP reset that would destroy the answer before the client reads it,
 * the body is discarded for up to `lingerMs` ("lingering close", as nginx does) before the
 * socket closes; the response itself is complete on the wire at once (Content-Length).
 * Returns the body's length in bytes (0 when cut).
 */
export function sendErrorAndClose(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    requestId: string | undefined,
    lingerMs: number,
    message?: string,
): number {
    if (res.headersSent) {
        res.destroy();
        return 0;
    }
    const text = body(status, message);
    const headers: Record<string, string | number> = {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
        connection: "close",
    };
    if (requestId) {
        headers["x-request-id"] = requestId;
        headers["x-ms-request-id"] = requestId;
    }
    const length = headers["content-length"] as number;
    res.writeHead(status, headers);
    res.write(text);
    if (req.complete || req.readableEnded || lingerMs <= 0) {
        res.end();
        return length;
    }
    const finish = (): void => {
        clearTimeout(timer);
        req.removeListener("data", discard);
        req.removeListener("end", finish);
        if (!res.writableEnded) res.end();
    };
    const discard = (): void => undefined;
    const timer = setTimeout(finish, lingerMs);
    req.on("data", discard);
    req.once("end", finish);
    req.resume();
    return length;
}
