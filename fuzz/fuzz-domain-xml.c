/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the domain XML parser: parse; when that succeeds, format, parse the
 * output again (which must succeed) and format again: the two outputs must be identical.
 * Any difference is a bug and aborts, as do GLib warnings and criticals (fuzz-log.h).
 *
 * Then what DefineXML and Start do with it: fill the define-time defaults (a read-only pflash
 * loader's NVRAM path, addresses) and build the
 * QEMU command line against the golden tests' hand-made QEMU 7.2 caps (TCG and KVM, with
 * and without an autoport display). Each step ends in a result or an error, never a crash;
 * the assigned definition formats and parses again; and every built argv is read back as
 * QEMU reads it (tests/unit/qemu-command/argv-check.c): no value may add a key to its option.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "argv-check.h"
#include "domain-def.h"
#include "fuzz-log.h"
#include "qemu-command.h"
#include "qemu-helpers.h"
#include "test-caps.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static VbQemuCaps *caps_tcg;
static VbQemuCaps *caps_kvm;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    xmlInitParser();
    vb_fuzz_log_install();
    caps_tcg = test_caps_new(FALSE);
    caps_kvm = test_caps_new(TRUE);
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

static void
check_build(const VbDomainDef *def, const VbQemuCaps *caps, int vnc_port)
{
    VbQemuCommandParams params = { 1, "/run/vb-fuzz/domain-1-x/monitor.sock",
                                   "/run/vb-fuzz/domain-1-x/qemu.pid",
                                   "/run/vb-fuzz/domain-1-x", vnc_port, vnc_port < 0 };
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = vb_qemu_command_build(def, caps, &params, NULL, &error);
    g_auto(GStrv) args = NULL;
    g_auto(GStrv) env = NULL;
    g_autoptr(GPtrArray) ignored = NULL;
    g_autoptr(GError) check_error = NULL;
    gboolean checked = vb_qemu_command_check(def, caps, &ignored, &check_error);

    /* the define-time check and the start agree (a start always has a port for autoport) */
    if (vnc_port >= 0 && (checked != (argv != NULL) || (!checked && check_error == NULL)))
        abort();
    if (argv == NULL) {
        if (error == NULL)
            abort(); /* failure must come with an error */
        return;
    }
    if (!vb_domain_def_get_qemu_commandline(def, &args, &env, &error))
        abort(); /* the build read it already */
    if (!test_argv_check((const char *const *)argv, g_strv_length(args), &error)) {
        g_autofree char *line = vb_qemu_command_to_string((const char *const *)argv);

        fprintf(stderr, "option injected: %s\n---\n%s\n", error->message, line);
        abort();
    }
}

/* vb_domain_def_assign_addresses() promises that a second call changes nothing */
static void
check_assign_idempotent(VbDomainDef *stored, const char *xml)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *again = NULL;

    if (!vb_domain_def_assign_addresses(stored, &error)) {
        fprintf(stderr, "second address assignment failed: %s\n---\n%s---\n",
                error->message, xml);
        abort();
    }
    again = vb_domain_def_format(stored,
                                 VB_DOMAIN_DEF_FORMAT_SECURE | VB_DOMAIN_DEF_FORMAT_INACTIVE,
                                 NULL);
    if (again == NULL || strcmp(again, xml) != 0) {
        fprintf(stderr, "address assignment is not idempotent:\n--- first\n%s--- second\n%s"
                "---\n", xml, again ? again : "(null)");
        abort();
    }
}

static void
check_command_line(const VbDomainDef *def)
{
    g_autoptr(VbDomainDef) copy = vb_domain_def_copy(def);
    g_autoptr(VbDomainDef) stored = NULL;
    g_autoptr(VbDomainDef) filled = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;

    if (copy == NULL)
        abort(); /* check_stable() showed it formats and parses */
    /* DefineXML's post-parse default: a read-only pflash loader gets its NVRAM path */
    filled = vb_qemu_firmware_default_nvram(copy, "/var/lib/vb-fuzz/nvram/x_VARS.fd", &error);
    if (filled != NULL) {
        vb_domain_def_free(copy);
        copy = g_steal_pointer(&filled);
    } else if (error != NULL) {
        return;
    }
    if (!vb_domain_def_assign_addresses(copy, &error)) {
        if (error == NULL)
            abort();
        return;
    }
    /* the persistent config DefineXML writes must load again */
    xml = vb_domain_def_format(copy, VB_DOMAIN_DEF_FORMAT_SECURE | VB_DOMAIN_DEF_FORMAT_INACTIVE,
                               &error);
    if (xml == NULL ||
        (stored = vb_domain_def_parse_string(xml, VB_DOMAIN_DEF_PARSE_INACTIVE, &error)) ==
            NULL) {
        fprintf(stderr, "assigned definition does not load: %s\n---\n%s---\n",
                error->message, xml ? xml : "");
        abort();
    }
    if (!vb_domain_def_check_abi_stability(copy, stored, &error)) {
        fprintf(stderr, "stored definition is not ABI compatible: %s\n", error->message);
        abort();
    }
    check_assign_idempotent(stored, xml);
    check_build(copy, caps_tcg, 5900);
    check_build(copy, caps_kvm, -1);
    check_build(stored, caps_tcg, 5901);
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
    check_command_line(def);
    return 0;
}
