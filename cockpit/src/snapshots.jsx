// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
//
// A machine's snapshots as a tree (each snapshot's Parent), from the Snapshot objects the
// service exports under the domain's path; create (a Job), revert (a Job), delete.
import React, { useState } from "react";
import {
    Button, Checkbox, EmptyState, EmptyStateBody, EmptyStateHeader, Flex, FormGroup, Label,
    TextArea, TextInput, TreeView,
} from "@patternfly/react-core";

import { CallDialog } from "./dialogs.jsx";

import { stateLabel } from "./domains.jsx";
import { JOB, SNAPSHOT, useObjects } from "./virtbus.js";

const _ = cockpit.gettext;

// libvirt's flag values the service takes (interfaces/org.virtbus.Virt1.Snapshot.xml)
const DELETE_CHILDREN = 1;

function escapeXml(text) {
    return text.replace(/[<>&'"]/g, c => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c]);
}

// A Job the caller waits for: resolves when it completed, rejects with its error.
function waitJob(store, job) {
    return store.call(job, JOB, "Wait", [], "");
}

function CreateSnapshot({ store, dom, onClose }) {
    const [name, setName] = useState("");
    const [description, setDescription] = useState("");
    const [memory, setMemory] = useState(true);
    const create = () => {
        let xml = "<domainsnapshot>";
        if (name.trim())
            xml += `<name>${escapeXml(name.trim())}</name>`;
        if (description.trim())
            xml += `<description>${escapeXml(description.trim())}</description>`;
        // a running machine's memory goes into the snapshot unless asked not to
        if (dom.Active && !memory)
            xml += "<memory snapshot='no'/>";
        xml += "</domainsnapshot>";
        return store.domainCall(dom.path, "SnapshotCreateXML", [xml, 0], "su")
                .then(([job]) => waitJob(store, job));
    };
    return (
        <CallDialog id="vb-snapshot-dialog" confirmId="vb-snapshot-create-confirm"
                    errorId="vb-snapshot-error" title={cockpit.format(_("Snapshot of $0"), dom.Name)}
                    confirm={_("Create")} failed={_("No snapshot taken")} onConfirm={create}
                    onClose={onClose}>
            <FormGroup label={_("Name")} fieldId="vb-snapshot-name">
                <TextInput id="vb-snapshot-name" value={name} onChange={(_e, v) => setName(v)}
                           placeholder={_("the time it is taken, when empty")} />
            </FormGroup>
            <FormGroup label={_("Description")} fieldId="vb-snapshot-description">
                <TextArea id="vb-snapshot-description" value={description}
                          onChange={(_e, v) => setDescription(v)} />
            </FormGroup>
            {dom.Active &&
                <Checkbox id="vb-snapshot-memory" isChecked={memory} onChange={(_e, v) => setMemory(v)}
                          label={_("Include the running machine's memory")} />}
        </CallDialog>
    );
}

function SnapshotActions({ store, snap, notify, hasChildren }) {
    const [busy, setBusy] = useState(false);
    const run = (what, fn) => {
        setBusy(true);
        fn().catch(err => notify(cockpit.format(what, snap.Name), err))
                .finally(() => setBusy(false));
    };
    return (
        <Flex className="vb-snapshot-actions" data-snapshot={snap.Name} spaceItems={{ default: "spaceItemsSm" }}>
            <Button variant="secondary" size="sm" data-action="revert" isDisabled={busy}
                    onClick={() => run(_("Revert to $0 failed"),
                                       () => store.call(snap.path, SNAPSHOT, "Revert", [0], "u")
                                               .then(([job]) => waitJob(store, job)))}>
                {_("Revert")}
            </Button>
            <Button variant="link" isDanger size="sm" data-action="delete" isDisabled={busy}
                    onClick={() => run(_("Delete of $0 failed"),
                                       () => store.call(snap.path, SNAPSHOT, "Delete", [0], "u"))}>
                {_("Delete")}
            </Button>
            {hasChildren &&
                <Button variant="link" isDanger size="sm" data-action="delete-children" isDisabled={busy}
                        onClick={() => run(_("Delete of $0 failed"),
                                           () => store.call(snap.path, SNAPSHOT, "Delete",
                                                            [DELETE_CHILDREN], "u"))}>
                    {_("Delete with its children")}
                </Button>}
        </Flex>
    );
}

export function Snapshots({ store, dom, notify }) {
    const [creating, setCreating] = useState(false);
    const prefix = dom.path + "/snapshot/";
    const snaps = Array.from(useObjects(store.snapshots).values()).filter(s => s.path.startsWith(prefix));
    const byParent = new Map();
    for (const s of snaps) {
        const parent = snaps.some(p => p.path === s.Parent) ? s.Parent : "/";
        if (!byParent.has(parent))
            byParent.set(parent, []);
        byParent.get(parent).push(s);
    }
    const node = s => ({
        id: s.path,
        name: (
            <span className="vb-snapshot" data-name={s.Name} data-current={s.Current ? "1" : "0"}
                  data-parent={(snaps.find(p => p.path === s.Parent) || {}).Name || ""}>
                <strong>{s.Name}</strong>{" "}
                {new Date(Number(s.CreationTime) * 1000).toLocaleString()}{" · "}
                {stateLabel(s.State)}
                {s.IsExternal ? " · " + _("external") : ""}
                {s.Current && <Label color="blue" isCompact className="vb-snapshot-current">{_("current")}</Label>}
            </span>
        ),
        action: <SnapshotActions store={store} snap={s} notify={notify}
                                 hasChildren={byParent.has(s.path)} />,
        defaultExpanded: true,
        children: (byParent.get(s.path) || [])
                .sort((a, b) => Number(a.CreationTime) - Number(b.CreationTime)).map(node),
    });
    const roots = (byParent.get("/") || []).sort((a, b) => Number(a.CreationTime) - Number(b.CreationTime));
    const data = roots.map(node).map(function strip(n) {
        if (n.children.length === 0)
            delete n.children;
        else
            n.children.forEach(strip);
        return n;
    });
    return (
        <Flex direction={{ default: "column" }} id="vb-snapshots">
            <Button variant="secondary" id="vb-snapshot-create" onClick={() => setCreating(true)}
                    className="vb-start-button">
                {_("Create a snapshot")}
            </Button>
            {snaps.length === 0
                ? <EmptyState variant="xs">
                    <EmptyStateHeader titleText={_("No snapshots")} headingLevel="h3" />
                    <EmptyStateBody>
                        {_("Internal snapshots need the machine's disks in qcow2.")}
                    </EmptyStateBody>
                </EmptyState>
                : <TreeView data={data} aria-label={_("Snapshots")} hasGuides allExpanded />}
            {creating && <CreateSnapshot store={store} dom={dom} onClose={() => setCreating(false)} />}
        </Flex>
    );
}
