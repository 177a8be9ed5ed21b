/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Golden round trips over tests/data/domain-xml/ *.xml: format(parse(file)) must equal
 * file.expected (or the file itself), and format(parse(output)) must equal output.
 * Invalid inputs in invalid/ *.xml must fail with the message in the matching .err.
 * VB_TEST_REGENERATE=1 rewrites the .expected / .err files.
 */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "domain-def.h"
#include "vb-error.h"

static const char *data_dir;

static gboolean
regenerate(void)
{
    return g_strcmp0(g_getenv("VB_TEST_REGENERATE"), "1") == 0;
}

static void
test_roundtrip(gconstpointer data)
{
    const char *path = data;
    g_autofree char *expected_path = g_strconcat(path, ".expected", NULL);
    g_autofree char *input = NULL;
    g_autofree char *expected = NULL;
    g_autofree char *out1 = NULL;
    g_autofree char *out2 = NULL;
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(VbDomainDef) def2 = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_true(g_file_get_contents(path, &input, NULL, &error));
    def = vb_domain_def_parse_string(input, 0, &error);
    g_assert_no_error(error);
    g_assert_nonnull(def);
    out1 = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, &error);
    g_assert_no_error(error);

    if (regenerate() && g_strcmp0(out1, input) != 0) {
        g_assert_true(g_file_set_contents(expected_path, out1, -1, &error));
    } else if (regenerate()) {
        (void)g_remove(expected_path);
    }
    if (!g_file_get_contents(expected_path, &expected, NULL, NULL))
        expected = g_strdup(input);
    g_assert_cmpstr(out1, ==, expected);

    def2 = vb_domain_def_parse_string(out1, 0, &error);
    g_assert_no_error(error);
    out2 = vb_domain_def_format(def2, VB_DOMAIN_DEF_FORMAT_SECURE, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(out2, ==, out1);

    /* the copy formats the same, and the ABI check accepts identical definitions */
    {
        g_autoptr(VbDomainDef) copy = vb_domain_def_copy(def);
        g_autofree char *out3 = vb_domain_def_format(copy, VB_DOMAIN_DEF_FORMAT_SECURE, NULL);
        g_assert_cmpstr(out3, ==, out1);
        g_assert_true(vb_domain_def_check_abi_stability(def, copy, &error));
        g_assert_no_error(error);
    }
}

static void
test_invalid(gconstpointer data)
{
    const char *path = data;
    g_autofree char *err_path = NULL;
    g_autofree char *input = NULL;
    g_autofree char *expected = NULL;
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(GError) error = NULL;

    {
        g_autofree char *stem = g_strndup(path, strlen(path) - 4);
        err_path = g_strconcat(stem, ".err", NULL);
    }
    g_assert_true(g_file_get_contents(path, &input, NULL, NULL));
    def = vb_domain_def_parse_string(input, 0, &error);
    g_assert_null(def);
    g_assert_nonnull(error);
    g_assert_true(error->domain == VB_ERROR);
    g_assert_true(error->code == VB_ERROR_INVALID_XML || error->code == VB_ERROR_INVALID_ARG);
    if (regenerate())
        g_assert_true(g_file_set_contents(err_path, error->message, -1, NULL));
    g_assert_true(g_file_get_contents(err_path, &expected, NULL, NULL));
    g_strstrip(expected);
    if (strstr(error->message, expected) == NULL)
        g_error("%s: message '%s' does not contain '%s'", path, error->message, expected);
    /* every message names the line of the offending element */
    g_assert_true(g_str_has_prefix(error->message, "line "));
    g_assert_true(g_ascii_isdigit(error->message[5]));
    g_assert_true(g_str_has_prefix(expected, "line "));
}

static GPtrArray *
list_xml(const char *dir)
{
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    g_assert_nonnull(d);
    while ((name = g_dir_read_name(d)) != NULL) {
        if (g_str_has_suffix(name, ".xml"))
            g_ptr_array_add(files, g_build_filename(dir, name, NULL));
    }
    return files;
}

static int
str_ptr_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
    g_autofree char *xml_dir = NULL;
    g_autofree char *invalid_dir = NULL;
    g_autoptr(GPtrArray) good = NULL;
    g_autoptr(GPtrArray) bad = NULL;

    g_test_init(&argc, &argv, NULL);
    data_dir = g_getenv("VB_TEST_DATA");
    g_assert_nonnull(data_dir);
    xml_dir = g_build_filename(data_dir, "domain-xml", NULL);
    invalid_dir = g_build_filename(xml_dir, "invalid", NULL);
    good = list_xml(xml_dir);
    bad = list_xml(invalid_dir);
    g_ptr_array_sort(good, str_ptr_cmp);
    g_ptr_array_sort(bad, str_ptr_cmp);
    /* the suite must not pass by finding nothing */
    g_assert_cmpuint(good->len, >=, 25);
    g_assert_cmpuint(bad->len, >=, 15);
    for (guint i = 0; i < good->len; i++) {
        const char *p = g_ptr_array_index(good, i);
        g_autofree char *base = g_path_get_basename(p);
        g_autofree char *name = g_strdup_printf("/conf/domain-xml/roundtrip/%s", base);
        g_test_add_data_func(name, p, test_roundtrip);
    }
    for (guint i = 0; i < bad->len; i++) {
        const char *p = g_ptr_array_index(bad, i);
        g_autofree char *base = g_path_get_basename(p);
        g_autofree char *name = g_strdup_printf("/conf/domain-xml/invalid/%s", base);
        g_test_add_data_func(name, p, test_invalid);
    }
    return g_test_run();
}
