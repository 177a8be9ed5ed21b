/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for libvirt's <domainsnapshot> XML (issue 15, part snapxml): the input
 * is parsed as a new snapshot, as an existing one and as the stored copy (with <active>).
 * Whatever parses must format, the output must parse again with the same flags and format
 * to the same text; a parsed embedded domain is also used to align the disks, after which
 * the definition must still format. With VALIDATE what parses must parse without it,
 * and the embedded domains' kept text on its own. Any difference aborts, as do GLib
 * warnings and criticals (fuzz-log.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "fuzz-log.h"
#include "snapshot-def.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    xmlInitParser();
    vb_fuzz_log_install();
    return 0;
}

static char *
format_or_abort(const VbSnapshotDef *def, guint flags)
{
    g_autoptr(GError) error = NULL;
    char *out = vb_snapshot_def_format(def, flags, &error);

    if (out == NULL) {
        fprintf(stderr, "a parsed snapshot does not format: %s\n", error->message);
        abort();
    }
    return out;
}

static void
check_flags(const char *xml, guint pflags)
{
    guint fflags = VB_SNAPSHOT_FORMAT_SECURE |
                   ((pflags & VB_SNAPSHOT_PARSE_INTERNAL) ? VB_SNAPSHOT_FORMAT_INTERNAL : 0);
    g_autoptr(GError) error = NULL;
    g_autoptr(VbSnapshotDef) def = vb_snapshot_def_parse_string(xml, pflags, &error);
    g_autoptr(VbSnapshotDef) def2 = NULL;
    g_autoptr(VbSnapshotDef) def3 = NULL;
    g_autofree char *out1 = NULL;
    g_autofree char *out2 = NULL;

    if (def == NULL) {
        if (error == NULL)
            abort(); /* failure must come with an error */
        return;
    }
    out1 = format_or_abort(def, fflags);
    def2 = vb_snapshot_def_parse_string(out1, pflags, &error);
    if (def2 == NULL) {
        fprintf(stderr, "formatted XML does not parse: %s\n---\n%s---\n", error->message, out1);
        abort();
    }
    /* a new snapshot's creation time is "now" at each parse */
    def2->creation_time = def->creation_time;
    out2 = format_or_abort(def2, fflags);
    if (strcmp(out1, out2) != 0) {
        fprintf(stderr, "format is not stable:\n--- first\n%s--- second\n%s---\n", out1, out2);
        abort();
    }
    if (def->dom != NULL) {
        g_autofree char *out3 = NULL;

        def3 = vb_snapshot_def_parse_string(xml, pflags, NULL);
        if (def3 == NULL)
            abort(); /* it parsed a moment ago */
        if (vb_snapshot_def_align_disks(def3, def->dom, VB_SNAPSHOT_LOCATION_EXTERNAL,
                                        &error)) {
            g_autoptr(GPtrArray) infos = vb_domain_def_get_disk_infos(def->dom);

            if (def3->disks->len != infos->len)
                abort(); /* one snapshot disk per domain disk */
            out3 = format_or_abort(def3, fflags);
        } else if (error == NULL) {
            abort();
        }
    }
}

/* VALIDATE only refuses more: what it accepts parses without it too, and an embedded
 * domain it keeps the text of parses on its own */
static void
check_validate(const char *xml, guint pflags)
{
    g_autoptr(VbSnapshotDef) def = vb_snapshot_def_parse_string(
        xml, pflags | VB_SNAPSHOT_PARSE_VALIDATE, NULL);
    g_autoptr(VbSnapshotDef) plain = NULL;

    if (def == NULL)
        return;
    plain = vb_snapshot_def_parse_string(xml, pflags, NULL);
    if (plain == NULL)
        abort();
    for (guint i = 0; i < 2; i++) {
        const char *text = vb_snapshot_def_get_domain_xml(def, i == 1);
        const VbDomainDef *dom = i == 1 ? def->inactive_dom : def->dom;
        g_autoptr(VbDomainDef) again = NULL;

        if ((text != NULL) != (dom != NULL))
            abort();
        if (text == NULL)
            continue;
        again = vb_domain_def_parse_string(text, VB_DOMAIN_DEF_PARSE_INACTIVE, NULL);
        if (again == NULL || g_strcmp0(again->name, dom->name) != 0)
            abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *xml = g_strndup((const char *)data, size);

    check_flags(xml, 0);
    check_flags(xml, VB_SNAPSHOT_PARSE_REDEFINE);
    check_flags(xml, VB_SNAPSHOT_PARSE_INTERNAL);
    check_validate(xml, 0);
    check_validate(xml, VB_SNAPSHOT_PARSE_REDEFINE);
    return 0;
}
