// The measuring half of tests/bench/web.sh (issue 13, "Benchmarks"): it talks to a running
// `ltb serve --listen` and prints one JSON line of figures on stdout (progress on stderr). web.sh
// makes the daemon, the labs and the token, and judges the figures.
//
//   node bench_web.mjs api       GET LTB_BENCH_PATH LTB_BENCH_COUNT times on one keep-alive
//                                connection (after LTB_BENCH_WARMUP unmeasured ones): ms p50/p99
//   node bench_web.mjs terminals LTB_BENCH_TERMINALS WebSockets to GET /v1/terminal, spread over
//                                LTB_BENCH_NODES (space-separated) of LTB_BENCH_LAB, all open at
//                                once; once each has run a command, every one types
//                                LTB_BENCH_MARKERS marker lines concurrently (one every
//                                150-450 ms after the previous one's output): ms from sending a
//                                line to its output line; the daemon's memory (LTB_BENCH_DAEMON_PID)
//                                before opening and while all are open; then closes them all
//   node bench_web.mjs load      LTB_BENCH_LOADS cold loads of the web UI in headless Chromium
//                                (a new browser context each, cache off): ms from navigation start
//                                until the login form's inputs are there and enabled
//
// Common: LTB_BENCH_URL (http://127.0.0.1:PORT), LTB_BENCH_TOKEN (a bearer token), CHROMIUM.

import fs from "node:fs";
import http from "node:http";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) {
    console.error(`bench_web: set ${k}`);
    process.exit(2);
  }
  return v;
};
const base = env("LTB_BENCH_URL").replace(/\/$/, "");
const token = env("LTB_BENCH_TOKEN");
const auth = { Authorization: `Bearer ${token}` };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (m) => console.error(`bench_web: ${m}`);

// Nearest-rank percentile of sorted values.
const pct = (sorted, p) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
const stats = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const r = (v) => Math.round(v * 1000) / 1000;
  return { n: s.length, p50: r(pct(s, 0.5)), p99: r(pct(s, 0.99)), max: r(s[s.length - 1]) };
};

async function api() {
  const path = env("LTB_BENCH_PATH");
  const count = Number(env("LTB_BENCH_COUNT", "300"));
  const warmup = Number(env("LTB_BENCH_WARMUP", "20"));
  const times = [];
  let bytes = 0;
  for (let i = 0; i < warmup + count; i++) {
    const start = performance.now();
    const res = await fetch(base + path, { headers: auth });
    const body = await res.arrayBuffer();
    const ms = performance.now() - start;
    if (res.status !== 200) {
      throw new Error(`GET ${path}: HTTP ${res.status}: ${Buffer.from(body).toString().slice(0, 300)}`);
    }
    if (i >= warmup) {
      times.push(ms);
      bytes = body.byteLength;
    }
  }
  return { path, bytes, ...stats(times) };
}

// --- the daemon's memory, as tests/integration/serve_lib.sh's daemon_children finds its commands

const readText = (f) => {
  try {
    return fs.readFileSync(f, "utf8");
  } catch {
    return "";
  }
};
function processTable() {
  const parent = new Map();
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const stat = readText(`/proc/${d}/stat`);
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (rest.length > 1) parent.set(Number(d), Number(rest[1]));
  }
  const children = (pid) => [...parent].filter(([, pp]) => pp === pid).map(([p]) => p);
  return { children };
}
const kib = (pid, file, field) => {
  const m = readText(`/proc/${pid}/${file}`).match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return m ? Number(m[1]) : 0;
};
// The daemon's own RSS; the commands it runs (the fork server's children, or its own children
// without one) with their descendants: count, total RSS and PSS (shared pages split among the
// processes that share them: the fork copies share the fork server's).
function daemonMemory(daemon) {
  const { children } = processTable();
  const own = readText(`/proc/${daemon}/cmdline`);
  const commands = [];
  for (const c of children(daemon)) {
    if (readText(`/proc/${c}/cmdline`) === own) commands.push(...children(c));
    else commands.push(c);
  }
  const all = [];
  const walk = (p) => {
    all.push(p);
    children(p).forEach(walk);
  };
  commands.forEach(walk);
  let rss = 0;
  let pss = 0;
  for (const p of all) {
    rss += kib(p, "status", "VmRSS");
    pss += kib(p, "smaps_rollup", "Pss");
  }
  return { daemon_rss_kib: kib(daemon, "status", "VmRSS"), commands: commands.length, processes: all.length, children_rss_kib: rss, children_pss_kib: pss };
}

// --- web terminals

class Term {
  constructor(id, node, lab) {
    this.id = id;
    this.node = node;
    this.lab = lab;
    this.pending = "";
    this.unacked = 0;
    this.ackTimer = undefined;
    this.waiting = null; // { line, resolve }
    this.decoder = new TextDecoder();
    this.closed = false;
    this.output = 0; // characters of output so far
  }
  open(timeoutMs) {
    const url = `${base.replace(/^http/, "ws")}/v1/terminal?lab=${encodeURIComponent(this.lab)}&node=${encodeURIComponent(this.node)}`;
    this.ws = new WebSocket(url, { headers: auth, perMessageDeflate: false });
    this.ws.binaryType = "nodebuffer";
    this.ws.on("message", (data, isBinary) => this.onMessage(data, isBinary));
    this.ws.on("close", () => {
      this.closed = true;
      if (this.waiting) this.waiting.reject(new Error(`terminal ${this.id} (${this.node}) closed`));
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`terminal ${this.id} (${this.node}): no hello in ${timeoutMs} ms`)), timeoutMs);
      this.ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => reject(new Error(`terminal ${this.id} (${this.node}): HTTP ${res.statusCode}: ${body}`)));
      });
      this.ws.once("error", (e) => reject(new Error(`terminal ${this.id} (${this.node}): ${e.message}`)));
      this.onHello = (hello) => {
        clearTimeout(timer);
        this.hello = hello;
        this.ws.send(JSON.stringify({ type: "resize", rows: 24, cols: 80 }));
        resolve();
      };
    });
  }
  send(bytes) {
    this.ws.send(bytes);
  }
  onMessage(data, isBinary) {
    if (!isBinary) {
      const msg = JSON.parse(data.toString());
      if (msg.type === "hello" && this.onHello) this.onHello(msg);
      return;
    }
    // Acked as the web UI does: at 64 KiB, or 20 ms after the first unacked byte.
    this.unacked += data.length;
    if (this.unacked >= 65536) this.flushAck();
    else if (!this.ackTimer) this.ackTimer = setTimeout(() => this.flushAck(), 20);
    this.onOutput(data);
  }
  onOutput(data) {
    const text = this.decoder.decode(data, { stream: true });
    // busybox sh's line editor asks where the cursor is (DSR, ESC [ 6 n) at each prompt and
    // waits for the answer, as a terminal (xterm.js in the web UI) gives it.
    if ((this.pending.slice(-3) + text).includes("\x1b[6n")) this.send(Buffer.from("\x1b[24;5R"));
    this.pending += text;
    this.output += text.length;
    let nl;
    while ((nl = this.pending.indexOf("\n")) >= 0) {
      // eslint-disable-next-line no-control-regex
      const line = this.pending.slice(0, nl).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "").trim();
      this.pending = this.pending.slice(nl + 1);
      if (this.waiting && line === this.waiting.line) {
        const w = this.waiting;
        this.waiting = null;
        w.resolve(performance.now());
      }
    }
  }
  flushAck() {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.unacked > 0 && !this.closed) {
      this.ws.send(JSON.stringify({ type: "ack", bytes: this.unacked }));
      this.unacked = 0;
    }
  }
  // Types `typed` + newline; resolves with ms until the line `expect` arrives.
  run(typed, expect, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`terminal ${this.id} (${this.node}): no "${expect}" within ${timeoutMs} ms; last output: ${JSON.stringify(this.pending.slice(-200))}`));
      }, timeoutMs);
      const start = performance.now();
      this.waiting = {
        line: expect,
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t - start);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.send(Buffer.from(`${typed}\n`));
    });
  }
  async ready() {
    for (let quiet = 0, seen = -1; quiet < 300; ) {
      await sleep(50);
      if (this.closed) throw new Error(`terminal ${this.id} (${this.node}) closed before its prompt`);
      quiet = this.output > 0 && this.output === seen ? quiet + 50 : 0;
      seen = this.output;
    }
    for (let i = 0; ; i++) {
      try {
        return await this.run(`echo r$((1+1))x${this.id}`, `r2x${this.id}`, 5000);
      } catch (e) {
        if (i >= 9 || this.closed) throw e;
      }
    }
  }
  close() {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.ws.once("close", resolve);
      this.ws.close(1000);
      setTimeout(() => {
        this.ws.terminate();
        resolve();
      }, 5000);
    });
  }
}

// The floor: the same shell without ltb, a `docker exec -it` of its own over the Docker API
// (exec create, then exec start hijacked to a raw stream; a TTY, so no stream headers).
const dockerApi = (method, path, body) =>
  new Promise((resolve, reject) => {
    const req = http.request({ socketPath: dockerSocket, method, path: `/v1.41${path}`, headers: { "Content-Type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => (res.statusCode < 300 ? resolve(text ? JSON.parse(text) : {}) : reject(new Error(`docker ${method} ${path}: HTTP ${res.statusCode}: ${text}`))));
    });
    req.on("error", reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
const dockerSocket = "/var/run/docker.sock";

class DockerTerm extends Term {
  async open(timeoutMs) {
    const exec = await dockerApi("POST", `/containers/${encodeURIComponent(this.node)}/exec`, {
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: true,
      ConsoleSize: [24, 80],
      // The shell the daemon starts for a web terminal, in the same environment.
      Env: ["TERM=xterm-256color"],
      Cmd: ["sh", "-c", ': "${LANG:=C.UTF-8}"; export LANG; command -v bash >/dev/null 2>&1 && exec bash -l; exec sh -l'],
    });
    this.hello = { session: exec.Id };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`docker exec on ${this.node}: no stream in ${timeoutMs} ms`)), timeoutMs);
      const req = http.request({
        socketPath: dockerSocket,
        method: "POST",
        path: `/v1.41/exec/${exec.Id}/start`,
        headers: { "Content-Type": "application/json", Connection: "Upgrade", Upgrade: "tcp" },
      });
      req.on("upgrade", (_res, socket, head) => {
        clearTimeout(timer);
        this.socket = socket;
        socket.setNoDelay(true);
        socket.on("data", (d) => this.onOutput(d));
        socket.on("close", () => {
          this.closed = true;
          if (this.waiting) this.waiting.reject(new Error(`docker exec on ${this.node} closed`));
        });
        socket.on("error", () => {});
        if (head && head.length) this.onOutput(head);
        resolve();
      });
      req.on("response", (res) => reject(new Error(`docker exec start on ${this.node}: HTTP ${res.statusCode}`)));
      req.on("error", reject);
      req.end(JSON.stringify({ Detach: false, Tty: true }));
    });
  }
  send(bytes) {
    this.socket.write(bytes);
  }
  close() {
    return new Promise((resolve) => {
      if (this.closed || !this.socket) return resolve();
      this.socket.once("close", resolve);
      this.socket.write("exit\n");
      setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, 2000);
    });
  }
}

async function terminals() {
  const lab = env("LTB_BENCH_LAB");
  const nodes = env("LTB_BENCH_NODES").split(/\s+/).filter(Boolean);
  const count = Number(env("LTB_BENCH_TERMINALS", "100"));
  const markers = Number(env("LTB_BENCH_MARKERS", "20"));
  const daemon = Number(env("LTB_BENCH_DAEMON_PID", "0"));
  const memory = () => (daemon ? daemonMemory(daemon) : null);
  const before = memory();
  // LTB_BENCH_VIA=docker: the floor, docker exec straight to LTB_BENCH_NODES as containers.
  const direct = env("LTB_BENCH_VIA", "ltb") === "docker";
  const terms = Array.from({ length: count }, (_, i) => new (direct ? DockerTerm : Term)(i, nodes[i % nodes.length], lab));
  const t0 = performance.now();
  try {
    await Promise.all(terms.map((t) => t.open(60000)));
    const opened = performance.now() - t0;
    say(`${count} terminals open in ${(opened / 1000).toFixed(2)} s`);
    // Each shell answers once before any measurement: its prompt is up (output, then quiet for
    // 300 ms), and a command runs (typed again after 5 s without its output, up to 10 times).
    await Promise.all(terms.map((t) => t.ready()));
    const ready = performance.now() - t0;
    say(`all ${count} shells answer after ${(ready / 1000).toFixed(2)} s; typing ${markers} lines each`);
    const times = [];
    const typing = performance.now();
    await Promise.all(
      terms.map(async (t) => {
        await sleep(Math.random() * 300);
        for (let k = 1; k <= markers; k++) {
          times.push(await t.run(`echo m$((${k}+1))x${t.id}`, `m${k + 1}x${t.id}`, 15000));
          await sleep(150 + Math.random() * 300);
        }
      }),
    );
    const typed = (performance.now() - typing) / 1000;
    const open = memory();
    const sessions = new Set(terms.map((t) => t.hello && t.hello.session)).size;
    say(`typed ${times.length} lines in ${typed.toFixed(1)} s; memory while open: ${JSON.stringify(open)}`);
    return {
      terminals: count,
      sessions,
      open_s: Math.round(opened) / 1000,
      ready_s: Math.round(ready) / 1000,
      typing_s: Math.round(typed * 1000) / 1000,
      lines_per_s: Math.round((times.length / typed) * 10) / 10,
      echo: stats(times),
      before,
      open,
    };
  } finally {
    await Promise.all(terms.map((t) => (t.ws || t.socket ? t.close() : undefined)));
  }
}

// --- the web UI's first load

async function load() {
  const { default: puppeteer } = await import("puppeteer-core");
  const runs = Number(env("LTB_BENCH_LOADS", "5"));
  const browser = await puppeteer.launch({
    executablePath: env("CHROMIUM", "/usr/bin/chromium"),
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"],
    defaultViewport: { width: 1400, height: 1000 },
  });
  const times = [];
  const loaded = [];
  let requests = 0;
  let transferred = 0;
  try {
    for (let i = 0; i < runs; i++) {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      await page.setCacheEnabled(false);
      // Records, in the page, when the login form's inputs are first there and enabled (ms since
      // navigation start), by a MutationObserver installed before the page's own scripts run.
      await page.evaluateOnNewDocument(() => {
        const ready = () => {
          const u = document.querySelector('[data-testid="login-user"]');
          const p = document.querySelector('[data-testid="login-password"]');
          return u && p && !u.disabled && !p.disabled;
        };
        const mark = () => {
          if (window.__ltbReady === undefined && ready()) window.__ltbReady = performance.now();
        };
        new MutationObserver(mark).observe(document, { childList: true, subtree: true, attributes: true });
        document.addEventListener("DOMContentLoaded", mark);
      });
      let bytes = 0;
      let n = 0;
      const cdp = await page.createCDPSession();
      await cdp.send("Network.enable");
      cdp.on("Network.loadingFinished", (e) => {
        bytes += e.encodedDataLength;
        n++;
      });
      const errors = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${base}/`, { waitUntil: "domcontentloaded", timeout: 30000 });
      const h = await page.waitForFunction(() => window.__ltbReady, { timeout: 30000, polling: 50 });
      times.push(await h.jsonValue());
      await page.waitForNetworkIdle({ idleTime: 200, timeout: 10000 }).catch(() => {});
      const nav = await page.evaluate(() => {
        const e = performance.getEntriesByType("navigation")[0];
        return e ? e.loadEventEnd : 0;
      });
      loaded.push(nav);
      if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
      requests = n;
      transferred = bytes;
      await context.close();
    }
  } finally {
    await browser.close();
  }
  say(`ready at ${times.map((t) => t.toFixed(0)).join(", ")} ms`);
  return { runs, ready: stats(times), load_event: stats(loaded), requests, transferred_bytes: transferred };
}

const modes = { api, terminals, load };
const mode = process.argv[2];
if (!modes[mode]) {
  console.error(`usage: node bench_web.mjs ${Object.keys(modes).join("|")}`);
  process.exit(2);
}
try {
  console.log(JSON.stringify(await modes[mode]()));
  process.exit(0);
} catch (e) {
  console.error(`bench_web ${mode}: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
}
