import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { errorText } from "./api";

export function fmtBytes(n: number | null | undefined): string {
  if (n == null || !isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function fmtRate(bytesPerSec: number): string {
  const bits = bytesPerSec * 8;
  if (bits < 1000) return `${bits.toFixed(0)} bit/s`;
  if (bits < 1e6) return `${(bits / 1e3).toFixed(1)} kbit/s`;
  if (bits < 1e9) return `${(bits / 1e6).toFixed(1)} Mbit/s`;
  return `${(bits / 1e9).toFixed(2)} Gbit/s`;
}

export function fmtTime(iso: string): string {
  const d = new Date(iso);
  if (isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// A value for <input type=datetime-local> from a Date (local time).
export function toLocalInput(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function stateClass(state: string | null | undefined): string {
  switch (state) {
    case "running":
    case "up":
    case "active":
    case "admitted":
      return "ok";
    case "stopped":
    case "exited":
    case "paused":
    case "pending":
    case "partial":
    case "down":
      return "warn";
    case "missing":
    case "failed":
    case "died":
    case "error":
      return "bad";
    default:
      return "muted";
  }
}

export function StateBadge({ state, testid }: { state: string | null | undefined; testid?: string }) {
  return (
    <span className={`badge ${stateClass(state)}`} data-testid={testid}>
      {state ?? "–"}
    </span>
  );
}

// Loads data with `load`, again when `deps` change and every `intervalMs` when given.
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], intervalMs = 0) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    setLoading(true);
    try {
      const d = await load();
      if (mine === seq.current) {
        setData(d);
        setError(undefined);
      }
    } catch (e) {
      if (mine === seq.current) setError(e);
    } finally {
      if (mine === seq.current) setLoading(false);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    reload();
  }, [reload]);
  useEffect(() => {
    if (intervalMs <= 0) return undefined;
    const t = setInterval(reload, intervalMs);
    return () => clearInterval(t);
  }, [reload, intervalMs]);
  return { data, error, loading, reload };
}

// How often a page that follows the events stream still reloads: a safety net for a change no
// event reported (an event lost while the stream reconnected), not the way pages stay current.
export const k_live_poll_ms = 30000;

// Follows GET v1/events/stream[?lab=LAB]; `onEvent` is called (debounced) for each event. Returns
// whether the stream is open: while it is not, the caller polls.
export function useEventStream(lab: string | undefined, onEvent: () => void): boolean {
  const [open, setOpen] = useState(false);
  const cb = useRef(onEvent);
  cb.current = onEvent;
  useEffect(() => {
    if (typeof EventSource === "undefined") return undefined;
    const url = "v1/events/stream" + (lab ? `?lab=${encodeURIComponent(lab)}` : "");
    let es: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let closed = false;
    const connect = () => {
      es = new EventSource(url, { withCredentials: true });
      es.onopen = () => setOpen(true);
      es.onmessage = () => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => cb.current(), 250);
      };
      // The daemon's own "error" event (the stream's command failed): stop and poll; try again later.
      es.addEventListener("error", (ev) => {
        if ((ev as MessageEvent).data === undefined) return;
        setOpen(false);
        es?.close();
        if (!closed) retry = setTimeout(connect, 60000);
      });
      es.onerror = () => {
        setOpen(false);
        // The browser retries by itself unless the stream was refused; try again later then.
        if (es && es.readyState === EventSource.CLOSED && !closed) {
          retry = setTimeout(connect, 15000);
        }
      };
    };
    connect();
    return () => {
      closed = true;
      if (timer) clearTimeout(timer);
      if (retry) clearTimeout(retry);
      es?.close();
      setOpen(false);
    };
  }, [lab]);
  return open;
}

export function ErrorBox({ error, testid = "error" }: { error: unknown; testid?: string }) {
  if (!error) return null;
  const { message, help } = errorText(error);
  return (
    <div className="error" data-testid={testid} role="alert">
      <pre>{message}</pre>
      {help && <div className="help">help: {help}</div>}
    </div>
  );
}

export function Section({ title, right, children, testid }: { title: ReactNode; right?: ReactNode; children: ReactNode; testid?: string }) {
  return (
    <section className="card" data-testid={testid}>
      <header>
        <h2>{title}</h2>
        <div className="spacer" />
        {right}
      </header>
      {children}
    </section>
  );
}

// A button that runs an async action, shows it runs, and reports a failure through onError.
export function ActionButton({
  run,
  children,
  testid,
  confirm,
  className,
  disabled,
  title,
  onError,
  onDone,
}: {
  run: () => Promise<unknown>;
  children: ReactNode;
  testid?: string;
  confirm?: string;
  className?: string;
  disabled?: boolean;
  title?: string;
  onError?: (e: unknown) => void;
  onDone?: () => void;
}) {
  const [busy, setBusy] = useState(false);
  return (
    <button
      className={className}
      data-testid={testid}
      disabled={busy || disabled}
      title={title}
      aria-busy={busy}
      onClick={async () => {
        if (confirm && !window.confirm(confirm)) return;
        setBusy(true);
        try {
          await run();
          onError?.(undefined);
          onDone?.();
        } catch (e) {
          onError?.(e);
        } finally {
          setBusy(false);
        }
      }}
    >
      {busy ? <span className="spin" /> : null}
      {children}
    </button>
  );
}
