/**
 * Shell-free splitting of a `--replica-command` string into argv (no shell is ever started, so
 * `;`, `|`, `$(...)` and globs are plain characters). Pure.
 *
 * Rules (a POSIX-shell subset): words split on unquoted whitespace; '…' keeps everything
 * literally; "…" keeps everything except `\"` and `\\`, which are unescaped; outside quotes a
 * backslash makes the next character literal. An unterminated quote or a trailing backslash is an
 * error.
 */

export class CommandSyntaxError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "CommandSyntaxError";
    }
}

export function splitCommand(command: string): string[] {
    const words: string[] = [];
    let word = "";
    let inWord = false;
    let i = 0;
    while (i < command.length) {
        const c = command[i];
        if (c === "'") {
            const end = command.indexOf("'", i + 1);
            if (end < 0) throw new CommandSyntaxError(`unterminated single quote at offset ${i}`);
            word += command.slice(i + 1, end);
            inWord = true;
            i = end + 1;
        } else if (c === '"') {
            i++;
            inWord = true;
            let closed = false;
            while (i < command.length) {
                const d = command[i];
                if (d === "\\" && (command[i + 1] === '"' || command[i + 1] === "\\")) {
                    word += command[i + 1];
                    i += 2;
                } else if (d === '"') {
                    closed = true;
                    i++;
                    break;
                } else {
                    word += d;
                    i++;
                }
            }
            if (!closed) throw new CommandSyntaxError("unterminated double quote");
        } else if (c === "\\") {
            if (i + 1 >= command.length) throw new CommandSyntaxError("trailing backslash");
            word += command[i + 1];
            inWord = true;
            i += 2;
        } else if (/\s/.test(c)) {
            if (inWord) words.push(word);
            word = "";
            inWord = false;
            i++;
        } else {
            word += c;
            inWord = true;
            i++;
        }
    }
    if (inWord) words.push(word);
    return words;
}
