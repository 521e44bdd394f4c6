import { useEffect, useRef, useState } from "react";
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import { href } from "../app";

// A node's shell over GET v1/terminal (WebSocket). Output arrives as binary messages and is acked
// once xterm has written it (the server pauses beyond 1 MiB unacknowledged); keystrokes go as
// UTF-8 bytes; the size follows the window. The session id is kept in sessionStorage so that a
// reload of this tab reattaches (the server replays recent output) within its grace period.

type Status = "connecting" | "open" | "reattached" | "closed" | "exited" | "error";

const ACK_EVERY = 64 * 1024;

function wsUrl(q: string): string {
  const u = new URL("v1/terminal?" + q, window.location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.hash = "";
  return u.toString();
}

export default function TerminalPage({ lab, node, watch }: { lab?: string; node?: string; watch?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<Status>("connecting");
  const [info, setInfo] = useState<{ session?: string; share?: string; mode?: string; via?: string }>({});
  const [message, setMessage] = useState("");
  const [showShare, setShowShare] = useState(false);
  const [generation, setGeneration] = useState(0);
  const key = lab && node ? `ltb.term.${lab}.${node}` : "";
  const readOnly = !!watch;

  useEffect(() => {
    document.title = watch ? "ltb watch" : `${node} · ${lab} · ltb`;
    const term = new Terminal({
      cursorBlink: !readOnly,
      disableStdin: readOnly,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace',
      fontSize: 14,
      scrollback: 5000,
      allowProposedApi: false,
      theme: { background: "#111418" },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(box.current!);
    fit.fit();
    (window as unknown as { ltbTerm: Terminal }).ltbTerm = term; // for tests and the console

    const saved = key ? sessionStorage.getItem(key) : null;
    const query = watch
      ? `watch=${encodeURIComponent(watch)}`
      : saved
        ? `session=${encodeURIComponent(saved)}`
        : `lab=${encodeURIComponent(lab ?? "")}&node=${encodeURIComponent(node ?? "")}`;
    let ws: WebSocket;
    let closedByUs = false;
    let unacked = 0;
    let ackTimer: ReturnType<typeof setTimeout> | undefined;
    const enc = new TextEncoder();

    const sendText = (o: unknown) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(o));
    };
    const flushAck = () => {
      if (ackTimer) clearTimeout(ackTimer);
      ackTimer = undefined;
      if (unacked > 0) {
        sendText({ type: "ack", bytes: unacked });
        unacked = 0;
      }
    };
    const sendSize = () => sendText({ type: "resize", rows: term.rows, cols: term.cols });

    const connect = (q: string, reattaching: boolean) => {
      setStatus("connecting");
      const sock = new WebSocket(wsUrl(q));
      ws = sock;
      sock.binaryType = "arraybuffer";
      let hello = false;
      sock.onmessage = (ev) => {
        if (sock !== ws) return;
        if (typeof ev.data === "string") {
          let m: { type: string; [k: string]: unknown };
          try {
            m = JSON.parse(ev.data);
          } catch {
            return;
          }
          if (m.type === "hello") {
            hello = true;
            setInfo({ session: m.session as string, share: m.share as string, mode: m.mode as string, via: m.via as string });
            if (key && m.session) sessionStorage.setItem(key, String(m.session));
            setStatus(reattaching ? "reattached" : "open");
            if (!readOnly) sendSize();
            term.focus();
          } else if (m.type === "exit") {
            setStatus("exited");
            setMessage(`exited with code ${m.code}`);
            if (key) sessionStorage.removeItem(key);
            term.write(`\r\n\x1b[2m[exited with code ${m.code}]\x1b[0m\r\n`);
          } else if (m.type === "error") {
            // A session to reattach that is gone: start a new one instead.
            if (reattaching && !hello) {
              if (key) sessionStorage.removeItem(key);
              connect(`lab=${encodeURIComponent(lab ?? "")}&node=${encodeURIComponent(node ?? "")}`, false);
              sock.close();
              return;
            }
            setStatus("error");
            setMessage(`${m.error}${m.help ? `\nhelp: ${m.help}` : ""}`);
          }
          return;
        }
        const bytes = new Uint8Array(ev.data as ArrayBuffer);
        term.write(bytes, () => {
          unacked += bytes.length;
          if (unacked >= ACK_EVERY) flushAck();
          else if (!ackTimer) ackTimer = setTimeout(flushAck, 20);
        });
      };
      sock.onclose = (ev) => {
        if (closedByUs || sock !== ws) return;
        // A reattach refused before its hello (expired session, HTTP error): start afresh once.
        if (reattaching && !hello && !watch) {
          if (key) sessionStorage.removeItem(key);
          connect(`lab=${encodeURIComponent(lab ?? "")}&node=${encodeURIComponent(node ?? "")}`, false);
          return;
        }
        setStatus((s) => (s === "exited" || s === "error" ? s : "closed"));
        if (!hello) setMessage((m) => m || `the terminal could not be opened (${ev.code}${ev.reason ? " " + ev.reason : ""})`);
      };
    };
    connect(query, !!saved);

    const dataSub = term.onData((s) => {
      if (!readOnly && ws.readyState === WebSocket.OPEN) ws.send(enc.encode(s));
    });
    const binSub = term.onBinary((s) => {
      if (readOnly || ws.readyState !== WebSocket.OPEN) return;
      const b = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
      ws.send(b);
    });
    const resizeSub = term.onResize(() => {
      if (!readOnly) sendSize();
    });
    let fitTimer: ReturnType<typeof setTimeout> | undefined;
    const ro = new ResizeObserver(() => {
      if (fitTimer) clearTimeout(fitTimer);
      fitTimer = setTimeout(() => fit.fit(), 50);
    });
    ro.observe(box.current!);

    return () => {
      closedByUs = true;
      ro.disconnect();
      dataSub.dispose();
      binSub.dispose();
      resizeSub.dispose();
      flushAck();
      ws.close();
      term.dispose();
    };
  }, [lab, node, watch, generation]);

  const watchLink = info.share ? `${window.location.origin}${window.location.pathname}${href("watch", info.share)}` : "";
  return (
    <div className="termpage" data-testid="terminal-page">
      <div className="termbar">
        <a href={lab ? href("labs", lab) : href("labs")}>← {lab ?? "labs"}</a>
        <b>{watch ? "watching a shared terminal (read-only)" : `${node} @ ${lab}`}</b>
        <span className={`badge ${status === "open" || status === "reattached" ? "ok" : status === "connecting" ? "muted" : "bad"}`} data-testid="term-status">
          {status}
        </span>
        {info.via && <span className="muted small">via {info.via}</span>}
        {info.mode && <span className="muted small" data-testid="term-mode">{info.mode}</span>}
        <span className="spacer" />
        {!watch && info.share && (
          <button data-testid="term-share" onClick={() => setShowShare(!showShare)}>
            Share read-only
          </button>
        )}
        {(status === "closed" || status === "exited" || status === "error") && !watch && (
          <button
            data-testid="term-new"
            onClick={() => {
              if (key) sessionStorage.removeItem(key);
              setMessage("");
              setGeneration(generation + 1);
            }}
          >
            New session
          </button>
        )}
      </div>
      {showShare && watchLink && (
        <div className="notice">
          Anyone logged in with this link watches this terminal (read-only):{" "}
          <input readOnly className="mono grow" value={watchLink} onFocus={(e) => e.target.select()} data-testid="term-watch-link" size={60} />
        </div>
      )}
      {message && <div className={status === "exited" ? "notice" : "error"} data-testid="term-message"><pre>{message}</pre></div>}
      <div className="term" ref={box} data-testid="terminal" />
    </div>
  );
}
