/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The domain definition: allocation, copy, enum tables, uuid and name helpers. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "domain-def-console.h" /* vb_xml_text_check() */
#include "domain-def-priv.h"
#include "vb-error.h"

static const char *const virt_type_names[] = { "qemu", "kvm", NULL };
G_STATIC_ASSERT(G_N_ELEMENTS(virt_type_names) == VB_DOMAIN_VIRT_LAST + 1);

const char *const vb_device_kind_names[] = {
    "disk", "controller", "interface", "serial", "console", "channel", "input", "graphics",
    "video", "watchdog", "memballoon", "rng", "panic", "filesystem", "sound", "unknown", NULL
};
G_STATIC_ASSERT(G_N_ELEMENTS(vb_device_kind_names) == VB_DEV_LAST + 1);

const char *const vb_lifecycle_names[] = {
    "destroy", "restart", "preserve", "rename-restart", "coredump-destroy", "coredump-restart",
    NULL
};
G_STATIC_ASSERT(G_N_ELEMENTS(vb_lifecycle_names) == VB_LIFECYCLE_LAST + 1);

/**
 * vb_enum_from_string:
 * @table: NULL-terminated names
 * @str: (nullable): a name
 *
 * Returns: the index of @str in @table or -1
 */
int
vb_enum_from_string(const char *const table[], const char *str)
{
    for (int i = 0; str != NULL && table[i] != NULL; i++) {
        if (strcmp(table[i], str) == 0)
            return i;
    }
    return -1;
}

/**
 * vb_domain_virt_type_to_string:
 * @type: a virt type
 *
 * Returns: (nullable): "qemu" or "kvm", %NULL when out of range
 */
const char *
vb_domain_virt_type_to_string(VbDomainVirtType type)
{
    if ((guint)type >= VB_DOMAIN_VIRT_LAST)
        return NULL;
    return virt_type_names[type];
}

/**
 * vb_domain_virt_type_from_string:
 * @str: (nullable): "qemu" or "kvm"
 *
 * Returns: a #VbDomainVirtType, or -1
 */
int
vb_domain_virt_type_from_string(const char *str)
{
    return vb_enum_from_string(virt_type_names, str);
}

/**
 * vb_domain_def_new:
 *
 * Returns: (transfer full): an empty definition with libvirt's defaults
 */
VbDomainDef *
vb_domain_def_new(void)
{
    VbDomainDef *def = g_new0(VbDomainDef, 1);

    def->priv = g_new0(struct _VbDomainDefPrivate, 1);
    def->unknown_elements = g_ptr_array_new_with_free_func(g_free);
    def->priv->id = -1;
    def->priv->boot_devs = g_ptr_array_new_with_free_func(g_free);
    def->priv->devices = g_ptr_array_new_with_free_func((GDestroyNotify)vb_device_def_free);
    def->priv->on_poweroff = VB_LIFECYCLE_DESTROY;
    def->priv->on_reboot = VB_LIFECYCLE_RESTART;
    def->priv->on_crash = VB_LIFECYCLE_DESTROY;
    def->priv->resources = vb_domain_resources_new();
    def->priv->tune = vb_domain_tune_new();
    return def;
}

/**
 * vb_device_def_new:
 * @kind: device kind
 *
 * Returns: (transfer full): an empty device with "unset" markers
 */
VbDeviceDef *
vb_device_def_new(VbDeviceKind kind)
{
    VbDeviceDef *dev = g_new0(VbDeviceDef, 1);

    dev->kind = kind;
    dev->ports = -1;
    dev->vectors = -1;
    dev->target_port = -1;
    dev->port = -1;
    dev->autoport = -1;
    dev->primary = -1;
    dev->addr.multifunction = -1;
    return dev;
}

/**
 * vb_device_def_free:
 * @dev: (nullable): a device
 */
void
vb_device_def_free(VbDeviceDef *dev)
{
    if (dev == NULL)
        return;
    vb_raw_elem_free(dev->raw);
    g_free(dev->type);
    g_free(dev->model);
    vb_extra_clear(&dev->extra);
    vb_address_clear(&dev->addr);
    g_free(dev->device);
    vb_sub_elem_clear(&dev->driver);
    g_free(dev->driver_name);
    g_free(dev->driver_type);
    vb_sub_elem_clear(&dev->source);
    g_free(dev->source_path);
    vb_sub_elem_clear(&dev->target);
    g_free(dev->target_dev);
    g_free(dev->bus);
    g_free(dev->mac);
    vb_sub_elem_clear(&dev->mac_elem);
    vb_sub_elem_clear(&dev->model_elem);
    g_free(dev->target_type);
    g_free(dev->target_name);
    g_free(dev->listen);
    g_free(dev->passwd);
    vb_sub_elem_clear(&dev->backend);
    g_free(dev->backend_model);
    g_free(dev->backend_text);
    g_free(dev->action);
    g_free(dev);
}

/**
 * vb_device_def_describe:
 * @dev: a device
 *
 * Returns: a short name for messages ("disk", "interface", ...)
 */
const char *
vb_device_def_describe(const VbDeviceDef *dev)
{
    if (dev->kind == VB_DEV_UNKNOWN && dev->raw != NULL)
        return dev->raw->name;
    return vb_device_kind_names[dev->kind];
}

static void
priv_free(struct _VbDomainDefPrivate *p)
{
    vb_extra_clear(&p->root_extra);
    g_free(p->metadata_xml);
    vb_sub_elem_clear(&p->max_memory_elem);
    vb_extra_clear(&p->memory_extra);
    vb_extra_clear(&p->current_memory_extra);
    vb_extra_clear(&p->vcpu_extra);
    g_free(p->vcpu_placement);
    vb_extra_clear(&p->os_extra);
    g_free(p->os_type);
    g_free(p->os_arch);
    g_free(p->os_machine);
    vb_extra_clear(&p->os_type_extra);
    g_ptr_array_unref(p->boot_devs);
    vb_sub_elem_clear(&p->loader);
    g_free(p->loader_readonly);
    g_free(p->loader_type);
    g_free(p->loader_path);
    g_free(p->kernel);
    g_free(p->initrd);
    g_free(p->cmdline);
    vb_extra_clear(&p->features_extra);
    vb_sub_elem_clear(&p->cpu);
    g_free(p->cpu_mode);
    vb_sub_elem_clear(&p->clock);
    g_free(p->clock_offset);
    vb_extra_clear(&p->devices_extra);
    g_free(p->emulator);
    g_ptr_array_unref(p->devices);
    vb_domain_resources_free(p->resources);
    vb_domain_tune_free(p->tune);
    g_free(p);
}

/**
 * vb_domain_def_free:
 * @def: (nullable): a definition
 */
void
vb_domain_def_free(VbDomainDef *def)
{
    if (def == NULL)
        return;
    g_free(def->name);
    g_free(def->title);
    g_free(def->description);
    g_ptr_array_unref(def->unknown_elements);
    if (def->priv != NULL)
        priv_free(def->priv);
    g_free(def);
}

/**
 * vb_domain_def_copy:
 * @def: a definition
 *
 * Deep copy, made by formatting (with secrets) and parsing again, so the copy is exactly
 * what the XML says. Any thread.
 *
 * Returns: (transfer full) (nullable): the copy; %NULL only if @def was changed in memory
 *     into something that no longer validates (a warning is logged)
 */
VbDomainDef *
vb_domain_def_copy(const VbDomainDef *def)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;
    VbDomainDef *copy;

    g_return_val_if_fail(def != NULL, NULL);
    xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_SECURE, &error);
    if (xml == NULL) {
        g_warning("cannot copy domain definition: %s", error->message);
        return NULL;
    }
    copy = vb_domain_def_parse_string(xml, 0, &error);
    if (copy == NULL)
        g_warning("cannot copy domain definition: %s", error->message);
    return copy;
}

/**
 * vb_uuid_parse:
 * @str: text: 32 hex digits, optionally with dashes between them (libvirt accepts dashes
 *     anywhere between byte pairs) and surrounding spaces
 * @out_uuid: (out): the 16 bytes, set on success only
 *
 * Returns: whether @str is a uuid
 */
gboolean
vb_uuid_parse(const char *str, unsigned char out_uuid[16])
{
    unsigned char uuid[16];
    const char *p = str;
    guint n = 0;

    if (str == NULL)
        return FALSE;
    while (*p == ' ')
        p++;
    while (n < 16) {
        if (*p == '-' && n > 0) {
            p++;
            continue;
        }
        if (!g_ascii_isxdigit(p[0]) || !g_ascii_isxdigit(p[1]))
            return FALSE;
        uuid[n++] = (g_ascii_xdigit_value(p[0]) << 4) | g_ascii_xdigit_value(p[1]);
        p += 2;
    }
    while (*p == ' ')
        p++;
    if (*p != '\0')
        return FALSE;
    memcpy(out_uuid, uuid, 16);
    return TRUE;
}

/**
 * vb_uuid_format:
 * @uuid: 16 bytes
 * @out_str: (out): 37 bytes for the canonical lowercase form
 */
void
vb_uuid_format(const unsigned char uuid[16], char out_str[37])
{
    g_snprintf(out_str, 37,
               "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
               uuid[0], uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8],
               uuid[9], uuid[10], uuid[11], uuid[12], uuid[13], uuid[14], uuid[15]);
}

/**
 * vb_uuid_generate:
 * @out_uuid: (out): a random (version 4) uuid
 */
void
vb_uuid_generate(unsigned char out_uuid[16])
{
    g_autofree char *s = g_uuid_string_random();

    if (!vb_uuid_parse(s, out_uuid))
        g_assert_not_reached();
}

/**
 * vb_domain_def_name_validate:
 * @name: (nullable): a domain name
 * @error: error (VB_ERROR_INVALID_ARG)
 *
 * A name must be non-empty, at most 255 bytes, valid UTF-8, without '/', and must not
 * start with '.' (it becomes a file name).
 */
gboolean
vb_domain_def_name_validate(const char *name, GError **error)
{
    if (name == NULL || *name == '\0') {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG, "domain name is empty");
        return FALSE;
    }
    if (strlen(name) > 255) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "domain name is %zu bytes long, at most 255 are allowed", strlen(name));
        return FALSE;
    }
    if (!g_utf8_validate(name, -1, NULL)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "domain name is not valid UTF-8");
        return FALSE;
    }
    if (strchr(name, '/') != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "domain name '%s' must not contain '/'", name);
        return FALSE;
    }
    if (name[0] == '.') {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "domain name '%s' must not start with '.'", name);
        return FALSE;
    }
    /* the name is formatted into the definition: XML 1.0 text only (issue 14, found by the
     * bus fuzzer: Rename to "a\x01" made a definition that no longer parses) */
    return vb_xml_text_check(name, "domain name", error);
}

static gboolean
unit_scale(const char *unit, guint64 *out_scale)
{
    guint64 base;
    int power;

    if (unit == NULL || *unit == '\0') {
        *out_scale = 1024;
        return TRUE;
    }
    if (g_ascii_strcasecmp(unit, "b") == 0 || g_ascii_strcasecmp(unit, "bytes") == 0) {
        *out_scale = 1;
        return TRUE;
    }
    switch (g_ascii_tolower(unit[0])) {
    case 'k': power = 1; break;
    case 'm': power = 2; break;
    case 'g': power = 3; break;
    case 't': power = 4; break;
    case 'p': power = 5; break;
    case 'e': power = 6; break;
    default: return FALSE;
    }
    if (unit[1] == '\0' || g_ascii_strcasecmp(unit + 1, "iB") == 0)
        base = 1024;
    else if (strcmp(unit + 1, "B") == 0)
        base = 1000;
    else
        return FALSE;
    *out_scale = 1;
    while (power-- > 0)
        *out_scale *= base;
    return TRUE;
}

/**
 * vb_domain_memory_parse_kib:
 * @value: decimal number
 * @unit: (nullable): unit, as in libvirt; %NULL or "" is KiB
 * @out_kib: (out): the amount in KiB (bytes rounded up), set on success only
 * @error: error (VB_ERROR_INVALID_ARG)
 */
gboolean
vb_domain_memory_parse_kib(const char *value, const char *unit, guint64 *out_kib,
                           GError **error)
{
    g_autofree char *v = g_strstrip(g_strdup(value != NULL ? value : ""));
    guint64 scale, n, bytes;
    char *end = NULL;

    if (!unit_scale(unit, &scale)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "unknown memory unit '%s'", unit);
        return FALSE;
    }
    if (!g_ascii_isdigit(v[0])) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "value must be a positive integer, got '%s'", v);
        return FALSE;
    }
    n = g_ascii_strtoull(v, &end, 10);
    if (*end != '\0' || (n == G_MAXUINT64 && errno == ERANGE)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "value must be a positive integer, got '%s'", v);
        return FALSE;
    }
    /* cap at 2^53 bytes (8 PiB), far above anything QEMU can run */
    if (n > (G_GUINT64_CONSTANT(1) << 53) / scale) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "value '%s %s' is too large", v,
                    unit != NULL ? unit : "KiB");
        return FALSE;
    }
    bytes = n * scale;
    *out_kib = (bytes + 1023) / 1024;
    return TRUE;
}

/**
 * vb_domain_def_get_os_type:
 * @def: definition
 *
 * Returns: (nullable): "hvm"
 */
const char *
vb_domain_def_get_os_type(const VbDomainDef *def)
{
    return def->priv->os_type;
}

/**
 * vb_domain_def_get_arch:
 * @def: definition
 *
 * Returns: (nullable): the <os><type arch=>
 */
const char *
vb_domain_def_get_arch(const VbDomainDef *def)
{
    return def->priv->os_arch;
}

/**
 * vb_domain_def_get_machine:
 * @def: definition
 *
 * Returns: (nullable): the <os><type machine=>
 */
const char *
vb_domain_def_get_machine(const VbDomainDef *def)
{
    return def->priv->os_machine;
}

/**
 * vb_domain_def_get_emulator:
 * @def: definition
 *
 * Returns: (nullable): the <devices><emulator>
 */
const char *
vb_domain_def_get_emulator(const VbDomainDef *def)
{
    return def->priv->emulator;
}

/**
 * vb_domain_def_get_iothreads:
 * @def: definition
 *
 * Returns: the <iothreads> count
 */
guint
vb_domain_def_get_iothreads(const VbDomainDef *def)
{
    return def->priv->iothreads;
}

static char **
collect_devices(const VbDomainDef *def, VbDeviceKind kind)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();

    for (guint i = 0; i < def->priv->devices->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(def->priv->devices, i);
        if (dev->kind != kind)
            continue;
        g_strv_builder_add(b, kind == VB_DEV_DISK ? dev->target_dev
                                                  : (dev->mac != NULL ? dev->mac : ""));
    }
    return g_strv_builder_end(b);
}

/**
 * vb_domain_def_get_disk_targets:
 * @def: definition
 *
 * Returns: (transfer full): disk target devs in document order
 */
char **
vb_domain_def_get_disk_targets(const VbDomainDef *def)
{
    return collect_devices(def, VB_DEV_DISK);
}

/**
 * vb_domain_def_get_interface_macs:
 * @def: definition
 *
 * Returns: (transfer full): interface MACs in document order ("" when none is set)
 */
char **
vb_domain_def_get_interface_macs(const VbDomainDef *def)
{
    return collect_devices(def, VB_DEV_INTERFACE);
}
