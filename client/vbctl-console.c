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

#include "vbctl.h"

#define CONSOLE_ESCAPE 0x1d /* Ctrl-] */

typedef struct {
    GQueue path;        /* element names from the root */
    char *serial_pty;   /* <devices><serial type='pty'><source path=.../> */
    char *console_pty;  /* <devices><console type='pty' tty=...> or its <source path> */
    gboolean in_serial; /* inside a pty <serial> */
    gboolean in_console;
} PtyScan;

static const char *
attr(const char **names, const char **values, const char *name)
{
    for (guint i = 0; names[i] != NULL; i++) {
        if (g_strcmp0(names[i], name) == 0)
            return values[i];
    }
    return NULL;
}

static void
scan_start(GMarkupParseContext *pc, const char *element, const char **names, const char **values,
           gpointer user_data, GError **error)
{
    PtyScan *s = user_data;
    const char *parent = g_queue_peek_tail(&s->path);
    guint depth = g_queue_get_length(&s->path);
    gboolean is_pty = g_strcmp0(attr(names, values, "type"), "pty") == 0;

    if (depth == 2 && g_strcmp0(parent, "devices") == 0) {
        s->in_serial = g_strcmp0(element, "serial") == 0 && is_pty && s->serial_pty == NULL;
        s->in_console = g_strcmp0(element, "console") == 0 && is_pty && s->console_pty == NULL;
        if (s->in_console && attr(names, values, "tty") != NULL)
            s->console_pty = g_strdup(attr(names, values, "tty"));
    } else if (depth == 3 && g_strcmp0(element, "source") == 0) {
        const char *path = attr(names, values, "path");

        if (s->in_serial && path != NULL && s->serial_pty == NULL)
            s->serial_pty = g_strdup(path);
        else if (s->in_console && path != NULL && s->console_pty == NULL)
            s->console_pty = g_strdup(path);
    }
    g_queue_push_tail(&s->path, (gpointer)g_intern_string(element));
}

static void
scan_end(GMarkupParseContext *pc, const char *element, gpointer user_data, GError **error)
{
    PtyScan *s = user_data;

    g_queue_pop_tail(&s->path);
    if (g_queue_get_length(&s->path) == 2) {
        s->in_serial = FALSE;
        s->in_console = FALSE;
    }
}

/**
 * vbctl_console_pty_path:
 * @xml: live domain XML
 *
 * Returns: (transfer full) (nullable): the pty of the first serial port of
 * type pty, else of the pty console; %NULL when none is known, and %NULL
 * with @error set when @xml cannot be parsed.
 */
char *
vbctl_console_pty_path(const char *xml, GError **error)
{
    const GMarkupParser parser = {scan_start, scan_end, NULL, NULL, NULL};
    PtyScan s = {G_QUEUE_INIT, NULL, NULL, FALSE, FALSE};
    g_autoptr(GMarkupParseContext) pc = g_markup_parse_context_new(&parser, 0, &s, NULL);
    g_autofree char *serial = NULL, *console = NULL;
    gboolean ok = g_markup_parse_context_parse(pc, xml, -1, error) &&
                  g_markup_parse_context_end_parse(pc, error);

    g_queue_clear(&s.path);
    serial = s.serial_pty;
    console = s.console_pty;
    if (!ok)
        return NULL;
    if (serial != NULL && *serial != '\0')
        return g_steal_pointer(&serial);
    if (console != NULL && *console != '\0')
        return g_steal_pointer(&console);
    return NULL;
}

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
            break; /* QEMU closed the pty: the domain stopped */
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
attach(const char *name, const char *pty_path, GError **error)
{
    struct termios saved_tty, saved_pty;
    struct sigaction sa = {0};
    gboolean tty_raw;
    int pty = g_open(pty_path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0);

    if (pty < 0) {
        int saved_errno = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved_errno),
                    _("cannot open the console of domain '%s' (%s): %s"), name, pty_path,
                    g_strerror(saved_errno));
        return FALSE;
    }
    /* bytes pass unchanged: no echo or line editing on the pty either */
    make_raw(pty, &saved_pty);
    sa.sa_handler = on_console_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    g_print(_("Connected to domain '%s'\nEscape character is ^] (Ctrl + ])\n"), name);
    fflush(stdout);
    tty_raw = make_raw(STDIN_FILENO, &saved_tty);
    console_loop(pty);
    if (tty_raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
    g_print("\n");
    close(pty);
    return TRUE;
}

/**
 * vbctl_cmd_console:
 *
 * `console NAME|UUID`: connects the terminal to the domain's serial pty,
 * in raw mode, until Ctrl-] (or the domain stops).
 */
gboolean
vbctl_cmd_console(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], TRUE, error);
    g_autofree char *xml = NULL;
    g_autofree char *pty = NULL;
    g_autoptr(GError) local = NULL;
    const char *name;

    if (domain == NULL)
        return FALSE;
    name = vb_dbus_domain_get_name(domain);
    if (ctx->remote) {
        /* the pty is a file on the other host */
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    _("console is not supported over a remote connection (%s): the domain's pty "
                      "is on that host; run 'ssh -t HOST virtbusctl console %s' instead"),
                    ctx->bus_description, name);
        return FALSE;
    }
    if (!vb_dbus_domain_get_active(domain)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    _("domain '%s' is not running (%s); its console exists only while it runs"),
                    name, vb_dbus_domain_get_state(domain));
        return FALSE;
    }
    if (!vb_dbus_domain_call_get_xmldesc_sync(domain, 0, &xml, NULL, error))
        return FALSE;
    pty = vbctl_console_pty_path(xml, &local);
    if (local != NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    _("cannot read the XML of domain '%s': %s"), name, local->message);
        return FALSE;
    }
    if (pty == NULL) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    _("no console pty path is known for domain '%s': its live XML has no "
                      "<serial type='pty'> with a <source path>"),
                    name);
        return FALSE;
    }
    return attach(name, pty, error);
}
