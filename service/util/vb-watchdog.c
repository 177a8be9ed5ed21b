/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The deadlock watchdog of the tests (vb-watchdog.h). The watchdog thread attaches a
 * high-priority idle source to the watched context and waits; the main loop answering it
 * marks the ping answered. A ping unanswered for the timeout means the loop is stuck: every
 * other thread is sent VB_WATCHDOG_SIGNAL, whose handler writes its backtrace to stderr
 * (backtrace_symbols_fd() writes module+offset, for addr2line), one thread at a time, and
 * the process aborts. Own thread; the ping runs on the context's thread.
 */
#define _GNU_SOURCE /* gettid, tgkill */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <execinfo.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vb-watchdog.h"

#define VB_WATCHDOG_SIGNAL (SIGRTMIN + 7)
#define MAX_FRAMES 64

struct _VbWatchdog {
    GMainContext *context;
    guint timeout_ms;
    VbWatchdogExpired expired;
    gpointer user_data;
    GThread *thread;
    GMutex lock;
    GCond cond;
    gboolean stop;
    gboolean pending;  /* a ping is queued and not answered */
    gboolean reported; /* the expiry of the pending ping was reported */
    gint64 sent;       /* monotonic time of the pending ping */
};

static sem_t dump_ack;
static int dump_fd = 2;

static void
dump_handler(int sig, siginfo_t *info, void *ctx)
{
    void *frames[MAX_FRAMES];
    int n = backtrace(frames, MAX_FRAMES);

    backtrace_symbols_fd(frames, n, dump_fd);
    sem_post(&dump_ack);
}

static void
write_str(int fd, const char *s)
{
    size_t len = strlen(s);

    while (len > 0) {
        ssize_t w = write(fd, s, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        len -= (size_t)w;
    }
}

/**
 * vb_watchdog_dump_threads:
 * @fd: where to write
 *
 * Writes the backtrace of every thread of the process but the calling one (each asked in
 * turn by a signal, waiting at most two seconds for it) to @fd.
 */
void
vb_watchdog_dump_threads(int fd)
{
    static gsize installed = 0;
    pid_t pid = getpid();
    pid_t self = (pid_t)syscall(SYS_gettid);
    DIR *dir;
    struct dirent *e;

    if (g_once_init_enter(&installed)) {
        struct sigaction sa = { 0 };

        sem_init(&dump_ack, 0, 0);
        sa.sa_sigaction = dump_handler;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(VB_WATCHDOG_SIGNAL, &sa, NULL);
        g_once_init_leave(&installed, 1);
    }
    dump_fd = fd;
    dir = opendir("/proc/self/task");
    if (dir == NULL)
        return;
    while ((e = readdir(dir)) != NULL) {
        pid_t tid = (pid_t)strtol(e->d_name, NULL, 10);
        g_autofree char *comm_path = NULL;
        g_autofree char *comm = NULL;
        g_autofree char *head = NULL;
        struct timespec until;

        if (tid <= 0 || tid == self)
            continue;
        comm_path = g_strdup_printf("/proc/self/task/%d/comm", (int)tid);
        if (!g_file_get_contents(comm_path, &comm, NULL, NULL))
            comm = g_strdup("?\n");
        g_strchomp(comm);
        head = g_strdup_printf("--- thread %d (%s)%s ---\n", (int)tid, comm,
                               tid == pid ? ", the main thread" : "");
        write_str(fd, head);
        if (syscall(SYS_tgkill, pid, tid, VB_WATCHDOG_SIGNAL) != 0)
            continue;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 2;
        while (sem_timedwait(&dump_ack, &until) != 0 && errno == EINTR)
            ;
    }
    closedir(dir);
}

static gboolean
on_ping(gpointer data)
{
    VbWatchdog *wd = data;

    g_mutex_lock(&wd->lock);
    wd->pending = FALSE;
    wd->reported = FALSE;
    g_cond_signal(&wd->cond);
    g_mutex_unlock(&wd->lock);
    return G_SOURCE_REMOVE;
}

static void
expire(VbWatchdog *wd, guint stuck_ms)
{
    g_autofree char *msg = NULL;

    if (wd->expired != NULL) {
        wd->expired(stuck_ms, wd->user_data);
        return;
    }
    msg = g_strdup_printf("virtbusd watchdog: the main loop has not answered for %u ms "
                          "(VIRTBUS_TEST_WATCHDOG): backtraces of every thread follow, then "
                          "abort\n", stuck_ms);
    write_str(2, msg);
    vb_watchdog_dump_threads(2);
    write_str(2, "virtbusd watchdog: abort\n");
    abort();
}

static gpointer
watchdog_thread(gpointer data)
{
    VbWatchdog *wd = data;
    gint64 interval = MAX(wd->timeout_ms / 4, 10) * G_TIME_SPAN_MILLISECOND;

    g_mutex_lock(&wd->lock);
    while (!wd->stop) {
        gint64 now = g_get_monotonic_time();

        if (!wd->pending) {
            GSource *src = g_idle_source_new();

            wd->pending = TRUE;
            wd->sent = now;
            g_source_set_priority(src, G_PRIORITY_HIGH);
            g_source_set_callback(src, on_ping, wd, NULL);
            g_source_set_static_name(src, "vb-watchdog-ping");
            g_source_attach(src, wd->context);
            g_source_unref(src);
        } else if (!wd->reported && now - wd->sent >= wd->timeout_ms * G_TIME_SPAN_MILLISECOND) {
            guint stuck = (guint)((now - wd->sent) / G_TIME_SPAN_MILLISECOND);

            wd->reported = TRUE;
            g_mutex_unlock(&wd->lock);
            expire(wd, stuck);
            g_mutex_lock(&wd->lock);
            continue;
        }
        g_cond_wait_until(&wd->cond, &wd->lock, g_get_monotonic_time() + interval);
    }
    g_mutex_unlock(&wd->lock);
    return NULL;
}

/**
 * vb_watchdog_start:
 * @context: (nullable): the context to watch (%NULL: the default one)
 * @timeout_ms: how long a ping may stay unanswered
 * @expired: (nullable): called instead of the dump and abort
 *
 * Returns: (transfer full): the watchdog, for vb_watchdog_stop()
 */
VbWatchdog *
vb_watchdog_start(GMainContext *context, guint timeout_ms, VbWatchdogExpired expired,
                  gpointer user_data)
{
    VbWatchdog *wd = g_new0(VbWatchdog, 1);
    void *frames[2];

    /* the first backtrace() loads libgcc_s: not in a signal handler */
    (void)backtrace(frames, 2);
    wd->context = g_main_context_ref(context != NULL ? context : g_main_context_default());
    wd->timeout_ms = MAX(timeout_ms, 1);
    wd->expired = expired;
    wd->user_data = user_data;
    g_mutex_init(&wd->lock);
    g_cond_init(&wd->cond);
    wd->thread = g_thread_new("vb-watchdog", watchdog_thread, wd);
    return wd;
}

/**
 * vb_watchdog_start_from_env:
 * @context: (nullable): the context to watch
 *
 * Starts a watchdog of VIRTBUS_TEST_WATCHDOG seconds (a positive integer) that dumps and
 * aborts; none without the variable.
 *
 * Returns: (transfer full) (nullable): the watchdog
 */
VbWatchdog *
vb_watchdog_start_from_env(GMainContext *context)
{
    const char *v = g_getenv("VIRTBUS_TEST_WATCHDOG");
    guint64 secs = 0;

    if (v == NULL || *v == '\0')
        return NULL;
    if (!g_ascii_string_to_unsigned(v, 10, 1, 86400, &secs, NULL)) {
        g_warning("VIRTBUS_TEST_WATCHDOG=%s is not a number of seconds (1-86400): no watchdog",
                  v);
        return NULL;
    }
    g_message("watchdog: the main loop must answer within %u s (VIRTBUS_TEST_WATCHDOG)",
              (guint)secs);
    return vb_watchdog_start(context, (guint)secs * 1000, NULL, NULL);
}

/**
 * vb_watchdog_stop:
 * @wd: (nullable) (transfer full): a watchdog
 *
 * Stops and frees it. A ping still queued is removed with the context's iteration that
 * answers it, so stop only from the context's own thread (which then cannot be inside a
 * ping) after the loop ended: the queued ping is destroyed here.
 */
void
vb_watchdog_stop(VbWatchdog *wd)
{
    GSource *src;

    if (wd == NULL)
        return;
    g_mutex_lock(&wd->lock);
    wd->stop = TRUE;
    g_cond_signal(&wd->cond);
    g_mutex_unlock(&wd->lock);
    g_thread_join(wd->thread);
    while ((src = g_main_context_find_source_by_user_data(wd->context, wd)) != NULL)
        g_source_destroy(src);
    g_main_context_unref(wd->context);
    g_mutex_clear(&wd->lock);
    g_cond_clear(&wd->cond);
    g_free(wd);
}
