/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Console and display hand-off without QEMU (issue 13, part console): which device
 * OpenConsole/OpenChannel reach, the Graphics entries, screens, SendKey's codesets, and
 * title/description/<metadata> changes with their round trip.
 */
#include "config.h"

#include <string.h>

#include "domain-console.h"
#include "domain-def-console.h"
#include "vb-error.h"

static const char *const live_xml =
    "<domain type='qemu' id='3'>\n"
    "  <name>con</name>\n"
    "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
    "  <memory unit='KiB'>65536</memory>\n"
    "  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>\n"
    "  <devices>\n"
    "    <serial type='pty'><source path='/dev/pts/7'/><target port='0'/></serial>\n"
    "    <serial type='file'><source path='/tmp/s1.log'/><target port='1'/></serial>\n"
    "    <console type='pty' tty='/dev/pts/7'><source path='/dev/pts/7'/>"
    "<target type='serial' port='0'/></console>\n"
    "    <console type='pty'><source path='/dev/pts/9'/><target type='virtio' port='1'/>"
    "</console>\n"
    "    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/>"
    "</channel>\n"
    "    <channel type='unix'><source mode='connect' path='/run/x.sock'/>"
    "<target type='virtio' name='org.example.out'/></channel>\n"
    "    <channel type='pty'><source path='/dev/pts/11'/>"
    "<target type='virtio' name='org.example.pty'/></channel>\n"
    "    <graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1' passwd='s'/>\n"
    "    <graphics type='spice' port='5902' tlsPort='5903' autoport='no'>"
    "<listen type='address' address='0.0.0.0'/></graphics>\n"
    "    <video><model type='vga' heads='2'/></video>\n"
    "    <video><model type='virtio'/></video>\n"
    "  </devices>\n"
    "</domain>\n";

static VbDomainDef *
parse(const char *xml)
{
    g_autoptr(GError) error = NULL;
    VbDomainDef *def = vb_domain_def_parse_string(xml, 0, &error);

    g_assert_no_error(error);
    g_assert_nonnull(def);
    return def;
}

static void
test_find_console(void)
{
    g_autoptr(VbDomainDef) def = parse(live_xml);
    g_autoptr(GError) error = NULL;
    VbConsoleTarget *t;

    /* empty: the first console, which is serial port 0 */
    t = vb_domain_def_find_console(def, "", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(t->alias, ==, "serial0");
    g_assert_cmpstr(t->path, ==, "/dev/pts/7");
    vb_console_target_free(t);
    t = vb_domain_def_find_console(def, "console1", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(t->path, ==, "/dev/pts/9");
    vb_console_target_free(t);
    /* a file serial is no pty */
    t = vb_domain_def_find_console(def, "serial1", &error);
    g_assert_null(t);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_STATE);
    g_assert_nonnull(strstr(error->message, "not using a PTY"));
    g_clear_error(&error);
    t = vb_domain_def_find_console(def, "serial5", &error);
    g_assert_null(t);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_cmpstr(error->message, ==, "cannot find character device serial5");
}

static void
test_find_channel(void)
{
    g_autoptr(VbDomainDef) def = parse(live_xml);
    g_autoptr(GError) error = NULL;
    VbConsoleTarget *t;

    t = vb_domain_def_find_channel(def, "/run/vb/con", "org.qemu.guest_agent.0", &error);
    g_assert_no_error(error);
    g_assert_cmpint(t->kind, ==, VB_CONSOLE_UNIX);
    g_assert_cmpstr(t->path, ==, "/run/vb/con/org.qemu.guest_agent.0");
    g_assert_cmpstr(t->alias, ==, "channel0");
    vb_console_target_free(t);
    t = vb_domain_def_find_channel(def, NULL, "channel2", &error);
    g_assert_no_error(error);
    g_assert_cmpint(t->kind, ==, VB_CONSOLE_PTY);
    g_assert_cmpstr(t->path, ==, "/dev/pts/11");
    vb_console_target_free(t);
    /* QEMU connects out: nothing to connect to */
    t = vb_domain_def_find_channel(def, NULL, "org.example.out", &error);
    g_assert_null(t);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_STATE);
    g_clear_error(&error);
    t = vb_domain_def_find_channel(def, NULL, "nope", &error);
    g_assert_null(t);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
}

static void
test_graphics_and_screens(void)
{
    g_autoptr(VbDomainDef) def = parse(live_xml);
    g_autoptr(GPtrArray) gs = vb_domain_def_get_graphics(def);
    g_autoptr(GError) error = NULL;
    const VbGraphicsInfo *g;
    g_autofree char *alias = NULL;
    guint head = 0;

    g_assert_cmpuint(gs->len, ==, 2);
    g = g_ptr_array_index(gs, 0);
    g_assert_cmpstr(g->type, ==, "vnc");
    g_assert_cmpstr(g->listen, ==, "127.0.0.1");
    g_assert_cmpint(g->port, ==, 5901);
    g_assert_true(g->autoport);
    g_assert_true(g->passwd_set);
    g = g_ptr_array_index(gs, 1);
    g_assert_cmpstr(g->type, ==, "spice");
    g_assert_cmpint(g->tls_port, ==, 5903);
    g_assert_cmpstr(g->listen, ==, "0.0.0.0");
    g_assert_false(g->autoport);
    /* screens: two heads on video0, one on video1 */
    g_assert_true(vb_domain_def_find_screen(def, 2, &alias, &head, &error));
    g_assert_cmpstr(alias, ==, "video1");
    g_assert_cmpuint(head, ==, 0);
    g_clear_pointer(&alias, g_free);
    g_assert_true(vb_domain_def_find_screen(def, 1, &alias, &head, &error));
    g_assert_cmpstr(alias, ==, "video0");
    g_assert_cmpuint(head, ==, 1);
    g_assert_false(vb_domain_def_find_screen(def, 3, &alias, &head, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
}

static void
test_keymap(void)
{
    g_autoptr(GError) error = NULL;
    int n = -1;

    /* KEY_A: linux 30, usb 4, atset2 0x1c; QNUM 0x1e. KEY_RIGHTCTRL: xt 0xe01d -> 0x9d */
    g_assert_true(vb_keymap_translate(0, 30, NULL, &n, &error));
    g_assert_cmpint(n, ==, 0x1e);
    g_assert_true(vb_keymap_translate(7, 4, NULL, &n, &error));
    g_assert_cmpint(n, ==, 0x1e);
    g_assert_true(vb_keymap_translate(3, 0x1c, NULL, &n, &error));
    g_assert_cmpint(n, ==, 0x1e);
    g_assert_true(vb_keymap_translate(1, 0xe01d, NULL, &n, &error));
    g_assert_cmpint(n, ==, 0x9d);
    g_assert_true(vb_keymap_translate(9, 0x9d, NULL, &n, &error));
    g_assert_cmpint(n, ==, 0x9d);
    g_assert_no_error(error);
    g_assert_false(vb_keymap_translate(0, 9999, NULL, &n, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_clear_error(&error);
    g_assert_false(vb_keymap_translate(10, 1, NULL, &n, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
}

static char *
format(const VbDomainDef *def)
{
    g_autoptr(GError) error = NULL;
    char *xml = vb_domain_def_format(def, 0, &error);

    g_assert_no_error(error);
    return xml;
}

static void
test_metadata(void)
{
    g_autoptr(VbDomainDef) def = parse(live_xml);
    g_autoptr(VbDomainDef) again = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL, *xml2 = NULL, *got = NULL;

    g_assert_true(vb_domain_def_set_metadata(def, VB_METADATA_TITLE, "t", NULL, NULL, &error));
    g_assert_false(vb_domain_def_set_metadata(def, VB_METADATA_TITLE, "a\nb", NULL, NULL,
                                              &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_clear_error(&error);
    g_assert_cmpstr(def->title, ==, "t");
    g_assert_true(vb_domain_def_set_metadata(def, VB_METADATA_ELEMENT, "<a x='1'><b/></a>",
                                             "k", "urn:one", &error));
    g_assert_true(vb_domain_def_set_metadata(def, VB_METADATA_ELEMENT, "<c/>", "m", "urn:two",
                                             &error));
    g_assert_no_error(error);
    /* a DTD, two roots, a bad prefix: nothing changes */
    g_assert_false(vb_domain_def_set_metadata(
        def, VB_METADATA_ELEMENT, "<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>", "k", "urn:one",
        &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_XML);
    g_clear_error(&error);
    g_assert_false(vb_domain_def_set_metadata(def, VB_METADATA_ELEMENT, "<a/><b/>", "k",
                                              "urn:one", &error));
    g_clear_error(&error);
    g_assert_false(vb_domain_def_set_metadata(def, VB_METADATA_ELEMENT, "<a/>", "1x", "urn:one",
                                              &error));
    g_clear_error(&error);
    got = vb_domain_def_get_metadata(def, VB_METADATA_ELEMENT, "urn:one", &error);
    g_assert_no_error(error);
    g_assert_nonnull(strstr(got, "<k:a"));
    g_assert_nonnull(strstr(got, "urn:one"));
    g_assert_nonnull(strstr(got, "<b/>"));
    /* the round trip keeps both elements, stable */
    xml = format(def);
    again = parse(xml);
    xml2 = format(again);
    g_assert_cmpstr(xml, ==, xml2);
    g_assert_nonnull(strstr(xml, "<title>t</title>"));
    g_assert_nonnull(strstr(xml, "urn:two"));
    /* removing the last elements removes <metadata> */
    g_assert_true(vb_domain_def_set_metadata(again, VB_METADATA_ELEMENT, "", NULL, "urn:one",
                                             &error));
    g_assert_true(vb_domain_def_set_metadata(again, VB_METADATA_ELEMENT, NULL, NULL, "urn:two",
                                             &error));
    g_clear_pointer(&xml2, g_free);
    xml2 = format(again);
    g_assert_null(strstr(xml2, "<metadata"));
    g_clear_pointer(&got, g_free);
    got = vb_domain_def_get_metadata(again, VB_METADATA_ELEMENT, "urn:one", &error);
    g_assert_null(got);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_clear_error(&error);
    got = vb_domain_def_get_metadata(again, VB_METADATA_DESCRIPTION, NULL, &error);
    g_assert_null(got);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/console/find-console", test_find_console);
    g_test_add_func("/console/find-channel", test_find_channel);
    g_test_add_func("/console/graphics-and-screens", test_graphics_and_screens);
    g_test_add_func("/console/keymap", test_keymap);
    g_test_add_func("/console/metadata", test_metadata);
    return g_test_run();
}
