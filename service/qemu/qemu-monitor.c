/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "qemu-json-check.h"
#include "qemu-monitor-parse.h"
#include "qemu-monitor.h"
#include "vb-error.h"

/*
 * The QMP client. All sockets are watched by one monitor thread with its
 * own GMainContext (started on first use, lives for the process); it
 * reads, splits lines, completes waiters and runs the callbacks. Callers
 * write their command under the monitor lock (non-blocking; what does not
 * fit in the socket buffer is flushed by an output watch on the monitor
 * thread) and wait on the monitor's condition: the monitor thread never
 * waits for anybody.
 *
 * Lifetime: the input watch and the socket-closing idle hold references.
 * `closed` (close() called) and `dead` (connection ended) are set under
 * the lock; callbacks run only while both are unset and are counted in
 * `in_callback`, so close() from another thread can wait for a running
 * callback to return. Lock order: the monitor lock is a leaf.
 */

struct _VbQemuMonitor {
    gint refcount;
    GMutex lock;
    GCond cond;
    GSocket *socket;       /* closed (under lock) by the monitor thread only */
    GSource *watch;        /* under lock */
    GSource *out_watch;    /* under lock: set while @outbuf is not empty */
    GString *inbuf;        /* monitor thread only */
    GString *outbuf;       /* under lock */
    GHashTable *waiters;   /* under lock: &Waiter.id -> Waiter* */
    gint64 next_id;        /* under lock */
    gboolean greeted;      /* under lock */
    gboolean opened;       /* under lock: open succeeded, so eof is due once */
    gboolean dead;         /* under lock */
    gboolean closed;       /* under lock */
    guint in_callback;     /* under lock */
    VbQemuMonitorCallbacks cb;
    gpointer user_data;
};

typedef struct {
    gint64 id;
    gint64 since;
    gboolean done;
    JsonNode *reply; /* the whole reply object */
    GError *error;
    const char *watch;      /* an event that may come before the reply, or NULL */
    gboolean watch_seen;    /* under lock: it came (before the reply) */
    gint64 watch_timestamp; /* under lock: its QMP time stamp, µs since the epoch */
} Waiter;

static GMainContext *mon_context;
static GThread *mon_thread;

static gpointer
monitor_thread_main(gpointer data)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(mon_context, FALSE);

    g_main_context_push_thread_default(mon_context);
    g_main_loop_run(loop);
    return NULL;
}

static GMainContext *
monitor_context(void)
{
    static gsize once;

    if (g_once_init_enter(&once)) {
        mon_context = g_main_context_new();
        mon_thread = g_thread_new("vb-qemu-monitor", monitor_thread_main, NULL);
        g_once_init_leave(&once, 1);
    }
    return mon_context;
}

static gboolean
on_monitor_thread(void)
{
    return mon_thread != NULL && g_thread_self() == mon_thread;
}

static void
log_line(VbQemuMonitor *mon, const char *dir, const char *line, gsize len)
{
    if (g_log_writer_default_would_drop(G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN))
        return;
    /* never log secrets: set_password and friends carry them in clear */
    if (g_strstr_len(line, len, "\"password\"") != NULL ||
        g_strstr_len(line, len, "\"secret\"") != NULL) {
        g_debug("QMP %p %s (%zu bytes with a secret, not logged)", (void *)mon, dir, len);
        return;
    }
    g_debug("QMP %p %s %.*s", (void *)mon, dir, (int)MIN(len, (gsize)G_MAXINT), line);
}

/* Under lock. */
static void
fail_waiters_locked(VbQemuMonitor *mon, const GError *error)
{
    GHashTableIter iter;
    Waiter *w;

    g_hash_table_iter_init(&iter, mon->waiters);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&w)) {
        if (error != NULL)
            w->error = g_error_copy(error);
        else
            w->error = g_error_new_literal(VB_ERROR, VB_ERROR_QEMU, "monitor closed");
        w->done = TRUE;
        g_hash_table_iter_remove(&iter);
    }
    g_cond_broadcast(&mon->cond);
}

/* Under lock. */
static void
destroy_sources_locked(VbQemuMonitor *mon)
{
    if (mon->watch != NULL) {
        g_source_destroy(mon->watch);
        g_clear_pointer(&mon->watch, g_source_unref);
    }
    if (mon->out_watch != NULL) {
        g_source_destroy(mon->out_watch);
        g_clear_pointer(&mon->out_watch, g_source_unref);
    }
}

/* Monitor thread: the connection ended (EOF when @error is NULL). */
static void
handle_dead(VbQemuMonitor *mon, const GError *error)
{
    gboolean call_eof;

    g_mutex_lock(&mon->lock);
    if (mon->dead) {
        g_mutex_unlock(&mon->lock);
        return;
    }
    mon->dead = TRUE;
    if (error != NULL)
        g_debug("QMP %p: connection failed: %s", (void *)mon, error->message);
    else
        g_debug("QMP %p: end of file", (void *)mon);
    fail_waiters_locked(mon, error);
    destroy_sources_locked(mon);
    g_socket_close(mon->socket, NULL);
    call_eof = mon->opened && !mon->closed && mon->cb.eof != NULL;
    if (call_eof)
        mon->in_callback++;
    g_mutex_unlock(&mon->lock);

    if (!call_eof)
        return;
    mon->cb.eof(mon, error, mon->user_data);
    g_mutex_lock(&mon->lock);
    mon->in_callback--;
    g_cond_broadcast(&mon->cond);
    g_mutex_unlock(&mon->lock);
}

/* Under lock: wakes the waiters that watch for @msg's event (issue 16). */
static void
note_watched_locked(VbQemuMonitor *mon, const VbQmpMessage *msg)
{
    GHashTableIter iter;
    Waiter *w;
    gboolean woke = FALSE;

    if (msg->event == NULL)
        return;
    g_hash_table_iter_init(&iter, mon->waiters);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&w)) {
        if (w->watch != NULL && !w->watch_seen && g_str_equal(w->watch, msg->event)) {
            w->watch_seen = TRUE;
            w->watch_timestamp = msg->seconds * G_USEC_PER_SEC + msg->micros;
            woke = TRUE;
        }
    }
    if (woke)
        g_cond_broadcast(&mon->cond);
}

static void
dispatch_event(VbQemuMonitor *mon, const VbQmpMessage *msg)
{
    g_mutex_lock(&mon->lock);
    note_watched_locked(mon, msg);
    if (mon->closed || mon->dead || mon->cb.event == NULL) {
        g_mutex_unlock(&mon->lock);
        return;
    }
    mon->in_callback++;
    g_mutex_unlock(&mon->lock);

    mon->cb.event(mon, msg->event, msg->data, msg->seconds, msg->micros, mon->user_data);

    g_mutex_lock(&mon->lock);
    mon->in_callback--;
    g_cond_broadcast(&mon->cond);
    g_mutex_unlock(&mon->lock);
}

static void
complete_waiter(VbQemuMonitor *mon, const VbQmpMessage *msg)
{
    Waiter *w;

    if (!msg->has_id) {
        g_warning("QMP %p: reply without a numeric id ignored", (void *)mon);
        return;
    }
    g_mutex_lock(&mon->lock);
    w = g_hash_table_lookup(mon->waiters, &msg->id);
    if (w != NULL) {
        w->reply = json_node_ref(msg->root);
        w->done = TRUE;
        g_hash_table_remove(mon->waiters, &msg->id);
        g_cond_broadcast(&mon->cond);
    }
    g_mutex_unlock(&mon->lock);
    if (w == NULL)
        g_info("QMP %p: reply with unknown id %" G_GINT64_FORMAT " (late reply after a "
               "timeout?) ignored", (void *)mon, msg->id);
}

/* Monitor thread, for each line. Returns FALSE to stop reading. */
static gboolean
handle_line(const char *line, gsize len, gpointer user_data)
{
    VbQemuMonitor *mon = user_data;
    g_autoptr(GError) error = NULL;
    VbQmpMessage msg;
    gboolean stop;

    log_line(mon, "<<<", line, len);
    g_mutex_lock(&mon->lock);
    stop = mon->closed || mon->dead;
    g_mutex_unlock(&mon->lock);
    if (stop)
        return FALSE;
    if (!vb_qemu_monitor_parse_line(line, len, &msg, &error)) {
        handle_dead(mon, error);
        return FALSE;
    }
    switch (msg.kind) {
    case VB_QMP_MSG_GREETING:
        g_mutex_lock(&mon->lock);
        mon->greeted = TRUE;
        g_cond_broadcast(&mon->cond);
        g_mutex_unlock(&mon->lock);
        break;
    case VB_QMP_MSG_RETURN:
    case VB_QMP_MSG_ERROR:
        complete_waiter(mon, &msg);
        break;
    case VB_QMP_MSG_EVENT:
        dispatch_event(mon, &msg);
        break;
    }
    vb_qmp_message_clear(&msg);
    return TRUE;
}

static gboolean
on_readable(GSocket *socket, GIOCondition condition, gpointer user_data)
{
    VbQemuMonitor *mon = user_data;
    g_autoptr(GError) error = NULL;
    char buf[65536];
    gssize n;

    n = g_socket_receive(socket, buf, sizeof(buf), NULL, &error);
    if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return G_SOURCE_CONTINUE;
    if (n < 0) {
        g_autoptr(GError) e = g_error_new(VB_ERROR, VB_ERROR_QEMU, "monitor I/O error: %s",
                                          error->message);

        /* QEMU's `quit` ends with a reset (ECONNRESET) rather than a clean EOF. */
        handle_dead(mon, g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
                                 g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE)
                             ? NULL
                             : e);
        return G_SOURCE_REMOVE;
    }
    if (n == 0) {
        handle_dead(mon, NULL);
        return G_SOURCE_REMOVE;
    }
    g_string_append_len(mon->inbuf, buf, n);
    if (!vb_qemu_monitor_split_lines(mon->inbuf, handle_line, mon, &error)) {
        handle_dead(mon, error);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_writable(GSocket *socket, GIOCondition condition, gpointer user_data);

/* Under lock: writes what the socket takes without blocking. */
static void
flush_locked(VbQemuMonitor *mon)
{
    while (mon->outbuf->len > 0 && !mon->dead) {
        g_autoptr(GError) error = NULL;
        gssize n = g_socket_send(mon->socket, mon->outbuf->str, mon->outbuf->len, NULL,
                                 &error);

        if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
            if (mon->out_watch == NULL) {
                mon->out_watch = g_socket_create_source(mon->socket, G_IO_OUT, NULL);
                g_source_set_callback(mon->out_watch, (GSourceFunc)on_writable,
                                      vb_qemu_monitor_ref(mon),
                                      (GDestroyNotify)vb_qemu_monitor_unref);
                g_source_attach(mon->out_watch, monitor_context());
            }
            return;
        }
        if (n < 0) {
            /* The input side sees the hang-up and fails the waiters. */
            g_debug("QMP %p: write failed: %s", (void *)mon, error->message);
            g_string_truncate(mon->outbuf, 0);
            return;
        }
        g_string_erase(mon->outbuf, 0, n);
    }
}

static gboolean
on_writable(GSocket *socket, GIOCondition condition, gpointer user_data)
{
    VbQemuMonitor *mon = user_data;
    gboolean keep;

    g_mutex_lock(&mon->lock);
    flush_locked(mon);
    keep = mon->outbuf->len > 0 && !mon->dead;
    if (!keep && mon->out_watch != NULL)
        g_clear_pointer(&mon->out_watch, g_source_unref);
    g_mutex_unlock(&mon->lock);
    return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static VbQemuMonitor *
monitor_new(GSocket *socket, const VbQemuMonitorCallbacks *callbacks, gpointer user_data)
{
    VbQemuMonitor *mon = g_new0(VbQemuMonitor, 1);

    mon->refcount = 1;
    g_mutex_init(&mon->lock);
    g_cond_init(&mon->cond);
    mon->socket = g_object_ref(socket);
    mon->inbuf = g_string_new(NULL);
    mon->outbuf = g_string_new(NULL);
    mon->waiters = g_hash_table_new(g_int64_hash, g_int64_equal);
    if (callbacks != NULL)
        mon->cb = *callbacks;
    mon->user_data = user_data;

    g_mutex_lock(&mon->lock);
    mon->watch = g_socket_create_source(socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
    g_source_set_callback(mon->watch, (GSourceFunc)on_readable, vb_qemu_monitor_ref(mon),
                          (GDestroyNotify)vb_qemu_monitor_unref);
    g_source_attach(mon->watch, monitor_context());
    g_mutex_unlock(&mon->lock);
    return mon;
}

static gint64
deadline_for(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout_ms * 1000;
}

/* Under lock. Returns FALSE on timeout. */
static gboolean
wait_locked(VbQemuMonitor *mon, gint64 deadline)
{
    if (deadline < 0) {
        g_cond_wait(&mon->cond, &mon->lock);
        return TRUE;
    }
    return g_cond_wait_until(&mon->cond, &mon->lock, deadline) ||
           g_get_monotonic_time() < deadline;
}

/*
 * Under lock: sends @text and a newline with @fd attached (SCM_RIGHTS) in
 * one sendmsg(); what the socket does not take goes to the output buffer.
 * QEMU takes the fd with the first byte of the command, so nothing else
 * may be queued before it.
 */
static gboolean
send_with_fd_locked(VbQemuMonitor *mon, const char *text, int fd, GError **error)
{
    g_autofree char *line = g_strconcat(text, "\n", NULL);
    gsize len = strlen(line);
    char control[CMSG_SPACE(sizeof(int))] = { 0 };
    struct iovec iov = { line, len };
    struct msghdr msg = { 0 };
    struct cmsghdr *cmsg;
    gssize n;

    if (mon->outbuf->len > 0) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_BUSY,
                            "the monitor is still sending an earlier command; try again");
        return FALSE;
    }
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    do {
        n = sendmsg(g_socket_get_fd(mon->socket), &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "cannot pass a file descriptor to QEMU: %s",
                    g_strerror(errno));
        return FALSE;
    }
    if ((gsize)n < len)
        g_string_append_len(mon->outbuf, line + n, (gssize)(len - (gsize)n));
    return TRUE;
}

/*
 * Under lock: registers @w for @cmd (an object with "execute"; its "id" is set here) and
 * sends it, or queues it for flush_locked(). On failure @w is not registered.
 */
static gboolean
queue_command_locked(VbQemuMonitor *mon, Waiter *w, JsonObject *cmd, int fd, GError **error)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    g_autofree char *text = NULL;

    if (mon->closed || mon->dead) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU, "monitor closed");
        return FALSE;
    }
    w->id = ++mon->next_id;
    w->since = g_get_monotonic_time();
    json_object_set_int_member(cmd, "id", w->id);
    json_node_set_object(node, cmd);
    text = vb_qemu_monitor_node_to_string(node);
    log_line(mon, ">>>", text, strlen(text));
    g_hash_table_insert(mon->waiters, &w->id, w);
    if (fd >= 0 && !send_with_fd_locked(mon, text, fd, error)) {
        g_hash_table_remove(mon->waiters, &w->id);
        return FALSE;
    }
    if (fd < 0) {
        g_string_append(mon->outbuf, text);
        g_string_append_c(mon->outbuf, '\n');
    }
    return TRUE;
}

/*
 * Under lock (dropped while @seen runs): waits for the reply @w was registered for, until
 * @deadline. Returns the whole reply object (QEMU errors included); on failure @w is no
 * longer registered.
 */
static JsonNode *
wait_reply_locked(VbQemuMonitor *mon, Waiter *w, const char *execute,
                  VbQemuMonitorEventSeen seen, gpointer seen_data, gint64 deadline,
                  int timeout_ms, GError **error)
{
    gboolean reported = FALSE;

    while (!w->done) {
        if (w->watch_seen && !reported) {
            gint64 ts = w->watch_timestamp;

            /* the event came first: the caller acts on it now, unlocked (the waiter
             * stays registered: the reply still completes it) */
            reported = TRUE;
            g_mutex_unlock(&mon->lock);
            seen(w->watch, ts, seen_data);
            g_mutex_lock(&mon->lock);
            continue;
        }
        if (!wait_locked(mon, deadline) && !w->done) {
            g_hash_table_remove(mon->waiters, &w->id);
            g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                        "QEMU did not reply to '%s' within %d ms", execute, timeout_ms);
            return NULL;
        }
    }
    if (w->watch_seen && !reported) {
        /* the event and the reply came together: the event still comes first */
        gint64 ts = w->watch_timestamp;

        g_mutex_unlock(&mon->lock);
        seen(w->watch, ts, seen_data);
        g_mutex_lock(&mon->lock);
    }
    if (w->error != NULL) {
        g_propagate_error(error, g_steal_pointer(&w->error));
        return NULL;
    }
    return g_steal_pointer(&w->reply);
}

/*
 * Sends @cmd (an object with "execute"; its "id" is set here) and waits
 * for the reply. Returns the whole reply object (QEMU errors included).
 */
static JsonNode *
send_and_wait(VbQemuMonitor *mon, JsonObject *cmd, int fd, const char *watch,
              VbQemuMonitorEventSeen seen, gpointer seen_data, int timeout_ms, GError **error)
{
    gint64 deadline = deadline_for(timeout_ms);
    Waiter w = { 0 };
    JsonNode *reply;

    g_return_val_if_fail(!on_monitor_thread(), NULL);
    w.watch = watch;
    g_mutex_lock(&mon->lock);
    if (!queue_command_locked(mon, &w, cmd, fd, error)) {
        g_mutex_unlock(&mon->lock);
        return NULL;
    }
    flush_locked(mon);
    reply = wait_reply_locked(mon, &w, json_object_get_string_member_with_default(cmd, "execute",
                                                                                   "?"),
                              seen, seen_data, deadline, timeout_ms, error);
    g_mutex_unlock(&mon->lock);
    return reply;
}

/* The "return" member of QMP's @reply (a copy), or QEMU's error as VB_ERROR_QEMU. */
static JsonNode *
reply_return(JsonNode *reply, GError **error)
{
    JsonObject *obj;
    JsonNode *ret;

    if (reply == NULL)
        return NULL;
    obj = json_node_get_object(reply);
    ret = json_object_get_member(obj, "return");
    if (ret == NULL) {
        JsonObject *err = json_object_get_object_member(obj, "error");

        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "%s: %s",
                    json_object_get_string_member(err, "class"),
                    json_object_get_string_member(err, "desc"));
        return NULL;
    }
    return json_node_copy(ret);
}

/**
 * vb_qemu_monitor_command:
 * @mon: the monitor
 * @command: the QMP command name
 * @arguments: (transfer full) (nullable): its arguments
 * @timeout_ms: how long to wait for the reply; -1: no limit
 *
 * Sends a command and waits for its reply. Blocking: any thread but the
 * monitor thread (i.e. not from a callback).
 *
 * Returns: (transfer full): the "return" member, or NULL with
 *   VB_ERROR_QEMU ("<class>: <desc>" for QEMU's errors, "monitor closed"),
 *   VB_ERROR_OPERATION_TIMEOUT.
 */
JsonNode *
vb_qemu_monitor_command(VbQemuMonitor *mon, const char *command, JsonObject *arguments,
                        int timeout_ms, GError **error)
{
    g_autoptr(JsonObject) cmd = json_object_new();
    g_autoptr(JsonNode) reply = NULL;

    g_return_val_if_fail(mon != NULL && command != NULL, NULL);
    json_object_set_string_member(cmd, "execute", command);
    if (arguments != NULL)
        json_object_set_object_member(cmd, "arguments", arguments);
    reply = send_and_wait(mon, cmd, -1, NULL, NULL, NULL, timeout_ms, error);
    return reply_return(reply, error);
}

/**
 * vb_qemu_monitor_command_watch:
 * @event: the QMP event that tells the command took effect (STOP for `stop`)
 * @seen: called once, on the calling thread with no monitor lock held, when @event
 *   arrives before the reply, with its QMP time stamp (µs since the epoch)
 *
 * As vb_qemu_monitor_command(), and acts on @event as soon as QEMU emits it, before
 * the reply (which QEMU sends after its event: ~0.2 ms later for `stop`, issue 16).
 * The event still goes to the monitor's event callback too. The first @event read
 * while the command waits counts, also one QEMU emitted just before it read the
 * command: callers hold the domain's job, so no other command's event is due, and
 * a spontaneous one (a STOP of an I/O error) means the same state. Any thread but
 * the monitor thread.
 */
JsonNode *
vb_qemu_monitor_command_watch(VbQemuMonitor *mon, const char *command, const char *event,
                              VbQemuMonitorEventSeen seen, gpointer user_data, int timeout_ms,
                              GError **error)
{
    g_autoptr(JsonObject) cmd = json_object_new();
    g_autoptr(JsonNode) reply = NULL;

    g_return_val_if_fail(mon != NULL && command != NULL && event != NULL && seen != NULL,
                         NULL);
    json_object_set_string_member(cmd, "execute", command);
    reply = send_and_wait(mon, cmd, -1, event, seen, user_data, timeout_ms, error);
    return reply_return(reply, error);
}

/**
 * vb_qemu_monitor_command_with_fd:
 * @fd: a file descriptor passed with the command (SCM_RIGHTS); the caller
 *   keeps its own copy and closes it
 *
 * As vb_qemu_monitor_command(), passing @fd along, as QMP's "getfd" and
 * "add-fd" expect. Fails with VB_ERROR_BUSY (rare) when an earlier
 * command is still being written. Any thread but the monitor thread.
 */
JsonNode *
vb_qemu_monitor_command_with_fd(VbQemuMonitor *mon, const char *command, JsonObject *arguments,
                                int fd, int timeout_ms, GError **error)
{
    g_autoptr(JsonObject) cmd = json_object_new();
    g_autoptr(JsonNode) reply = NULL;

    g_return_val_if_fail(mon != NULL && command != NULL && fd >= 0, NULL);
    json_object_set_string_member(cmd, "execute", command);
    if (arguments != NULL)
        json_object_set_object_member(cmd, "arguments", arguments);
    reply = send_and_wait(mon, cmd, fd, NULL, NULL, NULL, timeout_ms, error);
    return reply_return(reply, error);
}

/**
 * vb_qemu_monitor_parse_command:
 * @json: a QMP command as JSON text: an object with "execute"
 *
 * Checks and parses a caller's command (for the QemuMonitorCommand
 * pass-through) without sending it. The text is checked before json-glib
 * parses it: strict JSON lexemes only, nested at most
 * VB_QEMU_JSON_MAX_DEPTH levels. Pure function: any thread.
 *
 * Returns: (transfer full): the command object, or NULL with
 *   VB_ERROR_INVALID_ARG saying what is wrong.
 */
JsonObject *
vb_qemu_monitor_parse_command(const char *json, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) local = NULL;
    JsonNode *root;
    JsonObject *obj;
    JsonNode *exec;
    gsize offset = 0;

    switch (vb_qemu_json_check(json, strlen(json), VB_QEMU_JSON_MAX_DEPTH, &offset)) {
    case VB_QEMU_JSON_CHECK_OK:
        break;
    case VB_QEMU_JSON_CHECK_TOO_DEEP:
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    _("invalid QMP command: arrays and objects are nested deeper than %d "
                      "levels (at byte %" G_GSIZE_FORMAT ")"),
                    VB_QEMU_JSON_MAX_DEPTH, offset);
        return NULL;
    case VB_QEMU_JSON_CHECK_NOT_STRICT:
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    _("invalid QMP command: not strict JSON at byte %" G_GSIZE_FORMAT
                      " (use double-quoted strings, no comments)"),
                    offset);
        return NULL;
    }
    if (!vb_qemu_monitor_is_one_object(json, strlen(json))) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "invalid QMP command: expected one JSON object with \"execute\"");
        return NULL;
    }
    if (!json_parser_load_from_data(parser, json, -1, &local)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, _("invalid QMP command: %s"),
                    local->message);
        return NULL;
    }
    root = json_parser_get_root(parser);
    obj = root != NULL && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    exec = obj != NULL ? json_object_get_member(obj, "execute") : NULL;
    if (exec == NULL || !JSON_NODE_HOLDS_VALUE(exec) ||
        json_node_get_value_type(exec) != G_TYPE_STRING) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            _("invalid QMP command: expected a JSON object with \"execute\""));
        return NULL;
    }
    return json_object_ref(obj);
}

/**
 * vb_qemu_monitor_command_object:
 * @cmd: (transfer none): a command from vb_qemu_monitor_parse_command();
 *   its "id" is replaced
 *
 * Passes a command through (for the QemuMonitorCommand pass-through).
 * Blocking: any thread but the monitor thread.
 *
 * Returns: (transfer full): the reply object as JSON text, without "id";
 *   QEMU's errors are returned as {"error": ...} text, not as GError. NULL
 *   as vb_qemu_monitor_command().
 */
char *
vb_qemu_monitor_command_object(VbQemuMonitor *mon, JsonObject *cmd, int timeout_ms,
                               GError **error)
{
    g_autoptr(JsonNode) reply = NULL;
    g_autoptr(JsonObject) out = json_object_new();
    g_autoptr(JsonNode) out_node = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(GList) names = NULL;

    g_return_val_if_fail(mon != NULL && cmd != NULL, NULL);
    reply = send_and_wait(mon, cmd, -1, NULL, NULL, NULL, timeout_ms, error);
    if (reply == NULL)
        return NULL;
    names = json_object_get_members(json_node_get_object(reply));
    for (GList *l = names; l != NULL; l = l->next) {
        if (strcmp(l->data, "id") != 0)
            json_object_set_member(out, l->data, json_node_copy(json_object_get_member(
                                                      json_node_get_object(reply), l->data)));
    }
    json_node_set_object(out_node, out);
    return vb_qemu_monitor_node_to_string(out_node);
}

/**
 * vb_qemu_monitor_command_raw:
 * @json: a QMP command as JSON text: an object with "execute"; any "id" is replaced
 *
 * vb_qemu_monitor_parse_command() then vb_qemu_monitor_command_object().
 * Blocking: any thread but the monitor thread.
 *
 * Returns: (transfer full): the reply object as JSON text, or NULL with
 *   VB_ERROR_INVALID_ARG for bad input (nothing is sent), or as
 *   vb_qemu_monitor_command().
 */
char *
vb_qemu_monitor_command_raw(VbQemuMonitor *mon, const char *json, int timeout_ms,
                            GError **error)
{
    g_autoptr(JsonObject) cmd = NULL;

    g_return_val_if_fail(mon != NULL && json != NULL, NULL);
    cmd = vb_qemu_monitor_parse_command(json, error);
    if (cmd == NULL)
        return NULL;
    return vb_qemu_monitor_command_object(mon, cmd, timeout_ms, error);
}

/**
 * vb_qemu_monitor_get_waiting:
 * @out_since: (out) (optional): monotonic time (µs) the oldest pending command was sent
 *
 * Any thread.
 *
 * Returns: whether some caller waits for a reply.
 */
gboolean
vb_qemu_monitor_get_waiting(VbQemuMonitor *mon, gint64 *out_since)
{
    GHashTableIter iter;
    Waiter *w;
    gint64 since = G_MAXINT64;

    g_mutex_lock(&mon->lock);
    g_hash_table_iter_init(&iter, mon->waiters);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&w))
        since = MIN(since, w->since);
    g_mutex_unlock(&mon->lock);
    if (since == G_MAXINT64)
        return FALSE;
    if (out_since != NULL)
        *out_since = since;
    return TRUE;
}

static gboolean
close_socket_idle(gpointer user_data)
{
    VbQemuMonitor *mon = user_data;

    g_mutex_lock(&mon->lock);
    mon->dead = TRUE;
    g_socket_close(mon->socket, NULL);
    g_mutex_unlock(&mon->lock);
    return G_SOURCE_REMOVE;
}

/**
 * vb_qemu_monitor_close:
 *
 * Closes the connection: waiting and later commands fail with "monitor
 * closed", and no callback runs once this returns (a callback running on
 * the monitor thread is waited for). Idempotent. Any thread, also from a
 * callback; does not drop the caller's reference.
 */
void
vb_qemu_monitor_close(VbQemuMonitor *mon)
{
    GSource *idle;

    g_return_if_fail(mon != NULL);
    g_mutex_lock(&mon->lock);
    if (mon->closed) {
        g_mutex_unlock(&mon->lock);
        return;
    }
    mon->closed = TRUE;
    fail_waiters_locked(mon, NULL);
    destroy_sources_locked(mon);
    if (!mon->dead) {
        /* The socket is closed on the monitor thread, which may be reading from it. */
        idle = g_idle_source_new();
        g_source_set_callback(idle, close_socket_idle, vb_qemu_monitor_ref(mon),
                              (GDestroyNotify)vb_qemu_monitor_unref);
        g_source_attach(idle, monitor_context());
        g_source_unref(idle);
    }
    if (!on_monitor_thread()) {
        while (mon->in_callback > 0)
            g_cond_wait(&mon->cond, &mon->lock);
    }
    g_mutex_unlock(&mon->lock);
}

/**
 * vb_qemu_monitor_ref: (skip)
 */
VbQemuMonitor *
vb_qemu_monitor_ref(VbQemuMonitor *mon)
{
    g_atomic_int_inc(&mon->refcount);
    return mon;
}

/**
 * vb_qemu_monitor_unref:
 *
 * Drops a reference. The connection stays open until vb_qemu_monitor_close()
 * or EOF (the monitor thread holds its own reference meanwhile). Any thread.
 */
void
vb_qemu_monitor_unref(VbQemuMonitor *mon)
{
    if (mon == NULL || !g_atomic_int_dec_and_test(&mon->refcount))
        return;
    g_clear_object(&mon->socket);
    g_string_free(mon->inbuf, TRUE);
    g_string_free(mon->outbuf, TRUE);
    g_hash_table_unref(mon->waiters);
    g_mutex_clear(&mon->lock);
    g_cond_clear(&mon->cond);
    g_free(mon);
}

static gboolean
wait_greeting(VbQemuMonitor *mon, gint64 deadline, GError **error)
{
    g_mutex_lock(&mon->lock);
    while (!mon->greeted && !mon->dead && !mon->closed) {
        if (!wait_locked(mon, deadline) && !mon->greeted) {
            g_mutex_unlock(&mon->lock);
            g_set_error_literal(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                                "timed out waiting for the QMP greeting");
            return FALSE;
        }
    }
    if (!mon->greeted) {
        g_mutex_unlock(&mon->lock);
        g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU,
                            "monitor closed before the QMP greeting");
        return FALSE;
    }
    g_mutex_unlock(&mon->lock);
    return TRUE;
}

/*
 * qmp_capabilities, and @query (when not NULL) right behind it: QEMU takes the commands
 * of one connection in order, and the first leaves capabilities negotiation, so a start's
 * first query costs no round trip of its own (issue 16). *@query_return gets its "return".
 */
static gboolean
negotiate(VbQemuMonitor *mon, const char *query, JsonNode **query_return, int timeout_ms,
          GError **error)
{
    gint64 deadline = deadline_for(timeout_ms);
    g_autoptr(JsonObject) caps_cmd = json_object_new();
    g_autoptr(JsonObject) query_cmd = json_object_new();
    g_autoptr(JsonNode) caps_reply = NULL;
    g_autoptr(JsonNode) caps_ret = NULL;
    g_autoptr(JsonNode) query_reply = NULL;
    Waiter caps = { 0 }, q = { 0 };

    /* Issue 16: qmp_capabilities goes out at once, without waiting for the greeting: QEMU
     * sends the greeting when it takes the connection and reads commands only after it, so
     * one round trip less; the greeting must still have come. */
    json_object_set_string_member(caps_cmd, "execute", "qmp_capabilities");
    g_mutex_lock(&mon->lock);
    if (!queue_command_locked(mon, &caps, caps_cmd, -1, error)) {
        g_mutex_unlock(&mon->lock);
        return FALSE;
    }
    if (query != NULL) {
        json_object_set_string_member(query_cmd, "execute", query);
        /* cannot fail: the same lock, and the first was queued */
        queue_command_locked(mon, &q, query_cmd, -1, NULL);
    }
    flush_locked(mon);
    caps_reply = wait_reply_locked(mon, &caps, "qmp_capabilities", NULL, NULL, deadline,
                                   timeout_ms, error);
    caps_ret = reply_return(caps_reply, error);
    if (caps_ret != NULL && query != NULL)
        query_reply = wait_reply_locked(mon, &q, query, NULL, NULL, deadline, timeout_ms, error);
    if (query != NULL)
        g_hash_table_remove(mon->waiters, &q.id); /* not waited for, or failed */
    g_mutex_unlock(&mon->lock);
    /* what a failed exchange left in the waiters (the replies waited for were taken) */
    g_clear_pointer(&q.reply, json_node_unref);
    g_clear_error(&q.error);
    if (caps_ret == NULL || (query != NULL && query_reply == NULL) ||
        !wait_greeting(mon, deadline, error))
        return FALSE;
    if (query != NULL) {
        *query_return = reply_return(query_reply, error);
        if (*query_return == NULL)
            return FALSE;
    }
    g_mutex_lock(&mon->lock);
    if (mon->dead || mon->closed) {
        g_mutex_unlock(&mon->lock);
        g_clear_pointer(query_return, json_node_unref);
        g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU, "monitor closed");
        return FALSE;
    }
    mon->opened = TRUE;
    g_mutex_unlock(&mon->lock);
    return TRUE;
}

/**
 * vb_qemu_monitor_open_fd_query:
 * @fd: a connected stream socket; taken over (closed on failure too)
 * @timeout_ms: for greeting + qmp_capabilities (+ @query); -1: no limit
 * @query: (nullable): a command without arguments sent right behind qmp_capabilities
 * @query_return: (out) (optional): its "return" (transfer full), when @query is given
 * @callbacks: (nullable): copied
 *
 * As vb_qemu_monitor_open_fd(), and runs @query in the same round trip as the
 * negotiation (a start's `query-cpus-fast`, issue 16). Fails as the query fails.
 */
VbQemuMonitor *
vb_qemu_monitor_open_fd_query(int fd, int timeout_ms, const char *query,
                              JsonNode **query_return, const VbQemuMonitorCallbacks *callbacks,
                              gpointer user_data, GError **error)
{
    g_autoptr(GSocket) socket = NULL;
    g_autoptr(GError) local = NULL;
    VbQemuMonitor *mon;

    g_return_val_if_fail(!on_monitor_thread(), NULL);
    g_return_val_if_fail(query == NULL || query_return != NULL, NULL);
    socket = g_socket_new_from_fd(fd, &local);
    if (socket == NULL) {
        close(fd);
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "bad monitor socket: %s", local->message);
        return NULL;
    }
    g_socket_set_blocking(socket, FALSE);
    mon = monitor_new(socket, callbacks, user_data);
    if (!negotiate(mon, query, query_return, timeout_ms, error)) {
        vb_qemu_monitor_close(mon);
        vb_qemu_monitor_unref(mon);
        return NULL;
    }
    return mon;
}

/**
 * vb_qemu_monitor_open_fd:
 * @fd: a connected stream socket; taken over (closed on failure too)
 * @timeout_ms: for greeting + qmp_capabilities; -1: no limit
 * @callbacks: (nullable): copied
 *
 * Blocking: worker threads only. No eof callback is made when this fails.
 *
 * Returns: (transfer full): the monitor, or NULL.
 */
VbQemuMonitor *
vb_qemu_monitor_open_fd(int fd, int timeout_ms, const VbQemuMonitorCallbacks *callbacks,
                        gpointer user_data, GError **error)
{
    return vb_qemu_monitor_open_fd_query(fd, timeout_ms, NULL, NULL, callbacks, user_data,
                                         error);
}

static gboolean
pid_alive(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *stat = NULL;
    const char *paren;

    if (kill(pid, 0) < 0 && errno == ESRCH)
        return FALSE;
    if (!g_file_get_contents(path, &stat, NULL, NULL))
        return TRUE; /* no /proc: trust kill() */
    paren = strrchr(stat, ')');
    return paren == NULL || paren[1] == '\0' || paren[2] != 'Z';
}

/* Returns the connected fd, or -1 with errno. */
static int
try_connect(const struct sockaddr_un *addr)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int saved;

    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
        return fd;
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/**
 * vb_qemu_monitor_open:
 * @path: the QMP unix socket
 * @pid: QEMU's pid, or 0: fail early when it exits while we wait
 * @timeout_ms: for the whole connect + greeting + capabilities; -1: no limit
 * @callbacks: (nullable): copied; run on the monitor thread
 *
 * Connects (polling every millisecond while QEMU has not created or is
 * not yet listening on the socket) and negotiates capabilities. Blocking:
 * worker threads only.
 *
 * Returns: (transfer full): the monitor, or NULL with VB_ERROR_QEMU or
 *   VB_ERROR_OPERATION_TIMEOUT.
 */
VbQemuMonitor *
vb_qemu_monitor_open(const char *path, pid_t pid, int timeout_ms,
                     const VbQemuMonitorCallbacks *callbacks, gpointer user_data,
                     GError **error)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    gint64 start = g_get_monotonic_time();
    gint64 deadline = deadline_for(timeout_ms);
    int fd;

    g_return_val_if_fail(path != NULL, NULL);
    if (strlen(path) >= sizeof(addr.sun_path)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "monitor path too long: %s", path);
        return NULL;
    }
    strcpy(addr.sun_path, path);
    while ((fd = try_connect(&addr)) < 0) {
        int err = errno;
        gint64 now = g_get_monotonic_time();

        if (err != ENOENT && err != ECONNREFUSED && err != EAGAIN) {
            g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "cannot connect to the monitor %s: %s",
                        path, g_strerror(err));
            return NULL;
        }
        if (pid > 0 && !pid_alive(pid)) {
            g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU,
                                "QEMU exited while connecting to the monitor");
            return NULL;
        }
        if (deadline >= 0 && now >= deadline) {
            g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                        "QEMU did not open its monitor %s within %d ms", path, timeout_ms);
            return NULL;
        }
        g_usleep(now - start < 200 * 1000 ? 1000 : 10000);
    }
    if (deadline >= 0)
        timeout_ms = (int)MAX(1, (deadline - g_get_monotonic_time()) / 1000);
    return vb_qemu_monitor_open_fd(fd, timeout_ms, callbacks, user_data, error);
}
