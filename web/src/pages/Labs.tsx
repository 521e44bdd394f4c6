import { get } from "../api";
import { href, useMe } from "../app";
import type { LabList } from "../types";
import { ErrorBox, Section, StateBadge, k_live_poll_ms, useEventStream, useLoad } from "../util";
import { useState } from "react";

export function Labs() {
  const me = useMe();
  const [all, setAll] = useState(false);
  const path = "v1/labs" + (all ? "?all=1" : "");
  const [live, setLive] = useState(false);
  // Polling every 5 s only while the event stream is not open.
  const { data, error, reload, loading } = useLoad(() => get<LabList>(path), [path], live ? k_live_poll_ms : 5000);
  const open = useEventStream(undefined, () => reload());
  if (open !== live) setLive(open);
  return (
    <Section
      title="Labs"
      testid="labs-page"
      right={
        <>
          <span className={`live ${open ? "on" : ""}`} data-testid="labs-live" title={open ? "following the event stream" : "polling every 5 s"}>
            {open ? "live" : "polling"}
          </span>
          {me.admin && (
            <label className="inline">
              <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> every user's
            </label>
          )}
          <button onClick={() => reload()} disabled={loading}>Refresh</button>
        </>
      }
    >
      <ErrorBox error={error} />
      <table className="grid" data-testid="labs-table">
        <thead>
          <tr>
            <th>Lab</th>
            <th>Status</th>
            <th>Owner</th>
            <th className="num">Containers</th>
            <th className="num">Bridges</th>
            <th>Management</th>
            <th>From</th>
          </tr>
        </thead>
        <tbody>
          {data?.labs.map((l) => (
            <tr key={`${l.owner}/${l.name}`} data-testid={`lab-row-${l.name}`}>
              <td>
                <a href={href("labs", l.name)} data-testid={`lab-link-${l.name}`}>{l.name}</a>
              </td>
              <td><StateBadge state={l.status} testid={`lab-status-${l.name}`} /></td>
              <td>{l.owner}</td>
              <td className="num">{l.containers_running}/{l.containers}</td>
              <td className="num">{l.bridges}</td>
              <td className="mono">{l.mgmt_subnet}</td>
              <td className="mono small" title={l.file}>{l.source || l.file}</td>
            </tr>
          ))}
          {data && data.labs.length === 0 && (
            <tr>
              <td colSpan={7} className="muted" data-testid="labs-empty">
                No labs. Deploy one from <a href={href("templates")}>Templates</a>.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {data && data.hidden > 0 && <p className="muted small">{data.hidden} labs of other users not shown.</p>}
    </Section>
  );
}
