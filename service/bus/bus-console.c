/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Console and display hand-off on the bus (issue 13, part console): OpenConsole,
 * OpenChannel, OpenGraphicsFD, Screenshot, SendKey, InjectNMI, SendProcessSignal and the
 * Graphics property. The methods run on workers; a descriptor goes back in the reply's
 * GUnixFDList (call->out_fds), its "h" value the index.
 */
#include "config.h"

#include <glib/gi18n.h>
#include <unistd.h>

#include "bus-service.h"
#include "domain-console.h"
#include "domain-def-console.h"
#include "vb-error.h"

/* Takes @fd (closed here) into the reply's descriptors; returns its handle, or -1. */
static gint32
add_fd(VbBusCall *call, int fd, GError **error)
{
    gint32 h;

    if (call->out_fds == NULL)
        call->out_fds = g_unix_fd_list_new();
    h = g_unix_fd_list_append(call->out_fds, fd, error); /* a duplicate */
    close(fd);
    return h;
}

static GVariant *
open_stream(VbBusCall *call, gboolean channel, GError **error)
{
    const char *name;
    guint32 flags;
    gint32 h;
    int fd;

    g_variant_get(call->parameters, "(&su)", &name, &flags);
    if (!vb_bus_check_flags(flags, VB_DOMAIN_CONSOLE_FORCE | VB_DOMAIN_CONSOLE_SAFE,
                            channel ? "OpenChannel" : "OpenConsole", error))
        return NULL;
    fd = vb_domain_open_console(call->dom, name, channel, flags, error);
    if (fd < 0 || (h = add_fd(call, fd, error)) < 0)
        return NULL;
    return g_variant_new("(h)", h);
}

/* OpenConsole(s dev_name, u flags) -> h */
GVariant *
vb_bus_open_console(VbBusCall *call, GError **error)
{
    return open_stream(call, FALSE, error);
}

/* OpenChannel(s name, u flags) -> h */
GVariant *
vb_bus_open_channel(VbBusCall *call, GError **error)
{
    return open_stream(call, TRUE, error);
}

/* OpenGraphicsFD(u idx, u flags) -> h */
GVariant *
vb_bus_open_graphics_fd(VbBusCall *call, GError **error)
{
    guint32 idx, flags;
    gint32 h;
    int fd;

    g_variant_get(call->parameters, "(uu)", &idx, &flags);
    if (!vb_bus_check_flags(flags, VB_DOMAIN_OPEN_GRAPHICS_SKIPAUTH, "OpenGraphicsFD", error))
        return NULL;
    fd = vb_domain_open_graphics_fd(call->service->domains, call->dom, idx, flags,
                                    vb_bus_owner(call), error);
    if (fd < 0 || (h = add_fd(call, fd, error)) < 0)
        return NULL;
    return g_variant_new("(h)", h);
}

/* Screenshot(u screen, u flags) -> (h, s) */
GVariant *
vb_bus_screenshot(VbBusCall *call, GError **error)
{
    guint32 screen, flags;
    g_autofree char *mime = NULL;
    gint32 h;
    int fd;

    g_variant_get(call->parameters, "(uu)", &screen, &flags);
    if (!vb_bus_check_flags(flags, 0, "Screenshot", error))
        return NULL;
    fd = vb_domain_screenshot(call->service->domains, call->dom, screen, vb_bus_owner(call), &mime,
                              error);
    if (fd < 0 || (h = add_fd(call, fd, error)) < 0)
        return NULL;
    return g_variant_new("(hs)", h, mime);
}

/* SendKey(u codeset, u holdtime, au keycodes, u flags) */
GVariant *
vb_bus_send_key(VbBusCall *call, GError **error)
{
    guint32 codeset, holdtime, flags;
    g_autoptr(GVariant) keys = NULL;
    const guint32 *codes;
    gsize n = 0;

    g_variant_get(call->parameters, "(uu@auu)", &codeset, &holdtime, &keys, &flags);
    if (!vb_bus_check_flags(flags, 0, "SendKey", error))
        return NULL;
    codes = g_variant_get_fixed_array(keys, &n, sizeof(guint32));
    if (!vb_domain_send_key(call->service->domains, call->dom, codeset, holdtime, codes, n,
                            vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

/* InjectNMI(u flags) */
GVariant *
vb_bus_inject_nmi(VbBusCall *call, GError **error)
{
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, 0, "InjectNMI", error) ||
        !vb_domain_inject_nmi(call->service->domains, call->dom, vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

/* SendProcessSignal(x pid, u signum, u flags): libvirt's LXC driver only */
GVariant *
vb_bus_send_process_signal(VbBusCall *call, GError **error)
{
    g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        _("SendProcessSignal: sending a signal to a process in the guest is "
                          "implemented by libvirt's LXC driver only; a QEMU guest cannot do it "
                          "(use the guest agent or the console)"));
    return NULL;
}

/* ---- title, description, metadata ---- */

/* GetMetadata(i type, s uri, u flags) -> s */
GVariant *
vb_bus_get_metadata(VbBusCall *call, GError **error)
{
    gint32 type;
    const char *uri;
    guint32 flags;
    g_autofree char *out = NULL;

    g_variant_get(call->parameters, "(i&su)", &type, &uri, &flags);
    if (!vb_bus_check_flags(flags, VB_DOMAIN_AFFECT_LIVE | VB_DOMAIN_AFFECT_CONFIG,
                            "GetMetadata", error))
        return NULL;
    out = vb_domain_get_metadata(call->dom, type, uri, flags, error);
    if (out == NULL)
        return NULL;
    return g_variant_new("(s)", out);
}

typedef struct {
    VbBusService *service;
    char *path;
    gint32 type;
    char *uri;
} MetadataChange;

/* Main thread, queued after the publish of the change: the signal follows the properties. */
static gboolean
emit_metadata_change(gpointer data)
{
    MetadataChange *m = data;
    if (vb_bus_domain_export_exists(m->service, m->path))
        vb_bus_domain_emit(m->service, m->path, NULL, "MetadataChange",
                           g_variant_new("(is)", m->type, m->uri));
    g_free(m->path);
    g_free(m->uri);
    g_free(m);
    return G_SOURCE_REMOVE;
}

static gboolean
set_metadata(VbBusCall *call, gint32 type, const char *metadata, const char *key,
             const char *uri, guint32 flags, GError **error)
{
    MetadataChange *m;

    if (!vb_domain_set_metadata(call->service->domains, call->dom, type, metadata, key, uri,
                                flags, error))
        return FALSE;
    m = g_new0(MetadataChange, 1);
    m->service = call->service;
    m->path = g_strdup(call->dom->object_path);
    m->type = type;
    m->uri = g_strdup(type == VB_METADATA_ELEMENT && uri != NULL ? uri : "");
    vb_bus_service_queue(call->service, emit_metadata_change, m);
    return TRUE;
}

/* SetMetadata(i type, s metadata, s key, s uri, u flags) */
GVariant *
vb_bus_set_metadata(VbBusCall *call, GError **error)
{
    gint32 type;
    const char *metadata, *key, *uri;
    guint32 flags;

    g_variant_get(call->parameters, "(i&s&s&su)", &type, &metadata, &key, &uri, &flags);
    if (!vb_bus_check_flags(flags, VB_DOMAIN_AFFECT_LIVE | VB_DOMAIN_AFFECT_CONFIG,
                            "SetMetadata", error) ||
        !set_metadata(call, type, metadata, key, uri, flags, error))
        return NULL;
    return g_variant_new("()");
}

/* Set of Title and Description: the running definition and, for a persistent domain, the
 * persistent one too (a frontend's rename survives a restart); an inactive domain's
 * persistent one. Parameters are (ssv) of Properties.Set. */
static GVariant *
set_text_property(VbBusCall *call, gint32 type, GError **error)
{
    const char *prop;
    g_autoptr(GVariant) value = NULL;
    guint32 flags = VB_DOMAIN_AFFECT_CURRENT;

    g_variant_get(call->parameters, "(&s&sv)", NULL, &prop, &value);
    if (!g_variant_is_of_type(value, G_VARIANT_TYPE_STRING)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, _("%s must be a string, not '%s'"),
                    prop, g_variant_get_type_string(value));
        return NULL;
    }
    g_mutex_lock(&call->dom->lock);
    if (call->dom->id >= 0 && call->dom->persistent)
        flags = VB_DOMAIN_AFFECT_LIVE | VB_DOMAIN_AFFECT_CONFIG;
    g_mutex_unlock(&call->dom->lock);
    if (!set_metadata(call, type, g_variant_get_string(value, NULL), NULL, NULL, flags, error))
        return NULL;
    return g_variant_new("()");
}

GVariant *
vb_bus_set_title(VbBusCall *call, GError **error)
{
    return set_text_property(call, VB_METADATA_TITLE, error);
}

GVariant *
vb_bus_set_description(VbBusCall *call, GError **error)
{
    return set_text_property(call, VB_METADATA_DESCRIPTION, error);
}

/**
 * vb_bus_console_apply:
 * @iface: the domain's skeleton
 * @dom: the domain
 *
 * Sets the Graphics (from the live definition; empty when not running), Title and
 * Description properties. Main thread; takes the domain's lock briefly.
 */
void
vb_bus_console_add_props(GVariantBuilder *props, VbDomainObj *dom)
{
    g_autoptr(GPtrArray) gs = NULL;
    g_autofree char *title = NULL;
    g_autofree char *description = NULL;
    g_autofree char *runtime_dir = NULL;
    GVariantBuilder b;

    g_mutex_lock(&dom->lock);
    if (dom->id >= 0)
        gs = vb_domain_def_get_graphics(dom->def);
    runtime_dir = g_strdup(dom->runtime_dir);
    title = g_strdup(dom->def->title);
    description = g_strdup(dom->def->description);
    g_mutex_unlock(&dom->lock);
    g_variant_builder_init(&b, G_VARIANT_TYPE("aa{sv}"));
    for (guint i = 0; gs != NULL && i < gs->len; i++) {
        const VbGraphicsInfo *g = g_ptr_array_index(gs, i);
        GVariantDict d;

        g_variant_dict_init(&d, NULL);
        g_variant_dict_insert(&d, "type", "s", g->type != NULL ? g->type : "");
        if (g->listen != NULL)
            g_variant_dict_insert(&d, "listen", "s", g->listen);
        if (g->port > 0)
            g_variant_dict_insert(&d, "port", "i", g->port);
        if (g->tls_port > 0)
            g_variant_dict_insert(&d, "tlsPort", "i", g->tls_port);
        if (g->socket != NULL) {
            g_variant_dict_insert(&d, "socket", "s", g->socket);
        } else if (g->socket_listen && runtime_dir != NULL) {
            /* the name the command line gave it (qemu-command-graphics.c) */
            g_autofree char *base = g_strdup_printf("%s.sock", g->type);
            g_autofree char *path = g_build_filename(runtime_dir, base, NULL);

            g_variant_dict_insert(&d, "socket", "s", path);
        }
        g_variant_dict_insert(&d, "autoport", "b", g->autoport);
        g_variant_dict_insert(&d, "passwdSet", "b", g->passwd_set);
        g_variant_builder_add_value(&b, g_variant_dict_end(&d));
    }
    g_variant_builder_add(props, "{sv}", "Graphics", g_variant_builder_end(&b));
    g_variant_builder_add(props, "{sv}", "Title",
                          g_variant_new_string(title != NULL ? title : ""));
    g_variant_builder_add(props, "{sv}", "Description",
                          g_variant_new_string(description != NULL ? description : ""));
}
