// Small helpers that drive the chat page the way a user does (keyboard, buttons by name).

/** Opens the page and records what must never happen: dialogs, page errors, console errors. */
export async function openChat(context, url, { colorScheme = "light" } = {}) {
  const page = await context.newPage();
  const incidents = { dialogs: [], pageErrors: [], consoleErrors: [] };
  page.on("dialog", async (dialog) => {
    incidents.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss();
  });
  page.on("pageerror", (err) => incidents.pageErrors.push(err.message));
  page.on("console", (msg) => {
    if (msg.type() === "error") incidents.consoleErrors.push(msg.text());
  });
  await page.emulateMedia({ colorScheme });
  await page.goto(url);
  await page.getByRole("textbox", { name: "Message" }).waitFor();
  page.incidents = incidents;
  return page;
}

/** Types into the message box and presses Enter. */
export async function send(page, text) {
  const box = page.getByRole("textbox", { name: "Message" });
  await box.fill(text);
  await box.press("Enter");
}

export const assistants = (page) => page.locator("article.message.assistant");
export const users = (page) => page.locator("article.message.user");

/** Waits until the last answer is no longer streaming; returns its final status. */
export async function lastAnswerSettled(page, timeout = 20_000) {
  const last = assistants(page).last();
  await last.waitFor();
  await page.waitForFunction(
    () => {
      const all = document.querySelectorAll("article.message.assistant");
      const last = all[all.length - 1];
      return last && last.getAttribute("aria-busy") === "false" && !last.classList.contains("status-streaming");
    },
    null,
    { timeout },
  );
  const className = await last.getAttribute("class");
  return /status-(\w+)/.exec(className)?.[1];
}

/** Starts a fresh conversation in the page (the browser profile is shared by the tests). */
export async function newConversation(page) {
  await page.getByRole("button", { name: "New chat" }).click();
}
