// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
import React, { useState } from "react";
import {
    Alert, Button, Checkbox, FileUpload, Form, FormGroup, List, ListItem, Modal, ModalVariant,
} from "@patternfly/react-core";

import { DEFINE_VALIDATE, errorMessage, shortError, useObjects } from "./virtbus.js";

const _ = cockpit.gettext;

// The settings a NotSupported refusal of DefineXML(VALIDATE) names, one per line or "; ".
function unsupportedLines(message) {
    const text = (message || "").replace(/^[^:]*not act on:?\s*/i, "");
    return text.split(/\n|;\s+/).map(s => s.trim()).filter(s => s.length > 0);
}

// Define a domain from libvirt XML (pasted or read from a file). The definition is first
// sent with VALIDATE, so the settings virtbus would not act on are listed before anything
// is stored; the person then defines it anyway or goes back to the XML. After a define the
// domain's Unsupported property is shown again, as the service recorded it.
export function CreateDialog({ store, onClose }) {
    const [xml, setXml] = useState("");
    const [filename, setFilename] = useState("");
    const [start, setStart] = useState(false);
    const [busy, setBusy] = useState(false);
    const [error, setError] = useState(null);
    const [warnings, setWarnings] = useState(null); // before define: the refusal's list
    const [defined, setDefined] = useState(null);   // after define: the domain's path
    const domains = useObjects(store.domains);

    const finish = (path) => {
        setDefined(path);
        const after = start ? store.domainCall(path, "Start", [0], "u") : Promise.resolve();
        return after.catch(err => setError(err));
    };

    const define = (flags) => {
        setBusy(true);
        setError(null);
        store.managerCall("DefineXML", [xml, flags], "su")
                .then(([path]) => finish(path))
                .catch(err => {
                    if (flags & DEFINE_VALIDATE && shortError(err) === "NotSupported")
                        setWarnings(unsupportedLines(err.message));
                    else
                        setError(err);
                })
                .finally(() => setBusy(false));
    };

    const dom = defined ? domains.get(defined) : null;
    const after = dom && dom.Unsupported ? dom.Unsupported : [];
    let actions;
    if (defined) {
        actions = [<Button key="close" variant="primary" id="vb-create-close" onClick={onClose}>
            {_("Close")}</Button>];
    } else if (warnings) {
        actions = [
            <Button key="anyway" variant="warning" id="vb-create-anyway" isLoading={busy}
                    isDisabled={busy} onClick={() => define(0)}>{_("Define anyway")}</Button>,
            <Button key="back" variant="secondary" onClick={() => setWarnings(null)}>
                {_("Edit the XML")}</Button>,
            <Button key="cancel" variant="link" onClick={onClose}>{_("Cancel")}</Button>,
        ];
    } else {
        actions = [
            <Button key="define" variant="primary" id="vb-create-define" isLoading={busy}
                    isDisabled={busy || xml.trim() === ""} onClick={() => define(DEFINE_VALIDATE)}>
                {_("Define")}</Button>,
            <Button key="cancel" variant="link" id="vb-create-cancel" onClick={onClose}>{_("Cancel")}</Button>,
        ];
    }

    return (
        <Modal variant={ModalVariant.medium} isOpen onClose={onClose} id="vb-create-dialog"
               title={_("Create a virtual machine from XML")} actions={actions}>
            {error &&
                <Alert variant="danger" isInline id="vb-create-error" data-error-name={error.name || ""}
                       title={defined ? _("Defined, but it did not start") : _("Not defined")}>
                    {errorMessage(error)}
                </Alert>}
            {warnings && !defined &&
                <Alert variant="warning" isInline id="vb-create-warnings"
                       title={_("virtbus would not act on these settings")}>
                    <List>{warnings.map(w => <ListItem key={w}>{w}</ListItem>)}</List>
                    {_("Defined anyway, they are kept in the definition and listed on the machine.")}
                </Alert>}
            {defined &&
                <Alert variant={after.length ? "warning" : "success"} isInline id="vb-create-done"
                       title={after.length
                           ? cockpit.format(_("$0 defined; settings not applied:"), dom ? dom.Name : "")
                           : cockpit.format(_("$0 defined"), dom ? dom.Name : "")}>
                    {after.length > 0 &&
                        <List id="vb-create-unsupported">
                            {after.map(w => <ListItem key={w}>{w}</ListItem>)}
                        </List>}
                </Alert>}
            {!defined &&
                <Form onSubmit={e => e.preventDefault()}>
                    <FormGroup label={_("Domain XML (libvirt's format)")} fieldId="vb-create-xml">
                        <FileUpload id="vb-create-xml" type="text" value={xml} filename={filename}
                                    filenamePlaceholder={_("Paste the XML or upload a file")}
                                    onFileInputChange={(_e, file) => setFilename(file.name)}
                                    onDataChange={(_e, data) => setXml(data)}
                                    onTextChange={(_e, text) => { setXml(text); setWarnings(null) }}
                                    onClearClick={() => { setXml(""); setFilename(""); setWarnings(null) }}
                                    allowEditingUploadedText browseButtonText={_("Upload")}
                                    isReadOnly={busy} />
                    </FormGroup>
                    <Checkbox id="vb-create-start" label={_("Run it once defined")} isChecked={start}
                              onChange={(_e, v) => setStart(v)} />
                </Form>}
        </Modal>
    );
}
