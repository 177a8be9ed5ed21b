/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Guest ABI stability: can a guest started from @src continue on a QEMU started from @dst
 * (migration, restore)? Modelled on libvirt's virDomainDefCheckABIStability(): names,
 * titles, descriptions, metadata, graphics, sources and backends may differ; what the guest
 * sees may not, and neither may the uuid (the guest sees it in SMBIOS, and it is what
 * identifies the domain a restore or migration lands in).
 */
#include "config.h"

#include <string.h>

#include "domain-def-priv.h"
#include "vb-error.h"

static gboolean
mismatch(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean
mismatch(GError **error, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, VB_ERROR, VB_ERROR_ABI_MISMATCH, msg);
    return FALSE;
}

static gboolean
check_str(const char *what, const char *field, const char *src, const char *dst,
          GError **error)
{
    if (g_strcmp0(src, dst) == 0)
        return TRUE;
    return mismatch(error, "target %s %s '%s' does not match source '%s'", what, field,
                    dst != NULL ? dst : "(none)", src != NULL ? src : "(none)");
}

static gboolean
check_uint(const char *what, const char *field, guint64 src, guint64 dst, GError **error)
{
    if (src == dst)
        return TRUE;
    return mismatch(error,
                    "target %s %s %" G_GUINT64_FORMAT " does not match source %" G_GUINT64_FORMAT,
                    what, field, dst, src);
}

/* for the fields where -1 means "not set" */
static gboolean
check_opt_int(const char *what, const char *field, int src, int dst, GError **error)
{
    g_autofree char *s = src >= 0 ? g_strdup_printf("%d", src) : g_strdup("(none)");
    g_autofree char *d = dst >= 0 ? g_strdup_printf("%d", dst) : g_strdup("(none)");

    if (src == dst || (src < 0 && dst < 0))
        return TRUE;
    return mismatch(error, "target %s %s %s does not match source %s", what, field, d, s);
}

static gboolean
check_address(const char *what, const VbDeviceAddress *src, const VbDeviceAddress *dst,
              GError **error)
{
    g_autofree char *s = NULL;
    g_autofree char *d = NULL;
    const char *sp;

    if (vb_address_equal(src, dst))
        return TRUE;
    s = vb_address_to_string(src);
    d = vb_address_to_string(dst);
    sp = s;
    if (src->type == dst->type && strchr(s, ' ') != NULL)
        sp = strchr(s, ' ') + 1;
    return mismatch(error, "target %s address %s does not match source %s", what, d, sp);
}

static char *
device_label(const VbDeviceDef *dev, guint n)
{
    switch (dev->kind) {
    case VB_DEV_DISK:
        return g_strdup_printf("disk '%s'", dev->target_dev);
    case VB_DEV_CONTROLLER:
        return g_strdup_printf("controller '%s' index %u", dev->type, dev->index);
    case VB_DEV_INTERFACE:
        if (dev->mac != NULL)
            return g_strdup_printf("interface '%s'", dev->mac);
        return g_strdup_printf("interface #%u", n);
    default:
        return g_strdup_printf("%s #%u", vb_device_def_describe(dev), n);
    }
}

static gboolean
check_device(const VbDeviceDef *s, const VbDeviceDef *d, guint n, GError **error)
{
    g_autofree char *what = device_label(s, n);
    gboolean ok = TRUE;

    switch (s->kind) {
    case VB_DEV_DISK:
        ok = check_str(what, "target dev", s->target_dev, d->target_dev, error) &&
             check_str(what, "device", s->device, d->device, error) &&
             check_str(what, "bus", s->bus, d->bus, error);
        break;
    case VB_DEV_CONTROLLER:
        ok = check_str(what, "type", s->type, d->type, error) &&
             check_uint(what, "index", s->index, d->index, error) &&
             check_str(what, "model", s->model, d->model, error) &&
             check_opt_int(what, "ports", s->ports, d->ports, error) &&
             check_opt_int(what, "vectors", s->vectors, d->vectors, error);
        break;
    case VB_DEV_INTERFACE:
        /* a missing MAC only matches a missing MAC: QEMU would pick one by NIC order */
        ok = check_str(what, "model", s->model, d->model, error) &&
             check_str(what, "MAC", s->mac, d->mac, error);
        break;
    case VB_DEV_SERIAL:
    case VB_DEV_CONSOLE:
    case VB_DEV_CHANNEL:
        ok = check_str(what, "target type", s->target_type, d->target_type, error) &&
             check_opt_int(what, "target port", s->target_port, d->target_port, error) &&
             check_str(what, "target name", s->target_name, d->target_name, error);
        break;
    case VB_DEV_INPUT:
        ok = check_str(what, "type", s->type, d->type, error) &&
             check_str(what, "bus", s->bus, d->bus, error);
        break;
    case VB_DEV_VIDEO:
        ok = check_str(what, "model", s->model, d->model, error) &&
             check_uint(what, "vram", s->vram, d->vram, error) &&
             check_uint(what, "heads", s->heads, d->heads, error) &&
             check_opt_int(what, "primary", s->primary, d->primary, error);
        break;
    case VB_DEV_WATCHDOG:
    case VB_DEV_MEMBALLOON:
    case VB_DEV_RNG:
    case VB_DEV_PANIC:
        ok = check_str(what, "model", s->model, d->model, error);
        break;
    case VB_DEV_FILESYSTEM:
        ok = check_str(what, "type", s->type, d->type, error);
        break;
    case VB_DEV_UNKNOWN:
        ok = check_str(what, "element", s->raw->name, d->raw->name, error);
        break;
    default:
        break;
    }
    return ok && check_address(what, &s->addr, &d->addr, error);
}

static GPtrArray *
devices_of(const VbDomainDef *def, VbDeviceKind kind)
{
    GPtrArray *out = g_ptr_array_new();

    for (guint i = 0; i < def->priv->devices->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(def->priv->devices, i);
        if (dev->kind != kind)
            continue;
        /* built-in controllers are recreated by the machine type on both sides */
        if (vb_device_is_implicit_controller(def, dev))
            continue;
        g_ptr_array_add(out, dev);
    }
    return out;
}

static gboolean
check_devices(const VbDomainDef *src, const VbDomainDef *dst, GError **error)
{
    static const char *const plural[] = {
        "disks", "controllers", "interfaces", "serial devices", "consoles", "channels",
        "input devices", NULL, "video devices", "watchdogs", "memory balloons", "rng devices",
        "panic devices", "filesystems", "other devices"
    };
    G_STATIC_ASSERT(G_N_ELEMENTS(plural) == VB_DEV_LAST);

    for (guint k = 0; k < VB_DEV_LAST; k++) {
        g_autoptr(GPtrArray) s = NULL;
        g_autoptr(GPtrArray) d = NULL;

        if (k == VB_DEV_GRAPHICS)
            continue; /* not guest ABI: libvirt does not compare graphics either */
        s = devices_of(src, k);
        d = devices_of(dst, k);
        if (s->len != d->len)
            return mismatch(error, "target domain has %u %s, source has %u", d->len,
                            plural[k], s->len);
        for (guint i = 0; i < s->len; i++) {
            if (!check_device(g_ptr_array_index(s, i), g_ptr_array_index(d, i), i, error))
                return FALSE;
        }
    }
    return TRUE;
}

static char *
features_string(const VbDomainDef *def)
{
    const struct _VbDomainDefPrivate *p = def->priv;
    g_autoptr(GString) buf = g_string_new(NULL);

    g_string_append_printf(buf, "%s%s%s", p->acpi ? "acpi " : "", p->apic ? "apic " : "",
                           p->pae ? "pae " : "");
    /* kept features compare as written, minus layout: literal newlines in raw->xml are
     * structural only, each followed by indentation */
    for (guint i = 0; p->features_extra.children && i < p->features_extra.children->len; i++) {
        VbRawElem *raw = g_ptr_array_index(p->features_extra.children, i);

        for (const char *c = raw->xml; *c != '\0'; c++) {
            if (*c != '\n') {
                g_string_append_c(buf, *c);
                continue;
            }
            while (c[1] == ' ')
                c++;
        }
        g_string_append_c(buf, ' ');
    }
    if (buf->len > 0)
        g_string_truncate(buf, buf->len - 1);
    return g_string_free(g_steal_pointer(&buf), FALSE);
}

/* the guest CPU and NUMA layout (virCPUDefIsEqual, virDomainNumaCheckABIStability) */
static gboolean
check_cpu(const VbDomainDef *src, const VbDomainDef *dst, GError **error)
{
    const VbDomainResources *sr = src->priv->resources;
    const VbDomainResources *dr = dst->priv->resources;
    g_autofree char *scpu = vb_domain_resources_cpu_abi(sr);
    g_autofree char *dcpu = vb_domain_resources_cpu_abi(dr);
    g_autofree char *snuma = vb_domain_resources_numa_abi(sr);
    g_autofree char *dnuma = vb_domain_resources_numa_abi(dr);

    return check_str("domain", "CPU", scpu, dcpu, error) &&
           check_str("domain", "NUMA cells", snuma, dnuma, error);
}

static gboolean
check_domain(const VbDomainDef *src, const VbDomainDef *dst, GError **error)
{
    const struct _VbDomainDefPrivate *s = src->priv;
    const struct _VbDomainDefPrivate *d = dst->priv;
    g_autofree char *sf = features_string(src);
    g_autofree char *df = features_string(dst);

    if (memcmp(src->uuid, dst->uuid, sizeof(src->uuid)) != 0) {
        char su[37], du[37];

        vb_uuid_format(src->uuid, su);
        vb_uuid_format(dst->uuid, du);
        return mismatch(error, "target domain uuid %s does not match source %s", du, su);
    }
    if (src->max_memory_kib != dst->max_memory_kib)
        return mismatch(error,
                        "target domain memory %" G_GUINT64_FORMAT
                        " KiB does not match source %" G_GUINT64_FORMAT " KiB",
                        dst->max_memory_kib, src->max_memory_kib);
    return check_str("domain", "virt type", vb_domain_virt_type_to_string(src->virt_type),
                     vb_domain_virt_type_to_string(dst->virt_type), error) &&
           check_str("domain", "OS type", s->os_type, d->os_type, error) &&
           check_str("domain", "architecture", s->os_arch, d->os_arch, error) &&
           check_str("domain", "machine type", s->os_machine, d->os_machine, error) &&
           check_uint("domain", "maxMemory KiB", s->max_memory_limit_kib,
                      d->max_memory_limit_kib, error) &&
           check_uint("domain", "memory slots", s->max_memory_slots, d->max_memory_slots,
                      error) &&
           check_uint("domain", "vCPU max", src->vcpus_max, dst->vcpus_max, error) &&
           check_uint("domain", "vCPU count", src->vcpus_current, dst->vcpus_current, error) &&
           check_uint("domain", "iothreads", s->iothreads, d->iothreads, error) &&
           check_str("domain", "features", sf, df, error) && check_cpu(src, dst, error);
}

/**
 * vb_domain_def_check_abi_stability:
 * @src: the definition the guest runs with
 * @dst: the definition for the new QEMU
 * @error: error (VB_ERROR_ABI_MISMATCH) naming the first difference
 *
 * Compares the uuid and what the guest can see: virt type, OS type, arch, machine, memory, vCPUs,
 * iothreads, features, the CPU (mode, model, features, topology) and NUMA cells, and each
 * device list (count, then per device type, bus, target, model, MAC and address). Built-in
 * controllers (vb_device_is_implicit_controller()) are ignored on both sides. Any thread.
 *
 * Returns: whether the guest ABI is the same
 */
gboolean
vb_domain_def_check_abi_stability(const VbDomainDef *src, const VbDomainDef *dst,
                                  GError **error)
{
    g_return_val_if_fail(src != NULL && dst != NULL, FALSE);
    return check_domain(src, dst, error) && check_devices(src, dst, error);
}
