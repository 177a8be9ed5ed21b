/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vb_domain_def_check_abi_stability(): each kind of difference is found and named. */
#include "config.h"

#include <string.h>

#include "domain-def.h"
#include "vb-error.h"

static char *base_xml;

static char *
replace_once(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);

    g_assert_nonnull(p); /* the mutation must apply, or the test proves nothing */
    return g_strdup_printf("%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
}

typedef struct {
    const char *from;
    const char *to;
    const char *message; /* NULL: still compatible */
} Mutation;

static const Mutation mutations[] = {
    { "<name>i440fx-implicit</name>", "<name>renamed</name><title>t</title>"
      "<description>d</description>", NULL },
    { "<graphics type='vnc' port='-1' autoport='yes'/>",
      "<graphics type='spice' autoport='yes'/>", NULL },
    { "<source file='/img/i440fx.qcow2'/>", "<source file='/other/path.qcow2'/>", NULL },
    { "<currentMemory unit='KiB'>1048576</currentMemory>",
      "<currentMemory unit='KiB'>524288</currentMemory>", NULL },
    { "<memory unit='KiB'>1048576</memory>", "<memory unit='KiB'>2097152</memory>",
      "target domain memory 2097152 KiB does not match source 1048576 KiB" },
    { "<domain type='kvm'>", "<domain type='qemu'>",
      "target domain virt type 'qemu' does not match source 'kvm'" },
    { "machine='pc-i440fx-7.2'", "machine='pc-i440fx-6.2'",
      "target domain machine type 'pc-i440fx-6.2' does not match source 'pc-i440fx-7.2'" },
    { "arch='x86_64'", "arch='i686'",
      "target domain architecture 'i686' does not match source 'x86_64'" },
    { "<vcpu placement='static'>1</vcpu>", "<vcpu placement='static'>2</vcpu>",
      "target domain vCPU max 2 does not match source 1" },
    { "<vcpu placement='static'>1</vcpu>",
      "<vcpu placement='static'>1</vcpu><iothreads>2</iothreads>",
      "target domain iothreads 2 does not match source 0" },
    { "<apic/>", "", "target domain features 'acpi' does not match source 'acpi apic'" },
    { "</os>", "</os><cpu mode='custom'><model>Nehalem</model></cpu>",
      "target domain CPU 'mode=custom model=Nehalem' does not match source '(none)'" },
    { "</os>", "</os><cpu mode='custom'><model>qemu64</model>"
      "<feature policy='disable' name='svm'/></cpu>",
      "target domain CPU 'mode=custom model=qemu64 svm=disable' does not match source '(none)'" },
    { "</os>", "</os><cpu><topology sockets='1' cores='1' threads='1'/></cpu>",
      "target domain CPU 'mode=custom topology=1x1x1x1' does not match source '(none)'" },
    { "<memory unit='KiB'>1048576</memory>",
      "<memory unit='KiB'>1048576</memory><cputune><vcpupin vcpu='0' cpuset='0'/></cputune>"
      "<memoryBacking><source type='memfd'/></memoryBacking>", NULL },
    { "</os>", "</os><cpu><numa><cell cpus='0' memory='1048576'/></numa></cpu>",
      "target domain CPU 'mode=custom' does not match source '(none)'" },
    { "slot='0x04'", "slot='0x08'",
      "target disk 'vda' address pci 0000:00:08.0 does not match source 0000:00:04.0" },
    { "<target dev='vda' bus='virtio'/>", "<target dev='vdb' bus='virtio'/>",
      "target disk 'vda' target dev 'vdb' does not match source 'vda'" },
    { "<disk type='file' device='disk'>", "<disk type='file' device='cdrom'>",
      "target disk 'vda' device 'cdrom' does not match source 'disk'" },
    { "<target dev='vda' bus='virtio'/>", "<target dev='vda' bus='sata'/>",
      "target disk 'vda' bus 'sata' does not match source 'virtio'" },
    { "<controller type='virtio-serial' index='0'>",
      "<disk type='file' device='disk'><source file='/x'/><target dev='vdz'/></disk>"
      "<controller type='virtio-serial' index='0'>",
      "target domain has 2 disks, source has 1" },
    { "<controller type='virtio-serial' index='0'>",
      "<controller type='virtio-serial' index='0' ports='4'>",
      "target controller 'virtio-serial' index 0 ports 4 does not match source (none)" },
    { "<controller type='virtio-serial' index='0'>\n      <address type='pci' domain='0x0000' "
      "bus='0x00' slot='0x05' function='0x0'/>\n    </controller>", "",
      "target domain has 0 controllers, source has 1" },
    { "<mac address='52:54:00:01:02:03'/>", "<mac address='52:54:00:01:02:04'/>",
      "target interface '52:54:00:01:02:03' MAC '52:54:00:01:02:04' does not match source "
      "'52:54:00:01:02:03'" },
    { "<model type='virtio'/>\n      <address type='pci' domain='0x0000' bus='0x00' slot='0x03'",
      "<model type='e1000'/>\n      <address type='pci' domain='0x0000' bus='0x00' slot='0x03'",
      "target interface '52:54:00:01:02:03' model 'e1000' does not match source 'virtio'" },
    { "<input type='mouse' bus='ps2'/>", "<input type='tablet' bus='usb'/>",
      "target input #0 type 'tablet' does not match source 'mouse'" },
    { "heads='1'", "heads='2'", "target video #0 heads 2 does not match source 1" },
    { "<model type='cirrus'", "<model type='vga'",
      "target video #0 model 'vga' does not match source 'cirrus'" },
    { "<memballoon model='virtio'>", "<memballoon model='none'>",
      "target memballoon #0 model 'none' does not match source 'virtio'" },
    { "</devices>", "<serial type='pty'><target port='0'/></serial></devices>",
      "target domain has 1 serial devices, source has 0" },
    { "</devices>", "<hostdev mode='subsystem' type='pci'/></devices>",
      "target domain has 1 other devices, source has 0" },
    /* features kept verbatim because of their attributes are still compared */
    { "<apic/>", "<apic eoi='on'/>",
      "target domain features 'acpi <apic eoi='on'/>' does not match source 'acpi apic'" },
    { "<apic/>", "<apic>\n    </apic>", NULL },
    { "<apic/>", "<apic/><pae/>",
      "target domain features 'acpi apic pae' does not match source 'acpi apic'" },
    { "<apic/>", "<apic/><hyperv mode='custom'><relaxed state='on'/></hyperv>",
      "target domain features 'acpi apic <hyperv mode='custom'><relaxed state='on'/></hyperv>' "
      "does not match source 'acpi apic'" },
    /* the disk's type and source are host side; its target, bus and address are not */
    { "<disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n"
      "      <source file='/img/i440fx.qcow2'/>",
      "<disk type='network' device='disk'>\n      <driver name='qemu' type='raw'/>\n"
      "      <source protocol='rbd' name='pool/img'><host name='mon1' port='6789'/></source>",
      NULL },
    { "<disk type='file' device='disk'>", "<disk type='volume' device='disk'>", NULL },
    /* a MAC QEMU would pick is not the MAC the source has */
    { "<mac address='52:54:00:01:02:03'/>", "",
      "target interface '52:54:00:01:02:03' MAC '(none)' does not match source "
      "'52:54:00:01:02:03'" },
    /* the uuid names the domain a restore or migration lands in (and the guest sees it) */
    { "<uuid>dddddddd-eeee-4fff-8000-111111111111</uuid>",
      "<uuid>dddddddd-eeee-4fff-8000-222222222222</uuid>",
      "target domain uuid dddddddd-eeee-4fff-8000-222222222222 does not match source "
      "dddddddd-eeee-4fff-8000-111111111111" },
    { "<name>i440fx-implicit</name>\n  <uuid>dddddddd-eeee-4fff-8000-111111111111</uuid>",
      "<name>other</name>\n  <uuid>dddddddd-eeee-4fff-8000-333333333333</uuid>",
      "target domain uuid dddddddd-eeee-4fff-8000-333333333333 does not match source "
      "dddddddd-eeee-4fff-8000-111111111111" },
};

static void
test_identical(void)
{
    g_autoptr(VbDomainDef) a = vb_domain_def_parse_string(base_xml, 0, NULL);
    g_autoptr(VbDomainDef) b = vb_domain_def_parse_string(base_xml, 0, NULL);
    g_autoptr(GError) error = NULL;

    g_assert_nonnull(a);
    g_assert_true(vb_domain_def_check_abi_stability(a, b, &error));
    g_assert_no_error(error);
}

/* a missing MAC is compared the same way from either side */
static void
test_missing_mac(void)
{
    g_autofree char *no_mac = replace_once(base_xml, "<mac address='52:54:00:01:02:03'/>", "");
    g_autoptr(VbDomainDef) with = vb_domain_def_parse_string(base_xml, 0, NULL);
    g_autoptr(VbDomainDef) without = vb_domain_def_parse_string(no_mac, 0, NULL);
    g_autoptr(VbDomainDef) without2 = vb_domain_def_parse_string(no_mac, 0, NULL);
    g_autoptr(GError) error = NULL;

    g_assert_nonnull(with);
    g_assert_nonnull(without);
    g_assert_true(vb_domain_def_check_abi_stability(without, without2, &error));
    g_assert_no_error(error);
    g_assert_false(vb_domain_def_check_abi_stability(without, with, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_ABI_MISMATCH);
    g_assert_cmpstr(error->message, ==,
                    "target interface #0 MAC '52:54:00:01:02:03' does not match source '(none)'");
    g_clear_error(&error);
    g_assert_false(vb_domain_def_check_abi_stability(with, without, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_ABI_MISMATCH);
    g_assert_cmpstr(error->message, ==,
                    "target interface '52:54:00:01:02:03' MAC '(none)' does not match source "
                    "'52:54:00:01:02:03'");
}

static void
test_mutation(gconstpointer data)
{
    const Mutation *m = data;
    g_autofree char *xml = replace_once(base_xml, m->from, m->to);
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) src = vb_domain_def_parse_string(base_xml, 0, &error);
    g_autoptr(VbDomainDef) dst = vb_domain_def_parse_string(xml, 0, &error);
    gboolean ok;

    g_assert_no_error(error);
    ok = vb_domain_def_check_abi_stability(src, dst, &error);
    if (m->message == NULL) {
        g_assert_no_error(error);
        g_assert_true(ok);
        return;
    }
    g_assert_false(ok);
    g_assert_error(error, VB_ERROR, VB_ERROR_ABI_MISMATCH);
    g_assert_cmpstr(error->message, ==, m->message);
}

int
main(int argc, char **argv)
{
    g_autofree char *path = NULL;

    g_test_init(&argc, &argv, NULL);
    path = g_build_filename(g_getenv("VB_TEST_DATA"), "domain-xml", "i440fx-implicit.xml",
                            NULL);
    g_assert_true(g_file_get_contents(path, &base_xml, NULL, NULL));
    g_test_add_func("/conf/abi/identical-is-compatible", test_identical);
    g_test_add_func("/conf/abi/missing-mac-matches-only-missing", test_missing_mac);
    for (guint i = 0; i < G_N_ELEMENTS(mutations); i++) {
        g_autofree char *name = g_strdup_printf("/conf/abi/mutation-%02u-%s", i,
                                                mutations[i].message ? "rejected" : "accepted");
        g_test_add_data_func(name, &mutations[i], test_mutation);
    }
    int ret = g_test_run();
    g_free(base_xml);
    return ret;
}
