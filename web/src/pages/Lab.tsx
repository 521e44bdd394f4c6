import { useCallback, useState } from "react";
import { get, ltb, ltbJson } from "../api";
import { href } from "../app";
import { Topology, impairmentText, resetLayout, type Selection } from "../components/Topology";
import type { Graph, Inspect, InspectNode, LabStatus, LinkRow, Snapshot } from "../types";
import { ActionButton, ErrorBox, Section, StateBadge, fmtTime, k_live_poll_ms, useEventStream, useLoad } from "../util";

function Copy({ text, testid }: { text: string; testid?: string }) {
  const [done, setDone] = useState(false);
  return (
    <span className="copy">
      <code data-testid={testid}>{text}</code>
      <button
        className="tiny"
        title="Copy"
        onClick={async () => {
          try {
            await navigator.clipboard.writeText(text);
            setDone(true);
            setTimeout(() => setDone(false), 1200);
          } catch {
            /* no clipboard over plain http: the text is selectable */
          }
        }}
      >
        {done ? "copied" : "copy"}
      </button>
    </span>
  );
}

function LinkForm({ lab, link, onDone, onError }: { lab: string; link: LinkRow; onDone: () => void; onError: (e: unknown) => void }) {
  const [delay, setDelay] = useState("");
  const [jitter, setJitter] = useState("");
  const [loss, setLoss] = useState("");
  const [rate, setRate] = useState("");
  const [end, setEnd] = useState("both");
  const target = end === "both" ? link.name : end;
  const argv = () => {
    const a = ["link", "set", target, "--lab", lab];
    if (delay) a.push("--delay", /^\d+(\.\d+)?$/.test(delay) ? `${delay}ms` : delay);
    if (jitter) a.push("--jitter", /^\d+(\.\d+)?$/.test(jitter) ? `${jitter}ms` : jitter);
    if (loss) a.push("--loss", /^\d+(\.\d+)?$/.test(loss) ? `${loss}%` : loss);
    if (rate) a.push("--rate", rate);
    return a;
  };
  return (
    <div className="linkform" data-testid={`link-form-${link.name}`}>
      <div className="row">
        <label>
          Direction
          <select value={end} onChange={(e) => setEnd(e.target.value)} data-testid="imp-end">
            <option value="both">both</option>
            <option value={`${link.a.node}:${link.a.interface}`}>leaving {link.a.node}:{link.a.interface}</option>
            <option value={`${link.b.node}:${link.b.interface}`}>leaving {link.b.node}:{link.b.interface}</option>
          </select>
        </label>
        <label>
          Delay
          <input size={6} placeholder="50ms" value={delay} onChange={(e) => setDelay(e.target.value)} data-testid="imp-delay" />
        </label>
        <label>
          Jitter
          <input size={6} placeholder="5ms" value={jitter} onChange={(e) => setJitter(e.target.value)} data-testid="imp-jitter" />
        </label>
        <label>
          Loss
          <input size={5} placeholder="1%" value={loss} onChange={(e) => setLoss(e.target.value)} data-testid="imp-loss" />
        </label>
        <label>
          Rate
          <input size={7} placeholder="10mbit" value={rate} onChange={(e) => setRate(e.target.value)} data-testid="imp-rate" />
        </label>
      </div>
      <div className="row">
        <ActionButton
          className="primary"
          testid="imp-apply"
          disabled={!delay && !jitter && !loss && !rate}
          run={() => ltb(argv())}
          onError={onError}
          onDone={() => {
            setDelay("");
            setJitter("");
            setLoss("");
            setRate("");
            onDone();
          }}
          title="Empty fields keep their value; 0 removes one"
        >
          Apply
        </ActionButton>
        <ActionButton testid="imp-reset" run={() => ltb(["link", "set", target, "--lab", lab, "--reset"])} onError={onError} onDone={onDone} title="Back to the file's impairments">
          Reset to file
        </ActionButton>
        {link.state === "down" ? (
          <ActionButton testid="link-up" run={() => ltb(["link", "up", link.name, "--lab", lab])} onError={onError} onDone={onDone}>
            Plug in (up)
          </ActionButton>
        ) : (
          <ActionButton testid="link-down" run={() => ltb(["link", "down", link.name, "--lab", lab])} onError={onError} onDone={onDone}>
            Pull cable (down)
          </ActionButton>
        )}
      </div>
      <p className="muted small">Empty fields keep their value, 0 removes one. Units: 50ms, 1s; 2%; 10mbit, 1gbit.</p>
    </div>
  );
}

function NodeActions({ lab, node, onDone, onError }: { lab: string; node: string; onDone: () => void; onError: (e: unknown) => void }) {
  return (
    <span className="actions">
      <ActionButton className="tiny" testid={`node-start-${node}`} run={() => ltb(["start", lab, "--node", node])} onDone={onDone} onError={onError}>start</ActionButton>
      <ActionButton className="tiny" testid={`node-stop-${node}`} run={() => ltb(["stop", lab, "--node", node])} onDone={onDone} onError={onError}>stop</ActionButton>
      <ActionButton className="tiny" testid={`node-restart-${node}`} run={() => ltb(["restart", lab, "--node", node])} onDone={onDone} onError={onError}>restart</ActionButton>
      <a className="button tiny" href={href("terminal", lab, node)} target="_blank" rel="noopener" data-testid={`node-term-${node}`}>terminal</a>
    </span>
  );
}

function NodeAccess({ n }: { n: InspectNode }) {
  if (!n.ssh) return <span className="muted">–</span>;
  return (
    <div className="access">
      <Copy text={n.ssh.command} testid={`ssh-cmd-${n.name}`} />
      <span className="muted small" data-testid={`login-${n.name}`}>
        {n.ssh.user}@{n.ssh.host}:{n.ssh.port} · {n.ssh.password ? "password or lab key" : "lab key"}
      </span>
    </div>
  );
}

function Capture({ lab, graph }: { lab: string; graph: Graph }) {
  const targets: string[] = [];
  for (const l of graph.links) targets.push(l.name);
  for (const l of graph.links) for (const e of l.endpoints) targets.push(`${e.node}:${e.interface}`);
  for (const n of graph.nodes) if (n.kind === "ovs-bridge") targets.push(n.name);
  const [target, setTarget] = useState(targets[0] ?? "");
  const [filter, setFilter] = useState("");
  const [count, setCount] = useState("");
  const q = new URLSearchParams({ lab, target });
  if (filter) q.set("filter", filter);
  if (count) q.set("count", count);
  const url = `v1/capture?${q}`;
  return (
    <div className="row" data-testid="capture">
      <label>
        Target
        <select value={target} onChange={(e) => setTarget(e.target.value)} data-testid="capture-target">
          {[...new Set(targets)].map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
      </label>
      <label>
        Filter (BPF)
        <input value={filter} placeholder="proto ospf" onChange={(e) => setFilter(e.target.value)} data-testid="capture-filter" />
      </label>
      <label>
        Packets
        <input size={5} value={count} placeholder="∞" inputMode="numeric" onChange={(e) => setCount(e.target.value.replace(/\D/g, ""))} data-testid="capture-count" />
      </label>
      <a className="button primary" href={url} download={`${lab}-${target.replace(/[^\w.-]/g, "_")}.pcap`} data-testid="capture-download">
        Download pcap
      </a>
      <span className="muted small">
        a growing pcap until the count is reached or the download is cancelled · to Wireshark:{" "}
        <code>ltb capture {target} --lab {lab} | wireshark -k -i -</code>
      </span>
    </div>
  );
}

export function LabPage({ lab }: { lab: string }) {
  const [actionError, setActionError] = useState<unknown>();
  const [selected, setSelected] = useState<Selection>(null);
  const [layoutKey, setLayoutKey] = useState(0);
  const [live, setLive] = useState(false);
  const [snapName, setSnapName] = useState("");
  const [notice, setNotice] = useState("");
  const status = useLoad(() => get<LabStatus>(`v1/labs/${encodeURIComponent(lab)}`), [lab], live ? k_live_poll_ms : 5000);
  const graph = useLoad(() => ltbJson<Graph>(["graph", lab]), [lab], live ? k_live_poll_ms : 5000);
  const links = useLoad(() => ltbJson<{ links: LinkRow[] }>(["link", "list", lab]), [lab], live ? k_live_poll_ms : 5000);
  const inspect = useLoad(() => ltbJson<Inspect>(["inspect", lab]), [lab]);
  const snaps = useLoad(() => ltbJson<{ snapshots: Snapshot[] }>(["snapshot", "list", lab]), [lab]);
  const refresh = useCallback(() => {
    status.reload();
    graph.reload();
    links.reload();
  }, [status.reload, graph.reload, links.reload]);
  const refreshAll = () => {
    refresh();
    inspect.reload();
    snaps.reload();
  };
  const open = useEventStream(lab, refresh);
  if (open !== live) setLive(open);

  const st = status.data;
  const g = graph.data;
  const inspectNode = (name: string) => inspect.data?.nodes.find((n) => n.name === name);
  const linkRow = (name: string) => links.data?.links.find((l) => l.name === name);
  const selLink = selected?.type === "link" ? linkRow(selected.name) : undefined;
  const selNode = selected?.type === "node" ? selected.name : undefined;
  const labAction = (verb: string) => () => ltb([verb, lab]);

  return (
    <div className="lab" data-testid="lab-page">
      <div className="titlebar">
        <h1>
          <a href={href("labs")}>Labs</a> / <span data-testid="lab-name">{lab}</span>
        </h1>
        <StateBadge state={st?.status} testid="lab-status" />
        <span className={`live ${open ? "on" : ""}`} data-testid="lab-live">{open ? "live" : "polling"}</span>
        <span className="spacer" />
        <ActionButton testid="lab-start" run={labAction("start")} onDone={refreshAll} onError={setActionError}>Start</ActionButton>
        <ActionButton testid="lab-stop" run={labAction("stop")} onDone={refreshAll} onError={setActionError}>Stop</ActionButton>
        <ActionButton testid="lab-restart" run={labAction("restart")} onDone={refreshAll} onError={setActionError}>Restart</ActionButton>
        <ActionButton
          className="danger"
          testid="lab-down"
          confirm={`Remove lab ${lab} and everything ltb made for it?`}
          run={() => ltb(["down", "--lab", lab])}
          onDone={() => (window.location.hash = href("labs"))}
          onError={setActionError}
        >
          Remove lab
        </ActionButton>
      </div>
      <ErrorBox error={actionError} testid="action-error" />
      <ErrorBox error={status.error} />
      {notice && <div className="notice" data-testid="notice">{notice}</div>}
      {st && (
        <p className="muted small">
          management <span className="mono">{st.mgmt_subnet}</span> on {st.mgmt_network} · from <span className="mono">{st.source || st.file}</span>
          {st.drift > 0 && <span className="badge warn"> {st.drift} drifted</span>}
          {inspect.data?.confined && <span className="badge muted">confined</span>}
        </p>
      )}

      <div className="split">
        <Section
          title="Topology"
          testid="topology-card"
          right={
            <button
              className="tiny"
              onClick={() => {
                resetLayout(lab);
                setLayoutKey(layoutKey + 1);
              }}
            >
              re-layout
            </button>
          }
        >
          <ErrorBox error={graph.error} />
          <div className="drawing">{g && <Topology key={layoutKey} graph={g} selected={selected} onSelect={setSelected} />}</div>
          <p className="muted small">Click a node or a link; drag nodes to arrange them.</p>
        </Section>
        <Section title={selLink ? `Link ${selLink.name}` : selNode ? `Node ${selNode}` : "Selection"} testid="selection">
          {!selected && <p className="muted">Select a node or a link in the drawing.</p>}
          {selLink && (
            <>
              <table className="kv">
                <tbody>
                  <tr><th>State</th><td><StateBadge state={selLink.state} testid="sel-link-state" /> via {selLink.via}</td></tr>
                  <tr><th>{selLink.a.node}:{selLink.a.interface} →</th><td>{selLink.a.impairments} <span className="muted small">{selLink.a.source}</span></td></tr>
                  <tr><th>{selLink.b.node}:{selLink.b.interface} →</th><td>{selLink.b.impairments} <span className="muted small">{selLink.b.source}</span></td></tr>
                </tbody>
              </table>
              <LinkForm key={selLink.name} lab={lab} link={selLink} onDone={refresh} onError={setActionError} />
            </>
          )}
          {selNode && (() => {
            const n = inspectNode(selNode);
            const gn = g?.nodes.find((x) => x.name === selNode);
            return (
              <>
                <table className="kv">
                  <tbody>
                    <tr><th>Kind</th><td>{gn?.kind} <span className="muted">{gn?.image}</span></td></tr>
                    <tr><th>State</th><td><StateBadge state={gn?.state} /></td></tr>
                    <tr><th>Management</th><td className="mono">{gn?.mgmt_ipv4 || "–"}</td></tr>
                    {n?.device?.running_version && <tr><th>Runs</th><td>{n.device.running_version}</td></tr>}
                    <tr><th>Access</th><td>{n ? <NodeAccess n={n} /> : "…"}</td></tr>
                    <tr>
                      <th>Interfaces</th>
                      <td className="mono small">
                        {n?.interfaces.map((i) => (
                          <div key={i.name}>{i.name} {i.address ?? ""} {i.peer ? `→ ${i.peer}` : i.link === "mgmt" ? "(mgmt)" : ""}</div>
                        ))}
                      </td>
                    </tr>
                  </tbody>
                </table>
                {gn?.kind !== "ovs-bridge" && <NodeActions lab={lab} node={selNode} onDone={refreshAll} onError={setActionError} />}
              </>
            );
          })()}
        </Section>
      </div>

      <Section title="Nodes" testid="nodes-card">
        <table className="grid" data-testid="nodes-table">
          <thead>
            <tr><th>Node</th><th>Kind</th><th>State</th><th>Management</th><th>Access (ssh command, login)</th><th>Actions</th></tr>
          </thead>
          <tbody>
            {st?.nodes.map((n) => {
              const i = inspectNode(n.name);
              return (
                <tr key={n.name} data-testid={`node-row-${n.name}`}>
                  <td><b>{n.name}</b></td>
                  <td>{n.kind} <span className="muted small">{n.image}</span></td>
                  <td><StateBadge state={n.state} testid={`node-state-${n.name}`} /></td>
                  <td className="mono">{n.mgmt_ipv4 || "–"}</td>
                  <td>{i ? <NodeAccess n={i} /> : <span className="muted">…</span>}</td>
                  <td>{n.kind !== "ovs-bridge" && <NodeActions lab={lab} node={n.name} onDone={refreshAll} onError={setActionError} />}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {inspect.data?.access && (
          <p className="muted small">
            ssh config <code>{inspect.data.access.ssh_config}</code> · inventory <code>{inspect.data.access.inventory}</code> (on the host)
          </p>
        )}
      </Section>

      <Section title="Links" testid="links-card">
        <table className="grid" data-testid="links-table">
          <thead>
            <tr><th>Link</th><th>A</th><th>B</th><th>State</th><th>A → B</th><th>B → A</th><th></th></tr>
          </thead>
          <tbody>
            {links.data?.links.map((l) => (
              <tr key={l.name} data-testid={`link-row-${l.name}`} className={selected?.name === l.name ? "selrow" : ""}>
                <td><b>{l.name}</b></td>
                <td className="mono">{l.a.node}:{l.a.interface}</td>
                <td className="mono">{l.b.node}:{l.b.interface}</td>
                <td><StateBadge state={l.state} testid={`link-state-${l.name}`} /></td>
                <td data-testid={`link-imp-a-${l.name}`}>{l.a.impairments}</td>
                <td data-testid={`link-imp-b-${l.name}`}>{l.b.impairments}</td>
                <td><button className="tiny" data-testid={`link-edit-${l.name}`} onClick={() => setSelected({ type: "link", name: l.name })}>edit</button></td>
              </tr>
            ))}
          </tbody>
        </table>
        {g && g.links.some((l) => l.impairments.length) && (
          <p className="muted small">In the drawing: {g.links.filter((l) => l.impairments.length).map((l) => `${l.name}: ${l.impairments.map(impairmentText).join(", ")}`).join(" · ")}</p>
        )}
      </Section>

      <Section title="Capture" testid="capture-card">{g && <Capture lab={lab} graph={g} />}</Section>

      <Section title="Snapshots" testid="snapshots-card">
        <div className="row">
          <input placeholder="name (default: the time)" value={snapName} onChange={(e) => setSnapName(e.target.value)} data-testid="snapshot-name" />
          <ActionButton
            testid="snapshot-create"
            run={async () => {
              const r = await ltb(["snapshot", "create", lab, ...(snapName ? [snapName] : [])]);
              setNotice(r.stdout.trim().split("\n").pop() ?? "snapshot taken");
              setSnapName("");
            }}
            onDone={() => snaps.reload()}
            onError={setActionError}
          >
            Take snapshot
          </ActionButton>
        </div>
        <ErrorBox error={snaps.error} />
        <table className="grid" data-testid="snapshots-table">
          <tbody>
            {snaps.data?.snapshots.map((s) => (
              <tr key={String(s.name)}>
                <td><b>{String(s.name)}</b></td>
                <td>{s.created ? fmtTime(String(s.created)) : ""}</td>
                <td className="muted small">{Object.entries(s).filter(([k]) => !["name", "lab", "created"].includes(k) && typeof s[k] !== "object").map(([k, v]) => `${k} ${v}`).join(" · ")}</td>
              </tr>
            ))}
            {snaps.data?.snapshots.length === 0 && <tr><td className="muted">No snapshots of this lab.</td></tr>}
          </tbody>
        </table>
      </Section>
    </div>
  );
}
