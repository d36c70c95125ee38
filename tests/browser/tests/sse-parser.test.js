// The page's SSE parsing (chat-stream.js) on its own, with the framings servers really send.

import assert from "node:assert/strict";
import { test } from "node:test";

import { parseEvent } from "../../../runtime/chatbot/assets/chat-stream.js";

test("named events with JSON data", () => {
  assert.deepEqual(parseEvent('event: delta\ndata: {"text":"hi"}'), { event: "delta", data: { text: "hi" } });
  assert.deepEqual(parseEvent('event:html\r\ndata:{"html":"<p>x</p>"}'), { event: "html", data: { html: "<p>x</p>" } });
});

test("comments and keep-alives yield nothing", () => {
  assert.equal(parseEvent(": keep-alive"), null);
  assert.equal(parseEvent("event: delta"), null);
});

test("multi-line data is joined with newlines; non-JSON data is kept as text", () => {
  assert.deepEqual(parseEvent("data: a\ndata: b"), { event: "message", data: { text: "a\nb" } });
  assert.deepEqual(parseEvent('id: 3\nretry: 10\nevent: done\ndata: {"finish_reason":"stop"}'), {
    event: "done",
    data: { finish_reason: "stop" },
  });
});
