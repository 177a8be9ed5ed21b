/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>

#include "vbctl.h"

#define CONSOLE_ESCAPE 0x1d /* Ctrl-] */

static volatile sig_atomic_t console_quit;

static void
on_console_signal(int signo)
{
    console_quit = 1;
}

/* Copies what @from has ready to @to; FALSE at end of file or on ^] from stdin. */
static gboolean
pump(int from, int to, gboolean from_user)
{
    char buf[4096];
    ssize_t n = read(from, buf, sizeof(buf));
    ssize_t off = 0;

    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0)
        return FALSE;
    if (from_user) {
        char *esc = memchr(buf, CONSOLE_ESCAPE, n);
        if (esc != NULL) {
            n = esc - buf;
            console_quit = 1;
        }
    }
    while (off < n) {
        ssize_t w = write(to, buf + off, n - off);
        if (w < 0 && errno != EINTR && errno != EAGAIN)
            return FALSE;
        off += MAX(w, 0);
    }
    return !console_quit;
}

static void
console_loop(int pty)
{
    struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {pty, POLLIN, 0}};

    while (!console_quit) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents & POLLIN) {
            if (!pump(pty, STDOUT_FILENO, FALSE))
                break;
        } else if (fds[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
            break; /* the service closed the stream: the domain stopped, or --force */
        }
        /* end of input ends the session too */
        if ((fds[0].revents & (POLLIN | POLLHUP)) && !pump(STDIN_FILENO, pty, TRUE))
            break;
    }
}

/* Raw mode on @fd; returns whether @saved holds the mode to restore. */
static gboolean
make_raw(int fd, struct termios *saved)
{
    struct termios raw;

    if (!isatty(fd) || tcgetattr(fd, saved) < 0)
        return FALSE;
    raw = *saved;
    cfmakeraw(&raw);
    return tcsetattr(fd, TCSANOW, &raw) == 0;
}

static gboolean
attach(const char *name, int fd)
{
    struct termios saved_tty;
    struct sigaction sa = {0};
    gboolean tty_raw;

    sa.sa_handler = on_console_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_print(_("Connected to domain '%s'\nEscape character is ^] (Ctrl + ])\n"), name);
    fflush(stdout);
    tty_raw = make_raw(STDIN_FILENO, &saved_tty);
    console_loop(fd);
    if (tty_raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
    g_print("\n");
    close(fd);
    return TRUE;
}

/**
 * vbctl_open_stream:
 * @channel: OpenChannel rather than OpenConsole
 *
 * Returns: the stream the service handed out, or -1 with @error set
 */
int
vbctl_open_stream(VbDBusDomain *domain, const char *dev_name, guint flags, gboolean channel,
                  GError **error)
{
    g_autoptr(GVariant) handle = NULL;
    g_autoptr(GUnixFDList) fds = NULL;
    gboolean ok;

    if (channel)
        ok = vb_dbus_domain_call_open_channel_sync(domain, dev_name, flags, NULL, &handle, &fds,
                                                   NULL, error);
    else
        ok = vb_dbus_domain_call_open_console_sync(domain, dev_name, flags, NULL, &handle, &fds,
                                                   NULL, error);
    if (!ok)
        return -1;
    if (fds == NULL) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                            _("the service answered without a descriptor"));
        return -1;
    }
    return g_unix_fd_list_get(fds, g_variant_get_handle(handle), error);
}

/**
 * vbctl_cmd_console:
 *
 * `console NAME|UUID [--devname ALIAS] [--force] [--safe]`: asks the service for the
 * domain's console (OpenConsole: polkit decides, the service opens the pty) and connects
 * the terminal to it, in raw mode, until Ctrl-] (or the domain stops, or another client
 * takes it over with --force).
 */
gboolean
vbctl_cmd_console(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    guint flags = (ctx->flags.console_force ? 1 : 0) | (ctx->flags.console_safe ? 2 : 0);
    const char *name;
    int fd;

    if (domain == NULL)
        return FALSE;
    name = vb_dbus_domain_get_name(domain);
    if (ctx->remote) {
        /* the stream comes as a file descriptor, which D-Bus over ssh cannot carry */
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    _("console is not supported over a remote connection (%s): D-Bus over ssh "
                      "cannot pass the console's file descriptor; run 'ssh -t HOST virtbusctl "
                      "console %s' instead"),
                    ctx->bus_description, name);
        return FALSE;
    }
    if (!vb_dbus_domain_get_active(domain)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    _("domain '%s' is not running (%s); its console exists only while it runs"),
                    name, vb_dbus_domain_get_state(domain));
        return FALSE;
    }
    fd = vbctl_open_stream(domain, ctx->flags.console_devname != NULL
                                       ? ctx->flags.console_devname
                                       : "",
                           flags, FALSE, error);
    if (fd < 0)
        return FALSE;
    return attach(name, fd);
}
