/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Console and channel hand-off (issue 13, part console): OpenConsole and OpenChannel.
 *
 * The service opens the guest's pty (or connects the unix socket of a channel) itself and
 * gives the caller one end of a socketpair; a proxy copies bytes between the device and the
 * other end. Keeping the proxy lets the service enforce one client per device (libvirt's
 * virChrdevOpen rule): a second open fails with Busy unless FORCE, which closes the earlier
 * client's stream (it reads end of file).
 *
 * All proxies run on one thread of their own ("vb-console", own GMainContext), with
 * non-blocking descriptors and a bounded buffer per direction: a slow client stops the
 * proxy reading the device (the guest's output waits in QEMU), a client that goes away or a
 * device that hangs up (QEMU ended) ends the proxy. Workers only open the device, make the
 * socketpair and register the proxy; they never wait for I/O.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "domain-console.h"
#include "domain-def-console.h"
#include "domain-def-guest.h"
#include "domain-list-priv.h"
#include "vb-error.h"

#define PROXY_BUF 65536

typedef struct {
    char data[PROXY_BUF];
    gsize len;
} Buf;

typedef struct _Proxy Proxy;

typedef struct {
    GSource source;
    Proxy *proxy;
    gpointer dev_tag;
    gpointer cli_tag;
} ProxySource;

struct _Proxy {
    gint refs;
    char *key;          /* immutable: "<uuid>/<alias>" */
    int dev_fd;         /* console thread only after start */
    int cli_fd;         /* console thread only after start */
    Buf to_cli;         /* console thread only */
    Buf to_dev;         /* console thread only */
    gint closing;       /* atomic: FORCE or shutdown asked it to end */
    ProxySource *src;   /* set before the source is attached; the source holds a ref */
};

static GMutex proxies_lock;
static GHashTable *proxies; /* under proxies_lock: key -> Proxy (ref) */
static GMainContext *console_ctx;
static GThread *console_thread;
static gint console_quit; /* atomic: vb_domain_console_shutdown() asks the thread to end */

static Proxy *
proxy_ref(Proxy *p)
{
    g_atomic_int_inc(&p->refs);
    return p;
}

static void
proxy_unref(Proxy *p)
{
    if (!g_atomic_int_dec_and_test(&p->refs))
        return;
    if (p->dev_fd >= 0)
        close(p->dev_fd);
    if (p->cli_fd >= 0)
        close(p->cli_fd);
    g_free(p->key);
    g_free(p);
}

static gpointer
console_thread_main(gpointer data)
{
    GMainContext *ctx = data;

    g_main_context_push_thread_default(ctx);
    while (!g_atomic_int_get(&console_quit))
        g_main_context_iteration(ctx, TRUE);
    g_main_context_pop_thread_default(ctx);
    return NULL;
}

/* Under proxies_lock: the table and the thread, made on first use. */
static void
ensure_thread_locked(void)
{
    if (proxies != NULL)
        return;
    proxies = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                    (GDestroyNotify)proxy_unref);
    console_ctx = g_main_context_new();
    g_atomic_int_set(&console_quit, 0);
    console_thread = g_thread_new("vb-console", console_thread_main, console_ctx);
}

/* Console thread: the proxy ended; forget it unless a FORCE already replaced it. */
static void
proxy_forget(Proxy *p)
{
    g_mutex_lock(&proxies_lock);
    /* proxies is NULL once vb_domain_console_shutdown() took the table */
    if (proxies != NULL && g_hash_table_lookup(proxies, p->key) == p)
        g_hash_table_remove(proxies, p->key);
    g_mutex_unlock(&proxies_lock);
}

/* Reads what fits into @b; FALSE at end of file or on an error other than "try again". */
static gboolean
fill(int fd, Buf *b)
{
    ssize_t n;

    if (b->len == sizeof(b->data))
        return TRUE;
    n = read(fd, b->data + b->len, sizeof(b->data) - b->len);
    if (n > 0) {
        b->len += n;
        return TRUE;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return TRUE;
    return FALSE; /* 0: end of file; EIO: the pty's other side closed */
}

/* Writes what @fd takes of @b; FALSE on an error other than "try again". */
static gboolean
drain(int fd, Buf *b)
{
    ssize_t n;

    if (b->len == 0)
        return TRUE;
    n = send(fd, b->data, b->len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == ENOTSOCK)
        n = write(fd, b->data, b->len);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    return TRUE;
}

static void
update_events(ProxySource *s)
{
    Proxy *p = s->proxy;
    GIOCondition dev = G_IO_HUP | G_IO_ERR, cli = G_IO_HUP | G_IO_ERR;

    if (p->to_cli.len < sizeof(p->to_cli.data))
        dev |= G_IO_IN;
    if (p->to_dev.len > 0)
        dev |= G_IO_OUT;
    if (p->to_dev.len < sizeof(p->to_dev.data))
        cli |= G_IO_IN;
    if (p->to_cli.len > 0)
        cli |= G_IO_OUT;
    g_source_modify_unix_fd(&s->source, s->dev_tag, dev);
    g_source_modify_unix_fd(&s->source, s->cli_tag, cli);
}

static gboolean
proxy_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
    ProxySource *s = (ProxySource *)source;
    Proxy *p = s->proxy;
    GIOCondition dev = g_source_query_unix_fd(source, s->dev_tag);
    GIOCondition cli = g_source_query_unix_fd(source, s->cli_tag);
    gboolean ok = TRUE;

    g_source_set_ready_time(source, -1);
    if (g_atomic_int_get(&p->closing))
        ok = FALSE;
    if (ok && (dev & G_IO_IN))
        ok = fill(p->dev_fd, &p->to_cli);
    else if (ok && (dev & (G_IO_HUP | G_IO_ERR)))
        ok = FALSE; /* QEMU closed the pty or socket: the domain stopped */
    if (ok && (cli & G_IO_IN))
        ok = fill(p->cli_fd, &p->to_dev);
    else if (ok && (cli & (G_IO_HUP | G_IO_ERR)))
        ok = FALSE; /* the client went away */
    if (ok)
        ok = drain(p->cli_fd, &p->to_cli) && drain(p->dev_fd, &p->to_dev);
    if (!ok) {
        /* what the guest wrote last still goes to the client, if it takes it now */
        if (!g_atomic_int_get(&p->closing))
            drain(p->cli_fd, &p->to_cli);
        proxy_forget(p);
        return G_SOURCE_REMOVE;
    }
    update_events(s);
    return G_SOURCE_CONTINUE;
}

static void
proxy_source_finalize(GSource *source)
{
    ProxySource *s = (ProxySource *)source;

    /* closing the descriptors here: the client's end reads end of file */
    proxy_unref(s->proxy);
}

static GSourceFuncs proxy_funcs = {
    NULL, NULL, proxy_dispatch, proxy_source_finalize, NULL, NULL,
};

/* Any thread: attach @p's source to the console thread's context. */
static void
proxy_start(Proxy *p)
{
    ProxySource *s = (ProxySource *)g_source_new(&proxy_funcs, sizeof(ProxySource));

    s->proxy = proxy_ref(p);
    s->dev_tag = g_source_add_unix_fd(&s->source, p->dev_fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
    s->cli_tag = g_source_add_unix_fd(&s->source, p->cli_fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
    g_source_set_name(&s->source, p->key);
    p->src = s;
    g_source_attach(&s->source, console_ctx);
    g_source_unref(&s->source);
}

/* Any thread, under proxies_lock: ask @p to end (its client reads end of file). */
static void
proxy_stop_locked(Proxy *p)
{
    g_atomic_int_set(&p->closing, 1);
    /* wakes the console thread (thread-safe); dispatch sees the flag and ends the proxy */
    if (p->src != NULL && !g_source_is_destroyed(&p->src->source))
        g_source_set_ready_time(&p->src->source, 0);
}

static int
open_pty(const char *path, GError **error)
{
    struct termios raw;
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        int e = errno;

        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot open the console pty %s: %s", path,
                    g_strerror(e));
        return -1;
    }
    /* bytes pass unchanged: no echo or line editing on the service's side of the pty */
    if (tcgetattr(fd, &raw) == 0) {
        cfmakeraw(&raw);
        tcsetattr(fd, TCSANOW, &raw);
    }
    return fd;
}

static int
connect_unix(const char *path, GError **error)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;

        if (fd >= 0)
            close(fd);
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot connect to the channel socket %s: %s",
                    path, g_strerror(e));
        return -1;
    }
    return fd;
}

/* Under dom->lock: what @dev_name names in the running domain. */
static VbConsoleTarget *
find_target_locked(VbDomainObj *dom, const char *method, const char *dev_name, gboolean channel,
                   GError **error)
{
    VbConsoleTarget *t;

    if (dom->id < 0 || dom->mon == NULL || dom->stopping) {
        vb_domain_obj_set_not_running_error(dom, method, error);
        return NULL;
    }
    t = channel ? vb_domain_def_find_channel(dom->def, dom->runtime_dir, dev_name, error)
                : vb_domain_def_find_console(dom->def, dev_name, error);
    if (t == NULL) {
        g_prefix_error(error, "domain '%s': ", dom->def->name);
        return NULL;
    }
    if (channel && t->kind == VB_CONSOLE_UNIX) {
        g_autofree char *agent = vb_domain_def_find_agent_socket(dom->def, dom->runtime_dir, NULL);

        /* QEMU's socket takes one client: a stream there would lock the service's own agent
         * client out (and the caller would read the service's sync replies), as libvirt
         * refuses a channel its agent uses */
        if (agent != NULL && g_strcmp0(agent, t->path) == 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "domain '%s': channel %s is in use by the service's QEMU guest agent "
                        "client (its socket takes one client); use the agent calls or "
                        "QemuAgentCommand, or give the channel type 'pty'",
                        dom->def->name, t->alias != NULL ? t->alias : VB_AGENT_CHANNEL_NAME);
            vb_console_target_free(t);
            return NULL;
        }
    }
    return t;
}

/* Registers a proxy for @key, or fails with Busy when one runs and FORCE is not set. */
static gboolean
register_proxy(Proxy *p, const char *name, const char *alias, guint flags, GError **error)
{
    Proxy *old;

    g_mutex_lock(&proxies_lock);
    ensure_thread_locked();
    old = g_hash_table_lookup(proxies, p->key);
    if (old != NULL && !(flags & VB_DOMAIN_CONSOLE_FORCE)) {
        g_mutex_unlock(&proxies_lock);
        g_set_error(error, VB_ERROR, VB_ERROR_BUSY,
                    "Active console session exists for this domain: '%s' device %s has a "
                    "client; pass FORCE (virtbusctl console --force) to take it over",
                    name, alias);
        return FALSE;
    }
    if (old != NULL)
        proxy_stop_locked(old);
    g_hash_table_replace(proxies, g_strdup(p->key), proxy_ref(p));
    proxy_start(p);
    g_mutex_unlock(&proxies_lock);
    return TRUE;
}

/**
 * vb_domain_open_console:
 * @dom: a running domain
 * @dev_name: (nullable): OpenConsole's device alias, or OpenChannel's channel name
 * @channel: OpenChannel (a channel by name) rather than OpenConsole
 * @flags: VB_DOMAIN_CONSOLE_FORCE, VB_DOMAIN_CONSOLE_SAFE
 *
 * Opens the device and hands it to a new proxy. Takes no job (as libvirt): only the
 * domain's lock, briefly, to read the live definition. Worker threads.
 *
 * Returns: the caller's end of a connected socket (close-on-exec), or -1 with
 *   OperationInvalid (not running, not a pty), InvalidArgument (no such device),
 *   Busy (a client has it, no FORCE), IO (cannot open)
 */
int
vb_domain_open_console(VbDomainObj *dom, const char *dev_name, gboolean channel, guint flags,
                       GError **error)
{
    const char *method = channel ? "OpenChannel" : "OpenConsole";
    g_autoptr(VbConsoleTarget) t = NULL;
    g_autofree char *name = NULL;
    Proxy *p;
    int sv[2];
    int fd;

    g_mutex_lock(&dom->lock);
    t = find_target_locked(dom, method, dev_name, channel, error);
    name = g_strdup(dom->def->name);
    g_mutex_unlock(&dom->lock);
    if (t == NULL)
        return -1;
    fd = t->kind == VB_CONSOLE_PTY ? open_pty(t->path, error) : connect_unix(t->path, error);
    if (fd < 0) {
        g_prefix_error(error, "domain '%s': ", name);
        return -1;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        int e = errno;

        close(fd);
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "socketpair: %s", g_strerror(e));
        return -1;
    }
    g_unix_set_fd_nonblocking(sv[1], TRUE, NULL);
    p = g_new0(Proxy, 1);
    p->refs = 1;
    p->key = g_strdup_printf("%s/%s", dom->uuid_str, t->alias != NULL ? t->alias : "");
    p->dev_fd = fd;
    p->cli_fd = sv[1];
    if (!register_proxy(p, name, t->alias, flags, error)) {
        proxy_unref(p);
        close(sv[0]);
        return -1;
    }
    proxy_unref(p);
    g_debug("domain '%s': %s %s (%s) handed out", name, method, t->alias, t->path);
    return sv[0];
}

/**
 * vb_domain_console_count:
 *
 * Returns: how many console proxies run (tests, diagnostics). Any thread.
 */
guint
vb_domain_console_count(void)
{
    guint n;

    g_mutex_lock(&proxies_lock);
    n = proxies != NULL ? g_hash_table_size(proxies) : 0;
    g_mutex_unlock(&proxies_lock);
    return n;
}

/**
 * vb_domain_console_shutdown:
 *
 * Ends every proxy and joins the console thread (service shutdown, after the workers
 * ended and before the domain list is freed): each client's stream reads end of file.
 * Any thread but the console thread; a later OpenConsole would start a new thread.
 */
void
vb_domain_console_shutdown(void)
{
    GHashTable *table;
    GMainContext *ctx;
    GThread *thread;

    g_mutex_lock(&proxies_lock);
    table = g_steal_pointer(&proxies);
    ctx = g_steal_pointer(&console_ctx);
    thread = g_steal_pointer(&console_thread);
    g_mutex_unlock(&proxies_lock);
    if (thread == NULL)
        return;
    g_atomic_int_set(&console_quit, 1);
    g_main_context_wakeup(ctx);
    g_thread_join(thread);
    /* no thread runs the context now: dropping it destroys the sources, whose finalize
     * drops the last references and closes both descriptors of every proxy */
    g_debug("console thread joined at shutdown: %u console stream(s) closed",
            g_hash_table_size(table));
    g_hash_table_destroy(table);
    g_main_context_unref(ctx);
}
