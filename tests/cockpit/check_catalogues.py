#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Cockpit page's translation files are current (TAP):
1. cockpit/po/virtbus-cockpit.pot holds exactly the texts the page's sources mark
   (po/extract.mjs run now: a text added or changed without updating the template fails);
2. every catalogue of po/LINGUAS has exactly the template's texts (msgmerge was run) and
   msgfmt --check accepts it (placeholders, plurals, header);
3. every catalogue's translations keep the placeholders ($0, $1, ...) of their text."""

import os
import re
import subprocess
import sys

SRC = os.environ.get("VB_SRCDIR") or os.path.join(os.path.dirname(__file__), "..", "..")
PO = os.path.join(SRC, "cockpit", "po")


def entries(text):
    """{(msgctxt, msgid, msgid_plural): [msgstr...]} of the live (not obsolete) entries;
    a fuzzy entry's translations (which are not used) as empty."""
    out = {}
    for block in re.split(r"\n\s*\n", text):
        fuzzy = any(ln.startswith("#,") and "fuzzy" in ln for ln in block.splitlines())
        lines = [ln for ln in block.splitlines() if not ln.startswith("#")]
        fields, key = {}, None
        for ln in lines:
            m = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) "(.*)"$', ln)
            if m:
                key = m.group(1)
                fields[key] = m.group(2)
            elif ln.startswith('"') and key is not None:
                fields[key] += ln[1:-1]
        if "msgid" not in fields or fields["msgid"] == "":
            continue   # the header
        strs = [v for k, v in sorted(fields.items()) if k.startswith("msgstr") and not fuzzy]
        out[(fields.get("msgctxt"), fields["msgid"], fields.get("msgid_plural"))] = strs
    return out


def placeholders(s):
    return sorted(set(re.findall(r"\$\d", s)))


def main():
    results = []
    with open(os.path.join(PO, "virtbus-cockpit.pot"), encoding="utf-8") as f:
        committed = entries(f.read())
    fresh_text = subprocess.run(["node", os.path.join(PO, "extract.mjs")], check=True,
                                capture_output=True, text=True,
                                cwd=os.path.join(SRC, "cockpit")).stdout
    fresh = entries(fresh_text)
    missing = sorted(k[1] for k in fresh.keys() - committed.keys())
    stale = sorted(k[1] for k in committed.keys() - fresh.keys())
    results.append(("the template holds the texts the sources mark", not missing and not stale,
                    f"not in the template: {missing}\nno longer in the sources: {stale}\n"
                    "run: node cockpit/po/extract.mjs > cockpit/po/virtbus-cockpit.pot"))
    with open(os.path.join(PO, "LINGUAS"), encoding="utf-8") as f:
        langs = f.read().split()
    for lang in langs:
        path = os.path.join(PO, lang + ".po")
        with open(path, encoding="utf-8") as f:
            cat = entries(f.read())
        check = subprocess.run(["msgfmt", "--check", "-o", os.devnull, path],
                               capture_output=True, text=True)
        diff = sorted(k[1] for k in cat.keys() ^ fresh.keys())
        results.append((f"{lang}.po has the template's texts and msgfmt accepts it",
                        check.returncode == 0 and not diff,
                        f"{check.stderr}texts differing from the template: {diff}\n"
                        f"run: msgmerge -U {path} cockpit/po/virtbus-cockpit.pot"))
        bad = [k[1] for k, strs in cat.items()
               for s in strs if s and placeholders(s) != placeholders(k[2] or k[1])
               and placeholders(s) != placeholders(k[1])]
        results.append((f"{lang}.po keeps the placeholders", not bad,
                        f"translations that lose or add a $N: {bad}"))
    print(f"1..{len(results)}")
    failed = 0
    for i, (what, ok, detail) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {what}")
        if not ok:
            failed += 1
            for ln in detail.splitlines():
                print("# " + ln)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
