/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Displays: -vnc, -spice and -display egl-headless, in libvirt 9.0's shapes for QEMU 7.2
 * (qemuBuildGraphics*CommandLine()). The command line is built from the configuration's
 * listen= and <listen> (the live XML's <listen> children are the domain layer's); passwords
 * are set over QMP by the process code, never on the command line.
 */
#include "config.h"

#include <libxml/tree.h>
#include <string.h>

#include "qemu-command-priv.h"
#include "vb-error.h"

typedef enum {
    LISTEN_ADDRESS,
    LISTEN_SOCKET,
    LISTEN_NONE,
} ListenType;

typedef struct {
    ListenType type;
    char *addr;   /* LISTEN_ADDRESS */
    char *socket; /* LISTEN_SOCKET */
} Listen;

static void
listen_clear(Listen *l)
{
    g_free(l->addr);
    g_free(l->socket);
}

/* <listen type='socket'> without socket=: libvirt's name in the runtime directory */
static char *
default_socket(const VbQemuCmd *c, const VbDeviceDef *dev)
{
    g_autofree char *base = g_strdup_printf("%s.sock", dev->type);

    return g_build_filename(c->params->runtime_dir, base, NULL);
}

static gboolean
listen_child(const VbQemuCmd *c, const VbDeviceDef *dev, const VbRawElem *raw, Listen *l,
             GError **error)
{
    g_autofree char *type = vb_raw_elem_get_attr(raw, "type");

    if (g_strcmp0(type, "address") == 0) {
        g_autofree char *addr = vb_raw_elem_get_attr(raw, "address");

        if (l->addr != NULL && addr != NULL && strcmp(l->addr, addr) != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "listen='%s' does not match the "
                                           "<listen address='%s'>", l->addr, addr);
        if (l->addr == NULL)
            l->addr = g_steal_pointer(&addr);
        return TRUE;
    }
    if (l->addr != NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "listen='%s' needs a <listen "
                                       "type='address'>", l->addr);
    if (g_strcmp0(type, "socket") == 0) {
        l->type = LISTEN_SOCKET;
        l->socket = vb_raw_elem_get_attr(raw, "socket");
        if (l->socket == NULL)
            l->socket = default_socket(c, dev);
        else if (!g_path_is_absolute(l->socket))
            return vb_qemu_cmd_unsupported(c, error, dev, "<listen socket='%s'> must be an "
                                           "absolute path", l->socket);
        return TRUE;
    }
    if (g_strcmp0(type, "none") == 0) {
        l->type = LISTEN_NONE;
        return TRUE;
    }
    if (g_strcmp0(type, "network") == 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "<listen type='network'> is not "
                                       "supported yet (virtual networks); use "
                                       "type='address'");
    return vb_qemu_cmd_unsupported(c, error, dev, "<listen type='%s'> is not supported",
                                   type != NULL ? type : "");
}

/*
 * Where the display listens: listen= or the one <listen> child (address, socket or
 * none); by default on 127.0.0.1, libvirt's default vnc_listen/spice_listen.
 */
static gboolean
graphics_listen(const VbQemuCmd *c, const VbDeviceDef *dev, Listen *l, GError **error)
{
    GPtrArray *ch = dev->extra.children;
    guint listens = 0;

    l->type = LISTEN_ADDRESS;
    l->addr = g_strdup(dev->listen);
    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, "listen") != 0)
            continue;
        /* QEMU listens on one address; libvirt refuses more for it too */
        if (++listens > 1)
            return vb_qemu_cmd_unsupported(c, error, dev, "only one <listen> is supported");
        if (!listen_child(c, dev, raw, l, error))
            return FALSE;
    }
    if (l->type == LISTEN_ADDRESS && l->addr == NULL)
        l->addr = g_strdup("127.0.0.1");
    return TRUE;
}

/* the display port; only one display listening on an address can have it allocated */
static gboolean
graphics_port(VbQemuCmd *c, const VbDeviceDef *dev, int *out_port, GError **error)
{
    if (dev->autoport == 1 || dev->port < 0) {
        if (c->graphics_autoports++ > 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "only one graphics device can use "
                                           "autoport; give the others a port");
        if (c->params->vnc_port < 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "autoport needs a display port "
                                           "allocated by the caller");
        *out_port = c->params->vnc_port;
        return TRUE;
    }
    *out_port = dev->port;
    return TRUE;
}

/* a kept attribute of <graphics> that must be one of @values (NULL-terminated pairs of
 * libvirt value, QEMU value); NULL when absent */
static gboolean
mapped_attr(const VbQemuCmd *c, const VbDeviceDef *dev, const char *name,
            const char *const values[], const char **out, GError **error)
{
    const char *v = vb_extra_get_attr(&dev->extra, name);

    *out = NULL;
    if (v == NULL)
        return TRUE;
    for (guint i = 0; values[i] != NULL; i += 2) {
        if (strcmp(values[i], v) == 0) {
            *out = values[i + 1];
            return TRUE;
        }
    }
    return vb_qemu_cmd_unsupported(c, error, dev, "invalid value '%s' for attribute '%s'", v,
                                   name);
}

/* keymap= becomes -k: a plain name, it is QEMU's whole value */
static gboolean
add_keymap(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    const char *k = vb_extra_get_attr(&dev->extra, "keymap");

    if (k == NULL)
        return TRUE;
    for (const char *p = k; *p != '\0'; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
            return vb_qemu_cmd_unsupported(c, error, dev, "invalid keymap '%s'", k);
    }
    if (*k == '\0')
        return vb_qemu_cmd_unsupported(c, error, dev, "keymap= is empty");
    vb_qemu_cmd_addf(c, "-k", "%s", k);
    return TRUE;
}

/* websocket=: a port, or -1 for one from the service's allocator */
static gboolean
vnc_websocket(VbQemuCmd *c, const VbDeviceDef *dev, GString *opts, GError **error)
{
    const char *w = vb_extra_get_attr(&dev->extra, "websocket");
    gint64 port;

    if (w == NULL)
        return TRUE;
    if (!g_ascii_string_to_signed(w, 10, -1, 65535, &port, NULL) || port == 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "websocket='%s' must be a port or -1",
                                       w);
    if (port < 0) {
        if (c->params->websocket_port <= 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "websocket='-1' needs a port "
                                           "allocated by the caller");
        port = c->params->websocket_port;
    }
    g_string_append_printf(opts, ",websocket=%" G_GINT64_FORMAT, port);
    return TRUE;
}

static gboolean
vnc_display(VbQemuCmd *c, const VbDeviceDef *dev, const Listen *l, GString *opts,
            GError **error)
{
    g_autofree char *e = NULL;
    int port = 0;

    if (l->type == LISTEN_NONE) {
        g_string_append(opts, "none");
        return TRUE;
    }
    if (l->type == LISTEN_SOCKET) {
        e = vb_qemu_cmd_escape(l->socket);
        g_string_append_printf(opts, "vnc=unix:%s", e);
        return TRUE;
    }
    if (!graphics_port(c, dev, &port, error))
        return FALSE;
    if (port < 5900)
        return vb_qemu_cmd_unsupported(c, error, dev, "VNC port %d is below 5900", port);
    /* the display is -vnc's implied first value: commas are doubled, and an '=' (which
     * QemuOpts cannot escape there) never passes the parser's address check */
    e = vb_qemu_cmd_escape(l->addr);
    g_string_append_printf(opts, "%s%s%s:%d", strchr(l->addr, ':') ? "[" : "", e,
                           strchr(l->addr, ':') ? "]" : "", port - 5900);
    return vnc_websocket(c, dev, opts, error);
}

static gboolean
build_vnc(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    static const char *const ok_attrs[] = { "websocket", "sharePolicy", "keymap",
                                            "powerControl", "passwdValidTo", "connected",
                                            NULL };
    static const char *const ok_children[] = { "listen", "audio", NULL };
    static const char *const share[] = { "allow-exclusive", "allow-exclusive",
                                         "force-shared", "force-shared", "ignore", "ignore",
                                         NULL };
    static const char *const power[] = { "yes", "on", "no", "off", NULL };
    g_autoptr(GString) opts = g_string_new(NULL);
    g_autofree char *audio = NULL;
    const char *share_v;
    const char *power_v;
    Listen l = { 0 };
    gboolean ok;

    ok = vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, ok_attrs, ok_children, error) &&
         mapped_attr(c, dev, "sharePolicy", share, &share_v, error) &&
         mapped_attr(c, dev, "powerControl", power, &power_v, error) &&
         vb_qemu_cmd_audio_id(c, dev, &audio, error) && graphics_listen(c, dev, &l, error) &&
         vnc_display(c, dev, &l, opts, error);
    listen_clear(&l);
    if (!ok)
        return FALSE;
    if (share_v != NULL)
        g_string_append_printf(opts, ",share=%s", share_v);
    if (dev->passwd != NULL)
        g_string_append(opts, ",password=on");
    if (power_v != NULL)
        g_string_append_printf(opts, ",power-control=%s", power_v);
    if (audio != NULL)
        g_string_append_printf(opts, ",audiodev=%s", audio);
    vb_qemu_cmd_addf(c, "-vnc", "%s", opts->str);
    return add_keymap(c, dev, error);
}

/*
 * The SPICE children with a value QEMU takes: element, attribute, allowed values (libvirt
 * value then QEMU value), QEMU key, in libvirt's order.
 */
typedef struct {
    const char *elem;
    const char *attr;
    const char *key;
    const char *const *values;
} SpiceOpt;

static const char *const image_values[] = { "auto_glz", "auto_glz", "auto_lz", "auto_lz",
                                            "quic", "quic", "glz", "glz", "lz", "lz", "off",
                                            "off", NULL };
static const char *const wan_values[] = { "auto", "auto", "never", "never", "always",
                                          "always", NULL };
static const char *const onoff_values[] = { "on", "on", "off", "off", NULL };
static const char *const stream_values[] = { "filter", "filter", "all", "all", "off", "off",
                                             NULL };
static const char *const no_values[] = { "no", "on", "yes", NULL, NULL };

static const SpiceOpt spice_opts[] = {
    { "image", "compression", "image-compression", image_values },
    { "jpeg", "compression", "jpeg-wan-compression", wan_values },
    { "zlib", "compression", "zlib-glz-wan-compression", wan_values },
    { "playback", "compression", "playback-compression", onoff_values },
    { "streaming", "mode", "streaming-video", stream_values },
    { "clipboard", "copypaste", "disable-copy-paste", no_values },
    { "filetransfer", "enable", "disable-agent-file-xfer", no_values },
};

/* the one child @name of the display, parsed; NULL when absent */
static gboolean
spice_child(const VbQemuCmd *c, const VbDeviceDef *dev, const char *name, xmlDoc **out,
            GError **error)
{
    GPtrArray *ch = dev->extra.children;

    *out = NULL;
    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, name) != 0)
            continue;
        if (*out != NULL) {
            xmlFreeDoc(*out);
            *out = NULL;
            return vb_qemu_cmd_unsupported(c, error, dev, "only one <%s> is supported", name);
        }
        *out = vb_raw_elem_parse(raw);
        if (*out == NULL)
            return vb_qemu_cmd_unsupported(c, error, dev, "cannot read <%s>", name);
    }
    return TRUE;
}

static gboolean
spice_option(const VbQemuCmd *c, const VbDeviceDef *dev, const SpiceOpt *o, GString *opts,
             GError **error)
{
    xmlDoc *doc = NULL;
    g_autofree char *v = NULL;

    if (!spice_child(c, dev, o->elem, &doc, error))
        return FALSE;
    if (doc == NULL)
        return TRUE;
    v = vb_xml_prop(xmlDocGetRootElement(doc), o->attr);
    xmlFreeDoc(doc);
    if (v == NULL)
        return vb_qemu_cmd_unsupported(c, error, dev, "<%s> needs %s=", o->elem, o->attr);
    for (guint i = 0; o->values[i] != NULL; i += 2) {
        if (strcmp(o->values[i], v) != 0)
            continue;
        if (o->values[i + 1] != NULL)
            g_string_append_printf(opts, ",%s=%s", o->key, o->values[i + 1]);
        return TRUE;
    }
    return vb_qemu_cmd_unsupported(c, error, dev, "invalid value '%s' for %s= of <%s>", v,
                                   o->attr, o->elem);
}

/* <mouse mode>, <gl enable rendernode>; TLS parts refused (no x509 dir is configured) */
static gboolean
spice_mouse_gl(const VbQemuCmd *c, const VbDeviceDef *dev, GString *opts, GError **error)
{
    xmlDoc *doc = NULL;
    g_autofree char *mode = NULL;
    g_autofree char *enable = NULL;
    g_autofree char *node = NULL;

    if (!spice_child(c, dev, "mouse", &doc, error))
        return FALSE;
    if (doc != NULL) {
        mode = vb_xml_prop(xmlDocGetRootElement(doc), "mode");
        xmlFreeDoc(doc);
        if (g_strcmp0(mode, "server") == 0)
            g_string_append(opts, ",agent-mouse=off");
        else if (g_strcmp0(mode, "client") == 0)
            g_string_append(opts, ",agent-mouse=on");
        else
            return vb_qemu_cmd_unsupported(c, error, dev, "<mouse mode='%s'> is not "
                                           "server or client", mode != NULL ? mode : "");
    }
    if (!spice_child(c, dev, "gl", &doc, error))
        return FALSE;
    if (doc != NULL) {
        enable = vb_xml_prop(xmlDocGetRootElement(doc), "enable");
        node = vb_xml_prop(xmlDocGetRootElement(doc), "rendernode");
        xmlFreeDoc(doc);
        if (g_strcmp0(enable, "yes") == 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "<gl enable='yes'> is not "
                                           "supported (SPICE OpenGL needs a local client "
                                           "and a DRM render node)");
        if (g_strcmp0(enable, "no") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "<gl> needs enable='yes' or 'no'");
    }
    return TRUE;
}

/* tlsPort, defaultMode='secure' and <channel mode='secure'> need TLS certificates */
static gboolean
spice_channels(const VbQemuCmd *c, const VbDeviceDef *dev, gboolean plain, GString *opts,
               GError **error)
{
    static const char *const names[] = { "main", "display", "inputs", "cursor", "playback",
                                         "record", "smartcard", "usbredir", NULL };
    const char *def_mode = vb_extra_get_attr(&dev->extra, "defaultMode");
    GPtrArray *ch = dev->extra.children;

    if (vb_extra_get_attr(&dev->extra, "tlsPort") != NULL ||
        g_strcmp0(def_mode, "secure") == 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "SPICE over TLS (tlsPort, "
                                       "defaultMode='secure') is not supported: no x509 "
                                       "certificate directory is configured");
    if (def_mode != NULL && strcmp(def_mode, "any") != 0 && strcmp(def_mode, "insecure") != 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "invalid defaultMode '%s'", def_mode);
    if (g_strcmp0(def_mode, "insecure") == 0) {
        if (!plain)
            return vb_qemu_cmd_unsupported(c, error, dev, "defaultMode='insecure' needs a "
                                           "port");
        g_string_append(opts, ",plaintext-channel=default");
    }
    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);
        g_autofree char *name = NULL;
        g_autofree char *mode = NULL;

        if (strcmp(raw->name, "channel") != 0)
            continue;
        name = vb_raw_elem_get_attr(raw, "name");
        mode = vb_raw_elem_get_attr(raw, "mode");
        if (name == NULL || !g_strv_contains(names, name))
            return vb_qemu_cmd_unsupported(c, error, dev, "<channel name='%s'> is not a "
                                           "SPICE channel", name != NULL ? name : "");
        if (g_strcmp0(mode, "secure") == 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "<channel name='%s' mode='secure'> "
                                           "needs SPICE over TLS, which is not supported",
                                           name);
        if (g_strcmp0(mode, "insecure") == 0 && !plain)
            return vb_qemu_cmd_unsupported(c, error, dev, "<channel mode='insecure'> needs a "
                                           "port");
        if (g_strcmp0(mode, "insecure") == 0)
            g_string_append_printf(opts, ",plaintext-channel=%s", name);
        else if (g_strcmp0(mode, "any") != 0)
            return vb_qemu_cmd_unsupported(c, error, dev, "<channel mode='%s'> is not "
                                           "secure, insecure or any", mode != NULL ? mode : "");
    }
    return TRUE;
}

static gboolean
spice_listen(VbQemuCmd *c, const VbDeviceDef *dev, const Listen *l, GString *opts,
             gboolean *out_plain, GError **error)
{
    g_autofree char *e = NULL;
    int port = 0;

    *out_plain = FALSE;
    if (l->type == LISTEN_SOCKET) {
        e = vb_qemu_cmd_escape(l->socket);
        g_string_append_printf(opts, "unix=on,addr=%s", e);
        return TRUE;
    }
    if (l->type == LISTEN_NONE) {
        g_string_append(opts, "port=0");
        return TRUE;
    }
    if (!graphics_port(c, dev, &port, error))
        return FALSE;
    if (port <= 0)
        return vb_qemu_cmd_unsupported(c, error, dev, "a SPICE display listening on an "
                                       "address needs a port (or autoport='yes')");
    e = vb_qemu_cmd_escape(l->addr);
    g_string_append_printf(opts, "port=%d,addr=%s", port, e);
    *out_plain = TRUE;
    return TRUE;
}

static gboolean
build_spice(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    static const char *const ok_attrs[] = { "tlsPort", "defaultMode", "keymap",
                                            "passwdValidTo", "connected", NULL };
    static const char *const ok_children[] = { "listen", "image", "jpeg", "zlib",
                                               "playback", "streaming", "clipboard", "mouse",
                                               "filetransfer", "gl", "channel", NULL };
    g_autoptr(GString) opts = g_string_new(NULL);
    Listen l = { 0 };
    gboolean plain = FALSE;
    gboolean ok;

    ok = vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, ok_attrs, ok_children, error) &&
         graphics_listen(c, dev, &l, error) && spice_listen(c, dev, &l, opts, &plain, error);
    listen_clear(&l);
    if (!ok || !spice_mouse_gl(c, dev, opts, error))
        return FALSE;
    if (dev->passwd == NULL)
        g_string_append(opts, ",disable-ticketing=on");
    if (!spice_channels(c, dev, plain, opts, error))
        return FALSE;
    for (guint i = 0; i < G_N_ELEMENTS(spice_opts); i++) {
        if (!spice_option(c, dev, &spice_opts[i], opts, error))
            return FALSE;
    }
    g_string_append(opts, ",seamless-migration=on");
    vb_qemu_cmd_addf(c, "-spice", "%s", opts->str);
    return add_keymap(c, dev, error);
}

/* -display egl-headless: OpenGL rendering without a window, on a DRM render node */
static gboolean
build_egl_headless(VbQemuCmd *c, const VbDeviceDef *dev, GError **error)
{
    static const char *const ok_children[] = { "gl", NULL };
    xmlDoc *doc = NULL;
    g_autofree char *node = NULL;
    g_autofree char *e = NULL;

    if (!vb_qemu_cmd_check_extra(c, dev, &dev->extra, NULL, NULL, ok_children, error) ||
        !spice_child(c, dev, "gl", &doc, error))
        return FALSE;
    if (doc != NULL) {
        node = vb_xml_prop(xmlDocGetRootElement(doc), "rendernode");
        xmlFreeDoc(doc);
    }
    /* QEMU opens the node itself, or picks the first: refuse before spawning, clearly */
    if (node == NULL && !g_file_test("/dev/dri", G_FILE_TEST_IS_DIR))
        return vb_qemu_cmd_unsupported(c, error, dev, "egl-headless needs a DRM render node "
                                       "and this host has none (/dev/dri is missing)");
    if (node == NULL) {
        vb_qemu_cmd_addf(c, "-display", "egl-headless");
        return TRUE;
    }
    if (!g_path_is_absolute(node))
        return vb_qemu_cmd_unsupported(c, error, dev, "<gl rendernode='%s'> must be an "
                                       "absolute path", node);
    e = vb_qemu_cmd_escape(node);
    vb_qemu_cmd_addf(c, "-display", "egl-headless,rendernode=%s", e);
    return TRUE;
}

/**
 * vb_qemu_cmd_build_graphics:
 * @c: the command being built
 * @error: error
 *
 * -vnc / -spice / -display egl-headless; without graphics -display none. VNC and SPICE
 * passwords are not on the command line: the process code sets them over QMP
 * (set_password) before resuming.
 */
gboolean
vb_qemu_cmd_build_graphics(VbQemuCmd *c, GError **error)
{
    GPtrArray *devs = c->def->priv->devices;
    int n = 0;
    int egl = 0;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        gboolean ok;

        if (dev->kind != VB_DEV_GRAPHICS)
            continue;
        if (strcmp(dev->type, "vnc") == 0)
            ok = build_vnc(c, dev, error);
        else if (strcmp(dev->type, "spice") == 0)
            ok = build_spice(c, dev, error);
        else if (strcmp(dev->type, "egl-headless") == 0)
            ok = ++egl > 1 ? vb_qemu_cmd_unsupported(c, error, dev, "only one egl-headless "
                                                     "display is supported")
                           : build_egl_headless(c, dev, error);
        else if (strcmp(dev->type, "dbus") == 0)
            ok = vb_qemu_cmd_unsupported(c, error, dev, "graphics type 'dbus' is not "
                                         "supported (it needs a D-Bus peer for QEMU's "
                                         "display, which virtbus does not provide)");
        else
            ok = vb_qemu_cmd_unsupported(c, error, dev, "graphics type '%s' is not supported "
                                         "(it needs a desktop session on the host)",
                                         dev->type);
        if (!ok)
            return FALSE;
        n++;
    }
    if (n == 0)
        vb_qemu_cmd_addf(c, "-display", "none");
    return TRUE;
}
