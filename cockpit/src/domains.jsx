// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
import React, { useCallback, useRef, useState } from "react";
import {
    Button, Checkbox, Dropdown, DropdownItem, DropdownList, EmptyState, EmptyStateBody,
    EmptyStateHeader, FormGroup, FormSelect, FormSelectOption, Label, MenuToggle, SearchInput,
    Switch, TextInput, Toolbar, ToolbarContent, ToolbarItem,
} from "@patternfly/react-core";
import { Table, Tbody, Thead, Tr } from "@patternfly/react-table";
import { EllipsisVIcon } from "@patternfly/react-icons";

import { Cell, HeadCell } from "./cells.jsx";
import { CallDialog } from "./dialogs.jsx";
import { Sparkline, formatCpu, useUsage } from "./usage.jsx";
import {
    useObjects, SHUTDOWN_ACPI, SHUTDOWN_AGENT, START_PAUSED, UNDEFINE_KEEP_NVRAM, UNDEFINE_MANAGED_SAVE,
    UNDEFINE_NVRAM, UNDEFINE_SNAPSHOTS_METADATA,
} from "./virtbus.js";

const _ = cockpit.gettext;

// The service's State values (docs: Domain.State) and how they are shown.
const STATES = {
    running: { label: _("Running"), color: "green" },
    paused: { label: _("Paused"), color: "orange" },
    shutoff: { label: _("Shut off"), color: "grey" },
    shutdown: { label: _("Shutting down"), color: "blue" },
    crashed: { label: _("Crashed"), color: "red" },
    pmsuspended: { label: _("Suspended (PM)"), color: "purple" },
    blocked: { label: _("Blocked"), color: "orange" },
    nostate: { label: _("No state"), color: "grey" },
};

export function stateLabel(state) {
    return (STATES[state] || { label: state }).label;
}

export function StateLabel({ dom }) {
    const s = STATES[dom.State] || { label: dom.State, color: "grey" };
    return (
        <Label color={s.color} className="vb-state" data-state={dom.State}
               title={dom.StateReason ? cockpit.format(_("Reason: $0"), dom.StateReason) : ""}>
            {s.label}
        </Label>
    );
}

export function formatMemory(kib) {
    if (kib === undefined || kib === null)
        return "";
    return cockpit.format_bytes(Number(kib) * 1024, 1024);
}

// The actions a domain's state allows: [id, label, run(store, path) -> promise, danger].
function actionsFor(dom) {
    const call = (method, args, type) => (store, path) => store.domainCall(path, method, args, type);
    const acts = [];
    if (dom.State === "shutoff" || dom.State === "crashed") {
        acts.push(["start", dom.HasManagedSave ? _("Restore") : _("Run"), call("Start", [0], "u")]);
        acts.push(["start-paused", _("Run paused"), call("Start", [START_PAUSED], "u")]);
        if (dom.HasManagedSave)
            acts.push(["discard-save", _("Discard saved state"), call("ManagedSaveRemove", [0], "u")]);
        if (dom.Persistent)
            acts.push(["delete", _("Delete…"), null, true]);
        return acts;
    }
    if (dom.State === "paused")
        acts.push(["resume", _("Resume"), call("Resume", [], "")]);
    if (dom.State === "running" || dom.State === "shutdown") {
        acts.push(["shutdown", _("Shut down"), call("Shutdown", [SHUTDOWN_ACPI], "u")]);
        if (dom.AgentConnected)
            acts.push(["shutdown-agent", _("Shut down (guest agent)"),
                call("Shutdown", [SHUTDOWN_AGENT], "u")]);
        acts.push(["reboot", _("Reboot"), call("Reboot", [0], "u")]);
        acts.push(["reset", _("Reset"), call("Reset", [], ""), true]);
        acts.push(["suspend", _("Pause"), call("Suspend", [], "")]);
    }
    if (dom.Persistent)
        acts.push(["managed-save", _("Save and stop"), call("ManagedSave", [0], "u")]);
    acts.push(["save", _("Save to a file…"), null]);
    acts.push(["migrate", _("Migrate…"), null]);
    acts.push(["destroy", _("Force off"), call("Destroy", [0], "u"), true]);
    return acts;
}

function DeleteDialog({ store, dom, onClose }) {
    const [snapshots, setSnapshots] = useState(true);
    const [nvram, setNvram] = useState(false);
    const flags = UNDEFINE_MANAGED_SAVE | (nvram ? UNDEFINE_NVRAM : UNDEFINE_KEEP_NVRAM) |
        (snapshots ? UNDEFINE_SNAPSHOTS_METADATA : 0);
    return (
        <CallDialog id="vb-delete-dialog" confirmId="vb-delete-confirm"
                    title={cockpit.format(_("Delete $0?"), dom.Name)} confirm={_("Delete")}
                    confirmVariant="danger" failed={_("Not deleted")}
                    onConfirm={() => store.domainCall(dom.path, "Undefine", [flags], "u")}
                    onClose={onClose}>
            <p>{_("The definition and its saved state are removed. Disk images stay.")}</p>
            <Checkbox id="vb-delete-snapshots" isChecked={snapshots} onChange={(_e, v) => setSnapshots(v)}
                      label={_("Remove the snapshots' metadata (the snapshots stay in the disk images)")} />
            <Checkbox id="vb-delete-nvram" isChecked={nvram} onChange={(_e, v) => setNvram(v)}
                      label={_("Remove the UEFI variables (NVRAM)")} />
        </CallDialog>
    );
}

// Save: the memory image to a file the service can write (the domain stops; Restore on the
// list's "Restore from file" or the bus brings it back). A Job shows the progress.
function SaveDialog({ store, dom, onClose }) {
    const [path, setPath] = useState(`/var/lib/virtbus/save/${dom.Name}.save`);
    return (
        <CallDialog id="vb-save-dialog" confirmId="vb-save-confirm" errorId="vb-save-error"
                    title={cockpit.format(_("Save $0 to a file"), dom.Name)} confirm={_("Save")}
                    failed={_("Not saved")} disabled={!path.startsWith("/")}
                    onConfirm={() => store.domainCall(dom.path, "Save", [path, "", 0], "ssu")}
                    onClose={onClose}>
            <FormGroup label={_("File (on the host)")} fieldId="vb-save-path">
                <TextInput id="vb-save-path" value={path} onChange={(_e, v) => setPath(v)} />
            </FormGroup>
        </CallDialog>
    );
}

// Migration to another host, peer to peer: this service runs the five phases over its own
// connection to the destination service (Domain.Migrate); the Job shows them.
const MIGRATE_LIVE = 1;
const MIGRATE_P2P = 2;
const MIGRATE_OPTIONS = [
    ["vb-migrate-persist", 8, _("Define it on the destination"), true],
    ["vb-migrate-undefine", 16, _("Remove its definition here"), false],
    ["vb-migrate-tunnelled", 4, _("Tunnel the data through the services' connection"), false],
    ["vb-migrate-compressed", 2048, _("Compress the data"), false],
    ["vb-migrate-autoconverge", 8192, _("Slow the guest down when it dirties memory too fast (auto-converge)"), false],
    ["vb-migrate-postcopy", 32768, _("Allow post-copy"), false],
];

function MigrateDialog({ store, dom, onClose }) {
    const [uri, setUri] = useState("ssh://");
    const [options, setOptions] = useState(Object.fromEntries(MIGRATE_OPTIONS.map(o => [o[1], o[3]])));
    let flags = MIGRATE_LIVE | MIGRATE_P2P;
    for (const [flag, on] of Object.entries(options))
        if (on)
            flags |= Number(flag);
    return (
        <CallDialog id="vb-migrate-dialog" confirmId="vb-migrate-confirm" errorId="vb-migrate-error"
                    title={cockpit.format(_("Migrate $0"), dom.Name)} confirm={_("Migrate")}
                    failed={_("Not migrated")} disabled={!/^(ssh:\/\/.+|unix:.+)/.test(uri)}
                    onConfirm={() => store.domainCall(dom.path, "Migrate", [uri, {}, flags], "sa{sv}u")}
                    onClose={onClose}>
            <FormGroup label={_("Destination")} fieldId="vb-migrate-uri">
                <TextInput id="vb-migrate-uri" value={uri} onChange={(_e, v) => setUri(v)}
                           placeholder="ssh://root@host2" />
            </FormGroup>
            {MIGRATE_OPTIONS.map(([id, flag, label]) => (
                <Checkbox key={id} id={id} label={label} isChecked={!!options[flag]}
                          onChange={(_e, v) => setOptions(o => ({ ...o, [flag]: v }))} />
            ))}
        </CallDialog>
    );
}

// The kebab menu. Memoized on what it shows: while it is closed a change of the machine
// does not render it, since PatternFly's Popper reads the computed style of its trigger
// (the text direction) at each render
const ActionsMenu = React.memo(function ActionsMenu({ open, setOpen, name, acts, onSelect }) {
    return (
        <Dropdown isOpen={open} onOpenChange={setOpen} popperProps={{ position: "right" }}
                  toggle={ref => (
                      <MenuToggle ref={ref} variant="plain" isExpanded={open} data-action="menu"
                                  aria-label={cockpit.format(_("Actions of $0"), name)}
                                  onClick={() => setOpen(!open)}>
                          <EllipsisVIcon />
                      </MenuToggle>
                  )}>
            <DropdownList>
                {(acts || []).map(a => (
                    <DropdownItem key={a[0]} data-action={a[0]} onClick={() => onSelect(a)}
                                  className={a[3] ? "vb-danger-item" : ""}>
                        {a[1]}
                    </DropdownItem>
                ))}
            </DropdownList>
        </Dropdown>
    );
});

export function DomainActions({ store, dom, notify }) {
    const [open, setOpen] = useState(false);
    const [deleting, setDeleting] = useState(false);
    const [saving, setSaving] = useState(false);
    const [migrating, setMigrating] = useState(false);
    const [busy, setBusy] = useState(false);
    const acts = actionsFor(dom);
    const run = ([id, label, fn]) => {
        setOpen(false);
        if (id === "delete") {
            setDeleting(true);
            return;
        }
        if (id === "save") {
            setSaving(true);
            return;
        }
        if (id === "migrate") {
            setMigrating(true);
            return;
        }
        setBusy(true);
        fn(store, dom.path)
                .catch(err => notify(cockpit.format(_("$0 of $1 failed"), label, dom.Name), err))
                .finally(() => setBusy(false));
    };
    // the menu's callback stays the same function; it runs the latest run()
    const latest = useRef(run);
    latest.current = run;
    const onSelect = useCallback(a => latest.current(a), []);
    const primary = acts.find(a => ["start", "resume", "shutdown"].includes(a[0]));
    return (
        <div className="vb-actions">
            {primary &&
                <Button variant="secondary" size="sm" data-action={primary[0]} isDisabled={busy}
                        onClick={() => run(primary)}>{primary[1]}</Button>}
            <ActionsMenu open={open} setOpen={setOpen} name={dom.Name} acts={open ? acts : null}
                         onSelect={onSelect} />
            {deleting && <DeleteDialog store={store} dom={dom} onClose={() => setDeleting(false)} />}
            {saving && <SaveDialog store={store} dom={dom} onClose={() => setSaving(false)} />}
            {migrating && <MigrateDialog store={store} dom={dom} onClose={() => setMigrating(false)} />}
        </div>
    );
}

function AutostartSwitch({ store, dom, notify }) {
    if (!dom.Persistent)
        return <span>{_("n/a")}</span>;
    return (
        <Switch id={"vb-autostart-" + dom.UUID} isChecked={!!dom.Autostart}
                aria-label={cockpit.format(_("Start $0 with the service"), dom.Name)}
                onChange={(_e, v) => store.setDomainProperty(dom.path, "Autostart", "b", v)
                        .catch(err => notify(cockpit.format(_("Could not change autostart of $0"),
                                                            dom.Name), err))} />
    );
}

// Restore a machine from an image written by Save (Manager.Restore: a Job).
function RestoreDialog({ store, onClose }) {
    const [path, setPath] = useState("/var/lib/virtbus/save/");
    const [paused, setPaused] = useState(false);
    return (
        <CallDialog id="vb-restore-dialog" confirmId="vb-restore-confirm" errorId="vb-restore-error"
                    title={_("Restore a machine from a saved image")} confirm={_("Restore")}
                    failed={_("Not restored")} disabled={!path.startsWith("/")}
                    onConfirm={() => store.managerCall("Restore", [path, "", paused ? 4 : 2], "ssu")}
                    onClose={onClose}>
            <FormGroup label={_("Saved image (on the host)")} fieldId="vb-restore-path">
                <TextInput id="vb-restore-path" value={path} onChange={(_e, v) => setPath(v)} />
            </FormGroup>
            <Checkbox id="vb-restore-paused" label={_("Leave it paused")} isChecked={paused}
                      onChange={(_e, v) => setPaused(v)} />
        </CallDialog>
    );
}

// One machine's row; re-rendered only when its domain (a new object for each change of
// it), its usage samples or the callbacks change.
const DomainRow = React.memo(function DomainRow({ store, d, notify, onOpen, usage }) {
    return (
        <Tr className="vb-domain" data-name={d.Name} data-state={d.State}>
            <Cell dataLabel={_("Name")} className="vb-name">
                <Button variant="link" isInline className="vb-open"
                        onClick={() => onOpen(d)}>{d.Name}</Button>
                {d.Unsupported && d.Unsupported.length > 0 &&
                    <Label color="gold" isCompact className="vb-unsupported-badge"
                           title={d.Unsupported.join("\n")}>
                        {cockpit.format(cockpit.ngettext("$0 setting not applied",
                                                         "$0 settings not applied",
                                                         d.Unsupported.length),
                                        d.Unsupported.length)}
                    </Label>}
            </Cell>
            <Cell dataLabel={_("State")}><StateLabel dom={d} /></Cell>
            <Cell dataLabel={_("Memory")}>{formatMemory(d.Memory)}</Cell>
            <Cell dataLabel={_("vCPUs")}>{d.VCPUs}</Cell>
            <Cell dataLabel={_("CPU")}>
                {d.Active && <Sparkline className="vb-spark-cpu" values={(usage || {}).cpu}
                                        max={100} format={formatCpu}
                                        label={cockpit.format(_("CPU use of $0"), d.Name)} />}
            </Cell>
            <Cell dataLabel={_("Resident memory")}>
                {d.Active && <Sparkline className="vb-spark-mem" values={(usage || {}).mem}
                                        max={Number(d.Memory) * 1.2} format={formatMemory}
                                        label={cockpit.format(_("Resident memory of $0"), d.Name)} />}
            </Cell>
            <Cell dataLabel={_("Autostart")}>
                <AutostartSwitch store={store} dom={d} notify={notify} />
            </Cell>
            <Cell isActionCell>
                <DomainActions store={store} dom={d} notify={notify} />
            </Cell>
        </Tr>
    );
});

// The header renders once: PatternFly's Th measures itself (offsetWidth, a forced layout)
// after every render, which made each change of one row wait for a layout of the page
const DomainTableHead = React.memo(function DomainTableHead() {
    return (
        <Thead>
            <Tr>
                <HeadCell>{_("Name")}</HeadCell>
                <HeadCell>{_("State")}</HeadCell>
                <HeadCell>{_("Memory")}</HeadCell>
                <HeadCell>{_("vCPUs")}</HeadCell>
                <HeadCell>{_("CPU")}</HeadCell>
                <HeadCell>{_("Resident memory")}</HeadCell>
                <HeadCell>{_("Autostart")}</HeadCell>
                <HeadCell screenReaderText={_("Actions")} />
            </Tr>
        </Thead>
    );
});

const STATE_FILTERS = [["", _("All states")], ["running", _("Running")], ["paused", _("Paused")],
    ["shutoff", _("Shut off")], ["crashed", _("Crashed")]];

export function DomainList({ store, notify, onCreate, onOpen }) {
    const [restoring, setRestoring] = useState(false);
    const [text, setText] = useState("");
    const [state, setState] = useState("");
    const usage = useUsage(store, true);
    const items = useObjects(store.domains);
    const all = Array.from(items.values()).sort((a, b) => (a.Name || "").localeCompare(b.Name || ""));
    const shown = all.filter(d => (!text || (d.Name || "").toLowerCase().includes(text.toLowerCase())) &&
                                  (!state || d.State === state));
    return (
        <>
            <Toolbar id="vb-toolbar">
                <ToolbarContent>
                    <ToolbarItem>
                        <SearchInput id="vb-filter" placeholder={_("Filter by name")} value={text}
                                     onChange={(_e, v) => setText(v)} onClear={() => setText("")} />
                    </ToolbarItem>
                    <ToolbarItem>
                        <FormSelect id="vb-state-filter" value={state} aria-label={_("State")}
                                    onChange={(_e, v) => setState(v)}>
                            {STATE_FILTERS.map(([v, l]) => <FormSelectOption key={v} value={v} label={l} />)}
                        </FormSelect>
                    </ToolbarItem>
                    <ToolbarItem align={{ default: "alignRight" }}>
                        <Button id="vb-restore" variant="secondary" onClick={() => setRestoring(true)}>
                            {_("Restore from a file")}
                        </Button>
                    </ToolbarItem>
                    <ToolbarItem>
                        <Button id="vb-create" variant="primary" onClick={onCreate}>
                            {_("Create from XML")}
                        </Button>
                    </ToolbarItem>
                </ToolbarContent>
            </Toolbar>
            {all.length === 0
                ? <EmptyState id="vb-empty">
                    <EmptyStateHeader titleText={_("No virtual machines")} headingLevel="h2" />
                    <EmptyStateBody>{_("Create one from libvirt domain XML.")}</EmptyStateBody>
                </EmptyState>
                : <Table id="vb-domains" aria-label={_("Virtual machines")} variant="compact">
                    <DomainTableHead />
                    <Tbody>
                        {shown.map(d => <DomainRow key={d.path} store={store} d={d} notify={notify}
                                                   onOpen={onOpen} usage={usage.get(d.Name)} />)}
                    </Tbody>
                </Table>}
            {restoring && <RestoreDialog store={store} onClose={() => setRestoring(false)} />}
        </>
    );
}
