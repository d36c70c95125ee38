// Builds the DOM for conversations and messages. No markup strings from the model are parsed
// here except the answer HTML, which the server has already sanitized (see render.rs); every
// other text goes in through textContent. No inline handlers: app.js delegates clicks by
// `data-action`.

import { titleOf } from "./store.js";

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function button(label, action, extra = {}) {
  return el("button", { type: "button", className: "button small ghost", dataset: { action }, text: label, ...extra });
}

export function renderConversationList(list, store, busyId) {
  list.replaceChildren(
    ...store.list().map((conversation) => {
      const title = titleOf(conversation);
      const current = conversation.id === store.activeId;
      return el(
        "li",
        { className: current ? "conversation current" : "conversation" },
        el("button", {
          type: "button",
          className: "conversation-open",
          dataset: { action: "open-conversation", id: conversation.id },
          "aria-current": current ? "true" : null,
          text: title,
          title,
        }),
        el("button", {
          type: "button",
          className: "button small ghost conversation-delete",
          dataset: { action: "delete-conversation", id: conversation.id },
          "aria-label": `Delete conversation: ${title}`,
          disabled: conversation.id === busyId,
          text: "Delete",
        }),
      );
    }),
  );
}

/**
 * Re-renders the whole conversation. `ui` says which message streams, which is being edited and
 * whether a new answer may be started.
 */
export function renderMessages(container, conversation, ui) {
  const lastAssistant = [...conversation.messages].reverse().find((m) => m.role === "assistant");
  const lastId = conversation.messages.at(-1)?.id;
  const nodes = conversation.messages.map((message) => {
    if (message.role === "user") {
      return userMessage(message, { editing: ui.editingId === message.id, canEdit: !ui.busy });
    }
    return assistantMessage(message, {
      streaming: ui.streamingId === message.id,
      canRegenerate: !ui.busy && message.status !== "streaming" && message === lastAssistant && message.id === lastId,
    });
  });
  // A re-render must not close the sources the reader opened.
  const open = new Set([...container.querySelectorAll("details[open][data-key]")].map((d) => d.dataset.key));
  for (const node of nodes) {
    for (const details of node.querySelectorAll("details[data-key]")) details.open = open.has(details.dataset.key);
  }
  const empty = container.querySelector("#empty-state");
  if (empty) empty.hidden = nodes.length > 0;
  container.replaceChildren(...(empty ? [empty] : []), ...nodes);
}

function userMessage(message, { editing, canEdit }) {
  const article = el("article", { className: "message user", dataset: { id: message.id }, "aria-label": "You said" });
  if (editing) {
    const id = `edit-${message.id}`;
    const form = el(
      "form",
      { className: "edit-form", dataset: { id: message.id } },
      el("label", { for: id, className: "visually-hidden", text: "Edit your message" }),
      el("textarea", { id, className: "edit-input", rows: "3" }),
      el(
        "div",
        { className: "edit-buttons" },
        el("button", { type: "submit", className: "button small primary", text: "Send edited message" }),
        button("Cancel", "cancel-edit"),
      ),
    );
    form.querySelector("textarea").value = message.content;
    article.append(el("div", { className: "bubble editing" }, form));
    return article;
  }
  article.append(el("div", { className: "bubble" }, el("div", { className: "content plain", text: message.content })));
  if (canEdit) {
    article.append(
      el("div", { className: "actions" }, button("Edit", "edit", { "aria-label": "Edit and resend this message", dataset: { action: "edit", id: message.id } })),
    );
  }
  return article;
}

function assistantMessage(message, { streaming, canRegenerate }) {
  const article = el("article", {
    className: `message assistant status-${message.status || "done"}`,
    dataset: { id: message.id },
    "aria-label": "Greenlight answered",
    // Screen readers announce the answer once it is complete rather than every snapshot.
    "aria-busy": streaming ? "true" : "false",
  });
  const content = el("div", { className: "content markdown" });
  fillAnswer(content, message, "");
  const bubble = el("div", { className: "bubble" }, content);
  if (message.sources?.length) bubble.append(sourcesSection(message.sources, message.id));
  if (message.status === "stopped") bubble.append(el("p", { className: "note", text: "Stopped." }));
  if (message.error) bubble.append(errorBox(message.error, message.id));
  const meta = metaLine(message);
  if (meta) bubble.append(meta);
  article.append(bubble);
  if (canRegenerate && message.status !== "error") {
    article.append(
      el("div", { className: "actions" }, button("Regenerate", "regenerate", { "aria-label": "Regenerate this answer", dataset: { action: "regenerate", id: message.id } })),
    );
  }
  return article;
}

/** Shows the sanitized HTML snapshot, then the raw text that arrived after it. */
export function fillAnswer(content, message, tail) {
  if (message.html) {
    content.innerHTML = message.html;
    enhanceCodeBlocks(content);
  } else if (message.content) {
    content.replaceChildren(el("p", { className: "raw", text: message.content }));
    tail = "";
  } else {
    content.replaceChildren();
  }
  if (tail) content.append(el("span", { className: "tail", text: tail }));
  if (!message.content && !message.html && (message.status === "streaming" || !message.status)) {
    content.append(el("span", { className: "typing", role: "img", "aria-label": "Greenlight is answering" }, el("span"), el("span"), el("span")));
  }
}

/** Updates only the answer text of a streaming message (cheap, called per delta). */
export function updateStreaming(container, message, tail) {
  const article = container.querySelector(`article[data-id="${message.id}"]`);
  const content = article?.querySelector(".content");
  if (!content) return;
  fillAnswer(content, message, tail);
  const bubble = article.querySelector(".bubble");
  if (message.sources?.length && !bubble.querySelector(".sources")) {
    bubble.insertBefore(sourcesSection(message.sources, message.id), content.nextSibling);
  }
}

function sourcesSection(sources, messageId) {
  return el(
    "section",
    { className: "sources", "aria-label": "Sources" },
    el("h3", { className: "sources-title", text: "Sources" }),
    el(
      "ol",
      { className: "source-list" },
      ...sources.map((source, index) =>
        el(
          "li",
          { className: "source" },
          el(
            "details",
            { dataset: { key: `${messageId}:${index}` } },
            el(
              "summary",
              {},
              el("span", { className: "source-id", text: `[${source.id}]` }),
              " ",
              el("span", { className: "source-title", text: source.title || source.source || "Source" }),
              source.source ? el("span", { className: "source-path", text: source.source }) : null,
            ),
            el("p", { className: "passage", text: source.passage || "" }),
          ),
        ),
      ),
    ),
  );
}

function errorBox(error, id) {
  return el(
    "div",
    { className: "error-box", role: "alert" },
    el("strong", { className: "error-title", text: error.title }),
    el("p", { className: "error-message", text: error.message }),
    button("Retry", "retry", { className: "button small primary", dataset: { action: "retry", id } }),
  );
}

function metaLine(message) {
  if (message.status !== "done" || !message.meta) return null;
  const { provider, model, total_ms: total } = message.meta;
  const parts = [provider, model, Number.isFinite(total) ? `${(total / 1000).toFixed(1)} s` : null].filter(Boolean);
  return parts.length ? el("p", { className: "meta", text: parts.join(" · ") }) : null;
}

/** Wraps each code block with a header carrying its language and a Copy button. */
export function enhanceCodeBlocks(root) {
  for (const pre of root.querySelectorAll("pre")) {
    if (pre.parentElement?.classList.contains("codeblock")) continue;
    const code = pre.querySelector("code");
    const language = [...(code?.classList || [])].find((c) => c.startsWith("language-"))?.slice(9) || "code";
    const wrapper = el("div", { className: "codeblock" });
    const head = el(
      "div",
      { className: "codeblock-head" },
      el("span", { className: "codeblock-lang", text: language }),
      button("Copy", "copy-code", { "aria-label": `Copy ${language} code` }),
    );
    pre.replaceWith(wrapper);
    wrapper.append(head, pre);
  }
}

export function renderVersion(node, info) {
  const short = (value) => (value && value !== "unknown" && value.length > 12 ? value.slice(0, 12) : value);
  const parts = [`Greenlight ${info.version || ""}`.trim()];
  if (info.commit) parts.push(`commit ${short(info.commit)}`);
  if (info.image) parts.push(`image ${info.image}`);
  if (info.provider) parts.push(`${info.provider}${info.model ? " / " + info.model : ""}`);
  node.textContent = parts.join(" · ");
}
