/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <glib-unix.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qemu-process.h"
#include "vb-error.h"

/*
 * QEMU runs as the service's child, in a session of its own (a terminal's
 * Ctrl-C never reaches it), with a clean environment, only stdin
 * (/dev/null) and its log on stdout/stderr: GLib closes every other fd in
 * the child. QEMU itself starts through the launcher (vb_qemu_process_launch(),
 * qemu-launch.c), which adds no-new-privs, other ids and a private /dev; the
 * helpers (swtpm, virtiofsd, passt) start through it too (domain-helpers.c).
 * Exits are seen through GLib child watches attached to one process-watch
 * thread, which reaps the child and wakes waiters at once.
 */

struct _VbQemuProcess {
    gint refcount;
    pid_t pid;
    GMutex lock;
    GCond cond;
    gboolean exited;  /* under lock */
    int status;       /* under lock */
    int pidfd;        /* attached processes only, else -1 */
    gint64 start_time; /* wall clock of its start, microseconds since the epoch; 0: unknown */
    VbQemuProcessExitFunc on_exit; /* under lock: NULL once called or detached */
    gpointer user_data;
    gboolean in_callback; /* under lock: the exit callback runs */
};

static GMainContext *watch_context;
static GThread *watch_thread_self;

static gpointer
watch_thread(gpointer data)
{
    GMainLoop *loop = g_main_loop_new(data, FALSE);

    g_atomic_pointer_set(&watch_thread_self, g_thread_self());

    g_main_context_push_thread_default(data);
    g_main_loop_run(loop);
    return NULL;
}

static GMainContext *
get_watch_context(void)
{
    if (g_once_init_enter(&watch_context)) {
        GMainContext *ctx = g_main_context_new();

        g_thread_unref(g_thread_new("vb-process-watch", watch_thread, ctx));
        g_once_init_leave(&watch_context, ctx);
    }
    return watch_context;
}

static void
child_exited(GPid pid, gint status, gpointer user_data)
{
    VbQemuProcess *proc = user_data;
    VbQemuProcessExitFunc on_exit;

    g_mutex_lock(&proc->lock);
    proc->exited = TRUE;
    proc->status = status;
    on_exit = g_steal_pointer(&proc->on_exit);
    proc->in_callback = on_exit != NULL;
    g_cond_broadcast(&proc->cond);
    g_mutex_unlock(&proc->lock);
    if (on_exit == NULL)
        return;
    on_exit(proc, status, proc->user_data);
    g_mutex_lock(&proc->lock);
    proc->in_callback = FALSE;
    g_cond_broadcast(&proc->cond);
    g_mutex_unlock(&proc->lock);
}

/**
 * vb_qemu_process_detach:
 *
 * Stops watching for the exit: once this returns, the exit callback does
 * not run and never will (it waits for a callback already running). The
 * process itself is left alone. Used when the service stops and leaves
 * QEMU running. Any thread but the watch thread.
 *
 * Returns: (transfer full) (nullable): the callback's user data when the
 *   callback never ran (the caller drops what it held), else %NULL.
 */
gpointer
vb_qemu_process_detach(VbQemuProcess *proc)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&proc->lock);
    gpointer data = proc->on_exit != NULL ? proc->user_data : NULL;

    g_return_val_if_fail(g_thread_self() != g_atomic_pointer_get(&watch_thread_self), NULL);
    proc->on_exit = NULL;
    while (proc->in_callback)
        g_cond_wait(&proc->cond, &proc->lock);
    return data;
}

/*
 * issue 14, part dac: between fork and exec, QEMU takes its own ids (supplementary groups,
 * then group, then user: each step needs the privilege the next drops). Raw system calls:
 * the child has one thread, and nothing here may allocate. A failure ends the child with a
 * line in the domain log (stderr), which the start's error quotes.
 */
static void
child_switch_ids(const VbQemuIds *ids)
{
    static const char msg[] = "virtbusd: cannot switch QEMU to its user and group "
                              "(qemu_user, qemu_group)\n";

    if (ids == NULL || !ids->set_ids)
        return;
    if (syscall(SYS_setgroups, ids->n_groups, ids->groups) == 0 &&
        syscall(SYS_setresgid, ids->gid, ids->gid, ids->gid) == 0 &&
        syscall(SYS_setresuid, ids->uid, ids->uid, ids->uid) == 0)
        return;
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
        /* nothing more to say */
    }
    _exit(127);
}

/* Watches our child @pid (not yet reaped). Returns: (transfer full). */
static VbQemuProcess *
watch_child(pid_t pid, VbQemuProcessExitFunc on_exit, gpointer user_data)
{
    VbQemuProcess *proc = g_new0(VbQemuProcess, 1);
    GSource *source;

    proc->refcount = 2; /* the caller's and the watch's */
    proc->pid = pid;
    proc->pidfd = -1;
    proc->start_time = g_get_real_time();
    g_mutex_init(&proc->lock);
    g_cond_init(&proc->cond);
    proc->on_exit = on_exit;
    proc->user_data = user_data;
    source = g_child_watch_source_new(pid);
    g_source_set_callback(source, (GSourceFunc)(void (*)(void))child_exited, proc,
                          (GDestroyNotify)vb_qemu_process_unref);
    g_source_attach(source, get_watch_context());
    g_source_unref(source);
    return proc;
}

static void
child_setup(gpointer data)
{
    setsid();
    child_switch_ids(data);
}

/**
 * vb_qemu_process_env:
 * @home: the domain's runtime dir
 *
 * Returns: (transfer full): the whole environment of QEMU and its helpers: LC_ALL, PATH,
 *   HOME and the XDG config and cache dirs under @home; nothing inherited.
 */
GStrv
vb_qemu_process_env(const char *home)
{
    char **env = g_new0(char *, 6);

    env[0] = g_strdup("LC_ALL=C");
    env[1] = g_strdup("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
    env[2] = g_strconcat("HOME=", home, NULL);
    env[3] = g_strconcat("XDG_CONFIG_HOME=", home, "/.config", NULL);
    env[4] = g_strconcat("XDG_CACHE_HOME=", home, "/.cache", NULL);
    return env;
}

/**
 * vb_qemu_process_spawn:
 * @argv: the command line, binary first
 * @home: HOME (and XDG dirs) of the process: the domain's runtime dir
 * @log_fd: stdout and stderr of the process (the domain log)
 * @on_exit: (nullable): called on the process-watch thread after reaping
 *
 * Returns: (transfer full): the running process (one reference is held by
 *   the watch until the exit callback has run).
 */
VbQemuProcess *
vb_qemu_process_spawn(const char *const *argv, const char *home, int log_fd,
                      VbQemuProcessExitFunc on_exit, gpointer user_data, GError **error)
{
    return vb_qemu_process_spawn_fds(argv, home, log_fd, NULL, NULL, 0, NULL, on_exit,
                                     user_data, error);
}

/**
 * vb_qemu_process_spawn_fds:
 * @argv: the command line, binary first
 * @home: HOME (and XDG dirs) of the process: the domain's runtime dir
 * @log_fd: stdout and stderr of the process (the domain log)
 * @source_fds: (array length=n_fds) (nullable): the service's fds to pass on (taps, ...)
 * @target_fds: (array length=n_fds) (nullable): the numbers the process sees them at (3 or
 *   more, as its command line names them)
 * @n_fds: how many
 * @ids: (nullable): the ids the process runs as (issue 14, part dac); %NULL: the service's
 * @on_exit: (nullable): called on the process-watch thread after reaping
 *
 * As vb_qemu_process_spawn(), and the process gets @source_fds at @target_fds. It inherits
 * no other fd: stdin is /dev/null, stdout and stderr @log_fd. The caller keeps its fds.
 *
 * Returns: (transfer full): the running process.
 */
VbQemuProcess *
vb_qemu_process_spawn_fds(const char *const *argv, const char *home, int log_fd,
                          const int *source_fds, const int *target_fds, gsize n_fds,
                          const VbQemuIds *ids, VbQemuProcessExitFunc on_exit,
                          gpointer user_data, GError **error)
{
    g_auto(GStrv) envp = vb_qemu_process_env(home);
    GPid pid;

    if (!g_spawn_async_with_pipes_and_fds(NULL, argv, (const char *const *)envp,
                                          G_SPAWN_DO_NOT_REAP_CHILD |
                                              G_SPAWN_STDIN_FROM_DEV_NULL,
                                          child_setup, (gpointer)ids, -1, log_fd, log_fd,
                                          source_fds,
                                          target_fds, n_fds,
                                          &pid, NULL, NULL, NULL, error)) {
        vb_error_convert(error);
        g_prefix_error(error, "cannot run %s: ", argv[0]);
        return NULL;
    }
    return watch_child(pid, on_exit, user_data);
}

/**
 * vb_qemu_process_launch:
 * @spec: the command line, environment, fds, ids and /dev of the process
 * @hook: (nullable): runs with the pid after the launcher confined itself, before the exec
 *   (joining a cgroup); a failure kills the launcher and fails the spawn
 * @on_exit: (nullable): called on the process-watch thread after reaping
 *
 * Starts QEMU through the launcher (qemu-launch.c): a session of its own, exactly
 * @spec->envp, only @spec's fds, no-new-privs, optionally other ids and a private /dev.
 * Returns once QEMU has been exec'd; an exec failure is an error naming the program and
 * the errno ("cannot run /x: Permission denied").
 *
 * Returns: (transfer full): the running process.
 */
VbQemuProcess *
vb_qemu_process_launch(const VbQemuLaunchSpec *spec, VbQemuSpawnHook hook, gpointer hook_data,
                       VbQemuProcessExitFunc on_exit, gpointer user_data, GError **error)
{
    pid_t pid = vb_qemu_launch_spawn(spec, hook, hook_data, error);

    if (pid < 0)
        return NULL;
    return watch_child(pid, on_exit, user_data);
}

pid_t
vb_qemu_process_get_pid(VbQemuProcess *proc)
{
    return proc->pid;
}

/**
 * vb_qemu_process_get_start_time:
 * @proc: a process
 *
 * Returns: when it started, microseconds since the epoch (for one the service spawned,
 * the time of the spawn; for an attached one, what /proc says); 0 when unknown
 */
gint64
vb_qemu_process_get_start_time(VbQemuProcess *proc)
{
    return proc->start_time;
}

/* Whether the process has exited (and been reaped); its wait status. */
gboolean
vb_qemu_process_has_exited(VbQemuProcess *proc, int *out_status)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&proc->lock);

    if (proc->exited && out_status != NULL)
        *out_status = proc->status;
    return proc->exited;
}

/* Waits up to @timeout_ms for the exit. Returns: whether it exited. */
gboolean
vb_qemu_process_wait(VbQemuProcess *proc, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&proc->lock);

    while (!proc->exited) {
        if (!g_cond_wait_until(&proc->cond, &proc->lock, deadline))
            break;
    }
    return proc->exited;
}

/* Sends @sig unless the process has already been reaped (its pid may be reused). */
gboolean
vb_qemu_process_signal(VbQemuProcess *proc, int sig)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&proc->lock);

    if (proc->exited)
        return FALSE;
    if (proc->pidfd >= 0)
        return syscall(SYS_pidfd_send_signal, proc->pidfd, sig, NULL, 0) == 0;
    return kill(proc->pid, sig) == 0;
}

static gboolean
pidfd_ready(gint fd, GIOCondition condition, gpointer user_data)
{
    /* not our child: no wait status to collect, only the fact of the exit */
    child_exited(((VbQemuProcess *)user_data)->pid, -1, user_data);
    return G_SOURCE_REMOVE;
}

/*
 * When @pid started, on the wall clock in microseconds (0 if /proc does not say): its
 * start in clock ticks after boot (/proc/PID/stat, field 22) set against CLOCK_BOOTTIME
 * and CLOCK_REALTIME read together. Precise to a tick (10 ms), which a restarted service
 * needs for the uptime of a domain it found running.
 */
static gint64
process_start_time(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *contents = NULL;
    g_auto(GStrv) fields = NULL;
    struct timespec boot;
    const char *p;
    long hz = sysconf(_SC_CLK_TCK);
    guint64 ticks;
    gint64 since_boot_us, now;

    if (!g_file_get_contents(path, &contents, NULL, NULL) ||
        (p = strrchr(contents, ')')) == NULL || hz <= 0)
        return 0;
    /* after the command name: state is field 3, starttime field 22 */
    fields = g_strsplit(p + 2, " ", 21);
    if (g_strv_length(fields) < 21 || !g_ascii_string_to_unsigned(fields[19], 10, 0, G_MAXUINT64,
                                                                  &ticks, NULL))
        return 0;
    now = g_get_real_time();
    if (clock_gettime(CLOCK_BOOTTIME, &boot) != 0)
        return 0;
    since_boot_us = (gint64)boot.tv_sec * G_USEC_PER_SEC + boot.tv_nsec / 1000;
    return now - (since_boot_us - (gint64)(ticks * G_USEC_PER_SEC / (guint64)hz));
}

/**
 * vb_qemu_process_attach:
 * @pid: a running QEMU the service did not spawn in this run (it was the
 *   child of a previous run of the service)
 * @on_exit: (nullable): called on the process-watch thread when it exits,
 *   with a wait status of -1 (unknown: it is not our child)
 *
 * Watches the process through a pidfd, so the exit is seen at once
 * without polling, and signals go to exactly that process even if its pid
 * were reused.
 *
 * Returns: (transfer full): the process, or %NULL when it is gone.
 */
VbQemuProcess *
vb_qemu_process_attach(pid_t pid, VbQemuProcessExitFunc on_exit, gpointer user_data,
                       GError **error)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    VbQemuProcess *proc;
    GSource *source;

    if (pidfd < 0) {
        g_set_error(error, VB_ERROR, errno == ESRCH ? VB_ERROR_NO_DOMAIN : VB_ERROR_FAILED,
                    "cannot watch process %d: %s", (int)pid, g_strerror(errno));
        return NULL;
    }
    proc = g_new0(VbQemuProcess, 1);
    proc->refcount = 2; /* the caller's and the watch's */
    proc->pid = pid;
    proc->pidfd = pidfd;
    proc->start_time = process_start_time(pid);
    g_mutex_init(&proc->lock);
    g_cond_init(&proc->cond);
    proc->on_exit = on_exit;
    proc->user_data = user_data;
    source = g_unix_fd_source_new(pidfd, G_IO_IN);
    g_source_set_callback(source, (GSourceFunc)(void (*)(void))pidfd_ready, proc,
                          (GDestroyNotify)vb_qemu_process_unref);
    g_source_attach(source, get_watch_context());
    g_source_unref(source);
    return proc;
}

/* Whether @pid is stopped by a signal or traced (state T or t). */
static gboolean
is_stopped(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *contents = NULL;
    const char *p;

    if (!g_file_get_contents(path, &contents, NULL, NULL))
        return FALSE;
    p = strrchr(contents, ')'); /* the command name may contain spaces */
    return p != NULL && p[1] == ' ' && (p[2] == 'T' || p[2] == 't');
}

/**
 * vb_qemu_process_kill:
 * @graceful: never send SIGKILL
 * @term_timeout_ms: how long SIGTERM gets
 *
 * SIGTERM, wait, then SIGKILL (unless @graceful), and wait for the exit.
 * Safe while another thread is blocked talking to this QEMU: its monitor
 * sees EOF once the process is gone. Any thread but the watch thread.
 */
gboolean
vb_qemu_process_kill(VbQemuProcess *proc, gboolean graceful, guint term_timeout_ms,
                     GError **error)
{
    if (is_stopped(proc->pid)) {
        /* A stopped process (SIGSTOP, a debugger) never handles SIGTERM, and
         * once continued it would first answer whatever QMP commands wait
         * in its socket. It cannot flush anything while stopped: kill it,
         * unless asked to be graceful. */
        if (!graceful)
            vb_qemu_process_signal(proc, SIGKILL);
        else
            vb_qemu_process_signal(proc, SIGCONT);
    }
    vb_qemu_process_signal(proc, SIGTERM);
    if (vb_qemu_process_wait(proc, term_timeout_ms))
        return TRUE;
    if (graceful) {
        g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                    "QEMU (pid %d) did not exit within %u ms of SIGTERM", (int)proc->pid,
                    term_timeout_ms);
        return FALSE;
    }
    vb_qemu_process_signal(proc, SIGKILL);
    if (vb_qemu_process_wait(proc, 10000))
        return TRUE;
    g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                "QEMU (pid %d) did not exit after SIGKILL (stuck in the kernel?)",
                (int)proc->pid);
    return FALSE;
}

VbQemuProcess *
vb_qemu_process_ref(VbQemuProcess *proc)
{
    g_atomic_int_inc(&proc->refcount);
    return proc;
}

void
vb_qemu_process_unref(VbQemuProcess *proc)
{
    if (proc == NULL || !g_atomic_int_dec_and_test(&proc->refcount))
        return;
    if (proc->pidfd >= 0)
        close(proc->pidfd);
    g_mutex_clear(&proc->lock);
    g_cond_clear(&proc->cond);
    g_free(proc);
}

/* Returns: (transfer full): "exited with status 1", "killed by signal 9 (Killed)". */
char *
vb_qemu_process_describe_status(int status)
{
    if (status == -1)
        return g_strdup("exited");
    if (WIFEXITED(status))
        return g_strdup_printf("exited with status %d", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return g_strdup_printf("killed by signal %d (%s)", WTERMSIG(status),
                               g_strsignal(WTERMSIG(status)));
    return g_strdup_printf("ended (wait status 0x%x)", status);
}
