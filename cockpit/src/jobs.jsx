// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
import React, { useRef } from "react";
import {
    Button, Card, CardBody, CardTitle, DataList, DataListCell, DataListItem, DataListItemCells,
    DataListItemRow, Progress, ProgressMeasureLocation, ProgressVariant,
} from "@patternfly/react-core";

import { JOB } from "./virtbus.js";

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

function JobRow({ store, job, rate, notify }) {
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
    let variant;
    if (job.Phase === "failed")
        variant = ProgressVariant.danger;
    else if (job.Phase === "completed")
        variant = ProgressVariant.success;
    return (
        <DataListItem className="vb-job" data-job={job.path} data-phase={job.Phase}
                      data-progress={progress}>
            <DataListItemRow>
                <DataListItemCells dataListCells={[
                    <DataListCell key="what" width={2}>
                        <strong>{operationLabel(job.Operation)}</strong>
                        {" "}{dom ? dom.Name : ""}
                        <div className="vb-job-phase">{job.Phase}</div>
                    </DataListCell>,
                    <DataListCell key="progress" width={4}>
                        <Progress value={progress * 100} variant={variant} size="sm"
                                  title={details.join(" · ")}
                                  measureLocation={ProgressMeasureLocation.outside}
                                  aria-label={cockpit.format(_("Progress of $0"),
                                                             operationLabel(job.Operation))} />
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
    const jobs = store.jobs.list().filter(j => !domain || j.Domain === domain);
    if (jobs.length === 0)
        return null;
    return (
        <Card id="vb-jobs" isCompact>
            <CardTitle>{_("Operations")}</CardTitle>
            <CardBody>
                <DataList aria-label={_("Operations")} isCompact>
                    {jobs.map(j => <JobRow key={j.path} store={store} job={j} rate={rateOf(j)}
                                           notify={notify} />)}
                </DataList>
            </CardBody>
        </Card>
    );
}
