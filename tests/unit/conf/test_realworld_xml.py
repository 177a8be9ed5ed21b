#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Real-world domain XML (tests/data/domain-xml/realworld/) through what DefineXML does.

For each document (and each round-trip document of tests/data/domain-xml/, named ../NAME):
parse as a persistent definition, assign addresses and defaults, format
(domain-xml-tool); parse and format the output again: it must be the same (stable), and the
output must still hold every element and attribute of the input (tests/xml_nothing_lost.py;
what libvirt itself drops when it parses a persistent definition is not counted). A document listed in unit-expected-failures.txt must fail with the text given there
(so the list stays true: one that passes fails the test and must leave the list).

Also checks the comparison helper itself on small documents.

usage: test_realworld_xml.py TOOL   (TAP on stdout)
"""

import concurrent.futures
import os
import subprocess
import sys
import tempfile

SRCDIR = os.environ.get("VB_SRCDIR", os.path.abspath(os.path.join(os.path.dirname(__file__),
                                                                  "../../..")))
sys.path.insert(0, os.path.join(SRCDIR, "tests"))
import xml_nothing_lost  # noqa: E402

DATA = os.path.join(SRCDIR, "tests", "data", "domain-xml")
CORPUS = os.path.join(DATA, "realworld")
EXPECTED = os.path.join(CORPUS, "unit-expected-failures.txt")


class Failed(Exception):
    pass


def read_expected(path):
    """{name: expected failure text}"""
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            name, sep, text = (x.strip() for x in line.partition("|"))
            if not sep or not text:
                raise SystemExit(f"{path}:{n}: want 'NAME | failure text'")
            out[name] = text
    return out


def tool(binary, xml):
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
        f.write(xml)
        f.flush()
        r = subprocess.run([binary, f.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=60)
    if r.returncode != 0:
        raise Failed(r.stderr.strip() or f"domain-xml-tool exited {r.returncode}")
    return r.stdout


def roundtrip(binary, name, xml, live):
    out1 = tool(binary, xml)
    out2 = tool(binary, out1)
    if out1 != out2:
        raise Failed("unstable: the second round trip differs from the first")
    problems = xml_nothing_lost.lost(xml, out1, live=live)
    if problems:
        raise Failed("lost: " + "\n".join(problems))


def self_tests():
    """(name, ok) for the comparison helper on small documents"""
    lost = xml_nothing_lost.lost
    cases = []

    def case(name, cond):
        cases.append((name, cond))

    base = ("<domain type='kvm'><memory unit='GiB'>1</memory><devices>"
            "<redirdev bus='usb' type='spicevmc'/><redirdev bus='usb' type='spicevmc'/>"
            "<controller type='pci' model='pcie-root-port'/>"
            "<disk device='disk'><target dev='vda'/></disk></devices></domain>")
    same = ("<domain type='kvm'><memory unit='KiB'>1048576</memory><devices>"
            "<disk device='disk'><target dev='vda' bus='virtio'/>"
            "<address type='pci' slot='0x03'/></disk>"
            "<controller type='pci' index='1' model='pcie-root-port'><target port='0x10'/>"
            "</controller><redirdev bus='usb' type='spicevmc'/>"
            "<redirdev bus='usb' type='spicevmc'/></devices></domain>")
    case("helper: reordered, units and added defaults are nothing lost", lost(base, same) == [])
    one_redir = same.replace("<redirdev bus='usb' type='spicevmc'/>", "", 1)
    case("helper: one of two equal elements missing is found",
         any("redirdev" in p for p in lost(base, one_redir)))
    no_model = same.replace(" model='pcie-root-port'", "")
    case("helper: a missing attribute is named",
         any("@model='pcie-root-port' is missing" in p for p in lost(base, no_model)))
    other_size = same.replace("1048576", "1048577")
    case("helper: a changed number is found",
         any("memory" in p for p in lost(base, other_size)))
    case("helper: numbers compare by value",
         lost("<a><b slot='0x00' port='010'/></a>", "<a><b slot='0' port='10'/></a>") == [])
    live = ("<domain id='3'><devices><serial type='pty'><source path='/dev/pts/1'/>"
            "<alias name='serial0'/></serial><disk><alias name='ua-d'/></disk></devices>"
            "</domain>")
    inactive = "<domain><devices><serial type='pty'/><disk/></devices></domain>"
    problems = lost(live, inactive, live=True)
    case("helper: live-only values are not lost, user aliases are",
         len(problems) == 1 and "ua-d" in problems[0] and lost(live, inactive) != [])
    case("helper: text is compared",
         lost("<a><e>x</e></a>", "<a><e>y</e></a>") != [])
    return cases


def main():
    binary = sys.argv[1]
    expected = read_expected(EXPECTED)
    names = sorted(f[:-4] for f in os.listdir(CORPUS) if f.endswith(".xml"))
    # the round-trip documents of tests/data/domain-xml/ go through the same check
    others = sorted("../" + f[:-4] for f in os.listdir(DATA) if f.endswith(".xml"))
    results = [(n, ok, "") for n, ok in self_tests()]

    def one(name):
        with open(os.path.join(CORPUS, name + ".xml")) as f:
            xml = f.read()
        # a define parses as a persistent definition: what libvirt drops then (aliases,
        # autoport ports, pty paths...) is never counted as lost, whatever the document
        try:
            roundtrip(binary, name, xml, True)
            return None
        except Failed as e:
            return str(e)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        errors = list(ex.map(one, names + others))
    for name, err in zip(names + others, errors):
        want = expected.get(name)
        if want is None:
            results.append((f"{name}: defines with nothing lost, stable",
                            err is None, err or ""))
        elif err is None:
            results.append((f"{name}: listed in unit-expected-failures.txt but passes: "
                            f"remove it", False, ""))
        elif want not in err:
            results.append((f"{name}: fails, but not with the listed '{want}'", False, err))
        else:
            results.append((f"{name}: fails as listed ({want})", True, ""))
    for n in expected:
        if n not in names + others:
            results.append((f"unit-expected-failures.txt lists {n}, which is not in the "
                            f"corpus", False, ""))
    print(f"1..{len(results)}")
    bad = 0
    for i, (text, ok, details) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {text}")
        if not ok:
            bad += 1
            for line in details.splitlines():
                print("# " + line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
