/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the status file parser (service/domain/domain-status-parse.c, issue
 * 14): what a restarted service reads back from its run directory, which a crash mid-write,
 * a full disk or a hand edit may have damaged. The input is parsed as a status file; a
 * refusal must come with an error, an acceptance must have what the reconnection relies on
 * (an id, a pid or an unfinished start, a monitor path, a definition); the definition is
 * then parsed as the reconnection does, and an accepted one formats and parses again.
 * Crashes, leaks, sanitizer reports, GLib warnings and criticals (fuzz-log.h) abort.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "domain-def.h"
#include "domain-status-parse.h"
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
check(gboolean ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "check failed: %s\n", what);
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = g_strndup((const char *)data, size);
    VbDomainStatusFile s = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) def = NULL;

    if (!vb_domain_status_parse(text, &s, &error)) {
        check(error != NULL && error->message != NULL, "a refusal comes with an error");
        vb_domain_status_file_clear(&s);
        return 0;
    }
    check(error == NULL, "no error on success");
    check(s.id >= 0 && (s.pid > 0 || s.starting), "an id, and a pid or an unfinished start");
    check(s.monitor_path != NULL && s.def_xml != NULL, "a monitor and a definition");
    check(s.helpers == NULL || s.helpers->len % 4 == 0, "helpers come in fours");
    def = vb_domain_def_parse_string(s.def_xml, 0, &error);
    if (def == NULL) {
        check(error != NULL, "a refused definition comes with an error");
    } else {
        g_autofree char *out = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, &error);
        g_autoptr(VbDomainDef) again = NULL;

        check(out != NULL, "an accepted definition formats");
        again = vb_domain_def_parse_string(out, 0, NULL);
        check(again != NULL, "a formatted definition parses again");
    }
    vb_domain_status_file_clear(&s);
    return 0;
}
