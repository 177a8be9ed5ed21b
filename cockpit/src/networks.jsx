// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
//
// Virtual networks: the Network objects of the service (live from the ObjectManager),
// define from XML, start, stop, autostart, delete, the XML, the DHCP leases, the static
// DHCP hosts and the DNS hosts (Update).
import React, { useEffect, useState } from "react";
import {
    Alert, Button, Checkbox, CodeBlock, CodeBlockCode, EmptyState, EmptyStateBody,
    EmptyStateHeader, Flex, FormGroup, Label, ModalVariant, Switch, TextArea, TextInput, Toolbar,
    ToolbarContent, ToolbarItem,
} from "@patternfly/react-core";
import { ExpandableRowContent, Table, Tbody, Thead, Tr } from "@patternfly/react-table";
import { Cell, HeadCell } from "./cells.jsx";

import { CallDialog } from "./dialogs.jsx";
import { NETWORK, errorMessage, useObjects } from "./virtbus.js";

const _ = cockpit.gettext;

function DefineNetwork({ store, onClose }) {
    const [xml, setXml] = useState("");
    return (
        <CallDialog id="vb-net-define-dialog" confirmId="vb-net-define-confirm"
                    errorId="vb-net-define-error" variant={ModalVariant.medium}
                    title={_("Define a network from XML")} confirm={_("Define")}
                    failed={_("Not defined")} disabled={xml.trim() === ""}
                    onConfirm={() => store.managerCall("NetworkDefineXML", [xml, 0], "su")}
                    onClose={onClose}>
            <FormGroup label={_("Network XML (libvirt's format)")} fieldId="vb-net-xml">
                <TextArea id="vb-net-xml" value={xml} onChange={(_e, v) => setXml(v)} rows={16}
                          className="vb-mono" />
            </FormGroup>
        </CallDialog>
    );
}

function Leases({ store, net }) {
    const [leases, setLeases] = useState(null);
    const [error, setError] = useState(null);
    const [tick, setTick] = useState(0);
    useEffect(() => {
        let cancelled = false;
        if (!net.Active) {
            setLeases([]);
            return undefined;
        }
        store.call(net.path, NETWORK, "GetDHCPLeases", ["", 0], "su")
                .then(([l]) => { if (!cancelled) { setLeases(l); setError(null) } })
                .catch(err => { if (!cancelled) setError(err) });
        // leases come and go without a signal: read them again while they are shown
        const timer = window.setTimeout(() => setTick(t => t + 1), 10000);
        return () => { cancelled = true; window.clearTimeout(timer) };
    }, [store, net.path, net.Active, tick]);

    if (error)
        return <Alert variant="danger" isInline title={_("DHCP leases")}>{errorMessage(error)}</Alert>;
    return (
        <Flex direction={{ default: "column" }} className="vb-leases" data-network={net.Name}>
            <Flex>
                <strong>{_("DHCP leases")}</strong>
                <Button variant="link" isInline className="vb-leases-refresh"
                        onClick={() => setTick(t => t + 1)}>{_("Refresh")}</Button>
            </Flex>
            {leases === null || leases.length === 0
                ? <span className="vb-leases-none">{net.Active ? _("none") : _("the network is not running")}</span>
                : <Table variant="compact" aria-label={_("DHCP leases")}>
                    <Thead><Tr><HeadCell>{_("MAC")}</HeadCell><HeadCell>{_("Address")}</HeadCell><HeadCell>{_("Host name")}</HeadCell><HeadCell>{_("Expires")}</HeadCell></Tr></Thead>
                    <Tbody>
                        {leases.map(l => (
                            <Tr key={l.mac.v + l.ipaddr.v} className="vb-lease" data-mac={l.mac.v}>
                                <Cell>{l.mac.v}</Cell>
                                <Cell className="vb-lease-ip">{`${l.ipaddr.v}/${l.prefix ? l.prefix.v : ""}`}</Cell>
                                <Cell>{l.hostname ? l.hostname.v : ""}</Cell>
                                <Cell>{l.expirytime ? new Date(Number(l.expirytime.v) * 1000).toLocaleString() : ""}</Cell>
                            </Tr>
                        ))}
                    </Tbody>
                </Table>}
        </Flex>
    );
}

function NetworkXml({ xml }) {
    return <CodeBlock className="vb-net-xml"><CodeBlockCode>{xml}</CodeBlockCode></CodeBlock>;
}

const UPDATE_DELETE = 2;
const UPDATE_ADD_LAST = 3;
const SECTION_IP_DHCP_HOST = 4;
const SECTION_DNS_HOST = 10;
const AFFECT_LIVE = 1;
const AFFECT_CONFIG = 2;

function xmlEscape(v) {
    return v.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/'/g, "&apos;")
            .replace(/"/g, "&quot;");
}

function parseXml(xml) {
    return new window.DOMParser().parseFromString(xml, "application/xml");
}

// The two kinds of host entries Network.Update changes: how they are read from the XML,
// written for Update, shown and asked for
const HOST_KINDS = {
    dhcp: {
        section: SECTION_IP_DHCP_HOST,
        title: _("Static DHCP hosts"),
        dialogTitle: _("A static DHCP host on $0"),
        fields: [["mac", _("MAC address")], ["ip", _("IP address")], ["name", _("Host name")]],
        columns: [_("MAC"), _("Address"), _("Host name")],
        // <host mac='' ip='' name=''/>: [{mac, ip, name}]
        parse: xml => Array.from(parseXml(xml).querySelectorAll("network > ip > dhcp > host")).map(h => ({
            mac: h.getAttribute("mac") || "", ip: h.getAttribute("ip") || "", name: h.getAttribute("name") || "",
        })),
        toXml: h => `<host ${["mac", "ip", "name"].filter(k => h[k]).map(k => `${k}='${xmlEscape(h[k])}'`).join(" ")}/>`,
        valid: h => !!h.ip && !!(h.mac || h.name),
        cells: h => [h.mac, h.ip, h.name],
    },
    dns: {
        section: SECTION_DNS_HOST,
        title: _("DNS hosts"),
        dialogTitle: _("A DNS host on $0"),
        fields: [["ip", _("IP address")], ["names", _("Host names (separated by spaces)")]],
        columns: [_("Address"), _("Host names")],
        // <host ip=''><hostname>..</hostname>...</host>: [{ip, names}]
        parse: xml => Array.from(parseXml(xml).querySelectorAll("network > dns > host")).map(h => ({
            ip: h.getAttribute("ip") || "",
            names: Array.from(h.querySelectorAll("hostname")).map(n => n.textContent).join(" "),
        })),
        toXml: h => `<host ip='${xmlEscape(h.ip)}'>${h.names.split(/\s+/).filter(n => n)
                .map(n => `<hostname>${xmlEscape(n)}</hostname>`).join("")}</host>`,
        valid: h => !!h.ip && h.names.trim() !== "",
        cells: h => [h.ip, h.names],
    },
};

// Update's flags: the running network and/or its definition
function updateFlags(net, live, config) {
    return (net.Active && live ? AFFECT_LIVE : 0) | (net.Persistent && config ? AFFECT_CONFIG : 0);
}

function AddHost({ store, net, kind, onClose, onDone }) {
    const k = HOST_KINDS[kind];
    const [host, setHost] = useState(Object.fromEntries(k.fields.map(([f]) => [f, ""])));
    const [live, setLive] = useState(true);
    const [config, setConfig] = useState(true);
    const flags = updateFlags(net, live, config);
    return (
        <CallDialog id="vb-host-dialog" confirmId="vb-host-confirm" errorId="vb-host-error"
                    title={cockpit.format(k.dialogTitle, net.Name)} confirm={_("Add")}
                    failed={_("Not added")} disabled={!k.valid(host) || flags === 0}
                    onConfirm={() => store.call(net.path, NETWORK, "Update",
                                                [UPDATE_ADD_LAST, k.section, -1, k.toXml(host), flags],
                                                "uuisu").then(onDone)}
                    onClose={onClose}>
            {k.fields.map(([key, label]) => (
                <FormGroup key={key} label={label} fieldId={"vb-host-" + key}>
                    <TextInput id={"vb-host-" + key} value={host[key]}
                               onChange={(_e, v) => setHost(h => ({ ...h, [key]: key === "names" ? v : v.trim() }))} />
                </FormGroup>
            ))}
            {net.Active && <Checkbox id="vb-host-live" isChecked={live} onChange={(_e, v) => setLive(v)}
                                     label={_("Now (dnsmasq reloads its hosts)")} />}
            {net.Persistent && <Checkbox id="vb-host-config" isChecked={config} onChange={(_e, v) => setConfig(v)}
                                         label={_("In the definition (next starts)")} />}
        </CallDialog>
    );
}

// Static DHCP hosts or DNS hosts (Network.Update): listed from the XML shown, added,
// removed; the change goes to the running network and the definition
function Hosts({ store, net, kind, xml, reload, notify }) {
    const k = HOST_KINDS[kind];
    const [adding, setAdding] = useState(false);
    const hosts = xml ? k.parse(xml) : [];
    const remove = h => store.call(net.path, NETWORK, "Update",
                                   [UPDATE_DELETE, k.section, -1, k.toXml(h), updateFlags(net, true, true)],
                                   "uuisu")
            .then(reload)
            .catch(err => notify(cockpit.format(_("Removing $0 from $1 failed"), h.ip, net.Name), err));
    return (
        <Flex direction={{ default: "column" }} className={`vb-${kind}-hosts`} data-network={net.Name}>
            <Flex>
                <strong>{k.title}</strong>
                <Button variant="link" isInline className="vb-host-add" onClick={() => setAdding(true)}>
                    {_("Add")}</Button>
            </Flex>
            {hosts.length === 0
                ? <span>{_("none")}</span>
                : <Table variant="compact" aria-label={k.title}>
                    <Thead>
                        <Tr>
                            {k.columns.map(c => <HeadCell key={c}>{c}</HeadCell>)}
                            <HeadCell screenReaderText={_("Actions")} />
                        </Tr>
                    </Thead>
                    <Tbody>
                        {hosts.map(h => (
                            <Tr key={k.cells(h).join("/")} className={`vb-${kind}-host`} data-ip={h.ip}>
                                {k.cells(h).map((v, i) => <Cell key={i}>{v}</Cell>)}
                                <Cell isActionCell>
                                    <Button variant="link" isDanger size="sm" className="vb-host-remove"
                                            onClick={() => remove(h)}>{_("Remove")}</Button>
                                </Cell>
                            </Tr>
                        ))}
                    </Tbody>
                </Table>}
            {adding && <AddHost store={store} net={net} kind={kind} onClose={() => setAdding(false)} onDone={reload} />}
        </Flex>
    );
}

// the network's XML (the running one while active), read again after a change
function NetworkDetails({ store, net, notify }) {
    const [xml, setXml] = useState("");
    const [tick, setTick] = useState(0);
    useEffect(() => {
        let cancelled = false;
        store.call(net.path, NETWORK, "GetXMLDesc", [0], "u")
                .then(([x]) => { if (!cancelled) setXml(x) })
                .catch(err => { if (!cancelled) setXml(errorMessage(err)) });
        return () => { cancelled = true };
    }, [store, net.path, net.Active, tick]);
    const reload = () => setTick(t => t + 1);
    return (
        <Flex direction={{ default: "column" }}>
            <Leases store={store} net={net} />
            <Hosts store={store} net={net} kind="dhcp" xml={xml} reload={reload} notify={notify} />
            <Hosts store={store} net={net} kind="dns" xml={xml} reload={reload} notify={notify} />
            <NetworkXml xml={xml} />
        </Flex>
    );
}

function NetworkRow({ store, net, notify, index }) {
    const [expanded, setExpanded] = useState(false);
    const [busy, setBusy] = useState(false);
    const run = (label, method) => {
        setBusy(true);
        store.call(net.path, NETWORK, method, [], "")
                .catch(err => notify(cockpit.format(label, net.Name), err))
                .finally(() => setBusy(false));
    };
    return (
        <Tbody isExpanded={expanded}>
            <Tr className="vb-network" data-name={net.Name} data-active={net.Active ? "1" : "0"}>
                <Cell expand={{ rowIndex: index, isExpanded: expanded, onToggle: () => setExpanded(!expanded) }} />
                <Cell dataLabel={_("Name")}>{net.Name}</Cell>
                <Cell dataLabel={_("State")}>
                    <Label color={net.Active ? "green" : "grey"}>{net.Active ? _("Active") : _("Inactive")}</Label>
                </Cell>
                <Cell dataLabel={_("Bridge")}>{net.Bridge}</Cell>
                <Cell dataLabel={_("Autostart")}>
                    {net.Persistent
                        ? <Switch id={"vb-net-autostart-" + net.UUID} isChecked={!!net.Autostart}
                                  aria-label={cockpit.format(_("Start $0 with the service"), net.Name)}
                                  onChange={(_e, v) => store.call(net.path, "org.freedesktop.DBus.Properties", "Set",
                                                                  [NETWORK, "Autostart", cockpit.variant("b", v)], "ssv")
                                          .catch(err => notify(cockpit.format(_("Could not change autostart of $0"), net.Name), err))} />
                        : _("n/a")}
                </Cell>
                <Cell isActionCell>
                    <Flex spaceItems={{ default: "spaceItemsSm" }} justifyContent={{ default: "justifyContentFlexEnd" }}>
                        {net.Active
                            ? <Button variant="secondary" size="sm" data-action="net-stop" isDisabled={busy}
                                      onClick={() => run(_("Stopping $0 failed"), "Destroy")}>{_("Stop")}</Button>
                            : <Button variant="secondary" size="sm" data-action="net-start" isDisabled={busy}
                                      onClick={() => run(_("Starting $0 failed"), "Start")}>{_("Start")}</Button>}
                        {net.Persistent && !net.Active &&
                            <Button variant="link" isDanger size="sm" data-action="net-delete" isDisabled={busy}
                                    onClick={() => run(_("Deleting $0 failed"), "Undefine")}>{_("Delete")}</Button>}
                    </Flex>
                </Cell>
            </Tr>
            <Tr isExpanded={expanded}>
                <Cell colSpan={6}>
                    {expanded &&
                        <ExpandableRowContent>
                            <NetworkDetails store={store} net={net} notify={notify} />
                        </ExpandableRowContent>}
                </Cell>
            </Tr>
        </Tbody>
    );
}

export function NetworkList({ store, notify }) {
    const [defining, setDefining] = useState(false);
    const nets = Array.from(useObjects(store.networks).values())
            .sort((a, b) => (a.Name || "").localeCompare(b.Name || ""));
    return (
        <>
            <Toolbar id="vb-net-toolbar">
                <ToolbarContent>
                    <ToolbarItem align={{ default: "alignRight" }}>
                        <Button id="vb-net-define" variant="primary" onClick={() => setDefining(true)}>
                            {_("Define a network")}
                        </Button>
                    </ToolbarItem>
                </ToolbarContent>
            </Toolbar>
            {nets.length === 0
                ? <EmptyState id="vb-net-empty">
                    <EmptyStateHeader titleText={_("No virtual networks")} headingLevel="h2" />
                    <EmptyStateBody>{_("Define one from libvirt network XML.")}</EmptyStateBody>
                </EmptyState>
                : <Table id="vb-networks" aria-label={_("Virtual networks")} variant="compact">
                    <Thead>
                        <Tr>
                            <HeadCell screenReaderText={_("Details")} />
                            <HeadCell>{_("Name")}</HeadCell>
                            <HeadCell>{_("State")}</HeadCell>
                            <HeadCell>{_("Bridge")}</HeadCell>
                            <HeadCell>{_("Autostart")}</HeadCell>
                            <HeadCell screenReaderText={_("Actions")} />
                        </Tr>
                    </Thead>
                    {nets.map((n, i) => <NetworkRow key={n.path} store={store} net={n} notify={notify} index={i} />)}
                </Table>}
            {defining && <DefineNetwork store={store} onClose={() => setDefining(false)} />}
        </>
    );
}
