// Conversations live in this browser (localStorage), so the server stays stateless and any task
// can answer the next message during a blue/green cutover.

const KEY = "greenlight.conversations.v1";

/** Random ids that work on plain-HTTP origins too (crypto.randomUUID needs a secure context). */
export function newId(prefix) {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return prefix + "-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function newConversation() {
  const now = Date.now();
  return { id: newId("c"), title: "", createdAt: now, updatedAt: now, messages: [], draft: "" };
}

/** Title from the first user message. */
export function titleOf(conversation) {
  if (conversation.title) return conversation.title;
  const first = conversation.messages.find((m) => m.role === "user");
  if (!first) return "New conversation";
  const line = first.content.trim().split("\n")[0];
  return line.length > 60 ? line.slice(0, 57) + "…" : line;
}

export class Store {
  constructor(storage = window.localStorage) {
    this.storage = storage;
    this.lastError = null;
    const saved = this.#read();
    this.conversations = saved.conversations;
    this.activeId = saved.activeId;
    if (!this.active()) {
      if (this.conversations.length === 0) this.conversations.push(newConversation());
      this.activeId = this.conversations[0].id;
    }
  }

  active() {
    return this.conversations.find((c) => c.id === this.activeId);
  }

  get(id) {
    return this.conversations.find((c) => c.id === id);
  }

  /** Most recently used first. */
  list() {
    return [...this.conversations].sort((a, b) => b.updatedAt - a.updatedAt);
  }

  create() {
    const conversation = newConversation();
    this.conversations.push(conversation);
    this.activeId = conversation.id;
    this.save();
    return conversation;
  }

  select(id) {
    if (this.get(id)) this.activeId = id;
    this.save();
  }

  remove(id) {
    this.conversations = this.conversations.filter((c) => c.id !== id);
    if (this.conversations.length === 0) this.conversations.push(newConversation());
    if (!this.active()) this.activeId = this.list()[0].id;
    this.save();
  }

  touch(conversation) {
    conversation.updatedAt = Date.now();
  }

  /** Writes everything; returns false (and keeps the reason) when the browser refuses. */
  save() {
    try {
      this.storage.setItem(KEY, JSON.stringify({ version: 1, activeId: this.activeId, conversations: this.conversations }));
      this.lastError = null;
      return true;
    } catch (err) {
      this.lastError = err;
      return false;
    }
  }

  #read() {
    let parsed = null;
    try {
      parsed = JSON.parse(this.storage.getItem(KEY) || "null");
    } catch {
      parsed = null;
    }
    if (!parsed || parsed.version !== 1 || !Array.isArray(parsed.conversations)) {
      return { conversations: [], activeId: null };
    }
    const conversations = parsed.conversations.filter(
      (c) => c && typeof c.id === "string" && Array.isArray(c.messages),
    );
    for (const conversation of conversations) {
      conversation.draft ??= "";
      for (const message of conversation.messages) {
        // A reload in the middle of an answer ended that answer.
        if (message.status === "streaming") {
          message.status = "stopped";
        }
      }
    }
    return { conversations, activeId: parsed.activeId };
  }
}
