// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
import React, { useEffect, useState } from "react";
import {
    Alert, Breadcrumb, BreadcrumbItem, Button, CodeBlock, CodeBlockCode, DescriptionList,
    DescriptionListDescription, DescriptionListGroup, DescriptionListTerm, EmptyState,
    EmptyStateHeader, Flex, FlexItem, List, ListItem, Tab, TabTitleText, Tabs, TextArea,
    Title,
} from "@patternfly/react-core";

import { DomainActions, StateLabel, formatMemory } from "./domains.jsx";
import { JobsPanel } from "./jobs.jsx";
import { SerialConsole } from "./console.jsx";
import { Snapshots } from "./snapshots.jsx";
import { Display } from "./display.jsx";
import { errorMessage } from "./virtbus.js";

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

function Overview({ store, dom }) {
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
                {item(_("UUID"), dom.UUID, "vb-ov-uuid")}
                {dom.Title ? item(_("Title"), dom.Title) : null}
                {dom.Description ? item(_("Description"), dom.Description) : null}
                {item(_("Memory"), dom.Active && dom.CurrentMemory
                    ? cockpit.format(_("$0 (balloon $1)"), formatMemory(dom.Memory), formatMemory(dom.CurrentMemory))
                    : formatMemory(dom.Memory), "vb-ov-memory")}
                {item(_("vCPUs"), dom.VCPUs, "vb-ov-vcpus")}
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
    const dom = store.domains.get(path);
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
