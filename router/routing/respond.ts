/**
 * Answers the router gives itself (errors, health). Bodies follow the AML inference server's error
 * shape, `{"message": ...}`, and never say more than the status does (no auth detail, no internals).
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export const STATUS_MESSAGES: Readonly<Record<number, string>> = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    413: "Request body too large",
    431: "Request header fields too large",
    500: "Internal error",
    502: "Bad gateway: the model replica failed",
    503: "Service unavailable: no replica was free in time, retry later",
    504: "Gateway timeout: scoring did not finish within scoringTimeoutMs",
};

function body(status: number, message?: string): string {
    return JSON.stringify({ message: message ?? STATUS_MESSAGES[status] ?? "Error" });
}

/** Sends a small JSON error unless headers already went out (then the response is cut). */
export function sendError(
    res: ServerResponse,
    status: number,
    requestId: string | undefined,
    extraHeaders?: Record<string, string>,
    message?: string,
): void {
    if (res.headersSent) {
        res.destroy();
        return;
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
    res.writeHead(status, headers);
    res.end(text);
}

/**
 * Sends an error and closes the connection without reading the rest of the request body
 * (413, 408). To avoid a TCP reset that would destroy the answer before the client reads it,
 * the body is discarded for up to `lingerMs` ("lingering close", as nginx does) before the
 * socket closes; the response itself is complete on the wire at once (Content-Length).
 */
export function sendErrorAndClose(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    requestId: string | undefined,
    lingerMs: number,
    message?: string,
): void {
    if (res.headersSent) {
        res.destroy();
        return;
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
    res.writeHead(status, headers);
    res.write(text);
    if (req.complete || req.readableEnded || lingerMs <= 0) {
        res.end();
        return;
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
}
