/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Cross-element checks run after parsing: duplicates, MAC addresses. */
#include "config.h"

#include <string.h>

#include "domain-def-priv.h"
#include "vb-error.h"

/**
 * vb_mac_parse:
 * @str: "52:54:00:12:34:56" (':' or '-' separated, any case)
 * @out_canonical: (out) (transfer full) (optional): lowercase, ':' separated
 *
 * Returns: whether @str is a well-formed unicast MAC address
 */
gboolean
vb_mac_parse(const char *str, char **out_canonical)
{
    guint8 b[6];
    const char *p = str;

    for (guint i = 0; i < 6; i++) {
        if (!g_ascii_isxdigit(p[0]) || !g_ascii_isxdigit(p[1]))
            return FALSE;
        b[i] = g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]);
        p += 2;
        if (i < 5) {
            if (*p != ':' && *p != '-')
                return FALSE;
            p++;
        }
    }
    if (*p != '\0' || (b[0] & 1))
        return FALSE;
    if (out_canonical != NULL)
        *out_canonical = g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2],
                                         b[3], b[4], b[5]);
    return TRUE;
}

/* a DNS name: dot-separated labels of letters, digits and '-', not starting or ending in '-' */
static gboolean
is_host_name(const char *str)
{
    g_auto(GStrv) labels = NULL;

    if (*str == '\0' || strlen(str) > 253)
        return FALSE;
    labels = g_strsplit(str, ".", -1);
    for (guint i = 0; labels[i] != NULL; i++) {
        const char *l = labels[i];
        size_t len = strlen(l);

        /* a trailing dot (fully qualified) leaves one empty label at the end */
        if (len == 0 && labels[i + 1] == NULL && i > 0)
            continue;
        if (len == 0 || len > 63 || l[0] == '-' || l[len - 1] == '-')
            return FALSE;
        for (const char *c = l; *c != '\0'; c++) {
            if (!g_ascii_isalnum(*c) && *c != '-')
                return FALSE;
        }
    }
    return TRUE;
}

/**
 * vb_listen_address_valid:
 * @addr: a graphics listen address from the XML
 *
 * What libvirt's schema allows for a listen address (addrIPorName): an IPv4 address, an
 * IPv6 address (without brackets; a scope id of letters, digits, '.', '_', '-'), or a host
 * name. None of these can hold ',' or '=', which would start a new option on QEMU's
 * command line.
 *
 * Returns: whether @addr is one of these
 */
gboolean
vb_listen_address_valid(const char *addr)
{
    const char *scope = strchr(addr, '%');

    if (scope != NULL) {
        if (scope[1] == '\0')
            return FALSE;
        for (const char *c = scope + 1; *c != '\0'; c++) {
            if (!g_ascii_isalnum(*c) && *c != '.' && *c != '_' && *c != '-')
                return FALSE;
        }
        return strchr(addr, ':') != NULL && g_hostname_is_ip_address(addr);
    }
    return g_hostname_is_ip_address(addr) || is_host_name(addr);
}

static void
set_dev_error(GError **error, const VbDeviceDef *dev, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void
set_dev_error(GError **error, const VbDeviceDef *dev, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "line %d: <%s>: %s", dev->line,
                vb_device_def_describe(dev), msg);
}

static gboolean
check_pair(const VbDeviceDef *a, const VbDeviceDef *b, GError **error)
{
    if (a->kind == VB_DEV_DISK && b->kind == VB_DEV_DISK &&
        strcmp(a->target_dev, b->target_dev) == 0) {
        set_dev_error(error, b, "target dev '%s' is already used by the disk on line %d",
                      b->target_dev, a->line);
        return FALSE;
    }
    if (a->kind == VB_DEV_CONTROLLER && b->kind == VB_DEV_CONTROLLER &&
        strcmp(a->type, b->type) == 0 && a->index == b->index) {
        set_dev_error(error, b, "a %s controller with index %u is already defined on line %d",
                      b->type, b->index, a->line);
        return FALSE;
    }
    if (a->addr.type == VB_ADDR_PCI && b->addr.type == VB_ADDR_PCI && a->addr.pci_set &&
        b->addr.pci_set && a->addr.domain == b->addr.domain && a->addr.bus == b->addr.bus &&
        a->addr.slot == b->addr.slot && a->addr.function == b->addr.function) {
        set_dev_error(error, b,
                      "PCI address %04x:%02x:%02x.%x is already used by the <%s> on line %d",
                      b->addr.domain, b->addr.bus, b->addr.slot, b->addr.function,
                      vb_device_def_describe(a), a->line);
        return FALSE;
    }
    if (a->addr.type == b->addr.type &&
        (a->addr.type == VB_ADDR_VIRTIO_SERIAL || a->addr.type == VB_ADDR_DRIVE)) {
        g_autofree char *where = vb_address_to_string(&b->addr);

        set_dev_error(error, b, "address %s is already used by the <%s> on line %d", where,
                      vb_device_def_describe(a), a->line);
        return FALSE;
    }
    return TRUE;
}

/* key of an address no two devices may share, or NULL */
static char *
addr_key(const VbDeviceDef *dev)
{
    const VbDeviceAddress *a = &dev->addr;

    if (a->type == VB_ADDR_PCI && a->pci_set)
        return g_strdup_printf("pci:%x:%x:%x:%x", a->domain, a->bus, a->slot, a->function);
    /* a channel's virtio-serial address without a port gets one at define (libvirt) */
    if (a->type == VB_ADDR_VIRTIO_SERIAL && (a->port != 0 || dev->kind != VB_DEV_CHANNEL))
        return g_strdup_printf("vs:%u:%u:%u", a->controller, a->bus, a->port);
    /* drive addresses are per bus kind: an ide and a sata disk may both be 0:0:0:0 */
    if (a->type == VB_ADDR_DRIVE && dev->kind == VB_DEV_DISK && dev->bus != NULL)
        return g_strdup_printf("drive:%s:%u:%u:%u:%u", dev->bus, a->controller, a->bus,
                               a->target, a->unit);
    return NULL;
}

static void
dup_key(const VbDeviceDef *dev, char **out_key)
{
    if (dev->kind == VB_DEV_DISK)
        *out_key = g_strdup_printf("disk:%s", dev->target_dev);
    else if (dev->kind == VB_DEV_CONTROLLER && strcmp(dev->type, "usb") == 0 &&
             vb_controller_master(dev) != NULL)
        *out_key = NULL; /* a USB companion shares its master's index */
    else if (dev->kind == VB_DEV_CONTROLLER)
        *out_key = g_strdup_printf("ctl:%s:%u", dev->type, dev->index);
    else
        *out_key = NULL;
}

/**
 * vb_domain_def_serial_console:
 * @def: a definition
 *
 * libvirt's virDomainDefAddConsoleCompat(): the first <console> with target type 'serial'
 * (or none) is the first serial port itself, not a device of its own.
 *
 * Returns: (nullable): that console, or %NULL
 */
const VbDeviceDef *
vb_domain_def_serial_console(const VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_CONSOLE)
            return dev->target_type == NULL || strcmp(dev->target_type, "serial") == 0 ? dev
                                                                                      : NULL;
    }
    return NULL;
}

static gboolean
check_duplicates(const VbDomainDef *def, GError **error)
{
    GPtrArray *devs = def->priv->devices;
    const VbDeviceDef *serial_console = vb_domain_def_serial_console(def);
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    /* hash lookups keep this linear: fuzzed inputs can hold many thousands of devices */
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        char *keys[2] = { NULL, NULL };

        dup_key(dev, &keys[0]);
        /* the serial console repeats the address of the serial port it is */
        keys[1] = dev == serial_console ? NULL : addr_key(dev);
        for (guint k = 0; k < 2; k++) {
            const VbDeviceDef *other;

            if (keys[k] == NULL)
                continue;
            other = g_hash_table_lookup(seen, keys[k]);
            if (other != NULL) {
                g_free(keys[0]);
                g_free(keys[1]);
                return check_pair(other, dev, error);
            }
            g_hash_table_insert(seen, keys[k], (gpointer)dev);
            keys[k] = NULL;
        }
    }
    return TRUE;
}

/* libvirt 9.0's virDomainAudioType */
static const char *const audio_types[] = { "none", "alsa", "coreaudio", "jack", "oss",
                                           "pulseaudio", "sdl", "spice", "file", "dbus",
                                           NULL };

/* id= of a kept <audio> as a positive integer, or 0 with @error set */
static guint
audio_id(const char *elem, int line, const char *id, GError **error)
{
    guint64 v = 0;

    if (id == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                    "line %d: <%s>: missing attribute 'id'", line, elem);
        return 0;
    }
    if (!g_ascii_string_to_unsigned(id, 10, 1, G_MAXINT, &v, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "line %d: <%s>: attribute 'id' must be an integer between 1 and %d, "
                    "got '%s'", line, elem, G_MAXINT, id);
        return 0;
    }
    return (guint)v;
}

/* <audio id type> of the domain: id -> line of its element */
static gboolean
collect_audios(GPtrArray *devs, GHashTable *ids, GError **error)
{
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        g_autofree char *id = NULL;
        g_autofree char *type = NULL;
        gpointer other;
        guint n;

        if (dev->kind != VB_DEV_UNKNOWN || strcmp(dev->raw->name, "audio") != 0)
            continue;
        id = vb_raw_elem_get_attr(dev->raw, "id");
        type = vb_raw_elem_get_attr(dev->raw, "type");
        if ((n = audio_id("audio", dev->raw->line, id, error)) == 0)
            return FALSE;
        if (type == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                        "line %d: <audio>: missing attribute 'type'", dev->raw->line);
            return FALSE;
        }
        if (!g_strv_contains(audio_types, type)) {
            g_autofree char *list = g_strjoinv(", ", (char **)audio_types);

            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "line %d: <audio>: invalid value '%s' for attribute 'type' (expected "
                        "one of: %s)", dev->raw->line, type, list);
            return FALSE;
        }
        if (g_hash_table_lookup_extended(ids, GUINT_TO_POINTER(n), NULL, &other)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "line %d: <audio>: audio id %u is already used by the <audio> on "
                        "line %d", dev->raw->line, n, GPOINTER_TO_INT(other));
            return FALSE;
        }
        g_hash_table_insert(ids, GUINT_TO_POINTER(n), GINT_TO_POINTER(dev->raw->line));
    }
    return TRUE;
}

/*
 * The <audio id='N'/> child of a sound device or a graphics must name a domain <audio>
 * (libvirt's virDomainEnsureAudioID()).
 */
static gboolean
check_audio_refs(GPtrArray *devs, GHashTable *ids, GError **error)
{
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        GPtrArray *ch = dev->extra.children;

        if (dev->kind != VB_DEV_SOUND && dev->kind != VB_DEV_GRAPHICS)
            continue;
        for (guint k = 0; ch != NULL && k < ch->len; k++) {
            const VbRawElem *raw = g_ptr_array_index(ch, k);
            g_autofree char *id = NULL;
            guint n;

            if (strcmp(raw->name, "audio") != 0)
                continue;
            id = vb_raw_elem_get_attr(raw, "id");
            if ((n = audio_id("audio", raw->line, id, error)) == 0)
                return FALSE;
            if (!g_hash_table_contains(ids, GUINT_TO_POINTER(n))) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "line %d: <%s>: no <audio> with id %u in <devices>", raw->line,
                            vb_device_def_describe(dev), n);
                return FALSE;
            }
        }
    }
    return TRUE;
}

static gboolean
check_audio(GPtrArray *devs, GError **error)
{
    g_autoptr(GHashTable) ids = g_hash_table_new(NULL, NULL);

    return collect_audios(devs, ids, error) && check_audio_refs(devs, ids, error);
}

/**
 * vb_domain_def_validate:
 * @def: a parsed definition
 * @error: error (VB_ERROR_INVALID_ARG), naming the element and its line
 *
 * Checks what single elements cannot: duplicate disk targets, controller indexes and PCI
 * addresses, <audio> ids (unique, and the ones sound devices and graphics name exist).
 */
gboolean
vb_domain_def_validate(VbDomainDef *def, GError **error)
{
    return check_duplicates(def, error) && check_audio(def->priv->devices, error);
}
