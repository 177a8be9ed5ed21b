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

static const char *const audiodevs[] = { "none", "alsa", "dbus", "oss", "sndio", "spice",
                                         "wav", NULL };
static const char *const devices[] = {
    "pcie-root-port", "pci-bridge", "piix3-usb-uhci", "piix4-usb-uhci", "qemu-xhci",
    "nec-usb-xhci", "ich9-usb-ehci1", "virtio-serial-pci", "virtio-scsi-pci", "lsi53c895a",
    "ich9-ahci", "isa-fdc", "floppy", "ide-hd", "ide-cd", "scsi-hd", "scsi-cd", "scsi-block",
    "usb-storage", "usb-serial",
    "virtio-blk-pci", "virtio-net-pci", "e1000", "e1000e", "rtl8139", "isa-serial",
    "pci-serial", "virtconsole", "virtserialport", "usb-tablet", "usb-mouse", "usb-kbd",
    "virtio-tablet-pci", "virtio-mouse-pci", "virtio-keyboard-pci", "VGA", "virtio-vga",
    "virtio-gpu-pci", "qxl-vga", "qxl", "bochs-display", "cirrus-vga", "ramfb", "i6300esb",
    "ib700", "virtio-balloon-pci", "virtio-balloon-pci-transitional", "virtio-rng-pci",
    "pvpanic", "pvpanic-pci", "AC97", "ES1370", "intel-hda", "ich9-intel-hda", "hda-duplex",
    "hda-micro", "hda-output", "sb16", "usb-audio", "usb-redir", "usb-ccid",
    "ccid-card-passthru", "ccid-card-emulated", "isa-debugcon", "virtio-input-host-pci",
    "pvpanic", "pvpanic-pci", "ich9-usb-uhci1", "ich9-usb-uhci2", "ich9-usb-uhci3",
    "pcie-pci-bridge", "i82801b11-bridge", "x3130-upstream", "xio3130-downstream", "pxb",
    "pxb-pcie", "pci-ohci",
    /* issue 10, part helpers */
    "tpm-tis", "tpm-crb", "virtio-9p-pci", "vhost-user-fs-pci",
    /* deliberately absent: vmxnet3 (tests the "QEMU lacks a device" error) */
    NULL
};

/* query-cpu-definitions and the expansion of "max" of QEMU 7.2 under TCG (a subset of
 * the models) */
static const char *const tcg_cpu_models[][2] = {
    { "max", "" },
    { "base", "" },
    { "qemu64", "" },
    { "qemu32", "" },
    { "kvm64", "" },
    { "core2duo", "" },
    { "Penryn", "" },
    { "Nehalem", "" },
    { "Westmere", "" },
    { "Opteron_G3", "misalignsse" },
    { "SandyBridge", "x2apic tsc-deadline" },
    { "Haswell-noTSX", "pcid x2apic tsc-deadline invpcid" },
    { "Skylake-Client", "pcid x2apic tsc-deadline hle invpcid rtm rdseed 3dnowprefetch xsavec" },
    { "EPYC", "rdseed sha-ni fxsr-opt misalignsse 3dnowprefetch osvw topoext nrip-save xsavec" },
};

static const char *const tcg_cpu_features[] = {
    "3dnow", "3dnowext", "abm", "acpi", "adx", "aes", "apic", "arat", "avx", "avx2", "bmi1",
    "bmi2", "check", "clflush", "clflushopt", "clwb", "cmov", "cpuid-0xb", "cr8legacy", "cx16",
    "cx8", "de", "erms", "f16c", "fill-mtrr-mask", "fma", "fpu", "fsgsbase",
    "full-cpuid-auto-level", "fxsr", "hypervisor", "i64", "kvm", "l3-cache", "la57", "lahf-lm",
    "lahf_lm", "legacy-cache", "lm", "mca", "mce", "migratable", "mmx", "mmxext", "monitor",
    "movbe", "mpx", "msr", "mtrr", "npt", "nx", "pae", "pat", "pclmuldq", "pclmulqdq",
    "pcommit", "pdpe1gb", "pge", "pks", "pku", "pmu", "pni", "popcnt", "pse", "pse36", "rdrand",
    "rdtscp", "sep", "smap", "smep", "ss", "sse", "sse2", "sse3", "sse4-1", "sse4-2", "sse4.1",
    "sse4.2", "sse4_1", "sse4_2", "sse4a", "ssse3", "svm", "svme-addr-chk", "syscall",
    "tcg-cpuid", "tsc", "umip", "vaes", "vgif", "vmware-cpuid-freq", "x-intel-pt-auto-level",
    "x-migrate-smi-count", "x-vendor-cpuid-only", "xd", "xgetbv1", "xsave", "xsaveopt", NULL
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
    /* Debian's 7.2 without qemu-system-gui: pa, sdl, jack and coreaudio are absent */
    caps->audiodevs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; audiodevs[i] != NULL; i++)
        g_hash_table_add(caps->audiodevs, g_strdup(audiodevs[i]));
    caps->kvm_available = kvm;
    caps->tcg_available = TRUE;
    caps->sandbox = TRUE;
    caps->tcg_cpu_models = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (guint i = 0; i < G_N_ELEMENTS(tcg_cpu_models); i++)
        g_hash_table_insert(caps->tcg_cpu_models, g_strdup(tcg_cpu_models[i][0]),
                            g_strdup(tcg_cpu_models[i][1]));
    caps->tcg_cpu_features = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; tcg_cpu_features[i] != NULL; i++)
        g_hash_table_add(caps->tcg_cpu_features, g_strdup(tcg_cpu_features[i]));
    return caps;
}

void
test_caps_free(VbQemuCaps *caps)
{
    g_free(caps->binary);
    g_free(caps->arch);
    g_ptr_array_unref(caps->machines);
    g_hash_table_unref(caps->devices);
    g_hash_table_unref(caps->tcg_cpu_models);
    g_hash_table_unref(caps->tcg_cpu_features);
    g_hash_table_unref(caps->audiodevs);
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
