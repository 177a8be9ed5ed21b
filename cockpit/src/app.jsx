// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
import React, { useCallback, useEffect, useState } from "react";
import {
    Alert, AlertActionCloseButton, AlertGroup, EmptyState, Tab, TabTitleText, Tabs, EmptyStateBody,
    EmptyStateHeader, EmptyStateIcon, Page, PageSection, PageSectionVariants, Spinner,
    Text, TextContent, TextVariants,
} from "@patternfly/react-core";
import { ExclamationCircleIcon } from "@patternfly/react-icons";

import { DomainList } from "./domains.jsx";
import { CreateDialog } from "./create.jsx";
import { DomainDetails } from "./details.jsx";
import { JobsPanel } from "./jobs.jsx";
import { NetworkList } from "./networks.jsx";
import { errorMessage, useStatus } from "./virtbus.js";

const _ = cockpit.gettext;

// Errors of the page's calls, shown until closed: the service's error name and message.
export function useNotices() {
    const [notices, setNotices] = useState([]);
    const add = useCallback((title, err) => setNotices(n => [...n, {
        key: Date.now() + Math.random(), title, detail: errorMessage(err),
        name: err && err.name ? err.name : "",
    }]), []);
    const remove = useCallback(key => setNotices(n => n.filter(x => x.key !== key)), []);
    return [notices, add, remove];
}

// The polkit action a NotAuthorized refusal names (the service's message says which).
function refusedAction(notice) {
    if (!notice.name.endsWith(".NotAuthorized"))
        return null;
    const m = /org\.virtbus\.Virt1\.[a-z-]+/.exec(notice.detail.replace(notice.name, ""));
    return m ? m[0] : null;
}

function Notices({ notices, remove }) {
    return (
        <AlertGroup isToast isLiveRegion>
            {notices.map(n => (
                <Alert key={n.key} variant="danger" title={n.title} className="vb-notice"
                       data-error-name={n.name}
                       actionClose={<AlertActionCloseButton onClose={() => remove(n.key)} />}>
                    <span className="vb-notice-detail">{n.detail}</span>
                    {refusedAction(n) &&
                        <div className="vb-notice-action">
                            {cockpit.format(_("polkit refused the action $0"), refusedAction(n))}
                        </div>}
                </Alert>
            ))}
        </AlertGroup>
    );
}

function ServiceAbsent({ store }) {
    return (
        <EmptyState id="vb-absent">
            <EmptyStateHeader titleText={_("The virtbus service is not running")}
                              icon={<EmptyStateIcon icon={ExclamationCircleIcon} />}
                              headingLevel="h2" />
            <EmptyStateBody>
                {store.statusMessage}
                <br />
                {_("This page reconnects when the service is back.")}
            </EmptyStateBody>
        </EmptyState>
    );
}

// The page's address: #/ the list, #/vm/UUID a machine's details (Cockpit keeps it in
// the shell's URL, so a view can be bookmarked and reloaded).
function useLocation() {
    const [path, setPath] = useState(cockpit.location.path);
    useEffect(() => {
        const changed = () => setPath(cockpit.location.path);
        cockpit.addEventListener("locationchanged", changed);
        return () => cockpit.removeEventListener("locationchanged", changed);
    }, []);
    return path;
}

function domainPathOf(uuid) {
    return "/org/virtbus/Virt1/domain/" + uuid.replace(/-/g, "_");
}

export function App({ store }) {
    useStatus(store);
    const [notices, notify, removeNotice] = useNotices();
    const [creating, setCreating] = useState(false);
    const location = useLocation();
    const openCreate = useCallback(() => setCreating(true), []);
    const openDomain = useCallback(d => cockpit.location.go(["vm", d.UUID]), []);

    let body;
    if (store.status === "connecting") {
        body = <EmptyState id="vb-connecting"><Spinner size="xl" /></EmptyState>;
    } else if (store.status === "absent") {
        body = <ServiceAbsent store={store} />;
    } else if (location[0] === "vm" && location[1]) {
        body = <DomainDetails store={store} path={domainPathOf(location[1])} notify={notify}
                              onBack={() => cockpit.location.go([])} />;
    } else if (location[0] === "networks") {
        body = <NetworkList store={store} notify={notify} />;
    } else {
        body = (
            <>
                <JobsPanel store={store} notify={notify} />
                <DomainList store={store} notify={notify} onCreate={openCreate} onOpen={openDomain} />
            </>
        );
    }
    return (
        <Page id="vb-page" data-status={store.status}>
            <PageSection variant={PageSectionVariants.light}>
                <TextContent>
                    <Text component={TextVariants.h1}>{_("Virtual machines")}</Text>
                    {store.status === "ready" && store.manager.HostName &&
                        <Text component={TextVariants.small} id="vb-host">
                            {cockpit.format(_("virtbus $0 on $1"), store.manager.Version,
                                            store.manager.HostName)}
                        </Text>}
                </TextContent>
                {store.status === "ready" && location[0] !== "vm" &&
                    <Tabs id="vb-sections" activeKey={location[0] === "networks" ? "networks" : "machines"}
                          onSelect={(_e, k) => cockpit.location.go(k === "networks" ? ["networks"] : [])}>
                        <Tab eventKey="machines" title={<TabTitleText data-section="machines">
                            {_("Machines")}</TabTitleText>} />
                        <Tab eventKey="networks" title={<TabTitleText data-section="networks">
                            {_("Networks")}</TabTitleText>} />
                    </Tabs>}
            </PageSection>
            <PageSection>{body}</PageSection>
            {creating && <CreateDialog store={store} onClose={() => setCreating(false)} />}
            <Notices notices={notices} remove={removeNotice} />
        </Page>
    );
}
