/**
 * Batches log lines in memory and hands them to the real output in one write per batch (issue 16).
 * pino's own buffering (sonic-boom `minLength`) measures the whole pending buffer on every line,
 * so each line cost more the fuller the batch; and a write per line cost more than building the
 * line. Here a line costs an array push; a batch is joined once and written once.
 */

/** Where batches go: a pino/sonic-boom destination, or anything with `write`. */
export interface LineSink {
    write(chunk: string): unknown;
}

export interface LineBatcherOptions {
    /** A batch is written once it holds this many characters. */
    readonly maxChars: number;
    /** ...or this long after its first line, whatever comes first. */
    readonly maxDelayMs: number;
}

export class LineBatcher {
    private lines: string[] = [];
    private chars = 0;
    private timer: NodeJS.Timeout | undefined;

    constructor(
        private readonly sink: LineSink,
        private readonly opts: LineBatcherOptions,
    ) {}

    /** Characters waiting to be written. */
    get pending(): number {
        return this.chars;
    }

    write(line: string): boolean {
        this.lines.push(line);
        this.chars += line.length;
        if (this.chars >= this.opts.maxChars) this.flush();
        else if (this.timer === undefined) {
            this.timer = setTimeout(this.flush, this.opts.maxDelayMs);
            // Waiting lines never keep a process alive; exit writes them (see stdoutDestination).
            this.timer.unref();
        }
        return true;
    }

    /** Writes what is waiting now (pino's `logger.flush()` calls this). */
    readonly flush = (cb?: (err?: Error) => void): void => {
        if (this.timer !== undefined) {
            clearTimeout(this.timer);
            this.timer = undefined;
        }
        if (this.lines.length > 0) {
            const batch = this.lines.length === 1 ? this.lines[0] : this.lines.join("");
            this.lines = [];
            this.chars = 0;
            this.sink.write(batch);
        }
        cb?.();
    };
}
