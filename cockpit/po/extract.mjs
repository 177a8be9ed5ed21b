// SPDX-License-Identifier: LGPL-2.1-or-later
// The page's translatable strings: each source file turned into plain JavaScript by
// esbuild (xgettext does not read JSX), then xgettext with Cockpit's keywords (the line
// numbers are those of the transformed code: close to the source's, not exact).
//   node po/extract.mjs > po/virtbus-cockpit.pot
import * as esbuild from "esbuild";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.join(here, "..", "src");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vb-pot-"));
const files = [];
for (const name of fs.readdirSync(src).sort()) {
    if (!/\.(jsx?|mjs)$/.test(name))
        continue;
    const code = fs.readFileSync(path.join(src, name), "utf8");
    const out = await esbuild.transform(code, { loader: "jsx", sourcefile: name });
    // keep the file's name, so the references point at the source
    const dest = path.join(tmp, "src", name.replace(/\.jsx$/, ".js"));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, out.code);
    files.push(path.relative(tmp, dest));
}
const pot = execFileSync("xgettext", [
    "--language=JavaScript", "--from-code=UTF-8", "--output=-", "--sort-by-file",
    "--keyword=_", "--keyword=gettext", "--keyword=ngettext:1,2",
    "--package-name=virtbus-cockpit", "--msgid-bugs-address=virtbus",
    "--add-comments=TRANSLATORS", ...files,
], { cwd: tmp, encoding: "utf8" });
fs.rmSync(tmp, { recursive: true });
process.stdout.write(pot.replace(/\.js:(\d+)/g, ".jsx:$1"));
