/** The page's stylesheet: system fonts, one column on a phone, cards that wrap on a desk. */
export const styles = `
:root { --good: #1a7f37; --busy: #9a6700; --bad: #cf222e; --idle: #57606a; --line: #d0d7de; --bg: #f6f8fa; color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .4rem 1rem; padding: .8rem 1.2rem; background: #24292f; color: #fff; }
h1 { font-size: 1.15rem; margin: 0; }
.meta { color: #c9d1d9; font-size: .85rem; overflow-wrap: anywhere; }
.link { font-size: .8rem; padding: .05rem .5rem; border-radius: 1rem; background: #57606a; }
.link.live { background: var(--good); }
.link.lost { background: var(--bad); }
main { padding: 1rem 1.2rem 2rem; max-width: 1200px; }
h2 { font-size: 1rem; margin: 1.2rem 0 .6rem; }
main.stale section { opacity: .55; }
.banner.ok { background: #dafbe1; border-color: #4ac26b; }
.token input { font: inherit; padding: .2rem .4rem; }
button { font: inherit; font-size: .8rem; padding: .15rem .7rem; border: 1px solid var(--line); border-radius: 6px; background: #f6f8fa; color: #1f2328; cursor: pointer; }
button:hover { background: #eaeef2; } button:disabled { opacity: .5; cursor: default; }
header .actions { margin-left: auto; }
.buttons { margin: 0 0 .5rem; }
.banner { padding: .6rem .8rem; border-radius: 6px; background: #ffebe9; border: 1px solid #ff8182; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(290px, 1fr)); gap: .8rem; }
.card { background: #fff; border: 1px solid var(--line); border-left: 5px solid var(--idle); border-radius: 6px; padding: .7rem .9rem; min-width: 0; }
.card.good { border-left-color: var(--good); } .card.busy { border-left-color: var(--busy); } .card.bad { border-left-color: var(--bad); }
.title { display: flex; align-items: center; gap: .5rem; }
h3 { margin: 0; font-size: 1rem; }
.type { color: var(--idle); font-size: .8rem; }
.phase { margin-left: auto; font-weight: 600; font-size: .8rem; padding: .1rem .55rem; border-radius: 1rem; color: #fff; background: var(--idle); }
.phase.good { background: var(--good); } .phase.busy { background: var(--busy); } .phase.bad { background: var(--bad); }
.reason { margin: .35rem 0 .5rem; color: #424a53; font-size: .85rem; }
dl { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: .2rem .8rem; margin: 0; }
.field { display: flex; gap: .4rem; min-width: 0; } .field.wide { grid-column: 1 / -1; }
dt { color: var(--idle); } dd { margin: 0; overflow-wrap: anywhere; }
.models::before { content: "models"; color: var(--idle); font-family: system-ui, sans-serif; display: block; }
.models { list-style: none; padding: 0; margin: .5rem 0 0; font-family: ui-monospace, monospace; font-size: .8rem; }
.present { color: var(--good); } .missing { color: var(--bad); } .in-memory { font-family: system-ui, sans-serif; font-weight: 600; }
.pull { margin-top: .5rem; } .pull progress { width: 100%; }
.error { margin-top: .5rem; color: var(--bad); }
.error summary { cursor: pointer; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f8fa; color: #1f2328; padding: .5rem; border-radius: 4px; font-size: .75rem; max-height: 12rem; overflow: auto; }
.warn { color: var(--busy); font-weight: 600; }
.muted { color: var(--idle); font-size: .85rem; }
.routes { display: grid; gap: .4rem; }
.route { display: grid; grid-template-columns: minmax(8rem, 12rem) 1fr; gap: .2rem 1rem; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .5rem .8rem; }
.skips { grid-column: 2; margin: 0; padding-left: 1.1rem; color: #424a53; font-size: .85rem; }
.good-text { color: var(--good); font-weight: 600; overflow-wrap: anywhere; } .bad-text { color: var(--bad); font-weight: 600; }
.requests { display: grid; gap: .3rem; }
.request { background: #fff; border: 1px solid var(--line); border-left: 4px solid var(--good); border-radius: 6px; padding: .35rem .7rem; }
.request.failed, .request.cut { border-left-color: var(--bad); }
.request summary { cursor: pointer; display: flex; flex-wrap: wrap; gap: .2rem .9rem; align-items: baseline; }
.when { color: var(--idle); font-variant-numeric: tabular-nums; } .what { font-weight: 600; min-width: 5rem; }
.who { min-width: 10rem; overflow-wrap: anywhere; } .num { color: #424a53; font-variant-numeric: tabular-nums; }
.outcome { margin-left: auto; font-weight: 600; color: var(--good); } .outcome.failed, .outcome.cut { color: var(--bad); }
.trace { margin: .4rem 0 .2rem; padding-left: 1.3rem; font-size: .85rem; }
.trace .failed { color: var(--bad); } .trace .skipped { color: var(--idle); }
.chart { margin: .4rem 0; } .chart figcaption { font-size: .8rem; }
.axis { display: flex; justify-content: space-between; color: var(--idle); font-size: .7rem; }
.chart .frame { fill: #f6f8fa; } .chart .bar { fill: #0969da; } .chart .bar.failed { fill: var(--bad); }
@media (max-width: 600px) {
  .route { grid-template-columns: 1fr; } .skips { grid-column: 1; }
  main { padding: .8rem; }
}
`
