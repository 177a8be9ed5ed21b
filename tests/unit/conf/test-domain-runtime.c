/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runtime-only values of a live definition (issue 10, part live): aliases with libvirt's
 * names, <domain id>, <listen>, ptys; and their removal by an INACTIVE parse or format.
 */
#include "config.h"

#include <string.h>

#include "domain-def.h"
#include "vb-error.h"

static const char *const devices_xml =
    "<domain type='qemu'>\n"
    "  <name>rt</name>\n"
    "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
    "  <memory unit='KiB'>65536</memory>\n"
    "  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>\n"
    "  <devices>\n"
    "    <disk type='file' device='disk'><source file='/a.img'/>"
    "<target dev='vdb' bus='virtio'/></disk>\n"
    "    <disk type='file' device='disk'><source file='/b.img'/>"
    "<target dev='sda' bus='sata'/></disk>\n"
    "    <disk type='file' device='disk'><source file='/c.img'/>"
    "<target dev='sdb' bus='scsi'/></disk>\n"
    "    <disk type='file' device='floppy'><source file='/f.img'/>"
    "<target dev='fda' bus='fdc'/></disk>\n"
    "    <controller type='scsi' index='0' model='virtio-scsi'/>\n"
    "    <controller type='usb' index='0' model='qemu-xhci'/>\n"
    "    <controller type='fdc' index='0'/>\n"
    "    <interface type='user'><mac address='52:54:00:00:00:01'/></interface>\n"
    "    <interface type='user'><mac address='52:54:00:00:00:02'/>"
    "<target dev='vnet7'/><alias name='ua-second'/></interface>\n"
    "    <serial type='pty'><target port='0'/></serial>\n"
    "    <console type='pty'><target type='serial' port='0'/></console>\n"
    "    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0' "
    "state='connected'/></channel>\n"
    "    <input type='tablet' bus='usb'/>\n"
    "    <graphics type='vnc' port='-1' autoport='yes'/>\n"
    "    <graphics type='spice'><listen type='none'/></graphics>\n"
    "    <video><model type='qxl' primary='no'/></video>\n"
    "    <video><model type='virtio' primary='yes'/></video>\n"
    "    <watchdog model='i6300esb'/>\n"
    "    <memballoon model='virtio'/>\n"
    "    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>\n"
    "    <sound model='ich9'><alias name='sound0'/></sound>\n"
    "  </devices>\n"
    "</domain>\n";

static VbDomainDef *
parse(const char *xml, guint flags)
{
    g_autoptr(GError) error = NULL;
    VbDomainDef *def = vb_domain_def_parse_string(xml, flags, &error);

    g_assert_no_error(error);
    g_assert_nonnull(def);
    return def;
}

static char *
format(const VbDomainDef *def, guint flags)
{
    g_autoptr(GError) error = NULL;
    char *xml = vb_domain_def_format(def, flags, &error);

    g_assert_no_error(error);
    return xml;
}

static void
assert_has(const char *xml, const char *needle)
{
    if (strstr(xml, needle) == NULL)
        g_error("'%s' not found in:\n%s", needle, xml);
}

static void
assert_lacks(const char *xml, const char *needle)
{
    if (strstr(xml, needle) != NULL)
        g_error("'%s' unexpected in:\n%s", needle, xml);
}

/* the live XML of a started domain names every device as libvirt does */
static void
test_live_aliases(void)
{
    g_autoptr(VbDomainDef) def = parse(devices_xml, VB_DOMAIN_DEF_PARSE_INACTIVE);
    g_autofree char *xml = NULL;
    static const char *const names[] = {
        "virtio-disk1", "sata0-0-0", "scsi0-0-0-1", "fdc0-0-0", "scsi0", "usb", "fdc0",
        "net0", "ua-second", "serial0", "channel0", "input0", "video0", "video1",
        "watchdog0", "balloon0", "rng0", NULL
    };

    g_assert_true(vb_domain_def_assign_addresses(def, NULL));
    vb_domain_def_set_live(def, 7);
    g_assert_true(vb_domain_def_set_chardev_pty(def, "charserial0", "/dev/pts/9"));
    g_assert_false(vb_domain_def_set_chardev_pty(def, "charserial5", "/dev/pts/1"));
    vb_domain_def_set_autoport(def, 5901);
    xml = format(def, 0);
    assert_has(xml, "<domain type='qemu' id='7'>");
    for (guint i = 0; names[i] != NULL; i++) {
        g_autofree char *a = g_strdup_printf("<alias name='%s'/>", names[i]);

        assert_has(xml, a);
    }
    /* the console is the serial port: same alias and pty, tty= as libvirt */
    assert_has(xml, "<console type='pty' tty='/dev/pts/9'>");
    g_assert_cmpint(g_strstr_len(xml, -1, "<alias name='serial0'/>") != NULL, ==, TRUE);
    assert_has(xml, "<source path='/dev/pts/9'/>");
    /* the primary video is video0 wherever it is */
    assert_has(xml, "<model type='virtio' primary='yes'/>\n      <alias name='video0'/>");
    assert_has(xml, "<graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'>\n"
                    "      <listen type='address' address='127.0.0.1'/>");
    /* a listen the caller gave is what was used */
    assert_has(xml, "<graphics type='spice'>\n      <listen type='none'/>\n    </graphics>");
    /* a device kept verbatim gets no invented alias (and the define dropped its own) */
    assert_has(xml, "<sound model='ich9'/>");

    /* the same through a copy (the status XML and GetXMLDesc copy the live definition) */
    {
        g_autoptr(VbDomainDef) copy = vb_domain_def_copy(def);
        g_autofree char *again = format(copy, 0);

        g_assert_cmpstr(again, ==, xml);
    }
}

/* INACTIVE (format) and an INACTIVE parse (DefineXML) drop every runtime-only value */
static void
test_inactive_drops_runtime(void)
{
    /* parsed as a live definition (the status XML): what QEMU reported stays */
    g_autoptr(VbDomainDef) def = parse(devices_xml, 0);
    g_autoptr(VbDomainDef) redefined = NULL;
    g_autofree char *live = NULL, *inactive = NULL, *stored = NULL, *clean = NULL;
    static const char *const runtime[] = {
        " id='7'", "/dev/pts/9", "tty=", "5901", "<alias name='virtio-disk1'/>",
        "<alias name='sound0'/>", "<alias name='net0'/>", "vnet7", "state='connected'",
        "<alias name='serial0'/>", NULL
    };

    g_assert_true(vb_domain_def_assign_addresses(def, NULL));
    clean = format(def, VB_DOMAIN_DEF_FORMAT_INACTIVE);
    vb_domain_def_set_live(def, 7);
    vb_domain_def_set_chardev_pty(def, "charserial0", "/dev/pts/9");
    vb_domain_def_set_autoport(def, 5901);
    live = format(def, 0);
    assert_has(live, "vnet7");
    assert_has(live, "state='connected'");
    inactive = format(def, VB_DOMAIN_DEF_FORMAT_INACTIVE);
    for (guint i = 0; runtime[i] != NULL; i++)
        assert_lacks(inactive, runtime[i]);
    /* user aliases stay, autoport comes back as port='-1' */
    assert_has(inactive, "<alias name='ua-second'/>");
    assert_has(inactive, "<graphics type='vnc' port='-1' autoport='yes'");

    /* dumpxml | define: the stored config has none of it either */
    redefined = parse(live, VB_DOMAIN_DEF_PARSE_INACTIVE);
    stored = format(redefined, VB_DOMAIN_DEF_FORMAT_INACTIVE);
    for (guint i = 0; runtime[i] != NULL; i++)
        assert_lacks(stored, runtime[i]);
    assert_has(stored, "<alias name='ua-second'/>");

    /* clearing the live definition (the domain stopped) gives the persistent one back,
     * except the <listen> libvirt also keeps when a live XML is defined */
    vb_domain_def_clear_runtime(def);
    {
        g_autofree char *after = format(def, 0);

        for (guint i = 0; runtime[i] != NULL; i++)
            assert_lacks(after, runtime[i]);
    }
    g_assert_nonnull(clean);
}

/* <listen type='network'>: the address comes from the network at each start */
static void
test_listen_network_address(void)
{
    static const char *const xml =
        "<domain type='qemu'><name>n</name><memory>65536</memory>"
        "<os><type arch='x86_64'>hvm</type></os><devices>"
        "<graphics type='vnc' port='5905' autoport='no'>"
        "<listen type='network' address='192.168.122.1' network='default'/></graphics>"
        "<serial type='file'><source path='/tmp/serial.log'/><target port='0'/></serial>"
        "</devices></domain>";
    g_autoptr(VbDomainDef) live = parse(xml, 0);
    g_autoptr(VbDomainDef) persistent = parse(xml, VB_DOMAIN_DEF_PARSE_INACTIVE);
    g_autofree char *a = format(live, 0);
    g_autofree char *b = format(persistent, 0);

    assert_has(a, "address='192.168.122.1'");
    assert_lacks(b, "192.168.122.1");
    assert_has(b, "<listen type='network' network='default'/>");
    /* a fixed port and a file chardev's path are configuration */
    assert_has(b, "port='5905'");
    assert_has(b, "<source path='/tmp/serial.log'/>");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/conf/runtime/live-aliases", test_live_aliases);
    g_test_add_func("/conf/runtime/inactive-drops-runtime", test_inactive_drops_runtime);
    g_test_add_func("/conf/runtime/listen-network-address", test_listen_network_address);
    return g_test_run();
}
