// The chat page's controller: wires the composer, the conversation list and the message actions
// to the store (localStorage) and the /api/chat stream.

import { ChatRequestError, streamChat } from "./chat-stream.js";
import { Store, isStoreKey, newId, titleOf } from "./store.js";
import { renderConversationList, renderMessages, renderVersion, updateStreaming } from "./view.js";

const $ = (id) => document.getElementById(id);
const ui = {
  messages: $("messages"),
  list: $("conversation-list"),
  form: $("composer"),
  input: $("composer-input"),
  send: $("send"),
  stop: $("stop"),
  status: $("status"),
  sidebar: $("sidebar"),
  storageWarning: $("storage-warning"),
  toggleSidebar: $("toggle-sidebar"),
};

const store = new Store();
/** The answer being streamed: `{conversationId, messageId, controller, tail}`, or null. */
let streaming = null;
let editingId = null;

// Friendly titles for the stream's error codes and the HTTP statuses /api/chat answers with.
const ERROR_TITLES = {
  rate_limited: "Too many requests",
  rate_limited_upstream: "The model is rate limiting us",
  upstream_timeout: "The model took too long",
  upstream_unavailable: "The model is unreachable",
  upstream_error: "The model failed",
  stream_interrupted: "The answer was cut off",
  draining: "This server is restarting",
  unavailable: "The service is unavailable",
  internal: "Something went wrong",
  network: "No connection",
};

function render() {
  const conversation = store.active();
  renderList();
  renderMessages(ui.messages, conversation, {
    streamingId: streaming?.conversationId === conversation.id ? streaming.messageId : null,
    editingId,
    busy: Boolean(streaming),
  });
  ui.send.hidden = Boolean(streaming);
  ui.stop.hidden = !streaming;
  document.title = conversation.messages.length ? `${titleOf(conversation)} · Greenlight` : "Greenlight";
}

/** The conversation list, keeping the keyboard focus on the same button when it is redrawn. */
function renderList() {
  const focused = ui.list.contains(document.activeElement) ? document.activeElement.dataset : null;
  renderConversationList(ui.list, store, streaming?.conversationId);
  if (focused?.id) ui.list.querySelector(`button[data-action="${focused.action}"][data-id="${focused.id}"]`)?.focus();
}

function announce(text) {
  ui.status.textContent = text;
}

/**
 * Saves `conversation` (only it: other tabs own theirs). A refused write (storage full) keeps
 * everything in this tab's memory, says so where the user sees it, and is retried on every save.
 */
function persist(conversation) {
  showStorageWarning(store.save(conversation));
}

const STORAGE_WARNINGS = {
  full:
    "This browser's storage is full, so your latest changes are kept in this tab only. " +
    "Delete old conversations to make room; they are saved as soon as there is space.",
  disabled: "This browser does not let the page keep data, so conversations last only while this tab is open.",
};

function showStorageWarning(saved) {
  const problem = !store.persistent ? "disabled" : saved ? null : "full";
  // Written only when it appears or changes, so the alert is announced once, not per keystroke.
  if (problem && (ui.storageWarning.hidden || ui.storageWarning.textContent !== STORAGE_WARNINGS[problem])) {
    ui.storageWarning.textContent = STORAGE_WARNINGS[problem];
  }
  ui.storageWarning.hidden = !problem;
}

function nearBottom() {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
}

function scrollToEnd() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

// ---- sending and streaming ------------------------------------------------------------------

/** What the server sees: the conversation up to (not including) `answer`, minus failed answers. */
function history(conversation, answer) {
  const upTo = conversation.messages.indexOf(answer);
  return conversation.messages
    .slice(0, upTo)
    .filter((m) => m.role === "user" || (m.role === "assistant" && m.status === "done" && m.content))
    .map(({ role, content }) => ({ role, content }));
}

function send(text) {
  if (streaming || !text.trim()) return;
  const conversation = store.active();
  conversation.messages.push({ id: newId("m"), role: "user", content: text });
  conversation.draft = "";
  ui.input.value = "";
  autosize();
  answer(conversation);
}

/** Appends a fresh assistant message to `conversation` and streams it. */
function answer(conversation) {
  const message = { id: newId("m"), role: "assistant", content: "", html: "", status: "streaming" };
  conversation.messages.push(message);
  store.touch(conversation);
  persist(conversation);
  stream(conversation, message);
}

/** Drops the last answer (failed, stopped or done) and asks again. */
function regenerate(conversation, messageId) {
  const last = conversation.messages.at(-1);
  if (streaming || !last || last.role !== "assistant" || last.id !== messageId) return;
  conversation.messages.pop();
  answer(conversation);
}

async function stream(conversation, message) {
  const controller = new AbortController();
  streaming = { conversationId: conversation.id, messageId: message.id, controller, tail: "" };
  store.streaming = { conversationId: conversation.id, messageId: message.id };
  render();
  scrollToEnd();
  announce("Greenlight is answering.");
  let finished = false;
  try {
    for await (const { event, data } of streamChat(history(conversation, message), { signal: controller.signal })) {
      const follow = nearBottom();
      switch (event) {
        case "meta":
          message.meta = { provider: data.provider, model: data.model };
          break;
        case "sources":
          message.sources = Array.isArray(data.sources) ? data.sources : [];
          persist(conversation);
          break;
        case "delta":
          message.content += data.text ?? "";
          streaming.tail += data.text ?? "";
          break;
        case "html":
          message.html = data.html ?? "";
          streaming.tail = "";
          break;
        case "done":
          finished = true;
          message.status = "done";
          message.meta = { ...message.meta, ...data.timings, usage: data.usage };
          break;
        case "error":
          finished = true;
          fail(message, data.code, data.message);
          break;
        default:
          break;
      }
      if (store.activeId === conversation.id && !finished) {
        updateStreaming(ui.messages, message, streaming.tail);
        if (follow) scrollToEnd();
      }
      if (finished) break;
    }
    if (!finished) fail(message, "stream_interrupted", "The connection closed before the answer was complete.");
  } catch (err) {
    if (controller.signal.aborted) {
      message.status = "stopped";
    } else if (err instanceof ChatRequestError) {
      const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : "";
      fail(message, requestErrorCode(err), err.message + wait);
    } else {
      fail(message, "stream_interrupted", "The connection was lost while the answer was streaming.");
    }
  } finally {
    const follow = nearBottom();
    streaming = null;
    store.streaming = null;
    store.touch(conversation);
    persist(conversation);
    if (!store.get(conversation.id)) {
      // Deleted in another tab while it was answering here: the deletion stands.
      keepComposer();
      render();
      announce("This conversation was deleted in another tab.");
      return;
    }
    render();
    if (follow) scrollToEnd();
    announce(
      message.status === "done" ? "Answer complete." : message.status === "stopped" ? "Stopped." : `Error: ${message.error?.title}`,
    );
  }
}

/**
 * The code to show for a request refused before its stream started. The server's own code wins
 * (`draining` when this task is shutting down); a bare status from a proxy in front (the load
 * balancer's 502/503/504 while no task is ready) is not a restart of this server.
 */
function requestErrorCode(err) {
  if (ERROR_TITLES[err.code]) return err.code;
  if (err.status === 429) return "rate_limited";
  if (err.status === 502 || err.status === 503 || err.status === 504) return "unavailable";
  return err.code;
}

function fail(message, code, text) {
  message.status = "error";
  message.error = { code, title: ERROR_TITLES[code] || "The request failed", message: text || "Unknown error." };
}

// ---- clipboard --------------------------------------------------------------------------------

async function copyText(text) {
  // The async Clipboard API needs a secure context; a plain-HTTP deployment falls back to the
  // selection-based copy, which every browser still supports.
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy refused");
}

// ---- events -------------------------------------------------------------------------------------

function autosize() {
  ui.input.style.height = "auto";
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, 240)}px`;
}

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  send(ui.input.value);
});

ui.input.addEventListener("keydown", (event) => {
  // isComposing: Enter that confirms an IME composition is not a send.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send(ui.input.value);
  }
});

ui.input.addEventListener("input", () => {
  autosize();
  const conversation = store.active();
  conversation.draft = ui.input.value;
  persist(conversation);
});

ui.stop.addEventListener("click", () => {
  streaming?.controller.abort();
  ui.input.focus();
});

$("new-chat").addEventListener("click", () => {
  editingId = null;
  store.create();
  loadDraft();
  render();
  closeSidebar();
  ui.input.focus();
});

$("clear-chat").addEventListener("click", () => {
  const conversation = store.active();
  if (streaming?.conversationId === conversation.id) streaming.controller.abort();
  conversation.messages = [];
  editingId = null;
  store.touch(conversation);
  persist(conversation);
  render();
  announce("Conversation cleared.");
  ui.input.focus();
});

ui.toggleSidebar.addEventListener("click", () => {
  const open = ui.sidebar.classList.toggle("open");
  ui.toggleSidebar.setAttribute("aria-expanded", String(open));
  if (open) ui.list.querySelector(".conversation-open")?.focus();
});

function closeSidebar() {
  ui.sidebar.classList.remove("open");
  ui.toggleSidebar.setAttribute("aria-expanded", "false");
}

/** After the open conversation went away under the user: what they typed stays in the box. */
function keepComposer() {
  if (ui.input.value) store.active().draft = ui.input.value;
  else loadDraft();
}

function loadDraft() {
  ui.input.value = store.active().draft || "";
  autosize();
}

ui.list.addEventListener("click", (event) => {
  const target = event.target.closest("button[data-action]");
  if (!target) return;
  const { action, id } = target.dataset;
  if (action === "open-conversation") {
    editingId = null;
    store.select(id);
    loadDraft();
    render();
    scrollToEnd();
    closeSidebar();
    ui.input.focus();
  } else if (action === "delete-conversation") {
    if (streaming?.conversationId === id) return;
    showStorageWarning(store.remove(id));
    loadDraft();
    render();
    announce("Conversation deleted.");
    ui.list.querySelector(".conversation-open")?.focus();
  }
});

ui.messages.addEventListener("click", async (event) => {
  const target = event.target.closest("button[data-action]");
  if (!target) return;
  const conversation = store.active();
  const { action, id } = target.dataset;
  if (action === "copy-code") {
    const code = target.closest(".codeblock")?.querySelector("pre")?.innerText ?? "";
    try {
      await copyText(code);
      target.textContent = "Copied";
      announce("Code copied to the clipboard.");
    } catch {
      target.textContent = "Copy failed";
    }
    setTimeout(() => (target.textContent = "Copy"), 1500);
  } else if (action === "regenerate" || action === "retry") {
    regenerate(conversation, id);
  } else if (action === "edit") {
    editingId = id;
    render();
    const area = ui.messages.querySelector(".edit-input");
    area?.focus();
    area?.setSelectionRange(area.value.length, area.value.length);
  } else if (action === "cancel-edit") {
    editingId = null;
    render();
  }
});

ui.messages.addEventListener("submit", (event) => {
  const form = event.target.closest(".edit-form");
  if (!form) return;
  event.preventDefault();
  const text = form.querySelector("textarea").value;
  if (!text.trim() || streaming) return;
  const conversation = store.active();
  const index = conversation.messages.findIndex((m) => m.id === form.dataset.id);
  if (index === -1) return;
  // Everything after the edited message was an answer to the old text.
  conversation.messages.splice(index + 1);
  conversation.messages[index].content = text;
  editingId = null;
  answer(conversation);
  ui.input.focus();
});

ui.messages.addEventListener("keydown", (event) => {
  if (!event.target.classList?.contains("edit-input")) return;
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    event.target.form?.requestSubmit();
  } else if (event.key === "Escape") {
    editingId = null;
    render();
  }
});

// Another tab saved or deleted a conversation: take it in without touching the answer streaming
// here, the draft in the message box or a message being edited.
window.addEventListener("storage", (event) => {
  if (!isStoreKey(event.key)) return;
  const before = store.active();
  if (!store.sync(event.key, event.newValue)) return;
  const now = store.active();
  if (now === before) {
    renderList();
    return;
  }
  if (now.id === before.id) {
    // A newer copy of the open conversation. The draft being typed here stays this tab's.
    now.draft = ui.input.value;
    if (editingId) {
      renderList();
      return;
    }
    const follow = nearBottom();
    render();
    if (follow) scrollToEnd();
    return;
  }
  // The open conversation was deleted there. Text typed here moves along instead of vanishing.
  editingId = null;
  keepComposer();
  render();
  scrollToEnd();
  announce("This conversation was deleted in another tab.");
});

// A tab closed (or reloaded) mid-answer saves what arrived so far as stopped, so other tabs do not
// show that answer as still coming.
window.addEventListener("pagehide", () => {
  const conversation = streaming && store.get(streaming.conversationId);
  const message = conversation?.messages.find((m) => m.id === streaming.messageId);
  if (!message || message.status !== "streaming") return;
  message.status = "stopped";
  store.streaming = null;
  store.touch(conversation);
  store.save(conversation);
});

async function loadVersion() {
  try {
    const response = await fetch("/version", { cache: "no-store" });
    if (response.ok) renderVersion($("version"), await response.json());
  } catch {
    // The footer keeps its plain name; the chat works without it.
  }
}

loadDraft();
render();
scrollToEnd();
showStorageWarning(true);
loadVersion();
ui.input.focus();
