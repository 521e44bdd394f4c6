import { useEffect, useRef, useState } from "react";
import { get } from "../api";
import { Chart, type Series } from "../components/Chart";
import type { CpuSeconds, Top } from "../types";
import { ErrorBox, Section, StateBadge, fmtBytes, fmtRate } from "../util";

// Polls GET v1/top every 5 s and keeps the last 10 minutes; rates come from two samples.
const KEEP = 120;

const busy = (c: CpuSeconds) => c.user + c.nice + c.system + c.irq + c.softirq + c.steal;
const total = (c: CpuSeconds) => busy(c) + c.idle + c.iowait;

function nodeKey(n: { lab: string; node: string }) {
  return `${n.lab}/${n.node}`;
}

export function Usage() {
  const [samples, setSamples] = useState<Top[]>([]);
  const [error, setError] = useState<unknown>();
  const [lab, setLab] = useState("");
  const labRef = useRef(lab);
  labRef.current = lab;
  useEffect(() => {
    setSamples([]);
    let stop = false;
    const tick = async () => {
      try {
        const t = await get<Top>("v1/top" + (labRef.current ? `?lab=${encodeURIComponent(labRef.current)}` : ""));
        if (!stop) {
          setSamples((s) => [...s.slice(-KEEP + 1), t]);
          setError(undefined);
        }
      } catch (e) {
        if (!stop) setError(e);
      }
    };
    tick();
    const timer = setInterval(tick, 5000);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, [lab]);

  const last = samples[samples.length - 1];
  const pairs = samples.slice(1).map((s, i) => [samples[i], s] as const);

  // Host: CPU % of all CPUs, memory used.
  const cpuSeries: Series[] = [
    {
      name: "host CPU %",
      points: pairs.map(([a, b]) => {
        const dt = total(b.host.cpu_seconds_total) - total(a.host.cpu_seconds_total);
        const db = busy(b.host.cpu_seconds_total) - busy(a.host.cpu_seconds_total);
        return [b.time, dt > 0 ? (100 * db) / dt : 0] as [number, number];
      }),
    },
  ];
  const memSeries: Series[] = [
    { name: "host memory used", points: samples.map((s) => [s.time, s.host.memory_total_bytes - s.host.memory_available_bytes]) },
  ];

  // Per lab: CPU cores (sum of node rates), memory, network (sum over interfaces, both ways).
  const labs = [...new Set(samples.flatMap((s) => s.nodes.map((n) => n.lab)))].sort();
  const perLab = (f: (a: Top, b: Top, lab: string) => number): Series[] =>
    labs.map((l) => ({ name: l, points: pairs.map(([a, b]) => [b.time, f(a, b, l)] as [number, number]) }));
  const rate = (a: Top, b: Top, pick: (n: Top["nodes"][number]) => number, lab?: string, node?: string) => {
    const dt = b.time - a.time;
    if (dt <= 0) return 0;
    const before = new Map(a.nodes.map((n) => [nodeKey(n), n]));
    let sum = 0;
    for (const n of b.nodes) {
      if (lab && n.lab !== lab) continue;
      if (node && n.node !== node) continue;
      const p = before.get(nodeKey(n));
      if (p) sum += Math.max(0, pick(n) - pick(p));
    }
    return sum / dt;
  };
  const netBytes = (n: Top["nodes"][number]) => n.interfaces.reduce((s, i) => s + i.receive_bytes_total + i.transmit_bytes_total, 0);
  const labCpu = perLab((a, b, l) => rate(a, b, (n) => n.cpu_seconds_total, l));
  const labMem = labs.map((l) => ({
    name: l,
    points: samples.map((s) => [s.time, s.nodes.filter((n) => n.lab === l).reduce((x, n) => x + n.memory_working_set_bytes, 0)] as [number, number]),
  }));
  const labNet = perLab((a, b, l) => rate(a, b, netBytes, l));
  const prev = samples[samples.length - 2];

  return (
    <div data-testid="usage-page">
      <ErrorBox error={error} />
      <div className="row">
        <label>
          Lab
          <select value={lab} onChange={(e) => setLab(e.target.value)} data-testid="usage-lab">
            <option value="">every lab</option>
            {labs.map((l) => (
              <option key={l}>{l}</option>
            ))}
          </select>
        </label>
        <span className="muted small">every 5 s · {samples.length} samples</span>
      </div>
      <div className="cards3">
        <Section title={`Host CPU (${last?.host.cpus ?? "?"} CPUs)`} testid="usage-host-cpu">
          <Chart series={cpuSeries} max={100} format={(v) => `${v.toFixed(0)}%`} />
        </Section>
        <Section title={`Host memory (${fmtBytes(last?.host.memory_total_bytes)})`} testid="usage-host-mem">
          <Chart series={memSeries} max={last?.host.memory_total_bytes} format={fmtBytes} />
        </Section>
        <Section title="Disks" testid="usage-disks">
          {last?.host.disks.map((d) => {
            const used = d.size_bytes - d.available_bytes;
            const pct = d.size_bytes ? (100 * used) / d.size_bytes : 0;
            return (
              <div key={d.path} className="meter">
                <span className="mono small">{d.path}</span>
                <div className="bar"><div style={{ width: `${pct}%` }} className={pct > 90 ? "bad" : pct > 75 ? "warn" : "ok"} /></div>
                <span className="small">{fmtBytes(used)} of {fmtBytes(d.size_bytes)} ({pct.toFixed(0)}%)</span>
              </div>
            );
          })}
        </Section>
      </div>
      <div className="cards3">
        <Section title="CPU per lab (cores)" testid="usage-lab-cpu">
          <Chart series={labCpu} format={(v) => v.toFixed(2)} />
        </Section>
        <Section title="Memory per lab (working set)" testid="usage-lab-mem">
          <Chart series={labMem} format={fmtBytes} />
        </Section>
        <Section title="Network per lab (rx + tx)" testid="usage-lab-net">
          <Chart series={labNet} format={(v) => fmtRate(v)} />
        </Section>
      </div>
      <Section title="Nodes" testid="usage-nodes">
        <table className="grid" data-testid="usage-nodes-table">
          <thead>
            <tr><th>Lab</th><th>Node</th><th>Kind</th><th>Owner</th><th>State</th><th className="num">CPU (cores)</th><th className="num">Memory</th><th className="num">Disk</th><th className="num">rx</th><th className="num">tx</th></tr>
          </thead>
          <tbody>
            {last?.nodes.map((n) => (
              <tr key={nodeKey(n)}>
                <td>{n.lab}</td>
                <td><b>{n.node}</b></td>
                <td>{n.kind}</td>
                <td>{n.owner}</td>
                <td><StateBadge state={n.state} /></td>
                <td className="num">{prev ? rate(prev, last, (x) => x.cpu_seconds_total, n.lab, n.node).toFixed(2) : "–"}</td>
                <td className="num">{fmtBytes(n.memory_working_set_bytes)}</td>
                <td className="num">{fmtBytes(n.disk_bytes)}</td>
                <td className="num">{prev ? fmtRate(rate(prev, last, (x) => x.interfaces.reduce((s, i) => s + i.receive_bytes_total, 0), n.lab, n.node)) : "–"}</td>
                <td className="num">{prev ? fmtRate(rate(prev, last, (x) => x.interfaces.reduce((s, i) => s + i.transmit_bytes_total, 0), n.lab, n.node)) : "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      {last && last.labs.length > 0 && (
        <Section title="Reserved capacity in use">
          <table className="grid">
            <thead>
              <tr><th>Lab</th><th>Owner</th><th className="num">Nodes</th><th className="num">vCPU</th><th className="num">Memory</th></tr>
            </thead>
            <tbody>
              {last.labs.map((l) => (
                <tr key={l.lab}>
                  <td>{l.lab}</td>
                  <td>{l.owner}</td>
                  <td className="num">{l.nodes}</td>
                  <td className="num">{l.reserved_cpus}</td>
                  <td className="num">{fmtBytes(l.reserved_memory_bytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
      )}
    </div>
  );
}
