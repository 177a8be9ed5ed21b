/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "domain-stats.h"
#include "test-domain-fixture.h"
#include "vb-error.h"

/*
 * Statistics without QEMU (issue 13, part stats): the /proc parsers, and the definition's
 * disks and <memballoon><stats period> as the stats calls read and write them.
 */

static VbDomainDef *
parse(const char *devices)
{
    return vb_test_domain_def("statvm", "5b2d7e9a-1c44-4e0b-8f61-2a3b4c5d6e7f", devices);
}

/* A real line of QEMU's /proc/PID/stat, its name with a space and parentheses. */
static void
test_proc_stat(void)
{
    const char *line = "4242 (qemu (x) system) S 1 4242 4242 0 -1 4194624 51853 0 0 0 "
                       "1234 567 0 0 20 0 5 0 2398571 1258291200 32768 18446744073709551615 "
                       "1 1 0 0 0 0 268444224 4096 17958 0 0 0 17 3 0 0 0 0 0\n";
    VbProcStat st = { 0 };

    g_assert_true(vb_proc_stat_parse(line, &st));
    g_assert_cmpuint(st.utime, ==, 1234);
    g_assert_cmpuint(st.stime, ==, 567);
    g_assert_cmpuint(st.rss, ==, 32768);
    g_assert_cmpint(st.processor, ==, 3);
    /* broken input: no ')', too short, a letter where a number belongs */
    g_assert_false(vb_proc_stat_parse("4242 qemu S 1 2 3", &st));
    g_assert_false(vb_proc_stat_parse("4242 (q) S 1 2 3 4 5\n", &st));
    g_assert_false(vb_proc_stat_parse("1 (q) S 1 1 1 0 -1 0 0 0 0 0 x 5 0 0 20 0 5 0 1 1 "
                                      "7 1\n", &st));
    g_assert_false(vb_proc_stat_parse("", &st));
    /* our own process parses, and its CPU time only grows */
    {
        VbProcStat a, b;
        volatile guint64 spin = 0;

        g_assert_true(vb_proc_read_stat(getpid(), 0, &a));
        for (guint64 i = 0; i < 200000000ull; i++)
            spin += i;
        g_assert_true(vb_proc_read_stat(getpid(), getpid() /* the main thread */, &b));
        g_assert_cmpuint(b.utime + b.stime, >=, 1);
        g_assert_cmpuint(b.rss, >, 0);
        g_assert_false(vb_proc_read_stat(-1, 0, &a));
    }
    g_assert_cmpuint(vb_proc_ticks_to_ns(1), ==, 1000000000ull / (guint64)sysconf(_SC_CLK_TCK));
}

static void
test_sched(void)
{
    const char *sched = "qemu-system-x86 (4242, #threads: 5)\n"
                        "-------------------------------------------------------------------\n"
                        "se.exec_start                                :      12345.678901\n"
                        "se.vruntime                                  :        120.000000\n"
                        "se.statistics.wait_sum                       :         12.345678\n"
                        "se.statistics.wait_max                       :          1.000000\n";
    const char *newer = "se.wait_sum                                  :          7.5\n";
    guint64 ns = 0;

    g_assert_true(vb_proc_sched_wait_parse(sched, &ns));
    g_assert_cmpuint(ns, ==, 12345678);
    g_assert_true(vb_proc_sched_wait_parse(newer, &ns));
    g_assert_cmpuint(ns, ==, 7500000);
    g_assert_false(vb_proc_sched_wait_parse("se.vruntime : 1.0\n", &ns));
    g_assert_false(vb_proc_sched_wait_parse("se.wait_sum : abc\n", &ns));

    g_assert_true(vb_proc_schedstat_delay_parse("123456789 987654 321\n", &ns));
    g_assert_cmpuint(ns, ==, 987654);
    g_assert_false(vb_proc_schedstat_delay_parse("123456789\n", &ns));
    g_assert_false(vb_proc_schedstat_delay_parse("x 1 2\n", &ns));
    g_assert_false(vb_proc_schedstat_delay_parse("99999999999999999999999 1 2\n", &ns));
}

static void
test_read_u64(void)
{
    g_autofree char *dir = g_dir_make_tmp("vb-stats-XXXXXX", NULL);
    g_autofree char *ok = g_build_filename(dir, "rx_bytes", NULL);
    g_autofree char *bad = g_build_filename(dir, "tx_bytes", NULL);
    g_autofree char *none = g_build_filename(dir, "missing", NULL);
    gboolean good;

    g_assert_true(g_file_set_contents(ok, "18446744073709551615\n", -1, NULL));
    g_assert_true(g_file_set_contents(bad, "-1\n", -1, NULL));
    g_assert_cmpuint(vb_proc_read_u64(ok, &good), ==, G_MAXUINT64);
    g_assert_true(good);
    g_assert_cmpuint(vb_proc_read_u64(bad, &good), ==, 0);
    g_assert_false(good);
    vb_proc_read_u64(none, &good);
    g_assert_false(good);
    g_unlink(ok);
    g_unlink(bad);
    g_rmdir(dir);
}

static void
test_disks_and_period(void)
{
    g_autoptr(VbDomainDef) def = parse(
        "<disk type='file' device='disk'><source file='/img/a.qcow2'/>"
        "<target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>"
        "<memballoon model='virtio'><address type='pci' slot='0x05'/></memballoon>");
    g_autoptr(VbDomainDef) none = parse("<memballoon model='none'/>");
    g_autoptr(GPtrArray) disks = vb_domain_def_get_disk_infos(def);
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *again = NULL;
    const VbDomainDiskInfo *d;

    g_assert_cmpuint(disks->len, ==, 2);
    d = g_ptr_array_index(disks, 0);
    g_assert_cmpstr(d->target, ==, "vda");
    g_assert_cmpstr(d->path, ==, "/img/a.qcow2");
    g_assert_cmpstr(d->alias, ==, "virtio-disk0");
    d = g_ptr_array_index(disks, 1);
    g_assert_cmpstr(d->target, ==, "sda");
    g_assert_null(d->path);
    g_assert_cmpstr(d->device, ==, "cdrom");

    g_assert_true(vb_domain_def_has_virtio_balloon(def));
    g_assert_false(vb_domain_def_has_virtio_balloon(none));
    g_assert_cmpint(vb_domain_def_get_balloon_period(def), ==, 0);
    g_assert_true(vb_domain_def_set_balloon_period(def, 5, &error));
    g_assert_no_error(error);
    g_assert_cmpint(vb_domain_def_get_balloon_period(def), ==, 5);
    /* replaced, not added twice; and placed before <address>, as libvirt writes it */
    g_assert_true(vb_domain_def_set_balloon_period(def, 10, &error));
    g_assert_cmpint(vb_domain_def_get_balloon_period(def), ==, 10);
    xml = vb_domain_def_format(def, 0, &error);
    g_assert_no_error(error);
    g_assert_nonnull(strstr(xml, "<stats period='10'/>"));
    g_assert_null(strstr(xml, "period='5'"));
    g_assert_true(strstr(xml, "<stats period='10'/>") < strstr(xml, "<address type='pci'"));
    /* stable round trip */
    {
        g_autoptr(VbDomainDef) re = vb_domain_def_parse_string(xml, 0, &error);

        g_assert_no_error(error);
        again = vb_domain_def_format(re, 0, &error);
        g_assert_cmpstr(again, ==, xml);
    }
    g_assert_false(vb_domain_def_set_balloon_period(none, 5, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
}

static void
test_memstat_names(void)
{
    g_assert_cmpstr(vb_memstat_name(VB_MEMSTAT_SWAP_IN), ==, "swap_in");
    g_assert_cmpstr(vb_memstat_name(VB_MEMSTAT_ACTUAL_BALLOON), ==, "actual");
    g_assert_cmpstr(vb_memstat_name(VB_MEMSTAT_RSS), ==, "rss");
    g_assert_cmpstr(vb_memstat_name(VB_MEMSTAT_LAST_UPDATE), ==, "last-update");
    g_assert_cmpstr(vb_memstat_name(VB_MEMSTAT_HUGETLB_PGFAIL), ==, "hugetlb_pgfail");
    g_assert_null(vb_memstat_name(VB_MEMSTAT_LAST));
    /* libvirt's numbers */
    g_assert_cmpint(VB_MEMSTAT_ACTUAL_BALLOON, ==, 6);
    g_assert_cmpint(VB_MEMSTAT_USABLE, ==, 8);
    g_assert_cmpint(VB_MEMSTAT_HUGETLB_PGFAIL, ==, 12);
    g_assert_cmpuint(VB_STATS_DIRTYRATE, ==, 512);
    g_assert_cmpuint(VB_STATS_ENFORCE_STATS, ==, 0x80000000u);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/domain/stats/proc-stat-fields-after-the-name", test_proc_stat);
    g_test_add_func("/domain/stats/sched-wait-and-schedstat-delay", test_sched);
    g_test_add_func("/domain/stats/sysfs-counter-read", test_read_u64);
    g_test_add_func("/domain/stats/disks-and-balloon-period", test_disks_and_period);
    g_test_add_func("/domain/stats/libvirt-names-and-numbers", test_memstat_names);
    return g_test_run();
}
