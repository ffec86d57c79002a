/** One event as the parser hands it on. */
export interface SseMessage {
  event: string;
  data: string;
  /** The last event id seen on this stream (the one to resume from). */
  lastEventId: string;
}

/**
 * An incremental Server-Sent Events parser (the WHATWG rules: CR, LF or CRLF
 * line ends, multi-line data, `id` without NUL, `retry`). Feed it text as it
 * arrives; it calls back per event, and per `retry` value.
 */
export class SseParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private sawCr = false;
  lastEventId = "";

  constructor(
    private readonly onMessage: (message: SseMessage) => void,
    private readonly onRetry: (ms: number) => void = () => {},
  ) {}

  push(text: string): void {
    let start = 0;
    let i = 0;
    let chunk = text;
    if (this.sawCr && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this.sawCr = false;
    for (; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.buffer + chunk.slice(start, i));
      this.buffer = "";
      if (c === 13) {
        if (i + 1 < chunk.length) {
          if (chunk.charCodeAt(i + 1) === 10) i++;
        } else this.sawCr = true;
      }
      start = i + 1;
    }
    this.buffer += chunk.slice(start);
  }

  private line(line: string): void {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.event = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.onRetry(Number(value));
        break;
    }
  }

  private dispatch(): void {
    if (this.data.length === 0) {
      this.event = "";
      return;
    }
    const message = { event: this.event || "message", data: this.data.join("\n"), lastEventId: this.lastEventId };
    this.event = "";
    this.data = [];
    this.onMessage(message);
  }
}
