/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE /* splice() */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "migration-priv.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * Tunnelled migration (docs/migration.md, "Tunnelled migration"): QEMU's
 * stream goes through the D-Bus connection between the two services.
 *
 * Source: QEMU migrates to "fd:" on one end of a socketpair; a pump thread
 * of the migration job (VbTunnelOut) reads the other end and sends the
 * bytes as Manager.MigrateTunnelData calls to the destination, at most
 * TUNNEL_IN_FLIGHT calls unanswered, so neither side buffers without
 * bound: when the calls are not answered, the pump stops reading and QEMU's
 * writes block on the full socket.
 *
 * Destination: QEMU was started with "-incoming defer" and reads
 * "fd:" from one end of a socketpair; a thread per tunnel (VbTunnelIn)
 * writes what the calls bring into the other end, in order, and answers
 * each call once its bytes are in QEMU's socket. The calls themselves are
 * handled on the main thread, which only queues them (at most
 * TUNNEL_MAX_QUEUED). Neither thread takes a domain lock.
 *
 * The ssh data path (issue 11, part tunnel2): for an ssh:// destination
 * the source does not send the data calls; it runs a second ssh whose
 * remote command (virtbusctl migrate-tunnel-attach) passes its stdin, a
 * pipe from sshd, to Manager.MigrateTunnelAttach with the tunnel's
 * one-time token (from the Prepare cookie). The tunnel is then "attached":
 * its thread moves the pipe's bytes into QEMU's socket with splice(2)
 * (read/write for a descriptor that is not a pipe) until the end of the
 * stream, then closes QEMU's end as the end marker does.
 */

#define TUNNEL_CHUNK (2 * 1024 * 1024)
#define TUNNEL_IN_FLIGHT 8
#define TUNNEL_MAX_QUEUED 32
#define TUNNEL_SOCKBUF (4 * 1024 * 1024)
#define TUNNEL_SPLICE (1024 * 1024)
#define TUNNEL_COPY_BUF (256 * 1024)
#define CALL_TIMEOUT_MS (120 * 1000)
#define DEST_NAME "org.virtbus.Virt1"
#define DEST_PATH "/org/virtbus/Virt1"
#define DEST_IFACE "org.virtbus.Virt1.Manager"

/* Bigger socket buffers: fewer wake-ups per MiB (best effort). */
static void
grow_buffers(int fd)
{
    int size = TUNNEL_SOCKBUF;

    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

/**
 * vb_migration_tunnel_socketpair:
 * @fds: (out): [0] ours (non-blocking), [1] QEMU's (blocking)
 *
 * Both close-on-exec.
 */
gboolean
vb_migration_tunnel_socketpair(int fds[2], GError **error)
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        int e = errno;

        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot create the tunnel's socket pair: %s",
                    g_strerror(e));
        return FALSE;
    }
    grow_buffers(fds[0]);
    grow_buffers(fds[1]);
    if (!g_unix_set_fd_nonblocking(fds[0], TRUE, NULL)) {
        int e = errno;

        close(fds[0]);
        close(fds[1]);
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot set up the tunnel's socket: %s",
                    g_strerror(e));
        return FALSE;
    }
    return TRUE;
}

/* ---- destination ------------------------------------------------------- */

typedef struct {
    GBytes *data;  /* nullable: the end marker */
    VbTunnelDone done;
    gpointer user_data;
} TunnelItem;

struct _VbTunnelIn {
    gint ref;
    GMutex lock;
    GCond cond;
    GQueue queue;       /* under lock: TunnelItem */
    guint64 next;       /* under lock: the offset the next chunk must have */
    gboolean ended;     /* under lock: the end marker was queued */
    gboolean closed;    /* under lock: nothing more is accepted or written */
    GError *error;      /* under lock: why it closed (nullable after a clean end) */
    char *owner;        /* the bus name that prepared it (may feed it) */
    char *name;         /* the domain's name, for messages */
    int fd;             /* ours: the thread's from the start */
    int wake_fd;        /* eventfd: a close wakes a blocked write */
    /* the ssh data path (issue 11, part tunnel2) */
    char token[VB_MIGRATION_TUNNEL_TOKEN_LEN + 1]; /* constant after creation */
    gboolean attached;  /* under lock: MigrateTunnelAttach succeeded */
    int in_fd;          /* under lock until the thread takes it: the attached stream */
    guint64 moved;      /* the thread's: bytes of the attached stream */
};

static TunnelItem *
item_new(GBytes *data, VbTunnelDone done, gpointer user_data)
{
    TunnelItem *it = g_new0(TunnelItem, 1);

    it->data = data != NULL ? g_bytes_ref(data) : NULL;
    it->done = done;
    it->user_data = user_data;
    return it;
}

static void
item_finish(TunnelItem *it, const GError *error)
{
    it->done(error, it->user_data);
    g_clear_pointer(&it->data, g_bytes_unref);
    g_free(it);
}

VbTunnelIn *
vb_tunnel_in_ref(VbTunnelIn *t)
{
    g_atomic_int_inc(&t->ref);
    return t;
}

void
vb_tunnel_in_unref(VbTunnelIn *t)
{
    if (t == NULL || !g_atomic_int_dec_and_test(&t->ref))
        return;
    g_assert(g_queue_is_empty(&t->queue));
    if (t->fd >= 0)
        close(t->fd);
    if (t->wake_fd >= 0)
        close(t->wake_fd);
    if (t->in_fd >= 0)
        close(t->in_fd);
    g_clear_error(&t->error);
    g_free(t->owner);
    g_free(t->name);
    g_mutex_clear(&t->lock);
    g_cond_clear(&t->cond);
    g_free(t);
}

/* Closes @t with @why (the first reason wins) and fails what is queued. Unlocks. */
static void
close_unlock(VbTunnelIn *t, GError *why)
{
    GQueue failed = G_QUEUE_INIT;
    g_autoptr(GError) reason = NULL;
    guint64 one = 1;
    TunnelItem *it;

    if (!t->closed) {
        t->closed = TRUE;
        if (t->error == NULL)
            t->error = why != NULL ? g_error_copy(why) : NULL;
    }
    failed = t->queue;
    g_queue_init(&t->queue);
    reason = t->error != NULL ? g_error_copy(t->error)
                              : g_error_new_literal(VB_ERROR, VB_ERROR_INVALID_STATE,
                                                    "the tunnel is closed");
    g_cond_broadcast(&t->cond);
    g_mutex_unlock(&t->lock);
    if (write(t->wake_fd, &one, sizeof(one)) < 0) {
        /* the counter is already set: the thread wakes anyway */
    }
    while ((it = g_queue_pop_head(&failed)) != NULL)
        item_finish(it, reason);
}

/**
 * vb_tunnel_in_close:
 * @why: (nullable): the error pending and later calls get
 *
 * Ends the tunnel at once: queued chunks fail, the thread stops writing
 * and closes our end (QEMU sees the stream end). Takes no domain lock and
 * never waits, so it may run under one. Any thread.
 */
void
vb_tunnel_in_close(VbTunnelIn *t, const GError *why)
{
    g_autoptr(GError) copy = why != NULL ? g_error_copy(why) : NULL;

    g_mutex_lock(&t->lock);
    close_unlock(t, copy);
}

/* Writes all of @data to QEMU's socket; FALSE when closed meanwhile or on error. */
static gboolean
write_all(VbTunnelIn *t, GBytes *data, GError **error)
{
    gsize len = 0;
    const guint8 *p = g_bytes_get_data(data, &len);

    while (len > 0) {
        struct pollfd pfd[2] = { { t->fd, POLLOUT, 0 }, { t->wake_fd, POLLIN, 0 } };
        ssize_t n = send(t->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0) {
            p += n;
            len -= n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN) {
            int e = errno;

            g_set_error(error, VB_ERROR, VB_ERROR_MIGRATION,
                        "the incoming QEMU of domain '%s' does not take the stream any more "
                        "(%s): it ended or refused the stream", t->name, g_strerror(e));
            return FALSE;
        }
        if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
            int e = errno;

            g_set_error(error, VB_ERROR, VB_ERROR_IO, "tunnel: poll: %s", g_strerror(e));
            return FALSE;
        }
        if (pfd[1].revents != 0) {
            gboolean closed;

            g_mutex_lock(&t->lock);
            closed = t->closed;
            g_mutex_unlock(&t->lock);
            if (closed)
                return FALSE;
        }
    }
    return TRUE;
}

static gboolean
is_closed(VbTunnelIn *t)
{
    gboolean closed;

    g_mutex_lock(&t->lock);
    closed = t->closed;
    g_mutex_unlock(&t->lock);
    return closed;
}

/*
 * Waits until @in has data (or its end) and QEMU's socket has room, each
 * unless already known; FALSE when the tunnel closed meanwhile (wake fd).
 */
static gboolean
wait_both(VbTunnelIn *t, int in, gboolean need_in, gboolean need_out, GError **error)
{
    while (need_in || need_out) {
        /* a ready descriptor is left out: its POLLHUP would spin the loop */
        struct pollfd pfd[3] = { { need_in ? in : -1, POLLIN, 0 },
                                 { need_out ? t->fd : -1, POLLOUT, 0 },
                                 { t->wake_fd, POLLIN, 0 } };

        if (poll(pfd, 3, -1) < 0) {
            int e = errno;

            if (e == EINTR)
                continue;
            g_set_error(error, VB_ERROR, VB_ERROR_IO, "tunnel: poll: %s", g_strerror(e));
            return FALSE;
        }
        if (pfd[2].revents != 0 && is_closed(t))
            return FALSE;
        if (pfd[0].revents != 0)
            need_in = FALSE;
        if (pfd[1].revents != 0)
            need_out = FALSE; /* POLLERR/POLLHUP too: the write says what broke */
    }
    return TRUE;
}

static void
qemu_gone(VbTunnelIn *t, int e, GError **error)
{
    g_set_error(error, VB_ERROR, VB_ERROR_MIGRATION,
                "the incoming QEMU of domain '%s' does not take the stream any more (%s): it "
                "ended or refused the stream", t->name, g_strerror(e));
}

/* read/write: the attached descriptor is not a pipe (a socket, a file) */
static gboolean
copy_stream(VbTunnelIn *t, int in, GError **error)
{
    g_autofree guint8 *buf = g_malloc(TUNNEL_COPY_BUF);

    /* a read that blocks could not see the tunnel close: wait in poll() instead */
    (void)g_unix_set_fd_nonblocking(in, TRUE, NULL);
    for (;;) {
        ssize_t n, off = 0;

        if (is_closed(t))
            return FALSE;
        n = read(in, buf, TUNNEL_COPY_BUF);

        if (n == 0)
            return TRUE;
        if (n < 0) {
            int e = errno;

            if (e == EINTR)
                continue;
            if (e == EAGAIN) {
                if (!wait_both(t, in, TRUE, FALSE, error))
                    return FALSE;
                continue;
            }
            g_set_error(error, VB_ERROR, VB_ERROR_IO,
                        "cannot read the tunnelled stream of domain '%s': %s", t->name,
                        g_strerror(e));
            return FALSE;
        }
        while (off < n) {
            ssize_t w = send(t->fd, buf + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);

            if (w > 0) {
                off += w;
                t->moved += w;
                continue;
            }
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && errno != EAGAIN) {
                qemu_gone(t, errno, error);
                return FALSE;
            }
            if (!wait_both(t, in, FALSE, TRUE, error))
                return FALSE;
        }
    }
}

/*
 * Moves the attached stream into QEMU's socket until its end: splice(2)
 * from the pipe (no copy through user space); EINVAL (not a pipe) falls
 * back to copy_stream(). FALSE with @error unset: the tunnel closed.
 */
static gboolean
move_stream(VbTunnelIn *t, int in, GError **error)
{
    for (;;) {
        ssize_t n;
        int e;

        /* an abort of a stream that flows never waits in poll() */
        if (is_closed(t))
            return FALSE;
        n = splice(in, NULL, t->fd, NULL, TUNNEL_SPLICE,
                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE);
        if (n > 0) {
            t->moved += n;
            continue;
        }
        if (n == 0)
            return TRUE;
        e = errno;
        if (e == EINTR)
            continue;
        if (e == EINVAL && t->moved == 0)
            return copy_stream(t, in, error);
        if (e == EAGAIN) {
            /* the pipe is empty or QEMU's socket is full: wait for both */
            if (!wait_both(t, in, TRUE, TRUE, error))
                return FALSE;
            continue;
        }
        if (e == EPIPE || e == ECONNRESET || e == ENOTCONN) {
            qemu_gone(t, e, error);
            return FALSE;
        }
        g_set_error(error, VB_ERROR, VB_ERROR_IO,
                    "cannot move the tunnelled stream of domain '%s': %s", t->name,
                    g_strerror(e));
        return FALSE;
    }
}

/* The attached stream, to its end. Thread. */
static void
run_attached(VbTunnelIn *t, int in)
{
    g_autoptr(GError) error = NULL;
    gint64 t0 = g_get_monotonic_time();
    gboolean ok = move_stream(t, in, &error);
    double secs = (g_get_monotonic_time() - t0) / 1e6;

    close(in);
    g_mutex_lock(&t->lock);
    if (ok) {
        /* the end of the stream: QEMU reads up to our close */
        t->closed = TRUE;
        g_mutex_unlock(&t->lock);
        close(t->fd);
        t->fd = -1;
    } else if (error != NULL) {
        close_unlock(t, error);
    } else {
        g_mutex_unlock(&t->lock);
    }
    g_message("tunnel of domain '%s': attached stream %s, %" G_GUINT64_FORMAT
              " bytes in %.2f s (%.1f MB/s)%s%s", t->name, ok ? "ended" : "failed", t->moved,
              secs, secs > 0 ? t->moved / secs / 1e6 : 0.0, error != NULL ? ": " : "",
              error != NULL ? error->message : "");
}

static gpointer
tunnel_in_thread(gpointer data)
{
    VbTunnelIn *t = data;

    for (;;) {
        TunnelItem *it;
        g_autoptr(GError) error = NULL;

        g_mutex_lock(&t->lock);
        while (g_queue_is_empty(&t->queue) && !t->closed && t->in_fd < 0)
            g_cond_wait(&t->cond, &t->lock);
        /* an attached stream first: closed meanwhile, it ends at once (and says so) */
        if (t->in_fd < 0 && t->closed) {
            g_mutex_unlock(&t->lock);
            break;
        }
        if (t->in_fd >= 0) {
            int in = t->in_fd;

            t->in_fd = -1;
            g_mutex_unlock(&t->lock);
            run_attached(t, in);
            break;
        }
        it = g_queue_pop_head(&t->queue);
        g_mutex_unlock(&t->lock);
        if (it->data == NULL) {
            /* the end: every byte is in QEMU's socket; QEMU reads up to our close */
            g_mutex_lock(&t->lock);
            t->closed = TRUE;
            g_mutex_unlock(&t->lock);
            close(t->fd);
            t->fd = -1;
            item_finish(it, NULL);
            break;
        }
        if (!write_all(t, it->data, &error)) {
            g_mutex_lock(&t->lock);
            if (error != NULL)
                close_unlock(t, error); /* fails the rest */
            else
                g_mutex_unlock(&t->lock);
            g_mutex_lock(&t->lock);
            g_clear_error(&error);
            error = t->error != NULL ? g_error_copy(t->error)
                                     : g_error_new_literal(VB_ERROR, VB_ERROR_INVALID_STATE,
                                                           "the tunnel is closed");
            g_mutex_unlock(&t->lock);
            item_finish(it, error);
            break;
        }
        item_finish(it, NULL);
    }
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    vb_tunnel_in_unref(t);
    return NULL;
}

/* 128 bits from the kernel's random source, as 32 lowercase hex digits */
static gboolean
make_token(char out[VB_MIGRATION_TUNNEL_TOKEN_LEN + 1], GError **error)
{
    guint8 raw[VB_MIGRATION_TUNNEL_TOKEN_LEN / 2];
    gsize got = 0;

    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;

            g_set_error(error, VB_ERROR, VB_ERROR_IO, "tunnel: getrandom: %s", g_strerror(e));
            return FALSE;
        }
        got += n;
    }
    for (gsize i = 0; i < sizeof(raw); i++)
        g_snprintf(out + 2 * i, 3, "%02x", raw[i]);
    explicit_bzero(raw, sizeof(raw));
    return TRUE;
}

/**
 * vb_tunnel_in_new:
 * @fd: (transfer full): our end of the socket pair (non-blocking)
 * @owner: the bus name that may feed it
 *
 * Starts the tunnel's writer thread. Worker threads.
 */
VbTunnelIn *
vb_tunnel_in_new(int fd, const char *owner, const char *name, GError **error)
{
    VbTunnelIn *t;
    GThread *thread;
    int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    if (wake < 0) {
        int e = errno;

        close(fd);
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "tunnel: eventfd: %s", g_strerror(e));
        return NULL;
    }
    t = g_new0(VbTunnelIn, 1);
    t->ref = 2; /* the caller's and the thread's */
    g_mutex_init(&t->lock);
    g_cond_init(&t->cond);
    g_queue_init(&t->queue);
    t->owner = g_strdup(owner);
    t->name = g_strdup(name);
    t->fd = fd;
    t->wake_fd = wake;
    t->in_fd = -1;
    if (!make_token(t->token, error)) {
        t->ref = 1;
        vb_tunnel_in_unref(t);
        return NULL;
    }
    thread = g_thread_try_new("vb-tunnel-in", tunnel_in_thread, t, error);
    if (thread == NULL) {
        t->ref = 1;
        vb_tunnel_in_unref(t);
        return NULL;
    }
    g_thread_unref(thread);
    return t;
}

static gboolean
check_owner(VbTunnelIn *t, const char *owner, GError **error)
{
    if (t->owner != NULL && g_strcmp0(owner, t->owner) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                    "the tunnel of the incoming domain '%s' belongs to %s, which prepared it; "
                    "%s may not feed it", t->name, t->owner, owner != NULL ? owner : "a caller");
        return FALSE;
    }
    return TRUE;
}

/* Under t->lock: TRUE if the stream still takes chunks; else sets @error and unlocks. */
static gboolean
takes_more_or_unlock(VbTunnelIn *t, GError **error)
{
    if (!t->closed && !t->ended)
        return TRUE;
    if (t->error != NULL)
        g_propagate_error(error, g_error_copy(t->error));
    else
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "the tunnel of the incoming domain '%s' has ended", t->name);
    g_mutex_unlock(&t->lock);
    return FALSE;
}

/* Under t->lock: the stream is broken (@bad, taken): the caller gets @bad and the
 * tunnel closes with it, since a broken stream must fail loudly. Unlocks; FALSE. */
static gboolean
break_unlock(VbTunnelIn *t, GError *bad, GError **error)
{
    g_propagate_error(error, g_error_copy(bad));
    close_unlock(t, bad);
    g_error_free(bad);
    return FALSE;
}

/**
 * vb_tunnel_in_push:
 * @offset: where @data starts in the stream
 * @done: called once (from any thread) when @data is in QEMU's socket or
 *   has failed; not called when this returns %FALSE
 *
 * Queues a chunk. Main thread (never blocks).
 */
gboolean
vb_tunnel_in_push(VbTunnelIn *t, const char *owner, guint64 offset, GBytes *data,
                  VbTunnelDone done, gpointer user_data, GError **error)
{
    gsize len = g_bytes_get_size(data);

    if (!check_owner(t, owner, error))
        return FALSE;
    if (len == 0 || len > VB_TUNNEL_MAX_CHUNK) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "MigrateTunnelData: a chunk has 1 to %u bytes, not %" G_GSIZE_FORMAT,
                    VB_TUNNEL_MAX_CHUNK, len);
        return FALSE;
    }
    g_mutex_lock(&t->lock);
    if (t->attached) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "MigrateTunnelData: the tunnel of the incoming domain '%s' takes its "
                    "stream from the descriptor given to MigrateTunnelAttach; data calls are "
                    "refused (MigrateTunnelEnd with abort=true ends it)", t->name);
        g_mutex_unlock(&t->lock);
        return FALSE;
    }
    if (!takes_more_or_unlock(t, error))
        return FALSE;
    if (offset != t->next)
        return break_unlock(t,
                            g_error_new(VB_ERROR, VB_ERROR_INVALID_ARG,
                                        "MigrateTunnelData: a chunk at offset %" G_GUINT64_FORMAT
                                        " where the stream is at %" G_GUINT64_FORMAT
                                        "; the tunnel is closed",
                                        offset, t->next),
                            error);
    if (g_queue_get_length(&t->queue) >= TUNNEL_MAX_QUEUED) {
        g_set_error(error, VB_ERROR, VB_ERROR_BUSY,
                    "MigrateTunnelData: %u chunks wait already; wait for their replies",
                    TUNNEL_MAX_QUEUED);
        g_mutex_unlock(&t->lock);
        return FALSE;
    }
    t->next += len;
    g_queue_push_tail(&t->queue, item_new(data, done, user_data));
    g_cond_signal(&t->cond);
    g_mutex_unlock(&t->lock);
    return TRUE;
}

/**
 * vb_tunnel_in_end:
 * @length: the stream's length (what the source sent)
 * @abort: the source gives up: close at once, dropping what is queued
 * @done: as for vb_tunnel_in_push()
 *
 * Main thread (never blocks).
 */
gboolean
vb_tunnel_in_end(VbTunnelIn *t, const char *owner, guint64 length, gboolean abort,
                 VbTunnelDone done, gpointer user_data, GError **error)
{
    if (!check_owner(t, owner, error))
        return FALSE;
    g_mutex_lock(&t->lock);
    if (abort) {
        g_autoptr(GError) why = g_error_new(VB_ERROR, VB_ERROR_ABORTED,
                                            "the source aborted the tunnelled migration of "
                                            "domain '%s'", t->name);

        close_unlock(t, why);
        done(NULL, user_data);
        return TRUE;
    }
    if (t->attached) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "MigrateTunnelEnd: the tunnel of the incoming domain '%s' is attached to "
                    "a descriptor (MigrateTunnelAttach), whose end ends the stream; only "
                    "abort=true is accepted", t->name);
        g_mutex_unlock(&t->lock);
        return FALSE;
    }
    if (!takes_more_or_unlock(t, error))
        return FALSE;
    if (length != t->next)
        return break_unlock(t,
                            g_error_new(VB_ERROR, VB_ERROR_MIGRATION,
                                        "MigrateTunnelEnd: the source sent %" G_GUINT64_FORMAT
                                        " bytes, %" G_GUINT64_FORMAT
                                        " arrived; the tunnel is closed",
                                        length, t->next),
                            error);
    t->ended = TRUE;
    g_queue_push_tail(&t->queue, item_new(NULL, done, user_data));
    g_cond_signal(&t->cond);
    g_mutex_unlock(&t->lock);
    return TRUE;
}

/* The one-time token of MigrateTunnelAttach (32 hex digits). */
const char *
vb_tunnel_in_get_token(VbTunnelIn *t)
{
    return t->token;
}

/* Compares without an early exit: the time taken tells nothing of the token. */
static gboolean
token_equal(const char *a, const char *b)
{
    gsize la = strlen(a), lb = strlen(b);
    guint diff = la ^ lb;

    for (gsize i = 0; i < la; i++)
        diff |= (guchar)a[i] ^ (guchar)b[i % (lb > 0 ? lb : 1)];
    return diff == 0 && lb > 0;
}

/**
 * vb_tunnel_in_attach:
 * @token: what the caller says the token is
 * @fd: (transfer full): the stream (a pipe from sshd; any readable
 *   descriptor); closed on failure too
 *
 * MigrateTunnelAttach: the tunnel's thread takes its stream from @fd
 * until its end, then closes QEMU's end of the socket. Refused (NotAuthorized)
 * when @token does not match, and (OperationInvalid) when the tunnel was
 * fed by MigrateTunnelData, attached already, or has ended. Main thread
 * (never blocks).
 */
gboolean
vb_tunnel_in_attach(VbTunnelIn *t, const char *token, int fd, GError **error)
{
    g_mutex_lock(&t->lock);
    if (!token_equal(t->token, token)) {
        g_mutex_unlock(&t->lock);
        close(fd);
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                    "MigrateTunnelAttach: wrong token for the tunnel of the incoming domain "
                    "'%s'; use the one of its Prepare cookie (<tunnel token=.../>)", t->name);
        return FALSE;
    }
    if (t->closed || t->ended || t->attached || t->next > 0) {
        const char *why = t->attached ? "is attached already (a token serves once)"
                          : t->next > 0 || t->ended
                              ? "is fed by MigrateTunnelData calls already; the two data "
                                "paths do not mix"
                              : "has ended";

        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "MigrateTunnelAttach: the tunnel of the incoming domain '%s' %s", t->name,
                    why);
        g_mutex_unlock(&t->lock);
        close(fd);
        return FALSE;
    }
    t->attached = TRUE;
    t->in_fd = fd;
    g_cond_signal(&t->cond);
    g_mutex_unlock(&t->lock);
    g_message("tunnel of domain '%s': attached to a stream (MigrateTunnelAttach)", t->name);
    return TRUE;
}

/* ---- source ------------------------------------------------------------ */

struct _VbTunnelOut {
    GDBusConnection *conn;
    char *dest_path;        /* the incoming domain */
    int fd;                 /* ours: the pump's */
    GMainContext *ctx;      /* the pump's */
    GCancellable *cancel;   /* every call of the pump */
    GThread *thread;
    GSource *fd_source;     /* pump: reading while fewer than TUNNEL_IN_FLIGHT calls wait */
    guint in_flight;        /* pump */
    gboolean eof;           /* pump */
    guint8 *buf;            /* pump: the chunk being filled */
    gsize len;              /* pump: bytes in @buf */
    guint64 sent;           /* pump; read after the join */
    guint64 calls;          /* pump; read after the join */
    gint stop;              /* atomic: the job asks the pump to give up */
    GMutex lock;
    GError *error;          /* under lock: the first failure */
};

static void
out_fail(VbTunnelOut *t, GError *error)
{
    g_mutex_lock(&t->lock);
    if (t->error == NULL)
        t->error = error;
    else
        g_error_free(error);
    g_mutex_unlock(&t->lock);
    /* QEMU's next write fails: its migration ends */
    shutdown(t->fd, SHUT_RDWR);
}

static gboolean
out_failed(VbTunnelOut *t)
{
    gboolean failed;

    g_mutex_lock(&t->lock);
    failed = t->error != NULL;
    g_mutex_unlock(&t->lock);
    return failed;
}

static void out_watch(VbTunnelOut *t, gboolean on);
static void data_reply(GObject *source, GAsyncResult *res, gpointer user_data);

/* Sends the chunk filled so far. Pump. */
static void
out_send(VbTunnelOut *t)
{
    guint8 *buf = g_steal_pointer(&t->buf);

    if (t->len == 0) {
        t->buf = buf;
        return;
    }
    t->in_flight++;
    t->calls++;
    g_dbus_connection_call(t->conn, DEST_NAME, DEST_PATH, DEST_IFACE, "MigrateTunnelData",
                           g_variant_new("(ot@ay)", t->dest_path, t->sent,
                                         g_variant_new_from_data(G_VARIANT_TYPE("ay"), buf,
                                                                 t->len, TRUE, g_free, buf)),
                           G_VARIANT_TYPE("()"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
                           CALL_TIMEOUT_MS, t->cancel, data_reply, t);
    t->sent += t->len;
    t->len = 0;
}

/*
 * Whether to send a partly filled chunk: at the end of the stream, or when
 * nothing is on its way (the destination would idle). Otherwise the chunk
 * fills while the calls out are answered: fewer, bigger calls.
 */
static void
out_flush_maybe(VbTunnelOut *t)
{
    if (t->len > 0 && (t->eof || t->in_flight == 0))
        out_send(t);
}

static void
data_reply(GObject *source, GAsyncResult *res, gpointer user_data)
{
    VbTunnelOut *t = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res,
                                                          &error);

    t->in_flight--;
    if (r == NULL) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            if (g_dbus_error_is_remote_error(error))
                g_dbus_error_strip_remote_error(error);
            vb_error_convert(&error);
            g_prefix_error(&error, "the tunnel to the destination failed: ");
            out_fail(t, g_steal_pointer(&error));
        }
        return;
    }
    out_flush_maybe(t);
    out_watch(t, TRUE);
}

static gboolean out_readable(int fd, GIOCondition cond, gpointer user_data);

static void
out_watch(VbTunnelOut *t, gboolean on)
{
    if (on && t->fd_source == NULL && !t->eof && t->in_flight < TUNNEL_IN_FLIGHT) {
        t->fd_source = g_unix_fd_source_new(t->fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
        g_source_set_callback(t->fd_source, G_SOURCE_FUNC(out_readable), t, NULL);
        g_source_attach(t->fd_source, t->ctx);
    } else if (!on && t->fd_source != NULL) {
        g_source_destroy(t->fd_source);
        g_clear_pointer(&t->fd_source, g_source_unref);
    }
}

static gboolean
out_readable(int fd, GIOCondition cond, gpointer user_data)
{
    VbTunnelOut *t = user_data;

    (void)cond;
    for (;;) {
        ssize_t n;

        if (t->buf == NULL)
            t->buf = g_malloc(TUNNEL_CHUNK);
        n = read(fd, t->buf + t->len, TUNNEL_CHUNK - t->len);
        if (n > 0) {
            t->len += n;
            if (t->len == TUNNEL_CHUNK) {
                out_send(t);
                if (t->in_flight >= TUNNEL_IN_FLIGHT)
                    break;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || errno == ECONNRESET) {
            t->eof = TRUE; /* QEMU closed its end: the stream is complete, or cancelled */
        } else if (errno != EAGAIN) {
            int e = errno;

            out_fail(t, g_error_new(VB_ERROR, VB_ERROR_IO,
                                    "cannot read QEMU's migration stream: %s", g_strerror(e)));
            t->eof = TRUE;
        }
        break;
    }
    out_flush_maybe(t);
    if (t->eof || t->in_flight >= TUNNEL_IN_FLIGHT) {
        g_clear_pointer(&t->fd_source, g_source_unref);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gpointer
tunnel_out_thread(gpointer data)
{
    VbTunnelOut *t = data;

    g_main_context_push_thread_default(t->ctx);
    out_watch(t, TRUE);
    while (!(t->eof && t->in_flight == 0) && !out_failed(t) && !g_atomic_int_get(&t->stop))
        g_main_context_iteration(t->ctx, TRUE);
    out_watch(t, FALSE);
    /* the calls still out end at once */
    g_cancellable_cancel(t->cancel);
    while (t->in_flight > 0)
        g_main_context_iteration(t->ctx, TRUE);
    shutdown(t->fd, SHUT_RDWR);
    g_main_context_pop_thread_default(t->ctx);
    return NULL;
}

/**
 * vb_tunnel_out_start:
 * @fd: (transfer full): our end of the socket pair (non-blocking)
 * @dest_path: the incoming domain's object path on the destination
 *
 * Starts the pump thread. Job thread.
 */
VbTunnelOut *
vb_tunnel_out_start(GDBusConnection *conn, const char *dest_path, int fd, GError **error)
{
    VbTunnelOut *t = g_new0(VbTunnelOut, 1);

    t->conn = g_object_ref(conn);
    t->dest_path = g_strdup(dest_path);
    t->fd = fd;
    t->ctx = g_main_context_new();
    t->cancel = g_cancellable_new();
    g_mutex_init(&t->lock);
    t->thread = g_thread_try_new("vb-tunnel-out", tunnel_out_thread, t, error);
    if (t->thread == NULL) {
        vb_tunnel_out_free(t);
        return NULL;
    }
    return t;
}

/* Asks the pump to stop (a failed or cancelled transfer). Any thread. */
void
vb_tunnel_out_stop(VbTunnelOut *t)
{
    g_atomic_int_set(&t->stop, 1);
    g_main_context_wakeup(t->ctx);
}

/**
 * vb_tunnel_out_wait:
 * @out_sent: (out): the stream's length
 *
 * Waits for the pump's end: QEMU closed its end and every chunk was
 * answered, or the tunnel failed. Job thread.
 *
 * Returns: %FALSE with the tunnel's first error.
 */
gboolean
vb_tunnel_out_wait(VbTunnelOut *t, guint64 *out_sent, GError **error)
{
    if (t->thread != NULL)
        g_thread_join(g_steal_pointer(&t->thread));
    *out_sent = t->sent;
    g_mutex_lock(&t->lock);
    if (t->error != NULL) {
        g_propagate_error(error, g_error_copy(t->error));
        g_mutex_unlock(&t->lock);
        return FALSE;
    }
    g_mutex_unlock(&t->lock);
    if (g_atomic_int_get(&t->stop) && !t->eof) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_ABORTED, "the tunnel was stopped");
        return FALSE;
    }
    return TRUE;
}

/* The pump's first error (a copy), or %NULL. Any thread. */
GError *
vb_tunnel_out_get_error(VbTunnelOut *t)
{
    GError *e;

    g_mutex_lock(&t->lock);
    e = t->error != NULL ? g_error_copy(t->error) : NULL;
    g_mutex_unlock(&t->lock);
    return e;
}

guint64
vb_tunnel_out_calls(VbTunnelOut *t)
{
    return t->calls;
}

void
vb_tunnel_out_free(VbTunnelOut *t)
{
    if (t == NULL)
        return;
    if (t->thread != NULL) {
        vb_tunnel_out_stop(t);
        g_thread_join(g_steal_pointer(&t->thread));
    }
    if (t->fd >= 0)
        close(t->fd);
    g_clear_object(&t->conn);
    g_clear_object(&t->cancel);
    g_main_context_unref(t->ctx);
    g_free(t->buf);
    g_clear_error(&t->error);
    g_mutex_clear(&t->lock);
    g_free(t->dest_path);
    g_free(t);
}
