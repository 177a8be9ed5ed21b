/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt's <domainsnapshot> XML (issue 15, part snapxml): libvirt's own test files
 * (tests/data/snapshot/, see its README) parse, format and parse again to the same text
 * with every element and attribute of the input kept; new-snapshot parsing as libvirt
 * does it; unknown XML kept; the validation errors, each with its code and a message
 * naming what is wrong; disk alignment against the domain.
 */
#include "config.h"

#include <libxml/parser.h>
#include <string.h>

#include "snapshot-def.h"
#include "vb-error.h"

static char *
read_sample(const char *name)
{
    g_autofree char *path = g_build_filename(g_getenv("VB_TEST_DATA"), "snapshot", name, NULL);
    g_autoptr(GError) error = NULL;
    char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, &error));
    g_assert_no_error(error);
    return text;
}

static VbSnapshotDef *
parse_ok(const char *xml, guint flags)
{
    g_autoptr(GError) error = NULL;
    VbSnapshotDef *def = vb_snapshot_def_parse_string(xml, flags, &error);

    g_assert_no_error(error);
    g_assert_nonnull(def);
    return def;
}

static char *
format_ok(const VbSnapshotDef *def, guint flags)
{
    g_autoptr(GError) error = NULL;
    char *xml = vb_snapshot_def_format(def, flags, &error);

    g_assert_no_error(error);
    g_assert_nonnull(xml);
    return xml;
}

/* every element, attribute and non-blank text of @node as "path@attr=value" lines */
static void
collect(GHashTable *set, xmlNode *node, const char *path)
{
    for (; node != NULL; node = node->next) {
        g_autofree char *p = NULL;

        if (node->type == XML_TEXT_NODE) {
            g_autofree char *t = g_strstrip(g_strdup((const char *)node->content));

            if (*t != '\0')
                g_hash_table_add(set, g_strdup_printf("%s=%s", path, t));
            continue;
        }
        if (node->type != XML_ELEMENT_NODE)
            continue;
        p = g_strdup_printf("%s/%s", path, (const char *)node->name);
        g_hash_table_add(set, g_strdup(p));
        for (xmlAttr *a = node->properties; a != NULL; a = a->next) {
            xmlChar *v = xmlNodeGetContent((xmlNode *)a);

            g_hash_table_add(set, g_strdup_printf("%s@%s=%s", p, (const char *)a->name,
                                                  (const char *)v));
            xmlFree(v);
        }
        collect(set, node->children, p);
    }
}

static GHashTable *
items_of(const char *xml)
{
    GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);

    g_assert_nonnull(doc);
    collect(set, xmlDocGetRootElement(doc), "");
    xmlFreeDoc(doc);
    return set;
}

/* every item of @in is in @out */
static void
assert_nothing_lost(const char *in, const char *out)
{
    g_autoptr(GHashTable) a = items_of(in);
    g_autoptr(GHashTable) b = items_of(out);
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init(&it, a);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (!g_hash_table_contains(b, key))
            g_error("lost in the round trip: %s\n--- output:\n%s", (const char *)key, out);
    }
}

typedef struct {
    const char *file;
    gboolean internal; /* has <active> */
} Sample;

static const Sample samples[] = {
    { "all_parameters.xml", TRUE },
    { "noparent_nodescription.xml", TRUE },
    { "full_domain.xml", TRUE },
    { "external_vm_redefine.xml", FALSE },
    { "disk_snapshot_redefine.xml", TRUE },
    { "memory-snapshot-inactivedomain.xml", FALSE },
};

static void
test_libvirt_samples(void)
{
    for (guint i = 0; i < G_N_ELEMENTS(samples); i++) {
        const Sample *s = &samples[i];
        g_autofree char *in = read_sample(s->file);
        guint pflags = s->internal ? VB_SNAPSHOT_PARSE_INTERNAL : VB_SNAPSHOT_PARSE_REDEFINE;
        guint fflags = VB_SNAPSHOT_FORMAT_SECURE |
                       (s->internal ? VB_SNAPSHOT_FORMAT_INTERNAL : 0);
        g_autoptr(VbSnapshotDef) def = parse_ok(in, pflags);
        g_autofree char *out1 = format_ok(def, fflags);
        g_autoptr(VbSnapshotDef) def2 = parse_ok(out1, pflags);
        g_autofree char *out2 = format_ok(def2, fflags);
        g_autoptr(GString) squoted = g_string_new(in);

        g_string_replace(squoted, "\"", "'", 0);
        g_test_message("sample %s", s->file);
        g_assert_cmpstr(out1, ==, out2);
        assert_nothing_lost(in, out1);
        /* libvirt's own output, byte for byte, but for quotes (we write ' everywhere) */
        g_assert_cmpstr(out1, ==, squoted->str);
        g_assert_cmpstr(def->name, ==, def2->name);
        g_assert_cmpint(def->creation_time, ==, def2->creation_time);
        g_assert_cmpint(def->state, ==, def2->state);
        g_assert_cmpint(def->memory, ==, def2->memory);
        g_assert_cmpuint(def->disks->len, ==, def2->disks->len);
    }
}

static void
test_sample_fields(void)
{
    g_autofree char *a = read_sample("disk_snapshot_redefine.xml");
    g_autofree char *b = read_sample("memory-snapshot-inactivedomain.xml");
    g_autofree char *c = read_sample("all_parameters.xml");
    g_autoptr(VbSnapshotDef) da = parse_ok(a, VB_SNAPSHOT_PARSE_INTERNAL);
    g_autoptr(VbSnapshotDef) db = parse_ok(b, VB_SNAPSHOT_PARSE_REDEFINE);
    g_autoptr(VbSnapshotDef) dc = parse_ok(c, VB_SNAPSHOT_PARSE_INTERNAL);
    g_autofree char *outb = format_ok(db, 0);
    const VbSnapshotDiskDef *d;

    g_assert_cmpstr(da->name, ==, "my snap name");
    g_assert_cmpstr(da->description, ==, "!@#$%^");
    g_assert_cmpint(da->state, ==, VB_SNAPSHOT_STATE_DISK_SNAPSHOT);
    g_assert_cmpstr(da->parent_name, ==, "earlier_snap");
    g_assert_cmpint(da->creation_time, ==, 1272917631);
    g_assert_cmpint(da->memory, ==, VB_SNAPSHOT_LOCATION_NO);
    g_assert_true(da->current);
    g_assert_nonnull(da->dom);
    g_assert_cmpstr(da->dom->name, ==, "QEMUGuest1");
    g_assert_cmpuint(da->disks->len, ==, 6);
    d = g_ptr_array_index(da->disks, 3);
    g_assert_cmpstr(d->name, ==, "hdd");
    g_assert_cmpint(d->snapshot, ==, VB_SNAPSHOT_LOCATION_EXTERNAL);
    g_assert_cmpstr(d->type, ==, "file");
    g_assert_cmpstr(d->driver_type, ==, "qed");
    g_assert_cmpstr(d->source_path, ==, "/path/to/generated4");
    d = g_ptr_array_index(da->disks, 2);
    g_assert_cmpint(d->snapshot, ==, VB_SNAPSHOT_LOCATION_INTERNAL);

    g_assert_cmpint(db->memory, ==, VB_SNAPSHOT_LOCATION_EXTERNAL);
    g_assert_cmpstr(db->memory_file, ==, "/tmp/ble.img");
    g_assert_nonnull(db->inactive_dom);
    g_assert_false(db->current);
    /* the cookie, verbatim at its place after <inactiveDomain> */
    g_assert_nonnull(strstr(outb, "</inactiveDomain>\n  <cookie>\n    <cpu mode='custom'"));
    g_assert_nonnull(strstr(outb, "      <feature policy='disable' name='svm'/>\n"));
    g_assert_true(g_str_has_suffix(outb, "    <slirpHelper/>\n  </cookie>\n</domainsnapshot>\n"));

    g_assert_null(dc->dom);
    g_assert_cmpstr(dc->dom_uuid, ==, "9d37b878-a7cc-9f9a-b78f-49b3abad25a8");
    g_assert_cmpint(dc->memory, ==, VB_SNAPSHOT_LOCATION_INTERNAL);
}

/* libvirt's input files: a request for a new snapshot */
static void
test_new_snapshot(void)
{
    g_autofree char *ext = read_sample("in-external_vm.xml");
    g_autofree char *qc = read_sample("qcow2-metadata-cache.xml");
    g_autofree char *sec = read_sample("disk-seclabel.xml");
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    g_autoptr(VbSnapshotDef) d1 = parse_ok(ext, 0);
    g_autoptr(VbSnapshotDef) d2 = parse_ok(qc, 0);
    g_autoptr(VbSnapshotDef) d3 = parse_ok(sec, 0);
    g_autoptr(VbSnapshotDef) d4 = parse_ok("<domainsnapshot/>", 0);
    g_autofree char *o2 = format_ok(d2, 0);
    g_autofree char *o3 = format_ok(d3, 0);
    g_autofree char *expected_name = NULL;

    /* state, parent, creationTime and domain are the service's to fill in */
    g_assert_cmpint(d1->state, ==, VB_SNAPSHOT_STATE_NOSTATE);
    g_assert_null(d1->parent_name);
    g_assert_cmpint(d1->creation_time, >=, now);
    g_assert_cmpint(d1->memory, ==, VB_SNAPSHOT_LOCATION_EXTERNAL);
    g_assert_cmpstr(d1->memory_file, ==, "/dev/HostVG/GuestMemory");
    g_assert_null(d2->dom);
    g_assert_null(d2->dom_uuid);
    g_assert_cmpint(d2->creation_time, >=, now);
    /* the driver's children and the source's children come back */
    g_assert_nonnull(strstr(o2, "    <disk name='hdd' snapshot='external' type='file'>\n"
                                "      <driver type='qcow2'>\n"
                                "        <metadata_cache>\n"
                                "          <max_size unit='bytes'>1234</max_size>\n"
                                "        </metadata_cache>\n"
                                "      </driver>\n"
                                "      <source file='/path/to/new'/>\n"
                                "    </disk>\n"));
    g_assert_nonnull(strstr(o3, "      <source file='/path/to/new2'>\n"
                                "        <seclabel model='dac' relabel='no'/>\n"
                                "      </source>\n"));
    /* the name defaults to the creation time */
    expected_name = g_strdup_printf("%" G_GINT64_FORMAT, d4->creation_time);
    g_assert_cmpstr(d4->name, ==, expected_name);
    g_assert_cmpint(d4->memory, ==, VB_SNAPSHOT_LOCATION_DEFAULT);
}

/* libvirt's disk_snapshot input names hde twice: refused here (libvirt refuses it when the
 * snapshot is taken); without the second one every disk form parses */
static void
test_libvirt_disk_input(void)
{
    g_autofree char *in = read_sample("in-disk_snapshot.xml");
    g_autoptr(GError) error = NULL;
    g_autoptr(VbSnapshotDef) bad = vb_snapshot_def_parse_string(in, 0, &error);
    g_autoptr(GString) fixed = g_string_new(in);
    g_autoptr(VbSnapshotDef) def = NULL;
    g_autofree char *out = NULL;
    const VbSnapshotDiskDef *d;

    g_assert_null(bad);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "'hde' is specified twice"));

    g_string_replace(fixed, "    <disk name='hde' snapshot='external' type='file'>\n"
                            "      <source file='/path/to/new2'/>\n"
                            "    </disk>\n", "", 1);
    def = parse_ok(fixed->str, 0);
    g_assert_cmpuint(def->disks->len, ==, 8);
    d = g_ptr_array_index(def->disks, 0);
    g_assert_cmpstr(d->name, ==, "/dev/HostVG/QEMUGuest1");
    g_assert_cmpint(d->snapshot, ==, VB_SNAPSHOT_LOCATION_DEFAULT);
    d = g_ptr_array_index(def->disks, 3);
    g_assert_cmpstr(d->driver_type, ==, "qed");
    g_assert_null(d->source_path);
    d = g_ptr_array_index(def->disks, 5);
    g_assert_cmpstr(d->type, ==, "block");
    g_assert_cmpstr(d->source_path, ==, "/path/to/new3");
    d = g_ptr_array_index(def->disks, 7);
    g_assert_cmpstr(d->type, ==, "network");
    g_assert_cmpstr(d->source_path, ==, "vol/name");
    out = format_ok(def, 0);
    assert_nothing_lost(fixed->str, out);
    g_assert_nonnull(strstr(out, "    <disk name='hdd' snapshot='external' type='file'>\n"
                                 "      <driver type='qed'/>\n"
                                 "      <source/>\n"
                                 "    </disk>\n"));
    g_assert_nonnull(strstr(out, "        <host name='host2' port='1234' transport='rdma'/>\n"));
}

static void
test_unknown_kept(void)
{
    static const char xml[] =
        "<domainsnapshot lang='x'>\n"
        "  <name>s1</name>\n"
        "  <description>a &lt;b&gt; &amp; 'c' \"d\"\nsecond line</description>\n"
        "  <state>shutoff</state>\n"
        "  <creationTime>1700000000</creationTime>\n"
        "  <memory snapshot='no'/>\n"
        "  <disks>\n"
        "    <disk name='vda' snapshot='external' type='file' future='yes'>\n"
        "      <driver type='qcow2' copy_on_read='on'/>\n"
        "      <source file='/var/lib/images/a.s1'/>\n"
        "      <novel>x</novel>\n"
        "    </disk>\n"
        "  </disks>\n"
        "  <domain>\n"
        "    <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
        "  </domain>\n"
        "  <cookie>\n"
        "    <allowReboot value='yes'/>\n"
        "  </cookie>\n"
        "  <later attr='1'>text</later>\n"
        "  <vendor:tag xmlns:vendor='urn:example:v'>kept</vendor:tag>\n"
        "</domainsnapshot>\n";
    g_autoptr(VbSnapshotDef) def = parse_ok(xml, VB_SNAPSHOT_PARSE_REDEFINE);
    g_autofree char *out = format_ok(def, 0);
    g_autoptr(VbSnapshotDef) def2 = parse_ok(out, VB_SNAPSHOT_PARSE_REDEFINE);
    g_autofree char *out2 = format_ok(def2, 0);

    g_assert_cmpstr(out, ==, xml);
    g_assert_cmpstr(out2, ==, out);
    g_assert_cmpstr(def->description, ==, "a <b> & 'c' \"d\"\nsecond line");
}

/* <revertDisks> (libvirt >= 9.7: the overlays a revert to an external snapshot made) is
 * read from an existing snapshot, written back after <disks>, checked, and ignored in a
 * request for a new snapshot */
static void
test_revert_disks(void)
{
    static const char xml[] =
        "<domainsnapshot>\n"
        "  <name>s1</name>\n"
        "  <state>disk-snapshot</state>\n"
        "  <creationTime>1700000000</creationTime>\n"
        "  <memory snapshot='no'/>\n"
        "  <disks>\n"
        "    <disk name='vda' snapshot='external' type='file'>\n"
        "      <driver type='qcow2'/>\n"
        "      <source file='/v/a.s1'/>\n"
        "    </disk>\n"
        "  </disks>\n"
        "  <revertDisks>\n"
        "    <disk name='vda' snapshot='external' type='file'>\n"
        "      <driver type='qcow2'/>\n"
        "      <source file='/v/a.s1-1'/>\n"
        "    </disk>\n"
        "  </revertDisks>\n"
        "  <active>1</active>\n"
        "</domainsnapshot>\n";
    g_autoptr(VbSnapshotDef) def = parse_ok(xml, VB_SNAPSHOT_PARSE_INTERNAL);
    g_autoptr(VbSnapshotDef) fresh = NULL;
    g_autofree char *out = format_ok(def, VB_SNAPSHOT_FORMAT_INTERNAL);
    g_autofree char *out2 = NULL;
    g_autoptr(GError) error = NULL;
    const VbSnapshotDiskDef *rd;

    g_assert_cmpstr(out, ==, xml);
    g_assert_nonnull(def->revert_disks);
    g_assert_cmpuint(def->revert_disks->len, ==, 1);
    rd = g_ptr_array_index(def->revert_disks, 0);
    g_assert_cmpstr(rd->name, ==, "vda");
    g_assert_cmpstr(rd->source_path, ==, "/v/a.s1-1");
    g_assert_cmpstr(rd->driver_type, ==, "qcow2");

    /* made by the service: written as libvirt writes it */
    g_ptr_array_set_size(def->revert_disks, 0);
    g_ptr_array_add(def->revert_disks, vb_snapshot_disk_def_new_file("vda", "/v/a.s1-2",
                                                                    "qcow2"));
    out2 = format_ok(def, VB_SNAPSHOT_FORMAT_INTERNAL);
    g_assert_nonnull(strstr(out2, "  <revertDisks>\n    <disk name='vda' snapshot='external' "
                                  "type='file'>\n      <driver type='qcow2'/>\n      <source "
                                  "file='/v/a.s1-2'/>\n    </disk>\n  </revertDisks>\n"));
    g_ptr_array_set_size(def->revert_disks, 0);
    g_ptr_array_add(def->revert_disks, vb_snapshot_disk_def_new_file("vda", "/v/a\x01", NULL));
    g_assert_null(vb_snapshot_def_format(def, 0, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_clear_error(&error);

    /* a request for a new snapshot ignores it */
    fresh = parse_ok(xml, 0);
    g_assert_null(fresh->revert_disks);

    /* each disk once, an external file with its image */
    {
        g_autoptr(GString) no = g_string_new(xml);

        g_string_replace(no, "<revertDisks>\n", "<revertDisks>\n    <disk name='vdb' "
                         "snapshot='no'/>\n", 1);
        g_assert_null(vb_snapshot_def_parse_string(no->str, VB_SNAPSHOT_PARSE_INTERNAL,
                                                   &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        g_assert_nonnull(strstr(error->message, "<revertDisks>: disk 'vdb'"));
        g_clear_error(&error);
    }
    {
        g_autoptr(GString) twice = g_string_new(xml);

        g_string_replace(twice, "  </revertDisks>",
                         "    <disk name='vda' type='file'><source file='/v/b'/></disk>\n"
                         "  </revertDisks>", 1);
        g_assert_null(vb_snapshot_def_parse_string(twice->str, VB_SNAPSHOT_PARSE_INTERNAL,
                                                   &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        g_assert_nonnull(strstr(error->message, "specified twice"));
        g_clear_error(&error);
    }
    {
        g_autoptr(GString) other = g_string_new(xml);

        g_string_replace(other, "<revertDisks>\n", "<revertDisks>\n    <bogus/>\n", 1);
        g_assert_null(vb_snapshot_def_parse_string(other->str, VB_SNAPSHOT_PARSE_INTERNAL,
                                                   &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_XML);
        g_assert_nonnull(strstr(error->message, "only <disk>"));
    }
}

/* an existing snapshot made at time 0 keeps its <creationTime> (libvirt would drop it) */
static void
test_epoch(void)
{
    static const char xml[] = "<domainsnapshot>\n"
                              "  <name>old</name>\n"
                              "  <state>shutoff</state>\n"
                              "  <creationTime>0</creationTime>\n"
                              "  <memory snapshot='no'/>\n"
                              "</domainsnapshot>\n";
    g_autoptr(VbSnapshotDef) def = parse_ok(xml, VB_SNAPSHOT_PARSE_REDEFINE);
    g_autofree char *out = format_ok(def, 0);
    g_autoptr(VbSnapshotDef) def2 = parse_ok(out, VB_SNAPSHOT_PARSE_REDEFINE);

    g_assert_cmpstr(out, ==, xml);
    g_assert_cmpint(def2->creation_time, ==, 0);
}

/* strings a caller set by hand are checked before they become XML */
static void
test_format_checks(void)
{
    g_autoptr(VbSnapshotDef) def = parse_ok("<domainsnapshot><name>n</name></domainsnapshot>", 0);
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;

    g_free(def->description);
    def->description = g_strdup("bell\a");
    out = vb_snapshot_def_format(def, 0, &error);
    g_assert_null(out);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "description holds control character 0x07"));
    g_clear_error(&error);
    g_clear_pointer(&def->description, g_free);
    g_free(def->name);
    def->name = g_strdup("a/b");
    out = vb_snapshot_def_format(def, 0, &error);
    g_assert_null(out);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
}

static void
test_align_disks(void)
{
    g_autofree char *in = read_sample("disk_snapshot_redefine.xml");
    g_autoptr(VbSnapshotDef) full = parse_ok(in, VB_SNAPSHOT_PARSE_INTERNAL);
    g_autoptr(VbSnapshotDef) def = parse_ok(
        "<domainsnapshot><name>n</name><disks>"
        "<disk name='/dev/HostVG/QEMUGuest3' snapshot='internal'/>"
        "<disk name='hdb' snapshot='external'><source file='/img/b.n'/></disk>"
        "</disks></domainsnapshot>", 0);
    g_autoptr(VbSnapshotDef) dup = parse_ok(
        "<domainsnapshot><disks><disk name='hda'/><disk name='/dev/HostVG/QEMUGuest1'/>"
        "</disks></domainsnapshot>", 0);
    g_autoptr(VbSnapshotDef) unknown = parse_ok(
        "<domainsnapshot><disks><disk name='vdz'/></disks></domainsnapshot>", 0);
    g_autoptr(GError) error = NULL;
    static const char *const names[] = { "hda", "hdb", "hdc", "hdd", "hde", "hdf" };
    static const VbSnapshotLocation locs[] = {
        VB_SNAPSHOT_LOCATION_EXTERNAL, VB_SNAPSHOT_LOCATION_EXTERNAL,
        VB_SNAPSHOT_LOCATION_INTERNAL, VB_SNAPSHOT_LOCATION_EXTERNAL,
        VB_SNAPSHOT_LOCATION_EXTERNAL, VB_SNAPSHOT_LOCATION_EXTERNAL,
    };

    g_assert_true(vb_snapshot_def_align_disks(def, full->dom, VB_SNAPSHOT_LOCATION_EXTERNAL,
                                              &error));
    g_assert_no_error(error);
    g_assert_cmpuint(def->disks->len, ==, 6);
    for (guint i = 0; i < 6; i++) {
        const VbSnapshotDiskDef *d = g_ptr_array_index(def->disks, i);

        g_assert_cmpstr(d->name, ==, names[i]);
        g_assert_cmpint(d->snapshot, ==, locs[i]);
    }
    g_assert_cmpstr(((VbSnapshotDiskDef *)g_ptr_array_index(def->disks, 1))->source_path, ==,
                    "/img/b.n");

    g_assert_false(vb_snapshot_def_align_disks(dup, full->dom, VB_SNAPSHOT_LOCATION_EXTERNAL,
                                               &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "specified twice"));
    g_clear_error(&error);
    g_assert_false(vb_snapshot_def_align_disks(unknown, full->dom,
                                               VB_SNAPSHOT_LOCATION_EXTERNAL, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "'vdz'"));
}

typedef struct {
    const char *xml;
    guint flags;
    int code;
    const char *needle;
} BadCase;

#define RD VB_SNAPSHOT_PARSE_REDEFINE
#define TEN "0123456789"
#define LONG_NAME TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN TEN \
    TEN TEN TEN TEN "x"
#define EX "<state>running</state><creationTime>1</creationTime>"

static const BadCase bad_cases[] = {
    { "<domainsnapshot><name>a/b</name></domainsnapshot>", 0, VB_ERROR_INVALID_ARG, "'/'" },
    { "<domainsnapshot><name>.hidden</name></domainsnapshot>", 0, VB_ERROR_INVALID_ARG,
      "start with '.'" },
    { "<domainsnapshot><name>a&#9;b</name></domainsnapshot>", 0, VB_ERROR_INVALID_ARG,
      "control characters" },
    { "<domainsnapshot><name>a&#1;b</name></domainsnapshot>", 0, VB_ERROR_INVALID_XML,
      "malformed XML" },
    { "<domainsnapshot><name></name></domainsnapshot>", 0, VB_ERROR_INVALID_ARG, "empty" },
    { "<domainsnapshot><name>\n  a\n</name></domainsnapshot>", 0, VB_ERROR_INVALID_ARG,
      "control characters (0x0a)" },
    { "<domainsnapshot><name>" LONG_NAME "</name></domainsnapshot>", 0, VB_ERROR_INVALID_ARG,
      "241 bytes long" },
    { "<domainsnapshot><name>a</name><name>b</name></domainsnapshot>", 0,
      VB_ERROR_INVALID_XML, "name" },
    { "<domain/>", 0, VB_ERROR_INVALID_XML, "<domainsnapshot>" },
    { "<domainsnapshot>", 0, VB_ERROR_INVALID_XML, "malformed XML" },
    { "<!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
      "<domainsnapshot><name>&x;</name></domainsnapshot>",
      0, VB_ERROR_INVALID_XML, "DOCTYPE" },
    { "<domainsnapshot><memory snapshot='internal' file='/m'/></domainsnapshot>", 0,
      VB_ERROR_INVALID_ARG, "requires snapshot='external'" },
    { "<domainsnapshot><memory snapshot='external'/></domainsnapshot>", 0,
      VB_ERROR_INVALID_ARG, "requires file=" },
    { "<domainsnapshot><memory file='rel/m'/></domainsnapshot>", 0, VB_ERROR_INVALID_ARG,
      "absolute" },
    { "<domainsnapshot><memory snapshot='manual'/></domainsnapshot>", 0, VB_ERROR_INVALID_ARG,
      "manual" },
    { "<domainsnapshot><memory snapshot='default'/></domainsnapshot>", 0,
      VB_ERROR_INVALID_ARG, "invalid snapshot='default'" },
    { "<domainsnapshot><name>a</name><creationTime>1</creationTime></domainsnapshot>", RD,
      VB_ERROR_INVALID_XML, "missing <state>" },
    { "<domainsnapshot><name>a</name><state>running</state></domainsnapshot>", RD,
      VB_ERROR_INVALID_XML, "missing <creationTime>" },
    { "<domainsnapshot>" EX "</domainsnapshot>", RD, VB_ERROR_INVALID_XML, "<name>" },
    { "<domainsnapshot><name>a</name><state>nostate</state><creationTime>1</creationTime>"
      "</domainsnapshot>", RD, VB_ERROR_INVALID_ARG, "invalid snapshot state 'nostate'" },
    { "<domainsnapshot><name>a</name><state>running</state><creationTime>soon</creationTime>"
      "</domainsnapshot>", RD, VB_ERROR_INVALID_ARG, "invalid creation time 'soon'" },
    { "<domainsnapshot><name>a</name><state>shutoff</state><creationTime>1</creationTime>"
      "<memory snapshot='internal'/></domainsnapshot>", RD, VB_ERROR_INVALID_ARG,
      "memory state cannot be saved with a shutoff snapshot" },
    { "<domainsnapshot><name>a</name>" EX "<parent><name>x/y</name></parent>"
      "</domainsnapshot>", RD, VB_ERROR_INVALID_ARG, "'/'" },
    { "<domainsnapshot><name>a</name>" EX "<domain><uuid>nope</uuid></domain>"
      "</domainsnapshot>", RD, VB_ERROR_INVALID_XML, "valid <uuid>" },
    { "<domainsnapshot><name>a</name>" EX "<domain type='qemu'><name>d</name></domain>"
      "</domainsnapshot>", RD, -1, "<domain> of the snapshot" },
    { "<domainsnapshot><name>a</name>" EX "</domainsnapshot>", VB_SNAPSHOT_PARSE_INTERNAL,
      VB_ERROR_INVALID_XML, "<active>" },
    { "<domainsnapshot><disks><disk/></disks></domainsnapshot>", 0, VB_ERROR_INVALID_XML,
      "missing name=" },
    { "<domainsnapshot><disks><foo/></disks></domainsnapshot>", 0, VB_ERROR_INVALID_XML,
      "only <disk>" },
    { "<domainsnapshot><disks><disk name='vda'/><disk name='vda'/></disks></domainsnapshot>",
      0, VB_ERROR_INVALID_ARG, "'vda' is specified twice" },
    { "<domainsnapshot><disks><disk name='vda'><source file='img'/></disk></disks>"
      "</domainsnapshot>", 0, VB_ERROR_INVALID_ARG, "must be absolute" },
    { "<domainsnapshot><disks><disk name='vda' snapshot='internal'><source file='/img'/>"
      "</disk></disks></domainsnapshot>", 0, VB_ERROR_INVALID_ARG,
      "requires snapshot='external'" },
    { "<domainsnapshot><disks><disk name='vda' type='dir'/></disks></domainsnapshot>", 0,
      VB_ERROR_INVALID_ARG, "unsupported disk snapshot type 'dir'" },
    { "<domainsnapshot><disks><disk name='vda' snapshot='maybe'/></disks></domainsnapshot>",
      0, VB_ERROR_INVALID_ARG, "snapshot='maybe'" },
    { "<domainsnapshot><disks><disk name='vda'><driver type='exe'/></disk></disks>"
      "</domainsnapshot>", 0, VB_ERROR_INVALID_ARG, "unknown disk snapshot driver 'exe'" },
    { "<domainsnapshot><disks><disk name='vda'><source file='/a'/><source file='/b'/>"
      "</disk></disks></domainsnapshot>", 0, VB_ERROR_INVALID_XML, "source" },
    { "<domainsnapshot><name>a</name>" EX "<disks><disk name='vda' snapshot='external'/>"
      "</disks></domainsnapshot>", RD, VB_ERROR_INVALID_ARG, "needs <source>" },
};

/* VALIDATE (SnapshotCreateXML 512): what the parser keeps verbatim or drops and libvirt's
 * schema does not allow is refused, naming the first by its line */
typedef struct {
    const char *xml;
    guint flags;
    const char *needle;
} ValidateCase;

#define VDS "<domainsnapshot><name>s</name>"
#define VDE "</domainsnapshot>"
#define VD "<disks><disk name='vda'"

static const ValidateCase validate_refused[] = {
    { "<domainsnapshot lang='x'><name>s</name>" VDE, 0,
      "line 1: unknown attribute lang= of <domainsnapshot> (VALIDATE)" },
    { VDS "\n<foo/>" VDE, 0, "line 2: unknown element <foo> in <domainsnapshot> (VALIDATE)" },
    { VDS "<v:tag xmlns:v='urn:example:v'>x</v:tag>" VDE, 0,
      "unknown element <v:tag> in <domainsnapshot>" },
    { VDS "<cookie xmlns='urn:example:v'/>" VDE, 0, "unknown element <cookie>" },
    { VDS "<name2/>" VDE, 0, "<name2>" },
    { VDS "<description lang='en'>d</description>" VDE, 0,
      "unknown attribute lang= of <description>" },
    { VDS "<description>a<b/>c</description>" VDE, 0, "unknown element <b> in <description>" },
    { VDS "<memory snapshot='no' size='1'/>" VDE, 0, "unknown attribute size= of <memory>" },
    { VDS "<memory snapshot='no'><x/></memory>" VDE, 0, "unknown element <x> in <memory>" },
    { VDS "<disks count='1'><disk name='vda'/></disks>" VDE, 0,
      "unknown attribute count= of <disks>" },
    { VDS VD " future='yes'/></disks>" VDE, 0, "unknown attribute future= of <disk>" },
    { VDS VD " x:f='1' xmlns:x='urn:example:x'/></disks>" VDE, 0,
      "unknown attribute x:f= of <disk>" },
    { VDS VD "><novel>x</novel></disk></disks>" VDE, 0, "unknown element <novel> in <disk>" },
    { VDS VD "><driver type='qcow2' copy_on_read='on'/></disk></disks>" VDE, 0,
      "unknown attribute copy_on_read= of <driver>" },
    { VDS VD "><driver type='qcow2'><cache/></driver></disk></disks>" VDE, 0,
      "unknown element <cache> in <driver>" },
    { VDS "<parent id='1'><name>p</name></parent>" VDE, 0, "unknown attribute id= of <parent>" },
    { VDS "<parent><name>p</name><uuid/></parent>" VDE, 0, "unknown element <uuid> in <parent>" },
    { VDS EX "<domain><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid><name>d</name>"
          "</domain>" VDE, RD, "unknown element <name> in <domain>" },
    { VDS EX VD " snapshot='external'><source file='/a'/></disk></disks>"
          "<revertDisks><disk name='vda' snapshot='external' odd='1'><source file='/b'/>"
          "</disk></revertDisks>" VDE, RD, "unknown attribute odd= of <disk>" },
    /* the first by its line, not by the order the parser reads in */
    { VDS "\n<foo/>\n" VD " bar='1'/></disks>" VDE, 0, "line 2: unknown element <foo>" },
    { VDS "\n" VD " bar='1'/></disks>\n<foo/>" VDE, 0, "line 2: unknown attribute bar=" },
};

static const char validate_allowed[] =
    "<domainsnapshot>\n"
    "  <name>s1</name>\n"
    "  <description>d</description>\n"
    "  <state>shutoff</state>\n"
    "  <parent>\n"
    "    <name>s0</name>\n"
    "  </parent>\n"
    "  <creationTime>1700000000</creationTime>\n"
    "  <memory snapshot='no'/>\n"
    "  <disks>\n"
    "    <disk name='vda' snapshot='external' type='file'>\n"
    "      <driver type='qcow2'>\n"
    "        <metadata_cache>\n"
    "          <max_size unit='bytes'>1234</max_size>\n"
    "        </metadata_cache>\n"
    "      </driver>\n"
    "      <source file='/var/lib/images/a.s1'>\n"
    "        <seclabel model='dac' relabel='no'/>\n"
    "      </source>\n"
    "    </disk>\n"
    "  </disks>\n"
    "  <domain type='qemu'>\n"
    "    <name>d</name>\n"
    "    <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
    "    <memory unit='KiB'>131072</memory>\n"
    "    <os>\n"
    "      <type arch='x86_64' machine='pc'>hvm</type>\n"
    "    </os>\n"
    "    <devices>\n"
    "      <disk type='file' device='disk'>\n"
    "        <source file='/var/lib/images/a.qcow2'/>\n"
    "        <target dev='vda' bus='virtio'/>\n"
    "      </disk>\n"
    "    </devices>\n"
    "  </domain>\n"
    "  <cookie>\n"
    "    <allowReboot value='yes'/>\n"
    "  </cookie>\n"
    "  <active>0</active>\n"
    "</domainsnapshot>\n";

static void
test_validate(void)
{
    const guint V = VB_SNAPSHOT_PARSE_VALIDATE;

    for (guint i = 0; i < G_N_ELEMENTS(validate_refused); i++) {
        const ValidateCase *c = &validate_refused[i];
        g_autoptr(GError) error = NULL;
        g_autoptr(VbSnapshotDef) def = vb_snapshot_def_parse_string(c->xml, c->flags | V,
                                                                    &error);
        g_autoptr(VbSnapshotDef) plain = parse_ok(c->xml, c->flags);

        g_test_message("case %u: %s", i, c->xml);
        g_assert_null(def);
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_XML);
        if (strstr(error->message, c->needle) == NULL)
            g_error("case %u: '%s' does not name '%s'", i, error->message, c->needle);
    }

    /* libvirt's samples are valid by its schema: none is refused */
    for (guint i = 0; i < G_N_ELEMENTS(samples); i++) {
        g_autofree char *in = read_sample(samples[i].file);
        guint pflags = samples[i].internal ? VB_SNAPSHOT_PARSE_INTERNAL
                                           : VB_SNAPSHOT_PARSE_REDEFINE;
        g_autoptr(VbSnapshotDef) def = parse_ok(in, pflags | V);

        g_test_message("sample %s", samples[i].file);
        g_assert_true((def->dom != NULL) == (vb_snapshot_def_get_domain_xml(def, FALSE) != NULL));
        g_assert_true((def->inactive_dom != NULL) ==
                      (vb_snapshot_def_get_domain_xml(def, TRUE) != NULL));
    }
    for (guint i = 0; i < 3; i++) {
        static const char *const inputs[] = {
            "in-external_vm.xml", "qcow2-metadata-cache.xml", "disk-seclabel.xml",
        };
        g_autofree char *in = read_sample(inputs[i]);
        g_autoptr(VbSnapshotDef) def = parse_ok(in, V);

        g_assert_null(vb_snapshot_def_get_domain_xml(def, FALSE));
    }

    /* <cookie>, <source>'s content, <metadata_cache> and <active> are allowed; the
     * embedded domain is kept with the snapshot document's lines */
    {
        g_autoptr(VbSnapshotDef) def = parse_ok(validate_allowed, RD | V);
        g_autoptr(VbSnapshotDef) fresh = parse_ok(validate_allowed, V);
        const char *dom = vb_snapshot_def_get_domain_xml(def, FALSE);
        g_autoptr(GError) error = NULL;
        g_autoptr(VbDomainDef) parsed = NULL;
        gsize lines = 0;

        g_assert_nonnull(dom);
        g_assert_null(vb_snapshot_def_get_domain_xml(def, TRUE));
        while (dom[lines] == '\n')
            lines++;
        g_assert_cmpuint(lines, ==, 21); /* <domain> is on line 22 */
        g_assert_true(g_str_has_prefix(dom + lines, "<domain type=\"qemu\">"));
        parsed = vb_domain_def_parse_string(dom, VB_DOMAIN_DEF_PARSE_INACTIVE, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(parsed->name, ==, "d");
        /* a new snapshot: <domain> is ignored, so not kept */
        g_assert_null(vb_snapshot_def_get_domain_xml(fresh, FALSE));
    }
}

static void
test_errors(void)
{
    for (guint i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
        const BadCase *c = &bad_cases[i];
        g_autoptr(GError) error = NULL;
        g_autoptr(VbSnapshotDef) def = vb_snapshot_def_parse_string(c->xml, c->flags, &error);

        g_test_message("case %u: %s", i, c->xml);
        g_assert_null(def);
        g_assert_nonnull(error);
        g_assert_true(error->domain == VB_ERROR);
        if (c->code >= 0)
            g_assert_cmpint(error->code, ==, c->code);
        if (strstr(error->message, c->needle) == NULL)
            g_error("case %u: '%s' does not name '%s'", i, error->message, c->needle);
    }
}

/* an unknown disk of the embedded domain, and a disk named twice through its source */
static void
test_disks_vs_domain(void)
{
    g_autofree char *in = read_sample("full_domain.xml");
    g_autoptr(GString) a = g_string_new(in);
    g_autoptr(GString) b = g_string_new(in);
    g_autoptr(GError) error = NULL;
    g_autoptr(VbSnapshotDef) da = NULL;
    g_autoptr(VbSnapshotDef) db = NULL;

    g_string_replace(a, "  <domain type", "  <disks><disk name='vdz' snapshot='no'/></disks>\n"
                                          "  <domain type", 1);
    da = vb_snapshot_def_parse_string(a->str, VB_SNAPSHOT_PARSE_INTERNAL, &error);
    g_assert_null(da);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "snapshot disk 'vdz': the domain has no disk"));
    g_clear_error(&error);

    g_string_replace(b, "  <domain type",
                     "  <disks><disk name='hda' snapshot='no'/>"
                     "<disk name='/dev/HostVG/QEMUGuest1' snapshot='no'/></disks>\n"
                     "  <domain type", 1);
    db = vb_snapshot_def_parse_string(b->str, VB_SNAPSHOT_PARSE_INTERNAL, &error);
    g_assert_null(db);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "specified twice"));
}

/* text content with newlines in the embedded domain comes back as it was, formatted twice
 * the same (fuzz-snapshot-xml: the domain was indented after it was written, and every
 * round trip added two spaces to each line of a multi-line text) */
static void
test_multiline_text(void)
{
    const char *xml =
        "<domainsnapshot>\n"
        "  <name>s1</name>\n"
        "  <creationTime>1700000000</creationTime>\n"
        "  <state>shutoff</state>\n"
        "  <domain type='qemu'>\n"
        "    <name>d</name>\n"
        "    <uuid>0c7a1f3e-1d2b-4e5f-8a9b-000000000001</uuid>\n"
        "    <description>first line\n   second line\n\nlast</description>\n"
        "    <memory unit='KiB'>65536</memory>\n"
        "    <os><type arch='x86_64'>hvm</type></os>\n"
        "    <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>\n"
        "    <metadata><x:y xmlns:x='urn:x'>a\n  b</x:y></metadata>\n"
        "  </domain>\n"
        "</domainsnapshot>\n";
    g_autoptr(VbSnapshotDef) def = parse_ok(xml, VB_SNAPSHOT_PARSE_REDEFINE);
    g_autofree char *out1 = format_ok(def, VB_SNAPSHOT_FORMAT_SECURE);
    g_autoptr(VbSnapshotDef) def2 = parse_ok(out1, VB_SNAPSHOT_PARSE_REDEFINE);
    g_autofree char *out2 = format_ok(def2, VB_SNAPSHOT_FORMAT_SECURE);

    g_assert_cmpstr(def2->dom->description, ==, "first line\n   second line\n\nlast");
    g_assert_cmpstr(out1, ==, out2);
    /* laid out as libvirt does: the domain two spaces in */
    g_assert_nonnull(strstr(out1, "\n  <domain type='qemu'>\n    <name>d</name>\n"));
    g_assert_nonnull(strstr(out1, "\n      <emulator>"));
    g_assert_nonnull(strstr(out1, "\n  </domain>\n</domainsnapshot>"));
}

static void
test_enums(void)
{
    for (int i = 0; i < VB_SNAPSHOT_STATE_LAST; i++)
        g_assert_cmpint(vb_snapshot_state_from_string(vb_snapshot_state_to_string(i)), ==, i);
    for (int i = 0; i < VB_SNAPSHOT_LOCATION_LAST; i++)
        g_assert_cmpint(
            vb_snapshot_location_from_string(vb_snapshot_location_to_string(i)), ==, i);
    g_assert_cmpstr(vb_snapshot_state_to_string(VB_SNAPSHOT_STATE_DISK_SNAPSHOT), ==,
                    "disk-snapshot");
    g_assert_null(vb_snapshot_state_to_string(VB_SNAPSHOT_STATE_LAST));
    g_assert_cmpint(vb_snapshot_state_from_string("bogus"), ==, -1);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/snapshot-def/libvirt-samples", test_libvirt_samples);
    g_test_add_func("/snapshot-def/sample-fields", test_sample_fields);
    g_test_add_func("/snapshot-def/new-snapshot", test_new_snapshot);
    g_test_add_func("/snapshot-def/libvirt-disk-input", test_libvirt_disk_input);
    g_test_add_func("/snapshot-def/unknown-kept", test_unknown_kept);
    g_test_add_func("/snapshot-def/epoch", test_epoch);
    g_test_add_func("/snapshot-def/revert-disks", test_revert_disks);
    g_test_add_func("/snapshot-def/format-checks", test_format_checks);
    g_test_add_func("/snapshot-def/align-disks", test_align_disks);
    g_test_add_func("/snapshot-def/errors", test_errors);
    g_test_add_func("/snapshot-def/validate", test_validate);
    g_test_add_func("/snapshot-def/disks-vs-domain", test_disks_vs_domain);
    g_test_add_func("/snapshot-def/multiline-text", test_multiline_text);
    g_test_add_func("/snapshot-def/enums", test_enums);
    return g_test_run();
}
