// The chat page against the real greenlight binary (openai provider) and the fake LLM upstream.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { eventually, outputPath, useChatStack } from "../lib/harness.js";
import { assistants, lastAnswerSettled, newConversation, openChat, send, users } from "../lib/page.js";

describe("chat page on the openai provider", () => {
  // No server-side retries: each upstream failure the fake injects reaches the page.
  const stack = useChatStack({ env: { UPSTREAM_MAX_RETRIES: "0", RATE_LIMIT_PER_MINUTE: "0" } });

  test("every response carries the security headers; assets are cached by ETag", async () => {
    for (const route of ["/", "/assets/app.js", "/assets/style.css", "/health", "/version", "/no-such-page"]) {
      const response = await fetch(stack.server.url + route);
      const csp = response.headers.get("content-security-policy");
      assert.ok(csp, `CSP on ${route}`);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff", route);
      assert.equal(response.headers.get("referrer-policy"), "no-referrer", route);
      assert.equal(response.headers.get("x-frame-options"), "DENY", route);
    }
    const first = await fetch(`${stack.server.url}/assets/app.js`);
    assert.equal(first.status, 200);
    assert.match(first.headers.get("content-type"), /javascript/);
    const etag = first.headers.get("etag");
    assert.ok(etag);
    const again = await fetch(`${stack.server.url}/assets/app.js`, { headers: { "If-None-Match": etag } });
    assert.equal(again.status, 304);
    assert.equal((await fetch(`${stack.server.url}/assets/nope.js`)).status, 404);
  });

  test("a streamed answer renders as markdown with a working copy button", async () => {
    await stack.browser.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: stack.server.url });
    const page = await openChat(stack.browser.context, stack.server.url);
    await send(page, "[[markdown]] How do deploys work?");
    const answer = assistants(page).last();
    // While streaming, the raw text shows up before the answer is complete.
    await page.waitForFunction(() => {
      const a = document.querySelector("article.message.assistant");
      return a && a.getAttribute("aria-busy") === "true" && a.querySelector(".content").textContent.length > 0;
    });
    assert.equal(await page.getByRole("button", { name: "Stop", exact: true }).isVisible(), true);
    assert.equal(await lastAnswerSettled(page), "done");

    await answer.locator("h2", { hasText: "Blue/green in short" }).waitFor();
    assert.equal(await answer.locator("strong", { hasText: "three" }).count(), 1);
    assert.equal(await answer.locator("ol > li").count(), 3);
    assert.equal(await answer.locator("table th").count(), 2);
    const link = answer.locator("a", { hasText: "the docs" });
    assert.equal(await link.getAttribute("href"), "https://example.com/docs");
    assert.equal(await link.getAttribute("rel"), "noopener noreferrer");
    assert.equal(await link.getAttribute("target"), "_blank");
    const code = answer.locator("pre code.language-bash");
    assert.match(await code.innerText(), /greenlight smoke --url/);
    // The HTML inside the code block is shown as text, not parsed.
    assert.equal(await answer.locator("pre b").count(), 0);

    await answer.getByRole("button", { name: "Copy bash code" }).click();
    await answer.getByRole("button", { name: "Copy bash code" }).filter({ hasText: "Copied" }).waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(copied.trim(), 'greenlight smoke --url http://localhost:8080\necho "<b>not bold</b>"');

    assert.deepEqual(page.incidents, { dialogs: [], pageErrors: [], consoleErrors: [] });
    await page.close();
  });

  test("table columns keep their markdown alignment (classes, not inline styles)", async () => {
    const page = await openChat(stack.browser.context, stack.server.url);
    await newConversation(page);
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("[[echo]]\n| item | qty | price |\n|:--|:-:|--:|\n| tea | 2 | 3.50 |\n| cake | 1 | 12.00 |\n");
    await box.press("Enter");
    assert.equal(await lastAnswerSettled(page), "done");
    const table = assistants(page).last().locator("table");
    const aligned = await table.evaluate((t) => [...t.rows].map((row) => [...row.cells].map((cell) => getComputedStyle(cell).textAlign)));
    assert.deepEqual(aligned, Array(3).fill(["left", "center", "right"]));
    assert.equal(await table.locator("[style]").count(), 0);
    // What the reader sees: the prices' right edges line up.
    const priceRightEdges = await table.evaluate((t) =>
      [...t.tBodies[0].rows].map((row) => {
        const range = document.createRange();
        range.selectNodeContents(row.cells[2]);
        return Math.round(range.getBoundingClientRect().right);
      }),
    );
    assert.equal(new Set(priceRightEdges).size, 1, `right edges ${priceRightEdges}`);
    await page.close();
  });

  test("Enter sends, Shift+Enter makes a new line", async () => {
    const page = await openChat(stack.browser.context, stack.server.url);
    await newConversation(page);
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("first line");
    await box.press("Shift+Enter");
    await box.pressSequentially("second line [[echo]]");
    assert.equal(await users(page).count(), 0);
    await box.press("Enter");
    assert.equal(await lastAnswerSettled(page), "done");
    assert.equal(await users(page).last().locator(".content").innerText(), "first line\nsecond line [[echo]]");
    assert.equal(await box.inputValue(), "");
    await page.close();
  });

  test("Stop cancels the generation on the server, not just the display", async () => {
    const page = await openChat(stack.browser.context, stack.server.url);
    await newConversation(page);
    const before = await stack.fake.stats();
    await send(page, "[[long]] tell me everything");
    await page.waitForFunction(() => {
      const a = [...document.querySelectorAll("article.message.assistant .content")].pop();
      return a && a.textContent.split(" ").length > 10;
    });
    await page.getByRole("button", { name: "Stop", exact: true }).click();
    assert.equal(await lastAnswerSettled(page), "stopped");
    await assistants(page).last().getByText("Stopped.").waitFor();
    const stats = await eventually(
      async () => {
        const now = await stack.fake.stats();
        return now.cancelled > before.cancelled && now.active === 0 ? now : null;
      },
      { what: "fake-llm to see the request cancelled" },
    );
    assert.equal(stats.cancelled, before.cancelled + 1);
    assert.equal(stats.completed, before.completed, "the long answer must not have run to its end");
    // The partial answer stays, and the page is ready for the next message.
    assert.ok((await assistants(page).last().locator(".content").innerText()).length > 20);
    await page.getByRole("button", { name: "Send", exact: true }).waitFor();
    await page.close();
  });

  test("a hostile answer renders inert", async () => {
    const page = await openChat(stack.browser.context, stack.server.url);
    await newConversation(page);
    const pagesBefore = stack.browser.context.pages().length;
    const violations = [];
    await page.exposeFunction("reportViolation", (v) => violations.push(v));
    await page.evaluate(() =>
      document.addEventListener("securitypolicyviolation", (e) => window.reportViolation(`${e.violatedDirective} ${e.blockedURI}`)),
    );
    await send(page, "[[hostile]] show me something nasty");
    assert.equal(await lastAnswerSettled(page), "done");
    const answer = assistants(page).last();
    await answer.getByText("End of hostile markup.").waitFor();
    // Hover and click everything that was a handler or a link in the hostile markup.
    for (const text of ["click me", "markdown link", "data link", "hover"]) {
      const target = answer.getByText(text, { exact: false }).first();
      if (await target.count()) {
        await target.hover();
        await target.click({ noWaitAfter: true }).catch(() => {});
      }
    }
    await page.waitForTimeout(300);
    const found = await page.evaluate(() => {
      const root = document.getElementById("messages");
      const all = [...root.querySelectorAll("*")];
      return {
        xss: window.__xss ?? null,
        pwned: window.__pwned ?? null,
        dangerousTags: all.filter((e) => /^(script|iframe|svg|object|embed|form|img|style|link|meta|base)$/i.test(e.tagName)).map((e) => e.tagName),
        handlers: all.flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${e.tagName}@${a.name}`)),
        badUrls: all.flatMap((e) =>
          [...e.attributes].filter((a) => /^\s*(javascript|data|vbscript):/i.test(a.value)).map((a) => `${e.tagName}@${a.name}`),
        ),
        inlineStyles: all.filter((e) => e.hasAttribute("style")).length,
        pages: null,
      };
    });
    // No link opened a window either.
    found.pages = stack.browser.context.pages().length - pagesBefore;
    assert.deepEqual(found, { xss: null, pwned: null, dangerousTags: [], handlers: [], badUrls: [], inlineStyles: 0, pages: 0 });
    assert.deepEqual(page.incidents.dialogs, []);
    assert.deepEqual(page.incidents.pageErrors, []);
    assert.deepEqual(violations, [], "nothing even tried to run against the CSP");
    await page.close();
  });

  test("the conversation survives a reload; regenerate replaces the last answer", async () => {
    const page = await openChat(stack.browser.context, stack.server.url);
    await newConversation(page);
    await send(page, "[[echo]] remember me please");
    assert.equal(await lastAnswerSettled(page), "done");
    await send(page, "a second question");
    assert.equal(await lastAnswerSettled(page), "done");
    const answerBefore = await assistants(page).last().locator(".content").innerText();

    await page.reload();
    await users(page).first().waitFor();
    assert.equal(await users(page).count(), 2);
    assert.equal(await users(page).first().locator(".content").innerText(), "[[echo]] remember me please");
    assert.equal(await assistants(page).first().locator(".content").innerText(), "remember me please");
    assert.equal(await assistants(page).last().locator(".content").innerText(), answerBefore);

    const requests = (await stack.fake.stats()).requests;
    await assistants(page).last().getByRole("button", { name: "Regenerate this answer" }).click();
    assert.equal(await lastAnswerSettled(page), "done");
    assert.equal(await assistants(page).count(), 2, "regenerate replaces, it does not append");
    assert.equal((await stack.fake.stats()).requests, requests + 1);
    // Only the last answer can be regenerated.
    assert.equal(await page.getByRole("button", { name: "Regenerate this answer" }).count(), 1);
    await page.close();
  });

  test("edit and resend drops the later turns and answers the new text", async () => {
    const page = await openChat(stack.browser.context, stack.server.url);
    await newConversation(page);
    await send(page, "[[echo]] one");
    await lastAnswerSettled(page);
    await send(page, "[[echo]] two");
    await lastAnswerSettled(page);
    await users(page).first().getByRole("button", { name: "Edit and resend this message" }).click();
    const editor = page.getByRole("textbox", { name: "Edit your message" });
    await editor.fill("[[echo]] one, edited");
    await editor.press("Enter");
    assert.equal(await lastAnswerSettled(page), "done");
    assert.equal(await users(page).count(), 1);
    assert.equal(await assistants(page).last().locator(".content").innerText(), "one, edited");
    await page.close();
  });

  test("upstream errors show inline with a Retry that works, and the typed text is kept", async () => {
    const page = await openChat(stack.browser.context, stack.server.url);
    await newConversation(page);
    for (const [status, title] of [
      [500, "The model failed"],
      [429, "The model is rate limiting us"],
    ]) {
      await stack.fake.failNext(1, status);
      await send(page, `[[echo]] question that meets a ${status}`);
      assert.equal(await lastAnswerSettled(page), "error");
      const alert = assistants(page).last().getByRole("alert");
      await alert.getByText(title, { exact: true }).waitFor();
      assert.equal(await users(page).last().locator(".content").innerText(), `[[echo]] question that meets a ${status}`);
      await alert.getByRole("button", { name: "Retry" }).click();
      assert.equal(await lastAnswerSettled(page), "done");
      assert.equal(await assistants(page).last().locator(".content").innerText(), `question that meets a ${status}`);
      assert.equal(await page.getByRole("alert").count(), 0);
    }
    // A stream cut in the middle keeps what arrived and says so.
    await send(page, "[[cut]] this will break");
    assert.equal(await lastAnswerSettled(page), "error");
    await assistants(page).last().getByRole("alert").getByText("The answer was cut off", { exact: true }).waitFor();
    await page.close();
  });

  test("clear, new, switch and delete conversations", async () => {
    const page = await openChat(stack.browser.context, stack.server.url);
    await newConversation(page);
    await send(page, "[[echo]] alpha conversation");
    await lastAnswerSettled(page);
    await newConversation(page);
    assert.equal(await users(page).count(), 0);
    await send(page, "[[echo]] beta conversation");
    await lastAnswerSettled(page);

    const list = page.getByRole("navigation", { name: "Conversations" });
    await list.getByRole("button", { name: "[[echo]] alpha conversation", exact: true }).click();
    assert.equal(await users(page).first().locator(".content").innerText(), "[[echo]] alpha conversation");

    await page.getByRole("button", { name: "Clear conversation" }).click();
    assert.equal(await users(page).count(), 0);
    await page.reload();
    await page.getByRole("textbox", { name: "Message" }).waitFor();
    assert.equal(await users(page).count(), 0, "clearing is saved");

    await list.getByRole("button", { name: "Delete conversation: [[echo]] beta conversation", exact: true }).click();
    assert.equal(await list.getByRole("button", { name: "[[echo]] beta conversation", exact: true }).count(), 0);
    await page.close();
  });

  test("footer shows version and image; phone width has no sideways scroll; every button has a name", async () => {
    const page = await openChat(stack.browser.context, stack.server.url);
    await page.locator("#version").filter({ hasText: "image greenlight:browser-test" }).waitFor();
    const footer = await page.locator("#version").innerText();
    assert.match(footer, /Greenlight \d+\.\d+\.\d+/);
    assert.match(footer, /commit 0123456789ab/);

    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll("button, textarea, a[href]")].filter((e) => {
        if (e.offsetParent === null) return false;
        const label = e.getAttribute("aria-label") || e.labels?.[0]?.textContent || e.textContent;
        return !label || !label.trim();
      }).length,
    );
    assert.equal(unnamed, 0);

    await page.setViewportSize({ width: 375, height: 740 });
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
    const toggle = page.getByRole("button", { name: "Conversations", exact: true });
    assert.equal(await toggle.getAttribute("aria-expanded"), "false");
    await toggle.click();
    assert.equal(await toggle.getAttribute("aria-expanded"), "true");
    await page.getByRole("button", { name: "New chat" }).click();
    assert.equal(await toggle.getAttribute("aria-expanded"), "false");
    await send(page, "[[echo]] hello from a phone");
    assert.equal(await lastAnswerSettled(page), "done");
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
    await page.screenshot({ path: outputPath("chat-phone.png") });
    await page.close();
  });
});

describe("rate limiting", () => {
  // One request of burst, one more per second.
  const stack = useChatStack({ env: { RATE_LIMIT_PER_MINUTE: "60", RATE_LIMIT_BURST: "1" } });

  test("a rate-limited message shows the error inline and Retry sends it again", async () => {
    const page = await openChat(stack.browser.context, stack.server.url);
    await send(page, "[[echo]] first");
    assert.equal(await lastAnswerSettled(page), "done");
    await send(page, "[[echo]] second, too soon");
    assert.equal(await lastAnswerSettled(page), "error");
    const alert = assistants(page).last().getByRole("alert");
    await alert.getByText("Too many requests", { exact: true }).waitFor();
    // The server said how long to wait (Retry-After), and the page passes it on.
    await alert.getByText(/Try again in \d+ s\./).waitFor();
    assert.equal(await users(page).last().locator(".content").innerText(), "[[echo]] second, too soon");
    await page.waitForTimeout(1100);
    await alert.getByRole("button", { name: "Retry" }).click();
    assert.equal(await lastAnswerSettled(page), "done");
    assert.equal(await assistants(page).last().locator(".content").innerText(), "second, too soon");
    await page.close();
  });
});
