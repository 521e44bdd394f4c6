// A small time-series line chart in SVG: a few series over the same time axis, auto-scaled.

export interface Series {
  name: string;
  points: [number, number][]; // [time s, value]
  color?: string;
}

const PALETTE = ["#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16"];

export function Chart({
  series,
  height = 110,
  format = (v: number) => v.toFixed(1),
  max,
  testid,
}: {
  series: Series[];
  height?: number;
  format?: (v: number) => string;
  max?: number;
  testid?: string;
}) {
  const W = 480, left = 58, right = 6, top = 6, bottom = 16;
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return <div className="chart empty muted small" data-testid={testid}>waiting for two samples…</div>;
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]), t0 + 1);
  const vmax = max ?? (Math.max(...all.map((p) => p[1]), 0) * 1.15 || 1);
  const x = (t: number) => left + ((t - t0) / (t1 - t0)) * (W - left - right);
  const y = (v: number) => top + (1 - v / vmax) * (height - top - bottom);
  return (
    <div className="chart" data-testid={testid}>
      <svg viewBox={`0 0 ${W} ${height}`} width="100%" preserveAspectRatio="none">
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={left} x2={W - right} y1={y(vmax * f)} y2={y(vmax * f)} className="grid" />
            <text x={left - 4} y={y(vmax * f) + 4} className="axis" textAnchor="end">{format(vmax * f)}</text>
          </g>
        ))}
        <text x={left} y={height - 3} className="axis">{Math.round(t1 - t0)} s</text>
        {series.map((s, i) => (
          <polyline
            key={s.name}
            fill="none"
            stroke={s.color ?? PALETTE[i % PALETTE.length]}
            strokeWidth={1.5}
            vectorEffect="non-scaling-stroke"
            points={s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ")}
          />
        ))}
      </svg>
      <div className="legend">
        {series.map((s, i) => {
          const last = s.points[s.points.length - 1];
          return (
            <span key={s.name}>
              <i style={{ background: s.color ?? PALETTE[i % PALETTE.length] }} />
              {s.name} {last ? format(last[1]) : ""}
            </span>
          );
        })}
      </div>
    </div>
  );
}
