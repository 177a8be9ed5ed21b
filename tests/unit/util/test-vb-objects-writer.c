/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VbObjectsWriter writes (a{oa{sa{sv}}}) in GVariant's serialized form by
 * hand; every case compares its bytes with what GVariantBuilder +
 * g_variant_get_normal_form() make of the same values: empty arrays,
 * empty interfaces, strings, nested variants, and sizes on both sides of
 * each framing-offset width (1, 2 and 4 bytes; an array above 64 KiB).
 */
#include "config.h"

#include <string.h>

#include "vb-objects-writer.h"

typedef struct {
    char *path;
    GVariant *ifaces; /* a{sa{sv}}, normal form */
} Entry;

/* the per-object cache's way: built, then flattened */
static GVariant *
flat(GVariant *floating)
{
    g_autoptr(GVariant) tree = g_variant_ref_sink(floating);

    return g_variant_get_normal_form(tree);
}

/* with @one, each entry of a single interface goes through vb_objects_writer_add_one() */
static void
check_mode(const Entry *entries, guint n, gboolean one)
{
    GVariantBuilder b;
    g_autoptr(GVariant) expected = NULL;
    g_autoptr(GVariant) got = NULL;
    gsize hint = 0;
    VbObjectsWriter *w;

    g_variant_builder_init(&b, G_VARIANT_TYPE("a{oa{sa{sv}}}"));
    for (guint i = 0; i < n; i++) {
        g_variant_builder_add(&b, "{o@a{sa{sv}}}", entries[i].path, entries[i].ifaces);
        hint += vb_objects_writer_entry_size(entries[i].path, entries[i].ifaces);
    }
    expected = flat(g_variant_new("(a{oa{sa{sv}}})", &b));
    w = vb_objects_writer_new(one ? 0 : hint);
    for (guint i = 0; i < n; i++) {
        if (one && g_variant_n_children(entries[i].ifaces) == 1) {
            const char *iface;
            g_autoptr(GVariant) props = NULL;

            g_variant_get_child(entries[i].ifaces, 0, "{&s@a{sv}}", &iface, &props);
            g_assert_cmpuint(vb_objects_writer_entry_size_one(entries[i].path, iface, props), >=,
                             vb_objects_writer_entry_size(entries[i].path, entries[i].ifaces));
            vb_objects_writer_add_one(w, entries[i].path, iface, props);
        } else {
            vb_objects_writer_add(w, entries[i].path, entries[i].ifaces);
        }
    }
    got = g_variant_ref_sink(vb_objects_writer_end(w));

    g_assert_true(g_variant_is_of_type(got, G_VARIANT_TYPE("(a{oa{sa{sv}}})")));
    g_assert_cmpuint(g_variant_get_size(got), ==, g_variant_get_size(expected));
    if (g_variant_get_size(got) > 0)
        g_assert_cmpmem(g_variant_get_data(got), g_variant_get_size(got),
                        g_variant_get_data(expected), g_variant_get_size(expected));
    g_assert_true(g_variant_is_normal_form(got));
    g_assert_true(g_variant_equal(got, expected));
    {
        /* read back through the accessors too, as GDBus walks it */
        g_autoptr(GVariant) array = g_variant_get_child_value(got, 0);

        g_assert_cmpuint(g_variant_n_children(array), ==, n);
        for (guint i = 0; i < n; i++) {
            const char *path;
            g_autoptr(GVariant) ifaces = NULL;

            g_variant_get_child(array, i, "{&o@a{sa{sv}}}", &path, &ifaces);
            g_assert_cmpstr(path, ==, entries[i].path);
            g_assert_true(g_variant_equal(ifaces, entries[i].ifaces));
        }
    }
}

static void
check(const Entry *entries, guint n)
{
    check_mode(entries, n, FALSE);
    check_mode(entries, n, TRUE);
}

static void
entries_free(Entry *e, guint n)
{
    for (guint i = 0; i < n; i++) {
        g_free(e[i].path);
        g_variant_unref(e[i].ifaces);
    }
    g_free(e);
}

/* an object with one interface and one string property of @len bytes */
static GVariant *
one_string(const char *iface, gsize len)
{
    g_autofree char *s = g_malloc(len + 1);
    GVariantBuilder props, ifaces;

    memset(s, 'x', len);
    s[len] = '\0';
    g_variant_builder_init(&props, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&props, "{sv}", "Name", g_variant_new_string(s));
    g_variant_builder_init(&ifaces, G_VARIANT_TYPE("a{sa{sv}}"));
    g_variant_builder_add(&ifaces, "{sa{sv}}", iface, &props);
    return flat(g_variant_builder_end(&ifaces));
}

static GVariant *
domain_like(guint i)
{
    GVariantBuilder props, ifaces, inner;
    g_autofree char *name = g_strdup_printf("bench-%05u", i);

    g_variant_builder_init(&props, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&props, "{sv}", "Name", g_variant_new_string(name));
    g_variant_builder_add(&props, "{sv}", "Id", g_variant_new_int32(-1));
    g_variant_builder_add(&props, "{sv}", "Active", g_variant_new_boolean(i % 2));
    g_variant_builder_add(&props, "{sv}", "Memory", g_variant_new_uint64(134217728ull * i));
    g_variant_builder_add(&props, "{sv}", "Load", g_variant_new_double(0.5 * i));
    g_variant_builder_add(&props, "{sv}", "Job", g_variant_new_object_path("/"));
    g_variant_builder_add(&props, "{sv}", "Empty", g_variant_new_string(""));
    g_variant_builder_add(&props, "{sv}", "Nested",
                          g_variant_new_variant(g_variant_new_variant(g_variant_new_byte(7))));
    g_variant_builder_init(&inner, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&inner, "{sv}", "k", g_variant_new_int16(3));
    g_variant_builder_add(&props, "{sv}", "Dict", g_variant_builder_end(&inner));
    g_variant_builder_add(&props, "{sv}", "NoStrings", g_variant_new_strv(NULL, 0));
    g_variant_builder_init(&ifaces, G_VARIANT_TYPE("a{sa{sv}}"));
    g_variant_builder_add(&ifaces, "{sa{sv}}", "org.virtbus.Virt1.Domain", &props);
    g_variant_builder_init(&props, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&ifaces, "{sa{sv}}", "org.freedesktop.DBus.Introspectable", &props);
    return flat(g_variant_builder_end(&ifaces));
}

static void
test_empty(void)
{
    Entry e[1];
    g_autoptr(GVariant) none = flat(g_variant_new_array(G_VARIANT_TYPE("{sa{sv}}"), NULL, 0));

    check(NULL, 0);
    /* an object with no interfaces: an a{sa{sv}} of 0 bytes */
    e[0].path = (char *)"/";
    e[0].ifaces = none;
    check(e, 1);
    e[0].path = (char *)"/org/virtbus/Virt1/domain/x";
    check(e, 1);
}

static void
test_domains(void)
{
    const guint n = 300;
    Entry *e = g_new0(Entry, n);

    for (guint i = 0; i < n; i++) {
        e[i].path = g_strdup_printf("/org/virtbus/Virt1/domain/%08x_aaaa_bbbb_cccc_%012u", i, i);
        e[i].ifaces = domain_like(i);
    }
    for (guint k = 1; k <= n; k = k * 2 + 1)
        check(e, k); /* 1, 3, 7, ... 255 entries */
    check(e, n);
    entries_free(e, n);
}

/* one entry whose size crosses 255 and 65535: its key offset grows from 1
 * to 2 to 4 bytes; the array's offsets with it */
static void
test_entry_offset_widths(void)
{
    static const gsize ranges[][2] = { { 150, 300 }, { 65300, 65560 } };

    for (guint r = 0; r < G_N_ELEMENTS(ranges); r++) {
        for (gsize len = ranges[r][0]; len <= ranges[r][1]; len++) {
            Entry e[2];

            e[0].path = (char *)"/a";
            e[0].ifaces = one_string("i.f", len);
            e[1].path = (char *)"/org/b";
            e[1].ifaces = one_string("org.virtbus.Virt1.Domain", len / 3);
            check(e, 2);
            g_variant_unref(e[0].ifaces);
            g_variant_unref(e[1].ifaces);
        }
    }
}

/* many small entries: the array (not any entry) crosses 64 KiB, so its
 * framing offsets need 4 bytes */
static void
test_array_offset_widths(void)
{
    const guint n = 1200;
    Entry *e = g_new0(Entry, n);
    g_autoptr(GVariant) probe = NULL;

    for (guint i = 0; i < n; i++) {
        e[i].path = g_strdup_printf("/org/virtbus/Virt1/domain/d%u", i);
        e[i].ifaces = one_string("org.virtbus.Virt1.Domain", i % 29);
    }
    for (guint k = 1000; k <= n; k += 7)
        check(e, k);
    check(e, n);
    {
        VbObjectsWriter *w = vb_objects_writer_new(0);

        for (guint i = 0; i < n; i++)
            vb_objects_writer_add(w, e[i].path, e[i].ifaces);
        probe = g_variant_ref_sink(vb_objects_writer_end(w));
        g_assert_cmpuint(g_variant_get_size(probe), >, 65536);
    }
    entries_free(e, n);
}

static void
test_offset_size(void)
{
    g_assert_cmpuint(vb_objects_writer_offset_size(0, 0), ==, 0);
    g_assert_cmpuint(vb_objects_writer_offset_size(254, 1), ==, 1);
    g_assert_cmpuint(vb_objects_writer_offset_size(255, 1), ==, 2);
    g_assert_cmpuint(vb_objects_writer_offset_size(65533, 1), ==, 2);
    g_assert_cmpuint(vb_objects_writer_offset_size(65534, 1), ==, 4);
    g_assert_cmpuint(vb_objects_writer_offset_size(65000, 300), ==, 4);
#if GLIB_SIZEOF_SIZE_T == 8
    g_assert_cmpuint(vb_objects_writer_offset_size(G_MAXUINT32 - 4, 1), ==, 4);
    g_assert_cmpuint(vb_objects_writer_offset_size(G_MAXUINT32 - 3, 1), ==, 8);
#endif
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/objects-writer/empty", test_empty);
    g_test_add_func("/objects-writer/domains", test_domains);
    g_test_add_func("/objects-writer/entry-offset-widths", test_entry_offset_widths);
    g_test_add_func("/objects-writer/array-offset-widths", test_array_offset_widths);
    g_test_add_func("/objects-writer/offset-size", test_offset_size);
    return g_test_run();
}
