/** One parsed Server-Sent Event. */
export interface ParsedEvent {
  id: string | undefined;
  event: string;
  data: Record<string, unknown>;
}

/**
 * Reads an SSE response frame by frame (a test-side parser, independent of
 * the client SDK's). Comments are counted, not returned.
 */
export class SseReader {
  private buffer = "";
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  comments = 0;
  retry: number | null = null;
  ended = false;

  constructor(response: Response) {
    if (!response.body) throw new Error("no body");
    this.reader = response.body.getReader();
  }

  /** The next event, or null when the stream ended. */
  async next(): Promise<ParsedEvent | null> {
    for (;;) {
      const end = this.buffer.indexOf("\n\n");
      if (end >= 0) {
        const frame = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const event = this.parse(frame);
        if (event) return event;
        continue;
      }
      if (this.ended) return null;
      const { done, value } = await this.reader.read();
      if (done) this.ended = true;
      else this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }

  private parse(frame: string): ParsedEvent | null {
    let id: string | undefined;
    let event = "message";
    let data = "";
    for (const line of frame.split("\n")) {
      if (line.startsWith(":")) this.comments++;
      else if (line.startsWith("id: ")) id = line.slice(4);
      else if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
      else if (line.startsWith("retry: ")) this.retry = Number(line.slice(7));
    }
    if (data === "") return null;
    return { id, event, data: JSON.parse(data) as Record<string, unknown> };
  }
}
