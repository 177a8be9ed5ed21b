# SPDX-License-Identifier: LGPL-2.1-or-later
"""Headless Chromium driven over the Chrome DevTools Protocol, standard library only,
and Cockpit's web server for one test.

Chromium is started with --remote-debugging-pipe: it reads CDP messages (JSON, each ended
by a NUL byte) on fd 3 and writes on fd 4, so no port, no websocket client and nothing from
outside Debian is needed.

CockpitWS runs Debian's cockpit-ws with a local session (cockpit-bridge, logged in as the
user running it: no login page) on a free loopback port, the bridge's system bus pointed at
the test's private bus, and the package directory of the build under test first in
XDG_DATA_DIRS. The bridge (and the session) end ~15 s after the last browser connection
closes, so each test starts its own.
"""

import base64
import json
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

CHROMIUM = "/usr/lib/chromium/chromium"   # the binary; /usr/bin/chromium is a shell wrapper
COCKPIT_WS = "/usr/lib/cockpit/cockpit-ws"


class CDPError(Exception):
    pass


def _env_without_bus():
    env = dict(os.environ)
    for k in ("DBUS_SYSTEM_BUS_ADDRESS", "DBUS_SESSION_BUS_ADDRESS"):
        env.pop(k, None)          # the browser stays off the test's bus
    return env


class Browser:
    def __init__(self, width=1280, height=900, log_path=None):
        self.profile = tempfile.mkdtemp(prefix="vbtest-chromium-")
        to_r, self._w = os.pipe()
        self._r, from_w = os.pipe()
        args = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-quic", "--remote-debugging-pipe",
                "--user-data-dir=" + self.profile, f"--window-size={width},{height}",
                "about:blank"]
        err = open(log_path, "ab") if log_path else subprocess.DEVNULL
        # bash, not sh: dash takes only one-digit descriptors in a redirection
        self.proc = subprocess.Popen(["bash", "-c", f'exec "$@" 3<&{to_r} 4>&{from_w}', "bash"] + args,
                                     pass_fds=(to_r, from_w), env=_env_without_bus(),
                                     stdout=err, stderr=err, start_new_session=True)
        if log_path:
            err.close()
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._id = 0
        self.events = []          # (sessionId, method, params) not consumed yet
        self.log = []             # console/log/exception lines of every page

    # -- transport
    def _read_one(self, timeout):
        while b"\0" not in self._buf:
            r, _, _ = select.select([self._r], [], [], max(0, timeout))
            if not r:
                return None
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise CDPError("the browser closed its pipe (it crashed or was killed)")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def _note(self, m):
        sid, method, p = m.get("sessionId"), m["method"], m.get("params") or {}
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", []))
            self.log.append((sid, f"console.{p.get('type')}: {text}"))
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            self.log.append((sid, f"log-{e.get('level')}: {e.get('text')} {e.get('url', '')}"))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.log.append((sid, "exception: " + str(d.get("exception", {}).get("description")
                                                      or d.get("text"))))
        self.events.append((sid, method, p))
        del self.events[:-500]

    def send(self, method, params=None, session=None, timeout=30):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_one(deadline - time.monotonic())
            if m is None:
                raise CDPError(f"no answer to {method} within {timeout} s")
            if m.get("id") == self._id:
                if "error" in m:
                    raise CDPError(f"{method}: {m['error']}")
                return m["result"]
            if "method" in m:
                self._note(m)

    def pump(self, timeout=0.05):
        m = self._read_one(timeout)
        if m and "method" in m:
            self._note(m)

    def new_page(self, url):
        tid = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = self.send("Target.attachToTarget", {"targetId": tid, "flatten": True})["sessionId"]
        page = Page(self, sid, tid)
        for domain in ("Page", "Runtime", "Log"):
            page.send(domain + ".enable")
        page.goto(url)
        return page

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except (CDPError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self._r)
        os.close(self._w)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser, session, target):
        self.b, self.session, self.target = browser, session, target

    def send(self, method, params=None, timeout=30):
        return self.b.send(method, params, self.session, timeout)

    def goto(self, url, timeout=30):
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired", timeout)

    def reload(self, timeout=30):
        self.send("Page.reload", {"ignoreCache": True})
        self.wait_event("Page.loadEventFired", timeout)

    def wait_event(self, method, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, (sid, m, p) in enumerate(self.b.events):
                if sid == self.session and m == method:
                    del self.b.events[i]
                    return p
            self.b.pump(0.1)
        raise CDPError(f"no {method} within {timeout} s")

    def eval(self, expr, await_promise=True, timeout=30):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": await_promise}, timeout=timeout)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CDPError("JavaScript exception: " +
                           str(d.get("exception", {}).get("description") or d.get("text")))
        return r["result"].get("value")

    def wait_js(self, expr, timeout=20, what=None):
        """Polls until the expression is truthy (a DOM node counts as true); its value."""
        deadline = time.monotonic() + timeout
        wrapped = f"(() => {{ const v = ({expr}); return (v instanceof Node) ? true : v; }})()"
        while True:
            v = self.eval(wrapped)
            if v:
                return v
            if time.monotonic() > deadline:
                raise CDPError(f"timed out after {timeout} s waiting for {what or expr}")
            self.b.pump(0.05)

    def exists(self, selector):
        return bool(self.eval(f"!!document.querySelector({json.dumps(selector)})"))

    def wait_present(self, selector, timeout=20):
        return self.wait_js(f"document.querySelector({json.dumps(selector)})", timeout,
                            what=selector)

    def wait_gone(self, selector, timeout=20):
        return self.wait_js(f"!document.querySelector({json.dumps(selector)})", timeout,
                            what=f"{selector} to go away")

    def text(self, selector):
        return self.eval(f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent")

    def attr(self, selector, name):
        return self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                         f" return e ? e.getAttribute({json.dumps(name)}) : null; }})()")

    def wait_text(self, selector, text, timeout=20):
        return self.wait_js(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                            f" return !!e && e.textContent.includes({json.dumps(text)}); }})()",
                            timeout, what=f"{text!r} in {selector}")

    def click(self, selector, timeout=10):
        """A real mouse click in the middle of the element (scrolled into view), once it
        stands still (menus and dialogs slide into place) and is the element the mouse
        would hit there."""
        probe = f"""(() => {{
            const e = document.querySelector({json.dumps(selector)});
            if (!e) return null;
            e.scrollIntoView({{block: "nearest"}});
            const r = e.getBoundingClientRect();
            const x = r.x + r.width / 2, y = r.y + r.height / 2;
            const hit = document.elementFromPoint(x, y);
            return [x, y, r.width * r.height, !!hit && (hit === e || e.contains(hit))];
        }})()"""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            box = self.eval(probe)
            if box and box[2] and box[3] and box == last:
                break
            if time.monotonic() > deadline:
                raise CDPError(f"nothing to click at {selector} (or it kept moving, or was "
                               "covered)")
            last = box
            time.sleep(0.05)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1],
                                                   "button": "left", "clickCount": 1})

    def type_into(self, selector, text):
        """Focuses the element and types the text as keyboard input would insert it."""
        self.eval(f"document.querySelector({json.dumps(selector)}).focus()")
        self.send("Input.insertText", {"text": text})

    def set_files(self, selector, paths):
        """Chooses files for an <input type=file>, as the file dialog would."""
        doc = self.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = self.send("DOM.querySelector", {"nodeId": doc, "selector": selector})["nodeId"]
        if not node:
            raise CDPError(f"no {selector}")
        self.send("DOM.setFileInputFiles", {"nodeId": node, "files": list(paths)})

    def press(self, key, code, keycode, text=""):
        """One key pressed and released (Enter: "Enter", "Enter", 13, "\r")."""
        down = {"type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": keycode}
        if text:
            down["text"] = text
        self.send("Input.dispatchKeyEvent", down)
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": key, "code": code,
                                             "windowsVirtualKeyCode": keycode})

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def problems(self):
        """What the page logged: console errors and warnings, failed loads, content-security
        refusals, uncaught exceptions."""
        out = []
        for sid, line in self.b.log:
            if sid != self.session:
                continue
            if line.startswith(("console.error", "console.warn", "log-error", "log-warning",
                                "exception")):
                out.append(line)
        return out

    def close(self):
        self.b.send("Target.closeTarget", {"targetId": self.target})


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class CockpitWS:
    def __init__(self, system_bus, data_dir, log_path, user=None, bindir=None):
        """bindir: put first in the bridge's PATH (programs the page spawns)"""
        self.port = free_port()
        self.empty = tempfile.mkdtemp(prefix="vbtest-xdg-")
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=system_bus,
                   XDG_DATA_DIRS=data_dir + ":/usr/share", XDG_DATA_HOME=self.empty,
                   LANG="C.UTF-8", LC_ALL="C.UTF-8")
        if bindir is not None:
            env["PATH"] = bindir + ":" + env.get("PATH", "/usr/bin:/bin")
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        self.log = open(log_path, "ab")
        argv = [COCKPIT_WS, "--no-tls", "--address", "127.0.0.1", "--port", str(self.port),
                "--local-session=cockpit-bridge"]
        if user is not None:
            gid = pwd.getpwnam(user).pw_gid
            argv = ["setpriv", f"--reuid={user}", f"--regid={gid}", "--init-groups", "--"] + argv
            env["HOME"] = self.empty
            os.chmod(self.empty, 0o777)
        # its own process group: ws, the bridge and the bridge's session dbus-daemon go together
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=self.log,
                                     start_new_session=True, cwd="/")
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(self.base + "/cockpit/static/login.html", timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise CDPError("cockpit-ws did not come up (see its log)")
                time.sleep(0.05)

    def url(self, page):
        return f"{self.base}/cockpit/@localhost/{page}"

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.empty, ignore_errors=True)
