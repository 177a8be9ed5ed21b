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
    /* a conventional PCI device on q35 goes behind the pcie-to-pci-bridge, which sits in
     * the root port added before it (libvirt's order: root port 1, bridge 2 on bus 1) */
    assert_has(q35, "<controller type='pci' index='1' model='pcie-root-port'>");
    assert_has(q35, "<controller type='pci' index='2' model='pcie-to-pci-bridge'>\n"
                    "      <model name='pcie-pci-bridge'/>\n"
                    "      <address type='pci' domain='0x0000' bus='0x01' slot='0x00'");
    assert_has(q35, "<sound model='ac97'>\n      <address type='pci' domain='0x0000' "
                    "bus='0x02' slot='0x01'");
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
    /* video gets slot 2 on pc, the rest from slot 3 in libvirt's order: interfaces before
     * disks, then the memballoon */
    assert_has(xml, "<model type='vga'/>\n      <address type='pci' domain='0x0000' "
                    "bus='0x00' slot='0x02' function='0x0'/>");
    assert_has(xml, "<model type='virtio'/>\n      <address type='pci' domain='0x0000' "
                    "bus='0x00' slot='0x03'");
    assert_has(xml, "<target dev='vda' bus='virtio'/>\n      <address type='pci' "
                    "domain='0x0000' bus='0x00' slot='0x04'");
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
    /* the rng is PCIe: it gets a new pcie-root-port (slot 1 is free without video, 2 is
     * taken), and one more root port is added for hotplug; sata is 1f.2 */
    assert_has(xml, "<controller type='pci' index='1' model='pcie-root-port'>\n"
                    "      <model name='pcie-root-port'/>\n"
                    "      <target chassis='1' port='0x8'/>\n"
                    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' "
                    "function='0x0' multifunction='on'/>");
    assert_has(xml, "<controller type='pci' index='2' model='pcie-root-port'>\n"
                    "      <model name='pcie-root-port'/>\n"
                    "      <target chassis='2' port='0x9'/>\n"
                    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' "
                    "function='0x1'/>");
    assert_has(xml, "<rng model='virtio'>\n      <address type='pci' domain='0x0000' "
                    "bus='0x01' slot='0x00'");
    g_assert_null(strstr(xml, "index='3'"));
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

/* virt-install's q35 shape: pcie-root and 15 pcie-root-ports without index, devices
 * without addresses (libvirt: tests/qemuxml2xmloutdata/q35-virt-manager-basic) */
static void
test_q35_root_ports_without_index(void)
{
    g_autoptr(GString) devs = g_string_new("<controller type='pci' model='pcie-root'/>");
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;

    for (guint i = 0; i < 15; i++)
        g_string_append(devs, "<controller type='pci' model='pcie-root-port'/>");
    g_string_append(devs, "<disk type='file'><source file='/a'/><target dev='vda' "
                          "bus='virtio'/></disk><controller type='usb' model='qemu-xhci' "
                          "ports='15'/><controller type='virtio-serial'/>"
                          "<interface type='user'><mac address='52:54:00:00:00:01'/>"
                          "<model type='virtio'/></interface><video><model type='qxl'/>"
                          "</video><memballoon model='virtio'/>");
    xml = assign("q35", devs->str, &error);
    g_assert_no_error(error);
    assert_has(xml, "<controller type='pci' index='0' model='pcie-root'/>");
    /* indexes 1-15, packed as functions of slots 2 and 3 (slot 1 is the video's) */
    assert_has(xml, "<controller type='pci' index='1' model='pcie-root-port'>\n"
                    "      <model name='pcie-root-port'/>\n"
                    "      <target chassis='1' port='0x10'/>\n"
                    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' "
                    "function='0x0' multifunction='on'/>");
    assert_has(xml, "<target chassis='8' port='0x17'/>\n      <address type='pci' "
                    "domain='0x0000' bus='0x00' slot='0x02' function='0x7'/>");
    assert_has(xml, "<controller type='pci' index='15' model='pcie-root-port'>\n"
                    "      <model name='pcie-root-port'/>\n"
                    "      <target chassis='15' port='0x1e'/>\n"
                    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' "
                    "function='0x6'/>");
    g_assert_null(strstr(xml, "index='16'"));
    /* libvirt's order: interface, controllers, disk, memballoon, one root port each */
    assert_has(xml, "<model type='virtio'/>\n      <address type='pci' domain='0x0000' "
                    "bus='0x01' slot='0x00' function='0x0'/>");
    assert_has(xml, "ports='15'>\n      <address type='pci' domain='0x0000' bus='0x02'");
    assert_has(xml, "<controller type='virtio-serial' index='0'>\n      <address type='pci' "
                    "domain='0x0000' bus='0x03'");
    assert_has(xml, "<target dev='vda' bus='virtio'/>\n      <address type='pci' "
                    "domain='0x0000' bus='0x04'");
    assert_has(xml, "<memballoon model='virtio'>\n      <address type='pci' domain='0x0000' "
                    "bus='0x05'");
    assert_has(xml, "<model type='qxl'/>\n      <address type='pci' domain='0x0000' "
                    "bus='0x00' slot='0x01' function='0x0'/>");
}

/* controllers of every type without index get the lowest free one of their type */
static void
test_controller_index_assigned(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("pc",
                                  "<controller type='scsi' index='0' model='virtio-scsi'/>"
                                  "<controller type='scsi' model='virtio-scsi'/>"
                                  "<controller type='sata'/><controller type='usb' "
                                  "model='qemu-xhci'/><controller type='virtio-serial'/>"
                                  "<controller type='virtio-serial'/>",
                                  &error);

    g_assert_no_error(error);
    assert_has(xml, "<controller type='scsi' index='1' model='virtio-scsi'>");
    assert_has(xml, "<controller type='sata' index='0'>");
    assert_has(xml, "<controller type='usb' index='0' model='qemu-xhci'>");
    assert_has(xml, "<controller type='virtio-serial' index='1'>");
    g_clear_pointer(&xml, g_free);
    /* an explicit duplicate is still refused */
    xml = assign("pc", "<controller type='sata' index='0'/><controller type='sata' index='0'/>",
                 &error);
    g_assert_null(xml);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "a sata controller with index 0 is already"));
}

#define USB2_SET(extra)                                                                      \
    "<controller type='usb' index='0' model='ich9-ehci1'" extra "/>"                          \
    "<controller type='usb' index='0' model='ich9-uhci1'><master startport='0'/>"            \
    "</controller><controller type='usb' index='0' model='ich9-uhci2'><master "              \
    "startport='2'/></controller><controller type='usb' index='0' model='ich9-uhci3'>"       \
    "<master startport='4'/></controller>"

/* ich9-ehci1 + uhci1/2/3 share index 0 and one slot: functions 7, 0, 1, 2 */
static void
test_usb2_companions(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *pc = assign("pc", USB2_SET(""), &error);
    g_autofree char *q35 = NULL;
    g_autofree char *noindex = NULL;

    g_assert_no_error(error);
    assert_has(pc, "model='ich9-ehci1'>\n      <address type='pci' domain='0x0000' bus='0x00' "
                   "slot='0x02' function='0x7'/>");
    assert_has(pc, "<master startport='0'/>\n      <address type='pci' domain='0x0000' "
                   "bus='0x00' slot='0x02' function='0x0' multifunction='on'/>");
    assert_has(pc, "<master startport='2'/>\n      <address type='pci' domain='0x0000' "
                   "bus='0x00' slot='0x02' function='0x1'/>");
    assert_has(pc, "<master startport='4'/>\n      <address type='pci' domain='0x0000' "
                   "bus='0x00' slot='0x02' function='0x2'/>");
    /* q35: the first set sits at 1d, as on real ICH9 */
    q35 = assign("q35", USB2_SET(""), &error);
    g_assert_no_error(error);
    assert_has(q35, "<master startport='0'/>\n      <address type='pci' domain='0x0000' "
                    "bus='0x00' slot='0x1d' function='0x0' multifunction='on'/>");
    assert_has(q35, "model='ich9-ehci1'>\n      <address type='pci' domain='0x0000' "
                    "bus='0x00' slot='0x1d' function='0x7'/>");
    /* without index the companions join the set before them */
    noindex = assign("pc",
                     "<controller type='usb' model='ich9-ehci1'/><controller type='usb' "
                     "model='ich9-uhci1'><master startport='0'/></controller>"
                     "<controller type='usb' model='qemu-xhci'/>",
                     &error);
    g_assert_no_error(error);
    assert_has(noindex, "<controller type='usb' index='0' model='ich9-uhci1'>");
    assert_has(noindex, "<controller type='usb' index='1' model='qemu-xhci'>");
}

/* libvirt's parser: uhci1/2/3 without <master> are companions on ports 0, 2 and 4; a lone
 * companion then has no master */
static void
test_usb2_companions_default_master(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("q35",
                                  "<controller type='usb' index='0' model='ich9-ehci1'/>"
                                  "<controller type='usb' index='0' model='ich9-uhci1'/>"
                                  "<controller type='usb' index='0' model='ich9-uhci3'/>"
                                  "<controller type='usb' index='0' model='ich9-uhci2'>"
                                  "<address type='pci' domain='0x0000' bus='0x00' "
                                  "slot='0x1d' function='0x1'/></controller>",
                                  &error);
    g_autofree char *lone = NULL;

    g_assert_no_error(error);
    assert_has(xml, "model='ich9-uhci1'>\n      <master startport='0'/>\n");
    assert_has(xml, "model='ich9-uhci3'>\n      <master startport='4'/>\n");
    /* <master> goes before the address the document already had */
    assert_has(xml, "model='ich9-uhci2'>\n      <master startport='2'/>\n      <address "
                    "type='pci' domain='0x0000' bus='0x00' slot='0x1d' function='0x1'/>");
    g_assert_null(strstr(xml, "model='ich9-ehci1'>\n      <master"));
    lone = assign("pc", "<controller type='usb' index='0' model='ich9-uhci2'/>", &error);
    g_assert_null(lone);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "no master USB controller"));
}

/* a channel's virtio-serial address without a port gets that controller's first free port,
 * after the ports other channels name; a missing controller is added */
static void
test_virtio_serial_port_left_out(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("pc",
                                  "<controller type='virtio-serial' index='0' ports='3'/>"
                                  "<controller type='virtio-serial' index='1'/>"
                                  "<channel type='pty'><target type='virtio' name='a'/>"
                                  "<address type='virtio-serial' controller='1' bus='0'/>"
                                  "</channel>"
                                  "<channel type='pty'><target type='virtio' name='b'/>"
                                  "<address type='virtio-serial' controller='1' bus='0' "
                                  "port='1'/></channel>"
                                  "<channel type='pty'><target type='virtio' name='c'/>"
                                  "<address type='virtio-serial' controller='1' port='0'/>"
                                  "</channel>"
                                  "<channel type='pty'><target type='virtio' name='d'/>"
                                  "<address type='virtio-serial' controller='3'/></channel>",
                                  &error);
    g_autofree char *full = NULL;

    g_assert_no_error(error);
    assert_has(xml, "name='a'/>\n      <address type='virtio-serial' controller='1' bus='0' "
                    "port='2'/>");
    assert_has(xml, "name='b'/>\n      <address type='virtio-serial' controller='1' bus='0' "
                    "port='1'/>");
    assert_has(xml, "name='c'/>\n      <address type='virtio-serial' controller='1' bus='0' "
                    "port='3'/>");
    assert_has(xml, "name='d'/>\n      <address type='virtio-serial' controller='3' bus='0' "
                    "port='1'/>");
    assert_has(xml, "<controller type='virtio-serial' index='3'>");
    /* controller 0 has ports 1 and 2 for channels */
    full = assign("pc",
                  "<controller type='virtio-serial' index='0' ports='3'/>"
                  "<channel type='pty'><target type='virtio' name='a'/></channel>"
                  "<channel type='pty'><target type='virtio' name='b'/></channel>"
                  "<channel type='pty'><target type='virtio' name='c'/>"
                  "<address type='virtio-serial' controller='0'/></channel>",
                  &error);
    g_assert_null(full);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "virtio-serial controller 0 has no free port"));
}

static void
test_usb_refused(void)
{
    static const struct {
        const char *devices;
        const char *message;
    } cases[] = {
        { "<controller type='usb' index='0' model='none'/><controller type='usb' index='1' "
          "model='qemu-xhci'/>", "USB is disabled" },
        { "<controller type='usb' index='0' model='ich9-uhci1'><master startport='0'/>"
          "</controller>", "no master USB controller" },
        { "<controller type='usb' index='0' model='qemu-xhci'/><controller type='usb' "
          "index='0' model='nec-xhci'/>", "a usb controller with index 0 is already defined" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *xml = assign("pc", cases[i].devices, &error);

        g_assert_null(xml);
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        if (strstr(error->message, cases[i].message) == NULL)
            g_error("'%s' not in '%s'", cases[i].message, error->message);
    }
}

/* i440fx: when bus 0 is full a pci-bridge is added (one slot is kept for it) */
static void
test_pc_bridge_added(void)
{
    g_autoptr(GString) devs = g_string_new(NULL);
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;

    /* without video slots 2-31 are free: 29 devices leave one for a bridge, 30 need one */
    for (guint i = 0; i < 30; i++)
        g_string_append_printf(devs, "<interface type='user'><mac address='52:54:00:00:00:%02x'"
                                     "/><model type='virtio'/></interface>", i + 1);
    xml = assign("pc", devs->str, &error);
    g_assert_no_error(error);
    assert_has(xml, "<controller type='pci' index='1' model='pci-bridge'>\n"
                    "      <model name='pci-bridge'/>\n      <target chassisNr='1'/>\n"
                    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x02'");
    assert_has(xml, "<mac address='52:54:00:00:00:1e'/>\n      <model type='virtio'/>\n"
                    "      <address type='pci' domain='0x0000' bus='0x01' slot='0x01'");
    g_string_truncate(devs, 0);
    g_clear_pointer(&xml, g_free);
    for (guint i = 0; i < 29; i++)
        g_string_append_printf(devs, "<interface type='user'><mac address='52:54:00:00:00:%02x'"
                                     "/><model type='virtio'/></interface>", i + 1);
    xml = assign("pc", devs->str, &error);
    g_assert_no_error(error);
    g_assert_null(strstr(xml, "pci-bridge"));
}

/* q35: a conventional PCI device goes behind a pcie-to-pci-bridge on a root port */
static void
test_q35_pci_bridge_added(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("q35",
                                  "<interface type='user'><mac address='52:54:00:00:00:01'/>"
                                  "<model type='e1000'/></interface>",
                                  &error);

    g_assert_no_error(error);
    /* the root port first, so the parent has the lower index (libvirt's order; QEMU
     * creates the buses in index order and refused a bridge on a later root port) */
    assert_has(xml, "<controller type='pci' index='1' model='pcie-root-port'>");
    assert_has(xml, "<controller type='pci' index='2' model='pcie-to-pci-bridge'>\n"
                    "      <model name='pcie-pci-bridge'/>\n      <address type='pci' "
                    "domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>");
    assert_has(xml, "<model type='e1000'/>\n      <address type='pci' domain='0x0000' "
                    "bus='0x02' slot='0x01' function='0x0'/>");
}

/* explicit addresses behind bridges: a missing bus is added, the slot must exist on it */
static void
test_explicit_bus(void)
{
    static const struct {
        const char *devices;
        const char *message;
    } bad[] = {
        { "<controller type='pci' index='1' model='pcie-root-port'/><rng model='virtio'>"
          "<address type='pci' bus='1' slot='2'/></rng>", "slot 2 is not usable on bus 1" },
        { "<controller type='pci' index='1' model='pci-bridge'/><rng model='virtio'>"
          "<address type='pci' bus='1' slot='0'/></rng>", "slot 0 is not usable on bus 1" },
    };
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("pc",
                                  "<controller type='pci' index='1' model='pci-bridge'/>"
                                  "<rng model='virtio'><address type='pci' bus='1' slot='7'/>"
                                  "</rng><memballoon model='virtio'/>",
                                  &error);

    g_assert_no_error(error);
    assert_has(xml, "<rng model='virtio'>\n      <address type='pci' domain='0x0000' "
                    "bus='0x01' slot='0x07' function='0x0'/>");
    /* a bus no controller has: the controllers up to it are added (libvirt's
     * qemuDomainPCIAddressSetCreate() default models) */
    g_free(xml);
    xml = assign("pc", "<rng model='virtio'><address type='pci' bus='3' slot='1'/></rng>",
                 &error);
    g_assert_no_error(error);
    for (guint i = 1; i <= 3; i++) {
        g_autofree char *want = g_strdup_printf("<controller type='pci' index='%u' "
                                                "model='pci-bridge'>", i);

        assert_has(xml, want);
    }
    g_free(xml);
    xml = assign("q35", "<rng model='virtio'><address type='pci' bus='2' slot='0'/></rng>",
                 &error);
    g_assert_no_error(error);
    assert_has(xml, "<controller type='pci' index='2' model='pcie-root-port'>");
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *out = assign(i == 0 ? "q35" : "pc", bad[i].devices, &error);

        g_assert_null(out);
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        if (strstr(error->message, bad[i].message) == NULL)
            g_error("'%s' not in '%s'", bad[i].message, error->message);
        g_clear_error(&error);
    }
}

/* an expander bus without <target busNr=> takes 2 below the lowest in use, as libvirt's
 * qemuDomainAddressFindNewBusNr(); a full chain of 254 bridges gets its models and targets */
static void
test_expander_bus_nr(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("pc",
                                  "<controller type='pci' index='1' model='pci-expander-bus'>"
                                  "<target busNr='100'/></controller>"
                                  "<controller type='pci' index='2' model='pci-expander-bus'/>"
                                  "<controller type='pci' index='3' model='pci-expander-bus'>"
                                  "<target busNr='-7'/></controller>"
                                  "<controller type='pci' index='4' model='pci-expander-bus'/>",
                                  &error);

    g_assert_no_error(error);
    assert_has(xml, "<controller type='pci' index='2' model='pci-expander-bus'>\n"
                    "      <model name='pxb'/>\n      <target busNr='98'/>");
    /* a number QEMU cannot take does not push the others below 0 */
    assert_has(xml, "<controller type='pci' index='4' model='pci-expander-bus'>\n"
                    "      <model name='pxb'/>\n      <target busNr='96'/>");
    g_free(xml);
    xml = assign("pc", "<rng model='virtio'><address type='pci' bus='254' slot='1'/></rng>"
                       "<controller type='pci' index='255' model='pci-expander-bus'/>",
                 &error);
    g_assert_no_error(error);
    assert_has(xml, "<controller type='pci' index='254' model='pci-bridge'>\n"
                    "      <model name='pci-bridge'/>\n      <target chassisNr='254'/>");
    assert_has(xml, "<controller type='pci' index='255' model='pci-expander-bus'>\n"
                    "      <model name='pxb'/>\n      <target busNr='254'/>");
}

/* a gap in the PCI controller indexes is filled at the first assignment, as libvirt fills
 * its bus set: a device placed on the controller above the gap must not make the next
 * define (which reads its address as explicit) add the missing ones (fuzz-domain-xml) */
static void
test_controller_index_gap(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("q35",
                                  "<controller type='pci' index='3' model='pcie-root-port'/>"
                                  "<rng model='virtio'/>",
                                  &error);
    g_autoptr(VbDomainDef) stored = NULL;
    g_autofree char *again = NULL;

    g_assert_no_error(error);
    for (guint i = 1; i <= 2; i++) {
        g_autofree char *want = g_strdup_printf("<controller type='pci' index='%u' "
                                                "model='pcie-root-port'>", i);

        assert_has(xml, want);
    }
    /* the rng took the first free root port (bus 1), and the stored definition assigns to
     * the same bytes */
    assert_has(xml, "<rng model='virtio'>\n      <address type='pci' domain='0x0000' "
                    "bus='0x01'");
    stored = vb_domain_def_parse_string(xml, VB_DOMAIN_DEF_PARSE_INACTIVE, &error);
    g_assert_no_error(error);
    g_assert_true(vb_domain_def_assign_addresses(stored, &error));
    again = vb_domain_def_format(stored, VB_DOMAIN_DEF_FORMAT_INACTIVE, NULL);
    g_assert_cmpstr(again, ==, xml);
    g_free(xml);
    /* i440fx: pci-bridges */
    xml = assign("pc", "<controller type='pci' index='2' model='pci-bridge'/>", &error);
    g_assert_no_error(error);
    assert_has(xml, "<controller type='pci' index='1' model='pci-bridge'>");
}

/* a channel on virtio-serial controller 1 needs controller 1, not a new controller 0 */
static void
test_virtio_serial_named_controller(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = assign("pc",
                                  "<controller type='virtio-serial' index='1'/>"
                                  "<channel type='pty'><target type='virtio' name='a'/>"
                                  "<address type='virtio-serial' controller='1' bus='0' "
                                  "port='3'/></channel><channel type='pty'><target "
                                  "type='virtio' name='b'/><address type='virtio-serial' "
                                  "controller='2' port='1'/></channel>",
                                  &error);

    g_assert_no_error(error);
    g_assert_null(strstr(xml, "<controller type='virtio-serial' index='0'"));
    assert_has(xml, "<controller type='virtio-serial' index='2'>");
}

/* the first serial console is serial port 0 itself (virDomainDefAddConsoleCompat) */
static void
test_console_compat(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *lone = assign("pc",
                                   "<console type='pty'><target type='serial' port='0'/>"
                                   "</console>",
                                   &error);
    g_autofree char *both = NULL;

    g_assert_no_error(error);
    assert_has(lone, "<serial type='pty'>\n      <target type='isa-serial' port='0'/>\n"
                     "    </serial>\n    <console type='pty'>\n      <target type='serial' "
                     "port='0'/>");
    /* a console repeating the serial's PCI address is that serial, not a duplicate */
    both = assign("pc",
                  "<serial type='pty'><target type='pci-serial' port='0'/><address "
                  "type='pci' slot='4'/></serial><console type='pty'><target type='serial' "
                  "port='0'/><address type='pci' slot='4'/></console>",
                  &error);
    g_assert_no_error(error);
    g_assert_null(strstr(both, "<serial type='pty'>\n      <target type='isa-serial'"));
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
    g_test_add_func("/conf/addresses/q35-root-ports-without-index",
                    test_q35_root_ports_without_index);
    g_test_add_func("/conf/addresses/controller-index-assigned", test_controller_index_assigned);
    g_test_add_func("/conf/addresses/usb2-companions", test_usb2_companions);
    g_test_add_func("/conf/addresses/usb-refused", test_usb_refused);
    g_test_add_func("/conf/addresses/pc-bridge-added", test_pc_bridge_added);
    g_test_add_func("/conf/addresses/q35-pci-bridge-added", test_q35_pci_bridge_added);
    g_test_add_func("/conf/addresses/explicit-bus", test_explicit_bus);
    g_test_add_func("/conf/addresses/console-compat", test_console_compat);
    g_test_add_func("/conf/addresses/expander-bus-nr", test_expander_bus_nr);
    g_test_add_func("/conf/addresses/controller-index-gap", test_controller_index_gap);
    g_test_add_func("/conf/addresses/virtio-serial-named-controller",
                    test_virtio_serial_named_controller);
    g_test_add_func("/conf/addresses/usb2-companions-default-master",
                    test_usb2_companions_default_master);
    g_test_add_func("/conf/addresses/virtio-serial-port-left-out",
                    test_virtio_serial_port_left_out);
    return g_test_run();
}
