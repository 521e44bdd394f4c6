// The web UI's scenario (issue 13, "Tests in a real browser") in Debian's headless Chromium, driven
// by puppeteer-core against a running `ltb serve --listen`. tests/integration/test_web.sh makes the
// users, starts the daemon and runs this; by hand:
//
//   LTB_WEB_URL=http://127.0.0.1:8080/ LTB_WEB_USER1=alice LTB_WEB_PASS1=... \
//   LTB_WEB_USER2=bob LTB_WEB_PASS2=... LTB_WEB_FILES=DIR node scenario.mjs
//
// LTB_WEB_FILES holds frr-ospf.yaml with frr-ospf/r{1,2,3}.conf and two-hosts.yaml. Optional:
// LTB_WEB_ADMIN/LTB_WEB_ADMIN_PASS (for the users page), LTB_WEB_LAB (default webospf),
// LTB_WEB_TEMPLATE (default web-ospf), LTB_WEB_ARTIFACTS (screenshots, pcap), CHROMIUM.
// Each step prints "STEP <name>: ok" or "STEP <name>: FAILED ..."; the first failure ends the run
// (later steps build on earlier ones) with exit 1.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import puppeteer from "puppeteer-core";

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) {
    console.error(`scenario: set ${k}`);
    process.exit(2);
  }
  return v;
};
const base = env("LTB_WEB_URL").replace(/\/?$/, "/");
const user1 = env("LTB_WEB_USER1");
const pass1 = env("LTB_WEB_PASS1");
const user2 = env("LTB_WEB_USER2");
const pass2 = env("LTB_WEB_PASS2");
const admin = process.env.LTB_WEB_ADMIN;
const adminPass = process.env.LTB_WEB_ADMIN_PASS;
const files = env("LTB_WEB_FILES");
const lab = env("LTB_WEB_LAB", "webospf");
const template = env("LTB_WEB_TEMPLATE", "web-ospf");
const artifacts = path.resolve(env("LTB_WEB_ARTIFACTS", "artifacts"));
const chromium = env("CHROMIUM", "/usr/bin/chromium");
fs.mkdirSync(artifacts, { recursive: true });

const t0 = Date.now();
const log = (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sel = (id) => `[data-testid="${id}"]`;

let shot = 0;
async function screenshot(page, name) {
  const file = path.join(artifacts, `${String(++shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true }).catch((e) => log(`screenshot ${name}: ${e.message}`));
}

// A soft step's failure is reported and fails the run, but the later steps still run.
const results = [];
let softFailed = false;
async function softStep(name, page, fn) {
  try {
    await step(name, page, fn);
  } catch {
    softFailed = true;
  }
}
async function step(name, page, fn) {
  const start = Date.now();
  try {
    await fn();
    results.push([name, "ok"]);
    log(`STEP ${name}: ok (${((Date.now() - start) / 1000).toFixed(1)} s)`);
  } catch (e) {
    results.push([name, "FAILED"]);
    log(`STEP ${name}: FAILED: ${e && e.stack ? e.stack : e}`);
    if (page) await screenshot(page, `FAILED-${name}`);
    throw e;
  }
}

// Waits until fn() (run in the page) returns a truthy value; returns it.
async function until(page, what, fn, arg, timeout = 60000) {
  try {
    const h = await page.waitForFunction(fn, { timeout, polling: 250 }, arg);
    return await h.jsonValue();
  } catch (e) {
    // What the page showed then: the drawing's node states and the nodes table's, if any.
    const seen = await page
      .evaluate(() => {
        const states = (prefix, attr) =>
          [...document.querySelectorAll(`[data-testid^="${prefix}"]`)]
            .map((n) => `${n.getAttribute("data-testid").slice(prefix.length)}=${attr ? n.getAttribute(attr) : n.textContent?.trim()}`)
            .join(" ");
        return `drawing: ${states("topo-node-", "data-state") || "-"}; table: ${states("node-state-") || "-"}`;
      })
      .catch(() => "");
    throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}${seen ? ` (page shows ${seen})` : ""}`);
  }
}

async function text(page, testid) {
  return page.$eval(sel(testid), (e) => e.textContent ?? "").catch(() => "");
}

// Replaces an input's text by typing (as a user would, so that React sees it).
async function fill(page, testid, value) {
  await page.$eval(sel(testid), (e) => e.select());
  await page.keyboard.press("Backspace");
  await page.type(sel(testid), value);
}

async function login(page, user, pass) {
  await page.goto(base + "#/labs", { waitUntil: "domcontentloaded" });
  await page.waitForSelector(sel("login-form"), { timeout: 15000 });
  await fill(page, "login-user", user);
  await fill(page, "login-password", pass);
  await page.click(sel("login-submit"));
  await page.waitForSelector(sel("whoami"), { timeout: 15000 });
  const who = await text(page, "whoami");
  if (!who.startsWith(user)) throw new Error(`logged in as '${who}', expected ${user}`);
}

// The visible text of the xterm.js buffer of the terminal page.
const termText = () => {
  const t = window.ltbTerm;
  if (!t) return "";
  const b = t.buffer.active;
  const out = [];
  for (let i = 0; i < b.length; i++) out.push(b.getLine(i)?.translateToString(true) ?? "");
  return out.join("\n");
};

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"],
  defaultViewport: { width: 1400, height: 1000 },
});
let page;
let exit = 0;
try {
  page = await browser.newPage();
  page.on("dialog", (d) => d.accept());
  page.on("pageerror", (e) => log(`page error: ${e.message}`));

  await step("login", page, async () => {
    await page.goto(base, { waitUntil: "domcontentloaded" });
    await page.waitForSelector(sel("login-form"), { timeout: 15000 });
    // A wrong password first: refused, and the form says so.
    await page.type(sel("login-user"), user1);
    await page.type(sel("login-password"), pass1 + "-wrong");
    await page.click(sel("login-submit"));
    await page.waitForSelector(sel("login-error"), { timeout: 10000 });
    await screenshot(page, "login-refused");
    await login(page, user1, pass1);
    await page.waitForSelector(sel("labs-table"));
    await screenshot(page, "labs-empty");
  });

  await step("upload-template", page, async () => {
    await page.goto(base + "#/templates");
    await page.waitForSelector(sel("upload-files"));
    const input = await page.$(sel("upload-files"));
    await input.uploadFile(
      path.join(files, "frr-ospf.yaml"),
      path.join(files, "frr-ospf", "r1.conf"),
      path.join(files, "frr-ospf", "r2.conf"),
      path.join(files, "frr-ospf", "r3.conf"),
    );
    await page.waitForSelector(sel("upload-files-table"));
    // The configs are placed where the topology refers to them.
    const paths = await page.$$eval('[data-testid^="upload-path-"]', (es) => es.map((e) => e.value).sort());
    const want = ["frr-ospf.yaml", "frr-ospf/r1.conf", "frr-ospf/r2.conf", "frr-ospf/r3.conf"];
    if (JSON.stringify(paths) !== JSON.stringify(want)) throw new Error(`bundle paths ${paths}, expected ${want}`);
    await page.type(sel("upload-name"), template);
    await page.type(sel("upload-description"), "OSPF triangle, uploaded by the browser test");
    await page.click(sel("upload-submit"));
    await until(page, "the upload's answer", () => document.querySelector('[data-testid="upload-result"], [data-testid="upload-error"]')?.textContent, undefined, 30000);
    const err = await text(page, "upload-error");
    if (err) throw new Error(`upload refused: ${err}`);
    await page.waitForSelector(sel(`template-row-${template}`), { timeout: 15000 });
    await screenshot(page, "templates");
  });

  await step("deploy", page, async () => {
    await fill(page, `deploy-lab-${template}`, lab);
    await page.click(sel(`deploy-${template}`));
    await until(page, `the lab page of ${lab}`, (l) => decodeURIComponent(location.hash) === `#/labs/${l}` || document.querySelector('[data-testid="template-error"]')?.textContent, lab, 180000);
    const err = await text(page, "template-error");
    if (err) throw new Error(`deploy failed: ${err}`);
    await page.waitForSelector(sel("topology"), { timeout: 30000 });
    await until(page, "every node running in the drawing", () => {
      const ns = [...document.querySelectorAll('[data-testid^="topo-node-"]')];
      return ns.length === 6 && ns.every((n) => n.getAttribute("data-state") === "running");
    }, undefined, 60000);
    await page.waitForSelector(sel("ssh-cmd-r1"), { timeout: 30000 });
    const ssh = await text(page, "ssh-cmd-r1");
    if (!ssh.includes("ltb ssh r1")) throw new Error(`ssh command of r1: '${ssh}'`);
    await screenshot(page, "lab");
  });

  await softStep("terminal-ospf-full", page, async () => {
    const term = await browser.newPage();
    term.on("pageerror", (e) => log(`terminal page error: ${e.message}`));
    const href = await page.$eval(sel("node-term-r1"), (a) => a.href);
    await term.goto(href, { waitUntil: "domcontentloaded" });
    await until(term, "the terminal to open", () => ["open", "error", "closed"].includes(document.querySelector('[data-testid="term-status"]')?.textContent ?? "") && document.querySelector('[data-testid="term-status"]').textContent, undefined, 30000);
    const st = await text(term, "term-status");
    if (st !== "open") throw new Error(`terminal ${st}: ${await text(term, "term-message")}`);
    await term.click(sel("terminal"));
    const deadline = Date.now() + 90000;
    let full = false;
    while (!full && Date.now() < deadline) {
      await term.keyboard.type("vtysh -c 'show ip ospf neighbor'\n");
      await sleep(3000);
      const buf = await term.evaluate(termText);
      full = /Full\//.test(buf);
    }
    await screenshot(term, "terminal");
    if (!full) throw new Error(`no Full neighbour in the terminal after 90 s:\n${await term.evaluate(termText)}`);
    // UTF-8 both ways: what we type comes back as typed.
    await term.keyboard.type("echo 'grüße ✓'\n");
    await until(term, "the UTF-8 echo", () => {
      const b = window.ltbTerm.buffer.active;
      for (let i = 0; i < b.length; i++) if ((b.getLine(i)?.translateToString(true) ?? "").trim() === "grüße ✓") return true;
      return false;
    }, undefined, 10000);
    // Share read-only: the button shows a watch link.
    await term.click(sel("term-share"));
    const link = await term.$eval(sel("term-watch-link"), (e) => e.value);
    if (!link.includes("#/watch/")) throw new Error(`watch link '${link}'`);
    const watcher = await browser.newPage();
    await watcher.goto(link, { waitUntil: "domcontentloaded" });
    await until(watcher, "the watcher to attach", () => document.querySelector('[data-testid="term-mode"]')?.textContent === "ro", undefined, 20000);
    // Keys go to the page in front: the watcher's tab took it.
    await term.bringToFront();
    await term.click(sel("terminal"));
    await term.keyboard.type("echo watched-$((6*7))\n");
    await until(watcher, "the watcher to see the output", () => {
      const b = window.ltbTerm?.buffer.active;
      if (!b) return false;
      for (let i = 0; i < b.length; i++) if ((b.getLine(i)?.translateToString(true) ?? "").includes("watched-42")) return true;
      return false;
    }, undefined, 15000);
    await screenshot(watcher, "terminal-watch");
    await watcher.close();
    // A reload reattaches to the same session (the id is in sessionStorage) and replays output.
    await term.reload({ waitUntil: "domcontentloaded" });
    await until(term, "the terminal to reattach", () => document.querySelector('[data-testid="term-status"]')?.textContent === "reattached", undefined, 20000);
    await term.click(sel("terminal"));
    await term.keyboard.type("echo again-$((6*7))\n");
    await until(term, "output after the reattach", () => {
      const b = window.ltbTerm.buffer.active;
      for (let i = 0; i < b.length; i++) if ((b.getLine(i)?.translateToString(true) ?? "").includes("again-42")) return true;
      return false;
    }, undefined, 15000);
    await term.close();
  });

  await step("link-delay-in-drawing", page, async () => {
    await page.bringToFront();
    await page.click(sel("link-edit-r1-r2"));
    await page.waitForSelector(sel("link-form-r1-r2"));
    await page.type(sel("imp-delay"), "50ms");
    await page.click(sel("imp-apply"));
    await until(page, "50ms on r1-r2 in the drawing", () => document.querySelector('[data-testid="topo-imp-r1-r2"]')?.textContent?.includes("50ms") || document.querySelector('[data-testid="action-error"]')?.textContent, undefined, 30000);
    const err = await text(page, "action-error");
    if (err) throw new Error(`link set failed: ${err}`);
    const row = await text(page, "link-imp-a-r1-r2");
    if (!row.includes("delay 50ms")) throw new Error(`links table says '${row}'`);
    await screenshot(page, "lab-delay");
  });

  await step("stop-start-lab", page, async () => {
    await page.click(sel("lab-stop"));
    await until(page, "r1 stopped", () => {
      const s = document.querySelector('[data-testid="node-state-r1"]')?.textContent;
      return s && s !== "running" ? s : document.querySelector('[data-testid="action-error"]')?.textContent?.trim() ? "error" : false;
    }, undefined, 120000);
    if (await text(page, "action-error")) throw new Error(`stop failed: ${await text(page, "action-error")}`);
    await until(page, "every node stopped in the drawing", () => [...document.querySelectorAll('[data-testid^="topo-node-"]')].filter((n) => n.getAttribute("data-state") === "running" && !/sw1$/.test(n.getAttribute("data-testid"))).length === 0, undefined, 30000);
    await screenshot(page, "lab-stopped");
    await page.click(sel("lab-start"));
    await until(page, "every node running again", () => {
      const ns = [...document.querySelectorAll('[data-testid^="topo-node-"]')];
      return (ns.length === 6 && ns.every((n) => n.getAttribute("data-state") === "running")) || document.querySelector('[data-testid="action-error"]')?.textContent?.trim();
    }, undefined, 120000);
    if (await text(page, "action-error")) throw new Error(`start failed: ${await text(page, "action-error")}`);
    // The delay survived the stop and start.
    await until(page, "50ms still drawn", () => document.querySelector('[data-testid="topo-imp-r1-r2"]')?.textContent?.includes("50ms"), undefined, 15000);
  });

  await softStep("capture-download", page, async () => {
    const cdp = await browser.target().createCDPSession();
    await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: artifacts, eventsEnabled: true });
    await page.select(sel("capture-target"), "r1-r2");
    await page.type(sel("capture-count"), "4");
    const name = await page.$eval(sel("capture-download"), (a) => a.getAttribute("download"));
    const file = path.join(artifacts, name);
    fs.rmSync(file, { force: true });
    await page.click(sel("capture-download"));
    const deadline = Date.now() + 60000;
    while (!(fs.existsSync(file) && !fs.existsSync(file + ".crdownload")) && Date.now() < deadline) await sleep(300);
    if (!fs.existsSync(file)) throw new Error(`no ${name} downloaded within 60 s`);
    const out = execFileSync("tshark", ["-r", file, "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Protocol"], { encoding: "utf8" });
    const lines = out.trim().split("\n").filter(Boolean);
    log(`capture: ${lines.length} packets: ${lines.map((l) => l.split("\t")[1]).join(", ")}`);
    if (lines.length !== 4) throw new Error(`tshark read ${lines.length} packets, expected 4:\n${out}`);
  });

  await step("reservations", page, async () => {
    await page.goto(base + "#/reservations");
    await page.waitForSelector(sel("res-create"));
    const reserve = async (lab, count, start = "+1h") => {
      const input = await page.$(sel("res-file"));
      await input.uploadFile(path.join(files, "two-hosts.yaml"));
      for (const [id, v] of [["res-lab", lab], ["res-start", start], ["res-for", "1h"], ["res-count", String(count)]]) {
        await fill(page, id, v);
      }
      await page.click(sel("res-submit"));
      await until(page, "the admission's answer", () => document.querySelector('[data-testid="res-admitted"], [data-testid="res-refused"]'), undefined, 30000);
      return (await page.$(sel("res-admitted"))) ? "admitted" : "refused";
    };
    // Capacity here: 8 vCPU (2 CPUs x 4); the deployed lab holds 2.5 with an open end, each
    // two-hosts lab needs 1. Five in the next hour's second hour fit; two more then do not, and
    // the answer proposes the end of the first booking.
    const a = await reserve("webres-a", 5);
    if (a !== "admitted") throw new Error(`the first booking was refused: ${await text(page, "res-refused")}`);
    await screenshot(page, "reservations-admitted");
    const b = await reserve("webres-b", 2);
    if (b !== "refused") throw new Error("the second booking was admitted; expected a refusal");
    const proposal = await text(page, "res-proposal");
    if (!proposal) throw new Error(`refused without a proposed start: ${await text(page, "res-refused")}`);
    log(`refused, proposed start ${proposal}`);
    await screenshot(page, "reservations-refused");
    await page.click(sel("res-book-proposal"));
    await until(page, "the booking at the proposed start", () => document.querySelector('[data-testid="res-admitted"]'), undefined, 30000);
    const rows = await page.$$('[data-testid^="res-row-"]');
    if (rows.length !== 7) throw new Error(`${rows.length} reservations listed, expected 7`);
    await page.waitForSelector('[data-testid^="cal-res-"]');
    await screenshot(page, "reservations");
  });

  await softStep("usage-page", page, async () => {
    await page.goto(base + "#/usage");
    await page.waitForSelector(sel("usage-page"));
    await sleep(6000); // two samples make rates
    await screenshot(page, "usage");
    const err = await page.$(sel("error"));
    if (err) throw new Error(`usage page: ${await text(page, "error")}`);
  });

  await step("second-user-sees-no-labs", null, async () => {
    const ctx = await browser.createBrowserContext();
    const p2 = await ctx.newPage();
    try {
      await login(p2, user2, pass2);
      await p2.waitForSelector(sel("labs-empty"), { timeout: 15000 });
      if (await p2.$(sel(`lab-row-${lab}`))) throw new Error(`${user2} sees ${user1}'s lab ${lab}`);
      await screenshot(p2, "second-user-labs");
      await p2.goto(base + `#/labs/${lab}`);
      await p2.waitForSelector(sel("error"), { timeout: 15000 });
      await screenshot(p2, "second-user-lab-refused");
      await p2.goto(base + "#/templates");
      await p2.waitForSelector(sel("templates-table"));
      if (await p2.$(sel(`template-row-${template}`))) throw new Error(`${user2} sees ${user1}'s private template`);
    } finally {
      await ctx.close();
    }
  });

  if (admin && adminPass) {
    await softStep("admin-users-page", null, async () => {
      const ctx = await browser.createBrowserContext();
      const p3 = await ctx.newPage();
      try {
        await login(p3, admin, adminPass);
        await p3.goto(base + "#/users");
        await p3.waitForSelector(sel(`user-row-${user1}`), { timeout: 15000 });
        await screenshot(p3, "users");
      } finally {
        await ctx.close();
      }
    });
  }

  await step("remove-lab", page, async () => {
    await page.goto(base + `#/labs/${lab}`);
    await page.waitForSelector(sel("lab-down"));
    await page.click(sel("lab-down")); // the confirm dialog is accepted
    await until(page, "back on the labs list", () => location.hash === "#/labs" || document.querySelector('[data-testid="action-error"]')?.textContent, undefined, 120000);
    if (await text(page, "action-error")) throw new Error(`down failed: ${await text(page, "action-error")}`);
    await page.waitForSelector(sel("labs-empty"), { timeout: 15000 });
  });
} catch {
  exit = 1;
} finally {
  await browser.close().catch(() => {});
}
log(`steps: ${results.map(([n, r]) => `${n}=${r}`).join(" ")}`);
log(`screenshots in ${artifacts}`);
process.exit(exit || (softFailed ? 1 : 0));
