/**
 * A reader of `text/event-stream` bodies as the WHATWG HTML standard parses
 * them (§9.2.6 "Interpreting an event stream"), over fetch's ReadableStream,
 * so it runs in Node and browsers alike. EventSource itself is not used: it
 * cannot send an Authorization header.
 */

export interface ServerSentEvent {
  /** `event:` field; "message" when the event named none. */
  event: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  /** The last event id seen so far in the stream (ids persist across events, as in the standard); null before any. */
  id: string | null;
  /** `retry:` in milliseconds, when this event carried one. */
  retry: number | null;
}

const BYTE_ORDER_MARK = '\uFEFF';

/**
 * A push parser: feed it decoded text in chunks of any size (a line, or an
 * event, may be split anywhere, even between CR and LF) and it calls onEvent
 * for every complete event. Comment lines (`: heartbeat`) are skipped.
 */
export function createEventStreamParser(onEvent: (event: ServerSentEvent) => void): { feed(chunk: string): void; end(): void } {
  let buffer = '';
  let first = true;
  // A chunk ended on CR: a LF at the start of the next chunk belongs to the same line end.
  let skipLeadingLf = false;
  let data: string[] = [];
  let eventType = '';
  let lastEventId: string | null = null;
  let retry: number | null = null;

  function dispatch(): void {
    // An event with no data line is not dispatched (the standard's "if the data buffer is empty" step).
    if (data.length > 0) onEvent({ event: eventType || 'message', data: data.join('\n'), id: lastEventId, retry });
    data = [];
    eventType = '';
    retry = null;
  }

  function line(text: string): void {
    if (text === '') return dispatch();
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        data.push(value);
        break;
      case 'event':
        eventType = value;
        break;
      case 'id':
        // An id with a NUL is ignored by the standard.
        if (!value.includes('\0')) lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) retry = Number(value);
        break;
      default:
      // Unknown fields are ignored.
    }
  }

  return {
    feed(chunk) {
      if (chunk === '') return;
      if (first) {
        first = false;
        if (chunk.startsWith(BYTE_ORDER_MARK)) chunk = chunk.slice(1);
      }
      if (skipLeadingLf && chunk.startsWith('\n')) chunk = chunk.slice(1);
      skipLeadingLf = false;
      buffer += chunk;
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer[i];
        if (c !== '\n' && c !== '\r') continue;
        line(buffer.slice(start, i));
        if (c === '\r') {
          if (i + 1 === buffer.length) skipLeadingLf = true;
          else if (buffer[i + 1] === '\n') i++;
        }
        start = i + 1;
      }
      buffer = buffer.slice(start);
    },
    end() {
      // The standard drops an event that was not terminated by a blank line before the stream ended.
      buffer = '';
      data = [];
    },
  };
}

/** The events of a text/event-stream body, in order, until it ends (or the request's signal aborts the read). */
export async function* readEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const queue: ServerSentEvent[] = [];
  const parser = createEventStreamParser((event) => queue.push(event));
  const decoder = new TextDecoder('utf-8');
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        parser.feed(decoder.decode());
        parser.end();
        break;
      }
      parser.feed(decoder.decode(value, { stream: true }));
      while (queue.length > 0) yield queue.shift()!;
    }
    while (queue.length > 0) yield queue.shift()!;
  } finally {
    // Leaving early (break, return, throw in the consumer) closes the connection.
    await reader.cancel().catch(() => undefined);
  }
}
