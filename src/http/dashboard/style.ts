/** The dashboard's stylesheet. */
export const DASHBOARD_CSS = `
:root { color-scheme: light dark; --ok: #2e8b57; --bad: #c0392b; --warn: #d68910;
  --line: #8884; font-family: system-ui, sans-serif; }
body { margin: 0 auto; max-width: 1200px; padding: 0 1rem 2rem; }
header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center;
  justify-content: space-between; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.3rem; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 0.5rem; }
.badges { display: flex; gap: 1rem; }
.badge { padding: 0.1rem 0.5rem; border-radius: 0.6rem; background: #8883; }
.badge.ok { background: var(--ok); color: white; }
.badge.bad { background: var(--bad); color: white; }
.badge.warn { background: var(--warn); color: white; }
#message { min-height: 1.4rem; }
#message.error { color: var(--bad); }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(120px, 1fr));
  gap: 0.5rem; }
.figure { border: 1px solid var(--line); border-radius: 0.4rem; padding: 0.5rem;
  display: flex; flex-direction: column; font-size: 1.4rem; font-variant-numeric: tabular-nums; }
.figure .label { font-size: 0.8rem; opacity: 0.7; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 1rem; }
figure { margin: 1rem 0 0; }
figcaption { font-size: 0.85rem; margin-bottom: 0.3rem; }
svg { width: 100%; height: 160px; border: 1px solid var(--line); border-radius: 0.3rem; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axis { font-size: 11px; fill: currentColor; opacity: 0.7; }
svg polyline { fill: none; stroke-width: 2; vector-effect: non-scaling-stroke; }
svg .ok { stroke: var(--ok); } svg .bad { stroke: var(--bad); } svg .lag { stroke: var(--warn); }
.legend::before { content: '■ '; } .legend.ok::before { color: var(--ok); }
.legend.bad::before { color: var(--bad); }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.error, td.payload { font-family: ui-monospace, monospace; font-size: 0.8rem;
  max-width: 28rem; overflow-wrap: anywhere; }
#limiter tbody { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr));
  column-gap: 1.5rem; }
#limiter tr { display: flex; justify-content: space-between; border-bottom: 1px solid var(--line); }
#limiter th, #limiter td { border: none; font-weight: normal; }
button { cursor: pointer; }
footer { margin-top: 2rem; font-size: 0.8rem; opacity: 0.7; }
`;
