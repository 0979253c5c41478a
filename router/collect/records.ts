/**
 * The JSON Lines format of collected data (pure). One line per request and designation:
 *
 *     {"time":"2025-01-02T03:04:05.678Z","requestId":"<x-ms-request-id>","data":<payload>}
 *
 * `data` is the body itself when it is JSON (the usual AML `{"data": [...]}` input, the model's
 * JSON answer); a body that is not JSON is kept as a string, with `"format":"text"` (UTF-8) or
 * `"format":"base64"` (anything else). Lines of the inputs and predictions files of one request
 * share `requestId`. JSON is re-serialised, so a pretty-printed body still fits on one line.
 */

export type PayloadFormat = "json" | "text" | "base64";

export interface EncodedPayload {
    readonly format: PayloadFormat;
    /** JSON text of the `data` member. */
    readonly json: string;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** How a body is written as the `data` member. */
export function encodePayload(body: Buffer): EncodedPayload {
    let text: string;
    try {
        text = utf8.decode(body);
    } catch {
        return { format: "base64", json: JSON.stringify(body.toString("base64")) };
    }
    try {
        return { format: "json", json: JSON.stringify(JSON.parse(text)) };
    } catch {
        return { format: "text", json: JSON.stringify(text) };
    }
}

/** One line (with its newline) for a request's inputs or predictions. */
export function recordLine(time: number, requestId: string, body: Buffer): string {
    const payload = encodePayload(body);
    const format = payload.format === "json" ? "" : `,"format":"${payload.format}"`;
    return `{"time":"${new Date(time).toISOString()}","requestId":${JSON.stringify(requestId)}${format},"data":${payload.json}}\n`;
}
