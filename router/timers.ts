/**
 * Node fires a timer of 2^31 ms or more (or NaN) after 1 ms. Settings are bounded far below that
 * (components/settings SETTING_LIMITS), but the router also takes definitions from code and
 * files, so every delay it arms from configuration goes through here: a huge delay waits as long
 * as Node can, it never fires at once (issue 15).
 */
import { MAX_TIMER_MS } from "../components/settings";

export function timerDelay(ms: number): number {
    if (Number.isNaN(ms)) return MAX_TIMER_MS;
    return Math.min(MAX_TIMER_MS, Math.max(0, ms));
}
