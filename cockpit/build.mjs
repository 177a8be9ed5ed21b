// SPDX-License-Identifier: LGPL-2.1-or-later
// Builds the page: src/index.jsx -> OUTDIR/index.js + OUTDIR/index.css (React and
// PatternFly bundled, minified). Fonts are not copied: PatternFly's @font-face rules are
// pointed at the Red Hat fonts Cockpit itself serves (/cockpit/static/fonts/), so the page
// carries no font files of its own and looks like the rest of Cockpit. The faces Cockpit
// does not serve (the variable "VF" fonts PatternFly uses only under pf-v5-m-redhat-font,
// and the pficon icon font the React components do not use: they draw SVG) are dropped,
// so the page never asks for a file that is not there.
//   node build.mjs --outdir DIR [--srcdir DIR] [--depfile FILE] [--no-minify]
// --depfile writes the inputs (ours and the npm packages' files) for meson/ninja.
import * as esbuild from "esbuild";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
};
const here = path.dirname(fileURLToPath(import.meta.url));
const srcdir = path.resolve(opt("--srcdir", here));
const outdir = path.resolve(opt("--outdir", path.join(here, "dist")));

const cockpitFonts = {
    name: "cockpit-fonts",
    setup(build) {
        build.onResolve({ filter: /\.(woff2?|ttf|otf|eot)$/ }, args => ({
            path: "../../static/fonts/" + path.basename(args.path).replace(/\.woff$/, ".woff2"),
            external: true,
        }));
    },
};

const depfile = opt("--depfile", null);

try {
    const result = await esbuild.build({
        entryPoints: { index: path.join(srcdir, "src", "index.jsx") },
        bundle: true,
        minify: !args.includes("--no-minify"),
        sourcemap: false,
        target: ["es2020"],
        jsx: "automatic",
        loader: { ".svg": "dataurl", ".png": "dataurl", ".jpg": "dataurl" },
        plugins: [cockpitFonts],
        define: { "process.env.NODE_ENV": '"production"' },
        legalComments: "none",
        outdir,
        metafile: depfile !== null,
        logLevel: "warning",
    });
    const css = path.join(outdir, "index.css");
    fs.writeFileSync(css, fs.readFileSync(css, "utf8").replace(
        /@font-face\s*\{[^}]*\}/g, face => /VF|pficon/.test(face) ? "" : face));
    if (depfile !== null) {
        const esc = p => p.replace(/ /g, "\\ ");
        const inputs = Object.keys(result.metafile.inputs)
                .filter(p => !p.startsWith("(") && !p.includes(":"))
                .map(p => esc(path.resolve(p)));
        inputs.push(esc(fileURLToPath(import.meta.url)));
        fs.writeFileSync(depfile, `${esc(path.join(outdir, "index.js"))}: ${inputs.join(" \\\n  ")}\n`);
    }
} catch (e) {
    process.exit(1);
}
