/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Names of issue 14, part cgroup (docs/resources.md): the machine name qemu-<id>-<name>
 * (libvirt's: letters, digits, "-_." kept, 64 characters), the scope name systemd derives
 * from it (machine-qemu\x2d1\x2dvm.scope) and the slice of a partition; and what
 * cgroup_mode none lists in Unsupported.
 */
#include "config.h"

#include <string.h>

#include "domain-cgroup.h"
#include "vb-error.h"

static void
test_names(void)
{
    g_autofree char *m = vb_domain_cgroup_machine_name(1, "vm1");
    g_autofree char *odd = vb_domain_cgroup_machine_name(12, "my vm/ü.x-");
    g_autofree char *longer = vb_domain_cgroup_machine_name(3, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                                               "aaaaaaaaaaaa");
    g_autofree char *scope = vb_domain_cgroup_scope_name(m);
    g_autofree char *scope2 = vb_domain_cgroup_scope_name("qemu-2-a_b.c");
    g_autofree char *s1 = vb_domain_cgroup_slice_name("/machine");
    g_autofree char *s2 = vb_domain_cgroup_slice_name("/machine/tenant-1");
    g_autofree char *s3 = vb_domain_cgroup_slice_name("/");

    g_assert_cmpstr(m, ==, "qemu-1-vm1");
    g_assert_cmpstr(odd, ==, "qemu-12-myvm.x");
    g_assert_cmpuint(strlen(longer), ==, 64);
    g_assert_cmpstr(scope, ==, "machine-qemu\\x2d1\\x2dvm1.scope");
    g_assert_cmpstr(scope2, ==, "machine-qemu\\x2d2\\x2da_b.c.scope");
    g_assert_cmpstr(s1, ==, "machine.slice");
    g_assert_cmpstr(s2, ==, "machine-tenant\\x2d1.slice");
    g_assert_cmpstr(s3, ==, "machine.slice");
}

/* cgroup_mode none: every limit and the partition is listed, with the caller's line */
static void
test_unsupported_none(void)
{
    static const char xml[] =
        "<domain type='qemu'>\n"
        "  <name>u</name>\n"
        "  <memory unit='KiB'>65536</memory>\n"
        "  <memtune><hard_limit unit='KiB'>131072</hard_limit></memtune>\n"
        "  <vcpu>1</vcpu>\n"
        "  <cputune><shares>100</shares><period>100000</period></cputune>\n"
        "  <resource><partition>/machine</partition></resource>\n"
        "  <os><type arch='x86_64' machine='q35'>hvm</type></os>\n"
        "</domain>\n";
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) def = vb_domain_def_parse_string(xml, 0, &error);
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    g_auto(GStrv) list = NULL;

    g_assert_no_error(error);
    vb_domain_cgroup_init(VB_CGROUP_MODE_NONE);
    g_assert_cmpint(vb_domain_cgroup_mode(), ==, VB_CGROUP_MODE_NONE);
    vb_domain_cgroup_unsupported(def, b);
    list = g_strv_builder_end(b);
    g_assert_cmpuint(g_strv_length(list), ==, 4);
    g_assert_cmpstr(list[0], ==,
                    "<memtune><hard_limit> at line 4: not applied: cgroup_mode is none");
    g_assert_cmpstr(list[1], ==, "<cputune><shares> at line 6: not applied: cgroup_mode is none");
    g_assert_cmpstr(list[2], ==, "<cputune><period> at line 6: not applied: cgroup_mode is none");
    g_assert_cmpstr(list[3], ==,
                    "<resource><partition> at line 7: not applied: cgroup_mode is none");
}

/* a run without a cgroup cannot be tuned live: NotSupported, saying why */
static void
test_live_without_cgroup(void)
{
    static const char xml[] =
        "<domain type='qemu'><name>l</name><memory>65536</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='q35'>hvm</type></os></domain>";
    VbDomainDef *def = vb_domain_def_parse_string(xml, 0, NULL);
    g_autoptr(VbDomainObj) dom = vb_domain_obj_new(def, "/org/virtbus/Virt1/domain/x");
    g_autoptr(VbDomainTune) t = vb_domain_tune_new();
    g_autoptr(GError) error = NULL;

    vb_domain_tune_set(t, VB_TUNE_HARD_LIMIT, 1024);
    g_assert_false(vb_domain_cgroup_set_live(dom, t, 1u << VB_TUNE_HARD_LIMIT, FALSE, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
    g_assert_nonnull(strstr(error->message, "cgroup_mode is none"));
    g_clear_error(&error);
    /* a per-thread quota is refused whatever the mode */
    vb_domain_tune_set(t, VB_TUNE_QUOTA, 5000);
    g_assert_false(vb_domain_cgroup_set_live(dom, t, 1u << VB_TUNE_QUOTA, FALSE, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
    g_assert_nonnull(strstr(error->message, "global_quota"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/domain/cgroup/names", test_names);
    g_test_add_func("/domain/cgroup/unsupported-none", test_unsupported_none);
    g_test_add_func("/domain/cgroup/live-without-cgroup", test_live_without_cgroup);
    return g_test_run();
}
