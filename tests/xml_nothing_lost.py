# SPDX-License-Identifier: LGPL-2.1-or-later
"""Did a round trip keep everything of a document? Generic over any XML.

    lost(original, result, live=False) -> [problem, ...]   (empty: nothing lost)

Every element of `original` must have a counterpart in `result` at the same place (same path
of element names from the root) with every attribute of the original at the same value, the
same text, and counterparts for all its children, each child matched to a different one
(maximum bipartite matching, so the order of siblings does not matter and two equal elements
need two counterparts). `result` may have more (defaults, addresses, ...).

Values are compared normalized: numbers by value ('0x00' == '0', '007' == '7'), MAC addresses
and UUIDs without case; an element with a `unit` attribute has its text and its `memory`/`size`
attributes compared in KiB rounded up, as libvirt stores them (a memory size element without
`unit` counts in KiB, libvirt's default), and `unit` itself is not compared.

live=True: `original` is what `virsh dumpxml` wrote for a running domain and `result` is a
persistent definition: what libvirt's parser drops from such a document when it reads it as a
persistent config (VIR_DOMAIN_DEF_PARSE_INACTIVE) is not counted as lost (RUNTIME_ONLY).
"""

import re
import xml.etree.ElementTree as ET

UNITS = {
    "b": 1, "byte": 1, "bytes": 1,
    "k": 1024, "kib": 1024, "kb": 1000,
    "m": 1024 ** 2, "mib": 1024 ** 2, "mb": 1000 ** 2,
    "g": 1024 ** 3, "gib": 1024 ** 3, "gb": 1000 ** 3,
    "t": 1024 ** 4, "tib": 1024 ** 4, "tb": 1000 ** 4,
    "p": 1024 ** 5, "pib": 1024 ** 5, "pb": 1000 ** 5,
    "e": 1024 ** 6, "eib": 1024 ** 6, "eb": 1000 ** 6,
}
# elements whose number is in KiB when they have no unit
KIB_DEFAULT = {"memory", "currentMemory", "maxMemory", "hard_limit", "soft_limit",
               "swap_hard_limit", "min_guarantee", "size", "requested", "current", "cell",
               "node", "block", "pagesize"}
SCALED_ATTRS = {"memory", "size"}
NUMBER = re.compile(r"^[+-]?(0[xX][0-9a-fA-F]+|[0-9]+)$")
# MAC addresses and UUIDs compare without case (libvirt writes them in lower case)
CASELESS = re.compile(r"^([0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"
                      r"[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")

# What libvirt 9.0 drops when it parses a live document as a persistent definition
# (VIR_DOMAIN_DEF_PARSE_INACTIVE): (element name, attribute or None for the whole element,
# condition on (element, parent)). Each one names where libvirt does it.
CHARDEVS = {"serial", "console", "parallel", "channel"}
RUNTIME_ONLY = [
    # virDomainDefParseIDs: the id of a running domain
    ("domain", "id", lambda e, p: True),
    # virDomainDeviceInfoParseXML: aliases, except user aliases (ua-*)
    ("alias", None, lambda e, p: not e.get("name", "").startswith("ua-")),
    # virDomainStorageSourceParse / virDomainDiskBackingStoreParse: the node index and the
    # chain terminator written for a running disk
    ("source", "index", lambda e, p: p is not None and p.tag in ("disk", "backingStore")),
    ("backingStore", None, lambda e, p: len(e) == 0 and not e.attrib),
    ("backingStore", None, lambda e, p: e.get("index") is not None),
    # virDomainChrSourceDefParseXML: a pty's path, the console's tty
    ("source", "path", lambda e, p: p is not None and p.tag in CHARDEVS and
     p.get("type") == "pty"),
    ("console", "tty", lambda e, p: True),
    # virDomainChrDefParseTargetXML: the guest agent connection state
    ("target", "state", lambda e, p: p is not None and p.tag == "channel"),
    # qemuDomainChrDefDropDefaultPath: the channel socket path libvirt made up
    ("source", "path", lambda e, p: p is not None and p.tag == "channel" and
     p.get("type") == "unix" and "/libvirt/qemu/channel/" in e.get("path", "")),
    # virDomainNetDefParseXML: generated tap names, the port and bridge of a network
    ("target", None, lambda e, p: p is not None and p.tag == "interface" and
     re.match(r"^(vnet|macvtap|macvlan)\d+$", e.get("dev", "")) is not None),
    ("source", "portid", lambda e, p: p is not None and p.tag == "interface"),
    ("source", "bridge", lambda e, p: p is not None and p.tag == "interface" and
     p.get("type") == "network"),
    # virDomainGraphicsDefParseXML: ports picked by autoport
    ("graphics", "port", lambda e, p: e.get("autoport") == "yes"),
    ("graphics", "tlsPort", lambda e, p: e.get("autoport") == "yes"),
    ("graphics", "websocket", lambda e, p: e.get("autoport") == "yes"),
    # virSecurityLabelDefParseXML: labels of a dynamic seclabel
    ("label", None, lambda e, p: p is not None and p.tag == "seclabel" and
     p.get("type") == "dynamic"),
    ("imagelabel", None, lambda e, p: p is not None and p.tag == "seclabel" and
     p.get("type") == "dynamic"),
]


def _number(v):
    if NUMBER.match(v):
        return int(v, 16) if v.lower().lstrip("+-").startswith("0x") else int(v, 10)
    return None


def _factor(e):
    unit = e.get("unit")
    if unit is not None:
        return UNITS.get(unit.lower())
    if e.tag in KIB_DEFAULT:
        return 1024
    return 1


def _kib(n, f):
    """a size in KiB, rounded up as libvirt stores sizes"""
    return -(-(n * f) // 1024)


def norm_attr(e, name, value):
    n = _number(value.strip())
    if n is None:
        return value.lower() if CASELESS.match(value.strip()) else value
    if name in SCALED_ATTRS:
        f = _factor(e)
        if f is not None:
            return _kib(n, f)
    return n


def norm_text(e):
    t = (e.text or "").strip()
    n = _number(t)
    if n is None:
        return t.lower() if CASELESS.match(t) else t
    f = _factor(e)
    if f is None or (f == 1 and e.get("unit") is None):
        return n
    return _kib(n, f)


class _Cmp:
    def __init__(self, live):
        self.live = live
        self.memo = {}

    def ignored(self, e, parent, attr):
        if not self.live:
            return False
        for tag, a, cond in RUNTIME_ONLY:
            if tag == e.tag and a == attr and cond(e, parent):
                return True
        return False

    def attrs(self, e, parent):
        return {k: norm_attr(e, k, v) for k, v in e.attrib.items()
                if k != "unit" and not self.ignored(e, parent, k)}

    def kids(self, e):
        return [c for c in e if isinstance(c.tag, str) and not self.ignored(c, e, None) and
                not self.emptied(c, e)]

    def emptied(self, e, parent):
        """live: an element that had only runtime-only attributes (a pty's <source path=>)
        is not written for the persistent definition at all"""
        return (self.live and e.attrib and not self.attrs(e, parent) and len(e) == 0 and
                not (e.text or "").strip())

    def covers(self, a, ap, b):
        """b has everything of a (both with the same tag)"""
        key = (id(a), id(b))
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = False
        ok = self._attrs_ok(a, ap, b) and norm_text(a) == norm_text(b)
        if ok:
            ok = self.match(a, b)[1] == []
        self.memo[key] = ok
        return ok

    def _attrs_ok(self, a, ap, b):
        battrs = {k: norm_attr(b, k, v) for k, v in b.attrib.items() if k != "unit"}
        return all(k in battrs and battrs[k] == v for k, v in self.attrs(a, ap).items())

    def match(self, a, b):
        """-> (pairs, unmatched children of a): a maximum matching of a's children to
        b's, by covers()"""
        akids, bkids = self.kids(a), [c for c in b if isinstance(c.tag, str)]
        cand = [[j for j, bc in enumerate(bkids) if bc.tag == ac.tag and self.covers(ac, a, bc)]
                for ac in akids]
        owner = {}

        def augment(i, seen):
            for j in cand[i]:
                if j in seen:
                    continue
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
            return False
        for i in range(len(akids)):
            augment(i, set())
        matched = {i: j for j, i in owner.items()}
        pairs = [(akids[i], bkids[j]) for i, j in matched.items()]
        unmatched = [akids[i] for i in range(len(akids)) if i not in matched]
        return pairs, unmatched

    def explain(self, a, ap, b, path, out):
        """what of a (at path) b lacks"""
        battrs = {k: norm_attr(b, k, v) for k, v in b.attrib.items() if k != "unit"}
        for k, v in self.attrs(a, ap).items():
            if k not in battrs:
                out.append(f"{path}/@{k}='{a.get(k)}' is missing")
            elif battrs[k] != v:
                out.append(f"{path}/@{k}='{a.get(k)}' became '{b.get(k)}'")
        if norm_text(a) != norm_text(b):
            out.append(f"{path}: text '{(a.text or '').strip()}' became "
                       f"'{(b.text or '').strip()}'")
        pairs, unmatched = self.match(a, b)
        used = {id(bc) for _, bc in pairs}
        bkids = [c for c in b if isinstance(c.tag, str)]
        for ac in unmatched:
            same = [bc for bc in bkids if bc.tag == ac.tag]
            desc = describe(ac)
            cpath = f"{path}/{ac.tag}{desc}"
            if not same:
                out.append(f"{cpath}: element is missing")
                continue
            free = [bc for bc in same if id(bc) not in used] or same
            best = max(free, key=lambda bc: self.score(ac, a, bc))
            before = len(out)
            self.explain(ac, a, best, cpath, out)
            if len(out) == before:
                out.append(f"{cpath}: has no counterpart of its own (another element of "
                           f"the input took the only one that matches)")

    def score(self, a, ap, b):
        return sum(1 for k, v in self.attrs(a, ap).items()
                   if k in b.attrib and norm_attr(b, k, b.get(k)) == v)


def describe(e):
    keys = [k for k in ("type", "model", "name", "dev", "id", "index", "bus", "device")
            if k in e.attrib]
    if not keys:
        return ""
    return "[" + " ".join(f"@{k}='{e.get(k)}'" for k in keys) + "]"


def lost(original, result, live=False):
    """Problems (strings) for what `result` (XML text) lost of `original` (XML text)."""
    a = ET.fromstring(original)
    b = ET.fromstring(result)
    if a.tag != b.tag:
        return [f"root element <{a.tag}> became <{b.tag}>"]
    # libvirt expands a machine alias to the versioned machine it stands for
    ta, tb = a.find("os/type"), b.find("os/type")
    if ta is not None and tb is not None and ta.get("machine") in ("pc", "q35") and \
            re.match(r"^pc-(i440fx|q35)-[0-9.]+$", tb.get("machine") or ""):
        ta.set("machine", tb.get("machine"))
    # an empty <nvram/> gets the path libvirt (and virtbus) default it to
    na, nb = a.find("os/nvram"), b.find("os/nvram")
    if na is not None and nb is not None and not (na.text or "").strip():
        na.text = nb.text
    # libvirt recomputes the memory size from the NUMA cells (and <memory> devices)
    if a.find("cpu/numa/cell") is not None:
        for tag in ("memory", "currentMemory"):
            ea, eb = a.find(tag), b.find(tag)
            if ea is not None and eb is not None:
                ea.text, ea.attrib = eb.text, dict(eb.attrib)
    c = _Cmp(live)
    if c.covers(a, None, b):
        return []
    out = []
    c.explain(a, None, b, "/" + a.tag, out)
    return out or ["something was lost (no single place found)"]
