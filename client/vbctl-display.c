/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Displays, keys and screenshots (issue 13, part console): vncdisplay, domdisplay,
 * screenshot, send-key, inject-nmi, printing what virsh prints.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <gio/gunixinputstream.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "vbctl-keynames.h"
#include "vbctl.h"

/* virsh's names of libvirt's codesets, in their numeric order */
static const char *const codesets[] = {
    "linux", "xt", "atset1", "atset2", "atset3", "os_x", "xt_kbd", "usb", "win32", "qnum",
};

static VbDBusDomain *
running_domain(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);

    if (domain == NULL)
        return NULL;
    if (!vb_dbus_domain_get_active(domain)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, _("domain '%s' is not running (%s)"),
                    vb_dbus_domain_get_name(domain), vb_dbus_domain_get_state(domain));
        return NULL;
    }
    return g_steal_pointer(&domain);
}

/* The first display of @type in the Graphics property, or NULL. */
static GVariant *
find_graphics(VbDBusDomain *domain, const char *type)
{
    GVariant *all = vb_dbus_domain_get_graphics(domain);
    GVariantIter it;
    GVariant *g;

    if (all == NULL)
        return NULL;
    g_variant_iter_init(&it, all);
    while ((g = g_variant_iter_next_value(&it)) != NULL) {
        const char *t = NULL;

        if (g_variant_lookup(g, "type", "&s", &t) && (type == NULL ? (g_str_equal(t, "vnc") ||
                                                                      g_str_equal(t, "spice"))
                                                                   : g_str_equal(t, type)))
            return g;
        g_variant_unref(g);
    }
    return NULL;
}

/* virsh: a wildcard address means "this host"; an IPv6 address goes in brackets */
static char *
host_part(GVariant *g, const char *wildcard)
{
    const char *listen = NULL;

    if (!g_variant_lookup(g, "listen", "&s", &listen) || *listen == '\0' ||
        g_str_equal(listen, "0.0.0.0") || g_str_equal(listen, "::"))
        return g_strdup(wildcard);
    if (strchr(listen, ':') != NULL)
        return g_strdup_printf("[%s]", listen);
    return g_strdup(listen);
}

/* `vncdisplay NAME|UUID`: "127.0.0.1:0", or ":0" when VNC listens on every address */
gboolean
vbctl_cmd_vncdisplay(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = running_domain(ctx, error);
    g_autoptr(GVariant) g = NULL;
    g_autofree char *host = NULL;
    gint32 port = -1;

    if (domain == NULL)
        return FALSE;
    g = find_graphics(domain, "vnc");
    if (g == NULL || !g_variant_lookup(g, "port", "i", &port) || port < 5900) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    _("domain '%s' has no VNC display with a TCP port"),
                    vb_dbus_domain_get_name(domain));
        return FALSE;
    }
    host = host_part(g, "");
    g_print("%s:%d\n", host, port - 5900);
    return TRUE;
}

/* `domdisplay NAME|UUID [--type vnc|spice]`: the URI a viewer opens */
gboolean
vbctl_cmd_domdisplay(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = running_domain(ctx, error);
    g_autoptr(GVariant) g = NULL;
    g_autofree char *host = NULL;
    const char *type = NULL, *socket = NULL;
    gint32 port = -1, tls = -1;

    if (domain == NULL)
        return FALSE;
    g = find_graphics(domain, ctx->flags.display_type);
    if (g == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    _("No graphical display found for domain '%s'%s%s"),
                    vb_dbus_domain_get_name(domain), ctx->flags.display_type ? " of type " : "",
                    ctx->flags.display_type ? ctx->flags.display_type : "");
        return FALSE;
    }
    g_variant_lookup(g, "type", "&s", &type);
    g_variant_lookup(g, "port", "i", &port);
    g_variant_lookup(g, "tlsPort", "i", &tls);
    if (g_variant_lookup(g, "socket", "&s", &socket)) {
        g_print("%s+unix://%s\n", type, socket);
        return TRUE;
    }
    host = host_part(g, "localhost");
    if (g_str_equal(type, "vnc") && port >= 5900)
        g_print("vnc://%s:%d\n", host, port - 5900);
    else if (g_str_equal(type, "spice") && port > 0 && tls > 0)
        g_print("spice://%s:%d?tls-port=%d\n", host, port, tls);
    else if (g_str_equal(type, "spice") && port > 0)
        g_print("spice://%s:%d\n", host, port);
    else if (g_str_equal(type, "spice") && tls > 0)
        g_print("spice://%s?tls-port=%d\n", host, tls);
    else {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    _("the %s display of domain '%s' has no port"), type,
                    vb_dbus_domain_get_name(domain));
        return FALSE;
    }
    return TRUE;
}

/* Copies what @from has to @to; FALSE at its end, or when @to is gone. */
static gboolean
relay_some(int from, int to)
{
    char buf[65536];
    ssize_t n = read(from, buf, sizeof(buf));
    ssize_t off = 0;

    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    while (off < n) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));

        if (w < 0 && errno != EINTR && errno != EAGAIN)
            return FALSE;
        off += MAX(w, 0);
    }
    return n > 0;
}

/* Standard input to @fd and @fd to standard output, until either side ends. */
static void
relay(int fd)
{
    struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {fd, POLLIN, 0}};

    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) && !relay_some(fd, STDOUT_FILENO))
            return;
        if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !relay_some(STDIN_FILENO, fd))
            return;
        if ((fds[0].revents | fds[1].revents) & POLLNVAL)
            return;
    }
}

/* The index in Graphics of the first VNC or SPICE display, or -1. */
static int
first_display_index(VbDBusDomain *domain)
{
    GVariant *all = vb_dbus_domain_get_graphics(domain);
    int idx = 0;
    GVariantIter it;
    GVariant *g;

    if (all == NULL)
        return -1;
    g_variant_iter_init(&it, all);
    while ((g = g_variant_iter_next_value(&it)) != NULL) {
        const char *t = NULL;
        gboolean found = g_variant_lookup(g, "type", "&s", &t) &&
                         (g_str_equal(t, "vnc") || g_str_equal(t, "spice"));

        g_variant_unref(g);
        if (found)
            return idx;
        idx++;
    }
    return -1;
}

/*
 * `display-stream NAME|UUID [--index N] [--skip-auth]`: standard input and output
 * connected to the display server (OpenGraphicsFD), for a viewer at the other end of a
 * pipe: a web page's channel (the Cockpit page's noVNC), `ssh HOST virtbusctl
 * display-stream` behind a local socket. Nothing else is written to standard output.
 */
gboolean
vbctl_cmd_display_stream(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GVariant) handle = NULL;
    g_autoptr(GUnixFDList) fds = NULL;
    int idx = ctx->flags.display_index;
    int fd;

    if (ctx->remote) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    _("display-stream is not supported over a remote connection (%s): D-Bus "
                      "over ssh cannot pass the display's file descriptor; run 'ssh HOST "
                      "virtbusctl display-stream %s' instead"),
                    ctx->bus_description, ctx->args[0]);
        return FALSE;
    }
    if ((domain = running_domain(ctx, error)) == NULL)
        return FALSE;
    if (idx < 0 && (idx = first_display_index(domain)) < 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    _("No graphical display found for domain '%s'"),
                    vb_dbus_domain_get_name(domain));
        return FALSE;
    }
    if (!vb_dbus_domain_call_open_graphics_fd_sync(domain, (guint)idx,
                                                   ctx->flags.display_skip_auth ? 1 : 0, NULL,
                                                   &handle, &fds, NULL, error))
        return FALSE;
    if (fds == NULL) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                            _("the service answered without a descriptor"));
        return FALSE;
    }
    fd = g_unix_fd_list_get(fds, g_variant_get_handle(handle), error);
    if (fd < 0)
        return FALSE;
    relay(fd);
    close(fd);
    return TRUE;
}

static gboolean
copy_fd_to_file(int fd, const char *path, GError **error)
{
    g_autoptr(GFile) file = g_file_new_for_commandline_arg(path);
    g_autoptr(GFileOutputStream) out = g_file_replace(file, NULL, FALSE, G_FILE_CREATE_NONE,
                                                      NULL, error);
    g_autoptr(GInputStream) in = NULL;

    if (out == NULL)
        return FALSE;
    in = g_unix_input_stream_new(fd, FALSE);
    return g_output_stream_splice(G_OUTPUT_STREAM(out), in,
                                  G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, error) >= 0;
}

/* `screenshot NAME|UUID [FILE] [--screen N]` */
gboolean
vbctl_cmd_screenshot(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = running_domain(ctx, error);
    g_autoptr(GVariant) handle = NULL;
    g_autoptr(GUnixFDList) fds = NULL;
    g_autofree char *mime = NULL;
    g_autofree char *file = NULL;
    gboolean ok;
    int fd;

    if (domain == NULL)
        return FALSE;
    if (ctx->remote) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    _("screenshot is not supported over a remote connection (%s): D-Bus over "
                      "ssh cannot pass the image's file descriptor"),
                    ctx->bus_description);
        return FALSE;
    }
    if (ctx->flags.screen < 0) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            _("--screen must be 0 or more"));
        return FALSE;
    }
    if (!vb_dbus_domain_call_screenshot_sync(domain, ctx->flags.screen, 0, NULL, &handle, &mime,
                                             &fds, NULL, error))
        return FALSE;
    fd = fds != NULL ? g_unix_fd_list_get(fds, g_variant_get_handle(handle), error) : -1;
    if (fd < 0)
        return FALSE;
    if (ctx->n_args > 1) {
        file = g_strdup(ctx->args[1]);
    } else {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%d-%H:%M:%S");

        file = g_strdup_printf("%s-%s.png", vb_dbus_domain_get_name(domain), stamp);
    }
    ok = copy_fd_to_file(fd, file, error);
    close(fd);
    if (ok)
        g_print(_("Screenshot saved to %s, with type of %s\n"), file, mime);
    return ok;
}

static gboolean
parse_key(guint codeset, const char *arg, guint32 *out, GError **error)
{
    char *end = NULL;
    guint64 n;

    /* decimal, or hex with 0x, as virsh */
    errno = 0;
    n = g_ascii_strtoull(arg, &end, 0);
    if (g_ascii_isdigit(*arg) && errno == 0 && end != NULL && *end == '\0' &&
        n <= G_MAXUINT32) {
        *out = (guint32)n;
        return TRUE;
    }
    /* names are Linux's (KEY_A): only for the linux codeset, as virsh */
    for (guint i = 0; codeset == 0 && i < G_N_ELEMENTS(vbctl_keynames); i++) {
        if (g_ascii_strcasecmp(vbctl_keynames[i].name, arg) == 0) {
            *out = vbctl_keynames[i].code;
            return TRUE;
        }
    }
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                _("invalid keycode: '%s' (a number, or a Linux key name such as KEY_A with "
                  "--codeset linux)"), arg);
    return FALSE;
}

/* `send-key NAME|UUID [--codeset CS] [--holdtime MS] KEY...` */
gboolean
vbctl_cmd_send_key(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = NULL;
    g_autoptr(GArray) keys = g_array_new(FALSE, FALSE, sizeof(guint32));
    const char *cs = ctx->flags.key_codeset != NULL ? ctx->flags.key_codeset : "linux";
    int codeset = -1;

    for (guint i = 0; i < G_N_ELEMENTS(codesets); i++) {
        if (g_ascii_strcasecmp(cs, codesets[i]) == 0)
            codeset = i;
    }
    if (g_ascii_strcasecmp(cs, "osx") == 0)
        codeset = 5;
    if (g_ascii_strcasecmp(cs, "rfb") == 0)
        codeset = 9;
    if (codeset < 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    _("unknown codeset: '%s' (linux, xt, atset1, atset2, atset3, os_x, xt_kbd, "
                      "usb, win32, qnum)"), cs);
        return FALSE;
    }
    if (ctx->flags.key_holdtime < 0) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            _("--holdtime must be 0 or more"));
        return FALSE;
    }
    for (guint i = 1; i < ctx->n_args; i++) {
        guint32 k;

        if (!parse_key(codeset, ctx->args[i], &k, error))
            return FALSE;
        g_array_append_val(keys, k);
    }
    domain = running_domain(ctx, error);
    if (domain == NULL)
        return FALSE;
    return vb_dbus_domain_call_send_key_sync(
        domain, codeset, ctx->flags.key_holdtime,
        g_variant_new_fixed_array(G_VARIANT_TYPE_UINT32, keys->data, keys->len,
                                  sizeof(guint32)),
        0, NULL, error);
}

/* `inject-nmi NAME|UUID` */
gboolean
vbctl_cmd_inject_nmi(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = running_domain(ctx, error);

    if (domain == NULL)
        return FALSE;
    return vb_dbus_domain_call_inject_nmi_sync(domain, 0, NULL, error);
}

/* ---- desc, metadata ---- */

static guint
affect_flags(VbctlContext *ctx)
{
    return (ctx->flags.meta_live ? 1 : 0) | (ctx->flags.meta_config ? 2 : 0);
}

/* `desc NAME|UUID [--title] [--live] [--config] [TEXT...]`: prints, or sets with TEXT */
gboolean
vbctl_cmd_desc(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    gint type = ctx->flags.meta_title ? 1 : 0;
    g_autoptr(GError) local = NULL;
    g_autofree char *text = NULL;

    if (domain == NULL)
        return FALSE;
    if (ctx->n_args > 1) {
        g_autofree char *value = g_strjoinv(" ", ctx->args + 1);

        if (!vb_dbus_domain_call_set_metadata_sync(domain, type, value, "", "",
                                                   affect_flags(ctx), NULL, error))
            return FALSE;
        g_print(_("Domain %s updated successfully\n"), type == 1 ? "title" : "description");
        return TRUE;
    }
    if (!vb_dbus_domain_call_get_metadata_sync(domain, type, "", affect_flags(ctx), &text,
                                               NULL, &local)) {
        if (g_dbus_error_is_remote_error(local) &&
            strstr(local->message, "not present") != NULL) {
            g_print(type == 1 ? _("No title for domain: %s\n")
                              : _("No description for domain: %s\n"),
                    vb_dbus_domain_get_name(domain));
            return TRUE;
        }
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    g_print("%s\n", text);
    return TRUE;
}

/* `metadata NAME|UUID URI [--key KEY --set XML | --remove] [--live] [--config]` */
gboolean
vbctl_cmd_metadata(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    const char *uri = ctx->args[1];
    g_autofree char *xml = NULL;

    if (domain == NULL)
        return FALSE;
    if (ctx->flags.meta_set != NULL && ctx->flags.meta_remove) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            _("--set and --remove exclude each other"));
        return FALSE;
    }
    if (ctx->flags.meta_set != NULL || ctx->flags.meta_remove) {
        if (!vb_dbus_domain_call_set_metadata_sync(
                domain, 2, ctx->flags.meta_set != NULL ? ctx->flags.meta_set : "",
                ctx->flags.meta_key != NULL ? ctx->flags.meta_key : "", uri, affect_flags(ctx),
                NULL, error))
            return FALSE;
        g_print(ctx->flags.meta_remove ? _("Metadata removed\n") : _("Metadata modified\n"));
        return TRUE;
    }
    if (!vb_dbus_domain_call_get_metadata_sync(domain, 2, uri, affect_flags(ctx), &xml, NULL,
                                               error))
        return FALSE;
    g_print("%s\n", xml);
    return TRUE;
}
