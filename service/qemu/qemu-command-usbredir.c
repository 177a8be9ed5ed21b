/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * USB redirection (<redirdev bus='usb'> → usb-redir on a chardev, "redir0", ...) and smart
 * cards (<smartcard> → a card on the usb-ccid reader "ccid0": ccid-card-passthru on a
 * chardev, or ccid-card-emulated), both kept elements, in libvirt 9.0's shapes.
 */
#include "config.h"

#include <libxml/tree.h>
#include <string.h>

#include "qemu-command-priv.h"
#include "vb-error.h"

/* the children of @root not in @ok (NULL-terminated), refused by name */
static gboolean
check_children(const VbQemuCmd *c, const VbDeviceDef *dev, xmlNode *root,
               const char *const ok[], GError **error)
{
    for (xmlNode *ch = root->children; ch != NULL; ch = ch->next) {
        if (ch->type != XML_ELEMENT_NODE || vb_xml_is(ch, "alias"))
            continue;
        if (ch->ns != NULL || !g_strv_contains(ok, (const char *)ch->name))
            return vb_qemu_cmd_unsupported(c, error, dev, "element <%s> is not supported",
                                           ch->name);
    }
    return TRUE;
}

/* "bus":"usb.0" and "port" from an <address type='usb' bus port> child */
static gboolean
usb_address(VbQemuCmd *c, const VbDeviceDef *dev, xmlNode *root, GString *j, GError **error)
{
    g_autofree char *bus = NULL;
    g_autofree char *port = NULL;

    for (xmlNode *ch = root->children; ch != NULL; ch = ch->next) {
        g_autofree char *type = NULL;

        if (!vb_xml_is(ch, "address"))
            continue;
        type = vb_xml_prop(ch, "type");
        if (g_strcmp0(type, "usb") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "a USB device needs a USB address");
        g_free(bus);
        g_free(port);
        bus = vb_xml_prop(ch, "bus");
        port = vb_xml_prop(ch, "port");
    }
    return vb_qemu_cmd_usb_bus_port(c, j, dev, bus, port, error);
}

static gboolean
build_redirdev(VbQemuCmd *c, const VbDeviceDef *dev, int n, GError **error)
{
    static const char *const ok[] = { "source", "protocol", "address", NULL };
    xmlDoc *doc = vb_raw_elem_parse(dev->raw);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    g_autofree char *bus = root != NULL ? vb_xml_prop(root, "bus") : NULL;
    g_autofree char *chr = g_strdup_printf("charredir%d", n);
    g_autofree char *id = g_strdup_printf("redir%d", n);
    GString *j;
    gboolean ok_ = FALSE;

    if (root == NULL) {
        ok_ = vb_qemu_cmd_unsupported(c, error, dev, "cannot read the element");
    } else if (g_strcmp0(bus, "usb") != 0) {
        ok_ = vb_qemu_cmd_unsupported(c, error, dev, "redirdev bus '%s' is not supported",
                                      bus != NULL ? bus : "");
    } else if (check_children(c, dev, root, ok, error) &&
               vb_qemu_cmd_need_device(c, dev, "usb-redir", error) &&
               vb_qemu_cmd_add_chardev_raw(c, dev, root, chr, "usbredir", error)) {
        j = vb_json_new();
        vb_json_str(j, "driver", "usb-redir");
        vb_json_str(j, "chardev", chr);
        vb_json_str(j, "id", id);
        if (!usb_address(c, dev, root, j, error)) {
            g_string_free(j, TRUE);
        } else {
            ok_ = vb_qemu_cmd_add_device(c, dev, j, error);
        }
    }
    if (ok_)
        vb_qemu_cmd_consume_device(c, dev);
    if (doc != NULL)
        xmlFreeDoc(doc);
    return ok_;
}

/**
 * vb_qemu_cmd_build_redirdevs:
 * @c: the command being built
 * @error: error
 *
 * <redirfilter> is refused: QEMU's filter= property is not built yet.
 */
gboolean
vb_qemu_cmd_build_redirdevs(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    int n = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind != VB_DEV_UNKNOWN)
            continue;
        if (strcmp(dev->raw->name, "redirfilter") == 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "USB redirection filters are not "
                                           "supported");
        if (strcmp(dev->raw->name, "redirdev") == 0 && !build_redirdev(c, dev, n++, error))
            return FALSE;
    }
    return TRUE;
}

static gboolean
has_ccid_controller(const VbQemuCmd *c)
{
    GPtrArray *devs = c->def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->kind == VB_DEV_CONTROLLER && strcmp(d->type, "ccid") == 0 && d->index == 0)
            return TRUE;
    }
    return FALSE;
}

/* the card's address: <address type='ccid' controller='0' slot='0'/>, or none */
static gboolean
ccid_address(const VbQemuCmd *c, const VbDeviceDef *dev, xmlNode *root, GError **error)
{
    for (xmlNode *ch = root->children; ch != NULL; ch = ch->next) {
        g_autofree char *type = NULL;
        g_autofree char *ctl = NULL;
        g_autofree char *slot = NULL;

        if (!vb_xml_is(ch, "address"))
            continue;
        type = vb_xml_prop(ch, "type");
        ctl = vb_xml_prop(ch, "controller");
        slot = vb_xml_prop(ch, "slot");
        if (g_strcmp0(type, "ccid") != 0 || (ctl != NULL && strcmp(ctl, "0") != 0) ||
            (slot != NULL && strcmp(slot, "0") != 0))
            return vb_qemu_cmd_unsupported(c, error, dev, "a smartcard sits on ccid "
                                           "controller 0, slot 0");
    }
    return TRUE;
}

static gboolean
smartcard_card(VbQemuCmd *c, const VbDeviceDef *dev, xmlNode *root, int n, GError **error)
{
    static const char *const ok_pass[] = { "source", "protocol", "address", NULL };
    static const char *const ok_host[] = { "address", NULL };
    g_autofree char *mode = vb_xml_prop(root, "mode");
    g_autofree char *chr = g_strdup_printf("charsmartcard%d", n);
    g_autofree char *id = g_strdup_printf("smartcard%d", n);
    GString *j;

    if (g_strcmp0(mode, "passthrough") == 0) {
        if (!check_children(c, dev, root, ok_pass, error) ||
            !vb_qemu_cmd_add_chardev_raw(c, dev, root, chr, "smartcard", error))
            return FALSE;
        j = vb_json_new();
        vb_json_str(j, "driver", "ccid-card-passthru");
        vb_json_str(j, "chardev", chr);
    } else if (g_strcmp0(mode, "host") == 0) {
        if (!check_children(c, dev, root, ok_host, error))
            return FALSE;
        j = vb_json_new();
        vb_json_str(j, "driver", "ccid-card-emulated");
        vb_json_str(j, "backend", "nss-emulated");
    } else {
        /* host-certificates needs an NSS database the service does not manage */
        return vb_qemu_cmd_unsupported(c, error, dev, "smartcard mode '%s' is not supported "
                                       "(passthrough, host)", mode != NULL ? mode : "");
    }
    vb_json_str(j, "id", id);
    vb_json_str(j, "bus", "ccid0.0");
    return vb_qemu_cmd_add_device(c, dev, j, error);
}

/**
 * vb_qemu_cmd_build_smartcards:
 * @c: the command being built
 * @error: error
 *
 * One card, on the reader of <controller type='ccid' index='0'> (built with the
 * controllers; define adds it as libvirt does).
 */
gboolean
vb_qemu_cmd_build_smartcards(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    int n = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        xmlDoc *doc;
        gboolean ok;

        if (dev->kind != VB_DEV_UNKNOWN || strcmp(dev->raw->name, "smartcard") != 0)
            continue;
        if (n > 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "only one smartcard is supported "
                                           "(one ccid slot)");
        if (!has_ccid_controller(c))
            return vb_qemu_cmd_unsupported(c, error, dev, "a smartcard needs <controller "
                                           "type='ccid' index='0'>");
        doc = vb_raw_elem_parse(dev->raw);
        ok = doc != NULL ? ccid_address(c, dev, xmlDocGetRootElement(doc), error) &&
                               smartcard_card(c, dev, xmlDocGetRootElement(doc), n, error)
                         : vb_qemu_cmd_unsupported(c, error, dev, "cannot read the element");
        if (doc != NULL)
            xmlFreeDoc(doc);
        if (!ok)
            return FALSE;
        vb_qemu_cmd_consume_device(c, dev);
        n++;
    }
    return TRUE;
}
