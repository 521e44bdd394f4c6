import { useEffect, useMemo, useRef, useState } from "react";
import type { Graph, GraphImpairment, GraphLink } from "../types";

// A lab's drawing: `ltb graph LAB --format json` laid out here (Fruchterman-Reingold from a circle,
// deterministic, as ltb's own HTML drawing), nodes draggable (positions kept per lab in
// localStorage), links with their interface names, state and impairments.

const W = 118; // node box
const H = 42;

interface Pt {
  x: number;
  y: number;
}

export function layout(graph: Graph): Record<string, Pt> {
  const names = graph.nodes.map((n) => n.name);
  const n = names.length;
  const pos: Record<string, Pt> = {};
  if (n === 0) return pos;
  const side = Math.max(420, 240 * Math.sqrt(n));
  const k = (side / Math.sqrt(n)) * 0.9;
  names.forEach((name, i) => {
    const a = (2 * Math.PI * i) / n;
    pos[name] = { x: side / 2 + (side / 3) * Math.cos(a), y: side / 2 + (side / 3) * Math.sin(a) };
  });
  const edges = graph.links
    .map((l) => [l.endpoints[0]?.node, l.endpoints[1]?.node] as const)
    .filter(([a, b]) => a && b && a !== b && pos[a] && pos[b]);
  let t = side / 8;
  for (let it = 0; it < 300; it++) {
    const d: Record<string, Pt> = {};
    for (const a of names) d[a] = { x: 0, y: 0 };
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const p = pos[names[i]], q = pos[names[j]];
        let dx = p.x - q.x, dy = p.y - q.y;
        let dist = Math.hypot(dx, dy);
        if (dist < 0.01) {
          dx = 0.01 * (i + 1);
          dy = 0.01;
          dist = Math.hypot(dx, dy);
        }
        const f = (k * k) / dist;
        d[names[i]].x += (dx / dist) * f;
        d[names[i]].y += (dy / dist) * f;
        d[names[j]].x -= (dx / dist) * f;
        d[names[j]].y -= (dy / dist) * f;
      }
    }
    for (const [a, b] of edges) {
      const p = pos[a!], q = pos[b!];
      const dx = p.x - q.x, dy = p.y - q.y;
      const dist = Math.max(Math.hypot(dx, dy), 0.01);
      const f = (dist * dist) / k;
      d[a!].x -= (dx / dist) * f;
      d[a!].y -= (dy / dist) * f;
      d[b!].x += (dx / dist) * f;
      d[b!].y += (dy / dist) * f;
    }
    for (const a of names) {
      const len = Math.max(Math.hypot(d[a].x, d[a].y), 0.01);
      pos[a].x += (d[a].x / len) * Math.min(len, t);
      pos[a].y += (d[a].y / len) * Math.min(len, t);
    }
    t = Math.max(t * 0.985, 1);
  }
  // Into a box with a margin, wider than high when it is a line.
  const xs = names.map((a) => pos[a].x), ys = names.map((a) => pos[a].y);
  const minX = Math.min(...xs), minY = Math.min(...ys);
  for (const a of names) {
    pos[a] = { x: Math.round(pos[a].x - minX + W), y: Math.round(pos[a].y - minY + H + 30) };
  }
  return pos;
}

export function impairmentText(i: GraphImpairment): string {
  const parts: string[] = [];
  if (i.delay) parts.push(i.jitter ? `${i.delay}±${i.jitter}` : i.delay);
  else if (i.jitter) parts.push(`±${i.jitter}`);
  if (i.loss) parts.push(`loss ${i.loss}`);
  if (i.rate) parts.push(i.rate);
  if (i.corrupt) parts.push(`corrupt ${i.corrupt}`);
  if (i.duplicate) parts.push(`dup ${i.duplicate}`);
  if (i.reorder) parts.push(`reorder ${i.reorder}`);
  const dir = i.direction === "both" ? "" : i.direction.replace(/:[^>]*->/, "→").replace(/:.*$/, "") + " ";
  return dir + parts.join(" ");
}

function stateColor(state: string | null | undefined): string {
  switch (state) {
    case "running":
    case "up":
      return "var(--ok)";
    case "stopped":
    case "exited":
    case "paused":
    case "down":
      return "var(--warn)";
    case "missing":
    case "died":
      return "var(--bad)";
    default:
      return "var(--muted)";
  }
}

export type Selection = { type: "node" | "link"; name: string } | null;

export function Topology({
  graph,
  selected,
  onSelect,
}: {
  graph: Graph;
  selected: Selection;
  onSelect: (s: Selection) => void;
}) {
  const storeKey = `ltb.pos.${graph.lab}`;
  const auto = useMemo(() => layout(graph), [graph.nodes.map((n) => n.name).join(","), graph.links.map((l) => l.name).join(",")]);
  const [moved, setMoved] = useState<Record<string, Pt>>(() => {
    try {
      return JSON.parse(localStorage.getItem(storeKey) || "{}");
    } catch {
      return {};
    }
  });
  const pos = (name: string): Pt => moved[name] ?? auto[name] ?? { x: 0, y: 0 };
  const drag = useRef<{ name: string; dx: number; dy: number } | null>(null);
  const svgRef = useRef<SVGSVGElement>(null);
  useEffect(() => {
    if (Object.keys(moved).length) localStorage.setItem(storeKey, JSON.stringify(moved));
  }, [moved, storeKey]);

  const all = graph.nodes.map((n) => pos(n.name));
  const width = Math.max(400, ...all.map((p) => p.x + W + 20));
  const height = Math.max(240, ...all.map((p) => p.y + H + 40));

  const toSvg = (ev: React.PointerEvent): Pt => {
    const svg = svgRef.current!;
    const pt = svg.createSVGPoint();
    pt.x = ev.clientX;
    pt.y = ev.clientY;
    const m = svg.getScreenCTM();
    const r = m ? pt.matrixTransform(m.inverse()) : pt;
    return { x: r.x, y: r.y };
  };

  // Several links between the same two nodes bow apart.
  const pairIndex = new Map<string, number>();
  const bends: Record<string, number> = {};
  for (const l of graph.links) {
    const [a, b] = [l.endpoints[0]?.node ?? "", l.endpoints[1]?.node ?? ""].sort();
    const key = `${a}|${b}`;
    const i = pairIndex.get(key) ?? 0;
    pairIndex.set(key, i + 1);
    bends[l.name] = i === 0 ? 0 : (i % 2 ? 1 : -1) * Math.ceil(i / 2) * 36;
  }

  const linkEl = (l: GraphLink) => {
    const [ea, eb] = l.endpoints;
    if (!ea || !eb) return null;
    const p = pos(ea.node), q = pos(eb.node);
    const dx = q.x - p.x, dy = q.y - p.y;
    const len = Math.max(Math.hypot(dx, dy), 1);
    const nx = -dy / len, ny = dx / len;
    const bend = bends[l.name] ?? 0;
    const cx = (p.x + q.x) / 2 + nx * bend, cy = (p.y + q.y) / 2 + ny * bend;
    const d = bend ? `M${p.x},${p.y} Q${cx},${cy} ${q.x},${q.y}` : `M${p.x},${p.y} L${q.x},${q.y}`;
    const at = (f: number): Pt =>
      bend
        ? {
            x: (1 - f) * (1 - f) * p.x + 2 * (1 - f) * f * cx + f * f * q.x,
            y: (1 - f) * (1 - f) * p.y + 2 * (1 - f) * f * cy + f * f * q.y,
          }
        : { x: p.x + dx * f, y: p.y + dy * f };
    // Interface labels just outside the node boxes.
    const off = Math.min(0.45, (Math.hypot(W / 2, H / 2) + 14) / len);
    const la = at(off), lb = at(1 - off), mid = at(0.5);
    const imp = l.impairments.map(impairmentText).filter((s) => s.trim() !== "");
    const sel = selected?.type === "link" && selected.name === l.name;
    const down = l.state === "down";
    return (
      <g
        key={l.name}
        className={`link ${sel ? "sel" : ""}`}
        data-testid={`topo-link-${l.name}`}
        data-state={l.state ?? ""}
        onClick={(e) => {
          e.stopPropagation();
          onSelect({ type: "link", name: l.name });
        }}
      >
        <title>{`${l.name} (${l.type}) ${ea.node}:${ea.interface} — ${eb.node}:${eb.interface}, ${l.state ?? "not deployed"}`}</title>
        <path d={d} className="hit" />
        <path d={d} stroke={stateColor(l.state)} strokeDasharray={down ? "6 5" : undefined} className="wire" />
        <text x={la.x} y={la.y} className="ifname">{ea.interface}</text>
        <text x={lb.x} y={lb.y} className="ifname">{eb.interface}</text>
        {imp.length > 0 && (
          <g data-testid={`topo-imp-${l.name}`}>
            {imp.map((s, i) => {
              const w = s.length * 6.4 + 10;
              const y = mid.y - 8 + (i - (imp.length - 1) / 2) * 17;
              return (
                <g key={i}>
                  <rect x={mid.x - w / 2} y={y - 1} width={w} height={15} rx={3} className="imp-bg" />
                  <text x={mid.x} y={y + 10} className="imp">{s}</text>
                </g>
              );
            })}
          </g>
        )}
      </g>
    );
  };

  return (
    <svg
      ref={svgRef}
      className="topology"
      data-testid="topology"
      viewBox={`0 0 ${width} ${height}`}
      width="100%"
      style={{ maxWidth: width, maxHeight: "70vh" }}
      onClick={() => onSelect(null)}
      onPointerMove={(ev) => {
        if (!drag.current) return;
        const p = toSvg(ev);
        const { name, dx, dy } = drag.current;
        setMoved((m) => ({ ...m, [name]: { x: Math.max(W / 2, Math.round(p.x - dx)), y: Math.max(H / 2, Math.round(p.y - dy)) } }));
      }}
      onPointerUp={() => (drag.current = null)}
      onPointerLeave={() => (drag.current = null)}
    >
      {graph.links.map(linkEl)}
      {graph.nodes.map((n) => {
        const p = pos(n.name);
        const bridge = n.kind === "ovs-bridge" || n.kind === "bridge";
        const sel = selected?.type === "node" && selected.name === n.name;
        return (
          <g
            key={n.name}
            className={`node ${sel ? "sel" : ""}`}
            transform={`translate(${p.x - W / 2},${p.y - H / 2})`}
            data-testid={`topo-node-${n.name}`}
            data-state={n.state ?? ""}
            onClick={(e) => {
              e.stopPropagation();
              onSelect({ type: "node", name: n.name });
            }}
            onPointerDown={(ev) => {
              const q = toSvg(ev);
              drag.current = { name: n.name, dx: q.x - p.x, dy: q.y - p.y };
              (ev.target as Element).setPointerCapture?.(ev.pointerId);
            }}
          >
            <title>{`${n.name}: ${n.kind}${n.image ? " " + n.image : ""}, ${n.state ?? "not deployed"}`}</title>
            <rect width={W} height={H} rx={bridge ? 20 : 5} className={bridge ? "box bridge" : "box"} />
            <rect width={5} height={H} rx={2} fill={stateColor(n.state)} />
            <text x={12} y={17} className="nname">{n.name}</text>
            <text x={W - 6} y={17} className="nkind" textAnchor="end">{n.kind}</text>
            <text x={12} y={33} className="naddr">{n.mgmt_ipv4 || (n.state ?? "")}</text>
          </g>
        );
      })}
    </svg>
  );
}

export function resetLayout(lab: string) {
  localStorage.removeItem(`ltb.pos.${lab}`);
}
