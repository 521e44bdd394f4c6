// The web terminal's WebSocket (GET /v1/terminal) without a browser, as its owner, another user
// and another site would use it: run by tests/integration/test_web_api.sh.
//   node terminal_api.mjs BASE OWNER_COOKIE OTHER_COOKIE LAB NODE OTHER_LAB
// Checks: a session's hello; its recent output replayed on a reattach, which only its owner may
// do; a read-only watcher by share token whose keys go nowhere; another site's page refused;
// bad queries refused before the upgrade; flow control (no output past 1 MiB unacknowledged,
// the rest once acknowledged); the exit code at the end. Exits non-zero at the first failure.
import WebSocket from "ws";

const [base, ownerCookie, otherCookie, lab, node, otherLab] = process.argv.slice(2);
const wsBase = base.replace(/^http/, "ws");
const fail = (message) => {
  console.error(`terminal_api: FAIL: ${message}`);
  process.exit(1);
};
const log = (message) => console.error(`terminal_api: ${message}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// Opens a terminal WebSocket; resolves with {ws, hello, out()} once the hello came, or rejects
/// with the HTTP status of a refused upgrade.
function open(query, cookie, { origin = base, ack = true } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsBase}/v1/terminal?${query}`, { headers: { Cookie: cookie, Origin: origin } });
    const state = { ws, hello: null, bytes: Buffer.alloc(0), received: 0, exit: null, errors: [] };
    state.out = () => state.bytes.toString("utf8");
    ws.on("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on("error", (e) => reject(e));
    ws.on("message", (data, binary) => {
      if (!binary) {
        const message = JSON.parse(data.toString());
        if (message.type === "hello") {
          state.hello = message;
          resolve(state);
        } else if (message.type === "exit") {
          state.exit = message.code;
        } else if (message.type === "error") {
          state.errors.push(message.error);
        }
        return;
      }
      state.received += data.length;
      state.bytes = Buffer.concat([state.bytes, data]).subarray(-4 * 1024 * 1024);
      // A terminal answers a shell's cursor-position query (busybox ash asks before each prompt
      // and takes keys typed meanwhile for the answer); a watcher's terminal does not type.
      if (state.hello?.mode === "rw" && data.includes("\x1b[6n")) ws.send(Buffer.from("\x1b[1;1R"));
      if (ack) ws.send(JSON.stringify({ type: "ack", bytes: data.length }));
    });
  });
}

async function until(what, predicate, ms = 15000, state = null) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return;
    await sleep(50);
  }
  fail(`timed out waiting for ${what}` + (state ? `; the terminal showed: ${JSON.stringify(state.out().slice(-400))}` : ""));
}

async function refused(query, cookie, status, options) {
  try {
    const state = await open(query, cookie, options);
    state.ws.close();
  } catch (e) {
    if (e.message === `HTTP ${status}`) return;
    fail(`${query}: ${e.message}, not HTTP ${status}`);
  }
  fail(`${query} was not refused (wanted HTTP ${status})`);
}

const owner = await open(`lab=${encodeURIComponent(lab)}&node=${encodeURIComponent(node)}&rows=30&cols=100`, ownerCookie);
if (owner.hello.mode !== "rw" || !/^[0-9a-f]{32}$/.test(owner.hello.session) || !/^[0-9a-f]{32}$/.test(owner.hello.share))
  fail(`hello: ${JSON.stringify(owner.hello)}`);
await until("the shell's prompt", () => /[#$] (\x1b\[6n|\x1b\[J)?$/.test(owner.out()), 15000, owner);
owner.ws.send(Buffer.from("echo ready-$((40+2))\n"));
await until("the shell's output", () => owner.out().includes("ready-42"), 15000, owner);
log("a session opened; its shell answers");

// UTF-8 both ways.
owner.ws.send(Buffer.from("echo 'grüße ✓'\n"));
await until("UTF-8 output", () => /\ngrüße ✓\r?\n/.test(owner.out()));

// Another user: not the owner's session, and no terminal on the owner's lab.
await refused(`session=${owner.hello.session}`, otherCookie, 404);
await refused(`lab=${encodeURIComponent(lab)}&node=${encodeURIComponent(node)}`, otherCookie, 404);
await refused(`session=${"0".repeat(32)}`, ownerCookie, 404);
await refused(`watch=${"0".repeat(32)}`, otherCookie, 404);
// Another site's page, with the owner's cookie.
await refused(`lab=${encodeURIComponent(lab)}&node=${encodeURIComponent(node)}`, ownerCookie, 403, { origin: "http://evil.example" });
// Bad queries.
await refused(`lab=${encodeURIComponent(lab)}`, ownerCookie, 400);
await refused(`lab=${encodeURIComponent(lab)}&node=nosuchnode`, ownerCookie, 404);
await refused(`lab=${encodeURIComponent(lab)}&node=${encodeURIComponent(node)}&bogus=1`, ownerCookie, 400);
if (otherLab) await refused(`lab=${encodeURIComponent(otherLab)}&node=${encodeURIComponent(node)}`, ownerCookie, 404);
log("another user, another site and bad queries are refused");

// A watcher (another user with the share token) sees the output; its keys go nowhere.
const watcher = await open(`watch=${owner.hello.share}`, otherCookie);
if (watcher.hello.mode !== "ro" || watcher.hello.session !== "" || watcher.hello.share !== "")
  fail(`watcher's hello: ${JSON.stringify(watcher.hello)}`);
await until("the watcher's replay", () => watcher.out().includes("ready-42"));
watcher.ws.send(Buffer.from("echo typed-by-watcher > /tmp/watcher-was-here\n"));
await sleep(500);
owner.ws.send(Buffer.from("echo seen-$((6*7)); ls /tmp/watcher-was-here 2>&1 | tail -1\n"));
await until("the watcher to see the owner's output", () => watcher.out().includes("seen-42"));
await until("the owner's output", () => /No such file/.test(owner.out()));
if (owner.out().includes("typed-by-watcher")) fail("the watcher's keys reached the shell");
watcher.ws.close();
log("a watcher sees the output, read-only");

// The owner goes away and comes back: the same shell, its recent output replayed.
owner.ws.send(Buffer.from("export MARK=kept-$((6*7))\n"));
await sleep(300);
owner.ws.close();
await sleep(500);
const again = await open(`session=${owner.hello.session}`, ownerCookie);
if (again.hello.session !== owner.hello.session) fail(`reattach: ${JSON.stringify(again.hello)}`);
await until("the replay after a reattach", () => again.out().includes("ready-42"));
again.ws.send(Buffer.from("echo $MARK\n"));
await until("the same shell after a reattach", () => again.out().includes("\nkept-42"));
log("a reattach finds the same shell and replays its output");
again.ws.close();

// Flow control: without acknowledgements the output stops near 1 MiB; acknowledged, it all comes.
const slow = await open(`session=${owner.hello.session}`, ownerCookie, { ack: false });
await sleep(500);
const before = slow.received;
slow.ws.send(Buffer.from("yes xxxxxxxxxxxxxxx | head -c 3000000; echo; echo flood-$((6*7))\n"));
// Up to the limit (slowly on a busy machine), then nothing more while nothing is acknowledged.
for (const deadline = Date.now() + 30000; Date.now() < deadline && slow.received - before < 900 * 1024; ) await sleep(100);
await sleep(1500);
const held = slow.received - before;
if (held > 1.2 * 1024 * 1024) fail(`${held} bytes came with nothing acknowledged`);
if (held < 900 * 1024) fail(`only ${held} bytes came in 30 s`);
if (slow.out().includes("flood-42")) fail("the whole flood came with nothing acknowledged");
slow.ws.send(JSON.stringify({ type: "ack", bytes: slow.received }));
let acked = slow.received;
slow.ws.on("message", (_d, binary) => {
  if (binary) {
    slow.ws.send(JSON.stringify({ type: "ack", bytes: slow.received - acked }));
    acked = slow.received;
  }
});
await until("the rest of the flood once acknowledged", () => slow.out().includes("flood-42"), 30000);
log(`flow control: ${held} bytes before the acknowledgements, ${slow.received - before} in all`);

// The shell's end is the session's.
slow.ws.send(Buffer.from("exit 3\n"));
await until("the exit message", () => slow.exit !== null);
if (slow.exit !== 3) fail(`exit code ${slow.exit}, not 3`);
slow.ws.close();
await sleep(1500); // the hub drops an ended session once nobody watches (it sweeps every second)
await refused(`session=${owner.hello.session}`, ownerCookie, 404);
log("ok");
process.exit(0);
