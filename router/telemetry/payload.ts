/**
 * Payload logging for Application Insights / OTLP (aml-v1-spec §8: v1 logged request and response
 * bodies capped at 64 KB). A body becomes text (UTF-8, or base64 when it is not valid UTF-8),
 * capped at {@link PAYLOAD_CAP_BYTES} and cut into parts of at most {@link PAYLOAD_PART_BYTES}:
 * Application Insights keeps 8 KiB of a custom dimension, so one 64 KiB attribute would lose 56 KiB
 * there; parts of 8 KiB arrive whole at every destination, in order (`part` 1..n).
 */
import { isUtf8 } from "node:buffer";

/** The most bytes of one body that are logged (v1's cap). */
export const PAYLOAD_CAP_BYTES = 64 * 1024;
/** Largest part: Application Insights' limit of a custom dimension value. */
export const PAYLOAD_PART_BYTES = 8 * 1024;

export interface PayloadParts {
    /** Text parts in order, each at most PAYLOAD_PART_BYTES of UTF-8. */
    readonly parts: readonly string[];
    /** How the parts encode the body. */
    readonly encoding: "utf-8" | "base64";
    /** Size of the whole body. */
    readonly bytes: number;
    /** True when the body was longer than the cap (only its beginning is logged). */
    readonly truncated: boolean;
}

/** A cut position at or before `pos` that does not split a UTF-8 sequence of `buf`. */
function utf8Boundary(buf: Buffer, pos: number): number {
    if (pos >= buf.length) return buf.length;
    let p = pos;
    // Continuation bytes are 10xxxxxx; back up to the first byte of the sequence (≤ 3 steps).
    while (p > 0 && pos - p < 4 && (buf[p] & 0xc0) === 0x80) p--;
    return p;
}

/** Bytes of a body kept for logging: the cap, plus enough to see whether the cut splits a character. */
export const PAYLOAD_HEAD_BYTES = PAYLOAD_CAP_BYTES + 4;

/**
 * The beginning of `body` that payload logging needs, copied into its own memory (a view would
 * carry the whole body along when posted to the export worker).
 */
export function payloadHead(body: Uint8Array): Uint8Array {
    return new Uint8Array(body.subarray(0, PAYLOAD_HEAD_BYTES));
}

/**
 * Splits the beginning of a body (`head`, at least `capBytes` + 1 bytes of it when it is longer)
 * into logged parts; `totalBytes` is the whole body's size. The encoding is decided on the
 * logged bytes: UTF-8 text, else base64.
 */
export function payloadParts(
    head: Uint8Array,
    totalBytes: number,
    capBytes = PAYLOAD_CAP_BYTES,
    partBytes = PAYLOAD_PART_BYTES,
): PayloadParts {
    const buf = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
    const kept = buf.subarray(0, buf.length > capBytes ? utf8Boundary(buf, capBytes) : buf.length);
    if (isUtf8(kept)) {
        const parts: string[] = [];
        for (let start = 0; start < kept.length;) {
            const end = utf8Boundary(kept, start + partBytes);
            parts.push(kept.toString("utf8", start, end));
            start = end;
        }
        return { parts, encoding: "utf-8", bytes: totalBytes, truncated: kept.length < totalBytes };
    }
    // base64 is 4 characters per 3 bytes: the cap and part sizes count encoded characters.
    const keptBytes = Math.min(buf.length, Math.floor((capBytes * 3) / 4));
    const text = buf.subarray(0, keptBytes).toString("base64");
    const parts: string[] = [];
    for (let start = 0; start < text.length; start += partBytes) {
        parts.push(text.slice(start, start + partBytes));
    }
    return { parts, encoding: "base64", bytes: totalBytes, truncated: totalBytes > keptBytes };
}
