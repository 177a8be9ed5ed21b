/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What DefineXML does to a document, without the service: parse it as a persistent
 * definition, assign addresses, defaults and MACs, and format it as GetXMLDesc(INACTIVE)
 * does. Prints the result on stdout; on failure prints "STEP: message" on stderr (STEP is
 * parse, assign or format) and exits 1. Used by tests/unit/conf/test_realworld_xml.py.
 *
 * usage: domain-xml-tool FILE
 */
#include "config.h"

#include <stdio.h>

#include "domain-def.h"

int
main(int argc, char **argv)
{
    g_autofree char *input = NULL;
    g_autofree char *out = NULL;
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(GError) error = NULL;

    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    if (!g_file_get_contents(argv[1], &input, NULL, &error)) {
        fprintf(stderr, "read: %s\n", error->message);
        return 1;
    }
    def = vb_domain_def_parse_string(input, VB_DOMAIN_DEF_PARSE_INACTIVE, &error);
    if (def == NULL) {
        fprintf(stderr, "parse: %s\n", error->message);
        return 1;
    }
    if (!vb_domain_def_assign_addresses(def, &error)) {
        fprintf(stderr, "assign: %s\n", error->message);
        return 1;
    }
    out = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE | VB_DOMAIN_DEF_FORMAT_INACTIVE,
                               &error);
    if (out == NULL) {
        fprintf(stderr, "format: %s\n", error->message);
        return 1;
    }
    fputs(out, stdout);
    return 0;
}
