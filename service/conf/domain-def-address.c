/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Device addresses: <address type='pci|drive|virtio-serial|...'/> */
#include "config.h"

#include <string.h>

#include "domain-def-priv.h"
#include "vb-error.h"

static gboolean
parse_field(xmlNode *node, const char *attr, guint max, guint *out, GError **error)
{
    g_autofree char *v = vb_xml_prop(node, attr);

    *out = 0;
    if (v == NULL)
        return TRUE;
    return vb_xml_parse_uint(node, attr, v, max, out, error);
}

static gboolean
parse_pci(VbDeviceAddress *addr, xmlNode *node, GError **error)
{
    static const char *const known[] = { "type", "domain", "bus", "slot", "function",
                                         "multifunction", NULL };

    for (guint i = 1; i < 5; i++) {
        if (xmlHasProp(node, (const xmlChar *)known[i]) != NULL)
            addr->pci_set = TRUE;
    }
    if (!parse_field(node, "domain", 0xffff, &addr->domain, error) ||
        !parse_field(node, "bus", 0xff, &addr->bus, error) ||
        !parse_field(node, "slot", 0x1f, &addr->slot, error) ||
        !parse_field(node, "function", 7, &addr->function, error) ||
        !vb_xml_prop_yesno(node, "multifunction", "on", "off", &addr->multifunction, error))
        return FALSE;
    vb_extra_collect(&addr->extra, node, known, NULL, NULL);
    return TRUE;
}

/**
 * vb_address_parse:
 * @addr: (out caller-allocates): zeroed address to fill
 * @node: the <address> element
 * @error: error
 */
gboolean
vb_address_parse(VbDeviceAddress *addr, xmlNode *node, GError **error)
{
    static const char *const drive_known[] = { "type", "controller", "bus", "target", "unit",
                                               NULL };
    static const char *const vs_known[] = { "type", "controller", "bus", "port", NULL };
    static const char *const other_known[] = { "type", NULL };
    g_autofree char *type = vb_xml_prop(node, "type");

    addr->multifunction = -1;
    if (type == NULL) {
        vb_set_error_line(error, VB_ERROR_INVALID_XML, node, "missing attribute 'type'");
        return FALSE;
    }
    if (strcmp(type, "pci") == 0) {
        addr->type = VB_ADDR_PCI;
        return parse_pci(addr, node, error);
    }
    if (strcmp(type, "drive") == 0) {
        addr->type = VB_ADDR_DRIVE;
        if (!parse_field(node, "controller", 0xffff, &addr->controller, error) ||
            !parse_field(node, "bus", 0xffff, &addr->bus, error) ||
            !parse_field(node, "target", 0xffff, &addr->target, error) ||
            !parse_field(node, "unit", 0xffff, &addr->unit, error))
            return FALSE;
        vb_extra_collect(&addr->extra, node, drive_known, NULL, NULL);
        return TRUE;
    }
    if (strcmp(type, "virtio-serial") == 0) {
        addr->type = VB_ADDR_VIRTIO_SERIAL;
        if (!parse_field(node, "controller", 0xffff, &addr->controller, error) ||
            !parse_field(node, "bus", 0xffff, &addr->bus, error) ||
            !parse_field(node, "port", 0xffff, &addr->port, error))
            return FALSE;
        vb_extra_collect(&addr->extra, node, vs_known, NULL, NULL);
        return TRUE;
    }
    addr->type = VB_ADDR_OTHER;
    addr->type_str = g_steal_pointer(&type);
    vb_extra_collect(&addr->extra, node, other_known, NULL, NULL);
    return TRUE;
}

static const char *
address_type_name(const VbDeviceAddress *addr)
{
    switch (addr->type) {
    case VB_ADDR_PCI: return "pci";
    case VB_ADDR_DRIVE: return "drive";
    case VB_ADDR_VIRTIO_SERIAL: return "virtio-serial";
    case VB_ADDR_OTHER: return addr->type_str;
    case VB_ADDR_NONE:
    default: return NULL;
    }
}

/**
 * vb_fmt_address:
 * @buf: output
 * @addr: address; nothing is written for VB_ADDR_NONE
 * @level: indentation
 */
void
vb_fmt_address(GString *buf, const VbDeviceAddress *addr, int level)
{
    g_autoptr(GString) ch = g_string_new(NULL);
    guint cursor = 0;

    if (addr->type == VB_ADDR_NONE)
        return;
    vb_fmt_indent(buf, level);
    g_string_append(buf, "<address");
    vb_fmt_attr(buf, "type", address_type_name(addr));
    switch (addr->type) {
    case VB_ADDR_PCI:
        if (addr->pci_set)
            g_string_append_printf(buf,
                                   " domain='0x%04x' bus='0x%02x' slot='0x%02x' function='0x%x'",
                                   addr->domain, addr->bus, addr->slot, addr->function);
        if (addr->multifunction >= 0)
            vb_fmt_attr(buf, "multifunction", addr->multifunction ? "on" : "off");
        break;
    case VB_ADDR_DRIVE:
        g_string_append_printf(buf, " controller='%u' bus='%u' target='%u' unit='%u'",
                               addr->controller, addr->bus, addr->target, addr->unit);
        break;
    case VB_ADDR_VIRTIO_SERIAL:
        g_string_append_printf(buf, " controller='%u' bus='%u' port='%u'", addr->controller,
                               addr->bus, addr->port);
        break;
    default:
        break;
    }
    vb_fmt_extra_attrs(buf, &addr->extra);
    vb_fmt_raws_before(ch, &addr->extra, G_MAXINT, level + 1, &cursor);
    vb_fmt_close(buf, level, "address", ch);
}

/**
 * vb_address_to_string:
 * @addr: address
 *
 * Returns: (transfer full): "pci 0000:00:05.0", "drive 0:0:0:0", "none", ...
 */
char *
vb_address_to_string(const VbDeviceAddress *addr)
{
    g_autoptr(GString) buf = g_string_new(NULL);

    switch (addr->type) {
    case VB_ADDR_NONE:
        return g_strdup("none");
    case VB_ADDR_PCI:
        g_string_printf(buf, "pci %04x:%02x:%02x.%x%s", addr->domain, addr->bus, addr->slot,
                        addr->function, addr->multifunction == 1 ? " multifunction" : "");
        break;
    case VB_ADDR_DRIVE:
        g_string_printf(buf, "drive %u:%u:%u:%u", addr->controller, addr->bus, addr->target,
                        addr->unit);
        break;
    case VB_ADDR_VIRTIO_SERIAL:
        g_string_printf(buf, "virtio-serial %u:%u:%u", addr->controller, addr->bus, addr->port);
        break;
    case VB_ADDR_OTHER:
        g_string_append(buf, addr->type_str);
        for (guint i = 0; addr->extra.attrs != NULL && i + 1 < addr->extra.attrs->len; i += 2)
            g_string_append_printf(buf, " %s=%s",
                                   (const char *)g_ptr_array_index(addr->extra.attrs, i),
                                   (const char *)g_ptr_array_index(addr->extra.attrs, i + 1));
        break;
    }
    return g_string_free(g_steal_pointer(&buf), FALSE);
}

/**
 * vb_address_equal:
 * @a: address
 * @b: address
 *
 * Returns: whether the two name the same guest-visible location
 */
gboolean
vb_address_equal(const VbDeviceAddress *a, const VbDeviceAddress *b)
{
    g_autofree char *sa = vb_address_to_string(a);
    g_autofree char *sb = vb_address_to_string(b);

    if (a->type == VB_ADDR_PCI && b->type == VB_ADDR_PCI && a->pci_set != b->pci_set)
        return FALSE;
    return strcmp(sa, sb) == 0;
}
