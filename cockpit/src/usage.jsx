// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
//
// CPU and memory of the running machines, as small sparklines on the list: one
// Manager.GetAllDomainStats(cpu-total | balloon, ACTIVE) every few seconds while the list
// is shown and the page visible (statistics change without a signal), CPU as the share of
// one host CPU from the change of cpu.time, memory as QEMU's resident set (balloon.rss).
import React, { useEffect, useState } from "react";

const _ = cockpit.gettext;

const STATS_CPU_TOTAL = 2;
const STATS_BALLOON = 4;
const STATS_ACTIVE = 1;
const INTERVAL_MS = 3000;
const SAMPLES = 20;

export function useUsage(store, enabled) {
    const [usage, setUsage] = useState(() => new Map());
    useEffect(() => {
        if (!enabled)
            return undefined;
        let stop = false;
        let last = new Map(); // name -> [wall ms, cpu ns]
        const history = new Map(); // name -> {cpu: [], mem: []}
        const read = () => {
            if (cockpit.hidden || store.status !== "ready")
                return;
            store.managerCall("GetAllDomainStats", [STATS_CPU_TOTAL | STATS_BALLOON, STATS_ACTIVE], "uu")
                    .then(([records]) => {
                        if (stop)
                            return;
                        const now = performance.now();
                        const next = new Map();
                        for (const [name, rec] of records) {
                            const cpuNs = rec["cpu.time"] ? Number(rec["cpu.time"].v) : null;
                            const rss = rec["balloon.rss"] ? Number(rec["balloon.rss"].v) : null;
                            const h = history.get(name) || { cpu: [], mem: [] };
                            const before = last.get(name);
                            if (cpuNs !== null) {
                                next.set(name, [now, cpuNs]);
                                if (before)
                                    h.cpu.push(Math.max(0, (cpuNs - before[1]) / 1e6 / (now - before[0]) * 100));
                            }
                            if (rss !== null)
                                h.mem.push(rss);
                            h.cpu = h.cpu.slice(-SAMPLES);
                            h.mem = h.mem.slice(-SAMPLES);
                            history.set(name, h);
                        }
                        for (const name of Array.from(history.keys()))
                            if (!next.has(name))
                                history.delete(name);
                        last = next;
                        setUsage(new Map(Array.from(history.entries()).map(([k, v]) => [k, { ...v }])));
                    })
                    .catch(() => {});
        };
        read();
        const timer = window.setInterval(read, INTERVAL_MS);
        return () => { stop = true; window.clearInterval(timer) };
    }, [store, enabled]);
    return usage;
}

// A sparkline: the values as a polyline in a small SVG, the last value as text.
export function Sparkline({ values, max, label, format, className }) {
    const w = 80;
    const h = 20;
    if (!values || values.length === 0)
        return <span className={"vb-spark " + (className || "")} />;
    const top = Math.max(max || 0, ...values, 1e-9);
    const pts = values.map((v, i) => {
        const x = values.length === 1 ? w : (i / (values.length - 1)) * w;
        const y = h - (v / top) * (h - 2) - 1;
        return `${x.toFixed(1)},${y.toFixed(1)}`;
    }).join(" ");
    const lastValue = values[values.length - 1];
    return (
        <span className={"vb-spark " + (className || "")} data-last={lastValue} data-samples={values.length}>
            <svg width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={label}>
                <polyline points={pts} fill="none" stroke="currentColor" strokeWidth="1.5" />
            </svg>
            <span className="vb-spark-value">{format(lastValue)}</span>
        </span>
    );
}

export function formatCpu(pct) {
    return cockpit.format(_("$0 %"), pct.toFixed(pct < 10 ? 1 : 0));
}
