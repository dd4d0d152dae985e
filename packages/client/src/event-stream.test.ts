import { describe, expect, it } from 'vitest';
import { createEventStreamParser, readEventStream, type ServerSentEvent } from './event-stream.ts';

function parse(chunks: string[]): ServerSentEvent[] {
  const events: ServerSentEvent[] = [];
  const parser = createEventStreamParser((e) => events.push(e));
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  return events;
}

/** Every way of cutting `text` in two, and one character at a time. */
function splits(text: string): string[][] {
  const cuts = Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]);
  return [...cuts, [...text]];
}

const STREAM = [
  ': connected',
  'retry: 3000',
  'id: 1',
  'event: job',
  'data: {"id":"7","status":"queued"}',
  '',
  ': heartbeat',
  '',
  'id: 2',
  'data: first line',
  'data:second line',
  'data',
  '',
  'event: progress',
  'data: no id of its own',
  '',
  '',
].join('\n');

const EXPECTED: ServerSentEvent[] = [
  { event: 'job', data: '{"id":"7","status":"queued"}', id: '1', retry: 3000 },
  { event: 'message', data: 'first line\nsecond line\n', id: '2', retry: null },
  // The last id persists until another is given.
  { event: 'progress', data: 'no id of its own', id: '2', retry: null },
];

describe('event stream parser', () => {
  it('reads fields, multi-line data, comments and ids, wherever the chunks are cut', () => {
    for (const chunks of splits(STREAM)) expect(parse(chunks), JSON.stringify(chunks)).toEqual(EXPECTED);
  });

  it('takes CRLF and CR line ends, also when a CRLF is split across chunks', () => {
    for (const end of ['\r\n', '\r']) {
      const text = STREAM.replaceAll('\n', end);
      for (const chunks of splits(text)) expect(parse(chunks), JSON.stringify(chunks)).toEqual(EXPECTED);
    }
  });

  it('strips a leading byte order mark, ignores unknown fields and bad retry values, and drops an unterminated last event', () => {
    const events = parse(['\uFEFFdata: a\nfoo: bar\nretry: soon\n\n', 'data: never finished']);
    expect(events).toEqual([{ event: 'message', data: 'a', id: null, retry: null }]);
  });

  it('dispatches nothing for an event without data, and resets the event type after each event', () => {
    expect(parse(['event: ping\n\n', 'data: x\n\n'])).toEqual([{ event: 'message', data: 'x', id: null, retry: null }]);
  });

  it('keeps only the first space after the colon, and an empty id resets the last id', () => {
    expect(parse(['id: 5\ndata:  two spaces\n\nid\ndata: y\n\n'])).toEqual([
      { event: 'message', data: ' two spaces', id: '5', retry: null },
      { event: 'message', data: 'y', id: '', retry: null },
    ]);
  });
});

describe('readEventStream', () => {
  it('decodes UTF-8 split inside a character and yields events as they complete', async () => {
    const bytes = new TextEncoder().encode('data: ünïcode ✓\n\ndata: 2\n\n');
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        // One byte per chunk: multi-byte characters arrive in pieces.
        for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
        controller.close();
      },
    });
    const events: string[] = [];
    for await (const event of readEventStream(body)) events.push(event.data);
    expect(events).toEqual(['ünïcode ✓', '2']);
  });

  it('cancels the body when the reader stops early', async () => {
    let canceled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode('data: tick\n\n'));
      },
      cancel() {
        canceled = true;
      },
    });
    for await (const event of readEventStream(body)) {
      expect(event.data).toBe('tick');
      break;
    }
    expect(canceled).toBe(true);
  });
});
