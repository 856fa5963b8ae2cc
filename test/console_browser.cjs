// console_browser: drives Debian's Chromium (headless, through playwright-core)
// against a running agentbus console, for test_console. It prints one line per
// check that held and READY once the page shows the agents; test_console makes
// the turns on the bus then. Exits non-zero at the first check that fails.
// Every step has its own bound (about 120 s after READY in all); the test's
// wait for the script is longer, so a slow machine fails a step by name
// rather than the whole run by a clock.
//   node console_browser.cjs URL SCREENSHOT_DIR
"use strict";
const { chromium } = require("playwright-core");

const [url, shots] = process.argv.slice(2);
const say = (line) => process.stdout.write(line + "\n");

// Waits for `test` (run in the page, with `arg`) to hold: Playwright re-checks
// it at every animation frame, so nothing here sleeps.
async function until(page, what, ms, test, arg) {
  try {
    await page.waitForFunction(test, arg, { timeout: ms });
  } catch (e) {
    throw new Error("timed out waiting for " + what);
  }
}

async function main() {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    timeout: 60000,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on("pageerror", (e) => say("page error: " + e.message));
    page.on("console", (m) => say("page console: " + m.text()));
    await page.goto(url);
    await until(page, "the agent rows", 10000,
      () => document.querySelectorAll("tr.agent-row").length >= 3);
    say("agent rows");
    await until(page, "an invalid definition's error", 10000,
      () => document.querySelectorAll("tr.agent-row[data-agent=bad] .agent-error").length === 1);
    say("definition error");
    say("READY");

    // A reply growing as its text streams: two lengths seen, the second longer.
    const reply = ".turn.live[data-agent=writer] .reply";
    const longer = ({ sel, than }) => {
      const e = document.querySelector(sel);
      return e !== null && e.textContent.length > than;
    };
    await until(page, "the streamed reply to start", 15000, longer, { sel: reply, than: 0 });
    const first = await page.evaluate((sel) => (document.querySelector(sel) || { textContent: "" }).textContent.length, reply);
    await until(page, "the streamed reply to grow", 15000, longer, { sel: reply, than: first });
    say("streamed reply grows");
    await page.screenshot({ path: shots + "/console-streaming.png", fullPage: true, timeout: 10000 });

    const holds = ({ sel, text }) => [...document.querySelectorAll(sel)].some((e) => e.textContent.includes(text));
    await until(page, "the failure and its reason", 20000, holds,
      { sel: "#failures li.failure", text: "exited with status 3" });
    say("failure shown");
    await until(page, "the dead letter and its reason", 20000, holds,
      { sel: "#deadletters li.deadletter", text: "invalid_event" });
    say("dead letter shown");

    await page.selectOption("#send-agent", "eng");
    await page.fill("#send-text", "from the page");
    await page.click("#send-form button");
    await until(page, "the sent message's reply", 20000, holds,
      { sel: "#recent .turn[data-agent=eng]", text: "echo: from the page" });
    say("sent from the page");
    await until(page, "the latency plot's legend", 10000,
      () => document.querySelectorAll("#latency-legend span").length > 0);
    say("plots drawn");
    // Engines' commands and the daemon's secrets never reach the page.
    const html = await page.content();
    if (html.includes("sleep 0.4") || html.includes("exit 3")) throw new Error("a command is on the page");
    say("no commands on the page");
    await page.screenshot({ path: shots + "/console.png", fullPage: true, timeout: 10000 });
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(0), (e) => { say("FAILED: " + e.message); process.exit(1); });
