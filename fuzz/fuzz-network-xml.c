/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the network XML parser (issue 12, part "network XML"): parse; when
 * that succeeds, format, parse the output again (which must succeed) and format again: the
 * two outputs must be identical and the UUID kept. The input is also applied as an update
 * snippet (every command, DHCP and DNS hosts) to a copy of the definition and to libvirt's
 * default network: each update ends in a result or an error, and an updated definition
 * formats stably too. Any difference aborts, as do GLib warnings and criticals (fuzz-log.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libxml/parser.h>

#include "fuzz-log.h"
#include "network-def.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static VbNetworkDef *default_net;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    g_autofree char *xml = NULL;

    xmlInitParser();
    vb_fuzz_log_install();
    xml = vb_network_default_xml(NULL);
    default_net = vb_network_def_parse_string(xml, NULL);
    if (default_net == NULL)
        abort();
    return 0;
}

static void
check_stable(const VbNetworkDef *def)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *out1 = vb_network_def_format(def);
    g_autoptr(VbNetworkDef) def2 = vb_network_def_parse_string(out1, &error);
    g_autofree char *out2 = NULL;

    if (def2 == NULL) {
        fprintf(stderr, "formatted XML does not parse: %s\n---\n%s---\n", error->message, out1);
        abort();
    }
    out2 = vb_network_def_format(def2);
    if (strcmp(out1, out2) != 0 || memcmp(def->uuid, def2->uuid, 16) != 0) {
        fprintf(stderr, "format is not stable:\n--- first\n%s--- second\n%s---\n", out1, out2);
        abort();
    }
}

static void
check_updates(const VbNetworkDef *def, const char *snippet)
{
    static const guint sections[] = { VB_NETWORK_SECTION_IP_DHCP_HOST,
                                      VB_NETWORK_SECTION_DNS_HOST };

    for (guint s = 0; s < G_N_ELEMENTS(sections); s++) {
        for (guint cmd = 1; cmd <= 4; cmd++) {
            g_autoptr(VbNetworkDef) copy = vb_network_def_copy(def, NULL);
            g_autoptr(GError) error = NULL;
            g_autofree char *before = NULL;
            g_autofree char *after = NULL;

            if (copy == NULL)
                abort(); /* check_stable() showed it formats and parses */
            before = vb_network_def_format(copy);
            if (!vb_network_def_update(copy, cmd, sections[s], -1, snippet, 0, &error)) {
                if (error == NULL)
                    abort(); /* failure must come with an error */
                after = vb_network_def_format(copy);
                if (strcmp(before, after) != 0)
                    abort(); /* a failed update changes nothing */
                continue;
            }
            check_stable(copy);
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *xml = g_strndup((const char *)data, size);
    g_autoptr(VbNetworkDef) def = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *clash = NULL;
    const char *const used[] = { "192.168.122.0/24", "10.0.0.0/8", "fd00::/8", NULL };

    check_updates(default_net, xml);
    def = vb_network_def_parse_string(xml, &error);
    if (def == NULL) {
        if (error == NULL)
            abort(); /* failure must come with an error */
        return 0;
    }
    check_stable(def);
    (void)vb_network_def_overlaps(def, used, &clash);
    (void)vb_network_def_dhcp_ip(def, AF_INET);
    if (def->dns_hosts->len > 0 || def->ips->len > 0) {
        g_autofree char *snippet = g_strdup_printf(
            "<host mac='52:54:00:00:00:42' name='fz' ip='%s'><hostname>fz</hostname></host>",
            def->ips->len > 0 ? ((VbNetworkIp *)g_ptr_array_index(def->ips, 0))->address
                              : "10.0.0.1");
        check_updates(def, snippet);
    }
    return 0;
}
