// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
//
// The graphical console: noVNC in the page. Its "WebSocket" is a Cockpit stream channel
// running `virtbusctl display-stream UUID --index N --skip-auth` on the host, which asks
// the service for the display (Domain.OpenGraphicsFD: polkit's console action decides, and
// the display's password is skipped for a client polkit let in) and relays it: a display
// on a unix socket works as one on a port, and the service's refusal comes back as its
// message. SPICE gets the remote-viewer link of `virtbusctl domdisplay` instead.
import React, { useEffect, useRef, useState } from "react";
import { Alert, Button, ClipboardCopy, Flex } from "@patternfly/react-core";
import RFB from "@novnc/novnc/core/rfb.js";
import { initLogging } from "@novnc/novnc/core/util/logging.js";

const _ = cockpit.gettext;

// the page says what went wrong in the tab; noVNC's own console errors would repeat it
initLogging("none");

const get = (g, k) => (g[k] && g[k].v !== undefined ? g[k].v : g[k]);

// The first VNC display with a port or a socket, and its index among the <graphics>
// (the Graphics property, each value a variant)
function vncOf(dom) {
    const all = dom.Graphics || [];
    for (let i = 0; i < all.length; i++) {
        const g = all[i];
        if (get(g, "type") === "vnc" && (get(g, "port") > 0 || get(g, "socket")))
            return { index: i, key: `${i}:${get(g, "port") || get(g, "socket")}` };
    }
    return null;
}

function viewerUri(dom) {
    for (const g of dom.Graphics || []) {
        const host = get(g, "listen") && get(g, "listen") !== "0.0.0.0" ? get(g, "listen") : window.location.hostname;
        if (get(g, "port") > 0)
            return `${get(g, "type")}://${host}:${get(g, "port")}`;
    }
    return null;
}

// What noVNC needs of a WebSocket (core/websock.js: send, close, binaryType, the on*
// handlers, protocol, readyState), over a Cockpit channel. Its messages are copied: noVNC
// sends views of a buffer it reuses.
export class ChannelSocket {
    constructor(options) {
        this.binaryType = "arraybuffer";
        this.protocol = "";
        this.readyState = WebSocket.CONNECTING;
        this.onopen = null;
        this.onmessage = null;
        this.onerror = null;
        this.onclose = null;
        this.closeOptions = null;
        this.channel = cockpit.channel({ ...options, binary: true });
        this.channel.addEventListener("ready", () => {
            this.readyState = WebSocket.OPEN;
            if (this.onopen)
                this.onopen({});
        });
        this.channel.addEventListener("message", (ev, data) => {
            if (this.onmessage)
                this.onmessage({ data: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) });
        });
        this.channel.addEventListener("close", (ev, options) => {
            this.readyState = WebSocket.CLOSED;
            this.closeOptions = options;
            if (this.onclose)
                this.onclose({ code: 1000, reason: options.problem || "", wasClean: !options.problem });
        });
    }

    send(data) {
        this.channel.send(new Uint8Array(data));
    }

    close() {
        if (this.readyState === WebSocket.CLOSED)
            return;
        this.readyState = WebSocket.CLOSING;
        this.channel.close();
    }
}

// virtbusctl's error (its standard error, "error: ..."), or the channel's problem
function closeMessage(options) {
    const text = (options && options.message ? options.message : "").trim();
    if (text)
        return text.split("\n").pop().replace(/^error: /, "");
    return options && options.problem ? cockpit.message(options) : "";
}

export function Display({ dom }) {
    const box = useRef(null);
    const [status, setStatus] = useState("connecting");
    const [name, setName] = useState("");
    const [error, setError] = useState(null);
    const [attempt, setAttempt] = useState(0);
    const vnc = dom.Active ? vncOf(dom) : null;
    const key = vnc ? vnc.key : "";

    useEffect(() => {
        if (!vnc)
            return undefined;
        let gone = false;
        let ended = false; // noVNC complains of a disconnect() after its own
        setStatus("connecting");
        setError(null);
        const socket = new ChannelSocket({
            payload: "stream", err: "message", environ: ["LC_ALL=C.UTF-8"],
            spawn: ["virtbusctl", "display-stream", dom.UUID, "--index", String(vnc.index), "--skip-auth"],
        });
        const rfb = new RFB(box.current, socket, { shared: true });
        rfb.scaleViewport = true;
        rfb.addEventListener("connect", () => setStatus("connected"));
        rfb.addEventListener("desktopname", ev => setName(ev.detail.name));
        rfb.addEventListener("credentialsrequired", () => {
            setError(_("The display asks for a password; use a VNC viewer with the link below."));
            if (!ended)
                rfb.disconnect();
        });
        rfb.addEventListener("disconnect", ev => {
            ended = true;
            if (gone)
                return;
            setStatus("closed");
            if (!ev.detail.clean || (socket.closeOptions && socket.closeOptions["exit-status"]))
                setError(closeMessage(socket.closeOptions) || _("The connection to the display was lost."));
        });
        return () => {
            gone = true;
            if (!ended)
                rfb.disconnect();
        };
    }, [key, dom.UUID, attempt]); // eslint-disable-line react-hooks/exhaustive-deps

    if (!dom.Active)
        return <Alert variant="info" isInline id="vb-display-off" title={_("The display is there while the machine runs.")} />;
    const uri = viewerUri(dom);
    return (
        <Flex direction={{ default: "column" }} id="vb-display" data-status={vnc ? status : "none"}
              data-desktop-name={name}>
            {!vnc &&
                <Alert variant="info" isInline title={_("No VNC display")}>
                    {_("Add <graphics type='vnc'/> to the definition, or use a viewer:")}
                </Alert>}
            {error &&
                <Alert variant="warning" isInline id="vb-display-error" title={_("Display")}
                       actionLinks={<Button variant="link" isInline onClick={() => setAttempt(a => a + 1)}>
                           {_("Connect again")}</Button>}>
                    {error}
                </Alert>}
            {vnc && <div ref={box} className="vb-vnc" hidden={status === "closed" && !!error} />}
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
