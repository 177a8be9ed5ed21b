/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the conf/ helpers: uuid, names, memory units, enums, format flags. */
#include "config.h"

#include <string.h>

#include "domain-def.h"
#include "domain-def-cpu.h"
#include "vb-error.h"

static char *
load(const char *name)
{
    g_autofree char *path = g_build_filename(g_getenv("VB_TEST_DATA"), "domain-xml", name,
                                             NULL);
    char *xml = NULL;

    g_assert_true(g_file_get_contents(path, &xml, NULL, NULL));
    return xml;
}

static VbDomainDef *
parse_file(const char *name)
{
    g_autofree char *xml = load(name);
    g_autoptr(GError) error = NULL;
    VbDomainDef *def = vb_domain_def_parse_string(xml, 0, &error);

    g_assert_no_error(error);
    return def;
}

static void
test_uuid_roundtrip(void)
{
    unsigned char u[16], v[16];
    char s[37];

    g_assert_true(vb_uuid_parse("5B7A9C3E-2F4D-4C1B-9A8E-0D6F1E2A3B4C", u));
    vb_uuid_format(u, s);
    g_assert_cmpstr(s, ==, "5b7a9c3e-2f4d-4c1b-9a8e-0d6f1e2a3b4c");
    g_assert_true(vb_uuid_parse("5b7a9c3e2f4d4c1b9a8e0d6f1e2a3b4c", v));
    g_assert_cmpmem(u, 16, v, 16);
    g_assert_cmpuint(u[0], ==, 0x5b);
    g_assert_cmpuint(u[15], ==, 0x4c);
}

static void
test_uuid_invalid(void)
{
    const char *bad[] = { "",
                          "5b7a9c3e",
                          "5b7a9c3e-2f4d-4c1b-9a8e-0d6f1e2a3b4",
                          "zz7a9c3e-2f4d-4c1b-9a8e-0d6f1e2a3b4c",
                          "5b7a9c3e-2f4d-4c1b-9a8e-0d6f1e2a3b4c0",
                          "-5b7a9c3e2f4d4c1b9a8e0d6f1e2a3b4c" };
    unsigned char u[16];

    memset(u, 0xaa, 16);
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(vb_uuid_parse(bad[i], u));
        g_assert_cmpuint(u[0], ==, 0xaa); /* untouched on failure */
    }
}

static void
test_uuid_generate(void)
{
    unsigned char a[16], b[16];
    char s[37];
    unsigned char back[16];

    vb_uuid_generate(a);
    vb_uuid_generate(b);
    g_assert_true(memcmp(a, b, 16) != 0);
    vb_uuid_format(a, s);
    g_assert_cmpuint(strlen(s), ==, 36);
    g_assert_true(vb_uuid_parse(s, back));
    g_assert_cmpmem(a, 16, back, 16);
}

static void
test_uuid_generated_when_absent(void)
{
    const char *xml = "<domain type='qemu'><name>n</name><memory>1024</memory>"
                      "<os><type>hvm</type></os></domain>";
    g_autoptr(VbDomainDef) a = vb_domain_def_parse_string(xml, 0, NULL);
    g_autoptr(VbDomainDef) b = vb_domain_def_parse_string(xml, 0, NULL);
    static const unsigned char zero[16];

    g_assert_nonnull(a);
    g_assert_nonnull(b);
    g_assert_true(memcmp(a->uuid, zero, 16) != 0);
    g_assert_true(memcmp(a->uuid, b->uuid, 16) != 0);
}

static void
test_name_validate(void)
{
    g_autofree char *long_name = g_strnfill(256, 'a');
    g_autofree char *max_name = g_strnfill(255, 'a');
    const char *bad[] = { "", "a/b", ".x", "..", long_name };
    const char *good[] = { "vm1", "my vm", "a.b", "x-y_z", "ünïcode", max_name };

    for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(GError) error = NULL;
        g_assert_true(vb_domain_def_name_validate(good[i], &error));
        g_assert_no_error(error);
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_assert_false(vb_domain_def_name_validate(bad[i], &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    }
    g_assert_false(vb_domain_def_name_validate(NULL, NULL));
}

static void
test_memory_units(void)
{
    struct {
        const char *value, *unit;
        guint64 kib;
    } cases[] = {
        { "1024", NULL, 1024 },
        { "1024", "", 1024 },
        { "1", "KiB", 1 },
        { "1", "k", 1 },
        { "1", "K", 1 },
        { "2048", "b", 2 },
        { "2049", "bytes", 3 }, /* bytes round up */
        { "1", "b", 1 },
        { "1000", "KB", 977 }, /* 1000000 bytes */
        { "1", "M", 1024 },
        { "1", "MiB", 1024 },
        { "1", "MB", 977 },
        { "3", "G", 3 * 1024 * 1024 },
        { "1", "GiB", 1024 * 1024 },
        { "1", "GB", 976563 },
        { "1", "T", G_GUINT64_CONSTANT(1024) * 1024 * 1024 },
        { "1", "TiB", G_GUINT64_CONSTANT(1024) * 1024 * 1024 },
        { " 42 ", "KiB", 42 },
    };
    const char *bad_units[] = { "parsecs", "kb", "Mb", "MiBs", "x" };
    const char *bad_values[] = { "", "abc", "-1", "1.5", "12x" };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        guint64 kib = 0;
        g_autoptr(GError) error = NULL;
        g_assert_true(vb_domain_memory_parse_kib(cases[i].value, cases[i].unit, &kib, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(kib, ==, cases[i].kib);
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad_units); i++) {
        guint64 kib = 7;
        g_autoptr(GError) error = NULL;
        g_assert_false(vb_domain_memory_parse_kib("1", bad_units[i], &kib, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        g_assert_cmpuint(kib, ==, 7);
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad_values); i++) {
        guint64 kib = 7;
        g_assert_false(vb_domain_memory_parse_kib(bad_values[i], "KiB", &kib, NULL));
    }
    g_assert_false(vb_domain_memory_parse_kib("99999999999", "EiB", &(guint64){ 0 }, NULL));
}

static void
test_memory_in_xml(void)
{
    g_autoptr(VbDomainDef) def = parse_file("units.xml");

    g_assert_cmpuint(def->max_memory_kib, ==, 4 * 1024 * 1024);
    g_assert_cmpuint(def->current_memory_kib, ==, 1024 * 1024 + 1);
    g_assert_cmpuint(def->vcpus_max, ==, 8);
    g_assert_cmpuint(def->vcpus_current, ==, 2);
}

static void
test_virt_type_enum(void)
{
    for (int i = 0; i < VB_DOMAIN_VIRT_LAST; i++) {
        const char *s = vb_domain_virt_type_to_string(i);
        g_assert_nonnull(s);
        g_assert_cmpint(vb_domain_virt_type_from_string(s), ==, i);
    }
    g_assert_null(vb_domain_virt_type_to_string(VB_DOMAIN_VIRT_LAST));
    g_assert_cmpint(vb_domain_virt_type_from_string("xen"), ==, -1);
    g_assert_cmpint(vb_domain_virt_type_from_string(NULL), ==, -1);
}

static VbDomainDef *
aligned_memory(const char *xml)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) def = vb_domain_def_parse_string(xml, 0, &error);
    VbDomainDef *out;

    g_assert_no_error(error);
    out = vb_domain_def_with_aligned_memory(def, &error);
    g_assert_no_error(error);
    return out;
}

static void
assert_in(const char *xml, const char *needle)
{
    if (strstr(xml, needle) == NULL)
        g_error("'%s' not found in:\n%s", needle, xml);
}

/* a new start's memory sizes, as libvirt's qemuDomainAlignMemorySizes(): NUMA cells and the
 * initial memory to 1 MiB, memory devices to 2 MiB, <maxMemory> to 1 MiB */
static void
test_memory_aligned_for_start(void)
{
    g_autoptr(VbDomainDef) numa = aligned_memory(
        "<domain type='qemu'><name>n</name><memory>219100</memory><vcpu>2</vcpu>"
        "<maxMemory slots='4' unit='KiB'>4194303</maxMemory>"
        "<cpu><numa><cell id='0' cpus='0' memory='109550' unit='KiB'/>"
        "<cell id='1' cpus='1' memory='107' unit='MiB'/></numa></cpu>"
        "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
        "<memory model='dimm'><target><size unit='KiB'>131073</size><node>0</node></target>"
        "</memory></devices></domain>");
    g_autoptr(VbDomainDef) plain = aligned_memory(
        "<domain type='qemu'><name>p</name><memory>100001</memory>"
        "<currentMemory>90000</currentMemory>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>");
    g_autoptr(VbDomainDef) whole = aligned_memory(
        "<domain type='qemu'><name>w</name><memory unit='MiB'>128</memory>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>");
    g_autofree char *x = NULL;

    g_assert_nonnull(numa);
    x = vb_domain_def_format(numa, VB_DOMAIN_DEF_FORMAT_SECURE, NULL);
    /* 109550 KiB -> 109568 (107 MiB), 107 MiB stays; the dimm 131073 -> 133120 (130 MiB) */
    assert_in(x, "<cell id='0' cpus='0' memory='109568' unit='KiB'/>");
    assert_in(x, "<cell id='1' cpus='1' memory='109568' unit='KiB'/>");
    assert_in(x, "<size unit='KiB'>133120</size>");
    assert_in(x, "<maxMemory slots='4' unit='KiB'>4194304</maxMemory>");
    g_assert_cmpuint(numa->max_memory_kib, ==, 2 * 109568 + 133120);
    g_assert_cmpuint(numa->current_memory_kib, ==, numa->max_memory_kib);
    /* without NUMA: the initial memory up; a balloon target stays */
    g_assert_nonnull(plain);
    g_assert_cmpuint(plain->max_memory_kib, ==, 100352);
    g_assert_cmpuint(plain->current_memory_kib, ==, 90000);
    /* whole MiB: nothing changes */
    g_assert_null(whole);
}

/* libvirt's other hypervisors' domain types are NotSupported, naming the type; a type
 * libvirt does not know either is bad XML */
static void
test_other_hypervisor_types(void)
{
    static const char *const types[] = { "xen", "lxc", "hvf", "vbox", "kqemu", NULL };

    for (guint i = 0; types[i] != NULL; i++) {
        g_autofree char *xml = g_strdup_printf("<domain type='%s'><name>x</name><memory>65536"
                                               "</memory><os><type>hvm</type></os></domain>",
                                               types[i]);
        g_autofree char *want = g_strdup_printf("domain type '%s' is not supported", types[i]);
        g_autoptr(GError) error = NULL;
        g_autoptr(VbDomainDef) def = vb_domain_def_parse_string(xml, 0, &error);

        g_assert_null(def);
        g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
        g_assert_nonnull(strstr(error->message, want));
    }
}

static void
test_contract_fields(void)
{
    g_autoptr(VbDomainDef) def = parse_file("metadata-title.xml");
    g_auto(GStrv) disks = NULL;
    char uuid[37];

    g_assert_cmpstr(def->name, ==, "metadata-title");
    g_assert_cmpstr(def->title, ==, "A short title & more");
    g_assert_true(g_str_has_prefix(def->description, "First line"));
    vb_uuid_format(def->uuid, uuid);
    g_assert_cmpstr(uuid, ==, "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff");
    g_assert_cmpuint(def->max_memory_kib, ==, 1048576);
    g_assert_cmpuint(def->current_memory_kib, ==, 524288);
    g_assert_cmpint(def->virt_type, ==, VB_DOMAIN_VIRT_KVM);
    g_assert_cmpuint(def->unknown_elements->len, ==, 0);
    g_assert_cmpstr(vb_domain_def_get_machine(def), ==, "pc-q35-7.2");
    g_assert_cmpstr(vb_domain_def_get_arch(def), ==, "x86_64");
    disks = vb_domain_def_get_disk_targets(def);
    g_assert_cmpuint(g_strv_length(disks), ==, 0);
}

static void
test_accessors(void)
{
    g_autoptr(VbDomainDef) def = parse_file("unordered.xml");
    g_auto(GStrv) disks = vb_domain_def_get_disk_targets(def);
    g_auto(GStrv) macs = vb_domain_def_get_interface_macs(def);

    g_assert_cmpuint(g_strv_length(disks), ==, 1);
    g_assert_cmpstr(disks[0], ==, "vda");
    g_assert_cmpuint(g_strv_length(macs), ==, 1);
    g_assert_cmpstr(macs[0], ==, "52:54:00:ab:cd:ef"); /* canonical lowercase */
    g_assert_cmpstr(vb_domain_def_get_emulator(def), ==, "/usr/bin/qemu-system-x86_64");
}

static void
test_unknown_elements_listed(void)
{
    g_autoptr(VbDomainDef) def = parse_file("q35-virsh-dumpxml.xml");
    /* <resource> is read since issue 14 (part cgroup): kept, not unknown */
    const char *expected[] = { "sysinfo", "pm", "seclabel", "tpm", "audio", "redirdev" };
    g_autofree char *out = vb_domain_def_format(def, 0, NULL);

    for (guint i = 0; i < G_N_ELEMENTS(expected); i++) {
        gboolean found = FALSE;
        g_autofree char *open = g_strdup_printf("<%s", expected[i]);
        for (guint j = 0; j < def->unknown_elements->len; j++)
            found |= g_strcmp0(g_ptr_array_index(def->unknown_elements, j), expected[i]) == 0;
        g_assert_true(found);
        /* and written back */
        g_assert_nonnull(strstr(out, open));
    }
    /* seclabel stays after devices, resource before os */
    g_assert_true(strstr(out, "<seclabel") > strstr(out, "</devices>"));
    g_assert_true(strstr(out, "<resource>") < strstr(out, "<os>"));
    g_assert_true(strstr(out, "<sysinfo") < strstr(out, "<os>"));
    g_assert_true(strstr(out, "<pm>") > strstr(out, "<on_crash>"));
}

static void
test_secure_flag(void)
{
    g_autoptr(VbDomainDef) def = parse_file("graphics-vnc.xml");
    g_autofree char *secure = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, NULL);
    g_autofree char *plain = vb_domain_def_format(def, 0, NULL);

    g_assert_nonnull(strstr(secure, "passwd='s3cret'"));
    g_assert_null(strstr(plain, "passwd"));
    g_assert_null(strstr(plain, "s3cret"));
}

static void
test_inactive_flags(void)
{
    g_autoptr(VbDomainDef) def = parse_file("q35-virsh-dumpxml.xml");
    g_autofree char *live = vb_domain_def_format(def, 0, NULL);
    g_autofree char *inactive = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_INACTIVE, NULL);
    g_autofree char *xml = load("q35-virsh-dumpxml.xml");
    g_autoptr(VbDomainDef) def2 = vb_domain_def_parse_string(xml, VB_DOMAIN_DEF_PARSE_INACTIVE,
                                                             NULL);
    g_autofree char *parsed_inactive = vb_domain_def_format(def2, 0, NULL);

    g_assert_true(g_str_has_prefix(live, "<domain type='kvm' id='3'>"));
    g_assert_true(g_str_has_prefix(inactive, "<domain type='kvm'>"));
    g_assert_true(g_str_has_prefix(parsed_inactive, "<domain type='kvm'>"));
}

static void
test_migratable(gconstpointer data)
{
    const char *file = data;
    g_autoptr(VbDomainDef) def = parse_file(file);
    g_autofree char *full = vb_domain_def_format(def, 0, NULL);
    g_autofree char *mig = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_MIGRATABLE, NULL);
    g_autoptr(VbDomainDef) back = NULL;
    g_autoptr(GError) error = NULL;

    if (g_str_has_prefix(file, "i440fx")) {
        /* implicit: usb piix3-uhci 0, pci-root 0, ide 0; explicit: virtio-serial 0 */
        g_assert_nonnull(strstr(full, "<controller type='usb' index='0'"));
        g_assert_null(strstr(mig, "<controller type='usb'"));
        g_assert_null(strstr(mig, "<controller type='pci'"));
        g_assert_null(strstr(mig, "<controller type='ide'"));
        g_assert_nonnull(strstr(mig, "<controller type='virtio-serial' index='0'>"));
    } else {
        /* q35: pcie-root 0 and sata 0 dropped; usb (qemu-xhci), root ports kept */
        g_assert_nonnull(strstr(full, "model='pcie-root'"));
        g_assert_null(strstr(mig, "model='pcie-root'"));
        g_assert_null(strstr(mig, "<controller type='sata'"));
        g_assert_nonnull(strstr(mig, "<controller type='usb' index='0' model='qemu-xhci'"));
        g_assert_nonnull(strstr(mig, "model='pcie-root-port'"));
    }
    g_assert_cmpuint(strlen(mig), <, strlen(full));
    back = vb_domain_def_parse_string(mig, 0, &error);
    g_assert_no_error(error);
    g_assert_true(vb_domain_def_check_abi_stability(def, back, &error));
    g_assert_no_error(error);
    g_assert_true(vb_domain_def_check_abi_stability(back, def, &error));
    g_assert_no_error(error);
}

static void
test_migratable_keeps_explicit(void)
{
    /* a usb controller with a non-default model or address is not implicit */
    g_autoptr(VbDomainDef) def = parse_file("controllers.xml");
    g_autofree char *mig = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_MIGRATABLE, NULL);

    g_assert_nonnull(strstr(mig, "<controller type='usb' index='0' model='qemu-xhci'"));
    g_assert_nonnull(strstr(mig, "<controller type='sata' index='0'>"));
    /* pci-root on a pc machine is dropped */
    g_assert_null(strstr(mig, "model='pci-root'"));
}

static VbDomainDef *
parse_with_devices(const char *devices, GError **error)
{
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>d</name><memory>131072</memory>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices>%s</devices></domain>",
        devices);

    return vb_domain_def_parse_string(xml, 0, error);
}

static void
test_listen_address(void)
{
    static const char *const good[] = { "0.0.0.0", "127.0.0.1", "::", "::1", "fe80::1%eth0",
                                        "::ffff:10.0.0.1", "localhost", "vb-host.example.",
                                        "h1.example.com", NULL };
    static const char *const bad[] = { "", "127.0.0.1,to=99", "websocket=5700", "[::1]",
                                       "-host", "host-", "fe80::1%e,th0", "fe80::1%",
                                       "1.2.3.4 ", "a..b", "host_name", "h\"x", NULL };

    for (guint i = 0; good[i] != NULL; i++) {
        g_autofree char *attr = g_strdup_printf("<graphics type='vnc' listen='%s'/>", good[i]);
        g_autofree char *child = g_strdup_printf(
            "<graphics type='spice'><listen type='address' address='%s'/></graphics>", good[i]);
        g_autoptr(GError) error = NULL;
        g_autoptr(VbDomainDef) a = parse_with_devices(attr, &error);
        g_autoptr(VbDomainDef) b = NULL;

        g_assert_no_error(error);
        b = parse_with_devices(child, &error);
        g_assert_no_error(error);
    }
    for (guint i = 0; bad[i] != NULL; i++) {
        g_autofree char *attr = g_strdup_printf("<graphics type='vnc' listen='%s'/>", bad[i]);
        g_autofree char *child = g_strdup_printf(
            "<graphics type='spice'><listen type='address' address='%s'/></graphics>", bad[i]);
        g_autofree char *want = g_strdup_printf("invalid listen address '%s'", bad[i]);
        g_autoptr(GError) e1 = NULL;
        g_autoptr(GError) e2 = NULL;
        g_autoptr(VbDomainDef) a = parse_with_devices(attr, &e1);
        g_autoptr(VbDomainDef) b = parse_with_devices(child, &e2);

        g_assert_null(a);
        g_assert_error(e1, VB_ERROR, VB_ERROR_INVALID_ARG);
        g_assert_nonnull(strstr(e1->message, want));
        g_assert_null(b);
        g_assert_error(e2, VB_ERROR, VB_ERROR_INVALID_ARG);
        g_assert_nonnull(strstr(e2->message, want));
    }
}

/* a <video> without <model> gets libvirt's default for the architecture, written back */
static void
test_video_default_model(void)
{
    static const char *const cases[][2] = {
        { "x86_64", "cirrus" }, { "i686", "cirrus" }, { "aarch64", "virtio" },
        { "s390x", "virtio" }, { "ppc64le", "vga" }, { NULL, "cirrus" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *arch = cases[i][0] ? g_strdup_printf(" arch='%s'", cases[i][0])
                                            : g_strdup("");
        g_autofree char *xml = g_strdup_printf(
            "<domain type='qemu'><name>d</name><memory>131072</memory>"
            "<os><type%s>hvm</type></os><devices><video/></devices></domain>", arch);
        g_autofree char *want = g_strdup_printf("<model type='%s'/>", cases[i][1]);
        g_autoptr(GError) error = NULL;
        g_autoptr(VbDomainDef) def = vb_domain_def_parse_string(xml, 0, &error);
        g_autofree char *out = NULL;

        g_assert_no_error(error);
        out = vb_domain_def_format(def, 0, &error);
        g_assert_no_error(error);
        g_assert_nonnull(strstr(out, want));
    }
}

/* <cpu>, NUMA, <memoryBacking>, iothreads and <cputune> are read into the resources view
 * (issue 10, part cpu) while the XML itself round-trips unchanged */
static void
test_resources_view(void)
{
    g_autoptr(VbDomainDef) def = parse_file("cpu-numa-tuning.xml");
    const VbDomainResources *r = vb_domain_def_get_resources(def);
    const VbCpuFeature *f;
    const VbNumaCell *cell;
    const VbPin *pin;
    guint ids[3];
    g_autofree char *cpus = NULL;

    g_assert_true(r->cpu.present);
    g_assert_cmpstr(r->cpu.mode, ==, "custom");
    g_assert_cmpstr(r->cpu.check, ==, "partial");
    g_assert_cmpstr(r->cpu.model, ==, "Skylake-Client-IBRS");
    g_assert_cmpstr(r->cpu.fallback, ==, "forbid");
    g_assert_cmpstr(r->cpu.vendor_id, ==, "GenuineIntel");
    g_assert_cmpstr(r->cpu.vendor, ==, "Intel");
    g_assert_true(r->cpu.has_topology);
    g_assert_cmpuint(r->cpu.sockets * r->cpu.dies * r->cpu.cores * r->cpu.threads, ==, 8);
    g_assert_cmpuint(r->cpu.features->len, ==, 5);
    f = g_ptr_array_index(r->cpu.features, 3);
    g_assert_cmpstr(f->name, ==, "pcid");
    g_assert_cmpstr(f->policy, ==, "force");
    /* <cache>, <maxphysaddr>, <interconnects> are read by nothing: listed */
    g_assert_cmpuint(r->cpu.not_acted_on->len, ==, 3);
    g_assert_cmpuint(r->cpu.cells->len, ==, 2);
    cell = g_ptr_array_index(r->cpu.cells, 0);
    g_assert_cmpstr(cell->mem_access, ==, "shared");
    g_assert_cmpstr(cell->discard, ==, "yes");
    g_assert_cmpuint(cell->memory_kib, ==, 2097152);
    g_assert_cmpuint(cell->distances->len, ==, 2);
    g_assert_cmpuint(g_array_index(cell->distances, VbNumaDistance, 1).value, ==, 21);
    g_assert_cmpstr(cell->not_acted_on, ==, "<cache>");
    cpus = vb_cpuset_format(cell->cpu_list);
    g_assert_cmpstr(cpus, ==, "0-3");
    /* NUMA cells give the memory */
    g_assert_cmpuint(def->max_memory_kib, ==, 4194304);
    g_assert_true(r->backing.present && r->backing.hugepages && r->backing.locked &&
                  r->backing.nosharepages && r->backing.discard);
    g_assert_cmpstr(r->backing.source_type, ==, "memfd");
    g_assert_cmpstr(r->backing.access_mode, ==, "shared");
    g_assert_cmpstr(r->backing.alloc_mode, ==, "immediate");
    g_assert_cmpuint(r->backing.alloc_threads, ==, 8);
    g_assert_cmpuint(r->backing.pages->len, ==, 2);
    /* <iothreadids> first, then the lowest free ids up to <iothreads> */
    g_assert_cmpuint(r->iothreadids->len, ==, 3);
    for (guint i = 0; i < 3; i++)
        ids[i] = ((const VbIOThreadId *)g_ptr_array_index(r->iothreadids, i))->id;
    g_assert_cmpuint(ids[0], ==, 1);
    g_assert_cmpuint(ids[1], ==, 4);
    g_assert_cmpuint(ids[2], ==, 2);
    g_assert_cmpint(((const VbIOThreadId *)g_ptr_array_index(r->iothreadids, 1))->pool_max, ==,
                    8);
    g_assert_cmpuint(r->pins->len, ==, 4);
    pin = g_ptr_array_index(r->pins, 0);
    g_assert_cmpint(pin->kind, ==, VB_PIN_VCPU);
    g_clear_pointer(&cpus, g_free);
    cpus = vb_cpuset_format(pin->cpus);
    g_assert_cmpstr(cpus, ==, "1,3-4");
    pin = g_ptr_array_index(r->pins, 3);
    g_assert_cmpint(pin->kind, ==, VB_PIN_IOTHREAD);
    g_assert_cmpuint(pin->id, ==, 4);
    g_clear_pointer(&cpus, g_free);
    cpus = vb_cpuset_format(r->vcpu_cpus);
    g_assert_cmpstr(cpus, ==, "0-1,3");
    g_assert_cmpuint(r->vcpus_enabled->len, ==, 8);
    g_assert_true(g_array_index(r->vcpus_hotpluggable, gboolean, 1));
    /* vcpusched, cachetune, numatune x2 (shares, period, quota, <memtune> and <blkiotune>
     * are the tuning view's since issue 14, part cgroup) */
    g_assert_cmpuint(r->not_acted_on->len, ==, 4);
}

static void
test_cpuset(void)
{
    const char *good[][2] = { { "0", "0" }, { "0-3,^2", "0-1,3" }, { " 1 , 5-6 ", "1,5-6" },
                              { "7,0-2,^1", "0,2,7" } };
    const char *bad[] = { "", "^1", "0-", "3-1", "a", "0,,1", "0-3,^0-3", "16384" };

    for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(GArray) cpus = NULL;
        g_autofree char *out = NULL;

        g_assert_true(vb_cpuset_parse(good[i][0], 16383, &cpus, NULL));
        out = vb_cpuset_format(cpus);
        g_assert_cmpstr(out, ==, good[i][1]);
    }
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GArray) cpus = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_false(vb_cpuset_parse(bad[i], 16383, &cpus, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/conf/uuid/roundtrip", test_uuid_roundtrip);
    g_test_add_func("/conf/uuid/invalid-rejected", test_uuid_invalid);
    g_test_add_func("/conf/uuid/generate-random", test_uuid_generate);
    g_test_add_func("/conf/uuid/generated-when-absent", test_uuid_generated_when_absent);
    g_test_add_func("/conf/name/validate", test_name_validate);
    g_test_add_func("/conf/graphics/listen-address-validated", test_listen_address);
    g_test_add_func("/conf/video/default-model-written", test_video_default_model);
    g_test_add_func("/conf/memory/unit-conversion", test_memory_units);
    g_test_add_func("/conf/memory/units-in-xml", test_memory_in_xml);
    g_test_add_func("/conf/enum/virt-type-roundtrip", test_virt_type_enum);
    g_test_add_func("/conf/parse/other-hypervisor-types", test_other_hypervisor_types);
    g_test_add_func("/conf/memory/aligned-for-start", test_memory_aligned_for_start);
    g_test_add_func("/conf/def/contract-fields-filled", test_contract_fields);
    g_test_add_func("/conf/def/accessors", test_accessors);
    g_test_add_func("/conf/cpu/resources-view", test_resources_view);
    g_test_add_func("/conf/cpu/cpuset-syntax", test_cpuset);
    g_test_add_func("/conf/def/unknown-elements-kept-and-listed", test_unknown_elements_listed);
    g_test_add_func("/conf/format/secure-flag-controls-passwd", test_secure_flag);
    g_test_add_func("/conf/format/inactive-drops-id", test_inactive_flags);
    g_test_add_data_func("/conf/format/migratable-drops-implicit-i440fx", "i440fx-implicit.xml",
                         test_migratable);
    g_test_add_data_func("/conf/format/migratable-drops-implicit-q35", "q35-virsh-dumpxml.xml",
                         test_migratable);
    g_test_add_func("/conf/format/migratable-keeps-explicit", test_migratable_keeps_explicit);
    return g_test_run();
}
