// SPDX-License-Identifier: LGPL-2.1-or-later
/* global cockpit */
//
// The serial console. OpenConsole hands its caller a file descriptor, which Cockpit's
// D-Bus bridge cannot carry to a browser; so the page spawns `virtbusctl console` on the
// host through a Cockpit stream channel: virtbusctl calls OpenConsole as the logged-in
// user (polkit decides, action org.virtbus.Virt1.console) and pumps the pty's bytes
// between the descriptor and its stdin/stdout, which are the channel, which xterm.js shows
// and types into.
import "@xterm/xterm/css/xterm.css";

import React, { useEffect, useRef, useState } from "react";
import { Alert, Button, Flex } from "@patternfly/react-core";
import { Terminal } from "@xterm/xterm";

const _ = cockpit.gettext;

export function SerialConsole({ dom }) {
    const box = useRef(null);
    const [status, setStatus] = useState("connecting"); // "connecting" | "connected" | "closed"
    const [error, setError] = useState(null);
    const [attempt, setAttempt] = useState({ n: 0, force: false });

    useEffect(() => {
        if (!dom.Active)
            return undefined;
        const term = new Terminal({ cols: 80, rows: 25, cursorBlink: true, scrollback: 2000,
                                    fontFamily: "RedHatMono, monospace", fontSize: 14 });
        term.open(box.current);
        const argv = ["virtbusctl", "console", dom.UUID];
        if (attempt.force)
            argv.push("--force");
        // a pty: virtbusctl's greeting gets the terminal's line endings, then virtbusctl
        // puts it in raw mode and the guest's bytes pass unchanged
        const channel = cockpit.channel({
            payload: "stream", spawn: argv, pty: true, binary: true,
            environ: ["LC_ALL=C.UTF-8", "TERM=xterm-256color"],
            window: { rows: 25, cols: 80 },
        });
        const encoder = new TextEncoder();
        let closed = false;
        setStatus("connecting");
        setError(null);
        channel.addEventListener("message", (ev, data) => {
            setStatus("connected");
            term.write(data);
        });
        let output = "";
        const decoder = new TextDecoder();
        channel.addEventListener("message", (ev, data) => {
            output = (output + decoder.decode(data, { stream: true })).slice(-2000);
        });
        channel.addEventListener("close", (ev, options) => {
            closed = true;
            setStatus("closed");
            // on a pty, virtbusctl's error is the last thing it wrote
            if (options.problem || options["exit-status"]) {
                const last = output.trim().split("\n").pop() || "";
                setError(last.trim() || cockpit.message(options));
            }
        });
        const typing = term.onData(data => {
            if (!closed)
                channel.send(encoder.encode(data));
        });
        term.focus();
        return () => {
            typing.dispose();
            if (!closed)
                channel.close();
            term.dispose();
        };
    }, [dom.UUID, dom.Active, attempt]);

    if (!dom.Active)
        return <Alert variant="info" isInline id="vb-console-off" title={_("The serial console is there while the machine runs.")} />;
    const busy = error && /Busy|Active console session/.test(error);
    return (
        <Flex direction={{ default: "column" }} id="vb-console" data-status={status}>
            {error &&
                <Alert variant="danger" isInline id="vb-console-error" title={_("Console")}
                       actionLinks={
                           <Button variant="link" isInline id="vb-console-reconnect"
                                   onClick={() => setAttempt(a => ({ n: a.n + 1, force: !!busy }))}>
                               {busy ? _("Take it over") : _("Connect again")}
                           </Button>}>
                    {error}
                </Alert>}
            {status === "closed" && !error &&
                <Flex>
                    <span>{_("Disconnected.")}</span>
                    <Button variant="link" isInline id="vb-console-reconnect"
                            onClick={() => setAttempt(a => ({ n: a.n + 1, force: false }))}>
                        {_("Connect again")}
                    </Button>
                </Flex>}
            <div ref={box} className="vb-terminal" />
        </Flex>
    );
}
