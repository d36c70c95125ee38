// Two tabs of the chat page in one browser profile (one localStorage): neither may lose or
// resurrect the other's conversations. Also the move from the old single-key storage format and
// a full storage.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { eventually, useChatStack } from "../lib/harness.js";
import { assistants, lastAnswerSettled, newConversation, openChat, send, users } from "../lib/page.js";

const LEGACY_KEY = "greenlight.conversations.v1";

/** The conversation titles in the page's sidebar, sorted. */
const titles = async (page) => (await page.locator("#conversation-list .conversation-open").allInnerTexts()).sort();

/** The user messages of the conversation titled `title`, opened in `page`. */
async function userTexts(page, title) {
  await page.locator("#conversation-list .conversation-open", { hasText: title }).first().click();
  return users(page).locator(".content").allInnerTexts();
}

/** Waits until the page's last answer is streaming (the slow answer has started). */
async function answerStreaming(page) {
  await page.waitForFunction(() => {
    const all = document.querySelectorAll("article.message.assistant");
    return all.length && all[all.length - 1].getAttribute("aria-busy") === "true";
  });
}

const isStreaming = (page) => assistants(page).last().getAttribute("aria-busy").then((busy) => busy === "true");

/** Empties the shared storage through a same-origin page that does not run the chat. */
async function clearStorage(context, url) {
  const page = await context.newPage();
  await page.goto(`${url}/health`);
  await page.evaluate(() => {
    localStorage.clear();
    sessionStorage.clear();
  });
  return page;
}

describe("two tabs of the chat page", () => {
  // A [[slow]] answer waits 4 s before its first token: long enough for the other tab's turn, even on a busy CI machine.
  const stack = useChatStack({
    fakeArgs: ["--slow-ms", "4000"],
    env: { UPSTREAM_MAX_RETRIES: "0", RATE_LIMIT_PER_MINUTE: "0" },
  });

  test("conversations saved in the old format move to the new one and keep their history", async () => {
    const seeder = await clearStorage(stack.browser.context, stack.server.url);
    const now = Date.now();
    await seeder.evaluate(
      ([key, now]) => {
        const message = (id, role, content, extra = {}) => ({ id, role, content, ...extra });
        localStorage.setItem(
          key,
          JSON.stringify({
            version: 1,
            activeId: "c-old2",
            conversations: [
              {
                id: "c-old1",
                title: "",
                createdAt: now - 60_000,
                updatedAt: now - 60_000,
                draft: "",
                messages: [message("m1", "user", "old question one"), message("m2", "assistant", "old answer one", { status: "done" })],
              },
              {
                id: "c-old2",
                title: "",
                createdAt: now - 30_000,
                updatedAt: now - 30_000,
                draft: "half-typed follow-up",
                messages: [message("m3", "user", "old question two"), message("m4", "assistant", "cut off", { status: "streaming" })],
              },
              { id: 7, messages: "not a conversation" },
            ],
          }),
        );
      },
      [LEGACY_KEY, now],
    );
    await seeder.close();

    const page = await openChat(stack.browser.context, stack.server.url);
    assert.deepEqual(await titles(page), ["old question one", "old question two"]);
    // The conversation that was open, with its draft; an answer cut by the reload reads Stopped.
    assert.deepEqual(await users(page).locator(".content").allInnerTexts(), ["old question two"]);
    assert.equal(await page.getByRole("textbox", { name: "Message" }).inputValue(), "half-typed follow-up");
    assert.equal(await lastAnswerSettled(page), "stopped");

    const stored = await page.evaluate((key) => ({ legacy: localStorage.getItem(key), keys: Object.keys(localStorage).sort() }), LEGACY_KEY);
    assert.equal(stored.legacy, null, "the old key is gone once every conversation has its own");
    assert.deepEqual(
      stored.keys.filter((k) => k.includes("conversation.")),
      ["greenlight.v2.conversation.c-old1", "greenlight.v2.conversation.c-old2"],
    );
    await page.reload();
    await page.getByRole("textbox", { name: "Message" }).waitFor();
    assert.deepEqual(await titles(page), ["old question one", "old question two"]);
    assert.deepEqual(await userTexts(page, "old question one"), ["old question one"]);
    assert.equal(await assistants(page).last().locator(".content").innerText(), "old answer one");
    assert.deepEqual(page.incidents, { dialogs: [], pageErrors: [], consoleErrors: [] });
    await page.close();
  });

  test("a tab finishing a slow answer keeps the conversation another tab started meanwhile", async () => {
    await (await clearStorage(stack.browser.context, stack.server.url)).close();
    const a = await openChat(stack.browser.context, stack.server.url);
    const b = await openChat(stack.browser.context, stack.server.url);

    await send(a, "[[slow]] question from tab A");
    await answerStreaming(a);

    // Tab B starts its conversation in the empty one it opened with.
    await send(b, "[[echo]] question from tab B");
    assert.equal(await lastAnswerSettled(b), "done");
    const boxB = b.getByRole("textbox", { name: "Message" });
    await boxB.fill("unsent draft in tab B");
    assert.equal(await isStreaming(a), true, "tab B's turn happened while tab A was still answering");

    assert.equal(await lastAnswerSettled(a), "done");
    const both = ["[[echo]] question from tab B", "[[slow]] question from tab A"];
    await eventually(async () => JSON.stringify(await titles(b)) === JSON.stringify(both), { what: "tab B lists both" });
    await eventually(async () => JSON.stringify(await titles(a)) === JSON.stringify(both), { what: "tab A lists both" });
    // Tab B's open conversation and its draft were not disturbed by tab A's save.
    assert.deepEqual(await users(b).locator(".content").allInnerTexts(), ["[[echo]] question from tab B"]);
    assert.equal(await boxB.inputValue(), "unsent draft in tab B");
    assert.deepEqual(await userTexts(a, "question from tab B"), ["[[echo]] question from tab B"]);
    assert.match(await assistants(a).last().locator(".content").innerText(), /question from tab B/);

    await a.reload();
    await a.getByRole("textbox", { name: "Message" }).waitFor();
    assert.deepEqual(await titles(a), both);
    assert.deepEqual(await userTexts(a, "question from tab A"), ["[[slow]] question from tab A"]);
    assert.equal(await lastAnswerSettled(a), "done");
    assert.deepEqual(await userTexts(a, "question from tab B"), ["[[echo]] question from tab B"]);
    for (const page of [a, b]) assert.deepEqual(page.incidents, { dialogs: [], pageErrors: [], consoleErrors: [] });
    await a.close();
    await b.close();
  });

  test("turns sent in the same conversation from two tabs at once are all kept", async () => {
    await (await clearStorage(stack.browser.context, stack.server.url)).close();
    const a = await openChat(stack.browser.context, stack.server.url);
    await send(a, "[[slow]] first turn from tab A");
    await answerStreaming(a);
    // A new tab opens on the conversation used last: the one tab A is answering in.
    const b = await openChat(stack.browser.context, stack.server.url);
    await eventually(async () => (await users(b).count()) === 1, { what: "tab B shows tab A's conversation" });
    await send(b, "[[echo]] second turn from tab B");
    assert.equal(await lastAnswerSettled(b), "done");
    assert.equal(await isStreaming(a), true, "tab B's turn happened while tab A was still answering");
    assert.equal(await lastAnswerSettled(a), "done");

    const turns = ["[[slow]] first turn from tab A", "[[echo]] second turn from tab B"];
    for (const page of [a, b]) {
      await eventually(async () => JSON.stringify(await users(page).locator(".content").allInnerTexts()) === JSON.stringify(turns), {
        what: "both turns in the conversation",
      });
      await eventually(async () => (await page.locator("article.message.assistant.status-done").count()) === 2, { what: "both answers done" });
    }
    await b.reload();
    await b.getByRole("textbox", { name: "Message" }).waitFor();
    assert.deepEqual(await users(b).locator(".content").allInnerTexts(), turns);
    assert.equal(await b.locator("article.message.assistant.status-done").count(), 2);
    for (const page of [a, b]) assert.deepEqual(page.incidents, { dialogs: [], pageErrors: [], consoleErrors: [] });
    await a.close();
    await b.close();
  });

  test("a deletion in one tab stays deleted after the other tab, busy answering, saves", async () => {
    await (await clearStorage(stack.browser.context, stack.server.url)).close();
    const a = await openChat(stack.browser.context, stack.server.url);
    await send(a, "[[echo]] kept conversation");
    await lastAnswerSettled(a);
    await newConversation(a);
    await send(a, "[[echo]] doomed while idle");
    await lastAnswerSettled(a);
    await newConversation(a);
    await send(a, "[[slow]] doomed while answering");
    await answerStreaming(a);
    const b = await openChat(stack.browser.context, stack.server.url);
    const listB = b.getByRole("navigation", { name: "Conversations" });
    await eventually(async () => (await titles(b)).length === 3, { what: "tab B lists tab A's conversations" });

    for (const title of ["[[echo]] doomed while idle", "[[slow]] doomed while answering"]) {
      await listB.getByRole("button", { name: `Delete conversation: ${title}`, exact: true }).click();
    }
    assert.equal(await isStreaming(a), true, "both deletions happened while tab A was answering");
    // Tab A's answer ends (Send is back) and it saves; then it saves again (a draft).
    await a.getByRole("button", { name: "Send", exact: true }).waitFor({ timeout: 20_000 });
    await a.getByRole("textbox", { name: "Message" }).fill("typed after the deletions");

    // Both tabs and a reload agree: the deletions stand.
    const left = ["[[echo]] kept conversation"];
    await eventually(async () => JSON.stringify(await titles(a)) === JSON.stringify(left), { what: "tab A lists only the kept one" });
    await eventually(async () => JSON.stringify(await titles(b)) === JSON.stringify(left), { what: "tab B lists only the kept one" });
    await b.reload();
    await b.getByRole("textbox", { name: "Message" }).waitFor();
    assert.deepEqual(await titles(b), left);
    assert.equal(await a.locator("#status").textContent(), "This conversation was deleted in another tab.");
    for (const page of [a, b]) assert.deepEqual(page.incidents, { dialogs: [], pageErrors: [], consoleErrors: [] });
    await a.close();
    await b.close();
  });

  test("a full storage keeps the conversation on screen, says so, and saves it once there is room", async () => {
    await (await clearStorage(stack.browser.context, stack.server.url)).close();
    const page = await openChat(stack.browser.context, stack.server.url);
    // Fill the origin's storage to the last few characters.
    const filled = await page.evaluate(() => {
      let count = 0;
      for (let size = 1 << 20; size >= 8; size >>= 1) {
        const chunk = "x".repeat(size);
        for (;;) {
          try {
            localStorage.setItem(`filler.${count}`, chunk);
            count += 1;
          } catch {
            break;
          }
        }
      }
      return count;
    });
    assert.ok(filled > 0);

    await send(page, "[[echo]] said while the storage is full");
    assert.equal(await lastAnswerSettled(page), "done");
    const warning = page.getByRole("alert").filter({ hasText: "storage is full" });
    await warning.waitFor();
    assert.deepEqual(await users(page).locator(".content").allInnerTexts(), ["[[echo]] said while the storage is full"]);

    await page.evaluate(() => {
      for (const key of Object.keys(localStorage)) if (key.startsWith("filler.")) localStorage.removeItem(key);
    });
    // The next save (a keystroke) writes what was refused.
    await page.getByRole("textbox", { name: "Message" }).fill("next");
    await warning.waitFor({ state: "hidden" });
    await page.reload();
    await page.getByRole("textbox", { name: "Message" }).waitFor();
    assert.deepEqual(await userTexts(page, "said while the storage is full"), ["[[echo]] said while the storage is full"]);
    assert.equal(await lastAnswerSettled(page), "done");
    assert.deepEqual(page.incidents, { dialogs: [], pageErrors: [], consoleErrors: [] });
    await page.close();
  });

  test("a browser that refuses storage altogether still chats, and says nothing is kept", async () => {
    const page = await stack.browser.context.newPage();
    // What Chromium does when site data is blocked: reading window.localStorage throws.
    await page.addInitScript(() => {
      Object.defineProperty(window, "localStorage", {
        get() {
          throw new DOMException("Access is denied for this document.", "SecurityError");
        },
      });
    });
    const errors = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(stack.server.url);
    await page.getByRole("alert").filter({ hasText: "does not let the page keep data" }).waitFor();
    await send(page, "[[echo]] kept in this tab only");
    assert.equal(await lastAnswerSettled(page), "done");
    assert.deepEqual(await users(page).locator(".content").allInnerTexts(), ["[[echo]] kept in this tab only"]);
    assert.deepEqual(errors, []);
    await page.close();
  });
});
