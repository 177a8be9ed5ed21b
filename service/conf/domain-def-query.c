/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Read access to the parts of the model kept verbatim (extra attributes, raw elements) and
 * machine-type questions, for the command-line builder and address assignment.
 */
#include "config.h"

#include <libxml/parser.h>
#include <string.h>

#include "domain-def-hotplug.h"
#include "domain-def-priv.h"
#include "vb-error.h"

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"

/**
 * vb_extra_get_attr:
 * @extra: what was kept of an element
 * @name: attribute name
 *
 * Returns: (nullable): the value of the kept attribute @name
 */
const char *
vb_extra_get_attr(const VbExtra *extra, const char *name)
{
    for (guint i = 0; extra->attrs != NULL && i + 1 < extra->attrs->len; i += 2) {
        if (strcmp(g_ptr_array_index(extra->attrs, i), name) == 0)
            return g_ptr_array_index(extra->attrs, i + 1);
    }
    return NULL;
}

/**
 * vb_raw_elem_parse:
 * @raw: a verbatim element
 *
 * Returns: (transfer full) (nullable): the element as its own document
 */
xmlDoc *
vb_raw_elem_parse(const VbRawElem *raw)
{
    return xmlReadMemory(raw->xml, (int)strlen(raw->xml), "raw.xml", NULL,
                         XML_PARSE_NONET);
}

/**
 * vb_raw_elem_get_attr:
 * @raw: a verbatim element
 * @name: an attribute of its root
 *
 * Returns: (transfer full) (nullable): the attribute's value
 */
char *
vb_raw_elem_get_attr(const VbRawElem *raw, const char *name)
{
    xmlDoc *doc = vb_raw_elem_parse(raw);
    char *value;

    if (doc == NULL)
        return NULL;
    value = vb_xml_prop(xmlDocGetRootElement(doc), name);
    xmlFreeDoc(doc);
    return value;
}

/**
 * vb_domain_def_is_q35:
 * @def: a definition
 *
 * Returns: whether the machine type is a Q35 one ("q35", "pc-q35-*")
 */
gboolean
vb_domain_def_is_q35(const VbDomainDef *def)
{
    const char *m = def->priv->os_machine;

    return m != NULL && (strcmp(m, "q35") == 0 || g_str_has_prefix(m, "pc-q35-"));
}

/**
 * vb_domain_def_q35_has_builtin_fdc:
 * @def: a Q35 definition
 *
 * Returns: whether the Q35 machine has a built-in floppy controller (pc-q35 before 2.4)
 */
gboolean
vb_domain_def_q35_has_builtin_fdc(const VbDomainDef *def)
{
    const char *m = def->priv->os_machine;
    guint major = 0;
    guint minor = 0;

    if (m == NULL || !g_str_has_prefix(m, "pc-q35-"))
        return FALSE;
    if (sscanf(m + strlen("pc-q35-"), "%u.%u", &major, &minor) != 2)
        return FALSE;
    return major < 2 || (major == 2 && minor < 4);
}

static gboolean
collect_commandline(const VbRawElem *raw, GPtrArray *args, GPtrArray *env, GError **error)
{
    xmlDoc *doc = vb_raw_elem_parse(raw);
    xmlNode *root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    gboolean ok = TRUE;

    if (root == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INTERNAL, "line %d: cannot re-read <%s>",
                    raw->line, raw->name);
        return FALSE;
    }
    for (xmlNode *c = root->children; c != NULL && ok; c = c->next) {
        g_autofree char *value = NULL;
        g_autofree char *name = NULL;

        if (c->type != XML_ELEMENT_NODE)
            continue;
        value = vb_xml_prop(c, "value");
        if (strcmp((const char *)c->name, "arg") == 0 && value != NULL) {
            g_ptr_array_add(args, g_steal_pointer(&value));
        } else if (strcmp((const char *)c->name, "env") == 0 &&
                   (name = vb_xml_prop(c, "name")) != NULL) {
            g_ptr_array_add(env, g_strdup_printf("%s=%s", name, value ? value : ""));
        } else {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "line %d: <%s> child <%s> is not supported", raw->line, raw->name,
                        (const char *)c->name);
            ok = FALSE;
        }
    }
    xmlFreeDoc(doc);
    return ok;
}

/**
 * vb_domain_def_get_qemu_commandline:
 * @def: a definition
 * @out_args: (out) (transfer full): <qemu:arg value=> values in order (NULL-terminated)
 * @out_env: (out) (transfer full): <qemu:env name= value=> as "NAME=VALUE"
 * @error: error
 *
 * Reads the <qemu:commandline> elements (namespace http://libvirt.org/schemas/domain/qemu/1.0)
 * kept verbatim at the top level. Both arrays are empty when there are none.
 */
gboolean
vb_domain_def_get_qemu_commandline(const VbDomainDef *def, char ***out_args, char ***out_env,
                                   GError **error)
{
    g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func(g_free);
    GPtrArray *raws = def->priv->root_extra.children;

    for (guint i = 0; raws != NULL && i < raws->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(raws, i);
        const char *colon = strchr(raw->name, ':');

        if (colon == NULL || strcmp(colon + 1, "commandline") != 0 ||
            strstr(raw->xml, QEMU_NS) == NULL)
            continue;
        if (!collect_commandline(raw, args, env, error))
            return FALSE;
    }
    g_ptr_array_add(args, NULL);
    g_ptr_array_add(env, NULL);
    *out_args = (char **)g_ptr_array_free(g_steal_pointer(&args), FALSE);
    *out_env = (char **)g_ptr_array_free(g_steal_pointer(&env), FALSE);
    return TRUE;
}

/* a display listening on a socket or nowhere needs no port */
static gboolean
graphics_listens_on_address(const VbDeviceDef *dev)
{
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);
        g_autofree char *type = NULL;

        if (strcmp(raw->name, "listen") != 0)
            continue;
        type = vb_raw_elem_get_attr(raw, "type");
        return g_strcmp0(type, "socket") != 0 && g_strcmp0(type, "none") != 0;
    }
    return TRUE;
}

static gboolean
graphics_wants_autoport(const VbDeviceDef *dev)
{
    return dev->kind == VB_DEV_GRAPHICS && dev->type != NULL &&
           (g_str_equal(dev->type, "vnc") || g_str_equal(dev->type, "spice")) &&
           (dev->autoport == 1 || dev->port < 0) && graphics_listens_on_address(dev);
}

/**
 * vb_domain_def_needs_autoport:
 *
 * Returns: whether a VNC or SPICE display of @def needs a port from the
 *   service's allocator (autoport='yes', or no port given).
 */
gboolean
vb_domain_def_needs_autoport(const VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        if (graphics_wants_autoport(g_ptr_array_index(devs, i)))
            return TRUE;
    }
    return FALSE;
}

/**
 * vb_domain_def_get_spice:
 * @out_port: (out): the SPICE display's plain port, or -1
 * @out_tls_port: (out): its TLS port, or -1
 *
 * Returns: whether @def (a live definition: autoports are filled in) has
 *   a SPICE display listening on a network address (what a SPICE client
 *   connected to the source must be told to reconnect to after a
 *   migration).
 */
gboolean
vb_domain_def_get_spice(const VbDomainDef *def, int *out_port, int *out_tls_port)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        const char *tls;
        gint64 v;

        if (dev->kind != VB_DEV_GRAPHICS || g_strcmp0(dev->type, "spice") != 0 ||
            !graphics_listens_on_address(dev))
            continue;
        tls = vb_extra_get_attr(&dev->extra, "tlsPort");
        v = tls != NULL ? g_ascii_strtoll(tls, NULL, 10) : -1;
        *out_port = dev->port > 0 ? dev->port : -1;
        *out_tls_port = v > 0 && v <= 65535 ? (int)v : -1;
        return *out_port > 0 || *out_tls_port > 0;
    }
    return FALSE;
}

/**
 * vb_domain_def_set_autoport:
 * @port: the allocated display port
 *
 * Records in a live definition the port an autoport display got, so the
 * running domain's XML shows it as libvirt's does.
 */
void
vb_domain_def_set_autoport(VbDomainDef *def, int port)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (graphics_wants_autoport(dev)) {
            dev->port = port;
            dev->autoport = 1;
            return;
        }
    }
}

/* Sets (or replaces; with @value NULL removes) an attribute kept in @extra. */
static void
extra_set_attr(VbExtra *extra, const char *name, const char *value)
{
    if (extra->attrs == NULL && value == NULL)
        return;
    if (extra->attrs == NULL)
        extra->attrs = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i + 1 < extra->attrs->len; i += 2) {
        if (!g_str_equal(g_ptr_array_index(extra->attrs, i), name))
            continue;
        if (value == NULL) {
            g_ptr_array_remove_range(extra->attrs, i, 2);
            return;
        }
        g_free(extra->attrs->pdata[i + 1]);
        extra->attrs->pdata[i + 1] = g_strdup(value);
        return;
    }
    if (value == NULL)
        return;
    g_ptr_array_add(extra->attrs, g_strdup(name));
    g_ptr_array_add(extra->attrs, g_strdup(value));
}

/**
 * vb_domain_def_drop_disk_source:
 * @target_dev: the disk's <target dev=>
 *
 * Records in a live definition that a start dropped a missing medium
 * (startupPolicy='optional'), as libvirt does: a cdrom or floppy keeps an
 * empty drive (<source> keeps only startupPolicy), any other disk leaves the
 * live definition.
 */
void
vb_domain_def_drop_disk_source(VbDomainDef *def, const char *target_dev)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        VbDeviceDef *dev = g_ptr_array_index(devs, i);
        g_autofree char *policy = NULL;

        if (dev->kind != VB_DEV_DISK || g_strcmp0(dev->target_dev, target_dev) != 0)
            continue;
        if (!g_str_equal(dev->device, "cdrom") && !g_str_equal(dev->device, "floppy")) {
            g_ptr_array_remove_index(devs, i);
            return;
        }
        policy = g_strdup(vb_extra_get_attr(&dev->source.extra, "startupPolicy"));
        g_clear_pointer(&dev->source_path, g_free);
        vb_sub_elem_clear(&dev->source);
        if (policy != NULL) {
            dev->source.present = TRUE;
            extra_set_attr(&dev->source.extra, "startupPolicy", policy);
        }
        return;
    }
}

/**
 * vb_graphics_parse_valid_to:
 * @text: a passwdValidTo value, YYYY-MM-DDTHH:MM:SS in UTC (libvirt's format)
 * @out: (out): the time in seconds since the epoch
 *
 * Returns: FALSE when @text is not such a time.
 */
gboolean
vb_graphics_parse_valid_to(const char *text, gint64 *out)
{
    g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
    g_autoptr(GDateTime) t = NULL;
    int y, mo, d, h, mi, s, n = 0;

    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 ||
        text[n] != '\0' || y < 1970)
        return FALSE;
    t = g_date_time_new(utc, y, mo, d, h, mi, s);
    if (t == NULL)
        return FALSE;
    *out = g_date_time_to_unix(t);
    return TRUE;
}

/**
 * vb_graphics_auth_get:
 * @dev: a <graphics> device
 * @auth: (out caller-allocates): its password settings, copied
 *
 * Returns: TRUE when @dev is a VNC or SPICE display with a password (what QMP's
 *   set_password/expire_password take); FALSE and @auth cleared otherwise.
 */
gboolean
vb_graphics_auth_get(const VbDeviceDef *dev, VbGraphicsAuth *auth)
{
    const char *valid_to;

    memset(auth, 0, sizeof(*auth));
    if (dev->kind != VB_DEV_GRAPHICS || dev->passwd == NULL || dev->type == NULL ||
        !(g_str_equal(dev->type, "vnc") || g_str_equal(dev->type, "spice")))
        return FALSE;
    auth->protocol = g_strdup(dev->type);
    auth->passwd = g_strdup(dev->passwd);
    auth->connected = g_strdup(vb_extra_get_attr(&dev->extra, "connected"));
    valid_to = vb_extra_get_attr(&dev->extra, "passwdValidTo");
    auth->expires = valid_to != NULL && vb_graphics_parse_valid_to(valid_to, &auth->valid_to);
    return TRUE;
}

/**
 * vb_graphics_auth_copy_to:
 * @dst: a <graphics> device of a definition
 * @src: the same display as an update gives it
 *
 * Gives @dst the password, passwdValidTo and connected= of @src (absent ones removed).
 */
void
vb_graphics_auth_copy_to(VbDeviceDef *dst, const VbDeviceDef *src)
{
    static const char *const attrs[] = { "passwdValidTo", "connected" };

    if (dst->passwd != NULL)
        explicit_bzero(dst->passwd, strlen(dst->passwd));
    g_free(dst->passwd);
    dst->passwd = g_strdup(src->passwd);
    for (guint i = 0; i < G_N_ELEMENTS(attrs); i++)
        extra_set_attr(&dst->extra, attrs[i], vb_extra_get_attr(&src->extra, attrs[i]));
}

void
vb_graphics_auth_clear(VbGraphicsAuth *auth)
{
    g_clear_pointer(&auth->protocol, g_free);
    if (auth->passwd != NULL)
        explicit_bzero(auth->passwd, strlen(auth->passwd));
    g_clear_pointer(&auth->passwd, g_free);
    g_clear_pointer(&auth->connected, g_free);
}

/**
 * vb_domain_def_get_graphics_auths:
 * @def: a definition
 *
 * Returns: (transfer full) (element-type VbGraphicsAuth): the password settings of the
 *   VNC and SPICE displays that have a password, for QMP's set_password before the guest
 *   runs.
 */
GArray *
vb_domain_def_get_graphics_auths(const VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;
    GArray *out = g_array_new(FALSE, TRUE, sizeof(VbGraphicsAuth));

    g_array_set_clear_func(out, (GDestroyNotify)vb_graphics_auth_clear);
    for (guint i = 0; i < devs->len; i++) {
        VbGraphicsAuth a;

        if (vb_graphics_auth_get(g_ptr_array_index(devs, i), &a))
            g_array_append_val(out, a);
    }
    return out;
}

/**
 * vb_domain_def_get_balloon_period:
 * @def: a definition
 *
 * Returns: the <memballoon><stats period='N'/> of a virtio balloon in seconds, 0 when
 *   there is none, -1 when it is not an integer between 0 and G_MAXINT
 */
int
vb_domain_def_get_balloon_period(const VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        GPtrArray *ch = dev->extra.children;

        if (dev->kind != VB_DEV_MEMBALLOON || !g_str_has_prefix(dev->model, "virtio"))
            continue;
        for (guint k = 0; ch != NULL && k < ch->len; k++) {
            const VbRawElem *raw = g_ptr_array_index(ch, k);
            g_autofree char *period = NULL;
            guint64 v;

            if (strcmp(raw->name, "stats") != 0)
                continue;
            period = vb_raw_elem_get_attr(raw, "period");
            if (period == NULL || !g_ascii_string_to_unsigned(period, 10, 0, G_MAXINT, &v,
                                                              NULL))
                return -1;
            return (int)v;
        }
    }
    return 0;
}

/**
 * vb_domain_def_needs_websocket_port:
 * @def: a definition
 *
 * Returns: whether a VNC display asks for a websocket port from the service's allocator
 *   (websocket='-1')
 */
gboolean
vb_domain_def_needs_websocket_port(const VbDomainDef *def)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_GRAPHICS && g_strcmp0(dev->type, "vnc") == 0 &&
            g_strcmp0(vb_extra_get_attr(&dev->extra, "websocket"), "-1") == 0)
            return TRUE;
    }
    return FALSE;
}
