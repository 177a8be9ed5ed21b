/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A hand-made VbQemuCaps for QEMU 7.2 x86_64 (what `qemu-system-x86_64 -machine help` and
 * `-device help` list on Debian 12), so the golden tests never probe a binary. It also
 * provides the two caps look-ups the builder calls, so the test links without qemu-caps.c:
 * they follow the contract in qemu-caps.h.
 */
#include "config.h"

#include <string.h>

#include "test-caps.h"

static const char *const devices[] = {
    "pcie-root-port", "pci-bridge", "piix3-usb-uhci", "piix4-usb-uhci", "qemu-xhci",
    "nec-usb-xhci", "ich9-usb-ehci1", "virtio-serial-pci", "virtio-scsi-pci", "lsi53c895a",
    "ich9-ahci", "isa-fdc", "floppy", "ide-hd", "ide-cd", "scsi-hd", "scsi-cd",
    "virtio-blk-pci", "virtio-net-pci", "e1000", "e1000e", "rtl8139", "isa-serial",
    "pci-serial", "virtconsole", "virtserialport", "usb-tablet", "usb-mouse", "usb-kbd",
    "virtio-tablet-pci", "virtio-mouse-pci", "virtio-keyboard-pci", "VGA", "virtio-vga",
    "virtio-gpu-pci", "qxl-vga", "qxl", "bochs-display", "cirrus-vga", "ramfb", "i6300esb",
    "ib700", "virtio-balloon-pci", "virtio-balloon-pci-transitional", "virtio-rng-pci",
    "pvpanic", "pvpanic-pci", "ich9-usb-uhci1", "ich9-usb-uhci2", "ich9-usb-uhci3",
    "pcie-pci-bridge", "i82801b11-bridge", "x3130-upstream", "xio3130-downstream", "pxb",
    "pxb-pcie", "pci-ohci",
    /* deliberately absent: vmxnet3 (tests the "QEMU lacks a device" error) */
    NULL
};

static void
machine_free(VbQemuMachine *m)
{
    g_free(m->name);
    g_free(m->alias);
    g_free(m);
}

static void
add_machine(VbQemuCaps *caps, const char *name, const char *alias, gboolean is_default)
{
    VbQemuMachine *m = g_new0(VbQemuMachine, 1);

    m->name = g_strdup(name);
    m->alias = g_strdup(alias);
    m->is_default = is_default;
    m->max_cpus = 255;
    g_ptr_array_add(caps->machines, m);
}

VbQemuCaps *
test_caps_new(gboolean kvm)
{
    VbQemuCaps *caps = g_new0(VbQemuCaps, 1);

    caps->refcount = 1;
    caps->binary = g_strdup("/usr/bin/qemu-system-x86_64");
    caps->arch = g_strdup("x86_64");
    caps->version = 7002000;
    caps->machines = g_ptr_array_new_with_free_func((GDestroyNotify)machine_free);
    add_machine(caps, "pc-i440fx-7.2", "pc", TRUE);
    add_machine(caps, "pc-q35-7.2", "q35", FALSE);
    add_machine(caps, "pc-i440fx-6.2", NULL, FALSE);
    add_machine(caps, "pc-q35-6.2", NULL, FALSE);
    caps->devices = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; devices[i] != NULL; i++)
        g_hash_table_add(caps->devices, g_strdup(devices[i]));
    caps->kvm_available = kvm;
    return caps;
}

void
test_caps_free(VbQemuCaps *caps)
{
    g_free(caps->binary);
    g_free(caps->arch);
    g_ptr_array_unref(caps->machines);
    g_hash_table_unref(caps->devices);
    g_free(caps);
}

gboolean
vb_qemu_caps_has_device(const VbQemuCaps *caps, const char *device)
{
    return caps->devices != NULL && g_hash_table_contains(caps->devices, device);
}

const VbQemuMachine *
vb_qemu_caps_find_machine(const VbQemuCaps *caps, const char *name)
{
    for (guint i = 0; i < caps->machines->len; i++) {
        const VbQemuMachine *m = g_ptr_array_index(caps->machines, i);

        if (name == NULL ? m->is_default
                         : (strcmp(m->name, name) == 0 || g_strcmp0(m->alias, name) == 0))
            return m;
    }
    return NULL;
}
