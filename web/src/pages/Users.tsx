import { Fragment, useState } from "react";
import { ltb, ltbJson } from "../api";
import { useMe } from "../app";
import type { UserList, UserShow } from "../types";
import { ActionButton, ErrorBox, Section, fmtBytes, useLoad } from "../util";

const QUOTAS = ["labs", "nodes", "vcpus", "memory", "disk", "snapshot-disk", "hours-per-week", "longest", "ahead"];
const BYTES = new Set(["memory", "disk", "snapshot-disk"]);
const SECONDS = new Set(["hours-per-week", "longest", "ahead"]);

function fmtSeconds(s: number): string {
  if (s % 86400 === 0 && s >= 86400) return `${s / 86400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}
function fmtQuota(k: string, v: number | null | undefined): string {
  if (v == null) return "unlimited";
  if (BYTES.has(k)) return fmtBytes(v);
  if (SECONDS.has(k)) return fmtSeconds(v);
  return String(v);
}
function quotaText(q: Record<string, number>): string {
  return Object.entries(q).map(([k, v]) => `${k}=${fmtQuota(k, v)}`).join(", ") || "–";
}

function Detail({ name }: { name: string }) {
  const s = useLoad(() => ltbJson<UserShow>(["user", "show", name]), [name]);
  if (s.error) return <ErrorBox error={s.error} />;
  if (!s.data) return <span className="muted">…</span>;
  return (
    <table className="grid small" data-testid={`user-detail-${name}`}>
      <thead>
        <tr><th>Quota</th><th className="num">Used</th><th className="num">Limit</th><th>From</th></tr>
      </thead>
      <tbody>
        {s.data.quotas.map((q) => (
          <tr key={q.name}>
            <td>{q.name}</td>
            <td className="num">{q.usage == null ? "–" : fmtQuota(q.name, q.usage)}</td>
            <td className="num">{fmtQuota(q.name, q.limit)}</td>
            <td>{q.source}</td>
          </tr>
        ))}
        <tr><td colSpan={4} className="muted">role {s.data.role} ({s.data.role_from}) · groups {s.data.groups.join(", ") || "–"} · labs {s.data.labs.join(", ") || "–"}</td></tr>
      </tbody>
    </table>
  );
}

export function Users() {
  const me = useMe();
  const list = useLoad(() => ltbJson<UserList>(["user", "list"]), []);
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const [target, setTarget] = useState("");
  const [isGroup, setIsGroup] = useState(false);
  const [role, setRole] = useState("user");
  const [quota, setQuota] = useState("");
  if (!me.admin) return <div className="card">Only admins manage users.</div>;
  const who = () => (target === "(default)" ? ["--default"] : isGroup ? ["--group", target] : [target]);
  const done = (r: { stdout: string }) => {
    setNotice(r.stdout.trim());
    list.reload();
  };
  return (
    <div data-testid="users-page">
      <Section title="Users and groups" right={<button onClick={() => list.reload()}>Refresh</button>}>
        <ErrorBox error={list.error} />
        <ErrorBox error={error} testid="users-error" />
        {notice && <div className="notice">{notice}</div>}
        <table className="grid" data-testid="users-table">
          <thead>
            <tr><th>Name</th><th>Kind</th><th className="num">Id</th><th>Role</th><th>Quotas</th><th></th></tr>
          </thead>
          <tbody>
            {list.data?.users.map((u) => (
              <Fragment key={u.kind + u.name}>
                <tr data-testid={`user-row-${u.name}`}>
                  <td><b>{u.name}</b></td>
                  <td>{u.kind}</td>
                  <td className="num">{u.id}</td>
                  <td>{u.role}</td>
                  <td className="small">{quotaText(u.quotas)}</td>
                  <td className="actions">
                    {u.kind === "user" && <button className="tiny" onClick={() => setOpen(open === u.name ? null : u.name)}>usage</button>}
                    <button className="tiny" onClick={() => { setTarget(u.name); setIsGroup(u.kind === "group"); setRole(u.role); setQuota(""); }}>edit</button>
                    <ActionButton className="tiny danger" confirm={`Remove ${u.kind} ${u.name} from ltb?`} run={async () => done(await ltb(["user", "rm", ...(u.kind === "group" ? ["--group", u.name] : [u.name])]))} onError={setError}>remove</ActionButton>
                  </td>
                </tr>
                {open === u.name && (
                  <tr key={u.name + "-detail"}><td colSpan={6}><Detail name={u.name} /></td></tr>
                )}
              </Fragment>
            ))}
            <tr>
              <td><b>(default)</b></td>
              <td colSpan={3} className="muted">for everyone without their own or a group's</td>
              <td className="small">{quotaText(list.data?.default_quotas ?? {})}</td>
              <td><button className="tiny" onClick={() => { setTarget("(default)"); setIsGroup(false); setQuota(""); }}>edit</button></td>
            </tr>
          </tbody>
        </table>
      </Section>
      <Section title="Add or change">
        <div className="row" data-testid="user-form">
          <label>
            Unix user or group
            <input value={target} onChange={(e) => setTarget(e.target.value)} data-testid="user-name" />
          </label>
          <label className="inline">
            <input type="checkbox" checked={isGroup} onChange={(e) => setIsGroup(e.target.checked)} /> group
          </label>
          <label>
            Role
            <select value={role} onChange={(e) => setRole(e.target.value)} disabled={target === "(default)"} data-testid="user-role">
              <option>user</option>
              <option>admin</option>
            </select>
          </label>
          <label className="grow">
            Quotas (K=V,…; K= removes one)
            <input className="mono" placeholder="labs=2,memory=4GiB,hours-per-week=10h" value={quota} onChange={(e) => setQuota(e.target.value)} data-testid="user-quota" />
          </label>
          <ActionButton
            className="primary"
            testid="user-add"
            disabled={!target || target === "(default)"}
            run={async () => done(await ltb(["user", "add", ...who(), "--role", role, ...(quota ? ["--quota", quota] : [])]))}
            onError={setError}
          >
            Add
          </ActionButton>
          <ActionButton
            testid="user-set"
            disabled={!target}
            run={async () => done(await ltb(["user", "set", ...who(), ...(target !== "(default)" ? ["--role", role] : []), ...(quota ? ["--quota", quota] : [])]))}
            onError={setError}
          >
            Change
          </ActionButton>
        </div>
        <p className="muted small">
          Quotas: {QUOTAS.join(", ")}. A web password is set on the host: <code>ltb user passwd NAME</code>.
        </p>
      </Section>
    </div>
  );
}
