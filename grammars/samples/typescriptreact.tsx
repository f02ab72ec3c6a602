import { EventEmitter } from "events";

interface Options {
  retries: number;
}

export function retry<T>(fn: () => Promise<T>, options: Options): Promise<T> {
  let attempt = 0;
  const run = async (): Promise<T> => {
    try {
      return await fn();
    } catch (err: unknown) {
      attempt += 1;
      if (attempt > options.retries) {
        throw err;
      }
      return run();
    }
  };
  return run();
}

export class Queue<T> extends EventEmitter {
  private items: T[] = [];

  push(item: T): void {
    const size = this.items.push(item);
    this.emit("push", size);
  }

  drain(): T[] {
    const out = this.items.splice(0) as T[];
    for (const item of out) {
      this.emit("item", item);
    }
    return out;
  }
}

export function View({ title }: { title: string }) {
  const label = title.toUpperCase();
  return <h1 className="title">{label}</h1>;
}
