// Conversations live in this browser (localStorage), so the server stays stateless and any task
// can answer the next message during a blue/green cutover.
//
// Several tabs share that storage, so nothing here writes a whole list. Each conversation has its
// own key and a tab writes only the conversations it changed; a copy another tab wrote replaces
// ours only when it was saved later (`savedAt`). A deletion removes the conversation's key and
// leaves a tombstone: a deleted id is final (ids are random, never reused), so a stale copy in
// another tab can never write it back. When two tabs changed the same conversation at once (one
// streaming an answer, the other sending a turn), the later save keeps both tabs' messages.

const PREFIX = "greenlight.v2.";
const CONVERSATION = PREFIX + "conversation.";
const DELETED = PREFIX + "deleted.";
const ACTIVE = PREFIX + "active";
/** The format before per-conversation keys: `{version: 1, activeId, conversations: [...]}`. */
const LEGACY = "greenlight.conversations.v1";

// Tombstones only have to outlive the tabs that might still hold the deleted conversation.
const TOMBSTONE_MAX_AGE_MS = 30 * 24 * 3600 * 1000;
const TOMBSTONE_MAX = 500;

/** Random ids that work on plain-HTTP origins too (crypto.randomUUID needs a secure context). */
export function newId(prefix) {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return prefix + "-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function newConversation() {
  const now = Date.now();
  return { id: newId("c"), title: "", createdAt: now, updatedAt: now, savedAt: 0, messages: [], draft: "" };
}

/** Title from the first user message. */
export function titleOf(conversation) {
  if (conversation.title) return conversation.title;
  const first = conversation.messages.find((m) => m.role === "user");
  if (!first) return "New conversation";
  const line = first.content.trim().split("\n")[0];
  return line.length > 60 ? line.slice(0, 57) + "…" : line;
}

/** Whether a `storage` event's key concerns the conversations (null: another tab cleared it all). */
export function isStoreKey(key) {
  return key === null || key === LEGACY || key.startsWith(CONVERSATION) || key.startsWith(DELETED);
}

/** The stamp deciding which of two copies of a conversation is newer. */
const stamp = (conversation) => conversation.savedAt || conversation.updatedAt || 0;

/** A checked copy of a stored conversation, or null when it is not one. */
function validConversation(value) {
  if (!value || typeof value !== "object" || typeof value.id !== "string" || !Array.isArray(value.messages)) return null;
  const messages = value.messages.filter((m) => m && typeof m === "object" && typeof m.role === "string" && typeof m.content === "string");
  const now = Date.now();
  return {
    ...value,
    title: typeof value.title === "string" ? value.title : "",
    createdAt: Number.isFinite(value.createdAt) ? value.createdAt : now,
    updatedAt: Number.isFinite(value.updatedAt) ? value.updatedAt : now,
    savedAt: Number.isFinite(value.savedAt) ? value.savedAt : 0,
    draft: typeof value.draft === "string" ? value.draft : "",
    messages,
  };
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * Folds into `mine` what another tab saved of the same conversation since this tab last saw it:
 * its new messages (after ours, in its order), and its final version of a message that this tab
 * only saw streaming elsewhere. Messages the other tab dropped stay: keeping too much beats losing.
 */
function mergeInto(mine, theirs, streamingMessageId) {
  const byId = new Map(theirs.messages.map((m) => [m.id, m]));
  mine.messages = mine.messages.map((message) => {
    const other = byId.get(message.id);
    const stale = message.status === "streaming" && message.id !== streamingMessageId;
    return stale && other && other.status !== "streaming" ? other : message;
  });
  const have = new Set(mine.messages.map((m) => m.id));
  mine.messages.push(...theirs.messages.filter((m) => !have.has(m.id)));
  mine.updatedAt = Math.max(mine.updatedAt, theirs.updatedAt);
}

/** A reload (or a tab closed mid-answer) ended that answer. */
function endStreaming(conversation) {
  for (const message of conversation.messages) {
    if (message.status === "streaming") message.status = "stopped";
  }
  return conversation;
}

/** Stand-in for a storage the browser refuses (disabled cookies and site data): this tab only. */
class MemoryStorage {
  #items = new Map();
  get length() {
    return this.#items.size;
  }
  key(index) {
    return [...this.#items.keys()][index] ?? null;
  }
  getItem(key) {
    return this.#items.has(key) ? this.#items.get(key) : null;
  }
  setItem(key, value) {
    this.#items.set(key, String(value));
  }
  removeItem(key) {
    this.#items.delete(key);
  }
}

function browserStorage(name) {
  try {
    const storage = window[name];
    storage.getItem(ACTIVE);
    return storage;
  } catch {
    return new MemoryStorage();
  }
}

export class Store {
  constructor(storage = browserStorage("localStorage"), session = browserStorage("sessionStorage")) {
    this.storage = storage;
    this.session = session;
    /** False when the browser refuses localStorage altogether: this tab is all there is. */
    this.persistent = !(storage instanceof MemoryStorage);
    /** Ids changed here whose write the browser refused (storage full); retried on every save. */
    this.pending = new Set();
    /** The answer this tab is streaming (`{conversationId, messageId}`), set by the page. */
    this.streaming = null;
    this.lastError = null;
    this.conversations = [];
    this.#pruneTombstones();
    for (const conversation of this.#readAll().values()) this.conversations.push(endStreaming(conversation));
    this.#migrateLegacy();
    // This tab's conversation survives its reload; a new tab opens the one used last anywhere.
    this.activeId = this.#get(this.session, ACTIVE) ?? this.#get(this.storage, ACTIVE);
    this.savedActiveId = null;
    this.#ensureActive();
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
    this.save(conversation);
    return conversation;
  }

  select(id) {
    if (this.get(id)) this.activeId = id;
    this.save();
  }

  /** Deletes for every tab: the key goes (freeing its space first), a tombstone stays. */
  remove(id) {
    this.conversations = this.conversations.filter((c) => c.id !== id);
    this.pending.delete(id);
    try {
      this.storage.removeItem(CONVERSATION + id);
      this.storage.setItem(DELETED + id, String(Date.now()));
    } catch {
      // No room even for the tombstone: the key is gone and other tabs drop it on its removal.
    }
    this.#ensureActive();
    // The space just freed may let a refused save through.
    return this.save();
  }

  touch(conversation) {
    conversation.updatedAt = Date.now();
  }

  isDeleted(id) {
    return this.#get(this.storage, DELETED + id) !== null;
  }

  /**
   * Writes `conversation` (and any earlier refused write), nothing else. Returns false and keeps
   * the reason when the browser refuses; the conversations stay in memory and are retried.
   */
  save(conversation) {
    if (conversation) this.pending.add(conversation.id);
    this.#saveActive();
    let ok = true;
    for (const id of [...this.pending]) {
      const current = this.get(id);
      if (!current) {
        this.pending.delete(id);
        continue;
      }
      if (this.isDeleted(id)) {
        // Deleted in another tab while this one still held it: the deletion stands.
        this.pending.delete(id);
        this.conversations = this.conversations.filter((c) => c.id !== id);
        continue;
      }
      // Another tab wrote this conversation since this tab last did (or took its copy).
      const stored = validConversation(parseJson(this.#get(this.storage, CONVERSATION + id)));
      if (stored && stored.savedAt !== current.savedAt) {
        mergeInto(current, stored, this.streaming?.conversationId === id ? this.streaming.messageId : null);
      }
      // Later than any copy this tab has seen, even within the same millisecond.
      const savedAt = Math.max(Date.now(), current.savedAt + 1, stored ? stored.savedAt + 1 : 0);
      try {
        this.storage.setItem(CONVERSATION + id, JSON.stringify({ ...current, savedAt }));
        current.savedAt = savedAt;
        this.pending.delete(id);
      } catch (err) {
        ok = false;
        this.lastError = err;
      }
    }
    if (ok) this.lastError = null;
    this.#ensureActive();
    return ok;
  }

  /**
   * Takes in what another tab wrote (a `storage` event). The conversation this tab is streaming
   * into keeps this tab's copy (merged when it is saved). Returns whether anything changed.
   */
  sync(key, newValue) {
    const protect = this.streaming?.conversationId ?? null;
    let changed = false;
    if (key === null) {
      for (const conversation of this.#readAll().values()) changed = this.#take(conversation, protect) || changed;
      for (const conversation of [...this.conversations]) {
        if (conversation.id !== protect && this.isDeleted(conversation.id)) changed = this.#drop(conversation.id) || changed;
      }
    } else if (key === LEGACY) {
      if (newValue !== null) changed = this.#migrateLegacy(protect);
    } else if (key.startsWith(DELETED)) {
      const id = key.slice(DELETED.length);
      if (newValue !== null && id !== protect) {
        // A deletion is final, even over a change here the browser refused to store.
        this.pending.delete(id);
        changed = this.#drop(id);
      }
    } else if (key.startsWith(CONVERSATION)) {
      const id = key.slice(CONVERSATION.length);
      if (id === protect) return false;
      if (newValue === null) {
        changed = this.#drop(id);
      } else {
        const conversation = validConversation(parseJson(newValue));
        if (conversation && conversation.id === id) changed = this.#take(conversation, protect);
      }
    }
    this.#ensureActive();
    return changed;
  }

  /** Another tab's copy replaces ours when it was saved later and ours has no refused write. */
  #take(incoming, protect) {
    if (incoming.id === protect || this.pending.has(incoming.id) || this.isDeleted(incoming.id)) return false;
    const index = this.conversations.findIndex((c) => c.id === incoming.id);
    if (index === -1) {
      this.conversations.push(incoming);
      return true;
    }
    if (stamp(incoming) <= stamp(this.conversations[index])) return false;
    this.conversations[index] = incoming;
    return true;
  }

  #drop(id) {
    if (!this.get(id) || this.pending.has(id)) return false;
    this.conversations = this.conversations.filter((c) => c.id !== id);
    return true;
  }

  #ensureActive() {
    if (this.active()) return;
    if (this.conversations.length === 0) this.conversations.push(newConversation());
    this.activeId = this.list()[0].id;
  }

  #saveActive() {
    try {
      this.session.setItem(ACTIVE, this.activeId);
      if (this.savedActiveId !== this.activeId) this.storage.setItem(ACTIVE, this.activeId);
      this.savedActiveId = this.activeId;
    } catch {
      // Which conversation was open is a convenience; the conversations are what must be kept.
    }
  }

  #get(storage, key) {
    try {
      return storage.getItem(key);
    } catch {
      return null;
    }
  }

  #keys() {
    const keys = [];
    for (let i = 0; i < this.storage.length; i += 1) keys.push(this.storage.key(i));
    return keys;
  }

  /** Every stored conversation that is not deleted, by id. */
  #readAll() {
    const found = new Map();
    for (const key of this.#keys()) {
      if (!key?.startsWith(CONVERSATION)) continue;
      const conversation = validConversation(parseJson(this.#get(this.storage, key)));
      const id = key.slice(CONVERSATION.length);
      if (conversation && conversation.id === id && !this.isDeleted(id)) found.set(id, conversation);
    }
    return found;
  }

  /**
   * Moves conversations saved in the old single-key format to their own keys. The old key goes
   * only once every one of them is written, so a full storage keeps the history where it was
   * (and it is retried on the next load). Tombstones and newer copies win over the old list.
   */
  #migrateLegacy(protect = null) {
    const legacy = parseJson(this.#get(this.storage, LEGACY));
    if (legacy === null) return false;
    let changed = false;
    let complete = true;
    const list = legacy && legacy.version === 1 && Array.isArray(legacy.conversations) ? legacy.conversations : [];
    for (const raw of list) {
      const conversation = validConversation(raw);
      if (!conversation || this.isDeleted(conversation.id)) continue;
      const stored = validConversation(parseJson(this.#get(this.storage, CONVERSATION + conversation.id)));
      if (stored && stamp(stored) >= stamp(conversation)) continue;
      try {
        this.storage.setItem(CONVERSATION + conversation.id, JSON.stringify(conversation));
      } catch (err) {
        complete = false;
        this.lastError = err;
      }
      changed = this.#take(endStreaming(conversation), protect) || changed;
    }
    if (typeof legacy?.activeId === "string" && this.#get(this.storage, ACTIVE) === null) {
      try {
        this.storage.setItem(ACTIVE, legacy.activeId);
      } catch {
        // Only which conversation opens first.
      }
    }
    if (complete) {
      try {
        this.storage.removeItem(LEGACY);
      } catch {
        // Read again next time; the merge above is idempotent.
      }
    }
    return changed;
  }

  /** Tombstones are bounded: older than 30 days, or beyond the newest 500, they go. */
  #pruneTombstones() {
    const now = Date.now();
    const tombstones = this.#keys()
      .filter((key) => key?.startsWith(DELETED))
      .map((key) => ({ key, at: Number(this.#get(this.storage, key)) || 0 }))
      .sort((a, b) => b.at - a.at);
    tombstones.forEach(({ key, at }, index) => {
      if (index >= TOMBSTONE_MAX || now - at > TOMBSTONE_MAX_AGE_MS) {
        try {
          this.storage.removeItem(key);
        } catch {
          // Left for the next load.
        }
      }
    });
  }
}
