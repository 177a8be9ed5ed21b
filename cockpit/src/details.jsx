// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
import React, { useEffect, useState } from "react";
import {
    Alert, Breadcrumb, BreadcrumbItem, Button, Checkbox, CodeBlock, CodeBlockCode, DescriptionList,
    DescriptionListDescription, DescriptionListGroup, DescriptionListTerm, EmptyState,
    EmptyStateHeader, Flex, FlexItem, FormGroup, List, ListItem, Tab, TabTitleText, Tabs,
    TextArea, TextInput, Title,
} from "@patternfly/react-core";

import { DomainActions, StateLabel, formatMemory } from "./domains.jsx";
import { JobsPanel } from "./jobs.jsx";
import { SerialConsole } from "./console.jsx";
import { CallDialog } from "./dialogs.jsx";
import { Snapshots } from "./snapshots.jsx";
import { Display } from "./display.jsx";
import { Devices } from "./devices.jsx";
import { errorMessage, useObjects } from "./virtbus.js";

const _ = cockpit.gettext;

// InterfaceAddresses sources (libvirt's values) in the order the page asks them
const ADDRESS_SOURCES = [[1, _("guest agent")], [0, _("DHCP lease")], [2, _("ARP")]];

function Addresses({ store, dom }) {
    const [addrs, setAddrs] = useState(null);
    const active = dom.Active;
    const agent = dom.AgentConnected;

    useEffect(() => {
        let cancelled = false;
        if (!active) {
            setAddrs(null);
            return;
        }
        // the first source that knows anything: the agent (when connected), the leases, ARP
        const sources = ADDRESS_SOURCES.filter(([src]) => src !== 1 || agent);
        const next = (i) => {
            if (i >= sources.length)
                return Promise.resolve([[], ""]);
            return store.domainCall(dom.path, "InterfaceAddresses", [sources[i][0]], "u")
                    .then(([ifaces]) => {
                        const found = ifaces.filter(([name, mac, list]) => list.length > 0 && name !== "lo");
                        return found.length ? [found, sources[i][1]] : next(i + 1);
                    })
                    .catch(() => next(i + 1));
        };
        next(0).then(r => { if (!cancelled) setAddrs(r) });
        return () => { cancelled = true };
    }, [store, dom.path, active, agent]);

    if (!active)
        return _("not running");
    if (addrs === null)
        return _("looking…");
    const [ifaces, source] = addrs;
    if (ifaces.length === 0)
        return _("none known");
    return (
        <List isPlain id="vb-addresses" data-source={source}>
            {ifaces.map(([name, mac, list]) => list.map(([type, addr, prefix]) => (
                <ListItem key={name + addr}>{`${addr}/${prefix} (${name}${mac ? ", " + mac : ""})`}</ListItem>
            )))}
            <ListItem className="vb-address-source">{cockpit.format(_("from the $0"), source)}</ListItem>
        </List>
    );
}

// Memory (SetMemory: the balloon while running, and/or the definition) and vCPUs
// (SetVcpus: hot-plugged while running, and/or the definition).
function ResourceDialog({ store, dom, what, onClose }) {
    const isMemory = what === "memory";
    const [value, setValue] = useState(isMemory ? String(Math.round(Number(dom.Memory) / 1024)) : String(dom.VCPUs));
    const [live, setLive] = useState(!!dom.Active);
    const [config, setConfig] = useState(!!dom.Persistent);
    const [maxVcpus, setMaxVcpus] = useState(null); // the definition's <vcpu> maximum
    useEffect(() => {
        if (isMemory || !dom.Persistent)
            return;
        store.domainCall(dom.path, "GetXMLDesc", [2], "u").then(([x]) => {
            const v = new DOMParser().parseFromString(x, "application/xml").querySelector("domain > vcpu");
            setMaxVcpus(v ? Number(v.textContent) : null);
        }).catch(() => setMaxVcpus(null));
    }, [store, dom.path, dom.Persistent, isMemory]);
    const n = Number(value);
    // more vCPUs than the definition's maximum: the maximum is raised first (it applies
    // at the next start, as the count does)
    const raise = !isMemory && config && maxVcpus !== null && n > maxVcpus;
    const apply = () => {
        const flags = (live ? 1 : 0) | (config ? 2 : 0);
        if (isMemory)
            return store.domainCall(dom.path, "SetMemory", [n * 1024, flags], "tu");
        if (raise && live)
            return Promise.reject(new Error(cockpit.format(
                _("$0 vCPUs is above the maximum of $1: change the definition alone (the maximum is raised), then restart"),
                n, maxVcpus)));
        if (raise)
            return store.domainCall(dom.path, "SetVcpus", [n, 4 | 2], "uu")
                    .then(() => store.domainCall(dom.path, "SetVcpus", [n, flags], "uu"));
        return store.domainCall(dom.path, "SetVcpus", [n, flags], "uu");
    };
    return (
        <CallDialog id="vb-resource-dialog" confirmId="vb-resource-confirm" errorId="vb-resource-error"
                    title={isMemory ? cockpit.format(_("Memory of $0"), dom.Name) : cockpit.format(_("vCPUs of $0"), dom.Name)}
                    confirm={_("Apply")} failed={_("Not changed")} disabled={!(n > 0) || (!live && !config)}
                    onConfirm={apply} onClose={onClose}>
            <FormGroup label={isMemory ? _("Memory (MiB)") : _("vCPUs")} fieldId="vb-resource-value">
                <TextInput id="vb-resource-value" type="number" value={value} onChange={(_e, v) => setValue(v)} />
            </FormGroup>
            {dom.Active && <Checkbox id="vb-resource-live" isChecked={live} onChange={(_e, v) => setLive(v)}
                                     label={isMemory ? _("Now (the guest's balloon)") : _("Now (hot-plugged)")} />}
            {dom.Persistent && <Checkbox id="vb-resource-config" isChecked={config} onChange={(_e, v) => setConfig(v)}
                                         label={_("In the definition (next starts)")} />}
            {raise && !live && <Alert variant="info" isInline isPlain id="vb-resource-raise"
                                      title={cockpit.format(_("The maximum ($0) is raised to $1 too."), maxVcpus, n)} />}
        </CallDialog>
    );
}

// "2 days, 3:04:05" from seconds
function formatUptime(secs) {
    const s = Math.max(0, Math.floor(secs));
    const days = Math.floor(s / 86400);
    const pad = n => String(n).padStart(2, "0");
    const clock = `${Math.floor(s % 86400 / 3600)}:${pad(Math.floor(s % 3600 / 60))}:${pad(s % 60)}`;
    return days > 0 ? cockpit.format(cockpit.ngettext("$0 day, $1", "$0 days, $1", days), days, clock) : clock;
}

// Since the StartTime property (µs on the wall clock): ticks once a second by itself, so
// only this text renders again
function Uptime({ start }) {
    const [now, setNow] = useState(Date.now());
    useEffect(() => {
        const timer = window.setInterval(() => setNow(Date.now()), 1000);
        return () => window.clearInterval(timer);
    }, []);
    const started = new Date(start / 1000);
    return (
        <span id="vb-ov-uptime" data-start={start}
              title={cockpit.format(_("Started $0"), started.toLocaleString())}>
            {formatUptime((now - start / 1000) / 1000)}
        </span>
    );
}

function Overview({ store, dom }) {
    const [changing, setChanging] = useState(null);
    const item = (term, value, id) => (
        <DescriptionListGroup key={term}>
            <DescriptionListTerm>{term}</DescriptionListTerm>
            <DescriptionListDescription id={id}>{value}</DescriptionListDescription>
        </DescriptionListGroup>
    );
    const yes = b => b ? _("yes") : _("no");
    return (
        <Flex direction={{ default: "column" }}>
            <DescriptionList isHorizontal columnModifier={{ lg: "2Col" }} id="vb-overview">
                {item(_("State"), <><StateLabel dom={dom} /> {dom.StateReason}</>, "vb-ov-state")}
                {dom.Active && dom.StartTime > 0 ? item(_("Uptime"), <Uptime start={dom.StartTime} />) : null}
                {item(_("UUID"), dom.UUID, "vb-ov-uuid")}
                {dom.Title ? item(_("Title"), dom.Title) : null}
                {dom.Description ? item(_("Description"), dom.Description) : null}
                {item(_("Memory"), <>
                    <span id="vb-ov-memory">{dom.Active && dom.CurrentMemory
                        ? cockpit.format(_("$0 (balloon $1)"), formatMemory(dom.Memory), formatMemory(dom.CurrentMemory))
                        : formatMemory(dom.Memory)}</span>
                    {" "}<Button variant="link" isInline id="vb-memory-change" onClick={() => setChanging("memory")}>{_("change")}</Button>
                </>)}
                {item(_("vCPUs"), <>
                    <span id="vb-ov-vcpus">{dom.VCPUs}</span>
                    {" "}<Button variant="link" isInline id="vb-vcpus-change" onClick={() => setChanging("vcpus")}>{_("change")}</Button>
                </>)}
                {item(_("IP addresses"), <Addresses store={store} dom={dom} />)}
                {item(_("Guest agent"), dom.AgentConnected ? _("connected") : _("not connected"),
                      "vb-ov-agent")}
                {item(_("Persistent"), yes(dom.Persistent))}
                {item(_("Autostart"), yes(dom.Autostart))}
                {item(_("Saved state"), yes(dom.HasManagedSave))}
                {dom.AutodestroyOwner ? item(_("Ends with client"), dom.AutodestroyOwner) : null}
                {dom.Tainted && dom.Tainted.length > 0 ? item(_("Tainted"), dom.Tainted.join(", ")) : null}
            </DescriptionList>
            {dom.Unsupported && dom.Unsupported.length > 0 &&
                <Alert variant="warning" isInline id="vb-ov-unsupported"
                       title={_("Settings of the definition virtbus does not act on")}>
                    <List>{dom.Unsupported.map(u => <ListItem key={u}>{u}</ListItem>)}</List>
                </Alert>}
            {changing && <ResourceDialog store={store} dom={dom} what={changing} onClose={() => setChanging(null)} />}
        </Flex>
    );
}

// The definition: read-only, or edited and defined again (DefineXML of the same name and
// UUID updates it; a running domain takes it at its next start).
function XmlTab({ store, dom }) {
    const [xml, setXml] = useState(null);
    const [error, setError] = useState(null);
    const [editing, setEditing] = useState(null);
    const [busy, setBusy] = useState(false);
    const [saved, setSaved] = useState(false);

    const load = () => store.domainCall(dom.path, "GetXMLDesc", [dom.Active ? 0 : 2], "u")
            .then(([text]) => { setXml(text); setError(null) })
            .catch(setError);
    // reload when the domain changes state (the live XML differs from the inactive one)
    useEffect(() => { load() }, [dom.path, dom.State]); // eslint-disable-line react-hooks/exhaustive-deps

    const define = () => {
        setBusy(true);
        setSaved(false);
        store.managerCall("DefineXML", [editing, 0], "su")
                .then(() => { setEditing(null); setSaved(true); return load() })
                .catch(setError)
                .finally(() => setBusy(false));
    };
    return (
        <Flex direction={{ default: "column" }}>
            {error && <Alert variant="danger" isInline id="vb-xml-error" title={_("The definition")}
                             data-error-name={error.name || ""}>{errorMessage(error)}</Alert>}
            {saved && <Alert variant="success" isInline id="vb-xml-saved"
                             title={dom.Active ? _("Defined; it applies at the next start")
                                 : _("Defined")} />}
            {editing === null
                ? <>
                    <FlexItem>
                        <Button variant="secondary" id="vb-xml-edit" isDisabled={xml === null || !dom.Persistent}
                                onClick={() => store.domainCall(dom.path, "GetXMLDesc", [2], "u")
                                        .then(([t]) => setEditing(t)).catch(setError)}>
                            {_("Edit")}
                        </Button>
                    </FlexItem>
                    <CodeBlock id="vb-xml"><CodeBlockCode>{xml || ""}</CodeBlockCode></CodeBlock>
                </>
                : <>
                    <TextArea id="vb-xml-editor" value={editing} onChange={(_e, v) => setEditing(v)}
                              rows={24} resizeOrientation="vertical" aria-label={_("Domain XML")}
                              className="vb-mono" />
                    <Flex>
                        <Button variant="primary" id="vb-xml-define" isLoading={busy} isDisabled={busy}
                                onClick={define}>{_("Define")}</Button>
                        <Button variant="link" onClick={() => setEditing(null)}>{_("Cancel")}</Button>
                    </Flex>
                </>}
        </Flex>
    );
}

export function DomainDetails({ store, path, notify, onBack }) {
    const [tab, setTab] = useState("overview");
    const dom = useObjects(store.domains).get(path);
    if (!dom) {
        return (
            <EmptyState id="vb-details-gone">
                <EmptyStateHeader titleText={_("This virtual machine is gone")} headingLevel="h2" />
                <Button variant="link" onClick={onBack}>{_("Back to the list")}</Button>
            </EmptyState>
        );
    }
    return (
        <div id="vb-details" data-name={dom.Name} data-state={dom.State}>
            <Breadcrumb>
                <BreadcrumbItem to="#/" onClick={e => { e.preventDefault(); onBack() }}>
                    {_("Virtual machines")}
                </BreadcrumbItem>
                <BreadcrumbItem isActive>{dom.Name}</BreadcrumbItem>
            </Breadcrumb>
            <Flex className="vb-details-head" alignItems={{ default: "alignItemsCenter" }}>
                <Title headingLevel="h2" id="vb-details-name">{dom.Name}</Title>
                <StateLabel dom={dom} />
                <FlexItem align={{ default: "alignRight" }}>
                    <DomainActions store={store} dom={dom} notify={notify} />
                </FlexItem>
            </Flex>
            <JobsPanel store={store} notify={notify} domain={path} />
            <Tabs activeKey={tab} onSelect={(_e, k) => setTab(k)} id="vb-tabs" mountOnEnter unmountOnExit>
                <Tab eventKey="overview" title={<TabTitleText data-tab="overview">{_("Overview")}</TabTitleText>} id="vb-tab-overview">
                    <Overview store={store} dom={dom} />
                </Tab>
                <Tab eventKey="devices" title={<TabTitleText data-tab="devices">{_("Disks and interfaces")}</TabTitleText>}
                     id="vb-tab-devices">
                    <Devices store={store} dom={dom} notify={notify} />
                </Tab>
                <Tab eventKey="console" title={<TabTitleText data-tab="console">{_("Console")}</TabTitleText>}
                     id="vb-tab-console">
                    <SerialConsole dom={dom} />
                </Tab>
                <Tab eventKey="display" title={<TabTitleText data-tab="display">{_("Display")}</TabTitleText>}
                     id="vb-tab-display">
                    <Display dom={dom} />
                </Tab>
                <Tab eventKey="snapshots" title={<TabTitleText data-tab="snapshots">{_("Snapshots")}</TabTitleText>}
                     id="vb-tab-snapshots">
                    <Snapshots store={store} dom={dom} notify={notify} />
                </Tab>
                <Tab eventKey="xml" title={<TabTitleText data-tab="xml">{_("XML")}</TabTitleText>} id="vb-tab-xml">
                    <XmlTab store={store} dom={dom} />
                </Tab>
            </Tabs>
        </div>
    );
}
