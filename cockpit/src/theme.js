// SPDX-License-Identifier: LGPL-2.1-or-later
// Light and dark themes as Cockpit's shell sets them: localStorage "shell:style" is
// "light", "dark" or "auto" (the browser's preference), changed by the shell's menu while
// the page is open (a "storage" event); PatternFly 5 takes the class pf-v5-theme-dark.

function wantDark() {
    let style = "auto";
    try {
        style = window.localStorage.getItem("shell:style") || "auto";
    } catch (e) {
        /* storage not allowed: follow the browser */
    }
    if (style === "dark")
        return true;
    if (style === "light")
        return false;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
}

function apply() {
    document.documentElement.classList.toggle("pf-v5-theme-dark", !!wantDark());
}

export function followTheme() {
    apply();
    window.addEventListener("storage", ev => {
        if (ev.key === "shell:style")
            apply();
    });
    if (window.matchMedia)
        window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", apply);
}
