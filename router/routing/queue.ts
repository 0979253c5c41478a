/**
 * A FIFO with O(1) push, shift, push-front and removal from the middle (a waiter whose client
 * went away leaves the queue at once, so the queue length the autoscaler reads stays exact).
 */
export interface QueueNode<T> {
    value: T;
    prev: QueueNode<T> | undefined;
    next: QueueNode<T> | undefined;
    /** False once the node left the queue (shifted or removed). */
    linked: boolean;
}

export class LinkedQueue<T> {
    private head: QueueNode<T> | undefined;
    private tail: QueueNode<T> | undefined;
    private count = 0;

    get length(): number {
        return this.count;
    }

    push(value: T): QueueNode<T> {
        const node: QueueNode<T> = { value, prev: this.tail, next: undefined, linked: true };
        if (this.tail) this.tail.next = node;
        else this.head = node;
        this.tail = node;
        this.count++;
        return node;
    }

    unshift(value: T): QueueNode<T> {
        const node: QueueNode<T> = { value, prev: undefined, next: this.head, linked: true };
        if (this.head) this.head.prev = node;
        else this.tail = node;
        this.head = node;
        this.count++;
        return node;
    }

    peek(): T | undefined {
        return this.head?.value;
    }

    shift(): T | undefined {
        const node = this.head;
        if (!node) return undefined;
        this.remove(node);
        return node.value;
    }

    remove(node: QueueNode<T>): boolean {
        if (!node.linked) return false;
        if (node.prev) node.prev.next = node.next;
        else this.head = node.next;
        if (node.next) node.next.prev = node.prev;
        else this.tail = node.prev;
        node.prev = node.next = undefined;
        node.linked = false;
        this.count--;
        return true;
    }

    /** Values oldest first (a snapshot: safe to remove while iterating). */
    values(): T[] {
        const out: T[] = [];
        for (let n = this.head; n; n = n.next) out.push(n.value);
        return out;
    }

    /** Empties the queue and returns what it held, oldest first. */
    drainAll(): T[] {
        const out: T[] = [];
        for (let v = this.shift(); v !== undefined; v = this.shift()) out.push(v);
        return out;
    }
}
