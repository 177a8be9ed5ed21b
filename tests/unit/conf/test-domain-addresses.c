/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of vb_domain_def_assign_addresses() (service/conf/domain-def-addresses.c). */
#include "config.h"

#include <string.h>

#include "domain-def.h"
#include "vb-error.h"

#define HEAD                                                                                 \
    "<domain type='qemu'><name>t</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"    \
    "<memory>131072</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='%s'>hvm</type>"  \
    "</os><devices>%s</devices></domain>"

/* parses, assigns, formats the inactive XML; NULL with @error on failure */
static char *
assign(const char *machine, const char *devices, GError **error)
{
    g_autofree char *xml = g_strdup_printf(HEAD, machine, devices);
    g_autoptr(VbDomainDef) def = vb_domain_def_parse_string(xml, 0, error);
    g_autofree char *once = NULL;
    char *twice;

    if (def == NULL || !vb_domain_def_assign_addresses(def, error))
        return NULL;
    once = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_INACTIVE, NULL);
    /* idempotent */
    g_assert_true(vb_domain_def_assign_addresses(def, NULL));
    twice = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_INACTIVE, NULL);
    g_assert_cmpstr(once, ==, twice);
    return twice;
}

static void
assert_has(const char *xml, const char *needle)
{
    if (strstr(xml, needle) == NULL)
        g_error("'%s' not found in:\n%s", needle, xml);
}

/* sound: PCI addresses (ich9 at 00:1b.0 on q35), libvirt's default <audio>, the ccid reader */
static void
test_sound_audio_smartcard(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *q35 = assign("q35",
                                  "<graphics type='spice' port='5900'/><sound model='ich9'/>"
                                  "<sound model='ac97'/><sound model='usb'/>"
                                  "<smartcard mode='host'/>",
                                  &error);
    g_autofree char *pc = NULL;

    g_assert_no_error(error);
    assert_has(q35, "<sound model='ich9'>\n      <address type='pci' domain='0x0000' "
                    "bus='0x00' slot='0x1b' function='0x0'/>");
    /* slot 1 stays free for a video device, the USB controller took 2 */
    assert_has(q35, "<sound model='ac97'>\n      <address type='pci' domain='0x0000' "
                    "bus='0x00' slot='0x03'");
    assert_has(q35, "<sound model='usb'/>");
    /* the last display is SPICE: the default backend is spice, after the sound devices */
    assert_has(q35, "<sound model='usb'/>\n    <audio id='1' type='spice'/>");
    assert_has(q35, "<controller type='ccid' index='0'/>");
    assert_has(q35, "<controller type='usb' index='0' model='qemu-xhci'>");

    /* an <audio> given is kept as it is; without sound no <audio> is added */
    pc = assign("pc", "<sound model='es1370'/><audio id='3' type='none'/>", &error);
    g_assert_no_error(error);
    g_assert_null(strstr(pc, "<audio id='1'"));
    assert_has(pc, "<audio id='3' type='none'/>");
    g_free(pc);
    pc = assign("pc", "<graphics type='vnc' port='5900'/>", &error);
    g_assert_no_error(error);
    g_assert_null(strstr(pc, "<audio"));
}

static void
test_pci_pc(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("pc",
                                  "<disk type='file'><source file='/a'/><target dev='vda'/>"
                                  "</disk><interface type='user'><mac address='52:54:00:00:00:01'/>"
                                  "<model type='virtio'/></interface><video><model type='vga'/>"
                                  "</video><memballoon model='virtio'/>",
                                  &error);

    g_assert_no_error(error);
    /* video gets slot 2 on pc, the rest from slot 3 in document order */
    assert_has(xml, "<model type='vga'/>\n      <address type='pci' domain='0x0000' "
                    "bus='0x00' slot='0x02' function='0x0'/>");
    assert_has(xml, "<target dev='vda' bus='virtio'/>\n      <address type='pci' "
                    "domain='0x0000' bus='0x00' slot='0x03'");
    assert_has(xml, "<model type='virtio'/>\n      <address type='pci' domain='0x0000' "
                    "bus='0x00' slot='0x04'");
    assert_has(xml, "<memballoon model='virtio'>\n      <address type='pci' domain='0x0000' "
                    "bus='0x00' slot='0x05'");
    assert_has(xml, "<controller type='pci' index='0' model='pci-root'/>");
}

static void
test_pci_q35_skips_used(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("q35",
                                  "<controller type='virtio-serial' index='0'><address "
                                  "type='pci' bus='0' slot='2' function='0'/></controller>"
                                  "<rng model='virtio'/><controller type='sata' index='0'/>",
                                  &error);

    g_assert_no_error(error);
    /* slot 1 stays free for a video device, 2 is taken: rng gets 3; sata is 1f.2 */
    assert_has(xml, "<rng model='virtio'>\n      <address type='pci' domain='0x0000' "
                    "bus='0x00' slot='0x03'");
    assert_has(xml, "slot='0x1f' function='0x2'");
    assert_has(xml, "model='pcie-root'");
}

static void
test_interface_defaults(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("pc", "<interface type='user'/>", &error);
    const char *mac;

    g_assert_no_error(error);
    assert_has(xml, "<model type='rtl8139'/>");
    mac = strstr(xml, "<mac address='52:54:00:");
    g_assert_nonnull(mac);
}

static void
test_virtio_serial(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("q35",
                                  "<controller type='virtio-serial' index='0' ports='2'/>"
                                  "<channel type='pty'><target type='virtio' name='a'/>"
                                  "</channel><channel type='pty'><target type='virtio' "
                                  "name='b'/></channel>",
                                  &error);

    g_assert_no_error(error);
    /* ports='2': port 0 is the console's, 1 is taken by 'a', so 'b' needs a new controller */
    assert_has(xml, "<address type='virtio-serial' controller='0' bus='0' port='1'/>");
    assert_has(xml, "<address type='virtio-serial' controller='1' bus='0' port='1'/>");
    assert_has(xml, "<controller type='virtio-serial' index='1'>");
}

static void
test_virtio_serial_adds_controller(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("pc",
                                  "<channel type='unix'><target type='virtio' "
                                  "name='org.qemu.guest_agent.0'/></channel>",
                                  &error);

    g_assert_no_error(error);
    assert_has(xml, "<controller type='virtio-serial' index='0'>");
    assert_has(xml, "port='1'/>");
}

static void
test_duplicates(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("pc",
                                  "<channel type='pty'><target type='virtio' name='a'/>"
                                  "<address type='virtio-serial' controller='0' port='3'/>"
                                  "</channel><channel type='pty'><target type='virtio' "
                                  "name='b'/><address type='virtio-serial' controller='0' "
                                  "port='3'/></channel>",
                                  &error);

    g_assert_null(xml);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "already used"));
    g_clear_error(&error);
    xml = assign("pc",
                 "<rng model='virtio'><address type='pci' slot='5'/></rng>"
                 "<memballoon model='virtio'><address type='pci' slot='5'/></memballoon>",
                 &error);
    g_assert_null(xml);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
}

static void
test_drive_and_fdc(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("pc-q35-7.2",
                                  "<disk type='file' device='floppy'><source file='/f'/>"
                                  "<target dev='fda' bus='fdc'/></disk>"
                                  "<disk type='file'><source file='/s'/>"
                                  "<target dev='sdb' bus='sata'/></disk>",
                                  &error);
    g_autofree char *pc = NULL;

    g_assert_no_error(error);
    assert_has(xml, "<controller type='fdc' index='0'/>");
    assert_has(xml, "<address type='drive' controller='0' bus='0' target='0' unit='1'/>");
    assert_has(xml, "<address type='drive' controller='0' bus='0' target='0' unit='0'/>");
    /* pc has a built-in floppy controller; hdc is ide bus 1 unit 0 */
    pc = assign("pc",
                "<disk type='file' device='floppy'><source file='/f'/>"
                "<target dev='fda' bus='fdc'/></disk><disk type='file' device='cdrom'>"
                "<target dev='hdc' bus='ide'/></disk>",
                &error);
    g_assert_no_error(error);
    g_assert_null(strstr(pc, "type='fdc'"));
    assert_has(pc, "<address type='drive' controller='0' bus='1' target='0' unit='0'/>");
    assert_has(pc, "<controller type='ide' index='0'>\n      <address type='pci' "
                   "domain='0x0000' bus='0x00' slot='0x01' function='0x1'/>");
}

static void
test_usb_default(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *q35 = assign("q35", "<input type='tablet' bus='usb'/>", &error);
    g_autofree char *pc = NULL;

    g_assert_no_error(error);
    assert_has(q35, "<controller type='usb' index='0' model='qemu-xhci'>");
    pc = assign("pc", "<input type='tablet' bus='usb'/>", &error);
    g_assert_no_error(error);
    assert_has(pc, "<controller type='usb' index='0' model='piix3-uhci'>\n      <address "
                   "type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x2'/>");
}

static void
test_qemu_commandline(void)
{
    const char *xml = "<domain type='qemu' "
                      "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>t</name>"
                      "<memory>131072</memory><os><type>hvm</type></os><qemu:commandline>"
                      "<qemu:arg value='-foo'/><qemu:arg value='a,b'/>"
                      "<qemu:env name='X' value='1'/></qemu:commandline></domain>";
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) def = vb_domain_def_parse_string(xml, 0, &error);
    g_auto(GStrv) args = NULL;
    g_auto(GStrv) env = NULL;

    g_assert_no_error(error);
    g_assert_true(vb_domain_def_get_qemu_commandline(def, &args, &env, &error));
    g_assert_cmpuint(g_strv_length(args), ==, 2);
    g_assert_cmpstr(args[0], ==, "-foo");
    g_assert_cmpstr(args[1], ==, "a,b");
    g_assert_cmpstr(env[0], ==, "X=1");
    g_assert_null(env[1]);
}

/* a drive address needs a controller with an index that a stored definition can hold */
static void
test_drive_controller_index_bounded(void)
{
    static const char *const disks[] = {
        "<disk><source file='/a'/><target dev='sda' bus='scsi'/><address type='drive' "
        "controller='300' bus='0' target='0' unit='0'/></disk>",
        "<disk><source file='/a'/><target dev='sdzzzz' bus='scsi'/></disk>",
        "<disk><source file='/a'/><target dev='hdzzz' bus='ide'/></disk>",
        "<disk><source file='/a'/><target dev='sdzzz' bus='sata'/></disk>",
    };

    for (guint i = 0; i < G_N_ELEMENTS(disks); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *xml = assign("pc", disks[i], &error);

        g_assert_null(xml);
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        g_assert_nonnull(strstr(error->message, "the largest controller index is 255"));
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/conf/addresses/pci-pc", test_pci_pc);
    g_test_add_func("/conf/addresses/sound-audio-smartcard", test_sound_audio_smartcard);
    g_test_add_func("/conf/addresses/pci-q35-skips-used", test_pci_q35_skips_used);
    g_test_add_func("/conf/addresses/interface-defaults", test_interface_defaults);
    g_test_add_func("/conf/addresses/virtio-serial", test_virtio_serial);
    g_test_add_func("/conf/addresses/virtio-serial-adds-controller",
                    test_virtio_serial_adds_controller);
    g_test_add_func("/conf/addresses/duplicates", test_duplicates);
    g_test_add_func("/conf/addresses/drive-and-fdc", test_drive_and_fdc);
    g_test_add_func("/conf/addresses/drive-controller-index-bounded",
                    test_drive_controller_index_bounded);
    g_test_add_func("/conf/addresses/usb-default", test_usb_default);
    g_test_add_func("/conf/addresses/qemu-commandline", test_qemu_commandline);
    return g_test_run();
}
