// Answers that mention HTML tags (<style>, <script>, <textarea>, <plaintext>…, JSX, XML) show
// every word on the chat page: the renderer turns raw HTML into text instead of letting the
// browser's parser swallow what follows. The corpus is the render module's unit-test corpus.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import { useChatStack } from "../lib/harness.js";
import { assistants, lastAnswerSettled, newConversation, openChat, send } from "../lib/page.js";

const corpus = JSON.parse(
  readFileSync(new URL("../../../runtime/chatbot/src/render/testdata/raw-html-answers.json", import.meta.url), "utf8"),
);

/** Elements that would hide or swallow text, or run something, had the markup gone through. */
const SWALLOWING = /^(style|script|textarea|title|xmp|noscript|iframe|noembed|plaintext|math|svg|template|img|object|embed|form|details)$/i;

/**
 * The words an answer says. Markdown syntax is punctuation, except two things the page shows as
 * no text: ordered-list numbers (list markers) and a code fence's language (a class).
 */
function answerWords(markdown) {
  return words(markdown.replace(/^(\s*)\d+[.)](?=\s)/gm, "$1").replace(/^(\s*)(```|~~~)\S*/gm, "$1"));
}

const words = (text) => text.split(/[^\p{L}\p{N}]+/u).filter(Boolean);

/** The words of `expected` missing from `shown`, counted (a word said twice must show twice). */
function missingWords(expected, shown) {
  const counts = new Map();
  for (const word of shown) counts.set(word, (counts.get(word) ?? 0) + 1);
  return expected.filter((word) => {
    const left = counts.get(word) ?? 0;
    counts.set(word, left - 1);
    return left <= 0;
  });
}

describe("answers that mention HTML", () => {
  const stack = useChatStack({ env: { RATE_LIMIT_PER_MINUTE: "0" } });

  test("the word check can fail", () => {
    assert.deepEqual(missingWords(answerWords("put it in a <style> element ENDMARK"), words("put it in a")), [
      "style",
      "element",
      "ENDMARK",
    ]);
    assert.deepEqual(answerWords("1. one\n```js\nx\n```"), ["one", "x"]);
  });

  test("every word of every answer is on the page, and no tag of it became an element", async () => {
    assert.ok(corpus.length > 50, "the corpus is there");
    const page = await openChat(stack.browser.context, stack.server.url);
    const failures = [];
    for (const [index, answer] of corpus.entries()) {
      // Short conversations: the request carries the history, which has a message limit.
      if (index % 10 === 0) await newConversation(page);
      await send(page, `[[echo]]\n${answer}`);
      assert.equal(await lastAnswerSettled(page), "done", answer);
      const content = assistants(page).last().locator(".content");
      const missing = missingWords(answerWords(answer), words(await content.innerText()));
      const elements = await content.evaluate((root, source) => [...root.querySelectorAll("*")].map((e) => e.tagName).filter((name) => new RegExp(source, "i").test(name)), SWALLOWING.source);
      if (missing.length || elements.length) failures.push({ answer, missing, elements });
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(page.incidents, { dialogs: [], pageErrors: [], consoleErrors: [] });
    await page.close();
  });
});
