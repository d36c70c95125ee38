// Talks to POST /api/chat and turns its text/event-stream into events.
//
// EventSource cannot POST a body, so the stream is read with fetch. The SSE framing is small and
// fixed by the HTML standard, so it is parsed here rather than pulling in a library the page would
// have to vendor (the binary must serve everything it needs, with no build step).

/** An HTTP-level or network failure before the stream started. */
export class ChatRequestError extends Error {
  constructor({ status = 0, code = "network", message, retryAfter = null }) {
    super(message);
    this.name = "ChatRequestError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/**
 * Posts the conversation and yields `{event, data}` for each SSE event (data parsed as JSON).
 * Aborting `signal` cancels the request, which makes the server drop the upstream call.
 */
export async function* streamChat(messages, { signal, maxTokens } = {}) {
  const body = { messages };
  if (maxTokens) body.max_tokens = maxTokens;
  let response;
  try {
    response = await fetch("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ChatRequestError({ message: "Could not reach the server. Check your connection." });
  }
  if (!response.ok) throw await requestError(response);
  if (!response.body) throw new ChatRequestError({ status: response.status, message: "The server sent no stream." });

  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      // Events end with a blank line; keep the unfinished tail for the next chunk.
      const parts = buffer.split(/\r\n\r\n|\n\n|\r\r/);
      buffer = parts.pop();
      for (const block of parts) {
        const event = parseEvent(block);
        if (event) yield event;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/** One SSE block (lines of `field: value`) to `{event, data}`, or null for comments only. */
export function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return null;
  const text = data.join("\n");
  try {
    return { event, data: JSON.parse(text) };
  } catch {
    return { event, data: { text } };
  }
}

async function requestError(response) {
  let code = `http_${response.status}`;
  let message = `The server answered ${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    if (body?.error?.message) message = body.error.message;
    if (body?.error?.code) code = body.error.code;
  } catch {
    // Not JSON (a proxy's error page): keep the status line.
  }
  const header = response.headers.get("Retry-After");
  const seconds = header && /^\d+$/.test(header.trim()) ? Number(header) : null;
  return new ChatRequestError({ status: response.status, code, message, retryAfter: seconds });
}
