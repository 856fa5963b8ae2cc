// console_browser: drives Debian's Chromium (headless, through playwright-core)
// against a running agentbus console, for test_console. It prints one line per
// check that held and READY once the page shows the agents; test_console makes
// the turns on the bus then. Exits non-zero at the first check that fails.
//   node console_browser.cjs URL SCREENSHOT_DIR
"use strict";
const { chromium } = require("playwright-core");

const [url, shots] = process.argv.slice(2);
const say = (line) => process.stdout.write(line + "\n");
const deadline = (ms) => Date.now() + ms;

async function until(what, ms, probe) {
  const end = deadline(ms);
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function main() {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on("pageerror", (e) => say("page error: " + e.message));
    page.on("console", (m) => say("page console: " + m.text()));
    await page.goto(url);
    await until("the agent rows", 10000, async () =>
      (await page.locator("tr.agent-row").count()) >= 3);
    say("agent rows");
    await until("an invalid definition's error", 10000, async () =>
      (await page.locator("tr.agent-row[data-agent=bad] .agent-error").count()) === 1);
    say("definition error");
    say("READY");

    // A reply growing as its text streams: two lengths seen, the second longer.
    const reply = page.locator(".turn.live[data-agent=writer] .reply");
    let first = 0;
    await until("the streamed reply to start", 15000, async () => {
      if ((await reply.count()) !== 1) return false;
      first = (await reply.textContent()).length;
      return first > 0;
    });
    await until("the streamed reply to grow", 15000, async () =>
      (await reply.count()) === 1 && (await reply.textContent()).length > first);
    say("streamed reply grows");
    await page.screenshot({ path: shots + "/console-streaming.png", fullPage: true });

    await until("the failure and its reason", 20000, async () =>
      (await page.locator("#failures li.failure", { hasText: "exited with status 3" }).count()) > 0);
    say("failure shown");
    await until("the dead letter and its reason", 20000, async () =>
      (await page.locator("#deadletters li.deadletter", { hasText: "invalid_event" }).count()) > 0);
    say("dead letter shown");

    await page.selectOption("#send-agent", "eng");
    await page.fill("#send-text", "from the page");
    await page.click("#send-form button");
    await until("the sent message's reply", 20000, async () =>
      (await page.locator("#recent .turn[data-agent=eng]", { hasText: "echo: from the page" }).count()) > 0);
    say("sent from the page");
    await until("the latency plot's legend", 10000, async () =>
      (await page.locator("#latency-legend span").count()) > 0);
    say("plots drawn");
    // Engines' commands and the daemon's secrets never reach the page.
    const html = await page.content();
    if (html.includes("sleep 0.4") || html.includes("exit 3")) throw new Error("a command is on the page");
    say("no commands on the page");
    await page.screenshot({ path: shots + "/console.png", fullPage: true });
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(0), (e) => { say("FAILED: " + e.message); process.exit(1); });
