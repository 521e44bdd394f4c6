import { useState } from "react";
import { CommandError, errorText, get, ltb, ltbJson, runCommand, toBase64 } from "../api";
import type { ConfigList, LabList, Reservation, Template, Top } from "../types";
import { ActionButton, ErrorBox, Section, StateBadge, fmtBytes, fmtTime, toLocalInput, useLoad } from "../util";

// A time for ltb: `+1h`, `now` and ISO texts as typed; a value of the date picker (local time in
// the browser) as UTC, since ltb reads a time without an offset in the host's zone.
function timeArg(s: string): string {
  const t = s.trim();
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(t)) {
    const d = new Date(t);
    if (!isNaN(d.getTime())) return d.toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  return t;
}

interface Answer {
  ok: boolean;
  text: string;
  help: string;
  proposal?: string;
}

function answerOf(e: unknown): Answer {
  const { message, help } = errorText(e);
  const proposal = (e instanceof CommandError ? e.stderr : help).match(/--start (\S+)/)?.[1];
  return { ok: false, text: message, help, proposal };
}

const HOUR = 3600e3;

function Calendar({
  reservations,
  capacity,
  openLabs,
  spanHours,
  selected,
  onSelect,
}: {
  reservations: Reservation[];
  capacity: ConfigList["capacity"];
  openLabs: { lab: string; cpus: number; memory: number }[];
  spanHours: number;
  selected: number | null;
  onSelect: (id: number) => void;
}) {
  const now = Date.now();
  const t0 = now - HOUR;
  const t1 = now + spanHours * HOUR;
  const W = 1000, chartH = 120, laneH = 18, left = 44, right = 8;
  const live = reservations.filter((r) => ["pending", "active", "starting"].includes(r.state) || new Date(r.end).getTime() > now);
  const x = (t: number) => left + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * (W - left - right);
  // Booked vCPU and memory over time: a step function over the reservations' edges.
  const base = openLabs.reduce((a, l) => ({ cpus: a.cpus + l.cpus, memory: a.memory + l.memory }), { cpus: 0, memory: 0 });
  const edges = new Set<number>([t0, t1]);
  for (const r of live) {
    edges.add(Math.max(t0, new Date(r.start).getTime()));
    edges.add(Math.min(t1, new Date(r.end).getTime()));
  }
  const ts = [...edges].filter((t) => t >= t0 && t <= t1).sort((a, b) => a - b);
  const steps = ts.slice(0, -1).map((t, i) => {
    let cpus = base.cpus, memory = base.memory;
    for (const r of live) {
      const s = new Date(r.start).getTime(), e = new Date(r.end).getTime();
      if (s <= t && t < e) {
        cpus += r.demand.cpus;
        memory += r.demand.memory_bytes;
      }
    }
    return { from: t, to: ts[i + 1], cpus, memory };
  });
  const maxCpu = Math.max(capacity.cpus, ...steps.map((s) => s.cpus)) * 1.1 || 1;
  const y = (v: number) => chartH - (v / maxCpu) * (chartH - 10);
  const ticks: number[] = [];
  const tickStep = spanHours <= 24 ? 3 * HOUR : spanHours <= 72 ? 12 * HOUR : 24 * HOUR;
  for (let t = Math.ceil(t0 / tickStep) * tickStep; t < t1; t += tickStep) ticks.push(t);
  const lanes = live.sort((a, b) => a.start.localeCompare(b.start));
  const H = chartH + 24 + lanes.length * (laneH + 3) + 6;
  const capY = y(capacity.cpus);
  return (
    <svg className="calendar" viewBox={`0 0 ${W} ${H}`} width="100%" data-testid="calendar">
      {ticks.map((t) => (
        <g key={t}>
          <line x1={x(t)} x2={x(t)} y1={0} y2={H} className="grid" />
          <text x={x(t) + 3} y={chartH + 14} className="axis">
            {new Date(t).toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" })}
          </text>
        </g>
      ))}
      {steps.map((s, i) => (
        <rect key={i} x={x(s.from)} width={Math.max(0, x(s.to) - x(s.from))} y={y(s.cpus)} height={chartH - y(s.cpus)} className={s.cpus > capacity.cpus ? "booked over" : "booked"}>
          <title>{`${fmtTime(new Date(s.from).toISOString())} – ${fmtTime(new Date(s.to).toISOString())}: ${s.cpus} of ${capacity.cpus} vCPU, ${fmtBytes(s.memory)} of ${fmtBytes(capacity.memory_bytes)}`}</title>
        </rect>
      ))}
      <line x1={left} x2={W - right} y1={capY} y2={capY} className="capacity" />
      <text x={left + 4} y={capY - 3} className="axis">capacity {capacity.cpus} vCPU</text>
      <text x={2} y={y(0)} className="axis">0</text>
      <line x1={x(now)} x2={x(now)} y1={0} y2={H} className="now" />
      {lanes.map((r, i) => {
        const yy = chartH + 22 + i * (laneH + 3);
        const s = new Date(r.start).getTime(), e = new Date(r.end).getTime();
        return (
          <g key={r.id} className={`lane ${selected === r.id ? "sel" : ""}`} onClick={() => onSelect(r.id)} data-testid={`cal-res-${r.id}`}>
            <rect x={x(s)} y={yy} width={Math.max(2, x(e) - x(s))} height={laneH} rx={3} className={`bar ${r.state}`} />
            <text x={Math.max(x(s), left) + 4} y={yy + 13} className="barlabel">
              #{r.id} {r.lab} · {r.demand.cpus} vCPU
            </text>
            <title>{`#${r.id} ${r.lab} (${r.owner}) ${fmtTime(r.start)} – ${fmtTime(r.end)}, ${r.state}`}</title>
          </g>
        );
      })}
    </svg>
  );
}

function Edit({ r, onDone }: { r: Reservation; onDone: () => void }) {
  const [start, setStart] = useState("");
  const [end, setEnd] = useState("");
  const [dur, setDur] = useState("");
  const [answer, setAnswer] = useState<Answer | null>(null);
  const submit = async () => {
    const argv = ["reserve", "update", String(r.id)];
    if (start) argv.push("--start", timeArg(start));
    if (end) argv.push("--end", timeArg(end));
    if (dur) argv.push("--for", dur);
    try {
      const out = await ltb(argv);
      setAnswer({ ok: true, text: out.stdout.trim(), help: "" });
      onDone();
    } catch (e) {
      setAnswer(answerOf(e));
    }
  };
  return (
    <div className="row" data-testid="res-edit">
      <b>#{r.id} {r.lab}</b>
      <label>
        Start
        <input size={18} placeholder={fmtTime(r.start)} value={start} onChange={(e) => setStart(e.target.value)} disabled={r.state === "active"} data-testid="edit-start" />
      </label>
      <label>
        End
        <input size={18} placeholder={fmtTime(r.end)} value={end} onChange={(e) => setEnd(e.target.value)} data-testid="edit-end" />
      </label>
      <label>
        or length
        <input size={6} placeholder="2h" value={dur} onChange={(e) => setDur(e.target.value)} data-testid="edit-for" />
      </label>
      <ActionButton className="primary" testid="edit-submit" disabled={!start && !end && !dur} run={submit}>Change</ActionButton>
      <ActionButton className="danger" testid="res-delete" confirm={`Cancel reservation ${r.id}${r.state === "active" ? " and remove its lab" : ""}?`} run={() => ltb(["reserve", "delete", String(r.id), "--yes"])} onDone={onDone} onError={(e) => e && setAnswer(answerOf(e))}>
        Delete
      </ActionButton>
      {answer && <AnswerBox a={answer} />}
    </div>
  );
}

function AnswerBox({ a, onProposal }: { a: Answer; onProposal?: (s: string) => void }) {
  return (
    <div className={a.ok ? "notice" : "error"} data-testid={a.ok ? "res-admitted" : "res-refused"}>
      <pre>{a.text}</pre>
      {a.help && <div className="help">help: {a.help}</div>}
      {a.proposal && (
        <div>
          Proposed start: <b data-testid="res-proposal">{fmtTime(a.proposal)}</b>{" "}
          {onProposal && (
            <button className="primary tiny" data-testid="res-book-proposal" onClick={() => onProposal(a.proposal!)}>
              Book at the proposed start
            </button>
          )}
        </div>
      )}
    </div>
  );
}

export function Reservations() {
  const [all, setAll] = useState(false);
  const [span, setSpan] = useState(48);
  const [selected, setSelected] = useState<number | null>(null);
  const list = useLoad(() => ltbJson<Reservation[]>(["reserve", "list", ...(all ? ["--all"] : [])]), [all], 30000);
  const config = useLoad(() => ltbJson<ConfigList>(["config", "list"]), []);
  const templates = useLoad(() => ltbJson<Template[]>(["template", "list"]), []);
  const top = useLoad(() => get<Top>("v1/top").catch(() => null), []);
  const labs = useLoad(() => get<LabList>("v1/labs").catch(() => null), []);
  const [tpl, setTpl] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [lab, setLab] = useState("");
  const [start, setStart] = useState("+1h");
  const [dur, setDur] = useState("1h");
  const [count, setCount] = useState("1");
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [busy, setBusy] = useState(false);

  const create = async (startAt: string) => {
    setBusy(true);
    setAnswer(null);
    try {
      const argv = ["reserve", "create"];
      const files = [];
      const template = tpl || (!file ? templates.data?.[0]?.name ?? "" : "");
      if (file) {
        argv.push(file.name);
        files.push({ index: argv.length - 1, direction: "in" as const, main: file.name, entries: [{ path: file.name, mode: 0o644, data: toBase64(await file.arrayBuffer()) }] });
      } else {
        argv.push("--template", template);
      }
      argv.push("--start", timeArg(startAt), "--for", dur);
      if (lab) argv.push("--lab", lab);
      if (count && count !== "1") argv.push("--count", count);
      const r = await runCommand(argv, files);
      if (r.exit !== 0) setAnswer(answerOf(new CommandError(r)));
      else setAnswer({ ok: true, text: r.stdout.trim(), help: r.stderr.trim() });
      list.reload();
    } catch (e) {
      setAnswer(answerOf(e));
    } finally {
      setBusy(false);
    }
  };

  const res = list.data ?? [];
  const sel = res.find((r) => r.id === selected);
  // Labs running without a reservation count with an open end (from GET v1/top when it answers).
  // Without GET v1/top, a running lab's demand is estimated from its containers and the
  // container-cpus and container-memory settings.
  const setting = (n: string) => Number(config.data?.settings.find((x) => x.name === n)?.value ?? 0);
  const openLabs = top.data
    ? top.data.labs
        .filter((l) => !res.some((r) => r.lab === l.lab && r.state === "active"))
        .map((l) => ({ lab: l.lab, cpus: l.reserved_cpus, memory: l.reserved_memory_bytes }))
    : (labs.data?.labs ?? [])
        .filter((l) => !l.reservation && l.status !== "stopped")
        .map((l) => ({ lab: l.name, cpus: l.containers * setting("container-cpus"), memory: l.containers * setting("container-memory") }));

  return (
    <div data-testid="reservations-page">
      <Section
        title="Host capacity over time"
        right={
          <>
            <select value={span} onChange={(e) => setSpan(Number(e.target.value))} data-testid="cal-span">
              <option value={24}>24 h</option>
              <option value={48}>48 h</option>
              <option value={168}>7 days</option>
              <option value={720}>30 days</option>
            </select>
            <label className="inline">
              <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> with ended
            </label>
            <button onClick={() => list.reload()}>Refresh</button>
          </>
        }
      >
        <ErrorBox error={list.error || config.error} />
        {config.data && <Calendar reservations={res} capacity={config.data.capacity} openLabs={openLabs} spanHours={span} selected={selected} onSelect={setSelected} />}
        {config.data && (
          <p className="muted small">
            Capacity {config.data.capacity.cpus} vCPU, {fmtBytes(config.data.capacity.memory_bytes)} memory, {fmtBytes(config.data.capacity.disk_bytes)} disk (host {config.data.measured.cpus} CPUs × overcommit).
            {openLabs.length > 0 && ` Labs without a reservation count from now on with an open end: ${openLabs.map((l) => l.lab).join(", ")}.`}
          </p>
        )}
      </Section>
      <Section title="Book">
        <div className="row" data-testid="res-create">
          <label>
            Template
            <select value={tpl} onChange={(e) => setTpl(e.target.value)} data-testid="res-template" disabled={!!file}>
              {templates.data?.map((t) => (
                <option key={t.name} value={t.name}>{t.name} @{t.latest}</option>
              ))}
            </select>
          </label>
          <label>
            or a file
            <input type="file" accept=".yaml,.yml" onChange={(e) => setFile(e.target.files?.[0] ?? null)} data-testid="res-file" />
          </label>
          <label>
            Lab
            <input size={12} value={lab} placeholder="topology's name" onChange={(e) => setLab(e.target.value)} data-testid="res-lab" />
          </label>
          <label>
            Start
            <input size={16} value={start} onChange={(e) => setStart(e.target.value)} data-testid="res-start" title="+30m, +2h, now, or 2026-05-14T09:00 (host time)" />
          </label>
          <label>
            pick
            <input type="datetime-local" value="" onChange={(e) => e.target.value && setStart(e.target.value)} min={toLocalInput(new Date())} />
          </label>
          <label>
            For
            <input size={6} value={dur} onChange={(e) => setDur(e.target.value)} data-testid="res-for" title="90m, 2h, 1h30m, 1d" />
          </label>
          <label>
            Count
            <input size={3} value={count} onChange={(e) => setCount(e.target.value.replace(/\D/g, ""))} data-testid="res-count" />
          </label>
          <button className="primary" disabled={busy} onClick={() => create(start)} data-testid="res-submit">
            {busy && <span className="spin" />}Reserve
          </button>
        </div>
        {answer && (
          <AnswerBox
            a={answer}
            onProposal={(p) => {
              setStart(p);
              create(p);
            }}
          />
        )}
      </Section>
      <Section title="Reservations">
        <table className="grid" data-testid="res-table">
          <thead>
            <tr><th>#</th><th>Lab</th><th>Owner</th><th>State</th><th>Start</th><th>End</th><th className="num">vCPU</th><th className="num">Memory</th><th>Source</th><th>Note</th><th></th></tr>
          </thead>
          <tbody>
            {res.map((r) => (
              <tr key={r.id} data-testid={`res-row-${r.id}`} className={selected === r.id ? "selrow" : ""}>
                <td>{r.id}</td>
                <td><b>{r.lab}</b></td>
                <td>{r.owner}</td>
                <td><StateBadge state={r.state} /></td>
                <td>{fmtTime(r.start)}</td>
                <td>{fmtTime(r.end)}</td>
                <td className="num">{r.demand.cpus}</td>
                <td className="num">{fmtBytes(r.demand.memory_bytes)}</td>
                <td className="small mono">{r.source}</td>
                <td className="small">{r.reason}</td>
                <td><button className="tiny" onClick={() => setSelected(r.id)} data-testid={`res-select-${r.id}`}>change</button></td>
              </tr>
            ))}
            {list.data?.length === 0 && <tr><td colSpan={11} className="muted">No reservations.</td></tr>}
          </tbody>
        </table>
        {sel && <Edit key={sel.id} r={sel} onDone={() => list.reload()} />}
      </Section>
    </div>
  );
}
