// The chat page on the default offline provider: sources under the answer, and the screenshots.

import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { ROOT, launchBrowser, outputPath, startGreenlight, stopProcess } from "../lib/harness.js";
import { assistants, lastAnswerSettled, openChat, send } from "../lib/page.js";

describe("chat page on the offline provider", () => {
  let server;
  let browser;

  before(async () => {
    server = await startGreenlight();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await stopProcess(server);
  });

  test("sources show under the answer and expand to their passage", async () => {
    const page = await openChat(browser.context, server.url);
    await send(page, "How does a blue/green deployment work here?");
    assert.equal(await lastAnswerSettled(page), "done");
    const answer = assistants(page).last();
    const sources = answer.getByRole("region", { name: "Sources" });
    await sources.waitFor();
    const items = sources.locator("details");
    assert.ok((await items.count()) >= 1, "the offline provider always has sources");
    const first = items.first();
    const passage = first.locator(".passage");
    assert.equal(await passage.isVisible(), false, "collapsed at first");
    await first.locator("summary").click();
    assert.equal(await passage.isVisible(), true);
    assert.ok((await passage.innerText()).trim().length > 20);
    assert.match(await first.locator("summary").innerText(), /^\[1\]/);
    // The next answer re-renders the conversation; the opened source stays open.
    await send(page, "And how do I roll back?");
    assert.equal(await lastAnswerSettled(page), "done");
    assert.equal(await assistants(page).first().locator("details").first().evaluate((d) => d.open), true);
    assert.equal(await assistants(page).last().locator("details").first().evaluate((d) => d.open), false);
    assert.deepEqual(page.incidents, { dialogs: [], pageErrors: [], consoleErrors: [] });
    await page.close();
  });

  test("screenshots of a finished conversation, light and dark", async () => {
    for (const colorScheme of ["light", "dark"]) {
      const page = await openChat(browser.context, server.url, { colorScheme });
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.getByRole("button", { name: "New chat" }).click();
      await send(page, "What is Greenlight?");
      assert.equal(await lastAnswerSettled(page), "done");
      await assistants(page).last().locator("details").first().locator("summary").click();
      // Frame the question and the start of its answer.
      await page.evaluate(() => {
        const messages = document.getElementById("messages");
        const question = [...messages.querySelectorAll("article.message.user")].pop();
        messages.scrollTop = question.offsetTop - messages.offsetTop - 16;
      });
      await page.getByRole("textbox", { name: "Message" }).fill("How do I roll back a deployment?");
      // The theme really follows prefers-color-scheme.
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const [r, g, b] = background.match(/\d+/g).map(Number);
      const light = (r + g + b) / 3 > 128;
      assert.equal(light, colorScheme === "light", `${colorScheme} theme background is ${background}`);
      await page.screenshot({ path: outputPath(`chat-${colorScheme}.png`) });
      await page.close();
    }
    // `UPDATE_SCREENSHOT=1 npm test` refreshes the one the README shows.
    if (process.env.UPDATE_SCREENSHOT) copyFileSync(outputPath("chat-light.png"), path.join(ROOT, "docs/screenshot.png"));
  });
});
