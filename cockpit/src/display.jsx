// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
//
// The graphical console: noVNC in the page, its WebSocket a Cockpit "external channel"
// (a stream to the VNC server's TCP port on the host, through the bridge), as
// cockpit-machines does. A display on a unix socket, or SPICE, gets the remote-viewer
// link of `virtbusctl domdisplay` instead.
import React, { useEffect, useRef, useState } from "react";
import { Alert, Button, ClipboardCopy, Flex } from "@patternfly/react-core";
import RFB from "@novnc/novnc/core/rfb.js";

const _ = cockpit.gettext;

// The first VNC display with a TCP port, from the Graphics property (each value a variant).
function vncOf(dom) {
    for (const g of dom.Graphics || []) {
        const get = k => (g[k] && g[k].v !== undefined ? g[k].v : g[k]);
        if (get("type") === "vnc" && get("port") > 0)
            return { port: get("port"), listen: get("listen") || "127.0.0.1", password: !!get("passwdSet") };
    }
    return null;
}

function viewerUri(dom) {
    for (const g of dom.Graphics || []) {
        const get = k => (g[k] && g[k].v !== undefined ? g[k].v : g[k]);
        const host = get("listen") && get("listen") !== "0.0.0.0" ? get("listen") : window.location.hostname;
        if (get("port") > 0)
            return `${get("type")}://${host}:${get("port")}`;
    }
    return null;
}

function channelUrl(port, address) {
    const query = JSON.stringify({
        payload: "stream", protocol: "binary", binary: "raw",
        address: address === "0.0.0.0" || address === "::" ? "127.0.0.1" : address, port,
    });
    return cockpit.transport.uri("channel/" + cockpit.transport.csrf_token) + "?" +
        window.btoa(query);
}

export function Display({ dom }) {
    const box = useRef(null);
    const [status, setStatus] = useState("connecting");
    const [name, setName] = useState("");
    const [error, setError] = useState(null);
    const [attempt, setAttempt] = useState(0);
    const vnc = dom.Active ? vncOf(dom) : null;
    const port = vnc ? vnc.port : 0;
    const listen = vnc ? vnc.listen : "";

    useEffect(() => {
        if (!port)
            return undefined;
        let rfb = null;
        let gone = false;
        setStatus("connecting");
        setError(null);
        cockpit.transport.wait(() => {
            if (gone)
                return;
            rfb = new RFB(box.current, channelUrl(port, listen), { shared: true });
            rfb.scaleViewport = true;
            rfb.addEventListener("connect", () => setStatus("connected"));
            rfb.addEventListener("desktopname", ev => setName(ev.detail.name));
            rfb.addEventListener("credentialsrequired", () => {
                setError(_("The display asks for a password; use a VNC viewer with the link below."));
                rfb.disconnect();
            });
            rfb.addEventListener("disconnect", ev => {
                setStatus("closed");
                if (!ev.detail.clean)
                    setError(_("The connection to the display was lost."));
            });
        });
        return () => {
            gone = true;
            if (rfb)
                rfb.disconnect();
        };
    }, [port, listen, attempt]);

    if (!dom.Active)
        return <Alert variant="info" isInline id="vb-display-off" title={_("The display is there while the machine runs.")} />;
    const uri = viewerUri(dom);
    return (
        <Flex direction={{ default: "column" }} id="vb-display" data-status={port ? status : "none"}
              data-desktop-name={name}>
            {!port &&
                <Alert variant="info" isInline title={_("No VNC display on a TCP port")}>
                    {_("Add <graphics type='vnc'/> to the definition, or use a viewer:")}
                </Alert>}
            {error &&
                <Alert variant="warning" isInline id="vb-display-error" title={_("Display")}
                       actionLinks={<Button variant="link" isInline onClick={() => setAttempt(a => a + 1)}>
                           {_("Connect again")}</Button>}>
                    {error}
                </Alert>}
            {port > 0 && <div ref={box} className="vb-vnc" />}
            {uri &&
                <Flex alignItems={{ default: "alignItemsCenter" }}>
                    <span>{_("Open in a viewer (remote-viewer):")}</span>
                    <ClipboardCopy isReadOnly hoverTip={_("Copy")} clickTip={_("Copied")}
                                   id="vb-display-uri" variant="inline-compact">{uri}</ClipboardCopy>
                    <Button component="a" variant="link" href={uri} isInline>{_("Launch")}</Button>
                </Flex>}
        </Flex>
    );
}
