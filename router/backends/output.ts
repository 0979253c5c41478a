/**
 * Replica output as log lines (pure). A replica may write anything: a line without end, megabytes
 * at a time, terminal escape sequences. The router keeps at most {@link MAX_LINE_BYTES} of a
 * line: a longer line is emitted cut, with a marker, as soon as that much has arrived, and the
 * rest of it is dropped up to its newline (issue 15: whole lines were buffered before they were
 * cut, so 150 MB without a newline cost the router ~176 MB).
 */

/** 8 KiB: a traceback line or a printed JSON record fits; a dumped array does not need to. */
export const MAX_LINE_BYTES = 8 * 1024;
export const CUT_MARKER = " […line cut at 8 KiB]";

/**
 * Terminal control sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL|ESC \`, other two-byte
 * escapes) and the remaining C0/C1 controls except tab: printed on an operator's terminal they
 * could move the cursor, rewrite earlier lines, set the window title or worse.
 */
const CONTROL_SEQUENCES =
    /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[P^_X][^\x1b]*(?:\x1b\\)?|\x1b[@-Z\\-_]|[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

export function stripControlSequences(text: string): string {
    return text.replace(CONTROL_SEQUENCES, "");
}

/** Splits a byte stream into bounded lines; holds at most MAX_LINE_BYTES between calls. */
export class LineCutter {
    private parts: Buffer[] = [];
    private size = 0;
    /** The current line was already emitted cut: drop bytes up to its newline. */
    private dropping = false;

    constructor(
        private readonly emit: (line: string) => void,
        private readonly maxBytes = MAX_LINE_BYTES,
    ) {}

    /** Bytes held for the current line (never above maxBytes). */
    get pending(): number {
        return this.size;
    }

    push(chunk: Buffer): void {
        let start = 0;
        while (start < chunk.length) {
            const nl = chunk.indexOf(0x0a, start);
            const end = nl < 0 ? chunk.length : nl;
            if (!this.dropping) this.take(chunk.subarray(start, end));
            if (nl < 0) return;
            if (!this.dropping) this.flush(false);
            this.dropping = false;
            start = nl + 1;
        }
    }

    /** End of stream: emits a last line without newline. */
    end(): void {
        if (!this.dropping && this.size > 0) this.flush(false);
        this.dropping = false;
    }

    private take(bytes: Buffer): void {
        const room = this.maxBytes - this.size;
        if (bytes.length <= room) {
            if (bytes.length > 0) {
                // Copy: the chunk may be large and would stay referenced otherwise.
                this.parts.push(Buffer.from(bytes));
                this.size += bytes.length;
            }
            return;
        }
        if (room > 0) {
            this.parts.push(Buffer.from(bytes.subarray(0, room)));
            this.size += room;
        }
        this.flush(true);
        this.dropping = true;
    }

    private flush(cut: boolean): void {
        let text = Buffer.concat(this.parts, this.size).toString("utf8");
        this.parts = [];
        this.size = 0;
        if (text.endsWith("\r")) text = text.slice(0, -1);
        this.emit(stripControlSequences(text) + (cut ? CUT_MARKER : ""));
    }
}
