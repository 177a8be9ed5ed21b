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

static const char *
owner(VbBusCall *call)
{
    return call->caller != NULL ? call->caller->sender : NULL;
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
    fd = vb_domain_open_graphics_fd(call->service->domains, call->dom, idx, flags, owner(call),
                                    error);
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
    fd = vb_domain_screenshot(call->service->domains, call->dom, screen, owner(call), &mime,
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
                            owner(call), error))
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
        !vb_domain_inject_nmi(call->service->domains, call->dom, owner(call), error))
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

/**
 * vb_bus_console_graphics:
 * @dom: a domain
 *
 * Returns: (transfer floating): the Graphics property's value, from the live definition
 *   (empty when not running). Main thread; takes the domain's lock briefly.
 */
GVariant *
vb_bus_console_graphics(VbDomainObj *dom)
{
    g_autoptr(GPtrArray) gs = NULL;
    GVariantBuilder b;

    g_mutex_lock(&dom->lock);
    if (dom->id >= 0)
        gs = vb_domain_def_get_graphics(dom->def);
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
        if (g->socket != NULL)
            g_variant_dict_insert(&d, "socket", "s", g->socket);
        g_variant_dict_insert(&d, "autoport", "b", g->autoport);
        g_variant_dict_insert(&d, "passwdSet", "b", g->passwd_set);
        g_variant_builder_add_value(&b, g_variant_dict_end(&d));
    }
    return g_variant_builder_end(&b);
}
