/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "qemu-command-priv.h"
#include "qemu-hotplug.h"
#include "vb-error.h"

/*
 * The QEMU command line of a domain. Always started stopped (-S) with
 * -no-shutdown (a guest power-off leaves the process for us to reap, so a
 * fake reboot can reset it instead), no defaults and no user config, the
 * QMP socket in the domain's runtime directory, and a pidfile.
 *
 * The option order and shapes follow libvirt 9.x with QEMU 7.2
 * (qemuBuildCommandLine()): machine, cpu, memory, smp, iothreads, uuid, monitor, clock,
 * boot, then devices by kind (controllers, disks, nets, smartcards, serials, channels,
 * consoles, inputs, audio, graphics, video, sound, watchdog, redirdevs, balloon, rng,
 * panic), then <qemu:commandline> args.
 * Whatever of the definition cannot be expressed is refused with NotSupported naming the
 * element and its line: nothing is dropped silently.
 */

void
vb_qemu_cmd_add(VbQemuCmd *c, const char *arg)
{
    g_ptr_array_add(c->argv, g_strdup(arg));
}

void
vb_qemu_cmd_addf(VbQemuCmd *c, const char *opt, const char *fmt, ...)
{
    va_list ap;

    vb_qemu_cmd_add(c, opt);
    va_start(ap, fmt);
    g_ptr_array_add(c->argv, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

/*
 * Escapes a value for a QemuOpts option ("key=value,key=value": -name, -chardev, -vnc,
 * -spice, ...): QEMU reads ',,' as a literal ','. Only for those options: values that go
 * into JSON (-device, -blockdev, -netdev, -object) are escaped by vb_json_str(), and
 * options that take their value whole (-bios, -kernel, -initrd, -append, -pidfile) get it
 * unchanged. '=' needs no escape after the first '=' of a key; where a value comes first
 * without a key (-vnc's display), the parser refuses '=' (vb_listen_address_valid()).
 */
char *
vb_qemu_cmd_escape(const char *value)
{
    GString *s = g_string_new(NULL);

    for (const char *p = value; *p != '\0'; p++) {
        if (*p == ',')
            g_string_append_c(s, ',');
        g_string_append_c(s, *p);
    }
    return g_string_free(s, FALSE);
}

/* the element name of @dev: "disk", or a kept device's own ("tpm") */
static const char *
device_element(const VbDeviceDef *dev)
{
    return vb_device_def_describe(dev);
}

char *
vb_qemu_cmd_describe(const VbQemuCmd *c, const VbDeviceDef *dev)
{
    GPtrArray *devs = c->def->priv->devices;
    const char *elem = device_element(dev);
    int n = 0;

    if (c->check_only && dev->line > 0)
        return g_strdup_printf("<%s> at line %d", elem, dev->line);
    /* devices are written grouped by element, in list order within one: the N-th
     * of the list is the N-th of the stored document */
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (strcmp(device_element(d), elem) == 0)
            n++;
        if (d == dev)
            return g_strdup_printf("<%s> devices/%s[%d]", elem, elem, n);
    }
    return g_strdup_printf("<%s>", elem);
}

/* Always returns FALSE, for `return vb_qemu_cmd_unsupported(...)`. */
gboolean
vb_qemu_cmd_unsupported(const VbQemuCmd *c, GError **error, const VbDeviceDef *dev, const char *fmt,
                        ...)
{
    g_autofree char *msg = NULL;
    g_autofree char *what = vb_qemu_cmd_describe(c, dev);
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "%s: %s", what, msg);
    return FALSE;
}

void
vb_qemu_cmd_consume(VbQemuCmd *c, const char *toplevel_name)
{
    g_hash_table_add(c->consumed, g_strdup(toplevel_name));
}

void
vb_qemu_cmd_consume_device(VbQemuCmd *c, const VbDeviceDef *dev)
{
    g_hash_table_add(c->consumed, g_strdup_printf("%p", (const void *)dev));
}

gboolean
vb_qemu_cmd_is_consumed_device(const VbQemuCmd *c, const VbDeviceDef *dev)
{
    g_autofree char *key = g_strdup_printf("%p", (const void *)dev);

    return g_hash_table_contains(c->consumed, key);
}

void
vb_qemu_cmd_ignore(VbQemuCmd *c, const VbDeviceDef *dev, const char *elem, int line,
                   const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    g_autofree char *what = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (dev != NULL)
        what = vb_qemu_cmd_describe(c, dev);
    else if (c->check_only && line > 0)
        what = g_strdup_printf("<%s> at line %d", elem, line);
    else
        what = g_strdup_printf("<%s>", elem);
    g_ptr_array_add(c->ignored, g_strdup_printf("%s: %s", what, msg));
}

/* Fails when caps lists devices and @name is not one of them. */
gboolean
vb_qemu_cmd_need_device(VbQemuCmd *c, const VbDeviceDef *dev, const char *name,
                        GError **error)
{
    if (c->caps->devices == NULL || g_hash_table_size(c->caps->devices) == 0 ||
        vb_qemu_caps_has_device(c->caps, name))
        return TRUE;
    return vb_qemu_cmd_unsupported(c, error, dev, "QEMU binary %s has no device '%s'",
                                   c->caps->binary, name);
}

static gboolean
in_list(const char *const list[], const char *name)
{
    for (guint i = 0; list != NULL && list[i] != NULL; i++) {
        if (strcmp(list[i], name) == 0)
            return TRUE;
    }
    return FALSE;
}

/*
 * Refuses what was kept verbatim on (a sub-element of) @dev and is not in the lists:
 * @where is the element's name for the message ("driver", or NULL for the device itself).
 */
gboolean
vb_qemu_cmd_check_extra(const VbQemuCmd *c, const VbDeviceDef *dev, const VbExtra *extra,
                        const char *where,
                        const char *const ok_attrs[], const char *const ok_children[],
                        GError **error)
{
    g_autofree char *of = where != NULL ? g_strdup_printf(" of <%s>", where) : g_strdup("");

    for (guint i = 0; extra->attrs != NULL && i + 1 < extra->attrs->len; i += 2) {
        const char *name = g_ptr_array_index(extra->attrs, i);

        if (!in_list(ok_attrs, name))
            return vb_qemu_cmd_unsupported(c, error, dev, "attribute '%s'%s is not supported",
                                           name, of);
    }
    for (guint i = 0; extra->children != NULL && i < extra->children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(extra->children, i);

        if (!in_list(ok_children, raw->name) && strcmp(raw->name, "alias") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "element <%s>%s is not supported",
                                           raw->name, of);
    }
    return TRUE;
}

/* the position of @dev among the devices of its kind: the N of "net0", "video1" */
int
vb_qemu_cmd_device_index(const VbQemuCmd *c, const VbDeviceDef *dev)
{
    GPtrArray *devs = c->def->priv->devices;
    int n = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d == dev)
            return n;
        if (d->kind == dev->kind)
            n++;
    }
    return -1;
}

GString *
vb_json_new(void)
{
    return g_string_new("{");
}

static void
json_key(GString *j, const char *key)
{
    if (j->len > 1)
        g_string_append_c(j, ',');
    g_string_append_printf(j, "\"%s\":", key);
}

void
vb_json_str(GString *j, const char *key, const char *value)
{
    json_key(j, key);
    g_string_append_c(j, '"');
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            g_string_append_c(j, '\\');
        if ((guchar)*p < 0x20)
            g_string_append_printf(j, "\\u%04x", (guchar)*p);
        else
            g_string_append_c(j, *p);
    }
    g_string_append_c(j, '"');
}

void
vb_json_int(GString *j, const char *key, gint64 value)
{
    json_key(j, key);
    g_string_append_printf(j, "%" G_GINT64_FORMAT, value);
}

void
vb_json_bool(GString *j, const char *key, gboolean value)
{
    json_key(j, key);
    g_string_append(j, value ? "true" : "false");
}

char *
vb_json_end(GString *j)
{
    g_string_append_c(j, '}');
    return g_string_free(j, FALSE);
}

/* adds `@opt {json}`, consuming @j */
void
vb_qemu_cmd_add_json(VbQemuCmd *c, const char *opt, GString *j)
{
    vb_qemu_cmd_add(c, opt);
    g_ptr_array_add(c->argv, vb_json_end(j));
}

/*
 * Adds `-device {json}` (consuming @j) after checking that QEMU has the device named by the
 * "driver" key, which every device object starts with.
 */
gboolean
vb_qemu_cmd_add_device(VbQemuCmd *c, const VbDeviceDef *dev, GString *j, GError **error)
{
    g_autofree char *json = vb_json_end(j);
    const char *start = strstr(json, "\"driver\":\"");
    g_autofree char *name = NULL;

    g_assert(start != NULL);
    start += strlen("\"driver\":\"");
    name = g_strndup(start, strcspn(start, "\""));
    if (!vb_qemu_cmd_need_device(c, dev, name, error))
        return FALSE;
    vb_qemu_cmd_add(c, "-device");
    g_ptr_array_add(c->argv, g_steal_pointer(&json));
    return TRUE;
}

/* "bus" and "addr" of a PCI device, as libvirt names the buses */
gboolean
vb_qemu_cmd_pci_props(VbQemuCmd *c, GString *j, const VbDeviceDef *dev, GError **error)
{
    const VbDeviceAddress *a = &dev->addr;
    g_autofree char *bus = NULL;

    if (a->type == VB_ADDR_NONE || (a->type == VB_ADDR_PCI && !a->pci_set))
        return TRUE; /* QEMU picks a slot; the define path assigns one first */
    if (a->type != VB_ADDR_PCI || a->domain != 0 || a->extra.attrs != NULL) {
        g_autofree char *where = vb_address_to_string(a);

        return vb_qemu_cmd_unsupported(c, error, dev, "address '%s' is not supported", where);
    }
    if (a->bus == 0)
        bus = g_strdup(c->q35 ? "pcie.0" : "pci.0");
    else
        bus = g_strdup_printf("pci.%u", a->bus);
    vb_json_str(j, "bus", bus);
    if (a->multifunction >= 0)
        vb_json_bool(j, "multifunction", a->multifunction == 1);
    if (a->function != 0) {
        g_autofree char *addr = g_strdup_printf("0x%x.0x%x", a->slot, a->function);
        vb_json_str(j, "addr", addr);
    } else {
        g_autofree char *addr = g_strdup_printf("0x%x", a->slot);
        vb_json_str(j, "addr", addr);
    }
    return TRUE;
}

/*
 * <address type='isa' iobase='0x402'/> → @key:1026 (isa-debugcon "iobase", pvpanic
 * "ioport"); no address: QEMU's default port. Other ISA address attributes are refused.
 */
gboolean
vb_qemu_cmd_isa_iobase(const VbQemuCmd *c, const VbDeviceDef *dev, GString *j,
                       const char *key, GError **error)
{
    const VbDeviceAddress *a = &dev->addr;
    const char *iobase;
    guint64 v;

    if (a->type == VB_ADDR_NONE)
        return TRUE;
    iobase = a->type == VB_ADDR_OTHER && g_strcmp0(a->type_str, "isa") == 0
                 ? vb_extra_get_attr(&a->extra, "iobase")
                 : NULL;
    if (iobase == NULL || a->extra.attrs->len != 2 || !g_str_has_prefix(iobase, "0x") ||
        !g_ascii_string_to_unsigned(iobase + 2, 16, 0, 0xffff, &v, NULL))
        return vb_qemu_cmd_unsupported(c, error, dev, "the only address supported here is "
                                       "<address type='isa' iobase='0x...'/> (at most "
                                       "0xffff)");
    vb_json_int(j, key, (gint64)v);
    return TRUE;
}

void
vb_qemu_cmd_bootindex(VbQemuCmd *c, GString *j, const VbDeviceDef *dev)
{
    gpointer v = g_hash_table_lookup(c->bootindex, dev);

    if (v != NULL)
        vb_json_int(j, "bootindex", GPOINTER_TO_INT(v));
}

/* machine options from <features> and <clock><timer name='hpet'> */
static gboolean
machine_extra_opts(VbQemuCmd *c, GString *opts, GError **error)
{
    const struct _VbDomainDefPrivate *p = c->def->priv;
    GPtrArray *feats = p->features_extra.children;
    GPtrArray *timers = p->clock.extra.children;
    gboolean vmport = FALSE;
    gboolean hpet_off = FALSE;

    for (guint i = 0; feats != NULL && i < feats->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(feats, i);
        g_autofree char *state = vb_raw_elem_get_attr(raw, "state");

        if (strcmp(raw->name, "smm") == 0) {
            continue; /* written by build_machine from c->smm; <tseg>: build_accel_tseg() */
        }
        if (strcmp(raw->name, "hyperv") == 0 || strcmp(raw->name, "kvm") == 0 ||
            vb_qemu_cmd_cpu_feature_flag(raw, NULL, NULL)) {
            continue; /* -cpu properties: vb_qemu_cmd_build_cpu */
        }
        if (strcmp(raw->name, "tcg") == 0) {
            continue; /* -accel tcg,tb-size: build_accel_tseg() */
        }
        if (strcmp(raw->name, "vmcoreinfo") == 0 && state != NULL &&
            (g_str_equal(state, "on") || g_str_equal(state, "off"))) {
            continue; /* -device vmcoreinfo: vb_qemu_cmd_build_misc() */
        }
        if (strcmp(raw->name, "vmport") == 0 && state != NULL && !vmport) {
            g_string_append_printf(opts, ",vmport=%s", g_str_equal(state, "on") ? "on" : "off");
            vmport = TRUE;
            continue;
        }
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "line %d: feature <%s> is not supported%s", raw->line, raw->name,
                    vmport && strcmp(raw->name, "vmport") == 0 ? " twice" : "");
        return FALSE;
    }
    for (guint i = 0; timers != NULL && i < timers->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(timers, i);
        g_autofree char *name = vb_raw_elem_get_attr(raw, "name");
        g_autofree char *present = vb_raw_elem_get_attr(raw, "present");

        if (g_strcmp0(name, "hpet") == 0 && g_strcmp0(present, "no") == 0 && !hpet_off) {
            g_string_append(opts, ",hpet=off");
            hpet_off = TRUE;
        }
    }
    return TRUE;
}

/* the KiB of the memory size element @child of a kept <features> child (<smm><tseg>,
 * <tcg><tb-cache>), @out_found whether it has one; any other child is NotSupported */
static gboolean
feature_size_kib(const VbRawElem *raw, const char *child, guint64 *out_kib,
                 gboolean *out_found, GError **error)
{
    xmlDoc *doc = vb_raw_elem_parse(raw);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    gboolean ok = FALSE;

    *out_kib = 0;
    *out_found = FALSE;
    for (xmlNode *n = root != NULL ? root->children : NULL; n != NULL; n = n->next) {
        g_autofree char *text = NULL;
        g_autofree char *unit = NULL;
        g_autoptr(GError) local = NULL;

        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)n->name, child) != 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "line %d: <%s><%s> is not supported", raw->line, raw->name, n->name);
            goto out;
        }
        text = vb_xml_text(n);
        unit = vb_xml_prop(n, "unit");
        if (!vb_domain_memory_parse_kib(text != NULL ? g_strstrip(text) : "", unit, out_kib,
                                        &local)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "line %d: <%s><%s>: %s",
                        raw->line, raw->name, child, local->message);
            goto out;
        }
        *out_found = TRUE;
    }
    ok = TRUE;
out:
    if (doc != NULL)
        xmlFreeDoc(doc);
    return ok;
}

/*
 * -accel, with <features><tcg><tb-cache> as tb-size in MiB under TCG (libvirt's
 * qemuBuildAccelCommandLine), and <features><smm><tseg> as -global
 * mch.extended-tseg-mbytes (q35 only, whole MiB, as libvirt's post-parse requires).
 */
static gboolean
build_accel_tseg(VbQemuCmd *c, const char *accel, GError **error)
{
    GPtrArray *feats = c->def->priv->features_extra.children;
    guint64 tb_kib = 0;
    guint64 tseg_kib = 0;
    gboolean tb = FALSE;
    gboolean tseg = FALSE;

    for (guint i = 0; feats != NULL && i < feats->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(feats, i);

        if (strcmp(raw->name, "tcg") == 0 &&
            !feature_size_kib(raw, "tb-cache", &tb_kib, &tb, error))
            return FALSE;
        if (strcmp(raw->name, "smm") == 0 &&
            !feature_size_kib(raw, "tseg", &tseg_kib, &tseg, error))
            return FALSE;
    }
    if (strcmp(accel, "tcg") == 0 && tb && tb_kib >= 1024)
        vb_qemu_cmd_addf(c, "-accel", "tcg,tb-size=%" G_GUINT64_FORMAT, tb_kib >> 10);
    else
        vb_qemu_cmd_addf(c, "-accel", "%s", accel);
    if (!tseg)
        return TRUE;
    if (!c->q35 || tseg_kib % 1024 != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "<smm><tseg> needs a q35 machine and a size in whole MiB");
        return FALSE;
    }
    vb_qemu_cmd_addf(c, "-global", "mch.extended-tseg-mbytes=%" G_GUINT64_FORMAT,
                     tseg_kib >> 10);
    return TRUE;
}

static gboolean
build_machine(VbQemuCmd *c, GError **error)
{
    const struct _VbDomainDefPrivate *p = c->def->priv;
    const VbQemuMachine *m = vb_qemu_caps_find_machine(c->caps, p->os_machine);
    g_autoptr(GString) opts = g_string_new(NULL);
    const char *accel = "tcg";

    if (m == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "machine type '%s' is not supported by %s",
                    p->os_machine != NULL ? p->os_machine : "(default)", c->caps->binary);
        return FALSE;
    }
    if (c->def->virt_type == VB_DOMAIN_VIRT_KVM) {
        if (!c->caps->kvm_available) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "domain type 'kvm' needs KVM, which is not usable on this host; "
                        "use <domain type='qemu'>");
            return FALSE;
        }
        accel = "kvm";
    }
    c->q35 = strstr(m->name, "q35") != NULL;
    g_string_printf(opts, "%s,usb=off", m->name);
    if (!machine_extra_opts(c, opts, error) || !vb_qemu_cmd_machine_audio(c, opts, error))
        return FALSE;
    if (c->smm >= 0)
        g_string_append(opts, c->smm ? ",smm=on" : ",smm=off");
    g_string_append(opts, ",dump-guest-core=off");
    vb_qemu_cmd_machine_memory_opts(c, opts);
    if (p->has_features)
        g_string_append(opts, p->acpi ? ",acpi=on" : ",acpi=off");
    vb_qemu_cmd_machine_memory_backend(c, opts);
    vb_qemu_cmd_machine_helper_opts(c, opts);
    vb_qemu_cmd_addf(c, "-machine", "%s", opts->str);
    return build_accel_tseg(c, accel, error);
}

static gboolean
build_clock(VbQemuCmd *c, GError **error)
{
    const struct _VbDomainDefPrivate *p = c->def->priv;
    const char *offset = p->clock_offset != NULL ? p->clock_offset : "utc";
    GPtrArray *timers = p->clock.extra.children;
    gboolean slew = FALSE;

    if (strcmp(offset, "utc") != 0 && strcmp(offset, "localtime") != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "<clock offset='%s'> is not supported", offset);
        return FALSE;
    }
    for (guint i = 0; timers != NULL && i < timers->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(timers, i);
        g_autofree char *name = vb_raw_elem_get_attr(raw, "name");
        g_autofree char *policy = vb_raw_elem_get_attr(raw, "tickpolicy");
        g_autofree char *present = vb_raw_elem_get_attr(raw, "present");

        if (strcmp(raw->name, "timer") != 0 || name == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "line %d: <clock> child <%s> is not supported", raw->line, raw->name);
            return FALSE;
        }
        if (g_str_equal(name, "rtc") && g_strcmp0(policy, "catchup") == 0)
            slew = TRUE;
        else if (g_str_equal(name, "pit") && g_strcmp0(policy, "delay") == 0)
            ; /* a KVM PIT property: -global kvm-pit.lost_tick_policy below */
        else if ((g_str_equal(name, "hypervclock") ||
                  (g_str_equal(name, "kvmclock") && policy == NULL)) &&
                 (present == NULL || g_str_equal(present, "yes") || g_str_equal(present, "no")))
            ; /* hv-time=on, kvmclock=on|off on -cpu (vb_qemu_cmd_build_cpu) */
        else if (!(g_str_equal(name, "hpet") && g_strcmp0(present, "no") == 0)) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "line %d: <timer name='%s'> with these settings is not supported",
                        raw->line, name);
            return FALSE;
        }
        if (g_str_equal(name, "pit") && c->def->virt_type == VB_DOMAIN_VIRT_KVM)
            vb_qemu_cmd_addf(c, "-global", "kvm-pit.lost_tick_policy=delay");
    }
    vb_qemu_cmd_addf(c, "-rtc", "base=%s%s", offset, slew ? ",driftfix=slew" : "");
    return TRUE;
}

/* first device of a kind matching @device (disk/cdrom/floppy), or the first interface */
static const VbDeviceDef *
boot_device(const VbDomainDef *def, const char *boot)
{
    for (guint i = 0; i < def->priv->devices->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(def->priv->devices, i);

        if (g_str_equal(boot, "network") && dev->kind == VB_DEV_INTERFACE)
            return dev;
        if (dev->kind != VB_DEV_DISK)
            continue;
        if ((g_str_equal(boot, "hd") && g_str_equal(dev->device, "disk")) ||
            (g_str_equal(boot, "cdrom") && g_str_equal(dev->device, "cdrom")) ||
            (g_str_equal(boot, "fd") && g_str_equal(dev->device, "floppy")))
            return dev;
    }
    return NULL;
}

/* <boot order='N'/> of a device, or 0 */
static int
device_boot_order(const VbDeviceDef *dev)
{
    for (guint i = 0; dev->extra.children != NULL && i < dev->extra.children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(dev->extra.children, i);
        g_autofree char *order = NULL;

        if (strcmp(raw->name, "boot") == 0 && (order = vb_raw_elem_get_attr(raw, "order")))
            return (int)g_ascii_strtoll(order, NULL, 10);
    }
    return 0;
}

/*
 * Boot order as bootindex properties (libvirt with QEMU >= 4.x): per-device <boot order>
 * when any is given, else <os><boot dev> in order onto the first device of each kind.
 */
static gboolean
build_boot(VbQemuCmd *c, GError **error)
{
    const struct _VbDomainDefPrivate *p = c->def->priv;
    gboolean per_device = FALSE;
    int next = 1;

    for (guint i = 0; i < p->devices->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(p->devices, i);
        int order = device_boot_order(dev);

        if (order > 0) {
            g_hash_table_insert(c->bootindex, (gpointer)dev, GINT_TO_POINTER(order));
            per_device = TRUE;
        }
    }
    for (guint i = 0; !per_device && p->boot_devs != NULL && i < p->boot_devs->len; i++) {
        const VbDeviceDef *dev = boot_device(c->def, p->boot_devs->pdata[i]);

        if (dev != NULL && !g_hash_table_contains(c->bootindex, dev))
            g_hash_table_insert(c->bootindex, (gpointer)dev, GINT_TO_POINTER(next++));
    }
    /* -bios, -kernel, -initrd and -append take their value whole (QEMU 7.2 stores each as
     * one machine property): nothing to escape, and doubling a comma would name another
     * file */
    if (p->loader_path != NULL && g_strcmp0(p->loader_type, "pflash") != 0) {
        if (p->loader_type != NULL && strcmp(p->loader_type, "rom") != 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "<loader type='%s'> is not supported", p->loader_type);
            return FALSE;
        }
        if (*p->loader_path == '\0') {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "<loader> without a path is not supported (firmware selection)");
            return FALSE;
        }
        vb_qemu_cmd_addf(c, "-bios", "%s", p->loader_path);
    }
    if (p->kernel != NULL && *p->kernel == '\0') {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "<kernel> needs a path");
        return FALSE;
    }
    if (p->kernel != NULL)
        vb_qemu_cmd_addf(c, "-kernel", "%s", p->kernel);
    if (p->initrd != NULL)
        vb_qemu_cmd_addf(c, "-initrd", "%s", p->initrd);
    if (p->cmdline != NULL)
        vb_qemu_cmd_addf(c, "-append", "%s", p->cmdline);
    vb_qemu_cmd_addf(c, "-boot", "strict=on");
    return TRUE;
}

/*
 * Kept devices no builder claimed are refused by name; kept top-level elements no builder
 * claimed are not acted on, and said so.
 */
static gboolean
check_unclaimed(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    GPtrArray *raws = c->def->priv->root_extra.children;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_UNKNOWN && !vb_qemu_cmd_is_consumed_device(c, dev))
            return vb_qemu_cmd_unsupported(c, error, dev, "device is not supported");
    }
    for (guint i = 0; raws != NULL && i < raws->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(raws, i);

        if (strchr(raw->name, ':') != NULL || g_hash_table_contains(c->consumed, raw->name))
            continue;
        vb_qemu_cmd_ignore(c, NULL, raw->name, raw->line, "not acted on");
    }
    return TRUE;
}

static gboolean
build_passthrough(VbQemuCmd *c, GError **error)
{
    g_auto(GStrv) args = NULL;
    g_auto(GStrv) env = NULL;

    if (!vb_domain_def_get_qemu_commandline(c->def, &args, &env, error))
        return FALSE;
    if (env[0] != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "<qemu:env> is not supported (%s)", env[0]);
        return FALSE;
    }
    for (guint i = 0; args[i] != NULL; i++)
        vb_qemu_cmd_add(c, args[i]);
    if (args[0] != NULL)
        c->taint |= VB_TAINT_CUSTOM_ARGV;
    return TRUE;
}

static gboolean
build_head(VbQemuCmd *c, GError **error)
{
    g_autofree char *name = vb_qemu_cmd_escape(c->def->name);
    g_autofree char *mon = vb_qemu_cmd_escape(c->params->monitor_path);
    char uuid[37];

    vb_uuid_format(c->def->uuid, uuid);
    vb_qemu_cmd_add(c, c->caps->binary);
    vb_qemu_cmd_addf(c, "-name", "guest=%s,debug-threads=on", name);
    vb_qemu_cmd_add(c, "-S");
    if (!vb_qemu_cmd_build_pflash(c, error) || !build_machine(c, error) ||
        !vb_qemu_cmd_build_cpu(c, error))
        return FALSE;
    vb_qemu_cmd_build_pflash_global(c);
    if (!vb_qemu_cmd_build_cpu_memory(c, error))
        return FALSE;
    vb_qemu_cmd_addf(c, "-uuid", "%s", uuid);
    vb_qemu_cmd_add(c, "-no-user-config");
    vb_qemu_cmd_add(c, "-nodefaults");
    if (c->params->monitor_fd > 0)
        vb_qemu_cmd_addf(c, "-chardev", "socket,id=charmonitor,fd=%d,server=on,wait=off",
                         c->params->monitor_fd);
    else
        vb_qemu_cmd_addf(c, "-chardev", "socket,id=charmonitor,path=%s,server=on,wait=off",
                         mon);
    vb_qemu_cmd_addf(c, "-mon", "chardev=charmonitor,id=monitor,mode=control");
    if (!build_clock(c, error))
        return FALSE;
    vb_qemu_cmd_add(c, "-no-shutdown");
    if (c->def->priv->on_reboot == VB_LIFECYCLE_DESTROY)
        vb_qemu_cmd_add(c, "-no-reboot");
    return build_boot(c, error);
}

static GStrv
command_build(const VbDomainDef *def, const VbQemuCaps *caps, const VbQemuCommandParams *params,
              gboolean check_only, guint *out_taint, GPtrArray **out_ignored, GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) bootindex = g_hash_table_new(NULL, NULL);
    g_autoptr(GHashTable) consumed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) ignored = g_ptr_array_new_with_free_func(g_free);
    VbQemuCmd c = {
        .argv = argv,
        .def = def,
        .caps = caps,
        .params = params,
        .bootindex = bootindex,
        .consumed = consumed,
        .ignored = ignored,
        .check_only = check_only,
        .smm = -1,
    };

    if (!build_head(&c, error) || !vb_qemu_cmd_build_controllers(&c, error) ||
        !vb_qemu_cmd_build_memdevs(&c, error) || !vb_qemu_cmd_build_disks(&c, error) ||
        !vb_qemu_cmd_build_filesystems(&c, error) ||
        !vb_qemu_cmd_build_nets(&c, error) || !vb_qemu_cmd_build_smartcards(&c, error) ||
        !vb_qemu_cmd_build_chardevs(&c, error) || !vb_qemu_cmd_build_tpms(&c, error) ||
        !vb_qemu_cmd_build_inputs(&c, error) || !vb_qemu_cmd_build_audio(&c, error) ||
        !vb_qemu_cmd_build_graphics(&c, error) || !vb_qemu_cmd_build_video(&c, error) ||
        !vb_qemu_cmd_build_sound(&c, error) || !vb_qemu_cmd_build_misc(&c, error))
        return NULL;
    vb_qemu_cmd_addf(&c, "-pidfile", "%s", params->pidfile);
    /* QEMU's own seccomp filter (docs/confinement.md): no obsolete syscalls, no setuid and
     * friends, no fork/exec, no scheduler/affinity changes */
    if (!params->no_sandbox && caps->sandbox > 0)
        vb_qemu_cmd_addf(&c, "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                                         "resourcecontrol=deny");
    vb_qemu_cmd_addf(&c, "-msg", "timestamp=on");
    /* a restore or incoming migration: QEMU waits for migrate-incoming */
    if (params->incoming)
        vb_qemu_cmd_addf(&c, "-incoming", "defer");
    /* issue 15: a revert starts QEMU with the snapshot's memory and disks loaded */
    if (params->loadvm != NULL)
        vb_qemu_cmd_addf(&c, "-loadvm", "%s", params->loadvm);
    if (!build_passthrough(&c, error) || !check_unclaimed(&c, error))
        return NULL;
    if (out_taint != NULL)
        *out_taint = c.taint;
    if (out_ignored != NULL)
        *out_ignored = g_steal_pointer(&ignored);
    g_ptr_array_add(argv, NULL);
    return (GStrv)g_ptr_array_free(g_steal_pointer(&argv), FALSE);
}

/**
 * vb_qemu_command_build_full:
 * @def: the definition to start (addresses assigned: vb_domain_def_assign_addresses())
 * @caps: capabilities of the binary that will run it
 * @params: runtime paths
 * @out_taint: (out) (optional): VbTaintFlags the definition implies
 * @out_ignored: (out) (optional) (transfer full): char* messages, what the definition
 *   holds that is not acted on ("<memtune> devices/...: why")
 * @error: error
 *
 * Builds the command line. Pure: reads nothing but its arguments and does no I/O.
 *
 * Returns: (transfer full): argv, the binary first; or %NULL with
 *   NotSupported naming what cannot be run.
 */
GStrv
vb_qemu_command_build_full(const VbDomainDef *def, const VbQemuCaps *caps,
                           const VbQemuCommandParams *params, guint *out_taint,
                           GPtrArray **out_ignored, GError **error)
{
    return command_build(def, caps, params, FALSE, out_taint, out_ignored, error);
}

GStrv
vb_qemu_command_build(const VbDomainDef *def, const VbQemuCaps *caps,
                      const VbQemuCommandParams *params, guint *out_taint, GError **error)
{
    return command_build(def, caps, params, FALSE, out_taint, NULL, error);
}

/**
 * vb_qemu_command_check:
 * @def: a definition as the caller wrote it (its lines are the caller's), addresses assigned
 * @caps: capabilities of the binary that would run it
 * @out_ignored: (out) (optional) (transfer full): as for vb_qemu_command_build_full(),
 *   naming elements by the caller's line
 * @error: NotSupported naming (by line) the first thing that would stop a start
 *
 * What a start would refuse or ignore, at define time.
 */
gboolean
vb_qemu_command_check(const VbDomainDef *def, const VbQemuCaps *caps, GPtrArray **out_ignored,
                      GError **error)
{
    VbQemuCommandParams params = {
        .id = 1,
        .monitor_path = "/nonexistent/monitor.sock",
        .pidfile = "/nonexistent/qemu.pid",
        .runtime_dir = "/nonexistent",
        .vnc_port = vb_domain_def_needs_autoport(def) ? 5900 : -1,
        .websocket_port = 5700,
    };
    g_auto(GStrv) argv = command_build(def, caps, &params, TRUE, NULL, out_ignored, error);

    return argv != NULL;
}

/**
 * vb_qemu_command_to_string:
 * @argv: an argv
 *
 * Returns: (transfer full): @argv as one shell-quoted line, for the log.
 */
char *
vb_qemu_command_to_string(const char *const *argv)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; argv[i] != NULL; i++) {
        g_autofree char *q = g_shell_quote(argv[i]);
        gboolean plain = strpbrk(argv[i], " '\"\\$`!*?[]{}()<>|&;#~") == NULL &&
                         argv[i][0] != '\0';

        if (i > 0)
            g_string_append_c(s, ' ');
        g_string_append(s, plain ? argv[i] : q);
    }
    return g_string_free(s, FALSE);
}

/**
 * vb_qemu_command_hotplug:
 * @def: the live definition with @dev in it (addresses assigned)
 * @caps: capabilities of the running binary
 * @params: the run's paths; @params->disks from vb_qemu_disk_prepare()
 * @dev: the device to add
 * @node: the first free N of libvirt-N-* block node names
 * @error: NotSupported for a device that cannot be added to a running QEMU (yet), or what
 *   a start would refuse
 *
 * The options of @dev as the command line would carry them (issue 13, part hotplug).
 *
 * Returns: (transfer full): char* pairs: the option ("-blockdev", "-device", "-netdev",
 *   "-object") and its JSON object, in the order QEMU must get them
 */
GPtrArray *
vb_qemu_command_hotplug(const VbDomainDef *def, const VbQemuCaps *caps,
                        const VbQemuCommandParams *params, const VbDeviceDef *dev, int node,
                        GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) bootindex = g_hash_table_new(NULL, NULL);
    g_autoptr(GHashTable) consumed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) ignored = g_ptr_array_new_with_free_func(g_free);
    VbQemuCmd c = {
        .argv = argv,
        .def = def,
        .caps = caps,
        .params = params,
        .bootindex = bootindex,
        .consumed = consumed,
        .ignored = ignored,
        .smm = -1,
        .q35 = vb_domain_def_is_q35(def),
    };
    gboolean ok;

    switch (dev->kind) {
    case VB_DEV_DISK:
        if (vb_extra_get_attr(&dev->driver.extra, "copy_on_read") != NULL) {
            vb_qemu_cmd_unsupported(&c, error, dev, "attaching a disk with <driver "
                                    "copy_on_read> to a running domain is not supported");
            return NULL;
        }
        ok = vb_qemu_cmd_build_disk_one(&c, dev, node, error);
        break;
    case VB_DEV_INTERFACE:
        ok = vb_qemu_cmd_build_net_one(&c, dev, error);
        break;
    case VB_DEV_RNG:
        ok = vb_qemu_cmd_build_rng_one(&c, dev, error);
        break;
    case VB_DEV_INPUT:
        ok = vb_qemu_cmd_build_input_one(&c, dev, error);
        break;
    case VB_DEV_CHANNEL:
        ok = vb_qemu_cmd_build_channel_one(&c, dev, error);
        break;
    case VB_DEV_WATCHDOG:
        ok = vb_qemu_cmd_build_watchdog_one(&c, dev, error);
        break;
    case VB_DEV_CONTROLLER:
        ok = vb_qemu_cmd_build_controller_one(&c, dev, error);
        break;
    case VB_DEV_SERIAL:
    case VB_DEV_CONSOLE:
        ok = vb_qemu_cmd_build_serial_one(&c, dev, error);
        break;
    case VB_DEV_UNKNOWN:
        if (dev->raw != NULL && strcmp(dev->raw->name, "memory") == 0) {
            ok = vb_qemu_cmd_build_memdev_one(&c, dev, error); /* issue 13, part memcfg */
            break;
        }
        ok = vb_qemu_cmd_unsupported(&c, error, dev,
                                     "attaching <%s> to a running domain is not supported",
                                     vb_device_def_describe(dev));
        break;
    default:
        ok = vb_qemu_cmd_unsupported(&c, error, dev,
                                     "attaching <%s> to a running domain is not supported",
                                     vb_device_def_describe(dev));
        break;
    }
    if (!ok)
        return NULL;
    if (argv->len == 0) {
        /* e.g. a PS/2 input: the machine's own, nothing to add */
        vb_qemu_cmd_unsupported(&c, error, dev, "the <%s> is part of the machine; it cannot "
                                "be attached to a running domain", vb_device_def_describe(dev));
        return NULL;
    }
    for (guint i = 0; i < argv->len; i += 2) {
        const char *opt = g_ptr_array_index(argv, i);

        if (i + 1 >= argv->len || (strcmp(opt, "-blockdev") != 0 &&
                                   strcmp(opt, "-device") != 0 && strcmp(opt, "-netdev") != 0 &&
                                   strcmp(opt, "-object") != 0 && strcmp(opt, "-chardev") != 0)) {
            vb_qemu_cmd_unsupported(&c, error, dev, "option %s cannot be given to a running "
                                    "QEMU", opt);
            return NULL;
        }
    }
    return g_steal_pointer(&argv);
}
