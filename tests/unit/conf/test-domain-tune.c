/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Resource tuning of issue 14, part cgroup: <memtune>, <cputune> scalars, <blkiotune> and
 * <resource><partition> read into the view (units, libvirt's ranges), kept verbatim (the
 * XML comes back unchanged), bad values refused naming the element, and the edit the
 * CONFIG flag makes (vb_domain_def_with_tune) with pins and partition kept.
 */
#include "config.h"

#include <string.h>

#include "domain-def-tune.h"
#include "domain-def.h"
#include "vb-error.h"

#define HEAD                                                                                 \
    "<domain type='qemu'>\n"                                                                 \
    "  <name>tune</name>\n"                                                                  \
    "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"                                  \
    "  <memory unit='KiB'>65536</memory>\n"

#define TUNE                                                                                 \
    "  <blkiotune>\n"                                                                        \
    "    <weight>500</weight>\n"                                                             \
    "    <device>\n"                                                                         \
    "      <path>/dev/sda</path>\n"                                                          \
    "      <weight>300</weight>\n"                                                           \
    "      <read_iops_sec>1000</read_iops_sec>\n"                                            \
    "      <write_bytes_sec>1048576</write_bytes_sec>\n"                                     \
    "    </device>\n"                                                                        \
    "  </blkiotune>\n"                                                                       \
    "  <memtune>\n"                                                                          \
    "    <hard_limit unit='MiB'>512</hard_limit>\n"                                          \
    "    <soft_limit unit='KiB'>262144</soft_limit>\n"                                       \
    "    <swap_hard_limit unit='G'>1</swap_hard_limit>\n"                                    \
    "    <min_guarantee unit='KiB'>65536</min_guarantee>\n"                                  \
    "  </memtune>\n"                                                                         \
    "  <vcpu placement='static'>2</vcpu>\n"                                                  \
    "  <cputune>\n"                                                                          \
    "    <shares>2048</shares>\n"                                                            \
    "    <period>100000</period>\n"                                                          \
    "    <quota>-5</quota>\n"                                                                \
    "    <global_period>200000</global_period>\n"                                            \
    "    <global_quota>50000</global_quota>\n"                                               \
    "    <vcpupin vcpu='1' cpuset='0'/>\n"                                                   \
    "  </cputune>\n"                                                                         \
    "  <resource>\n"                                                                         \
    "    <partition>/machine/tenant1</partition>\n"                                          \
    "  </resource>\n"

#define TAIL                                                                                 \
    "  <os>\n"                                                                               \
    "    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n"                              \
    "  </os>\n"                                                                              \
    "</domain>\n"

static VbDomainDef *
parse(const char *xml)
{
    g_autoptr(GError) error = NULL;
    VbDomainDef *def = vb_domain_def_parse_string(xml, 0, &error);

    g_assert_no_error(error);
    g_assert_nonnull(def);
    return def;
}

static char *
format(const VbDomainDef *def)
{
    g_autoptr(GError) error = NULL;
    char *xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, &error);

    g_assert_no_error(error);
    return xml;
}

/* every element is read, with units and libvirt's quota normalisation */
static void
test_parse(void)
{
    g_autoptr(VbDomainDef) def = parse(HEAD TUNE TAIL);
    const VbDomainTune *t = vb_domain_def_get_tune(def);
    const VbBlkioDevice *d;

    g_assert_cmpint(t->v[VB_TUNE_HARD_LIMIT], ==, 512 * 1024);
    g_assert_cmpint(t->v[VB_TUNE_SOFT_LIMIT], ==, 262144);
    g_assert_cmpint(t->v[VB_TUNE_SWAP_HARD_LIMIT], ==, 1024 * 1024);
    g_assert_cmpint(t->v[VB_TUNE_MIN_GUARANTEE], ==, 65536);
    g_assert_cmpint(t->v[VB_TUNE_SHARES], ==, 2048);
    g_assert_cmpint(t->v[VB_TUNE_PERIOD], ==, 100000);
    g_assert_cmpint(t->v[VB_TUNE_QUOTA], ==, -1); /* any negative quota is unlimited */
    g_assert_cmpint(t->v[VB_TUNE_GLOBAL_PERIOD], ==, 200000);
    g_assert_cmpint(t->v[VB_TUNE_GLOBAL_QUOTA], ==, 50000);
    g_assert_false(VB_TUNE_HAS(t, VB_TUNE_EMULATOR_PERIOD));
    g_assert_cmpint(t->v[VB_TUNE_BLKIO_WEIGHT], ==, 500);
    g_assert_cmpint(t->line[VB_TUNE_HARD_LIMIT], ==, 15);
    g_assert_cmpuint(t->devices->len, ==, 1);
    d = g_ptr_array_index(t->devices, 0);
    g_assert_cmpstr(d->path, ==, "/dev/sda");
    g_assert_cmpuint(d->weight, ==, 300);
    g_assert_cmpuint(d->read_iops_sec, ==, 1000);
    g_assert_cmpuint(d->write_bytes_sec, ==, 1048576);
    g_assert_cmpuint(d->read_bytes_sec, ==, 0);
    g_assert_cmpstr(t->partition, ==, "/machine/tenant1");
    g_assert_cmpstr(vb_domain_tune_partition(t), ==, "/machine/tenant1");
}

/* the document comes back unchanged, twice */
static void
test_roundtrip(void)
{
    g_autoptr(VbDomainDef) def = parse(HEAD TUNE TAIL);
    g_autofree char *xml = format(def);
    g_autoptr(VbDomainDef) again = parse(xml);
    g_autofree char *xml2 = format(again);

    g_assert_nonnull(strstr(xml, "<hard_limit unit='MiB'>512</hard_limit>"));
    g_assert_nonnull(strstr(xml, "<partition>/machine/tenant1</partition>"));
    g_assert_nonnull(strstr(xml, "<write_bytes_sec>1048576</write_bytes_sec>"));
    g_assert_cmpstr(xml, ==, xml2);
    /* and no tuning element is reported as unknown */
    g_assert_cmpuint(def->unknown_elements->len, ==, 0);
}

/* no tuning: an empty view, the default partition */
static void
test_empty(void)
{
    g_autoptr(VbDomainDef) def = parse(HEAD "  <vcpu>1</vcpu>\n" TAIL);
    const VbDomainTune *t = vb_domain_def_get_tune(def);

    g_assert_cmpuint(t->set, ==, 0);
    g_assert_cmpuint(t->devices->len, ==, 0);
    g_assert_null(t->partition);
    g_assert_cmpstr(vb_domain_tune_partition(t), ==, "/machine");
}

static void
expect_invalid(const char *part, const char *needle)
{
    g_autofree char *xml = g_strconcat(HEAD "  <vcpu>1</vcpu>\n", part, TAIL, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) def = vb_domain_def_parse_string(xml, 0, &error);

    g_assert_null(def);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    if (strstr(error->message, needle) == NULL)
        g_error("'%s' does not name '%s'", error->message, needle);
}

/* bad values: InvalidArgument naming the element (and its range) */
static void
test_invalid(void)
{
    expect_invalid("  <cputune><period>999</period></cputune>\n", "period");
    expect_invalid("  <cputune><period>999</period></cputune>\n", "[1000, 1000000]");
    expect_invalid("  <cputune><global_quota>500</global_quota></cputune>\n", "global_quota");
    expect_invalid("  <cputune><shares>abc</shares></cputune>\n", "shares");
    expect_invalid("  <cputune><shares>300000</shares></cputune>\n", "shares");
    expect_invalid("  <memtune><hard_limit unit='parsec'>1</hard_limit></memtune>\n",
                   "hard_limit");
    expect_invalid("  <memtune><hard_limit>-1</hard_limit></memtune>\n", "hard_limit");
    expect_invalid("  <memtune><hard_limit>1</hard_limit><hard_limit>2</hard_limit>"
                   "</memtune>\n", "more than once");
    expect_invalid("  <memtune><hard_limt>1</hard_limt></memtune>\n", "hard_limt");
    expect_invalid("  <memtune><hard_limit>1048576</hard_limit>"
                   "<swap_hard_limit>1024</swap_hard_limit></memtune>\n", "swap_hard_limit");
    expect_invalid("  <blkiotune><weight>20000</weight></blkiotune>\n", "weight");
    expect_invalid("  <blkiotune><device><weight>5</weight></device></blkiotune>\n", "device");
    expect_invalid("  <blkiotune><device><path>/dev/sda</path></device>"
                   "<device><path>/dev/sda</path></device></blkiotune>\n", "duplicate");
    expect_invalid("  <blkiotune><device><path>/dev/sda</path><read_iops_sec>x"
                   "</read_iops_sec></device></blkiotune>\n", "read_iops_sec");
    expect_invalid("  <blkiotune><device><path>/dev/a,b</path></device></blkiotune>\n",
                   "device");
    expect_invalid("  <blkiotune><device><path>sda</path></device></blkiotune>\n", "device");
    expect_invalid("  <resource><partition>machine</partition></resource>\n", "partition");
    expect_invalid("  <resource><partition>/machine/../etc</partition></resource>\n",
                   "partition");
    expect_invalid("  <resource><partition>/a b</partition></resource>\n", "partition");
}

/* libvirt's unlimited and a zero period/quota (not set) are taken */
static void
test_limits(void)
{
    g_autoptr(VbDomainDef) def =
        parse(HEAD "  <memtune><hard_limit unit='KiB'>9007199254740991</hard_limit></memtune>\n"
                   "  <vcpu>1</vcpu>\n"
                   "  <cputune><period>0</period><quota>0</quota></cputune>\n" TAIL);
    const VbDomainTune *t = vb_domain_def_get_tune(def);

    g_assert_cmpint(t->v[VB_TUNE_HARD_LIMIT], ==, VB_TUNE_MEMORY_UNLIMITED);
    g_assert_false(VB_TUNE_HAS(t, VB_TUNE_PERIOD));
    g_assert_false(VB_TUNE_HAS(t, VB_TUNE_QUOTA));
}

/* the CONFIG edit: new values, pins, other <cputune> children and the partition stay */
static void
test_with_tune(void)
{
    g_autoptr(VbDomainDef) def = parse(HEAD TUNE TAIL);
    g_autoptr(VbDomainTune) t = vb_domain_tune_copy(vb_domain_def_get_tune(def));
    g_autoptr(VbDomainDef) changed = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;
    const VbDomainTune *ct;
    VbBlkioDevice *d;

    vb_domain_tune_set(t, VB_TUNE_HARD_LIMIT, 1048576);
    vb_domain_tune_set(t, VB_TUNE_SWAP_HARD_LIMIT, 2097152);
    vb_domain_tune_set(t, VB_TUNE_SHARES, 100);
    t->set &= ~(1u << VB_TUNE_GLOBAL_QUOTA);
    d = vb_domain_tune_device(t, "/dev/vdb", TRUE);
    d->write_iops_sec = 50;
    changed = vb_domain_def_with_tune(def, t, &error);
    g_assert_no_error(error);
    g_assert_nonnull(changed);
    ct = vb_domain_def_get_tune(changed);
    g_assert_cmpint(ct->v[VB_TUNE_HARD_LIMIT], ==, 1048576);
    g_assert_cmpint(ct->v[VB_TUNE_SHARES], ==, 100);
    g_assert_false(VB_TUNE_HAS(ct, VB_TUNE_GLOBAL_QUOTA));
    g_assert_true(VB_TUNE_HAS(ct, VB_TUNE_GLOBAL_PERIOD));
    g_assert_cmpuint(ct->devices->len, ==, 2);
    g_assert_cmpstr(ct->partition, ==, "/machine/tenant1");
    xml = format(changed);
    g_assert_nonnull(strstr(xml, "<vcpupin vcpu='1' cpuset='0'/>"));
    g_assert_nonnull(strstr(xml, "<hard_limit unit='KiB'>1048576</hard_limit>"));
    /* libvirt's order: the scalars before the pins, blkiotune before memtune */
    g_assert_true(strstr(xml, "<shares>") < strstr(xml, "<vcpupin"));
    g_assert_true(strstr(xml, "<blkiotune>") < strstr(xml, "<memtune>"));
    g_assert_true(strstr(xml, "<memtune>") < strstr(xml, "<vcpu "));

    /* an inconsistent change is refused and names the element */
    vb_domain_tune_set(t, VB_TUNE_SWAP_HARD_LIMIT, 1024);
    g_clear_pointer(&changed, vb_domain_def_free);
    changed = vb_domain_def_with_tune(def, t, &error);
    g_assert_null(changed);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "swap_hard_limit"));
}

/* libvirt's parser takes <shares>0</shares> and writes it back; the API's range has no 0 */
static void
test_zero_shares(void)
{
    g_autoptr(VbDomainDef) def = parse(HEAD "  <vcpu>1</vcpu>\n  <cputune><shares>0</shares>"
                                            "</cputune>\n" TAIL);
    g_autofree char *xml = format(def);
    g_autoptr(GError) error = NULL;

    g_assert_nonnull(strstr(xml, "<shares>0</shares>"));
    g_assert_false(vb_tune_item_check(VB_TUNE_SHARES, 0, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
}

/* removing everything removes the elements; <cputune> with only pins stays */
static void
test_clear(void)
{
    g_autoptr(VbDomainDef) def = parse(HEAD TUNE TAIL);
    g_autoptr(VbDomainTune) t = vb_domain_tune_new();
    g_autoptr(VbDomainDef) changed = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *fmt = NULL;
    GString *buf = g_string_new(NULL);

    changed = vb_domain_def_with_tune(def, t, &error);
    g_assert_no_error(error);
    xml = format(changed);
    g_assert_null(strstr(xml, "<memtune"));
    g_assert_null(strstr(xml, "<blkiotune"));
    g_assert_null(strstr(xml, "<shares"));
    g_assert_nonnull(strstr(xml, "<vcpupin"));
    vb_domain_tune_format(vb_domain_def_get_tune(def), buf, 1);
    fmt = g_string_free(buf, FALSE);
    g_assert_nonnull(strstr(fmt, "  <memtune>\n    <hard_limit unit='KiB'>524288</hard_limit>"));
    g_assert_nonnull(strstr(fmt, "<quota>-1</quota>"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/conf/tune/parse", test_parse);
    g_test_add_func("/conf/tune/roundtrip-unchanged", test_roundtrip);
    g_test_add_func("/conf/tune/empty-default-partition", test_empty);
    g_test_add_func("/conf/tune/invalid-names-element", test_invalid);
    g_test_add_func("/conf/tune/unlimited-and-zero", test_limits);
    g_test_add_func("/conf/tune/with-tune-keeps-pins", test_with_tune);
    g_test_add_func("/conf/tune/clear", test_clear);
    g_test_add_func("/conf/tune/zero-shares-kept", test_zero_shares);
    return g_test_run();
}
