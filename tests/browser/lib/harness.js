// Starts the real binaries (fake-llm, greenlight) on free loopback ports and headless Debian
// Chromium, and tears everything down after the tests.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { after, before } from "node:test";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const TARGET = process.env.CARGO_TARGET_DIR || path.join(ROOT, "target");
export const GREENLIGHT_BIN = process.env.GREENLIGHT_BIN || path.join(TARGET, "debug/greenlight");
export const FAKE_LLM_BIN = process.env.FAKE_LLM_BIN || path.join(TARGET, "debug/fake-llm");
export const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
export const OUTPUT = path.join(ROOT, "test-output");

/**
 * Runs `bin` and resolves once a line of its output names the loopback URL it listens on
 * (both binaries bind port 0 and log the port they got). Output is kept for failure reports.
 */
function startProcess(name, bin, args, env, { ignorePorts = [] } = {}) {
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const logs = [];
  const proc = { name, child, logs, url: null };
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not report a listening address in 20 s:\n${logs.join("")}`)), 20_000);
    const onData = (chunk) => {
      const text = chunk.toString();
      logs.push(text);
      if (proc.url) return;
      for (const match of text.matchAll(/127\.0\.0\.1:(\d{2,5})/g)) {
        const port = Number(match[1]);
        if (port === 0 || ignorePorts.includes(port)) continue;
        proc.url = `http://127.0.0.1:${port}`;
        clearTimeout(timer);
        resolve(proc);
        return;
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${name} (${bin}): ${err.message}. Build it first: cargo build -p greenlight -p greenlight-fake-llm`));
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (!proc.url) reject(new Error(`${name} exited with ${code} before listening:\n${logs.join("")}`));
    });
  });
  return ready;
}

/** fake-llm on `port` (0: a free one), with extra command-line `args` (e.g. `--long-tokens`). */
export async function startFakeLlm({ port = 0, args = [] } = {}) {
  // A small delay between tokens so streaming is visible to the page (and stoppable).
  const proc = await startProcess("fake-llm", FAKE_LLM_BIN, ["--port", String(port), "--token-delay-ms", "15", ...args], {});
  proc.stats = async () => (await fetch(`${proc.url}/_stats`)).json();
  proc.failNext = async (count, status) => {
    const response = await fetch(`${proc.url}/_control/fail-next`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ count, status }),
    });
    if (!response.ok) throw new Error(`fail-next: ${response.status} ${await response.text()}`);
  };
  return proc;
}

/**
 * greenlight on a free port; `fake` (or an `upstream` base URL, which need not be listening)
 * given: the openai provider against it, else the offline default.
 */
export async function startGreenlight({ fake = null, upstream = fake?.url, env = {} } = {}) {
  const provider = upstream
    ? { LLM_PROVIDER: "openai", OPENAI_BASE_URL: `${upstream}/v1`, OPENAI_API_KEY: "test-key", LLM_MODEL: "fake-model" }
    : { LLM_PROVIDER: "offline" };
  const ignorePorts = upstream ? [Number(new URL(upstream).port)] : [];
  return startProcess(
    "greenlight",
    GREENLIGHT_BIN,
    [],
    { HOST: "127.0.0.1", PORT: "0", LOG_FORMAT: "json", IMAGE_URI: "greenlight:browser-test", GIT_COMMIT: "0123456789abcdef", ...provider, ...env },
    { ignorePorts },
  );
}

/** Resolves with the exit code (or signal name) once `proc` has exited. */
export function exited(proc) {
  const { child } = proc;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
}

/** A loopback port nothing listens on (found by binding port 0 and closing it again). */
export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A stand-in for the load balancer in front of the tasks: forwards every request to
 * `balancer.target` (switch it to cut over) and streams the answer back. A target that refuses
 * the connection gets the page a plain-text 503, as an ALB answers when no target is healthy.
 */
export async function startBalancer(target) {
  const balancer = { target, url: null };
  const server = http.createServer((request, response) => {
    const forward = http.request(new URL(request.url, balancer.target), {
      method: request.method,
      headers: request.headers,
      // No pooled connections: a connection to a task that has gone must not be reused.
      agent: false,
    });
    forward.on("response", (answer) => {
      response.writeHead(answer.statusCode, answer.headers);
      answer.pipe(response);
    });
    forward.on("error", () => {
      if (response.headersSent || response.destroyed) return response.destroy();
      response.writeHead(503, { "Content-Type": "text/plain" });
      response.end("503 Service Temporarily Unavailable");
    });
    // The browser went away (Stop, a closed tab): so does the request to the task.
    response.on("close", () => forward.destroy());
    request.pipe(forward);
  });
  await new Promise((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  balancer.url = `http://127.0.0.1:${server.address().port}`;
  balancer.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    });
  return balancer;
}

export async function stopProcess(proc) {
  // Already gone (an exit code, or killed by a signal): its "exit" event has fired.
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.child.once("exit", resolve));
  proc.child.kill("SIGTERM");
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Headless Chromium with a fresh profile directory (removed by `close`). */
export async function launchBrowser() {
  const profile = mkdtempSync(path.join(tmpdir(), "greenlight-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 860 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function outputPath(file) {
  mkdirSync(OUTPUT, { recursive: true });
  return path.join(OUTPUT, file);
}

/** Polls `check` until it returns a truthy value or `ms` pass. */
export async function eventually(check, { ms = 10_000, every = 100, what = "condition" } = {}) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/**
 * The usual suite: fake-llm, greenlight in front of it (`env` added) and a browser, started before
 * the suite's tests and stopped after them. Call it inside `describe`; the returned object's
 * `fake`, `server` and `browser` are set once `before` has run.
 */
export function useChatStack({ fakeArgs = [], env = {} } = {}) {
  const stack = { fake: null, server: null, browser: null };
  before(async () => {
    stack.fake = await startFakeLlm({ args: fakeArgs });
    stack.server = await startGreenlight({ fake: stack.fake, env });
    stack.browser = await launchBrowser();
  });
  after(async () => {
    await stack.browser?.close();
    await stopProcess(stack.server);
    await stopProcess(stack.fake);
  });
  return stack;
}
