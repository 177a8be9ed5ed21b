// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
//
// A machine's disks and network interfaces, read from its XML (the live one while it
// runs), with hotplug (AttachDevice), detach (DetachDeviceAlias live, DetachDevice for the
// definition), and the media of a CD-ROM changed or ejected (UpdateDevice). Read again
// after each change and on the service's DeviceAdded/DeviceRemoved signals.
import React, { useEffect, useState } from "react";
import {
    Alert, Button, Checkbox, Flex, Form, FormGroup, FormSelect, FormSelectOption, Modal,
    ModalVariant, TextInput, Title,
} from "@patternfly/react-core";
import { Table, Tbody, Thead, Tr } from "@patternfly/react-table";
import { Cell, HeadCell } from "./cells.jsx";

import { CallDialog } from "./dialogs.jsx";
import { DOMAIN, errorMessage } from "./virtbus.js";

const _ = cockpit.gettext;

const AFFECT_LIVE = 1;
const AFFECT_CONFIG = 2;

function escapeAttr(text) {
    return String(text).replace(/[<>&'"]/g, c => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c]);
}

function attr(el, selector, name) {
    const e = selector ? el.querySelector(selector) : el;
    return e ? e.getAttribute(name) || "" : "";
}

// The devices of a domain XML text.
export function parseDevices(xml) {
    const doc = new DOMParser().parseFromString(xml, "application/xml");
    const disks = Array.from(doc.querySelectorAll("domain > devices > disk")).map(d => ({
        device: d.getAttribute("device") || "disk",
        type: d.getAttribute("type") || "file",
        target: attr(d, "target", "dev"),
        bus: attr(d, "target", "bus"),
        source: attr(d, "source", "file") || attr(d, "source", "dev") || attr(d, "source", "name"),
        format: attr(d, "driver", "type"),
        readonly: !!d.querySelector("readonly"),
        alias: attr(d, "alias", "name"),
        xml: new XMLSerializer().serializeToString(d),
    }));
    const nics = Array.from(doc.querySelectorAll("domain > devices > interface")).map(i => ({
        type: i.getAttribute("type") || "",
        source: attr(i, "source", "network") || attr(i, "source", "bridge") || attr(i, "source", "dev"),
        mac: attr(i, "mac", "address"),
        model: attr(i, "model", "type"),
        target: attr(i, "target", "dev"),
        link: attr(i, "link", "state") || "up",
        alias: attr(i, "alias", "name"),
        xml: new XMLSerializer().serializeToString(i),
    }));
    return { disks, nics };
}

function nextTarget(disks, bus) {
    const prefix = bus === "virtio" ? "vd" : "sd";
    for (let c = 0; c < 26; c++) {
        const t = prefix + String.fromCharCode(97 + c);
        if (!disks.some(d => d.target === t))
            return t;
    }
    return prefix + "z";
}

function ApplyTo({ dom, live, setLive, config, setConfig, id }) {
    return (
        <>
            {dom.Active && <Checkbox id={id + "-live"} label={_("Now, on the running machine")}
                                     isChecked={live} onChange={(_e, v) => setLive(v)} />}
            {dom.Persistent && <Checkbox id={id + "-config"} label={_("In the definition (next starts)")}
                                         isChecked={config} onChange={(_e, v) => setConfig(v)} />}
        </>
    );
}

function AddDisk({ store, dom, disks, onClose, onDone }) {
    const [source, setSource] = useState("");
    const [bus, setBus] = useState("virtio");
    const [device, setDevice] = useState("disk");
    const [live, setLive] = useState(dom.Active);
    const [config, setConfig] = useState(!dom.Active && dom.Persistent);
    const target = nextTarget(disks, bus);
    const add = () => {
        const format = /\.qcow2$/.test(source) ? "qcow2" : "raw";
        const xml = `<disk type='file' device='${device}'><driver name='qemu' type='${format}'/>` +
            `<source file='${escapeAttr(source)}'/><target dev='${target}' bus='${bus}'/>` +
            (device === "cdrom" ? "<readonly/>" : "") + "</disk>";
        return store.domainCall(dom.path, "AttachDevice",
                                [xml, (live ? AFFECT_LIVE : 0) | (config ? AFFECT_CONFIG : 0)], "su")
                .then(onDone);
    };
    return (
        <CallDialog id="vb-disk-add-dialog" confirmId="vb-disk-add-confirm" errorId="vb-disk-add-error"
                    title={cockpit.format(_("Add a disk to $0"), dom.Name)} confirm={_("Add")}
                    failed={_("Not added")} disabled={!source.startsWith("/") || (!live && !config)}
                    onConfirm={add} onClose={onClose}>
            <FormGroup label={_("Image file on the host")} fieldId="vb-disk-source">
                <TextInput id="vb-disk-source" value={source} onChange={(_e, v) => setSource(v)}
                           placeholder="/var/lib/virtbus/images/data.qcow2" />
            </FormGroup>
            <FormGroup label={_("Kind")} fieldId="vb-disk-device">
                <FormSelect id="vb-disk-device" value={device}
                            onChange={(_e, v) => { setDevice(v); if (v === "cdrom") setBus("scsi") }}>
                    <FormSelectOption value="disk" label={_("Disk")} />
                    <FormSelectOption value="cdrom" label={_("CD-ROM")} />
                </FormSelect>
            </FormGroup>
            <FormGroup label={cockpit.format(_("Bus (becomes $0)"), target)} fieldId="vb-disk-bus">
                <FormSelect id="vb-disk-bus" value={bus} onChange={(_e, v) => setBus(v)}>
                    <FormSelectOption value="virtio" label="virtio" isDisabled={device === "cdrom"} />
                    <FormSelectOption value="scsi" label="SCSI (virtio-scsi)" />
                    <FormSelectOption value="usb" label="USB" />
                    <FormSelectOption value="sata" label={_("SATA (not while running)")} />
                </FormSelect>
            </FormGroup>
            <ApplyTo dom={dom} live={live} setLive={setLive} config={config} setConfig={setConfig} id="vb-disk" />
        </CallDialog>
    );
}

function ChangeMedia({ store, dom, disk, onClose, onDone }) {
    const [source, setSource] = useState(disk.source);
    const [busy, setBusy] = useState(false);
    const [error, setError] = useState(null);
    const run = (eject) => {
        const xml = `<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>` +
            (eject ? "" : `<source file='${escapeAttr(source)}'/>`) +
            `<target dev='${disk.target}' bus='${disk.bus}'/><readonly/></disk>`;
        setBusy(true);
        store.domainCall(dom.path, "UpdateDevice", [xml, dom.Active ? AFFECT_LIVE : AFFECT_CONFIG], "su")
                .then(() => { onDone(); onClose() })
                .catch(err => { setError(err); setBusy(false) });
    };
    return (
        <Modal variant={ModalVariant.small} isOpen onClose={onClose} id="vb-media-dialog"
               title={cockpit.format(_("Media of $0"), disk.target)}
               actions={[
                   <Button key="change" variant="primary" id="vb-media-confirm" isLoading={busy}
                           isDisabled={busy || !source.startsWith("/")} onClick={() => run(false)}>
                       {disk.source ? _("Change") : _("Insert")}</Button>,
                   disk.source && <Button key="eject" variant="secondary" id="vb-media-eject" isDisabled={busy}
                                          onClick={() => run(true)}>{_("Eject")}</Button>,
                   <Button key="cancel" variant="link" onClick={onClose}>{_("Cancel")}</Button>,
               ].filter(Boolean)}>
            {error && <Alert variant="danger" isInline id="vb-media-error" data-error-name={error.name || ""}
                             title={_("Not changed")}>{errorMessage(error)}</Alert>}
            <Form onSubmit={e => { e.preventDefault(); run(false) }}>
                <FormGroup label={_("Image file on the host")} fieldId="vb-media-source">
                    <TextInput id="vb-media-source" value={source} onChange={(_e, v) => setSource(v)} />
                </FormGroup>
            </Form>
        </Modal>
    );
}

function AddInterface({ store, dom, onClose, onDone }) {
    const nets = store.networks.list().map(n => n.Name).sort();
    const [kind, setKind] = useState(nets.length ? "network" : "user");
    const [source, setSource] = useState(nets.length ? nets[0] : "");
    const [model, setModel] = useState("virtio");
    const [live, setLive] = useState(dom.Active);
    const [config, setConfig] = useState(!dom.Active && dom.Persistent);
    const add = () => {
        let src = "";
        if (kind === "network")
            src = `<source network='${escapeAttr(source)}'/>`;
        else if (kind === "bridge")
            src = `<source bridge='${escapeAttr(source)}'/>`;
        const xml = `<interface type='${kind}'>${src}<model type='${model}'/></interface>`;
        return store.domainCall(dom.path, "AttachDevice",
                                [xml, (live ? AFFECT_LIVE : 0) | (config ? AFFECT_CONFIG : 0)], "su")
                .then(onDone);
    };
    return (
        <CallDialog id="vb-nic-add-dialog" confirmId="vb-nic-add-confirm" errorId="vb-nic-add-error"
                    title={cockpit.format(_("Add a network interface to $0"), dom.Name)}
                    confirm={_("Add")} failed={_("Not added")}
                    disabled={(kind !== "user" && !source) || (!live && !config)}
                    onConfirm={add} onClose={onClose}>
            <FormGroup label={_("Connected to")} fieldId="vb-nic-kind">
                <FormSelect id="vb-nic-kind" value={kind}
                            onChange={(_e, v) => { setKind(v); setSource(v === "network" && nets.length ? nets[0] : "") }}>
                    <FormSelectOption value="network" label={_("A virtual network")} isDisabled={!nets.length} />
                    <FormSelectOption value="bridge" label={_("A host bridge")} />
                    <FormSelectOption value="user" label={_("User-mode networking (passt/slirp)")} />
                </FormSelect>
            </FormGroup>
            {kind === "network" &&
                <FormGroup label={_("Network")} fieldId="vb-nic-network">
                    <FormSelect id="vb-nic-network" value={source} onChange={(_e, v) => setSource(v)}>
                        {nets.map(n => <FormSelectOption key={n} value={n} label={n} />)}
                    </FormSelect>
                </FormGroup>}
            {kind === "bridge" &&
                <FormGroup label={_("Bridge")} fieldId="vb-nic-bridge">
                    <TextInput id="vb-nic-bridge" value={source} onChange={(_e, v) => setSource(v)} />
                </FormGroup>}
            <FormGroup label={_("Model")} fieldId="vb-nic-model">
                <FormSelect id="vb-nic-model" value={model} onChange={(_e, v) => setModel(v)}>
                    {["virtio", "e1000e", "e1000", "rtl8139"].map(m => <FormSelectOption key={m} value={m} label={m} />)}
                </FormSelect>
            </FormGroup>
            <ApplyTo dom={dom} live={live} setLive={setLive} config={config} setConfig={setConfig} id="vb-nic" />
        </CallDialog>
    );
}

export function Devices({ store, dom, notify }) {
    const [xml, setXml] = useState(null);
    const [defined, setDefined] = useState(null); // the persistent definition's devices
    const [tick, setTick] = useState(0);
    const [dialog, setDialog] = useState(null);
    const [busy, setBusy] = useState(false);
    const refresh = () => setTick(t => t + 1);

    useEffect(() => {
        let cancelled = false;
        Promise.all([store.domainCall(dom.path, "GetXMLDesc", [0], "u"),
            dom.Active && dom.Persistent ? store.domainCall(dom.path, "GetXMLDesc", [2], "u") : null])
                .then(([[x], inactive]) => {
                    if (cancelled)
                        return;
                    setXml(x);
                    setDefined(parseDevices(inactive ? inactive[0] : x));
                })
                .catch(err => notify(_("Could not read the definition"), err));
        return () => { cancelled = true };
    }, [store, dom.path, dom.State, tick]); // eslint-disable-line react-hooks/exhaustive-deps

    // devices added or removed by anyone (also the guest finishing an unplug)
    useEffect(() => {
        if (!store.objects)
            return undefined;
        const subs = ["DeviceAdded", "DeviceRemoved"].map(member =>
            store.objects.subscribe({ path: dom.path, interface: DOMAIN, member }, refresh));
        return () => subs.forEach(s => s.remove());
    }, [store.objects, dom.path]);

    if (xml === null)
        return null;
    const { disks, nics } = parseDevices(xml);
    // a device of the running machine that the definition has too goes from both
    const inDefinition = dev => !!defined && dom.Persistent &&
        (dev.mac !== undefined ? defined.nics.some(n => n.mac === dev.mac)
            : defined.disks.some(d => d.target === dev.target));
    const detach = (what, dev) => {
        setBusy(true);
        const flags = dom.Active ? AFFECT_LIVE | (inDefinition(dev) ? AFFECT_CONFIG : 0) : AFFECT_CONFIG;
        const call = dom.Active && dev.alias
            ? store.domainCall(dom.path, "DetachDeviceAlias", [dev.alias, flags], "su")
            : store.domainCall(dom.path, "DetachDevice", [dev.xml, flags], "su");
        call.catch(err => notify(cockpit.format(_("Detaching $0 failed"), what), err))
                .finally(() => { setBusy(false); refresh() });
    };
    return (
        <Flex direction={{ default: "column" }} id="vb-devices">
            <Flex alignItems={{ default: "alignItemsCenter" }}>
                <Title headingLevel="h3">{_("Disks")}</Title>
                <Button variant="secondary" size="sm" id="vb-disk-add" onClick={() => setDialog({ kind: "disk" })}>
                    {_("Add a disk")}</Button>
            </Flex>
            <Table variant="compact" aria-label={_("Disks")} id="vb-disks">
                <Thead><Tr><HeadCell>{_("Target")}</HeadCell><HeadCell>{_("Kind")}</HeadCell><HeadCell>{_("Bus")}</HeadCell><HeadCell>{_("Source")}</HeadCell><HeadCell>{_("Format")}</HeadCell><HeadCell screenReaderText={_("Actions")} /></Tr></Thead>
                <Tbody>
                    {disks.map(d => (
                        <Tr key={d.target} className="vb-disk" data-target={d.target} data-source={d.source}>
                            <Cell>{d.target}</Cell>
                            <Cell>{d.device === "cdrom" ? _("CD-ROM") : d.device}{d.readonly && d.device !== "cdrom" ? " " + _("(read-only)") : ""}</Cell>
                            <Cell>{d.bus}</Cell>
                            <Cell className="vb-disk-source">{d.source || (d.device === "cdrom" ? _("(empty)") : "")}</Cell>
                            <Cell>{d.format}</Cell>
                            <Cell isActionCell>
                                <Flex spaceItems={{ default: "spaceItemsSm" }} justifyContent={{ default: "justifyContentFlexEnd" }}>
                                    {d.device === "cdrom" &&
                                        <Button variant="secondary" size="sm" data-action="media" isDisabled={busy}
                                                onClick={() => setDialog({ kind: "media", disk: d })}>{_("Media…")}</Button>}
                                    <Button variant="link" isDanger size="sm" data-action="detach" isDisabled={busy}
                                            onClick={() => detach(d.target, d)}>{_("Detach")}</Button>
                                </Flex>
                            </Cell>
                        </Tr>
                    ))}
                </Tbody>
            </Table>
            <Flex alignItems={{ default: "alignItemsCenter" }}>
                <Title headingLevel="h3">{_("Network interfaces")}</Title>
                <Button variant="secondary" size="sm" id="vb-nic-add" onClick={() => setDialog({ kind: "nic" })}>
                    {_("Add an interface")}</Button>
            </Flex>
            <Table variant="compact" aria-label={_("Network interfaces")} id="vb-nics">
                <Thead><Tr><HeadCell>{_("MAC")}</HeadCell><HeadCell>{_("Type")}</HeadCell><HeadCell>{_("Source")}</HeadCell><HeadCell>{_("Model")}</HeadCell><HeadCell>{_("Host device")}</HeadCell><HeadCell>{_("Link")}</HeadCell><HeadCell screenReaderText={_("Actions")} /></Tr></Thead>
                <Tbody>
                    {nics.map(n => (
                        <Tr key={n.mac || n.alias} className="vb-nic" data-mac={n.mac}>
                            <Cell>{n.mac}</Cell><Cell>{n.type}</Cell><Cell>{n.source}</Cell><Cell>{n.model}</Cell>
                            <Cell>{n.target}</Cell><Cell>{n.link}</Cell>
                            <Cell isActionCell>
                                <Button variant="link" isDanger size="sm" data-action="detach" isDisabled={busy}
                                        onClick={() => detach(n.mac, n)}>{_("Detach")}</Button>
                            </Cell>
                        </Tr>
                    ))}
                </Tbody>
            </Table>
            {dialog && dialog.kind === "disk" &&
                <AddDisk store={store} dom={dom} disks={disks} onClose={() => setDialog(null)} onDone={refresh} />}
            {dialog && dialog.kind === "media" &&
                <ChangeMedia store={store} dom={dom} disk={dialog.disk} onClose={() => setDialog(null)} onDone={refresh} />}
            {dialog && dialog.kind === "nic" &&
                <AddInterface store={store} dom={dom} onClose={() => setDialog(null)} onDone={refresh} />}
        </Flex>
    );
}
