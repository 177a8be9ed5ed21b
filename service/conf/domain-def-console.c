/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Consoles, channels and displays of a live definition (issue 13, part console): which
 * device OpenConsole and OpenChannel reach (libvirt 9.0's qemuDomainOpenConsole and
 * qemuDomainOpenChannel rules), and the Graphics property.
 */
#include "config.h"

#include <string.h>

#include "domain-def-console.h"
#include "domain-def-priv.h"
#include "vb-error.h"

/**
 * vb_console_target_free:
 * @t: (nullable): a target
 */
void
vb_console_target_free(VbConsoleTarget *t)
{
    if (t == NULL)
        return;
    g_free(t->alias);
    g_free(t->path);
    g_free(t);
}

static const VbDeviceDef *
first_of(const VbDomainDef *def, VbDeviceKind kind)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->kind == kind)
            return d;
    }
    return NULL;
}

/* by alias among consoles and serial ports, in libvirt's order (parallel ports are kept
 * verbatim, never a pty the service knows) */
static const VbDeviceDef *
find_by_alias(const VbDomainDef *def, const char *alias)
{
    static const VbDeviceKind kinds[] = { VB_DEV_CONSOLE, VB_DEV_SERIAL };
    GPtrArray *devs = def->priv->devices;

    for (guint k = 0; k < G_N_ELEMENTS(kinds); k++) {
        for (guint i = 0; i < devs->len; i++) {
            const VbDeviceDef *d = g_ptr_array_index(devs, i);
            g_autofree char *a = NULL;

            if (d->kind != kinds[k])
                continue;
            a = vb_domain_def_device_alias(def, d);
            if (g_strcmp0(a, alias) == 0)
                return d;
        }
    }
    return NULL;
}

/* the path of a pty chardev (<source path=>, a console's tty=) */
static const char *
pty_path(const VbDeviceDef *dev)
{
    if (dev->source_path != NULL && *dev->source_path != '\0')
        return dev->source_path;
    if (dev->kind == VB_DEV_CONSOLE)
        return vb_extra_get_attr(&dev->extra, "tty");
    return NULL;
}

/**
 * vb_domain_def_find_console:
 * @def: the live definition of a running domain
 * @dev_name: (nullable): the alias of a console or serial port ("serial0",
 *   "console1"); %NULL or "" for the first console, else the first serial port
 * @error: InvalidArgument naming the device when there is none, OperationInvalid when it
 *   is not a pty or QEMU has not told its pty
 *
 * Returns: (transfer full) (nullable): the pty to open. Any thread; @def not changed
 *   meanwhile.
 */
VbConsoleTarget *
vb_domain_def_find_console(const VbDomainDef *def, const char *dev_name, GError **error)
{
    const VbDeviceDef *dev;
    VbConsoleTarget *t;
    const char *path;

    if (dev_name != NULL && *dev_name != '\0') {
        dev = find_by_alias(def, dev_name);
    } else {
        dev = first_of(def, VB_DEV_CONSOLE);
        if (dev == NULL)
            dev = first_of(def, VB_DEV_SERIAL);
    }
    if (dev == NULL && dev_name != NULL && *dev_name != '\0') {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "cannot find character device %s",
                    dev_name);
        return NULL;
    }
    if (dev == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "cannot find character device <null>: the domain has no console "
                            "or serial port; add <serial type='pty'/>");
        return NULL;
    }
    if (g_strcmp0(dev->type, "pty") != 0) {
        g_autofree char *alias = vb_domain_def_device_alias(def, dev);

        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "character device %s is not using a PTY (type '%s'); use OpenChannel for "
                    "a unix socket, or give the device type='pty'",
                    alias != NULL ? alias : "", dev->type != NULL ? dev->type : "");
        return NULL;
    }
    path = pty_path(dev);
    if (path == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                            "the pty of the console is not known yet (QEMU did not report it)");
        return NULL;
    }
    t = g_new0(VbConsoleTarget, 1);
    t->kind = VB_CONSOLE_PTY;
    t->alias = vb_domain_def_device_alias(def, dev);
    t->path = g_strdup(path);
    return t;
}

/**
 * vb_domain_def_find_channel:
 * @def: the live definition of a running domain
 * @runtime_dir: (nullable): where a unix channel without <source path> has its socket
 * @name: (nullable): a virtio channel's target name ("org.qemu.guest_agent.0") or a
 *   channel's alias ("channel0"); %NULL or "" for the first channel
 * @error: InvalidArgument when there is no such channel, OperationInvalid when it is
 *   neither a pty nor a unix socket QEMU listens on
 *
 * Returns: (transfer full) (nullable): the pty or socket to reach
 */
VbConsoleTarget *
vb_domain_def_find_channel(const VbDomainDef *def, const char *runtime_dir, const char *name,
                           GError **error)
{
    GPtrArray *devs = def->priv->devices;
    const VbDeviceDef *dev = NULL;
    g_autoptr(VbConsoleTarget) t = g_new0(VbConsoleTarget, 1);

    for (guint i = 0; i < devs->len && dev == NULL; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);
        g_autofree char *alias = NULL;

        if (d->kind != VB_DEV_CHANNEL)
            continue;
        alias = vb_domain_def_device_alias(def, d);
        if (name == NULL || *name == '\0' || g_strcmp0(d->target_name, name) == 0 ||
            g_strcmp0(alias, name) == 0)
            dev = d;
    }
    if (dev == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "cannot find channel %s",
                    name != NULL && *name != '\0' ? name : "<null>");
        return NULL;
    }
    t->alias = vb_domain_def_device_alias(def, dev);
    if (g_strcmp0(dev->type, "pty") == 0) {
        t->kind = VB_CONSOLE_PTY;
        t->path = g_strdup(pty_path(dev));
    } else if (g_strcmp0(dev->type, "unix") == 0) {
        if (g_strcmp0(vb_extra_get_attr(&dev->source.extra, "mode"), "connect") == 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "channel %s connects to '%s' (mode='connect'): QEMU is the client of "
                        "that socket, so the service cannot reach it",
                        t->alias, dev->source_path != NULL ? dev->source_path : "");
            return NULL;
        }
        t->kind = VB_CONSOLE_UNIX;
        if (dev->source_path != NULL)
            t->path = g_strdup(dev->source_path);
        else if (runtime_dir != NULL && dev->target_name != NULL)
            t->path = g_build_filename(runtime_dir, dev->target_name, NULL);
    } else {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "channel %s is not using a UNIX socket or PTY (type '%s')", t->alias,
                    dev->type != NULL ? dev->type : "");
        return NULL;
    }
    if (t->path == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "the path of channel %s is not known", t->alias);
        return NULL;
    }
    return g_steal_pointer(&t);
}

/**
 * vb_graphics_info_free:
 * @g: (nullable): a display
 */
void
vb_graphics_info_free(VbGraphicsInfo *g)
{
    if (g == NULL)
        return;
    g_free(g->type);
    g_free(g->listen);
    g_free(g->socket);
    g_free(g);
}

static int
int_attr(const VbExtra *extra, const char *name)
{
    const char *v = vb_extra_get_attr(extra, name);
    gint64 n;

    if (v == NULL || !g_ascii_string_to_signed(v, 10, -1, 65535, &n, NULL))
        return -1;
    return (int)n;
}

/* <listen type='address' address=> or <listen type='socket' socket=> children */
static void
graphics_listen_children(const VbDeviceDef *dev, VbGraphicsInfo *g)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);
        g_autofree char *type = NULL;

        if (strcmp(raw->name, "listen") != 0)
            continue;
        type = vb_raw_elem_get_attr(raw, "type");
        if (g_strcmp0(type, "socket") == 0 && !g->socket_listen) {
            g->socket_listen = TRUE;
            g->socket = vb_raw_elem_get_attr(raw, "socket");
        } else if (g_strcmp0(type, "socket") != 0 && g->listen == NULL)
            g->listen = vb_raw_elem_get_attr(raw, "address");
    }
}

/**
 * vb_domain_def_get_graphics:
 * @def: a (live) definition
 *
 * Returns: (transfer full) (element-type VbGraphicsInfo): the <graphics>, in order
 */
GPtrArray *
vb_domain_def_get_graphics(const VbDomainDef *def)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vb_graphics_info_free);
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        VbGraphicsInfo *g;

        if (dev->kind != VB_DEV_GRAPHICS)
            continue;
        g = g_new0(VbGraphicsInfo, 1);
        g->type = g_strdup(dev->type);
        g->listen = g_strdup(dev->listen);
        g->port = dev->port;
        g->tls_port = int_attr(&dev->extra, "tlsPort");
        g->autoport = dev->autoport == 1;
        g->passwd_set = dev->passwd != NULL;
        graphics_listen_children(dev, g);
        g_ptr_array_add(out, g);
    }
    return out;
}

/**
 * vb_domain_def_find_screen:
 * @def: the live definition of a running domain
 * @screen: Screenshot's screen: the heads of the <video> devices, counted in order
 * @out_alias: (out) (transfer full): the video device's alias
 * @out_head: (out): the head on that device
 * @error: OperationInvalid when there is no video device, InvalidArgument when @screen is
 *   beyond the last head
 *
 * Returns: whether @screen exists (libvirt's qemuDomainScreenshot rules)
 */
gboolean
vb_domain_def_find_screen(const VbDomainDef *def, guint screen, char **out_alias,
                          guint *out_head, GError **error)
{
    GPtrArray *devs = def->priv->devices;
    guint first = 0;
    gboolean any = FALSE;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);
        guint heads;

        if (d->kind != VB_DEV_VIDEO || g_strcmp0(d->model, "none") == 0)
            continue;
        any = TRUE;
        heads = d->heads > 0 ? d->heads : 1;
        if (screen < first + heads) {
            *out_alias = vb_domain_def_device_alias(def, d);
            *out_head = screen - first;
            return TRUE;
        }
        first += heads;
    }
    if (!any)
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                            "no screens to take screenshot from: the domain has no <video>");
    else
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "no screen with index %u: the domain's video devices have %u heads", screen,
                    first);
    return FALSE;
}

/* ---- <title>, <description>, <metadata> (libvirt's virDomainDefSetMetadata) ---- */

/* the <metadata> element as a document (a new, empty one when there is none) */
static xmlDoc *
metadata_doc(const VbDomainDef *def)
{
    xmlDoc *doc = NULL;

    if (def->priv->metadata_xml != NULL)
        doc = xmlReadMemory(def->priv->metadata_xml, strlen(def->priv->metadata_xml), NULL,
                            NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
    if (doc == NULL) {
        doc = xmlNewDoc(BAD_CAST "1.0");
        xmlDocSetRootElement(doc, xmlNewNode(NULL, BAD_CAST "metadata"));
    }
    return doc;
}

static xmlNode *
find_ns_child(xmlNode *metadata, const char *uri)
{
    for (xmlNode *c = metadata->children; c != NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && c->ns != NULL && c->ns->href != NULL &&
            strcmp((const char *)c->ns->href, uri) == 0)
            return c;
    }
    return NULL;
}

/**
 * vb_domain_def_get_metadata:
 * @type: VB_METADATA_DESCRIPTION, _TITLE or _ELEMENT
 * @uri: (nullable): the namespace of the element (ELEMENT)
 * @error: NoDomainMetadata-like InvalidArgument "Requested metadata element is not present"
 *
 * Returns: (transfer full) (nullable): the description, title, or the element's XML
 */
char *
vb_domain_def_get_metadata(const VbDomainDef *def, int type, const char *uri, GError **error)
{
    const char *text = NULL;

    switch (type) {
    case VB_METADATA_DESCRIPTION:
        text = def->description;
        break;
    case VB_METADATA_TITLE:
        text = def->title;
        break;
    case VB_METADATA_ELEMENT: {
        xmlDoc *doc;
        xmlNode *el;
        char *out = NULL;

        if (uri == NULL || *uri == '\0') {
            g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                                "a namespace URI is required for metadata of type ELEMENT");
            return NULL;
        }
        doc = metadata_doc(def);
        el = find_ns_child(xmlDocGetRootElement(doc), uri);
        if (el != NULL) {
            VbRawElem *raw = vb_raw_elem_new(el, 0);

            out = g_steal_pointer(&raw->xml);
            vb_raw_elem_free(raw);
        }
        xmlFreeDoc(doc);
        if (out == NULL)
            g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                                "Requested metadata element is not present");
        return out;
    }
    default:
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "unknown metadata type %d (0 description, 1 title, 2 element)", type);
        return NULL;
    }
    if (text == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "Requested metadata element is not present");
        return NULL;
    }
    return g_strdup(text);
}

/**
 * vb_xml_text_check:
 * @text: (nullable): UTF-8 text to be formatted into XML
 * @what: what it is, for the message
 *
 * Checks that @text is made of XML 1.0 characters only: no control characters but tab,
 * newline and carriage return, no U+FFFE or U+FFFF (a formatted definition holding one
 * would not parse again).
 *
 * Returns: %TRUE if it is (or %NULL); otherwise InvalidArgument naming the offset
 */
gboolean
vb_xml_text_check(const char *text, const char *what, GError **error)
{
    if (text == NULL)
        return TRUE;
    if (!g_utf8_validate(text, -1, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "the %s is not valid UTF-8", what);
        return FALSE;
    }
    for (const char *p = text; *p != '\0'; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);

        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0xFFFE || c == 0xFFFF) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "the %s holds the character U+%04X at byte %ld, which XML 1.0 does "
                        "not allow (no control characters but tab, newline and carriage "
                        "return)", what, c, (long)(p - text));
            return FALSE;
        }
    }
    return TRUE;
}

/* ELEMENT: replaces (or, with no @metadata, removes) the element of namespace @uri */
static gboolean
set_metadata_element(VbDomainDef *def, const char *metadata, const char *key, const char *uri,
                     GError **error)
{
    xmlDoc *doc;
    xmlNode *root, *old, *c;
    gboolean any = FALSE;

    if (uri == NULL || *uri == '\0') {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "a namespace URI is required for metadata of type ELEMENT");
        return FALSE;
    }
    doc = metadata_doc(def);
    root = xmlDocGetRootElement(doc);
    if (metadata != NULL && *metadata != '\0') {
        xmlDoc *frag;
        xmlNode *el;
        xmlNs *ns;

        if (key == NULL || *key == '\0' || xmlValidateNCName(BAD_CAST key, 0) != 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "metadata of type ELEMENT needs a namespace prefix (key) that is an "
                        "XML name, not '%s'", key != NULL ? key : "");
            xmlFreeDoc(doc);
            return FALSE;
        }
        frag = xmlReadMemory(metadata, strlen(metadata), NULL, NULL,
                             XML_PARSE_NONET | XML_PARSE_NOBLANKS);
        if (frag == NULL || xmlDocGetRootElement(frag) == NULL || frag->intSubset != NULL) {
            g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_XML,
                                "the metadata is not well-formed XML (one element, no DTD)");
            if (frag != NULL)
                xmlFreeDoc(frag);
            xmlFreeDoc(doc);
            return FALSE;
        }
        el = xmlDocCopyNode(xmlDocGetRootElement(frag), doc, 1);
        xmlFreeDoc(frag);
        /* the element gets the caller's namespace, prefixed @key (as libvirt) */
        ns = xmlNewNs(el, BAD_CAST uri, BAD_CAST key);
        xmlSetNs(el, ns);
        old = find_ns_child(root, uri);
        if (old != NULL) {
            xmlReplaceNode(old, el);
            xmlFreeNode(old);
        } else {
            xmlAddChild(root, el);
        }
    } else {
        old = find_ns_child(root, uri);
        if (old != NULL) {
            xmlUnlinkNode(old);
            xmlFreeNode(old);
        }
    }
    for (c = root->children; c != NULL; c = c->next)
        any |= c->type == XML_ELEMENT_NODE;
    g_clear_pointer(&def->priv->metadata_xml, g_free);
    if (any) {
        VbRawElem *raw = vb_raw_elem_new(root, 0);

        def->priv->metadata_xml = g_steal_pointer(&raw->xml);
        vb_raw_elem_free(raw);
    }
    xmlFreeDoc(doc);
    return TRUE;
}

/**
 * vb_domain_def_set_metadata:
 * @type: VB_METADATA_DESCRIPTION, _TITLE or _ELEMENT
 * @metadata: (nullable): the new text or element; %NULL or "" removes it
 * @key: (nullable): ELEMENT: the namespace prefix
 * @uri: (nullable): ELEMENT: the namespace
 *
 * Changes @def as libvirt's virDomainDefSetMetadata(): a title has no newline, an element
 * is one well-formed element put into namespace @uri (replacing the one there).
 *
 * Returns: whether it changed; @def is unchanged on failure
 */
gboolean
vb_domain_def_set_metadata(VbDomainDef *def, int type, const char *metadata, const char *key,
                           const char *uri, GError **error)
{
    const char *v = metadata != NULL && *metadata != '\0' ? metadata : NULL;
    const char *what = type == VB_METADATA_TITLE         ? "title"
                       : type == VB_METADATA_DESCRIPTION ? "description"
                                                         : "metadata";

    /* all of it is formatted into the definition: a character XML 1.0 refuses would make
     * the definition unreadable (the next copy, the config file at the next start) */
    if (!vb_xml_text_check(v, what, error) || !vb_xml_text_check(uri, "namespace URI", error))
        return FALSE;
    switch (type) {
    case VB_METADATA_DESCRIPTION:
        g_free(def->description);
        def->description = g_strdup(v);
        return TRUE;
    case VB_METADATA_TITLE:
        if (v != NULL && strchr(v, '\n') != NULL) {
            g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                                "Domain title can't contain newlines");
            return FALSE;
        }
        g_free(def->title);
        def->title = g_strdup(v);
        return TRUE;
    case VB_METADATA_ELEMENT:
        return set_metadata_element(def, v, key, uri, error);
    default:
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "unknown metadata type %d (0 description, 1 title, 2 element)", type);
        return FALSE;
    }
}
