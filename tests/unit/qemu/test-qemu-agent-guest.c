/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Readers of guest agent replies (issue 13, part agent). The replies marked "captured"
 * were sent by the tiny test guest's qemu-ga (Debian 12's 7.2) with an ext4 disk on /mnt;
 * the others follow qemu-ga's QAPI schema (qga/qapi-schema.json) for what the tiny guest
 * cannot show (logged-in users, a Windows domain, missing members).
 */
#include "config.h"

#include "qemu-agent.h"
#include "vb-error.h"

/* captured */
#define TIME_REPLY "1796023985824858000"
#define HOSTNAME_REPLY "{\"host-name\": \"capvm\"}"
#define OSINFO_REPLY                                                                     \
    "{\"name\": \"Tiny Guest\", \"kernel-release\": \"6.1.0-57-amd64\", \"version\": "   \
    "\"1\", \"pretty-name\": \"Tiny Guest (virtbus tests)\", \"version-id\": \"1\", "    \
    "\"kernel-version\": \"#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26)\", "     \
    "\"machine\": \"x86_64\", \"id\": \"tinyguest\"}"
#define TIMEZONE_REPLY "{\"zone\": \"UTC\", \"offset\": 0}"
#define FSINFO_REPLY                                                                     \
    "[{\"name\": \"vda\", \"total-bytes\": 13237248, \"mountpoint\": \"/mnt\", \"disk\": " \
    "[{\"bus-type\": \"virtio\", \"bus\": 0, \"unit\": 0, \"pci-controller\": {\"bus\": " \
    "0, \"slot\": 3, \"domain\": 0, \"function\": 0}, \"dev\": \"/dev/vda\", "            \
    "\"target\": 0}], \"used-bytes\": 14336, \"type\": \"ext4\"}]"
#define USERS_EMPTY_REPLY "[]"
/* from the schema: a Linux user and a Windows one with its domain */
#define USERS_REPLY                                                                      \
    "[{\"user\": \"root\", \"login-time\": 1536310744.25}, {\"user\": \"Administrator\", " \
    "\"domain\": \"WORKGROUP\", \"login-time\": 1536310800}]"

static JsonNode *
parse(const char *json)
{
    g_autoptr(GError) error = NULL;
    JsonNode *n = json_from_string(json, &error);

    g_assert_no_error(error);
    return n;
}

static GVariant *
dict_of(gboolean (*fn)(JsonNode *, GVariantDict *, GError **), const char *json)
{
    g_autoptr(JsonNode) n = parse(json);
    g_auto(GVariantDict) d = G_VARIANT_DICT_INIT(NULL);
    g_autoptr(GError) error = NULL;

    g_assert_true(fn(n, &d, &error));
    g_assert_no_error(error);
    return g_variant_ref_sink(g_variant_dict_end(&d));
}

static void
test_time(void)
{
    g_autoptr(JsonNode) n = parse(TIME_REPLY);
    g_autoptr(JsonNode) neg = parse("-1500000000");
    g_autoptr(JsonNode) bad = parse("\"soon\"");
    g_autoptr(GError) error = NULL;
    gint64 sec;
    guint nsec;

    g_assert_true(vb_qemu_agent_parse_time(n, &sec, &nsec, &error));
    g_assert_cmpint(sec, ==, 1796023985);
    g_assert_cmpuint(nsec, ==, 824858000);
    /* before the epoch: nanoseconds stay in 0..999999999 */
    g_assert_true(vb_qemu_agent_parse_time(neg, &sec, &nsec, &error));
    g_assert_cmpint(sec, ==, -2);
    g_assert_cmpuint(nsec, ==, 500000000);
    g_assert_false(vb_qemu_agent_parse_time(bad, &sec, &nsec, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND);
    g_assert_nonnull(strstr(error->message, "guest-get-time"));
}

static void
test_host_name(void)
{
    g_autoptr(JsonNode) n = parse(HOSTNAME_REPLY);
    g_autoptr(JsonNode) bad = parse("{\"name\": \"x\"}");
    g_autoptr(GError) error = NULL;
    g_autofree char *h = vb_qemu_agent_parse_host_name(n, &error);

    g_assert_cmpstr(h, ==, "capvm");
    g_assert_null(vb_qemu_agent_parse_host_name(bad, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND);
    g_assert_nonnull(strstr(error->message, "host-name"));
}

static void
test_fsinfo(void)
{
    g_autoptr(JsonNode) n = parse(FSINFO_REPLY);
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) fss = vb_qemu_agent_parse_fsinfo(n, &error);
    g_auto(GVariantDict) d = G_VARIANT_DICT_INIT(NULL);
    const VbGuestFS *fs;
    const char *s;
    guint64 t;
    guint32 u;

    g_assert_no_error(error);
    g_assert_cmpuint(fss->len, ==, 1);
    fs = fss->pdata[0];
    g_assert_cmpstr(fs->mountpoint, ==, "/mnt");
    g_assert_cmpstr(fs->name, ==, "vda");
    g_assert_cmpstr(fs->fstype, ==, "ext4");
    g_assert_true(fs->has_sizes);
    g_assert_cmpuint(fs->total_bytes, ==, 13237248);
    g_assert_cmpuint(fs->used_bytes, ==, 14336);
    g_assert_cmpuint(g_strv_length(fs->devices), ==, 1);
    g_assert_cmpstr(fs->devices[0], ==, "/dev/vda");
    g_assert_cmpstr(fs->buses[0], ==, "virtio");
    /* where the guest sees the disk: matched to the domain's disks by the service */
    {
        const VbGuestDiskAddr *a = &g_array_index(fs->addrs, VbGuestDiskAddr, 0);

        g_assert_cmpuint(fs->addrs->len, ==, 1);
        g_assert_true(a->has_pci);
        g_assert_cmpuint(a->pci_domain, ==, 0);
        g_assert_cmpuint(a->pci_bus, ==, 0);
        g_assert_cmpuint(a->pci_slot, ==, 3);
        g_assert_cmpuint(a->pci_function, ==, 0);
    }
    /* GetGuestInfo's names (libvirt's qemuAgentGetFSInfo typed parameters) */
    vb_qemu_agent_info_fs(fss, NULL, &d);
    g_assert_true(g_variant_dict_lookup(&d, "fs.count", "u", &u));
    g_assert_cmpuint(u, ==, 1);
    g_assert_true(g_variant_dict_lookup(&d, "fs.0.mountpoint", "&s", &s));
    g_assert_cmpstr(s, ==, "/mnt");
    g_assert_true(g_variant_dict_lookup(&d, "fs.0.fstype", "&s", &s));
    g_assert_cmpstr(s, ==, "ext4");
    g_assert_true(g_variant_dict_lookup(&d, "fs.0.total-bytes", "t", &t));
    g_assert_cmpuint(t, ==, 13237248);
    g_assert_true(g_variant_dict_lookup(&d, "fs.0.disk.count", "u", &u));
    g_assert_cmpuint(u, ==, 1);
    g_assert_true(g_variant_dict_lookup(&d, "fs.0.disk.0.alias", "&s", &s));
    g_assert_cmpstr(s, ==, "vda");
    g_assert_true(g_variant_dict_lookup(&d, "fs.0.disk.0.device", "&s", &s));
    g_assert_cmpstr(s, ==, "/dev/vda");
    g_assert_false(g_variant_dict_contains(&d, "fs.0.disk.0.serial"));
    {
        /* with the domain's targets: a matched disk is named by its target, an unmatched
         * one has no alias */
        char *row0[] = { (char *)"vdb", NULL };
        char *none[] = { (char *)"", NULL };
        GStrv matched[] = { row0, NULL };
        GStrv unmatched[] = { none, NULL };
        g_auto(GVariantDict) d2 = G_VARIANT_DICT_INIT(NULL);
        g_auto(GVariantDict) d3 = G_VARIANT_DICT_INIT(NULL);

        vb_qemu_agent_info_fs(fss, matched, &d2);
        g_assert_true(g_variant_dict_lookup(&d2, "fs.0.disk.0.alias", "&s", &s));
        g_assert_cmpstr(s, ==, "vdb");
        vb_qemu_agent_info_fs(fss, unmatched, &d3);
        g_assert_false(g_variant_dict_contains(&d3, "fs.0.disk.0.alias"));
        g_assert_true(g_variant_dict_lookup(&d3, "fs.0.disk.0.device", "&s", &s));
        g_assert_cmpstr(s, ==, "/dev/vda");
    }
}

static void
test_fsinfo_errors(void)
{
    static const char *const bad[] = {
        "{}",                                              /* not an array */
        "[{\"mountpoint\": \"/\", \"type\": \"ext4\", \"disk\": []}]", /* no name */
        "[{\"name\": \"vda\", \"mountpoint\": \"/\", \"type\": \"ext4\"}]", /* no disk */
        "[{\"name\": \"vda\", \"mountpoint\": \"/\", \"type\": \"ext4\", \"disk\": [1]}]",
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(JsonNode) n = parse(bad[i]);
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) fss = vb_qemu_agent_parse_fsinfo(n, &error);

        g_assert_null(fss);
        g_assert_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND);
    }
    {
        /* sizes are optional (older agents, Windows volumes without them) */
        g_autoptr(JsonNode) n = parse("[{\"name\": \"sda1\", \"mountpoint\": \"C:\\\\\", "
                                      "\"type\": \"NTFS\", \"disk\": []}]");
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) fss = vb_qemu_agent_parse_fsinfo(n, &error);

        g_assert_no_error(error);
        g_assert_false(((VbGuestFS *)fss->pdata[0])->has_sizes);
        g_assert_cmpuint(g_strv_length(((VbGuestFS *)fss->pdata[0])->devices), ==, 0);
    }
}

static void
test_users(void)
{
    g_autoptr(GVariant) none = dict_of(vb_qemu_agent_info_users, USERS_EMPTY_REPLY);
    g_autoptr(GVariant) two = dict_of(vb_qemu_agent_info_users, USERS_REPLY);
    g_auto(GVariantDict) d = G_VARIANT_DICT_INIT(two);
    guint32 u;
    guint64 t;
    const char *s;

    g_assert_true(g_variant_lookup(none, "user.count", "u", &u));
    g_assert_cmpuint(u, ==, 0);
    g_assert_cmpuint(g_variant_n_children(none), ==, 1);
    g_assert_true(g_variant_dict_lookup(&d, "user.count", "u", &u));
    g_assert_cmpuint(u, ==, 2);
    g_assert_true(g_variant_dict_lookup(&d, "user.0.name", "&s", &s));
    g_assert_cmpstr(s, ==, "root");
    /* login-time in milliseconds, as libvirt */
    g_assert_true(g_variant_dict_lookup(&d, "user.0.login-time", "t", &t));
    g_assert_cmpuint(t, ==, 1536310744250);
    g_assert_false(g_variant_dict_contains(&d, "user.0.domain"));
    g_assert_true(g_variant_dict_lookup(&d, "user.1.domain", "&s", &s));
    g_assert_cmpstr(s, ==, "WORKGROUP");
    g_assert_true(g_variant_dict_lookup(&d, "user.1.login-time", "t", &t));
    g_assert_cmpuint(t, ==, 1536310800000);
    {
        g_autoptr(JsonNode) n = parse("[{\"login-time\": 1}]");
        g_auto(GVariantDict) e = G_VARIANT_DICT_INIT(NULL);
        g_autoptr(GError) error = NULL;

        g_assert_false(vb_qemu_agent_info_users(n, &e, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND);
    }
}

static void
test_os_and_timezone(void)
{
    g_autoptr(GVariant) os = dict_of(vb_qemu_agent_info_os, OSINFO_REPLY);
    g_autoptr(GVariant) tz = dict_of(vb_qemu_agent_info_timezone, TIMEZONE_REPLY);
    g_autoptr(GVariant) tz2 = dict_of(vb_qemu_agent_info_timezone, "{\"offset\": -18000}");
    const char *s;
    gint32 off;

    g_assert_true(g_variant_lookup(os, "os.id", "&s", &s));
    g_assert_cmpstr(s, ==, "tinyguest");
    g_assert_true(g_variant_lookup(os, "os.pretty-name", "&s", &s));
    g_assert_cmpstr(s, ==, "Tiny Guest (virtbus tests)");
    g_assert_true(g_variant_lookup(os, "os.kernel-release", "&s", &s));
    g_assert_cmpstr(s, ==, "6.1.0-57-amd64");
    g_assert_true(g_variant_lookup(os, "os.machine", "&s", &s));
    g_assert_cmpstr(s, ==, "x86_64");
    /* what the guest does not give is left out */
    g_assert_false(g_variant_lookup(os, "os.variant", "&s", &s));
    g_assert_cmpuint(g_variant_n_children(os), ==, 8);
    g_assert_true(g_variant_lookup(tz, "timezone.name", "&s", &s));
    g_assert_cmpstr(s, ==, "UTC");
    g_assert_true(g_variant_lookup(tz, "timezone.offset", "i", &off));
    g_assert_cmpint(off, ==, 0);
    g_assert_false(g_variant_lookup(tz2, "timezone.name", "&s", &s));
    g_assert_true(g_variant_lookup(tz2, "timezone.offset", "i", &off));
    g_assert_cmpint(off, ==, -18000);
    {
        g_autoptr(JsonNode) n = parse("{\"zone\": \"UTC\"}");
        g_auto(GVariantDict) e = G_VARIANT_DICT_INIT(NULL);
        g_autoptr(GError) error = NULL;

        g_assert_false(vb_qemu_agent_info_timezone(n, &e, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND);
        g_clear_error(&error);
        g_assert_false(vb_qemu_agent_info_os(n = (json_node_unref(n), parse("[]")), &e, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu/agent-guest/time", test_time);
    g_test_add_func("/qemu/agent-guest/host-name", test_host_name);
    g_test_add_func("/qemu/agent-guest/fsinfo", test_fsinfo);
    g_test_add_func("/qemu/agent-guest/fsinfo-errors", test_fsinfo_errors);
    g_test_add_func("/qemu/agent-guest/users", test_users);
    g_test_add_func("/qemu/agent-guest/os-and-timezone", test_os_and_timezone);
    return g_test_run();
}
