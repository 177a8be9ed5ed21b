// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
import React, { useEffect, useRef, useState } from "react";
import {
    Button, Card, CardBody, CardTitle, DataList, DataListCell, DataListItem, DataListItemCells,
    DataListItemRow, Progress, ProgressMeasureLocation, ProgressStep, ProgressStepper,
    ProgressVariant,
} from "@patternfly/react-core";

import { JOB, useObjects } from "./virtbus.js";

const _ = cockpit.gettext;

// The service's Job.Operation values
const OPERATIONS = {
    save: _("Save"),
    restore: _("Restore"),
    dump: _("Memory dump"),
    "migration-out": _("Migration"),
    "migration-in": _("Incoming migration"),
    snapshot: _("Snapshot"),
    pull: _("Disk pull"),
    commit: _("Disk commit"),
    "active-commit": _("Disk commit"),
    copy: _("Disk copy"),
};

export function operationLabel(op) {
    return OPERATIONS[op] || op;
}

function formatDuration(seconds) {
    if (!isFinite(seconds) || seconds < 0)
        return "";
    if (seconds < 60)
        return cockpit.format(_("$0 s"), Math.ceil(seconds));
    const m = Math.floor(seconds / 60);
    return cockpit.format(_("$0 min $1 s"), m, Math.round(seconds - m * 60));
}

// Data rate from the samples of DataProcessed this page saw (bytes/s over the last ~5 s).
function useRates() {
    const samples = useRef(new Map());
    return (job) => {
        const now = performance.now() / 1000;
        let s = samples.current.get(job.path);
        if (!s) {
            s = [];
            samples.current.set(job.path, s);
        }
        const done = Number(job.DataProcessed || 0);
        if (!s.length || s[s.length - 1][1] !== done)
            s.push([now, done]);
        while (s.length > 2 && now - s[0][0] > 5)
            s.shift();
        if (s.length < 2 || s[s.length - 1][0] <= s[0][0])
            return null;
        return (s[s.length - 1][1] - s[0][1]) / (s[s.length - 1][0] - s[0][0]);
    };
}

// A migration's five phases (Domain.Migrate's job), as it goes through them. The job's
// Phase values are libvirt's: perform3 (the transfer), perform3_done and postcopy are the
// perform phase, cancel the finish of a transfer that did not complete.
const MIGRATION_PHASES = ["begin", "prepare", "perform", "finish", "confirm"];
const PHASE_STEP = {
    begin: "begin", prepare: "prepare", perform3: "perform", perform3_done: "perform",
    postcopy: "perform", finish: "finish", cancel: "finish", confirm: "confirm",
};

export function migrationSteps(seen) {
    const steps = [];
    for (const p of seen) {
        const step = PHASE_STEP[p];
        if (step && steps[steps.length - 1] !== step)
            steps.push(step);
    }
    return steps;
}

function MigrationPhases({ job, seen }) {
    const failed = job.Phase === "failed" || job.Phase === "cancelled";
    const done = job.Phase === "completed";
    const steps = migrationSteps(seen);
    const last = Math.max(-1, ...steps.map(p => MIGRATION_PHASES.indexOf(p)));
    return (
        <ProgressStepper className="vb-migration-phases" aria-label={_("Migration phases")}>
            {MIGRATION_PHASES.map((p, i) => {
                let variant = "pending";
                if (done || i < last)
                    variant = "success";
                else if (i === last)
                    variant = failed ? "danger" : "info";
                return (
                    <ProgressStep key={p} id={`${job.path}-${p}`} titleId={`${job.path}-${p}-t`}
                                  variant={variant} isCurrent={!done && i === last}
                                  className="vb-migration-phase" data-phase={p} data-variant={variant}>
                        {p}
                    </ProgressStep>
                );
            })}
        </ProgressStepper>
    );
}

// Expected downtime and the transfer rate of a running migration, from GetJobStats
// (the service's cache: it never waits for QEMU), read every second while it runs.
function useMigrationStats(store, job, running) {
    const [stats, setStats] = useState(null);
    useEffect(() => {
        if (!running || !job.Domain)
            return undefined;
        let stop = false;
        const read = () => store.domainCall(job.Domain, "GetJobStats", [0], "u")
                .then(([st]) => { if (!stop) setStats(st) }).catch(() => {});
        read();
        const timer = window.setInterval(read, 1000);
        return () => { stop = true; window.clearInterval(timer) };
    }, [store, job.Domain, running]);
    return stats;
}

function JobRow({ store, job, rate, notify, seen }) {
    const isMigration = job.Operation === "migration-out";
    const running = !["completed", "failed", "cancelled"].includes(job.Phase);
    const stats = useMigrationStats(store, job, isMigration && running);
    const dom = store.domains.get(job.Domain);
    const finished = ["completed", "failed", "cancelled"].includes(job.Phase);
    const progress = Math.max(0, Math.min(1, Number(job.Progress || 0)));
    const remaining = rate && rate > 0 && job.DataRemaining ? Number(job.DataRemaining) / rate : NaN;
    const details = [];
    if (job.DataTotal)
        details.push(cockpit.format(_("$0 of $1"), cockpit.format_bytes(Number(job.DataProcessed || 0), 1024),
                                    cockpit.format_bytes(Number(job.DataTotal), 1024)));
    if (rate && !finished)
        details.push(cockpit.format_bytes_per_sec(rate, 1024));
    if (!finished && isFinite(remaining))
        details.push(cockpit.format(_("$0 left"), formatDuration(remaining)));
    if (stats && stats.downtime && running)
        details.push(cockpit.format(_("expected downtime $0 ms"), stats.downtime.v));
    let variant;
    if (job.Phase === "failed")
        variant = ProgressVariant.danger;
    else if (job.Phase === "completed")
        variant = ProgressVariant.success;
    return (
        <DataListItem className="vb-job" data-job={job.path} data-phase={job.Phase}
                      data-progress={progress} data-phases-seen={seen.join(",")}
                      data-steps-seen={isMigration ? migrationSteps(seen).join(",") : ""}
                      data-operation={job.Operation}>
            <DataListItemRow>
                <DataListItemCells dataListCells={[
                    <DataListCell key="what" width={2}>
                        <strong>{operationLabel(job.Operation)}</strong>
                        {" "}{dom ? dom.Name : ""}
                        <div className="vb-job-phase">{job.Phase}</div>
                    </DataListCell>,
                    <DataListCell key="progress" width={4}>
                        <Progress value={progress * 100} variant={variant} size="sm"
                                  measureLocation={ProgressMeasureLocation.outside}
                                  aria-label={cockpit.format(_("Progress of $0"),
                                                             operationLabel(job.Operation))} />
                        {details.length > 0 && <div className="vb-job-details">{details.join(" · ")}</div>}
                        {isMigration && <MigrationPhases job={job} seen={seen} />}
                    </DataListCell>,
                    <DataListCell key="cancel" width={1} className="vb-job-actions">
                        {job.Cancelable && !finished &&
                            <Button variant="secondary" size="sm" className="vb-job-cancel"
                                    onClick={() => store.call(job.path, JOB, "Cancel", [], "")
                                            .catch(err => notify(_("Could not cancel the job"), err))}>
                                {_("Cancel")}
                            </Button>}
                    </DataListCell>,
                ]} />
            </DataListItemRow>
        </DataListItem>
    );
}

// Every Job object the service has (running ones, and finished ones for their grace period).
export function JobsPanel({ store, notify, domain }) {
    const rateOf = useRates();
    const jobs = Array.from(useObjects(store.jobs).values()).filter(j => !domain || j.Domain === domain);
    if (jobs.length === 0)
        return null;
    return (
        <Card id="vb-jobs" isCompact>
            <CardTitle>{_("Operations")}</CardTitle>
            <CardBody>
                <DataList aria-label={_("Operations")} isCompact>
                    {jobs.map(j => <JobRow key={j.path} store={store} job={j} rate={rateOf(j)}
                                           seen={store.jobs.phases.get(j.path) || []} notify={notify} />)}
                </DataList>
            </CardBody>
        </Card>
    );
}
