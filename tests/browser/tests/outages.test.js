// What the page shows when the server or the model is not there: a task draining during a
// blue/green cutover, and an upstream LLM that refuses connections. Real binaries throughout.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  eventually,
  exited,
  freePort,
  launchBrowser,
  startBalancer,
  startFakeLlm,
  startGreenlight,
  stopProcess,
} from "../lib/harness.js";
import { assistants, lastAnswerSettled, openChat, send, users } from "../lib/page.js";

const texts = (locator) => locator.locator(".content").allInnerTexts();

/** The composer still takes text and can send it; the text typed is kept. */
async function assertComposerUsable(page, draft) {
  const box = page.getByRole("textbox", { name: "Message" });
  assert.equal(await box.isEditable(), true);
  await box.fill(draft);
  assert.equal(await box.inputValue(), draft);
  const sendButton = page.getByRole("button", { name: "Send", exact: true });
  assert.equal(await sendButton.isVisible(), true);
  assert.equal(await sendButton.isEnabled(), true);
  assert.equal(await page.getByRole("button", { name: "Stop", exact: true }).isVisible(), false);
}

describe("a blue/green cutover: the serving task drains", () => {
  const LONG_TOKENS = 120;
  let fake;
  let blue;
  let green;
  let balancer;
  let browser;

  before(async () => {
    // A [[long]] answer of about 3 s: long enough to SIGTERM in the middle of it.
    fake = await startFakeLlm({ args: ["--long-tokens", String(LONG_TOKENS), "--long-delay-ms", "25"] });
    blue = await startGreenlight({
      fake,
      env: { RATE_LIMIT_PER_MINUTE: "0", DRAIN_SECONDS: "30", UPSTREAM_FIRST_TOKEN_TIMEOUT_MS: "60000" },
    });
    balancer = await startBalancer(blue.url);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await balancer?.close();
    await stopProcess(blue);
    await stopProcess(green);
    await stopProcess(fake);
  });

  test("the answer in flight completes; a new message is refused with a Retry that reaches the new task", async () => {
    const page = await openChat(browser.context, balancer.url);
    await send(page, "[[echo]] before the deploy");
    assert.equal(await lastAnswerSettled(page), "done");

    // Another client's answer that never comes keeps blue draining after the page's answer ends.
    const held = await fetch(`${blue.url}/api/chat`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "[[hang]] hold the drain open" }] }),
    });
    assert.equal(held.status, 200);

    await send(page, "[[long]] an answer that spans the deploy");
    await page.waitForFunction(() => {
      const content = [...document.querySelectorAll("article.message.assistant .content")].pop();
      return content && content.textContent.split(" ").length > 5;
    });
    blue.child.kill("SIGTERM");
    await eventually(async () => (await fetch(`${blue.url}/ready`)).status === 503, { what: "blue to report draining on /ready" });
    const refused = await fetch(`${blue.url}/api/chat`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(refused.status, 503, "blue takes no new chats while draining");

    // The answer that was streaming when the drain began runs to its end.
    assert.equal(await lastAnswerSettled(page), "done");
    const answer = (await assistants(page).last().locator(".content").innerText()).trim();
    assert.equal(answer.split(/\s+/).length, LONG_TOKENS, "the whole long answer arrived");
    assert.equal(await assistants(page).last().getByRole("alert").count(), 0);

    // The next message meets the draining task: a clear message and a Retry, nothing lost.
    await send(page, "[[echo]] sent while the server drains");
    assert.equal(await lastAnswerSettled(page), "error");
    const alert = assistants(page).last().getByRole("alert");
    await alert.getByText("This server is restarting", { exact: true }).waitFor();
    await alert.getByText(/retry and another one will answer/).waitFor();
    assert.deepEqual(await texts(users(page)), [
      "[[echo]] before the deploy",
      "[[long]] an answer that spans the deploy",
      "[[echo]] sent while the server drains",
    ]);
    const answers = await texts(assistants(page));
    assert.equal(answers[0], "before the deploy");
    assert.equal(answers[1].trim(), answer);
    assert.equal(await page.locator("#status").textContent(), "Error: This server is restarting");
    await assertComposerUsable(page, "a draft typed during the outage");

    // Green takes over behind the load balancer; Retry sends the same message there.
    green = await startGreenlight({ fake, env: { RATE_LIMIT_PER_MINUTE: "0" } });
    balancer.target = green.url;
    await alert.getByRole("button", { name: "Retry" }).click();
    assert.equal(await lastAnswerSettled(page), "done");
    assert.equal(await assistants(page).last().locator(".content").innerText(), "sent while the server drains");
    assert.equal(await page.getByRole("alert").count(), 0);
    assert.equal(await assistants(page).count(), 3, "Retry replaces the failed answer");
    assert.equal(await page.getByRole("textbox", { name: "Message" }).inputValue(), "a draft typed during the outage");

    // A second signal ends the drain window: the held stream gets a final `draining` error and
    // blue exits cleanly.
    blue.child.kill("SIGTERM");
    const heldBody = await held.text();
    assert.match(heldBody, /event: ?error\ndata: ?\{"code":"draining"/);
    assert.equal(await exited(blue), 0);

    // With no task behind it the balancer answers a bare 503: not blamed on a restart.
    balancer.target = blue.url;
    await page.getByRole("textbox", { name: "Message" }).press("Enter");
    assert.equal(await lastAnswerSettled(page), "error");
    await assistants(page).last().getByRole("alert").getByText("The service is unavailable", { exact: true }).waitFor();
    assert.equal(await users(page).count(), 4);

    assert.deepEqual(page.incidents.dialogs, []);
    assert.deepEqual(page.incidents.pageErrors, []);
    await page.close();
  });
});

describe("the model upstream is unreachable", () => {
  let port;
  let fake;
  let server;
  let browser;

  before(async () => {
    // Nothing listens on `port` until the test starts fake-llm there: connection refused.
    port = await freePort();
    server = await startGreenlight({ upstream: `http://127.0.0.1:${port}`, env: { RATE_LIMIT_PER_MINUTE: "0" } });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await stopProcess(server);
    await stopProcess(fake);
  });

  test("an error with Retry, the conversation and the draft kept; Retry works once the model is back", async () => {
    const page = await openChat(browser.context, server.url);
    await send(page, "[[echo]] is anyone there?");
    assert.equal(await lastAnswerSettled(page), "error");
    let alert = assistants(page).last().getByRole("alert");
    await alert.getByText("The model is unreachable", { exact: true }).waitFor();
    assert.match(await alert.locator(".error-message").innerText(), /unreachable.*connect/i);
    assert.deepEqual(await texts(users(page)), ["[[echo]] is anyone there?"]);
    await assertComposerUsable(page, "[[echo]] typed while the model is down");

    // Retry while still down: the same error, in place of the first one.
    await alert.getByRole("button", { name: "Retry" }).click();
    assert.equal(await lastAnswerSettled(page), "error");
    await alert.getByText("The model is unreachable", { exact: true }).waitFor();
    assert.equal(await assistants(page).count(), 1);
    assert.equal(await users(page).count(), 1);

    // The model comes back on the same address; Retry answers the kept question.
    fake = await startFakeLlm({ port });
    await alert.getByRole("button", { name: "Retry" }).click();
    assert.equal(await lastAnswerSettled(page), "done");
    assert.deepEqual(await texts(assistants(page)), ["is anyone there?"]);
    assert.equal(await page.getByRole("alert").count(), 0);
    assert.equal(await page.getByRole("textbox", { name: "Message" }).inputValue(), "[[echo]] typed while the model is down");

    // It goes away again mid-conversation: the earlier turns stay, the new one says why.
    await stopProcess(fake);
    await page.getByRole("textbox", { name: "Message" }).press("Enter");
    assert.equal(await lastAnswerSettled(page), "error");
    alert = assistants(page).last().getByRole("alert");
    await alert.getByText("The model is unreachable", { exact: true }).waitFor();
    assert.deepEqual(await texts(users(page)), ["[[echo]] is anyone there?", "[[echo]] typed while the model is down"]);
    assert.equal(await assistants(page).first().locator(".content").innerText(), "is anyone there?");

    // All of it is saved: a reload shows the same conversation, error and Retry included.
    await page.reload();
    await users(page).first().waitFor();
    assert.deepEqual(await texts(users(page)), ["[[echo]] is anyone there?", "[[echo]] typed while the model is down"]);
    assert.equal(await assistants(page).first().locator(".content").innerText(), "is anyone there?");
    await assistants(page).last().getByRole("alert").getByRole("button", { name: "Retry" }).waitFor();

    assert.deepEqual(page.incidents, { dialogs: [], pageErrors: [], consoleErrors: [] });
    await page.close();
  });
});
