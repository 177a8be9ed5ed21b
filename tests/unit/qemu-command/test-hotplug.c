/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Devices while running (issue 13, part hotplug), without QEMU: a device parsed into a
 * running definition (vb_domain_def_hotplug_parse()) gets the options a cold start gives
 * the same device (vb_qemu_command_hotplug() against vb_qemu_command_build()), so
 * hotplug and start cannot drift; finding, taking out and putting back devices; the
 * named errors of bad device XML.
 */
#include "config.h"

#include <string.h>

#include "domain-def-hotplug.h"
#include "qemu-hotplug.h"
#include "test-caps.h"
#include "vb-error.h"

#define DOMAIN_FMT                                                                        \
    "<domain type='qemu'><name>hp</name>"                                                 \
    "<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"                                   \
    "<memory unit='KiB'>219136</memory><vcpu>1</vcpu>"                                    \
    "<os><type arch='x86_64' machine='%s'>hvm</type></os>"                                \
    "<devices>%s</devices></domain>"

#define VDA                                                                               \
    "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"                   \
    "<source file='/img/a.raw'/><target dev='vda' bus='virtio'/></disk>"
#define VDB                                                                               \
    "<disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>"    \
    "<source file='/img/b.qcow2'/><target dev='vdb' bus='virtio'/></disk>"
#define SDA                                                                               \
    "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"                   \
    "<source file='/img/s.raw'/><target dev='sdb' bus='scsi'/></disk>"
#define NIC                                                                               \
    "<interface type='user'><mac address='52:54:00:12:34:56'/>"                          \
    "<model type='virtio'/></interface>"

static VbDomainDef *
defined(const char *machine, const char *devices)
{
    g_autofree char *xml = g_strdup_printf(DOMAIN_FMT, machine, devices);
    g_autoptr(GError) error = NULL;
    VbDomainDef *def = vb_domain_def_parse_string(xml, 0, &error);

    g_assert_no_error(error);
    g_assert_true(vb_domain_def_assign_addresses(def, &error));
    g_assert_no_error(error);
    return def;
}

/* the options of @argv (a whole command line) whose JSON names @key as @value */
static GPtrArray *
options_naming(char **argv, const char *const keys[])
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 1; argv[i] != NULL; i++) {
        for (guint k = 0; keys[k] != NULL; k++) {
            if (strstr(argv[i], keys[k]) != NULL) {
                g_ptr_array_add(out, g_strdup(argv[i - 1]));
                g_ptr_array_add(out, g_strdup(argv[i]));
                break;
            }
        }
    }
    return out;
}

/* the PCI slot is the next free one, which differs when devices were added after it */
static char *
without_addr(const char *json)
{
    g_autoptr(GRegex) re = g_regex_new(",\"addr\":\"0x[0-9a-f.x]+\"", 0, 0, NULL);

    return g_regex_replace_literal(re, json, -1, 0, "", 0, NULL);
}

static void
check_same_as_cold(const char *machine, const char *base, const char *dev_xml,
                   const char *const keys[], int node)
{
    g_autofree char *all = g_strconcat(base, dev_xml, NULL);
    g_autoptr(VbDomainDef) cold = defined(machine, all);
    g_autoptr(VbDomainDef) live = defined(machine, base);
    VbQemuCaps *caps = test_caps_new(FALSE);
    VbQemuCommandParams params = { 1, "/run/x/monitor.sock", "/run/x/qemu.pid", "/run/x", -1 };
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GPtrArray) want = NULL;
    g_autoptr(GPtrArray) got = NULL;
    VbDeviceDef *dev;

    argv = vb_qemu_command_build(cold, caps, &params, NULL, &error);
    g_assert_no_error(error);
    want = options_naming(argv, keys);
    g_assert_cmpuint(want->len, >, 0);

    vb_domain_def_set_live(live, 1);
    dev = vb_domain_def_hotplug_parse(live, dev_xml, &error);
    g_assert_no_error(error);
    g_assert_nonnull(dev);
    got = vb_qemu_command_hotplug(live, caps, &params, dev, node, &error);
    g_assert_no_error(error);
    g_assert_nonnull(got);
    g_assert_cmpuint(got->len, ==, want->len);
    for (guint i = 0; i < want->len; i++) {
        g_autofree char *w = without_addr(g_ptr_array_index(want, i));
        g_autofree char *g = without_addr(g_ptr_array_index(got, i));

        g_assert_cmpstr(g, ==, w);
    }
    test_caps_free(caps);
}

/* a disk attached to a running domain has the -blockdev and -device of a cold start */
static void
test_disk_same_as_cold_start(void)
{
    static const char *const vdb[] = { "virtio-disk1", "/img/b.qcow2", "libvirt-1-", NULL };
    static const char *const sdb[] = { "scsi0-0-0-1", "/img/s.raw", "libvirt-1-", NULL };
    static const char *const nic[] = { "net0", NULL };
    static const char *const rng[] = { "rng0", NULL };
    static const char *const channel[] = { "channel0", NULL };
    static const char *const input[] = { "virtio-tablet-pci", NULL };

    /* the cold start numbers the last disk's nodes 1 */
    check_same_as_cold("pc", VDA, VDB, vdb, 1);
    check_same_as_cold("q35", VDA, VDB, vdb, 1);
    check_same_as_cold("pc", VDA "<controller type='scsi' model='virtio-scsi'/>", SDA, sdb, 1);
    check_same_as_cold("pc", VDA, NIC, nic, 1);
    check_same_as_cold("pc", VDA, "<rng model='virtio'><backend model='random'>/dev/urandom"
                       "</backend></rng>", rng, 1);
    check_same_as_cold("pc", VDA "<controller type='virtio-serial'/>",
                       "<channel type='unix'><target type='virtio' "
                       "name='org.qemu.guest_agent.0'/></channel>", channel, 1);
    /* the machine's PS/2 devices first (implicit at define), as input0 and input1 */
    check_same_as_cold("q35",
                       VDA "<input type='mouse' bus='ps2'/><input type='keyboard' bus='ps2'/>",
                       "<input type='tablet' bus='virtio'/>", input, 1);
}

static void
test_errors(void)
{
    g_autoptr(VbDomainDef) def = defined("pc", VDA NIC);
    VbQemuCaps *caps = test_caps_new(FALSE);
    VbQemuCommandParams params = { 1, "/run/x/monitor.sock", "/run/x/qemu.pid", "/run/x", -1 };
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) opts = NULL;
    VbDeviceDef *dev;
    guint n = def->priv->devices->len;

    vb_domain_def_set_live(def, 1);
    g_assert_null(vb_domain_def_hotplug_parse(def, "<disk", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_XML);
    g_clear_error(&error);
    g_assert_null(vb_domain_def_hotplug_parse(def, "", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_XML);
    g_clear_error(&error);
    g_assert_null(vb_domain_def_hotplug_parse(def, "<devices>" VDB "</devices>", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_XML);
    g_clear_error(&error);
    g_assert_null(vb_domain_def_hotplug_parse(def, "<hostdev mode='subsystem'/>", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
    g_assert_nonnull(strstr(error->message, "<hostdev>"));
    g_clear_error(&error);
    g_assert_cmpuint(def->priv->devices->len, ==, n);

    /* these parse into a copy the caller drops: a copy each */
    {
        g_autoptr(VbDomainDef) c = vb_domain_def_copy(def);

        g_assert_null(vb_domain_def_hotplug_parse(c, VDA, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_EXISTS);
        g_assert_cmpstr(error->message, ==, "target vda already exists");
        g_clear_error(&error);
    }
    {
        g_autoptr(VbDomainDef) c = vb_domain_def_copy(def);

        g_assert_null(vb_domain_def_hotplug_parse(c, NIC, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_EXISTS);
        g_clear_error(&error);
    }
    {
        g_autoptr(VbDomainDef) c = vb_domain_def_copy(def);

        dev = vb_domain_def_hotplug_parse(
            c, "<interface type='bridge'><source bridge='br0'/></interface>", &error);
        g_assert_no_error(error);
        opts = vb_qemu_command_hotplug(c, caps, &params, dev, 1, &error);
        g_assert_null(opts);
        g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
        g_clear_error(&error);
        dev = vb_domain_def_hotplug_parse(c, "<input type='mouse' bus='ps2'/>", &error);
        g_assert_no_error(error);
        opts = vb_qemu_command_hotplug(c, caps, &params, dev, 1, &error);
        g_assert_null(opts);
        g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
        g_assert_nonnull(strstr(error->message, "part of the machine"));
        g_clear_error(&error);
        /* issue 13, part hotplug (second session): libvirt's refusals by name */
        dev = vb_domain_def_hotplug_parse(c, "<watchdog model='ib700'/>", &error);
        g_assert_no_error(error);
        opts = vb_qemu_command_hotplug(c, caps, &params, dev, 1, &error);
        g_assert_null(opts);
        g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
        g_assert_nonnull(strstr(error->message, "model ib700"));
        g_clear_error(&error);
        dev = vb_domain_def_hotplug_parse(c, "<controller type='virtio-serial' index='0'/>",
                                          &error);
        g_assert_no_error(error);
        opts = vb_qemu_command_hotplug(c, caps, &params, dev, 1, &error);
        g_assert_null(opts);
        g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
        g_assert_nonnull(strstr(error->message, "'virtio-serial' controller cannot be hot"));
        g_clear_error(&error);
        dev = vb_domain_def_hotplug_parse(c, "<serial type='null'><target type='isa-serial'/>"
                                             "</serial>", &error);
        g_assert_no_error(error);
        opts = vb_qemu_command_hotplug(c, caps, &params, dev, 1, &error);
        g_assert_null(opts);
        g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
        g_assert_nonnull(strstr(error->message, "'isa-serial' cannot be hot-plugged"));
        g_clear_error(&error);
    }
    {
        /* an i6300esb: the -device a start gives it (its action goes with set-action) */
        g_autoptr(VbDomainDef) c = vb_domain_def_copy(def);
        g_autoptr(GPtrArray) wd = NULL;

        dev = vb_domain_def_hotplug_parse(c, "<watchdog model='i6300esb' action='pause'/>",
                                          &error);
        g_assert_no_error(error);
        wd = vb_qemu_command_hotplug(c, caps, &params, dev, 1, &error);
        g_assert_no_error(error);
        g_assert_cmpuint(wd->len, ==, 2);
        g_assert_cmpstr(g_ptr_array_index(wd, 0), ==, "-device");
        g_assert_nonnull(strstr(g_ptr_array_index(wd, 1), "\"driver\":\"i6300esb\""));
        g_assert_nonnull(strstr(g_ptr_array_index(wd, 1), "\"id\":\"watchdog0\""));
    }
    test_caps_free(caps);
}

/* DetachDevice's lookup, and a device out and back in leaves the same document */
static void
test_match_remove_insert(void)
{
    g_autoptr(VbDomainDef) def = defined("pc", VDA VDB NIC);
    g_autoptr(GError) error = NULL;
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    VbDeviceDef *dev, *stolen;

    vb_domain_def_set_live(def, 3);
    before = vb_domain_def_format(def, 0, &error);
    g_assert_no_error(error);
    dev = vb_domain_def_hotplug_match(def, VDB, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(dev->target_dev, ==, "vdb");
    g_assert_true(vb_domain_def_find_alias(def, "virtio-disk1") == dev);
    g_assert_true(vb_domain_def_find_disk(def, "vdb") == dev);
    g_assert_null(vb_domain_def_hotplug_match(
        def,
        "<disk type='file' device='disk'><source file='/img/b.qcow2'/>"
        "<target dev='vdz' bus='virtio'/></disk>",
        &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_cmpstr(error->message, ==, "disk vdz not found");
    g_clear_error(&error);
    g_assert_nonnull(vb_domain_def_hotplug_match(
        def, "<interface type='user'><mac address='52:54:00:12:34:56'/></interface>", &error));
    g_assert_no_error(error);
    g_assert_null(vb_domain_def_hotplug_match(
        def, "<interface type='user'><mac address='52:54:00:12:34:57'/></interface>", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_clear_error(&error);

    stolen = vb_domain_def_steal_device(def, dev);
    g_assert_true(stolen == dev);
    g_assert_null(vb_domain_def_find_disk(def, "vdb"));
    /* the interface keeps its name net0 */
    g_assert_nonnull(vb_domain_def_find_alias(def, "net0"));
    vb_domain_def_insert_device(def, stolen);
    after = vb_domain_def_format(def, 0, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(after, ==, before);
    g_assert_true(vb_domain_def_remove_device(def, dev));
    g_assert_null(vb_domain_def_find_alias(def, "virtio-disk1"));
}

/* a running domain's devices keep their names when devices before them go */
static void
test_aliases_stay(void)
{
    g_autoptr(VbDomainDef) def = defined(
        "pc", NIC "<interface type='user'><mac address='52:54:00:12:34:57'/></interface>");
    VbDeviceDef *first;

    vb_domain_def_set_live(def, 1);
    first = vb_domain_def_find_alias(def, "net0");
    g_assert_nonnull(first);
    g_assert_true(vb_domain_def_remove_device(def, first));
    g_assert_nonnull(vb_domain_def_find_alias(def, "net1"));
    g_assert_null(vb_domain_def_find_alias(def, "net0"));
}

/* -chardev values as chardev-add arguments */
static void
test_chardev_qmp(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *text = NULL;
    JsonObject *o;

    o = vb_qemu_chardev_opts_to_qmp(
        "socket,id=charchannel0,path=/run/x/a,,b,server=on,wait=off", &error);
    g_assert_no_error(error);
    json_node_take_object(node, o);
    text = json_to_string(node, FALSE);
    g_assert_cmpstr(text, ==,
                    "{\"id\":\"charchannel0\",\"backend\":{\"type\":\"socket\",\"data\":"
                    "{\"addr\":{\"type\":\"unix\",\"data\":{\"path\":\"/run/x/a,b\"}},"
                    "\"server\":true,\"wait\":false}}}");
    o = vb_qemu_chardev_opts_to_qmp("pty,id=charserial1", &error);
    g_assert_no_error(error);
    json_object_unref(o);
    g_assert_null(vb_qemu_chardev_opts_to_qmp("spicevmc,id=charchannel1,name=vdagent", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/hotplug/disk-same-as-cold-start", test_disk_same_as_cold_start);
    g_test_add_func("/hotplug/errors", test_errors);
    g_test_add_func("/hotplug/match-remove-insert", test_match_remove_insert);
    g_test_add_func("/hotplug/aliases-stay", test_aliases_stay);
    g_test_add_func("/hotplug/chardev-qmp", test_chardev_qmp);
    return g_test_run();
}
