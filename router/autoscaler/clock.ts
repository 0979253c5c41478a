/**
 * Time source of the autoscaler loop, injectable so tests step through ticks deterministically
 * instead of sleeping (HELPER-RULES: no timed assertions).
 */

export interface Clock {
    /** Milliseconds (any origin; only differences matter). */
    now(): number;
    setTimeout(fn: () => void, ms: number): unknown;
    clearTimeout(handle: unknown): void;
}

/** Wall clock. Timers are unref'd: the loop never keeps a process alive on its own. */
export const systemClock: Clock = {
    now: () => Date.now(),
    setTimeout: (fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref();
        return t;
    },
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface ManualTimer {
    readonly id: number;
    readonly at: number;
    readonly fn: () => void;
}

/** Lets pending promise chains (fake drains, scaleTo) run to completion. */
async function settle(): Promise<void> {
    for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A clock that only moves when told to (tests, simulations). */
export class ManualClock implements Clock {
    private t: number;
    private seq = 0;
    private timers: ManualTimer[] = [];

    constructor(startMs = 0) {
        this.t = startMs;
    }

    now(): number {
        return this.t;
    }

    setTimeout(fn: () => void, ms: number): unknown {
        const timer = { id: ++this.seq, at: this.t + Math.max(0, ms), fn };
        this.timers.push(timer);
        return timer.id;
    }

    clearTimeout(handle: unknown): void {
        this.timers = this.timers.filter((t) => t.id !== handle);
    }

    /** Number of timers waiting to fire. */
    get pending(): number {
        return this.timers.length;
    }

    /**
     * Moves time forward by `ms`, firing due timers in time order (ties in creation order) and
     * letting the async work they start settle after each one.
     */
    async advance(ms: number): Promise<void> {
        const target = this.t + ms;
        await settle();
        for (;;) {
            let next: ManualTimer | undefined;
            for (const timer of this.timers) {
                if (timer.at > target) continue;
                if (!next || timer.at < next.at || (timer.at === next.at && timer.id < next.id)) {
                    next = timer;
                }
            }
            if (!next) break;
            const fired = next;
            this.timers = this.timers.filter((t) => t !== fired);
            this.t = Math.max(this.t, fired.at);
            fired.fn();
            await settle();
        }
        this.t = target;
        await settle();
    }
}
