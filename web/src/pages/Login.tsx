import { useEffect, useState } from "react";
import { ApiError, login, type Me } from "../api";
import { ErrorBox } from "../util";

export function Login({ onLogin }: { onLogin: (me: Me) => void }) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [wait, setWait] = useState(0);
  useEffect(() => {
    if (wait <= 0) return undefined;
    const t = setTimeout(() => setWait(wait - 1), 1000);
    return () => clearTimeout(t);
  }, [wait]);
  const submit = async (ev: React.FormEvent) => {
    ev.preventDefault();
    setBusy(true);
    try {
      onLogin(await login(user, password));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        setError(new Error("Wrong user name or password."));
      } else if (e instanceof ApiError && e.status === 429) {
        setWait(e.retryAfter || 30);
        setError(new Error("Too many attempts."));
      } else {
        setError(e);
      }
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="login">
      <form onSubmit={submit} data-testid="login-form">
        <h1>ltb</h1>
        <p className="muted">lab topology builder</p>
        <label>
          User
          <input autoFocus autoComplete="username" value={user} onChange={(e) => setUser(e.target.value)} data-testid="login-user" required />
        </label>
        <label>
          Password
          <input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} data-testid="login-password" required />
        </label>
        <button type="submit" className="primary" disabled={busy || wait > 0} data-testid="login-submit">
          {wait > 0 ? `Wait ${wait} s` : "Log in"}
        </button>
        <ErrorBox error={error} testid="login-error" />
      </form>
    </div>
  );
}
