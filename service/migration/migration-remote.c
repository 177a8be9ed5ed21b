/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* memfd_create() */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migration-remote.h"
#include "vb-error.h"

/*
 * Why ANONYMOUS: GDBus authenticates with EXTERNAL only over a unix socket
 * (it needs to pass credentials); over ssh's pipes it offers ANONYMOUS,
 * which systemd-stdio-bridge accepts (it serves the pipe with
 * sd_bus_set_anonymous()). Who we are was settled by ssh: the bridge
 * reaches the remote bus as the ssh user, with EXTERNAL.
 */

#define CHILD_KEY "vb-remote-child"
#define STDERR_TAIL 4096
#define SSH_USAGE "ssh://[USER@]HOST[:PORT][?bus=ADDRESS]"

/* ---- URI parsing ---- */

static gboolean
valid_name(const char *s, gsize max)
{
    if (*s == '\0' || strlen(s) > max || !(g_ascii_isalnum(*s) || *s == '_'))
        return FALSE;
    for (const char *p = s; *p != '\0'; p++) {
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '_' && *p != '-')
            return FALSE;
    }
    return TRUE;
}

static gboolean
valid_ipv6(const char *s)
{
    if (*s == '\0' || strlen(s) > 45 || strchr(s, ':') == NULL)
        return FALSE;
    for (const char *p = s; *p != '\0'; p++) {
        if (!g_ascii_isxdigit(*p) && *p != ':' && *p != '.')
            return FALSE;
    }
    return TRUE;
}

/* A file name handed to ssh: ssh splits option values at white space and
 * takes quotes and backslashes as quoting. */
static gboolean
valid_ssh_path(const char *s)
{
    if (*s == '\0')
        return FALSE;
    for (const char *p = s; *p != '\0'; p++) {
        if ((guchar)*p < 0x20 || *p == 0x7f || *p == ' ' || *p == '"' || *p == '\'' || *p == '\\')
            return FALSE;
    }
    return TRUE;
}

/* The characters a D-Bus address value may hold unescaped, minus '*' (the
 * remote shell runs the bridge's command line). */
static gboolean
valid_address_value(const char *s)
{
    if (*s == '\0')
        return FALSE;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '%') {
            if (!g_ascii_isxdigit(p[1]) || !g_ascii_isxdigit(p[2]))
                return FALSE;
            p += 2;
        } else if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '/' && *p != '.') {
            return FALSE;
        }
    }
    return TRUE;
}

/* unix:path=/ABSOLUTE or unix:abstract=NAME, optionally with guid=HEX */
static gboolean
check_bus_address(const char *address, GError **error)
{
    g_auto(GStrv) parts = NULL;
    gboolean path = FALSE, abstract = FALSE, guid = FALSE;

    if (!g_str_has_prefix(address, "unix:"))
        goto bad;
    parts = g_strsplit(address + 5, ",", -1);
    for (guint i = 0; parts[i] != NULL; i++) {
        const char *eq = strchr(parts[i], '=');
        const char *value = eq != NULL ? eq + 1 : NULL;
        gsize klen = eq != NULL ? (gsize)(eq - parts[i]) : 0;
        gboolean *seen;

        if (value == NULL || !valid_address_value(value))
            goto bad;
        if (klen == 4 && strncmp(parts[i], "path", 4) == 0 && value[0] == '/')
            seen = &path;
        else if (klen == 8 && strncmp(parts[i], "abstract", 8) == 0)
            seen = &abstract;
        else if (klen == 4 && strncmp(parts[i], "guid", 4) == 0 && strlen(value) == 32)
            seen = &guid;
        else
            goto bad;
        if (*seen)
            goto bad;
        *seen = TRUE;
    }
    if (path + abstract == 1)
        return TRUE;
bad:
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                "bus address '%s' is not supported: use unix:path=/ABSOLUTE/PATH or "
                "unix:abstract=NAME (characters outside A-Z a-z 0-9 - _ / . written as %%XX)",
                address);
    return FALSE;
}

static gboolean
parse_port(const char *s, guint *out)
{
    guint64 v;

    if (*s == '\0' || strlen(s) > 5)
        return FALSE;
    for (const char *p = s; *p != '\0'; p++) {
        if (!g_ascii_isdigit(*p))
            return FALSE;
    }
    v = g_ascii_strtoull(s, NULL, 10);
    if (v == 0 || v > 65535)
        return FALSE;
    *out = (guint)v;
    return TRUE;
}

/* [USER@]HOST[:PORT], HOST may be [IPV6] */
static gboolean
parse_authority(VbRemoteUri *u, const char *auth, const char *uri, GError **error)
{
    const char *at = strchr(auth, '@');
    const char *hostport = auth, *port = NULL;
    g_autofree char *host = NULL;

    if (at != NULL) {
        g_autofree char *user = g_strndup(auth, at - auth);

        if (strchr(at + 1, '@') != NULL || !valid_name(user, 64)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "invalid user name '%s' in '%s': letters, digits, '.', '_' and '-', "
                        "not starting with '-' or '.'",
                        user, uri);
            return FALSE;
        }
        u->user = g_steal_pointer(&user);
        hostport = at + 1;
    }
    if (hostport[0] == '[') {
        const char *end = strchr(hostport, ']');

        if (end == NULL || (end[1] != '\0' && end[1] != ':'))
            goto bad_host;
        host = g_strndup(hostport + 1, end - hostport - 1);
        if (!valid_ipv6(host))
            goto bad_host;
        port = end[1] == ':' ? end + 2 : NULL;
    } else {
        const char *colon = strchr(hostport, ':');

        host = colon != NULL ? g_strndup(hostport, colon - hostport) : g_strdup(hostport);
        if (!valid_name(host, 253))
            goto bad_host;
        port = colon != NULL ? colon + 1 : NULL;
    }
    if (port != NULL && !parse_port(port, &u->port)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "invalid port '%s' in '%s': a number from 1 to 65535", port, uri);
        return FALSE;
    }
    u->host = g_steal_pointer(&host);
    return TRUE;
bad_host:
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                "invalid host in '%s': a host name (letters, digits, '.', '_', '-', not "
                "starting with '-'), an IPv4 address or an [IPv6] address",
                uri);
    return FALSE;
}

static gboolean
set_param(VbRemoteUri *u, const char *key, char *value, gboolean trusted, GError **error)
{
    gboolean restricted = !g_str_equal(key, "bus");

    if (restricted && !trusted) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "URI parameter '%s' is not accepted by the service: its ssh options come "
                    "from its ssh_config setting",
                    key);
        return FALSE;
    }
    if (g_str_equal(key, "bus")) {
        if (!check_bus_address(value, error))
            return FALSE;
        u->bus = value;
    } else if (g_str_equal(key, "no_verify")) {
        if (!g_str_equal(value, "1") && !g_str_equal(value, "0")) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "URI parameter 'no_verify' must be 1 or 0, not '%s'", value);
            return FALSE;
        }
        u->no_verify = g_str_equal(value, "1");
        g_free(value);
    } else {
        if (!valid_ssh_path(value)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "URI parameter '%s' must be a file name without white space, quotes "
                        "or backslashes",
                        key);
            return FALSE;
        }
        if (g_str_equal(key, "keyfile"))
            u->keyfile = value;
        else
            u->known_hosts = value;
    }
    return TRUE;
}

static gboolean
parse_query(VbRemoteUri *u, const char *query, gboolean trusted, GError **error)
{
    static const char *const known[] = {"bus", "keyfile", "known_hosts", "no_verify", NULL};
    g_auto(GStrv) pairs = g_strsplit(query, "&", -1);
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    if (*query == '\0') {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "empty URI parameters after '?': use NAME=VALUE");
        return FALSE;
    }
    for (guint i = 0; pairs[i] != NULL; i++) {
        const char *eq = strchr(pairs[i], '=');
        g_autofree char *key = NULL;
        char *value;

        if (eq == NULL || eq == pairs[i] || eq[1] == '\0') {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "URI parameter '%s' is not of the form NAME=VALUE", pairs[i]);
            return FALSE;
        }
        key = g_strndup(pairs[i], eq - pairs[i]);
        if (!g_strv_contains(known, key)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "unknown URI parameter '%s' (known: bus, keyfile, known_hosts, "
                        "no_verify)",
                        key);
            return FALSE;
        }
        if (!g_hash_table_add(seen, g_strdup(key))) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "URI parameter '%s' is given twice",
                        key);
            return FALSE;
        }
        value = g_uri_unescape_string(eq + 1, NULL);
        if (value == NULL || *value == '\0') {
            g_free(value);
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "URI parameter '%s' has a malformed %%-escape", key);
            return FALSE;
        }
        if (!set_param(u, key, value, trusted, error)) {
            g_free(value);
            return FALSE;
        }
    }
    return TRUE;
}

static VbRemoteUri *
parse_ssh(const char *uri, gboolean trusted, GError **error)
{
    g_autoptr(VbRemoteUri) u = g_new0(VbRemoteUri, 1);
    const char *rest = uri + strlen("ssh://");
    const char *q = strchr(rest, '?');
    g_autofree char *auth = q != NULL ? g_strndup(rest, q - rest) : g_strdup(rest);
    gsize len = strlen(auth);

    u->kind = VB_REMOTE_URI_SSH;
    if (strchr(uri, '#') != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "'%s': a fragment ('#') is not allowed; use " SSH_USAGE, uri);
        return NULL;
    }
    if (len > 0 && auth[len - 1] == '/')
        auth[len - 1] = '\0';
    if (strchr(auth, '/') != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "'%s': a path is not allowed; use " SSH_USAGE, uri);
        return NULL;
    }
    if (!parse_authority(u, auth, uri, error))
        return NULL;
    if (q != NULL && !parse_query(u, q + 1, trusted, error))
        return NULL;
    return g_steal_pointer(&u);
}

/**
 * vb_remote_uri_parse:
 * @uri: ssh://[USER@]HOST[:PORT][/][?PARAMS] or unix:path=... / unix:abstract=...
 * @trusted: whether keyfile, known_hosts and no_verify are accepted
 *
 * Checks every part of @uri; nothing in it reaches a shell on this host,
 * and what reaches the remote shell (the bus address) is restricted to
 * characters it does not interpret.
 *
 * Returns: (transfer full): the parsed URI, or %NULL with an
 * InvalidArgument error that names the offending part.
 */
VbRemoteUri *
vb_remote_uri_parse(const char *uri, gboolean trusted, GError **error)
{
    g_autoptr(VbRemoteUri) u = NULL;

    g_return_val_if_fail(uri != NULL, NULL);
    if (g_str_has_prefix(uri, "ssh://"))
        return parse_ssh(uri, trusted, error);
    if (g_str_has_prefix(uri, "unix:")) {
        if (!check_bus_address(uri, error))
            return NULL;
        u = g_new0(VbRemoteUri, 1);
        u->kind = VB_REMOTE_URI_ADDRESS;
        u->bus = g_strdup(uri);
        return g_steal_pointer(&u);
    }
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                "unsupported URI '%s': use " SSH_USAGE " or a bus address unix:path=PATH", uri);
    return NULL;
}

/**
 * vb_remote_check_uri:
 *
 * Checks @uri as vb_remote_connect() would, without connecting (a method
 * handler refuses a bad destination before it takes a job).
 *
 * Returns: whether @uri is usable; else InvalidArgument naming the part.
 */
gboolean
vb_remote_check_uri(const char *uri, gboolean trusted, GError **error)
{
    g_autoptr(VbRemoteUri) u = vb_remote_uri_parse(uri, trusted, error);

    return u != NULL;
}

/**
 * vb_remote_uri_host:
 *
 * Returns: (transfer full) (nullable): the host of an ssh:// URI (an IPv6
 * address without brackets), as the migration stream's default destination;
 * %NULL for a bus address or a URI that does not parse.
 */
char *
vb_remote_uri_host(const char *uri)
{
    g_autoptr(VbRemoteUri) u = vb_remote_uri_parse(uri, TRUE, NULL);

    return u != NULL && u->kind == VB_REMOTE_URI_SSH ? g_strdup(u->host) : NULL;
}

void
vb_remote_uri_free(VbRemoteUri *uri)
{
    if (uri == NULL)
        return;
    g_free(uri->user);
    g_free(uri->host);
    g_free(uri->bus);
    g_free(uri->keyfile);
    g_free(uri->known_hosts);
    g_free(uri);
}

/**
 * vb_remote_uri_display:
 *
 * Returns: (transfer full): @uri for messages: ssh://USER@HOST:PORT without
 * the parameters, or the bus address.
 */
char *
vb_remote_uri_display(const VbRemoteUri *uri)
{
    GString *s;

    if (uri->kind == VB_REMOTE_URI_ADDRESS)
        return g_strdup(uri->bus);
    s = g_string_new("ssh://");
    if (uri->user != NULL)
        g_string_append_printf(s, "%s@", uri->user);
    if (strchr(uri->host, ':') != NULL)
        g_string_append_printf(s, "[%s]", uri->host);
    else
        g_string_append(s, uri->host);
    if (uri->port != 0)
        g_string_append_printf(s, ":%u", uri->port);
    return g_string_free(s, FALSE);
}

/* ssh expands %-tokens in IdentityFile and UserKnownHostsFile */
static char *
ssh_escape(const char *path)
{
    g_auto(GStrv) parts = g_strsplit(path, "%", -1);

    return g_strjoinv("%%", parts);
}

/**
 * vb_remote_ssh_argv:
 * @uri: a parsed ssh:// URI
 * @opts: (nullable): options (ssh -F, timeout)
 *
 * Returns: (transfer full): the argument vector of the ssh child: options
 * first, "--", the host, then the bridge's command line.
 */
GStrv
vb_remote_ssh_argv(const VbRemoteUri *uri, const VbRemoteOptions *opts)
{
    return vb_remote_ssh_argv_command(uri, opts, NULL);
}

/**
 * vb_remote_ssh_argv_command:
 * @command: (nullable): the remote command's words (checked by the caller:
 *   the remote shell joins and parses them); %NULL: the bridge's
 *
 * As vb_remote_ssh_argv() (the same user, port, ssh_config, keepalive),
 * for another remote command.
 */
GStrv
vb_remote_ssh_argv_command(const VbRemoteUri *uri, const VbRemoteOptions *opts,
                           const char *const *command)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    guint timeout = opts != NULL && opts->timeout != 0 ? opts->timeout : VB_REMOTE_DEFAULT_TIMEOUT;
    g_autofree char *connect_timeout = g_strdup_printf("ConnectTimeout=%u", timeout);

    g_return_val_if_fail(uri->kind == VB_REMOTE_URI_SSH, NULL);
    g_strv_builder_add_many(b, "ssh", "-xT", "-o", "BatchMode=yes", "-o", connect_timeout, NULL);
    if (opts != NULL && opts->keepalive_interval != 0) {
        g_autofree char *interval =
            g_strdup_printf("ServerAliveInterval=%u", opts->keepalive_interval);
        g_autofree char *count =
            g_strdup_printf("ServerAliveCountMax=%u", MAX(opts->keepalive_count, 1));

        g_strv_builder_add_many(b, "-o", interval, "-o", count, NULL);
    }
    if (opts != NULL && opts->ssh_config != NULL)
        g_strv_builder_add_many(b, "-F", opts->ssh_config, NULL);
    if (uri->port != 0) {
        g_autofree char *port = g_strdup_printf("%u", uri->port);

        g_strv_builder_add_many(b, "-p", port, NULL);
    }
    if (uri->user != NULL)
        g_strv_builder_add_many(b, "-l", uri->user, NULL);
    if (uri->keyfile != NULL) {
        g_autofree char *key = ssh_escape(uri->keyfile);

        g_strv_builder_add_many(b, "-i", key, NULL);
    }
    if (uri->known_hosts != NULL || uri->no_verify) {
        g_autofree char *file =
            ssh_escape(uri->known_hosts != NULL ? uri->known_hosts : "/dev/null");
        g_autofree char *opt = g_strconcat("UserKnownHostsFile=", file, NULL);

        g_strv_builder_add_many(b, "-o", opt, NULL);
    }
    if (uri->no_verify)
        g_strv_builder_add_many(b, "-o", "StrictHostKeyChecking=no", NULL);
    if (command != NULL) {
        g_strv_builder_add_many(b, "--", uri->host, NULL);
        g_strv_builder_addv(b, (const char **)command);
        return g_strv_builder_end(b);
    }
    /* the bridge logs to the journal unless told otherwise: its reason for
     * failing ("Failed to start bus client: ...") belongs in our error */
    g_strv_builder_add_many(b, "--", uri->host, "env", "SYSTEMD_LOG_TARGET=console",
                            "systemd-stdio-bridge", NULL);
    if (uri->bus != NULL) {
        g_autofree char *bus = g_strconcat("-p", uri->bus, NULL);

        g_strv_builder_add(b, bus);
    }
    return g_strv_builder_end(b);
}

/* ---- the ssh child ---- */

typedef struct {
    GSubprocess *proc;
    int err_fd; /* ssh's stderr: a memfd, so ssh never blocks on it */
} RemoteChild;

static gboolean
child_wait(RemoteChild *c, guint ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)ms * 1000;

    /* GSubprocess reaps in GLib's worker thread; the identifier goes NULL then */
    while (g_subprocess_get_identifier(c->proc) != NULL) {
        if (g_get_monotonic_time() >= deadline)
            return FALSE;
        g_usleep(2000);
    }
    return TRUE;
}

/* Waits @grace_ms for ssh to end by itself, then SIGTERM, then SIGKILL;
 * returns once it is reaped. */
static void
child_end(RemoteChild *c, guint grace_ms)
{
    if (child_wait(c, grace_ms))
        return;
    g_subprocess_send_signal(c->proc, SIGTERM);
    if (child_wait(c, 2000))
        return;
    g_subprocess_force_exit(c->proc);
    if (!child_wait(c, 10000))
        g_warning("ssh child %s did not end after SIGKILL", g_subprocess_get_identifier(c->proc));
}

static void
remote_child_free(gpointer data)
{
    RemoteChild *c = data;

    /* the connection went away without vb_remote_close(): do not wait here
     * (this may run in any thread); GLib's worker reaps the child */
    if (g_subprocess_get_identifier(c->proc) != NULL)
        g_subprocess_send_signal(c->proc, SIGTERM);
    g_object_unref(c->proc);
    if (c->err_fd >= 0)
        close(c->err_fd);
    g_free(c);
}

/* The last lines ssh (or the remote command) wrote, joined with "; ". */
static char *
child_stderr(RemoteChild *c)
{
    struct stat st;
    char buf[STDERR_TAIL + 1];
    off_t from;
    ssize_t n;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GPtrArray) keep = g_ptr_array_new();
    guint first;

    if (c->err_fd < 0 || fstat(c->err_fd, &st) < 0 || st.st_size == 0)
        return NULL;
    from = st.st_size > STDERR_TAIL ? st.st_size - STDERR_TAIL : 0;
    n = pread(c->err_fd, buf, STDERR_TAIL, from);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    lines = g_strsplit(buf, "\n", -1);
    for (guint i = from > 0 ? 1 : 0; lines[i] != NULL; i++) {
        char *l = g_strstrip(lines[i]);

        /* the remote side's words: no control characters into messages */
        for (char *p = l; *p != '\0'; p++) {
            if ((guchar)*p < 0x20 || *p == 0x7f)
                *p = '?';
        }
        if (*l != '\0' && !g_str_has_prefix(l, "Warning: Permanently added") &&
            g_utf8_validate(l, -1, NULL))
            g_ptr_array_add(keep, l);
    }
    if (keep->len == 0)
        return NULL;
    first = keep->len > 3 ? keep->len - 3 : 0;
    g_ptr_array_add(keep, NULL);
    return g_strjoinv("; ", (char **)keep->pdata + first);
}

static void
child_setup_die_with_caller(gpointer data)
{
    /* between fork and exec: async-signal-safe calls only */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != (pid_t)GPOINTER_TO_INT(data))
        _exit(127);
}

/* @command NULL: the bridge, over pipes; else @command with @stdin_fd (a
 * duplicate is taken) as its stdin and no stdout */
static RemoteChild *
child_spawn_full(const VbRemoteUri *uri, const VbRemoteOptions *opts,
                 const char *const *command, int stdin_fd, GError **error)
{
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
        command == NULL ? G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                        : G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_auto(GStrv) argv = vb_remote_ssh_argv_command(uri, opts, command);
    RemoteChild *c;
    int fd, dup_fd;

    if (command != NULL) {
        int in = fcntl(stdin_fd, F_DUPFD_CLOEXEC, 3);

        if (in < 0) {
            int saved = errno;

            g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot run ssh: %s",
                        g_strerror(saved));
            return NULL;
        }
        g_subprocess_launcher_take_stdin_fd(launcher, in);
    }

    fd = memfd_create("vb-ssh-stderr", MFD_CLOEXEC);
    if (fd < 0 || (dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
        int saved = errno;

        if (fd >= 0)
            close(fd);
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot run ssh: %s", g_strerror(saved));
        return NULL;
    }
    g_subprocess_launcher_take_stderr_fd(launcher, dup_fd);
    if (opts != NULL && opts->die_with_caller)
        g_subprocess_launcher_set_child_setup(launcher, child_setup_die_with_caller,
                                              GINT_TO_POINTER(getpid()), NULL);
    c = g_new0(RemoteChild, 1);
    c->err_fd = fd;
    c->proc = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv, error);
    if (c->proc == NULL) {
        close(fd);
        g_free(c);
        g_prefix_error(error, "cannot run ssh: ");
        if (error != NULL && *error != NULL && (*error)->domain != VB_ERROR) {
            (*error)->domain = VB_ERROR;
            (*error)->code = VB_ERROR_FAILED;
        }
        return NULL;
    }
    return c;
}

static RemoteChild *
child_spawn(const VbRemoteUri *uri, const VbRemoteOptions *opts, GError **error)
{
    return child_spawn_full(uri, opts, NULL, -1, error);
}

/* ---- the watchdog: bounds the whole handshake ---- */

typedef struct {
    GMutex lock;
    GCond cond;
    gboolean done;
    gboolean fired;
    gint64 deadline;
    GCancellable *cancel;
    GThread *thread;
} Watchdog;

static gpointer
watchdog_run(gpointer data)
{
    Watchdog *w = data;

    g_mutex_lock(&w->lock);
    while (!w->done) {
        if (!g_cond_wait_until(&w->cond, &w->lock, w->deadline) && !w->done) {
            w->fired = TRUE;
            g_cancellable_cancel(w->cancel);
            break;
        }
    }
    g_mutex_unlock(&w->lock);
    return NULL;
}

static void
watchdog_start(Watchdog *w, guint seconds, GCancellable *cancel)
{
    g_mutex_init(&w->lock);
    g_cond_init(&w->cond);
    w->deadline = g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;
    w->cancel = cancel;
    w->thread = g_thread_new("vb-remote-wd", watchdog_run, w);
}

/* Returns whether it fired. */
static gboolean
watchdog_stop(Watchdog *w)
{
    g_mutex_lock(&w->lock);
    w->done = TRUE;
    g_cond_signal(&w->cond);
    g_mutex_unlock(&w->lock);
    g_thread_join(w->thread);
    g_mutex_clear(&w->lock);
    g_cond_clear(&w->cond);
    return w->fired;
}

static void
forward_cancel(GCancellable *caller, gpointer local)
{
    g_cancellable_cancel(G_CANCELLABLE(local));
}

/* Builds the error of a failed connection; takes @local. */
static void
set_connect_error(GError **error, GError *local, const char *display, gboolean timed_out,
                  guint timeout, GCancellable *caller, RemoteChild *c)
{
    g_autofree char *said = c != NULL ? child_stderr(c) : NULL;
    g_autofree char *status = NULL;

    if (caller != NULL && g_cancellable_is_cancelled(caller)) {
        g_set_error(error, VB_ERROR, VB_ERROR_ABORTED, "connection to %s cancelled", display);
    } else if (timed_out) {
        g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                    "cannot connect to %s: no answer within %u s%s%s%s", display, timeout,
                    said != NULL ? " (" : "", said != NULL ? said : "", said != NULL ? ")" : "");
    } else if (said != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot connect to %s: %s", display, said);
    } else {
        if (c != NULL && g_subprocess_get_if_exited(c->proc) &&
            g_subprocess_get_exit_status(c->proc) != 0)
            status =
                g_strdup_printf("ssh exited with status %d", g_subprocess_get_exit_status(c->proc));
        else if (c != NULL && g_subprocess_get_if_signaled(c->proc))
            status =
                g_strdup_printf("ssh was killed by signal %d", g_subprocess_get_term_sig(c->proc));
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot connect to %s: %s", display,
                    status != NULL ? status : local->message);
    }
    g_error_free(local);
}

static GDBusConnection *
open_connection(const VbRemoteUri *u, RemoteChild *c, GCancellable *cancel, GError **error)
{
    const GDBusConnectionFlags flags = G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                       G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION;
    g_autoptr(GIOStream) stream = NULL;

    if (c == NULL)
        return g_dbus_connection_new_for_address_sync(u->bus, flags, NULL, cancel, error);
    stream = g_simple_io_stream_new(g_subprocess_get_stdout_pipe(c->proc),
                                    g_subprocess_get_stdin_pipe(c->proc));
    return g_dbus_connection_new_sync(stream, NULL, flags, NULL, cancel, error);
}

/**
 * vb_remote_connect:
 * @uri: see vb_remote_uri_parse()
 * @opts: (nullable): options; %NULL: untrusted, defaults
 * @cancellable: (nullable): cancels the attempt
 *
 * Connects to the bus @uri names: for ssh://, spawns ssh (no shell, no
 * inherited descriptors) running systemd-stdio-bridge on the remote host
 * and runs a message-bus connection over its pipes. The whole handshake
 * (ssh connect and authentication, D-Bus authentication, Hello) is bounded
 * by @opts->timeout. Blocks the calling thread: call it from a worker (or
 * a client's main thread).
 *
 * On failure the ssh child is ended and reaped before returning, and the
 * error says what ssh or the remote command wrote ("cannot connect to
 * ssh://root@host: ssh: connect to host host port 22: Connection refused").
 * On success the child belongs to the connection: end both with
 * vb_remote_close(); dropping the last reference instead sends SIGTERM to
 * ssh (GLib reaps it).
 *
 * Returns: (transfer full): the connection, or %NULL with @error set
 * (InvalidArgument for a bad URI, OperationTimeout, Aborted when
 * @cancellable fired, Failed otherwise).
 */
GDBusConnection *
vb_remote_connect(const char *uri, const VbRemoteOptions *opts, GCancellable *cancellable,
                  GError **error)
{
    gboolean trusted = opts != NULL && opts->trusted;
    guint timeout = opts != NULL && opts->timeout != 0 ? opts->timeout : VB_REMOTE_DEFAULT_TIMEOUT;
    g_autoptr(VbRemoteUri) u = NULL;
    g_autoptr(GCancellable) local_cancel = g_cancellable_new();
    g_autofree char *display = NULL;
    g_autoptr(GError) local = NULL;
    GDBusConnection *conn;
    RemoteChild *c = NULL;
    Watchdog w = {0};
    gulong handler = 0;
    gboolean fired;

    u = vb_remote_uri_parse(uri, trusted, error);
    if (u == NULL)
        return NULL;
    if (opts != NULL && opts->ssh_config != NULL && !valid_ssh_path(opts->ssh_config)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "ssh config file '%s' must be a file name without white space, quotes or "
                    "backslashes",
                    opts->ssh_config);
        return NULL;
    }
    display = vb_remote_uri_display(u);
    if (u->kind == VB_REMOTE_URI_SSH && (c = child_spawn(u, opts, error)) == NULL)
        return NULL;
    if (cancellable != NULL)
        handler =
            g_cancellable_connect(cancellable, G_CALLBACK(forward_cancel), local_cancel, NULL);
    /* ssh's ConnectTimeout says more precisely what timed out (connect,
     * banner); this is the backstop for what follows (authentication, the
     * bridge, the bus) */
    watchdog_start(&w, u->kind == VB_REMOTE_URI_SSH ? timeout + 1 : timeout, local_cancel);
    conn = open_connection(u, c, local_cancel, &local);
    fired = watchdog_stop(&w);
    if (handler != 0)
        g_cancellable_disconnect(cancellable, handler);
    if (conn == NULL) {
        if (c != NULL) {
            /* ssh usually is on its way out (its stdout ended): let it say why */
            child_end(c, fired || g_cancellable_is_cancelled(local_cancel) ? 0 : 2000);
        }
        set_connect_error(error, g_steal_pointer(&local), display, fired, timeout, cancellable, c);
        if (c != NULL)
            remote_child_free(c);
        return NULL;
    }
    if (c != NULL)
        g_object_set_data_full(G_OBJECT(conn), CHILD_KEY, c, remote_child_free);
    return conn;
}

/**
 * vb_remote_lost_reason:
 * @connection: (transfer none): a connection made by vb_remote_connect()
 *
 * Whether @connection ended under its user (the other host stopped
 * answering ssh's keepalive, the remote bus or bridge went away), and why,
 * in words for an error message. Any thread.
 *
 * Returns: (transfer full) (nullable): %NULL while @connection is open,
 *   else what ssh said last or how it ended.
 */
char *
vb_remote_lost_reason(GDBusConnection *connection)
{
    RemoteChild *c;
    g_autofree char *said = NULL;

    if (!g_dbus_connection_is_closed(connection))
        return NULL;
    c = g_object_get_data(G_OBJECT(connection), CHILD_KEY);
    if (c == NULL)
        return g_strdup("the connection to the bus was closed");
    said = child_stderr(c);
    if (said != NULL)
        return g_strdup_printf("the ssh connection ended (%s)", said);
    if (g_subprocess_get_identifier(c->proc) != NULL)
        return g_strdup("the ssh connection ended");
    if (g_subprocess_get_if_exited(c->proc))
        return g_strdup_printf("the ssh connection ended (ssh exited with status %d)",
                               g_subprocess_get_exit_status(c->proc));
    return g_strdup_printf("the ssh connection ended (ssh was killed by signal %d)",
                           g_subprocess_get_term_sig(c->proc));
}

/**
 * vb_remote_get_ssh_pid:
 *
 * Returns: the pid of the ssh child of a connection made by
 * vb_remote_connect(), or 0 (a direct connection, or ssh has ended).
 */
GPid
vb_remote_get_ssh_pid(GDBusConnection *connection)
{
    RemoteChild *c = g_object_get_data(G_OBJECT(connection), CHILD_KEY);
    const char *id = c != NULL ? g_subprocess_get_identifier(c->proc) : NULL;

    return id != NULL ? (GPid)g_ascii_strtoll(id, NULL, 10) : 0;
}

/**
 * vb_remote_close:
 * @connection: (transfer none): a connection made by vb_remote_connect()
 *
 * Flushes what is queued (for at most 2 s: a peer that stopped reading
 * cannot hold the caller) and closes @connection, then waits up to a
 * second for ssh to end after the remote bridge saw the end of its input,
 * sends SIGTERM and then SIGKILL if it did not, and returns once ssh is
 * reaped. At most ~5 s even when the peer hangs. Blocks: call it from a
 * worker or a client's main thread. The caller still owns its reference.
 */
void
vb_remote_close(GDBusConnection *connection)
{
    g_autoptr(GCancellable) cancel = g_cancellable_new();
    RemoteChild *c;
    Watchdog w = {0};

    if (connection == NULL)
        return;
    c = g_object_steal_data(G_OBJECT(connection), CHILD_KEY);
    if (!g_dbus_connection_is_closed(connection)) {
        watchdog_start(&w, 2, cancel);
        g_dbus_connection_flush_sync(connection, cancel, NULL);
        watchdog_stop(&w);
        /* not _sync: a write stuck on a full pipe would hold the close;
         * ending ssh below breaks the pipe and lets GDBus's worker finish */
        g_dbus_connection_close(connection, NULL, NULL, NULL);
    }
    if (c != NULL) {
        child_end(c, 1000);
        remote_child_free(c);
    }
}

/* ---- another remote command over ssh (the tunnel's data path) ---- */

struct _VbRemoteCommand {
    RemoteChild *child;
    char *display;
};

/**
 * vb_remote_command_spawn:
 * @uri: an ssh:// URI (checked as by vb_remote_connect())
 * @command: the remote command's words; each must be safe for the remote
 *   shell (the caller checks them)
 * @stdin_fd: what ssh reads and sends to the command's stdin (a duplicate
 *   is taken; the caller keeps its own)
 *
 * Runs `ssh ... -- HOST COMMAND` with the options of vb_remote_connect()
 * (user, port, ssh_config, keepalive), stdout silenced and stderr kept in
 * a memory file for the error text. Blocks only for the spawn.
 *
 * Returns: (transfer full): the running command, or %NULL
 */
VbRemoteCommand *
vb_remote_command_spawn(const char *uri, const VbRemoteOptions *opts,
                        const char *const *command, int stdin_fd, GError **error)
{
    gboolean trusted = opts != NULL && opts->trusted;
    g_autoptr(VbRemoteUri) u = vb_remote_uri_parse(uri, trusted, error);
    VbRemoteCommand *rc;
    RemoteChild *c;

    if (u == NULL)
        return NULL;
    if (u->kind != VB_REMOTE_URI_SSH) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "'%s' is not an ssh:// URI: no remote command runs there", uri);
        return NULL;
    }
    if (opts != NULL && opts->ssh_config != NULL && !valid_ssh_path(opts->ssh_config)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "ssh config file '%s' must be a file name without white space, quotes or "
                    "backslashes",
                    opts->ssh_config);
        return NULL;
    }
    c = child_spawn_full(u, opts, command, stdin_fd, error);
    if (c == NULL)
        return NULL;
    rc = g_new0(VbRemoteCommand, 1);
    rc->child = c;
    rc->display = vb_remote_uri_display(u);
    return rc;
}

/* The pid of ssh while it runs, else 0. */
GPid
vb_remote_command_get_pid(VbRemoteCommand *rc)
{
    const char *id = g_subprocess_get_identifier(rc->child->proc);

    return id != NULL ? (GPid)g_ascii_strtoll(id, NULL, 10) : 0;
}

/* Waits up to @ms for ssh to end by itself; whether it has. */
gboolean
vb_remote_command_wait(VbRemoteCommand *rc, guint ms)
{
    return child_wait(rc->child, ms);
}

/* Ends ssh: @grace_ms to end by itself, then SIGTERM, then SIGKILL; reaped on return. */
void
vb_remote_command_end(VbRemoteCommand *rc, guint grace_ms)
{
    child_end(rc->child, grace_ms);
}

/**
 * vb_remote_command_check:
 *
 * After ssh ended: whether it (and the remote command) exited with 0.
 * Otherwise Failed with what ssh or the command wrote on stderr last, or
 * the exit status. Still running: Failed too.
 */
gboolean
vb_remote_command_check(VbRemoteCommand *rc, GError **error)
{
    GSubprocess *p = rc->child->proc;
    g_autofree char *said = child_stderr(rc->child);
    g_autofree char *status = NULL;

    if (g_subprocess_get_identifier(p) != NULL)
        status = g_strdup("ssh is still running");
    else if (g_subprocess_get_if_exited(p) && g_subprocess_get_exit_status(p) == 0)
        return TRUE;
    else if (g_subprocess_get_if_exited(p))
        status = g_strdup_printf("ssh exited with status %d", g_subprocess_get_exit_status(p));
    else
        status = g_strdup_printf("ssh was killed by signal %d", g_subprocess_get_term_sig(p));
    g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "the command on %s failed: %s%s%s%s",
                rc->display, status, said != NULL ? " (" : "", said != NULL ? said : "",
                said != NULL ? ")" : "");
    return FALSE;
}

/* Ends ssh if it still runs (SIGTERM, then SIGKILL), reaps it and frees. Blocks. */
void
vb_remote_command_free(VbRemoteCommand *rc)
{
    if (rc == NULL)
        return;
    child_end(rc->child, 0);
    remote_child_free(rc->child);
    g_free(rc->display);
    g_free(rc);
}
