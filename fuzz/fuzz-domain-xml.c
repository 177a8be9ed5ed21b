/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the domain XML parser: parse; when that succeeds, format, parse the
 * output again (which must succeed) and format again: the two outputs must be identical.
 * Any difference is a bug and aborts, as do GLib warnings and criticals (fuzz-log.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "domain-def.h"
#include "fuzz-log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    xmlInitParser();
    vb_fuzz_log_install();
    return 0;
}

static void
check_stable(const VbDomainDef *def, guint flags)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *out1 = vb_domain_def_format(def, flags, &error);
    g_autoptr(VbDomainDef) def2 = NULL;
    g_autofree char *out2 = NULL;

    if (out1 == NULL) {
        fprintf(stderr, "format failed: %s\n", error->message);
        abort();
    }
    def2 = vb_domain_def_parse_string(out1, 0, &error);
    if (def2 == NULL) {
        fprintf(stderr, "formatted XML does not parse: %s\n---\n%s---\n", error->message, out1);
        abort();
    }
    out2 = vb_domain_def_format(def2, flags, &error);
    if (out2 == NULL || strcmp(out1, out2) != 0) {
        fprintf(stderr, "format is not stable:\n--- first\n%s--- second\n%s---\n", out1,
                out2 ? out2 : "(null)");
        abort();
    }
    if (!vb_domain_def_check_abi_stability(def, def2, &error)) {
        fprintf(stderr, "reparsed definition is not ABI compatible: %s\n", error->message);
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *xml = g_strndup((const char *)data, size);
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(GError) error = NULL;

    def = vb_domain_def_parse_string(xml, 0, &error);
    if (def == NULL) {
        if (error == NULL)
            abort(); /* failure must come with an error */
        return 0;
    }
    check_stable(def, VB_DOMAIN_DEF_FORMAT_SECURE);
    check_stable(def, VB_DOMAIN_DEF_FORMAT_MIGRATABLE | VB_DOMAIN_DEF_FORMAT_SECURE);
    return 0;
}
