/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Migration cookies (service/migration/migration-cookie.c): round trips of
 * every part, the golden formatted cookie, each class of malformed input a
 * peer could send, the same-host check and the completed-job times when the
 * two hosts' clocks differ.
 */
#include "config.h"

#include <string.h>

#include "migration-cookie.h"
#include "vb-error.h"

#define UUID "c7a5fdbd-edaf-9455-926a-d65c16db1809"
#define HOSTUUID "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define HEAD                                                                                   \
    "<virtbus-migration version='1'><name>vm1</name><uuid>" UUID "</uuid>"                     \
    "<hostname>src.example.org</hostname><hostuuid>" HOSTUUID "</hostuuid>"
#define TAIL "</virtbus-migration>"
#define NOW G_GINT64_CONSTANT(1700000000000)

static const char domain_xml[] =
    "<domain type=\"kvm\" xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'  >\n"
    "  <name>vm1</name>\n"
    "  <uuid>" UUID "</uuid>\n"
    "  <description>a &amp; b &lt;c&gt; &#233; \xc3\xa9</description>\n"
    "  <!-- a comment -->\n"
    "  <memory unit='KiB'>131072</memory>\n"
    "  <devices><disk type='file' device='disk'><target dev='vda' bus='virtio' /></disk>"
    "</devices>\n"
    "  <qemu:commandline><qemu:arg value='-S'/></qemu:commandline>\n"
    "</domain   >";

static VbMigrationCookie *
parse_str(const char *xml, GError **error)
{
    return vb_migration_cookie_parse_at((const guint8 *)xml, strlen(xml), NOW + 50, error);
}

static VbMigrationCookie *
make_cookie(guint features)
{
    VbMigrationCookie *c = vb_migration_cookie_new();

    c->name = g_strdup("vm <1> & 'x'");
    c->hostname = g_strdup("src.example.org");
    memcpy(c->uuid, UUID, 37);
    memcpy(c->host_uuid, HOSTUUID, 37);
    if (features & VB_MIGRATION_COOKIE_GRAPHICS) {
        c->features |= VB_MIGRATION_COOKIE_GRAPHICS;
        c->graphics_type = g_strdup("spice");
        c->graphics_port = 5901;
        c->graphics_tls_port = 5902;
        c->graphics_listen = g_strdup("192.0.2.7");
    }
    if (features & VB_MIGRATION_COOKIE_NBD) {
        c->nbd_port = 49153;
        c->nbd_host = g_strdup("192.0.2.8");
        vb_migration_cookie_add_disk(c, "vda", G_GUINT64_CONSTANT(10737418240));
        vb_migration_cookie_add_disk(c, "sdb", 0);
        vb_migration_cookie_add_disk(c, "vdc", G_MAXUINT64);
    }
    if (features & VB_MIGRATION_COOKIE_STATS) {
        c->features |= VB_MIGRATION_COOKIE_STATS;
        c->started = NOW - 4000;
        c->stopped = NOW - 100;
        c->total_ms = 3900;
        c->downtime_ms = 80;
        c->data_total = G_GUINT64_CONSTANT(1073741824);
        c->data_processed = 123456789;
        c->memory_bps = G_MAXUINT64;
    }
    if (features & VB_MIGRATION_COOKIE_PERSISTENT)
        g_assert_true(vb_migration_cookie_set_persistent(c, domain_xml, NULL));
    if (features & VB_MIGRATION_COOKIE_MULTIFD) {
        c->features |= VB_MIGRATION_COOKIE_MULTIFD;
        c->multifd_channels = 255;
        c->multifd_compression = g_strdup("zstd");
    }
    if (features & VB_MIGRATION_COOKIE_TUNNEL) {
        c->features |= VB_MIGRATION_COOKIE_TUNNEL;
        c->tunnel_token = g_strdup("0123456789abcdef0f1e2d3c4b5a6978");
    }
    return c;
}

static void
assert_same(const VbMigrationCookie *a, const VbMigrationCookie *b)
{
    g_assert_cmpstr(a->name, ==, b->name);
    g_assert_cmpstr(a->uuid, ==, b->uuid);
    g_assert_cmpstr(a->hostname, ==, b->hostname);
    g_assert_cmpstr(a->host_uuid, ==, b->host_uuid);
    g_assert_cmpuint(a->features, ==, b->features);
    g_assert_cmpstr(a->graphics_type, ==, b->graphics_type);
    g_assert_cmpint(a->graphics_port, ==, b->graphics_port);
    g_assert_cmpint(a->graphics_tls_port, ==, b->graphics_tls_port);
    g_assert_cmpstr(a->graphics_listen, ==, b->graphics_listen);
    g_assert_cmpint(a->nbd_port, ==, b->nbd_port);
    g_assert_cmpstr(a->nbd_host, ==, b->nbd_host);
    g_assert_cmpuint(a->nbd_disks ? a->nbd_disks->len : 0, ==,
                     b->nbd_disks ? b->nbd_disks->len : 0);
    for (guint i = 0; a->nbd_disks != NULL && i < a->nbd_disks->len; i++) {
        VbMigrationCookieDisk *da = &g_array_index(a->nbd_disks, VbMigrationCookieDisk, i);
        VbMigrationCookieDisk *db = &g_array_index(b->nbd_disks, VbMigrationCookieDisk, i);

        g_assert_cmpstr(da->target, ==, db->target);
        g_assert_cmpuint(da->capacity, ==, db->capacity);
    }
    g_assert_cmpint(a->started, ==, b->started);
    g_assert_cmpint(a->stopped, ==, b->stopped);
    g_assert_cmpint(a->sent, ==, b->sent);
    g_assert_cmpuint(a->downtime_ms, ==, b->downtime_ms);
    g_assert_cmpuint(a->total_ms, ==, b->total_ms);
    g_assert_cmpuint(a->data_total, ==, b->data_total);
    g_assert_cmpuint(a->data_processed, ==, b->data_processed);
    g_assert_cmpuint(a->memory_bps, ==, b->memory_bps);
    g_assert_cmpstr(a->persistent_xml, ==, b->persistent_xml);
    g_assert_cmpint(a->multifd_channels, ==, b->multifd_channels);
    g_assert_cmpstr(a->multifd_compression, ==, b->multifd_compression);
    g_assert_cmpstr(a->tunnel_token, ==, b->tunnel_token);
}

/* format -> parse -> equal; format again -> the same bytes (stable) */
static void
round_trip(VbMigrationCookie *c)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) b1 = vb_migration_cookie_format_at(c, NOW);
    g_autoptr(GBytes) b2 = NULL;
    g_autoptr(VbMigrationCookie) p = NULL;
    gsize len;
    const guint8 *data = g_bytes_get_data(b1, &len);

    g_assert_nonnull(b1);
    g_assert_true(memchr(data, '\0', len) == NULL);
    p = vb_migration_cookie_parse_at(data, len, NOW + 7, &error);
    g_assert_no_error(error);
    g_assert_cmpint(p->delivered, ==, NOW + 7);
    assert_same(c, p);
    b2 = vb_migration_cookie_format_at(p, NOW);
    g_assert_true(g_bytes_equal(b1, b2));
}

/* <tunnel>: upper-case digits are accepted and kept in lower case; the flag
 * without a token is not written */
static void
test_tunnel_token(void)
{
    static const char xml[] = HEAD "<feature name='tunnel'/>"
                                   "<tunnel token='0123456789ABCDEF0123456789abcdef'/>" TAIL;
    g_autoptr(GError) error = NULL;
    g_autoptr(VbMigrationCookie) c =
        vb_migration_cookie_parse_at((const guint8 *)xml, strlen(xml), NOW, &error);
    g_autoptr(VbMigrationCookie) bare = make_cookie(0);
    g_autoptr(GBytes) b = NULL;
    g_autofree char *text = NULL;

    g_assert_no_error(error);
    g_assert_true(c->features & VB_MIGRATION_COOKIE_TUNNEL);
    g_assert_cmpstr(c->tunnel_token, ==, "0123456789abcdef0123456789abcdef");
    bare->features |= VB_MIGRATION_COOKIE_TUNNEL;
    b = vb_migration_cookie_format_at(bare, NOW);
    text = g_strndup(g_bytes_get_data(b, NULL), g_bytes_get_size(b));
    g_assert_null(strstr(text, "tunnel"));
    g_assert_cmpstr(vb_migration_cookie_feature_to_string(VB_MIGRATION_COOKIE_TUNNEL), ==,
                    "tunnel");
}

static void
test_roundtrip_each(void)
{
    static const guint sets[] = {
        0,
        VB_MIGRATION_COOKIE_GRAPHICS,
        VB_MIGRATION_COOKIE_NBD,
        VB_MIGRATION_COOKIE_STATS,
        VB_MIGRATION_COOKIE_PERSISTENT,
        VB_MIGRATION_COOKIE_MULTIFD,
        VB_MIGRATION_COOKIE_TUNNEL,
        VB_MIGRATION_COOKIE_GRAPHICS | VB_MIGRATION_COOKIE_NBD | VB_MIGRATION_COOKIE_STATS |
            VB_MIGRATION_COOKIE_PERSISTENT | VB_MIGRATION_COOKIE_MULTIFD |
            VB_MIGRATION_COOKIE_TUNNEL,
    };

    for (guint i = 0; i < G_N_ELEMENTS(sets); i++) {
        g_autoptr(VbMigrationCookie) c = make_cookie(sets[i]);

        g_test_message("features 0x%x", sets[i]);
        round_trip(c);
    }
}

/* each optional part with and without its optional attributes */
static void
test_roundtrip_optional(void)
{
    g_autoptr(VbMigrationCookie) vnc = make_cookie(0);
    g_autoptr(VbMigrationCookie) nbd_bare = make_cookie(0);
    g_autoptr(VbMigrationCookie) nbd_port = make_cookie(0);
    g_autoptr(VbMigrationCookie) stats = make_cookie(0);

    vnc->features |= VB_MIGRATION_COOKIE_GRAPHICS;
    vnc->graphics_type = g_strdup("vnc");
    round_trip(vnc);
    vnc->graphics_port = 5900;
    round_trip(vnc);

    /* the source's "I can copy storage" cookie: <nbd/> without port or disks */
    nbd_bare->features |= VB_MIGRATION_COOKIE_NBD;
    round_trip(nbd_bare);
    vb_migration_cookie_add_disk(nbd_bare, "vda", 1);
    round_trip(nbd_bare);

    nbd_port->features |= VB_MIGRATION_COOKIE_NBD;
    nbd_port->nbd_port = 65535;
    round_trip(nbd_port);

    stats->features |= VB_MIGRATION_COOKIE_STATS;
    round_trip(stats);
    stats->stopped = NOW - 1;
    round_trip(stats);
}

/* A flag without its data is not written (libvirt once crashed on graphics without data). */
static void
test_flag_without_data(void)
{
    g_autoptr(VbMigrationCookie) c = make_cookie(0);
    g_autoptr(VbMigrationCookie) p = NULL;
    g_autoptr(GBytes) b = NULL;
    g_autoptr(GError) error = NULL;

    c->features = VB_MIGRATION_COOKIE_GRAPHICS | VB_MIGRATION_COOKIE_PERSISTENT;
    b = vb_migration_cookie_format_at(c, NOW);
    p = vb_migration_cookie_parse_at(g_bytes_get_data(b, NULL), g_bytes_get_size(b), NOW,
                                     &error);
    g_assert_no_error(error);
    g_assert_cmpuint(p->features, ==, 0);
}

static void
test_golden(void)
{
    g_autoptr(VbMigrationCookie) c = make_cookie(VB_MIGRATION_COOKIE_GRAPHICS |
                                                 VB_MIGRATION_COOKIE_NBD |
                                                 VB_MIGRATION_COOKIE_STATS |
                                                 VB_MIGRATION_COOKIE_PERSISTENT);
    g_autoptr(GBytes) b = vb_migration_cookie_format_at(c, NOW);
    g_autofree char *path = g_build_filename(g_getenv("VB_TEST_DATA"), "cookies", "full.xml",
                                             NULL);
    g_autofree char *want = NULL;
    g_autoptr(GError) error = NULL;
    gsize len;
    const char *data = g_bytes_get_data(b, &len);
    g_autofree char *got = g_strndup(data, len);

    if (g_getenv("VB_TEST_REGENERATE") != NULL) {
        g_file_set_contents(path, got, (gssize)len, &error);
        g_assert_no_error(error);
    }
    g_file_get_contents(path, &want, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(want, ==, got);
    /* the embedded definition is there byte for byte */
    g_assert_nonnull(strstr(want, domain_xml));
}

static void
test_persistent_exact(void)
{
    g_autoptr(VbMigrationCookie) c = make_cookie(0);
    g_autoptr(GError) error = NULL;
    g_autofree char *with_prolog = g_strconcat("<?xml version='1.0' encoding='UTF-8'?>\n"
                                               "<!-- made by hand -->\n",
                                               domain_xml, "\n<!-- after -->\n", NULL);
    static const char *const bad[] = {
        "", "<domain>", "<network/>", "<domain/><domain/>", "text", "<a:domain/>",
        "<!DOCTYPE domain [<!ENTITY x 'y'>]><domain>&x;</domain>",
    };

    g_assert_true(vb_migration_cookie_set_persistent(c, with_prolog, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(c->persistent_xml, ==, domain_xml);
    g_assert_cmpuint(c->features, ==, VB_MIGRATION_COOKIE_PERSISTENT);
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(VbMigrationCookie) d = vb_migration_cookie_new();

        g_test_message("persistent '%s'", bad[i]);
        g_assert_false(vb_migration_cookie_set_persistent(d, bad[i], &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        g_clear_error(&error);
        g_assert_null(d->persistent_xml);
        g_assert_cmpuint(d->features, ==, 0);
    }

    /* set directly, with a declaration: the declaration is not embedded */
    g_free(c->persistent_xml);
    c->persistent_xml = g_strconcat("<?xml version='1.0'?>\n", domain_xml, NULL);
    {
        g_autoptr(GBytes) b = vb_migration_cookie_format_at(c, NOW);
        g_autoptr(VbMigrationCookie) p = vb_migration_cookie_parse_at(
            g_bytes_get_data(b, NULL), g_bytes_get_size(b), NOW, &error);

        g_assert_no_error(error);
        g_assert_cmpstr(p->persistent_xml, ==, domain_xml);
    }
}

/* The <domain> span stays exact past libxml2's input buffer shrinking and multi-byte text. */
static void
test_persistent_large(void)
{
    g_autoptr(GString) domain = g_string_new("<domain type='kvm'>\n  <description>");
    g_autoptr(GString) cookie = g_string_new(HEAD "<pad>");
    g_autoptr(VbMigrationCookie) c = NULL;
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < 40000; i++)
        g_string_append(cookie, "\xc3\xa9\xe2\x82\xac<x a='&lt;'/>");
    g_string_append(cookie, "</pad><feature name='persistent'/><persistent>");
    for (guint i = 0; i < 30000; i++)
        g_string_append(domain, "\xe2\x82\xac &amp; ");
    g_string_append(domain, "</description>\n</domain>");
    g_string_append(cookie, domain->str);
    g_string_append(cookie, "</persistent><tail>\xc3\xa9</tail>" TAIL);
    g_assert_cmpuint(cookie->len, <, VB_MIGRATION_COOKIE_MAX_SIZE);
    c = vb_migration_cookie_parse_at((const guint8 *)cookie->str, cookie->len, NOW, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(c->persistent_xml, ==, domain->str);
}

/* Spellings a peer may use: accepted, normalised */
static void
test_lenient_forms(void)
{
    static const char *const ok[] = {
        /* UUIDs in upper case, without dashes, with blanks */
        "<virtbus-migration version='1'><name>vm1</name>"
        "<uuid>C7A5FDBDEDAF9455926AD65C16DB1809</uuid><hostname>h</hostname>"
        "<hostuuid>\n  0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D  </hostuuid>" TAIL,
        /* a minor version, unknown elements, attributes and features of a newer sender */
        "<virtbus-migration version='1.7' extra='x'><future><x/></future>"
        "<name>vm1</name><uuid>" UUID "</uuid><hostname>h</hostname>"
        "<hostuuid>" HOSTUUID "</hostuuid><feature name='lockstate'/>"
        "<feature name='cpu' required='no'/><lockstate/>" TAIL,
        /* blanks around numbers, an XML declaration, a byte order mark */
        "\xef\xbb\xbf<?xml version='1.0' encoding='UTF-8'?>\n" HEAD
        "<feature name='statistics'/><statistics><started> 1 </started><unknown>-1</unknown>"
        "</statistics>" TAIL,
        /* a C string's terminator */
        HEAD TAIL "\n",
    };

    for (guint i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VbMigrationCookie) c = NULL;
        gsize len = strlen(ok[i]) + (i == G_N_ELEMENTS(ok) - 1 ? 1 : 0);

        g_test_message("cookie %u", i);
        c = vb_migration_cookie_parse_at((const guint8 *)ok[i], len, NOW, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(c->uuid, ==, UUID);
        g_assert_cmpstr(c->host_uuid, ==, HOSTUUID);
        if (i == 1)
            g_assert_cmpuint(c->features, ==, 0);
        if (i == 2)
            g_assert_cmpint(c->started, ==, 1);
    }
}

typedef struct {
    const char *xml;
    const char *message; /* a part of the error message: what and which value */
} Bad;

static const Bad bad_cookies[] = {
    /* multifd */
    { HEAD "<feature name='multifd'/><multifd connections='0' compression='none'/>" TAIL,
      "expected 1 to 255" },
    { HEAD "<feature name='multifd'/><multifd connections='256' compression='none'/>" TAIL,
      "expected 1 to 255" },
    { HEAD "<feature name='multifd'/><multifd compression='none'/>" TAIL, "expected 1 to 255" },
    { HEAD "<feature name='multifd'/><multifd connections='2' compression='lz4'/>" TAIL,
      "expected none, zlib or zstd" },
    { HEAD "<feature name='multifd'/><multifd connections='2'/>" TAIL,
      "expected none, zlib or zstd" },
    { HEAD "<multifd connections='2' compression='none'/>" TAIL,
      "<multifd> is present but <feature name='multifd'/> is not" },
    /* tunnel: exactly 32 hexadecimal digits */
    { HEAD "<feature name='tunnel'/><tunnel/>" TAIL, "<tunnel token=''>: expected 32 hex" },
    { HEAD "<feature name='tunnel'/><tunnel token=''/>" TAIL, "expected 32 hexadecimal" },
    { HEAD "<feature name='tunnel'/><tunnel token='0123456789abcdef0123456789abcde'/>" TAIL,
      "expected 32 hexadecimal" },
    { HEAD "<feature name='tunnel'/><tunnel token='0123456789abcdef0123456789abcdef0'/>" TAIL,
      "expected 32 hexadecimal" },
    { HEAD "<feature name='tunnel'/><tunnel token='0123456789abcdef0123456789abcdeg'/>" TAIL,
      "expected 32 hexadecimal" },
    { HEAD "<feature name='tunnel'/><tunnel token=' 123456789abcdef0123456789abcdef'/>" TAIL,
      "expected 32 hexadecimal" },
    { HEAD "<tunnel token='0123456789abcdef0123456789abcdef'/>" TAIL,
      "<tunnel> is present but <feature name='tunnel'/> is not" },
    { HEAD "<feature name='tunnel'/>" TAIL, "<tunnel> is missing" },
    /* root and version */
    { "<domain/>", "root element is <domain>" },
    { "<v:virtbus-migration xmlns:v='urn:x' version='1'/>", "root element" },
    { "<virtbus-migration><name>vm1</name></virtbus-migration>", "'version'" },
    { "<virtbus-migration version='2'/>", "version 2 is not supported" },
    { "<virtbus-migration version='0.9'/>", "version 0.9 is not supported" },
    { "<virtbus-migration version='one'/>", "version='one'" },
    { "<virtbus-migration version='1.2.3'/>", "version='1.2.3'" },
    { "<virtbus-migration version='-1'/>", "version='-1'" },
    { "<virtbus-migration version=''/>", "version=''" },
    { "<virtbus-migration version='1.'/>", "version='1.'" },
    /* required elements */
    { "<virtbus-migration version='1'><uuid>" UUID "</uuid><hostname>h</hostname><hostuuid>"
      HOSTUUID "</hostuuid>" TAIL, "<name> is missing" },
    { "<virtbus-migration version='1'><name>vm1</name><hostname>h</hostname><hostuuid>"
      HOSTUUID "</hostuuid>" TAIL, "<uuid> is missing" },
    { "<virtbus-migration version='1'><name>vm1</name><uuid>" UUID "</uuid><hostuuid>"
      HOSTUUID "</hostuuid>" TAIL, "<hostname> is missing" },
    { "<virtbus-migration version='1'><name>vm1</name><uuid>" UUID "</uuid>"
      "<hostname>h</hostname>" TAIL, "<hostuuid> is missing" },
    { "<virtbus-migration version='1'><name></name><uuid>" UUID "</uuid><hostname>h"
      "</hostname><hostuuid>" HOSTUUID "</hostuuid>" TAIL, "<name> ''" },
    { "<virtbus-migration version='1'><name>vm1</name><uuid>not-a-uuid</uuid><hostname>h"
      "</hostname><hostuuid>" HOSTUUID "</hostuuid>" TAIL, "<uuid> 'not-a-uuid' is not a UUID" },
    { "<virtbus-migration version='1'><name>vm1</name><uuid>" UUID "0</uuid><hostname>h"
      "</hostname><hostuuid>" HOSTUUID "</hostuuid>" TAIL, "is not a UUID" },
    { "<virtbus-migration version='1'><name>vm1</name><uuid>" UUID "</uuid><hostname>h"
      "</hostname><hostuuid>0a1b2c3d</hostuuid>" TAIL, "<hostuuid> '0a1b2c3d' is not a UUID" },
    { "<virtbus-migration version='1'><name>vm1</name><uuid>" UUID "</uuid><hostname>a b"
      "</hostname><hostuuid>" HOSTUUID "</hostuuid>" TAIL, "<hostname> 'a b'" },
    { "<virtbus-migration version='1'><name>v&#9;m</name><uuid>" UUID "</uuid><hostname>h"
      "</hostname><hostuuid>" HOSTUUID "</hostuuid>" TAIL, "<name> 'v?m'" },
    { HEAD "<name>vm2</name>" TAIL, "<name> appears twice" },
    /* features */
    { HEAD "<feature name='nbd'/>" TAIL, "<nbd> is missing" },
    { HEAD "<nbd/>" TAIL, "<nbd> is present but <feature name='nbd'/> is not" },
    { HEAD "<feature name='nbd'/><feature name='nbd'/><nbd/>" TAIL, "appears twice" },
    { HEAD "<feature/>" TAIL, "<feature> lacks" },
    { HEAD "<feature name='teleport' required='yes'/>" TAIL, "requires the feature 'teleport'" },
    /* graphics */
    { HEAD "<feature name='graphics'/><graphics port='5900'/>" TAIL, "<graphics> lacks" },
    { HEAD "<feature name='graphics'/><graphics type='rdp'/>" TAIL, "type='rdp'" },
    { HEAD "<feature name='graphics'/><graphics type='vnc' port='0'/>" TAIL, "port='0'" },
    { HEAD "<feature name='graphics'/><graphics type='vnc' port='65536'/>" TAIL,
      "port='65536'" },
    { HEAD "<feature name='graphics'/><graphics type='vnc' port='-1'/>" TAIL, "port='-1'" },
    { HEAD "<feature name='graphics'/><graphics type='vnc' port='+5900'/>" TAIL,
      "port='+5900'" },
    { HEAD "<feature name='graphics'/><graphics type='vnc' port='59e2'/>" TAIL, "port='59e2'" },
    { HEAD "<feature name='graphics'/><graphics type='spice' tlsPort='99999999999999999999'/>"
      TAIL, "tlsPort='99999999999999999999'" },
    { HEAD "<feature name='graphics'/><graphics type='vnc' listen=''/>" TAIL, "listen=''" },
    /* nbd */
    { HEAD "<feature name='nbd'/><nbd port=''/>" TAIL, "<nbd port=''>" },
    { HEAD "<feature name='nbd'/><nbd port='70000'/>" TAIL, "<nbd port='70000'>" },
    { HEAD "<feature name='nbd'/><nbd><disk/></nbd>" TAIL, "<disk> lacks the attribute 'target'" },
    { HEAD "<feature name='nbd'/><nbd><disk target='vda'/><disk target='vda'/></nbd>" TAIL,
      "disk 'vda' twice" },
    { HEAD "<feature name='nbd'/><nbd><disk target='vda' capacity='-1'/></nbd>" TAIL,
      "capacity='-1'" },
    { HEAD "<feature name='nbd'/><nbd><disk target='vda' capacity='18446744073709551616'/>"
      "</nbd>" TAIL, "capacity='18446744073709551616'" },
    /* statistics */
    { HEAD "<feature name='statistics'/><statistics><started>-5</started></statistics>" TAIL,
      "<started> '-5'" },
    { HEAD "<feature name='statistics'/><statistics><sent>253402300800000</sent></statistics>"
      TAIL, "<sent> '253402300800000'" },
    { HEAD "<feature name='statistics'/><statistics><downtime>18446744073709551616</downtime>"
      "</statistics>" TAIL, "<downtime> '18446744073709551616'" },
    { HEAD "<feature name='statistics'/><statistics><data_total>1.5</data_total></statistics>"
      TAIL, "<data_total> '1.5'" },
    { HEAD "<feature name='statistics'/><statistics><memory_bps></memory_bps></statistics>"
      TAIL, "<memory_bps> ''" },
    { HEAD "<feature name='statistics'/><statistics><stopped>1</stopped><stopped>2</stopped>"
      "</statistics>" TAIL, "<stopped> twice" },
    /* persistent */
    { HEAD "<feature name='persistent'/><persistent/>" TAIL, "exactly one <domain>" },
    { HEAD "<feature name='persistent'/><persistent><network/></persistent>" TAIL,
      "exactly one <domain>" },
    { HEAD "<feature name='persistent'/><persistent><domain/><domain/></persistent>" TAIL,
      "exactly one <domain>" },
    { HEAD "<feature name='persistent'/><persistent>x<domain/></persistent>" TAIL, "text" },
    { "<virtbus-migration version='1' xmlns:q='urn:q'><name>vm1</name><uuid>" UUID "</uuid>"
      "<hostname>h</hostname><hostuuid>" HOSTUUID "</hostuuid><feature name='persistent'/>"
      "<persistent><domain><q:x/></domain></persistent>" TAIL, "<persistent> domain XML" },
    /* XML */
    { "<virtbus-migration version='1'>", "malformed migration cookie" },
    { HEAD "<name>" TAIL, "malformed migration cookie" },
    { "<!DOCTYPE virtbus-migration [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;'>]>"
      HEAD "<x>&b;</x>" TAIL, "DOCTYPE" },
    { "<!DOCTYPE virtbus-migration>" HEAD TAIL, "DOCTYPE" },
    { "<!DOCTYPE virtbus-migration [<!ENTITY a0 'aaaaaaaaaa'><!ENTITY a1 '&a0;&a0;&a0;&a0;'>"
      "<!ENTITY a2 '&a1;&a1;&a1;&a1;'><!ENTITY a3 '&a2;&a2;&a2;&a2;'>]>"
      "<virtbus-migration version='1'><name>&a3;</name>" TAIL, "DOCTYPE" },
    { "<!DOCTYPE virtbus-migration SYSTEM 'http://192.0.2.1/x.dtd'>" HEAD TAIL, "DOCTYPE" },
    { HEAD "<x>&undefined;</x>" TAIL, "malformed" },
    { "<?xml version='1.0' encoding='ISO-8859-1'?>" HEAD TAIL,
      "declares the encoding 'ISO-8859-1'" },
    { "<?xml version='1.0' encoding='UTF-16'?>" HEAD TAIL, "declares the encoding 'UTF-16'" },
    { "<?xml version=\"1.0\" encoding = \"latin1\" ?>" HEAD TAIL, "encoding 'latin1'" },
    { "<?xml version='1.0' encoding='EBCDIC-US'?>" HEAD TAIL, "EBCDIC" },
    { HEAD "<x>\xc3\x28</x>" TAIL, "not UTF-8" },
    { HEAD "\xff" TAIL, "not UTF-8 (at offset" },
    { "\xfe\xff<", "not UTF-8 (at offset 0)" },
};

static void
test_malformed(void)
{
    for (guint i = 0; i < G_N_ELEMENTS(bad_cookies); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VbMigrationCookie) c = NULL;
        g_autofree char *escaped = g_strescape(bad_cookies[i].xml, NULL);

        g_test_message("cookie %u: %s", i, escaped);
        c = parse_str(bad_cookies[i].xml, &error);
        g_assert_null(c);
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        if (strstr(error->message, bad_cookies[i].message) == NULL)
            g_error("cookie %u: '%s' does not mention '%s'", i, error->message,
                    bad_cookies[i].message);
    }
}

static void
expect_bad(const guint8 *data, gsize len, const char *message)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbMigrationCookie) c = vb_migration_cookie_parse_at(data, len, NOW, &error);

    g_assert_null(c);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    if (strstr(error->message, message) == NULL)
        g_error("'%s' does not mention '%s'", error->message, message);
}

static void
test_bytes(void)
{
    static const char nul_inside[] = HEAD "\0" TAIL;
    g_autoptr(GString) huge = g_string_new(HEAD);
    g_autoptr(GString) deep = g_string_new(HEAD);
    g_autoptr(GString) very_deep = g_string_new(HEAD);
    g_autoptr(GError) error = NULL;
    g_autoptr(VbMigrationCookie) c = NULL;

    expect_bad((const guint8 *)"", 0, "empty migration cookie");
    expect_bad(NULL, 0, "empty migration cookie");
    expect_bad((const guint8 *)"\0", 1, "empty migration cookie");
    expect_bad((const guint8 *)nul_inside, sizeof(nul_inside) - 1, "NUL byte at offset");
    expect_bad((const guint8 *)"  \n", 3, "malformed");

    /* size: just under the limit parses, just over is refused before parsing */
    g_string_append(huge, "<pad>");
    while (huge->len < VB_MIGRATION_COOKIE_MAX_SIZE - strlen("</pad>" TAIL))
        g_string_append_c(huge, 'x');
    g_string_append(huge, "</pad>" TAIL);
    g_assert_cmpuint(huge->len, ==, VB_MIGRATION_COOKIE_MAX_SIZE);
    c = vb_migration_cookie_parse_at((const guint8 *)huge->str, huge->len, NOW, &error);
    g_assert_no_error(error);
    g_clear_pointer(&c, vb_migration_cookie_free);
    g_string_insert_c(huge, strlen(HEAD) + 5, 'x');
    expect_bad((const guint8 *)huge->str, huge->len, "more than the limit of 1048576");

    /* depth: the limit, one more, and far more than libxml2's own limit */
    for (guint i = 0; i < VB_MIGRATION_COOKIE_MAX_DEPTH - 1; i++)
        g_string_append(deep, "<d>");
    for (guint i = 0; i < VB_MIGRATION_COOKIE_MAX_DEPTH - 1; i++)
        g_string_append(deep, "</d>");
    g_string_append(deep, TAIL);
    c = vb_migration_cookie_parse_at((const guint8 *)deep->str, deep->len, NOW, &error);
    g_assert_no_error(error);
    g_clear_pointer(&c, vb_migration_cookie_free);
    g_string_insert(deep, strlen(HEAD), "<d>");
    g_string_insert(deep, deep->len - strlen(TAIL), "</d>");
    expect_bad((const guint8 *)deep->str, deep->len, "deeper than 64 levels");
    for (guint i = 0; i < 100000; i++)
        g_string_append(very_deep, "<d>");
    expect_bad((const guint8 *)very_deep->str, very_deep->len, "deeper than 64 levels");
}

/* every cut of a valid cookie before its last '>' is refused */
static void
test_truncated(void)
{
    g_autoptr(VbMigrationCookie) c = make_cookie(VB_MIGRATION_COOKIE_GRAPHICS |
                                                 VB_MIGRATION_COOKIE_NBD |
                                                 VB_MIGRATION_COOKIE_STATS |
                                                 VB_MIGRATION_COOKIE_PERSISTENT);
    g_autoptr(GBytes) b = vb_migration_cookie_format_at(c, NOW);
    gsize len;
    const guint8 *data = g_bytes_get_data(b, &len);
    const char *last = g_strrstr_len((const char *)data, (gssize)len, ">");
    gsize end = (gsize)(last - (const char *)data) + 1;

    for (gsize cut = 0; cut < end; cut++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VbMigrationCookie) p = vb_migration_cookie_parse_at(data, cut, NOW, &error);

        if (p != NULL)
            g_error("a cookie cut after %" G_GSIZE_FORMAT " bytes was accepted", cut);
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    }
}

static void
test_check(void)
{
    g_autoptr(VbMigrationCookie) c = make_cookie(0);
    g_autoptr(GError) error = NULL;

    g_assert_true(vb_migration_cookie_check(c, "11111111-2222-3333-4444-555555555555", UUID,
                                            &error));
    g_assert_no_error(error);
    g_assert_true(vb_migration_cookie_check(c, "11111111-2222-3333-4444-555555555555", NULL,
                                            &error));
    g_assert_no_error(error);
    /* the same host, however its UUID is spelled */
    g_assert_false(vb_migration_cookie_check(c, "0A1B2C3D4E5F4A6B8C7D9E0F1A2B3C4D", UUID,
                                             &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "same host"));
    g_assert_nonnull(strstr(error->message, HOSTUUID));
    g_clear_error(&error);
    g_assert_false(vb_migration_cookie_check(c, "11111111-2222-3333-4444-555555555555",
                                             "99999999-2222-3333-4444-555555555555", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "99999999-2222-3333-4444-555555555555"));
    g_clear_error(&error);
    /* upper case is the same domain */
    g_assert_true(vb_migration_cookie_check(c, "11111111-2222-3333-4444-555555555555",
                                            "C7A5FDBD-EDAF-9455-926A-D65C16DB1809", &error));
    g_assert_no_error(error);
}

/*
 * The source's clock: started 1000, vCPUs stopped 5000, cookie sent 5100.
 * In flight 50 ms. The destination resumed 150 ms after the cookie arrived.
 * True total 4300, true downtime 300; without the cookie's time in flight
 * (which the destination cannot tell from a clock offset) 4250 and 250.
 */
static VbMigrationCookie *
timed_cookie(gint64 offset)
{
    VbMigrationCookie *c = make_cookie(0);

    c->started = NOW + 1000;
    c->stopped = NOW + 5000;
    c->sent = NOW + 5100;
    c->delivered = NOW + 5150 + offset;
    c->total_ms = 4000;
    c->downtime_ms = 90;
    return c;
}

static void
times(const VbMigrationCookie *c, gint64 finished, guint64 total, guint64 downtime,
      gboolean estimated)
{
    guint64 t = 1, d = 1;
    gboolean e = !estimated;

    vb_migration_cookie_times(c, finished, &t, &d, &e);
    g_assert_cmpuint(t, ==, total);
    g_assert_cmpuint(d, ==, downtime);
    g_assert_cmpint(e, ==, estimated);
}

static void
test_times_synced(void)
{
    g_autoptr(VbMigrationCookie) c = timed_cookie(0);

    times(c, NOW + 5300, 4250, 250, FALSE);
    /* the figures survive the cookie's round trip */
    {
        g_autoptr(GBytes) b = NULL;
        g_autoptr(VbMigrationCookie) p = NULL;

        c->features |= VB_MIGRATION_COOKIE_STATS;
        b = vb_migration_cookie_format_at(c, NOW + 5100);
        p = vb_migration_cookie_parse_at(g_bytes_get_data(b, NULL), g_bytes_get_size(b),
                                         NOW + 5150, NULL);
        times(p, NOW + 5300, 4250, 250, FALSE);
    }
}

static void
test_times_skewed(void)
{
    /* destination clock behind by 100 s, then by 1 s (less than the migration took) */
    g_autoptr(VbMigrationCookie) behind = timed_cookie(-100000);
    g_autoptr(VbMigrationCookie) behind_a_bit = timed_cookie(-1000);
    /* ahead by 100 s: the cookie seems to have travelled for 100 s */
    g_autoptr(VbMigrationCookie) ahead = timed_cookie(100000);

    times(behind, NOW + 5300 - 100000, 4250, 250, TRUE);
    times(behind_a_bit, NOW + 5300 - 1000, 4250, 250, TRUE);
    times(ahead, NOW + 5300 + 100000, 4250, 250, TRUE);
}

static void
test_times_missing(void)
{
    g_autoptr(VbMigrationCookie) c = timed_cookie(0);

    /* no "sent" (an older sender): the plain differences, when they are possible */
    c->sent = 0;
    times(c, NOW + 5300, 4300, 300, FALSE);
    /* ... and QEMU's own figures when the destination's clock is far behind */
    times(c, NOW + 5300 - 100000, 4000, 90, TRUE);
    /* behind by a bit: the total still looks possible, the downtime is below QEMU's */
    times(c, NOW + 5300 - 250, 4050, 90, TRUE);
    /* no "delivered" (the caller did not stamp it) works the same */
    c->sent = NOW + 5100;
    c->delivered = 0;
    times(c, NOW + 5300, 4300, 300, FALSE);
    /* no "started" or "stopped": QEMU's figures */
    c->delivered = NOW + 5150;
    c->started = 0;
    times(c, NOW + 5300, 4000, 250, TRUE);
    c->stopped = 0;
    times(c, NOW + 5300, 4000, 90, TRUE);
    /* nothing known at all */
    c->total_ms = c->downtime_ms = 0;
    times(c, NOW + 5300, 0, 0, TRUE);
    times(c, 0, 0, 0, TRUE);
}

/* one host's own clock went backwards: the span is impossible, QEMU's figures are used */
static void
test_times_inconsistent(void)
{
    g_autoptr(VbMigrationCookie) c = timed_cookie(0);

    c->sent = NOW + 500; /* before "started" and "stopped" */
    times(c, NOW + 5300, 4000, 90, TRUE);
    c->sent = NOW + 5100;
    times(c, NOW + 5000, 4000, 90, TRUE); /* resumed before the cookie arrived */
    /* NULL outputs are allowed */
    vb_migration_cookie_times(c, NOW + 5300, NULL, NULL, NULL);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration/cookie/roundtrip/each-feature", test_roundtrip_each);
    g_test_add_func("/migration/cookie/roundtrip/optional-parts", test_roundtrip_optional);
    g_test_add_func("/migration/cookie/tunnel/token", test_tunnel_token);
    g_test_add_func("/migration/cookie/format/flag-without-data", test_flag_without_data);
    g_test_add_func("/migration/cookie/format/golden", test_golden);
    g_test_add_func("/migration/cookie/persistent/byte-exact", test_persistent_exact);
    g_test_add_func("/migration/cookie/persistent/large", test_persistent_large);
    g_test_add_func("/migration/cookie/parse/lenient-forms", test_lenient_forms);
    g_test_add_func("/migration/cookie/parse/malformed", test_malformed);
    g_test_add_func("/migration/cookie/parse/bytes-size-depth", test_bytes);
    g_test_add_func("/migration/cookie/parse/truncated", test_truncated);
    g_test_add_func("/migration/cookie/check/same-host-and-domain", test_check);
    g_test_add_func("/migration/cookie/times/synced", test_times_synced);
    g_test_add_func("/migration/cookie/times/skewed-clocks", test_times_skewed);
    g_test_add_func("/migration/cookie/times/missing-timestamps", test_times_missing);
    g_test_add_func("/migration/cookie/times/inconsistent", test_times_inconsistent);
    return g_test_run();
}
