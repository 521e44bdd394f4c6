// The daemon's API (same origin, relative paths so that a prefix in front of the daemon works).
// Every non-GET request carries X-CSRF-Token; any 401 sends the user back to the login page.

export interface Me {
  user: string;
  admin: boolean;
  csrf: string;
}

export class ApiError extends Error {
  status: number;
  help: string;
  retryAfter: number;
  constructor(status: number, message: string, help = "", retryAfter = 0) {
    super(message);
    this.status = status;
    this.help = help;
    this.retryAfter = retryAfter;
  }
}

let csrf = "";
let onUnauthorized: () => void = () => {};

export function setCsrf(token: string) {
  csrf = token;
}
export function setUnauthorizedHandler(f: () => void) {
  onUnauthorized = f;
}

async function errorOf(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  let help = "";
  try {
    const body = await res.json();
    if (body && typeof body.error === "string") message = body.error;
    if (body && typeof body.help === "string") help = body.help;
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, message, help, Number(res.headers.get("Retry-After") || 0));
}

export async function request<T>(method: string, path: string, body?: unknown, quiet401 = false): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (res.status === 401 && !quiet401) onUnauthorized();
  if (!res.ok) throw await errorOf(res);
  const text = await res.text();
  return (text ? JSON.parse(text) : {}) as T;
}

export const get = <T>(path: string) => request<T>("GET", path);

// ---- auth ----------------------------------------------------------------------------------

export async function login(user: string, password: string): Promise<Me> {
  const r = await request<{ user: string; admin: boolean; csrf_token: string }>(
    "POST", "v1/login", { user, password }, true);
  setCsrf(r.csrf_token);
  return { user: r.user, admin: r.admin, csrf: r.csrf_token };
}

export async function whoami(): Promise<Me> {
  const r = await request<{ name: string; admin: boolean; csrf_token: string }>("GET", "v1/whoami", undefined, true);
  setCsrf(r.csrf_token);
  return { user: r.name, admin: r.admin, csrf: r.csrf_token };
}

export async function logout() {
  try {
    await request("POST", "v1/logout", {}, true);
  } finally {
    setCsrf("");
  }
}

// ---- commands ------------------------------------------------------------------------------

export interface InEntry {
  path: string;
  mode: number;
  data: string; // base64
}
export interface FileArg {
  index: number;
  direction: "in" | "out";
  main?: string;
  entries?: InEntry[];
}
export interface CommandResult {
  exit: number;
  stdout: string;
  stderr: string;
  files: { file: number; path: string; data: string }[];
}

export async function runCommand(argv: string[], files: FileArg[] = []): Promise<CommandResult> {
  const r = await request<CommandResult>("POST", "v1/commands", { argv, files });
  return { exit: r.exit, stdout: r.stdout ?? "", stderr: r.stderr ?? "", files: r.files ?? [] };
}

// ltb's own error text: "ltb: error: ...", then "help: ..." lines.
export class CommandError extends Error {
  help: string;
  stderr: string;
  exit: number;
  constructor(r: CommandResult) {
    const lines = r.stderr.split("\n").filter((l) => l.trim() !== "");
    const err = lines.filter((l) => !l.startsWith("help:")).map((l) => l.replace(/^ltb: error: /, ""));
    const help = lines.filter((l) => l.startsWith("help:")).map((l) => l.replace(/^help:\s*/, ""));
    super(err.join("\n") || `ltb exited ${r.exit}`);
    this.help = help.join("\n");
    this.stderr = r.stderr;
    this.exit = r.exit;
  }
}

// Runs a command, throws CommandError unless it exits 0; returns its stdout.
export async function ltb(argv: string[], files: FileArg[] = []): Promise<CommandResult> {
  const r = await runCommand(argv, files);
  if (r.exit !== 0) throw new CommandError(r);
  return r;
}

export async function ltbJson<T>(argv: string[]): Promise<T> {
  const r = await ltb([...argv, "--format", "json"]);
  return JSON.parse(r.stdout) as T;
}

export function errorText(e: unknown): { message: string; help: string } {
  if (e instanceof CommandError || e instanceof ApiError) return { message: e.message, help: e.help };
  if (e instanceof Error) return { message: e.message, help: "" };
  return { message: String(e), help: "" };
}

// ---- files ---------------------------------------------------------------------------------

export function toBase64(buf: ArrayBuffer): string {
  const bytes = new Uint8Array(buf);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

export function fromBase64(b64: string): Uint8Array<ArrayBuffer> {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function saveBytes(name: string, data: Uint8Array<ArrayBuffer>, type = "application/octet-stream") {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
