/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One device at a time (issue 13, part hotplug): parsing a device document against a
 * definition (libvirt's virDomainDeviceDefParse + post-parse + address assignment),
 * finding the device a detach names (qemuFindDisk, virDomainNetFindIdx, by alias), and
 * taking a device out of or putting it into a definition. No I/O.
 */
#include "config.h"

#include <libxml/parser.h>
#include <string.h>

#include "domain-def-hotplug.h"
#include "vb-error.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)

/* a device document: exactly one element; the caller frees the document */
static xmlDoc *
read_device(const char *xml, GError **error)
{
    size_t len = xml != NULL ? strlen(xml) : 0;
    xmlDoc *doc;
    xmlNode *root;

    if (len == 0) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_XML,
                            "the device XML is empty; give one element such as <disk>");
        return NULL;
    }
    if (len > VB_DEVICE_XML_MAX_BYTES) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                    "device XML is %zu bytes, more than the limit of %d", len,
                    VB_DEVICE_XML_MAX_BYTES);
        return NULL;
    }
    /* no entity expansion, no DTD loading, no network */
    doc = xmlReadMemory(xml, (int)len, "device.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR |
                            XML_PARSE_NOCDATA);
    if (doc == NULL) {
        const xmlError *e = xmlGetLastError();
        g_autofree char *msg = g_strdup(e != NULL && e->message != NULL ? e->message
                                                                        : "unknown error");

        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML, "line %d: malformed device XML: %s",
                    e != NULL ? e->line : 0, g_strstrip(msg));
        return NULL;
    }
    root = xmlDocGetRootElement(doc);
    if (root == NULL || vb_xml_is(root, "devices") || vb_xml_is(root, "domain") ||
        vb_xml_is(root, "emulator")) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_XML,
                    "the device XML must be one device element such as <disk>, not <%s>",
                    root != NULL ? (const char *)root->name : "");
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

static gboolean
is_kind(const char *const kinds[], const char *name)
{
    return g_strv_contains(kinds, name);
}

/* An <alias> other than a user's (ua-) is the service's to give, as libvirt ignores it. */
static void
drop_generated_alias(VbDeviceDef *dev)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);
        g_autofree char *name = NULL;

        if (strcmp(raw->name, "alias") != 0)
            continue;
        name = vb_raw_elem_get_attr(raw, "name");
        if (name == NULL || !g_str_has_prefix(name, "ua-") || name[3] == '\0')
            g_ptr_array_remove_index(ch, i);
        return;
    }
}

/**
 * vb_domain_def_hotplug_parse:
 * @def: the definition the device is added to (a copy the caller may drop)
 * @xml: one device element
 * @error: InvalidXML, InvalidArgument, Exists (a disk target or MAC in use), NotSupported
 *   (an element the model does not know)
 *
 * Parses @xml into @def with the defaults, addresses and checks a define gives.
 *
 * Returns: (transfer none) (nullable): the new device of @def
 */
VbDeviceDef *
vb_domain_def_hotplug_parse(VbDomainDef *def, const char *xml, GError **error)
{
    static const char *const known[] = { "disk", "controller", "interface", "serial",
                                         "console", "channel", "input", "watchdog",
                                         "memballoon", "rng", "panic", "filesystem", "sound",
                                         "video", "graphics", NULL };
    g_autoptr(xmlDoc) doc = read_device(xml, error);
    GPtrArray *devs = def->priv->devices;
    xmlNode *root;
    VbDeviceDef *dev;

    if (doc == NULL)
        return NULL;
    root = xmlDocGetRootElement(doc);
    if (root->ns != NULL || !is_kind(known, (const char *)root->name)) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "attaching <%s> is not supported", (const char *)root->name);
        return NULL;
    }
    dev = vb_domain_def_parse_one_device(def, root, error);
    if (dev == NULL)
        return NULL;
    drop_generated_alias(dev);
    /* libvirt's own words for the usual clash (virDomainDiskDefCheckDuplicateInfo,
     * virDomainNetFindIdx) before the general checks with their line numbers */
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d == dev || d->kind != dev->kind)
            continue;
        if (dev->kind == VB_DEV_DISK && g_strcmp0(d->target_dev, dev->target_dev) == 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_EXISTS, "target %s already exists",
                        dev->target_dev);
            return NULL;
        }
        if (dev->kind == VB_DEV_INTERFACE && dev->mac != NULL &&
            g_strcmp0(d->mac, dev->mac) == 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_EXISTS, "MAC address %s is already in use",
                        dev->mac);
            return NULL;
        }
    }
    if (!vb_domain_def_assign_addresses(def, error))
        return NULL;
    return dev;
}

/* the <alias name=> written in a device document, or NULL */
static char *
written_alias(const VbDeviceDef *dev)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, "alias") == 0)
            return vb_raw_elem_get_attr(raw, "name");
    }
    return NULL;
}

static VbDeviceDef *
match_one(const VbDomainDef *def, const VbDeviceDef *m, GError **error)
{
    GPtrArray *devs = def->priv->devices;
    g_autofree char *alias = written_alias(m);
    VbDeviceDef *found = NULL;
    guint n = 0;

    if (alias != NULL) {
        found = vb_domain_def_find_alias(def, alias);
        if (found == NULL || found->kind != m->kind) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "no <%s> with alias '%s' found", vb_device_def_describe(m), alias);
            return NULL;
        }
        return found;
    }
    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->kind != m->kind)
            continue;
        if (m->kind == VB_DEV_CONTROLLER &&
            (g_strcmp0(d->type, m->type) != 0 || d->index != m->index))
            continue;
        if (m->kind != VB_DEV_CONTROLLER && m->model != NULL && g_strcmp0(d->model, m->model) != 0)
            continue;
        if ((m->kind == VB_DEV_CHANNEL || m->kind == VB_DEV_SERIAL ||
             m->kind == VB_DEV_CONSOLE) &&
            m->target_name != NULL && g_strcmp0(d->target_name, m->target_name) != 0)
            continue;
        /* a virtio console is not the serial console (libvirt's virDomainChrFind) */
        if ((m->kind == VB_DEV_SERIAL || m->kind == VB_DEV_CONSOLE) &&
            m->target_type != NULL && d->target_type != NULL &&
            g_strcmp0(d->target_type, m->target_type) != 0)
            continue;
        if (m->type != NULL && m->kind != VB_DEV_CONTROLLER && g_strcmp0(d->type, m->type) != 0)
            continue;
        found = d;
        n++;
    }
    if (n == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "matching <%s> device not found",
                    vb_device_def_describe(m));
        return NULL;
    }
    if (n > 1) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "multiple matching <%s> devices found; name one by its <alias>",
                    vb_device_def_describe(m));
        return NULL;
    }
    return found;
}

/**
 * vb_domain_def_hotplug_match:
 * @def: the definition to search
 * @xml: one device element, as DetachDevice takes it
 * @error: InvalidXML, or InvalidArgument when no device (or more than one) matches
 *
 * Finds the device of @def that @xml names, as libvirt does: a disk by its target dev,
 * an interface by its MAC address, a controller by type and index, any device by an
 * <alias> written in @xml, else the only device of that element (and model/type).
 *
 * Returns: (transfer none) (nullable): the device of @def
 */
VbDeviceDef *
vb_domain_def_hotplug_match(const VbDomainDef *def, const char *xml, GError **error)
{
    g_autoptr(xmlDoc) doc = read_device(xml, error);
    g_autoptr(VbDomainDef) scratch = NULL;
    GPtrArray *devs = def->priv->devices;
    VbDeviceDef *m;

    if (doc == NULL)
        return NULL;
    scratch = vb_domain_def_new();
    m = vb_domain_def_parse_one_device(scratch, xmlDocGetRootElement(doc), error);
    if (m == NULL)
        return NULL;
    if (m->kind == VB_DEV_UNKNOWN) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "detaching <%s> is not supported",
                    m->raw != NULL ? m->raw->name : "?");
        return NULL;
    }
    if (m->kind == VB_DEV_DISK) {
        VbDeviceDef *d = vb_domain_def_find_disk(def, m->target_dev);

        if (d == NULL)
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "disk %s not found",
                        m->target_dev);
        return d;
    }
    if (m->kind == VB_DEV_INTERFACE && m->mac != NULL) {
        for (guint i = 0; i < devs->len; i++) {
            VbDeviceDef *d = g_ptr_array_index(devs, i);

            if (d->kind == VB_DEV_INTERFACE && g_strcmp0(d->mac, m->mac) == 0)
                return d;
        }
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "no device matching MAC address %s found", m->mac);
        return NULL;
    }
    return match_one(def, m, error);
}

/**
 * vb_domain_def_find_alias:
 * @alias: a device alias ("virtio-disk1", "net0", "ua-data")
 *
 * Returns: (transfer none) (nullable): the device of @def with that alias
 */
VbDeviceDef *
vb_domain_def_find_alias(const VbDomainDef *def, const char *alias)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; alias != NULL && i < devs->len; i++) {
        VbDeviceDef *d = g_ptr_array_index(devs, i);
        g_autofree char *a = vb_domain_def_device_alias(def, d);

        if (g_strcmp0(a, alias) == 0)
            return d;
    }
    return NULL;
}

/* vb_domain_def_find_disk: the disk with target dev @target_dev, or NULL */
VbDeviceDef *
vb_domain_def_find_disk(const VbDomainDef *def, const char *target_dev)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; target_dev != NULL && i < devs->len; i++) {
        VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->kind == VB_DEV_DISK && g_strcmp0(d->target_dev, target_dev) == 0)
            return d;
    }
    return NULL;
}

/**
 * vb_domain_def_steal_device:
 *
 * Takes @dev out of @def without freeing it.
 *
 * Returns: (transfer full) (nullable): @dev, or NULL when it is not a device of @def
 */
VbDeviceDef *
vb_domain_def_steal_device(VbDomainDef *def, const VbDeviceDef *dev)
{
    guint idx;

    if (!g_ptr_array_find(def->priv->devices, dev, &idx))
        return NULL;
    return g_ptr_array_steal_index(def->priv->devices, idx);
}

/**
 * vb_domain_def_insert_device:
 * @dev: (transfer full): a device parsed for another copy of @def
 *
 * Adds @dev after the last device of its rank (where a formatted document has it).
 */
void
vb_domain_def_insert_device(VbDomainDef *def, VbDeviceDef *dev)
{
    GPtrArray *devs = def->priv->devices;
    guint at = devs->len;

    while (at > 0 && ((const VbDeviceDef *)g_ptr_array_index(devs, at - 1))->rank > dev->rank)
        at--;
    g_ptr_array_insert(devs, (gint)at, dev);
}

/* vb_domain_def_remove_device: frees @dev; returns whether it was a device of @def */
gboolean
vb_domain_def_remove_device(VbDomainDef *def, const VbDeviceDef *dev)
{
    return g_ptr_array_remove(def->priv->devices, (gpointer)dev);
}

/* vb_device_def_has_child: whether a modelled device keeps a child element @name */
gboolean
vb_device_def_has_child(const VbDeviceDef *dev, const char *name)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        if (strcmp(((const VbRawElem *)g_ptr_array_index(ch, i))->name, name) == 0)
            return TRUE;
    }
    return FALSE;
}
