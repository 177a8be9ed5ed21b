/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The dnsmasq process of a virtual network.
 *
 * dnsmasq runs as a child of the service (--keep-in-foreground, its stderr
 * appended to NAME.log) in its own session, so that it outlives a service
 * restart. It is watched through a pidfd on the caller's main context: an
 * unexpected exit is logged with its cause and dnsmasq is started again after
 * a delay that doubles with each quick death up to a bound. A new VbDnsmasq
 * (after a service restart) adopts the running dnsmasq named by the pid file
 * when /proc/PID/cmdline names our conf file and the conf file is what the
 * configuration produces; otherwise it starts a fresh one.
 *
 * Threads: every public function may be called from any thread. dm->lock
 * guards the fields marked so; it is never held while waiting for dnsmasq
 * (start and stop wait unlocked). The exit watch and the restart timer run
 * on dm->context and never wait: a restart spawns and returns.
 */
#include "config.h"

#include "network-dnsmasq.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "vb-error.h"

#define DNSMASQ_BINARY "/usr/sbin/dnsmasq"
#define START_TIMEOUT_MS 10000          /* until dnsmasq has written its pid file */
#define STOP_TERM_TIMEOUT_MS 5000       /* SIGTERM, then SIGKILL */
#define RESTART_DELAY_MIN_MS 200        /* first restart after an unexpected exit */
#define RESTART_DELAY_MAX_MS 10000      /* the backoff's bound */
#define STABLE_US (30 * G_USEC_PER_SEC) /* a dnsmasq that ran this long resets it */

struct _VbDnsmasq {
    gint ref;
    GMutex lock;
    GMainContext *context;
    char *state_dir;
    char *conf_path;
    char *pid_path;
    char *log_path;
    char *hosts_path;
    char *addn_path;
    char *leases_path;
    /* under lock */
    char *binary;
    VbDnsmasqConfig *cfg;
    GPid pid;           /* 0: none */
    int pidfd;          /* -1: none */
    gboolean child;     /* spawned by us: reap it */
    gboolean adopted;   /* the running one was adopted from its pid file */
    gboolean wanted;    /* started and not stopped: restart it when it dies */
    GSource *watch;     /* pidfd readable: dnsmasq exited */
    GSource *restart;   /* pending restart */
    guint restarts;     /* restarts after unexpected exits */
    guint quick_deaths; /* consecutive exits soon after a start, for the backoff */
    gint64 started_at;  /* monotonic time of the last spawn */
};

static int
pidfd_open_(GPid pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int
pidfd_signal(int pidfd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static VbDnsmasq *
dm_ref(VbDnsmasq *dm)
{
    g_atomic_int_inc(&dm->ref);
    return dm;
}

static void
dm_unref(gpointer p)
{
    VbDnsmasq *dm = p;

    if (!g_atomic_int_dec_and_test(&dm->ref))
        return;
    if (dm->pidfd >= 0)
        close(dm->pidfd);
    vb_dnsmasq_config_free(dm->cfg);
    g_main_context_unref(dm->context);
    g_free(dm->state_dir);
    g_free(dm->conf_path);
    g_free(dm->pid_path);
    g_free(dm->log_path);
    g_free(dm->hosts_path);
    g_free(dm->addn_path);
    g_free(dm->leases_path);
    g_free(dm->binary);
    g_mutex_clear(&dm->lock);
    g_free(dm);
}

/**
 * vb_dnsmasq_new:
 * @cfg: the network's configuration (copied)
 * @state_dir: the directory for the network's dnsmasq files (made at start)
 * @context: (nullable): the main context that watches the process (the
 *   global default context when %NULL); it must be running for restarts
 *
 * Makes the handle of a network's dnsmasq; nothing runs yet. Call
 * vb_dnsmasq_start().
 *
 * Returns: (transfer full): the handle; vb_dnsmasq_free() leaves a running
 * dnsmasq running (for the next service), vb_dnsmasq_stop() ends it.
 */
VbDnsmasq *
vb_dnsmasq_new(const VbDnsmasqConfig *cfg, const char *state_dir, GMainContext *context)
{
    VbDnsmasq *dm = g_new0(VbDnsmasq, 1);

    dm->ref = 1;
    g_mutex_init(&dm->lock);
    dm->context = g_main_context_ref(context ? context : g_main_context_default());
    dm->cfg = vb_dnsmasq_config_copy(cfg);
    dm->state_dir = g_strdup(state_dir);
    dm->conf_path = vb_dnsmasq_path(state_dir, cfg->network, "conf");
    dm->pid_path = vb_dnsmasq_path(state_dir, cfg->network, "pid");
    dm->log_path = vb_dnsmasq_path(state_dir, cfg->network, "log");
    dm->hosts_path = vb_dnsmasq_path(state_dir, cfg->network, "hostsfile");
    dm->addn_path = vb_dnsmasq_path(state_dir, cfg->network, "addnhosts");
    dm->leases_path = vb_dnsmasq_path(state_dir, cfg->network, "leases");
    dm->binary = g_strdup(DNSMASQ_BINARY);
    dm->pidfd = -1;
    return dm;
}

/**
 * vb_dnsmasq_set_binary:
 * @dm: a dnsmasq handle
 * @path: the dnsmasq program to run (default /usr/sbin/dnsmasq)
 *
 * For tests and odd installations.
 */
void
vb_dnsmasq_set_binary(VbDnsmasq *dm, const char *path)
{
    g_mutex_lock(&dm->lock);
    g_free(dm->binary);
    dm->binary = g_strdup(path);
    g_mutex_unlock(&dm->lock);
}

/* under lock: forget the watched process (it is gone or being stopped) */
static void
forget_locked(VbDnsmasq *dm)
{
    if (dm->watch) {
        g_source_destroy(dm->watch);
        g_source_unref(dm->watch);
        dm->watch = NULL;
    }
    if (dm->pidfd >= 0)
        close(dm->pidfd);
    dm->pidfd = -1;
    dm->pid = 0;
    dm->child = FALSE;
    dm->adopted = FALSE;
}

static void
cancel_restart_locked(VbDnsmasq *dm)
{
    if (dm->restart) {
        g_source_destroy(dm->restart);
        g_source_unref(dm->restart);
        dm->restart = NULL;
    }
}

/**
 * vb_dnsmasq_free:
 * @dm: (nullable): a dnsmasq handle
 *
 * Drops the handle: stops watching and restarting, but leaves a running
 * dnsmasq running, so that the next service adopts it. Use vb_dnsmasq_stop()
 * first to end it.
 */
void
vb_dnsmasq_free(VbDnsmasq *dm)
{
    if (!dm)
        return;
    g_mutex_lock(&dm->lock);
    dm->wanted = FALSE;
    cancel_restart_locked(dm);
    if (dm->watch) {
        g_source_destroy(dm->watch);
        g_source_unref(dm->watch);
        dm->watch = NULL;
    }
    g_mutex_unlock(&dm->lock);
    dm_unref(dm);
}

/* ------------------------------------------------------------ files */

static gboolean
write_file(const char *path, const char *text, int mode, GError **error)
{
    g_autofree char *old = NULL;

    if (g_file_get_contents(path, &old, NULL, NULL) && g_strcmp0(old, text) == 0)
        return TRUE;
    if (!g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, mode, error)) {
        g_prefix_error(error, "cannot write dnsmasq file: ");
        return FALSE;
    }
    return TRUE;
}

/* writes the hosts files, then the conf file; *out_conf_changed and
 * *out_hosts_changed say what differs from the files that were there */
static gboolean
write_files(VbDnsmasq *dm, const VbDnsmasqFiles *files, gboolean *out_conf_changed,
            gboolean *out_hosts_changed, GError **error)
{
    g_autofree char *old_conf = NULL;
    g_autofree char *old_hosts = NULL;
    g_autofree char *old_addn = NULL;

    if (g_mkdir_with_parents(dm->state_dir, 0755) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot create %s: %s", dm->state_dir,
                    g_strerror(errno));
        return FALSE;
    }
    g_file_get_contents(dm->conf_path, &old_conf, NULL, NULL);
    g_file_get_contents(dm->hosts_path, &old_hosts, NULL, NULL);
    g_file_get_contents(dm->addn_path, &old_addn, NULL, NULL);
    if (!write_file(dm->hosts_path, files->hostsfile, 0644, error) ||
        !write_file(dm->addn_path, files->addnhosts, 0644, error) ||
        !write_file(dm->conf_path, files->conf, 0600, error))
        return FALSE;
    if (out_conf_changed)
        *out_conf_changed = g_strcmp0(old_conf, files->conf) != 0;
    if (out_hosts_changed)
        *out_hosts_changed = g_strcmp0(old_hosts, files->hostsfile) != 0 ||
                             g_strcmp0(old_addn, files->addnhosts) != 0;
    return TRUE;
}

static GPid
read_pid_file(const char *path)
{
    g_autofree char *text = NULL;
    gint64 pid;
    char *end = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    pid = g_ascii_strtoll(g_strstrip(text), &end, 10);
    if (!end || *end || pid <= 1 || pid > G_MAXINT)
        return 0;
    return (GPid)pid;
}

/* /proc/PID/cmdline has "--conf-file=CONF" */
static gboolean
cmdline_names_conf(GPid pid, const char *conf)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", pid);
    g_autofree char *text = NULL;
    g_autofree char *want = g_strdup_printf("--conf-file=%s", conf);
    gsize len = 0;

    if (!g_file_get_contents(path, &text, &len, NULL))
        return FALSE;
    for (gsize off = 0; off < len; off += strlen(text + off) + 1) {
        if (strcmp(text + off, want) == 0)
            return TRUE;
    }
    return FALSE;
}

/* the end of the log from @offset, for an error message */
static char *
log_tail(const char *path, goffset offset)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    const char *t;

    if (!g_file_get_contents(path, &text, &len, NULL) || (gsize)offset >= len)
        return g_strdup("(no output)");
    t = text + offset;
    if (strlen(t) > 1000)
        t += strlen(t) - 1000;
    return g_strstrip(g_strdup(t));
}

/* ------------------------------------------------------------ the process */

static void schedule_restart_locked(VbDnsmasq *dm);

static char *
describe_status(int status)
{
    if (WIFEXITED(status))
        return g_strdup_printf("exited with status %d", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return g_strdup_printf("was killed by signal %d (%s)", WTERMSIG(status),
                               g_strsignal(WTERMSIG(status)));
    return g_strdup_printf("ended (wait status 0x%x)", status);
}

/* reaps @pid (a child of this process: ours, or adopted from an earlier
 * handle in this process) and says how it ended; an adopted process of a
 * previous service is not our child and leaves no status */
static char *
reap(GPid pid)
{
    int status = 0;

    if (waitpid(pid, &status, WNOHANG) == pid)
        return describe_status(status);
    return g_strdup("exited (not our child: no exit status)");
}

static gboolean
on_exit_cb(gint fd, GIOCondition cond, gpointer user_data)
{
    VbDnsmasq *dm = user_data;
    g_autofree char *why = NULL;
    gboolean quick;

    (void)cond;
    g_mutex_lock(&dm->lock);
    if (dm->pidfd != fd || g_source_is_destroyed(g_main_current_source())) {
        g_mutex_unlock(&dm->lock);
        return G_SOURCE_REMOVE;
    }
    why = reap(dm->pid);
    quick = g_get_monotonic_time() - dm->started_at < STABLE_US;
    if (dm->wanted)
        g_warning("dnsmasq (pid %d) of network '%s' %s; restarting it", dm->pid, dm->cfg->network,
                  why);
    else /* starting: vb_dnsmasq_start() reports it */
        g_debug("dnsmasq (pid %d) of network '%s' %s", dm->pid, dm->cfg->network, why);
    forget_locked(dm);
    if (dm->wanted) {
        dm->quick_deaths = quick ? dm->quick_deaths + 1 : 1;
        schedule_restart_locked(dm);
    }
    g_mutex_unlock(&dm->lock);
    return G_SOURCE_REMOVE;
}

static void
watch_locked(VbDnsmasq *dm)
{
    dm->watch = g_unix_fd_source_new(dm->pidfd, G_IO_IN);
    g_source_set_callback(dm->watch, G_SOURCE_FUNC(on_exit_cb), dm_ref(dm), dm_unref);
    g_source_set_static_name(dm->watch, "vb-dnsmasq-exit");
    g_source_attach(dm->watch, dm->context);
}

static void
child_setup(gpointer user_data)
{
    sigset_t set;
    struct sigaction sa = {.sa_handler = SIG_DFL};

    (void)user_data;
    /* a worker thread's blocked signals and the service's ignored SIGPIPE
     * must not reach dnsmasq; its own session keeps it out of the
     * service's process group */
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &sa, NULL);
    sigemptyset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
    setsid();
}

/* under lock: spawn dnsmasq and watch it; does not wait for it */
static gboolean
spawn_locked(VbDnsmasq *dm, goffset *out_log_offset, GError **error)
{
    g_autofree char *conf_arg = g_strdup_printf("--conf-file=%s", dm->conf_path);
    const char *argv[] = {dm->binary,
                          conf_arg,
                          "--keep-in-foreground",
                          "--log-facility=-",
                          geteuid() == 0 ? "--user=root" : NULL,
                          NULL};
    struct stat st;
    int logfd;
    GPid pid = 0;
    gboolean ok;

    logfd = open(dm->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (logfd < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot open %s: %s", dm->log_path,
                    g_strerror(errno));
        return FALSE;
    }
    if (out_log_offset)
        *out_log_offset = fstat(logfd, &st) == 0 ? st.st_size : 0;
    g_unlink(dm->pid_path);
    ok = g_spawn_async_with_pipes_and_fds(
        NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, child_setup,
        NULL, -1, logfd, logfd, NULL, NULL, 0, &pid, NULL, NULL, NULL, error);
    close(logfd);
    if (!ok) {
        g_prefix_error(error, "cannot run %s: ", dm->binary);
        return FALSE;
    }
    dm->pid = pid;
    dm->child = TRUE;
    dm->adopted = FALSE;
    dm->started_at = g_get_monotonic_time();
    dm->pidfd = pidfd_open_(pid);
    if (dm->pidfd < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "pidfd_open of dnsmasq %d: %s", pid,
                    g_strerror(errno));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        forget_locked(dm);
        return FALSE;
    }
    watch_locked(dm);
    g_info("dnsmasq of network '%s' started, pid %d", dm->cfg->network, pid);
    return TRUE;
}

static gboolean
on_restart_cb(gpointer user_data)
{
    VbDnsmasq *dm = user_data;
    g_autoptr(GError) error = NULL;

    g_mutex_lock(&dm->lock);
    if (g_source_is_destroyed(g_main_current_source())) {
        g_mutex_unlock(&dm->lock);
        return G_SOURCE_REMOVE;
    }
    g_source_unref(dm->restart);
    dm->restart = NULL;
    if (dm->wanted && dm->pid == 0) {
        dm->restarts++;
        if (!spawn_locked(dm, NULL, &error)) {
            g_warning("network '%s': %s; trying again", dm->cfg->network, error->message);
            dm->quick_deaths++;
            schedule_restart_locked(dm);
        }
    }
    g_mutex_unlock(&dm->lock);
    return G_SOURCE_REMOVE;
}

static void
schedule_restart_locked(VbDnsmasq *dm)
{
    guint delay = RESTART_DELAY_MIN_MS;

    for (guint i = 1; i < dm->quick_deaths && delay < RESTART_DELAY_MAX_MS; i++)
        delay *= 2;
    delay = MIN(delay, RESTART_DELAY_MAX_MS);
    cancel_restart_locked(dm);
    g_message("dnsmasq of network '%s' restarts in %u ms (%u quick exits in a row)",
              dm->cfg->network, delay, dm->quick_deaths);
    dm->restart = g_timeout_source_new(delay);
    g_source_set_callback(dm->restart, on_restart_cb, dm_ref(dm), dm_unref);
    g_source_set_static_name(dm->restart, "vb-dnsmasq-restart");
    g_source_attach(dm->restart, dm->context);
}

static gboolean
pidfd_wait(int pidfd, int timeout_ms)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        int r = poll(&p, 1, (int)MAX(left, 0));
        if (r > 0)
            return TRUE;
        if (r == 0 || (r < 0 && errno != EINTR))
            return FALSE;
    }
}

/* ends the process behind @pidfd: SIGTERM, then SIGKILL; reaps it */
static void
terminate(GPid pid, int pidfd, gboolean child)
{
    if (pidfd_signal(pidfd, SIGTERM) < 0 && errno != ESRCH)
        g_warning("cannot signal dnsmasq %d: %s", pid, g_strerror(errno));
    if (!pidfd_wait(pidfd, STOP_TERM_TIMEOUT_MS)) {
        g_warning("dnsmasq %d did not end %d s after SIGTERM: SIGKILL", pid,
                  STOP_TERM_TIMEOUT_MS / 1000);
        pidfd_signal(pidfd, SIGKILL);
        pidfd_wait(pidfd, 5000);
    }
    if (child)
        waitpid(pid, NULL, 0);
    else
        waitpid(pid, NULL, WNOHANG); /* adopted from a service of this same process */
}

/* waits (unlocked) until dnsmasq @pid wrote its pid file, or exited */
static gboolean
wait_started(VbDnsmasq *dm, GPid pid, int pidfd, goffset log_offset, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)START_TIMEOUT_MS * 1000;

    while (g_get_monotonic_time() < deadline) {
        if (read_pid_file(dm->pid_path) == pid)
            return TRUE;
        if (pidfd_wait(pidfd, 10)) {
            g_autofree char *tail = log_tail(dm->log_path, log_offset);
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                        "dnsmasq of network '%s' exited at start: %s", dm->cfg->network, tail);
            return FALSE;
        }
    }
    g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                "dnsmasq of network '%s' did not start within %d s (no pid file %s)",
                dm->cfg->network, START_TIMEOUT_MS / 1000, dm->pid_path);
    return FALSE;
}

/* spawns dnsmasq and waits until it runs; on failure nothing is left */
static gboolean
start_fresh(VbDnsmasq *dm, GError **error)
{
    goffset log_offset = 0;
    GPid pid;
    int pidfd;
    gboolean child;

    g_mutex_lock(&dm->lock);
    /* an exit while starting is this function's error, not a restart */
    dm->wanted = FALSE;
    cancel_restart_locked(dm);
    if (!spawn_locked(dm, &log_offset, error)) {
        g_mutex_unlock(&dm->lock);
        return FALSE;
    }
    pid = dm->pid;
    pidfd = dup(dm->pidfd);
    child = dm->child;
    g_mutex_unlock(&dm->lock);

    if (wait_started(dm, pid, pidfd, log_offset, error)) {
        close(pidfd);
        g_mutex_lock(&dm->lock);
        dm->wanted = TRUE;
        if (dm->pid == 0) { /* it ran, and died in the moment since */
            dm->quick_deaths++;
            schedule_restart_locked(dm);
        }
        g_mutex_unlock(&dm->lock);
        return TRUE;
    }
    g_mutex_lock(&dm->lock);
    if (dm->pid == pid)
        forget_locked(dm);
    g_mutex_unlock(&dm->lock);
    terminate(pid, pidfd, child);
    close(pidfd);
    g_unlink(dm->pid_path);
    return FALSE;
}

/* takes over the dnsmasq of the pid file if it is ours and runs @conf;
 * ends it if it is ours but runs another configuration */
static gboolean
try_adopt(VbDnsmasq *dm, gboolean conf_changed, gboolean hosts_changed)
{
    GPid pid = read_pid_file(dm->pid_path);
    int pidfd;

    if (pid <= 0)
        return FALSE;
    pidfd = pidfd_open_(pid); /* before the check: a reused pid cannot slip in after it */
    if (pidfd < 0)
        return FALSE;
    if (!cmdline_names_conf(pid, dm->conf_path)) {
        g_info("pid file %s names pid %d, which is not our dnsmasq; starting a new one",
               dm->pid_path, pid);
        close(pidfd);
        return FALSE;
    }
    if (conf_changed) {
        g_message("dnsmasq %d of network '%s' runs an older configuration: restarting it", pid,
                  dm->cfg->network);
        terminate(pid, pidfd, FALSE);
        close(pidfd);
        return FALSE;
    }
    if (hosts_changed)
        pidfd_signal(pidfd, SIGHUP);
    g_mutex_lock(&dm->lock);
    dm->pid = pid;
    dm->pidfd = pidfd;
    dm->child = FALSE;
    dm->adopted = TRUE;
    dm->wanted = TRUE;
    dm->started_at = g_get_monotonic_time();
    watch_locked(dm);
    g_mutex_unlock(&dm->lock);
    g_message("adopted the running dnsmasq %d of network '%s'", pid, dm->cfg->network);
    return TRUE;
}

/**
 * vb_dnsmasq_start:
 * @dm: a dnsmasq handle
 * @error: return location for an error
 *
 * Writes the network's dnsmasq files under the state directory and runs
 * dnsmasq, or adopts the one a previous service left running (see the top
 * of this file). Waits up to 10 s until dnsmasq has written its pid file,
 * that is until it has read its configuration and opened its sockets.
 * From then on an unexpected exit restarts it. Blocks: call it from a
 * worker thread, not from @dm's main context.
 *
 * Returns: %TRUE when dnsmasq runs; on failure no dnsmasq is left running.
 */
gboolean
vb_dnsmasq_start(VbDnsmasq *dm, GError **error)
{
    g_autoptr(VbDnsmasqFiles) files = NULL;
    gboolean conf_changed = FALSE, hosts_changed = FALSE;

    g_mutex_lock(&dm->lock);
    if (dm->pid) {
        g_mutex_unlock(&dm->lock);
        return TRUE;
    }
    files = vb_dnsmasq_config_generate(dm->cfg, dm->state_dir, error);
    g_mutex_unlock(&dm->lock);
    if (!files || !write_files(dm, files, &conf_changed, &hosts_changed, error))
        return FALSE;
    if (try_adopt(dm, conf_changed, hosts_changed))
        return TRUE;
    g_mutex_lock(&dm->lock);
    dm->quick_deaths = 0;
    g_mutex_unlock(&dm->lock);
    return start_fresh(dm, error);
}

/**
 * vb_dnsmasq_stop:
 * @dm: a dnsmasq handle
 * @error: return location for an error
 *
 * Ends dnsmasq (SIGTERM, after 5 s SIGKILL), reaps it, cancels a pending
 * restart and removes the pid file. The configuration and lease files stay.
 * Blocks: call it from a worker thread.
 *
 * Returns: %TRUE (also when nothing ran).
 */
gboolean
vb_dnsmasq_stop(VbDnsmasq *dm, GError **error)
{
    GPid pid;
    int pidfd;
    gboolean child;

    (void)error;
    g_mutex_lock(&dm->lock);
    dm->wanted = FALSE;
    cancel_restart_locked(dm);
    pid = dm->pid;
    pidfd = dm->pidfd >= 0 ? dup(dm->pidfd) : -1;
    child = dm->child;
    forget_locked(dm);
    g_mutex_unlock(&dm->lock);
    if (pid && pidfd >= 0) {
        terminate(pid, pidfd, child);
        close(pidfd);
        g_info("dnsmasq %d of network '%s' stopped", pid, dm->cfg->network);
    }
    g_unlink(dm->pid_path);
    return TRUE;
}

/**
 * vb_dnsmasq_update:
 * @dm: a dnsmasq handle
 * @cfg: the network's new configuration (copied)
 * @error: return location for an error
 *
 * Takes a changed configuration (e.g. after a DHCP host or DNS entry was
 * added or removed). When only the hosts files change, they are rewritten
 * and a running dnsmasq re-reads them on SIGHUP; when the conf file changes,
 * a running dnsmasq is restarted. Blocks: call it from a worker thread.
 *
 * Returns: %TRUE on success; on a validation error nothing changed.
 */
gboolean
vb_dnsmasq_update(VbDnsmasq *dm, const VbDnsmasqConfig *cfg, GError **error)
{
    g_autoptr(VbDnsmasqFiles) files = vb_dnsmasq_config_generate(cfg, dm->state_dir, error);
    gboolean conf_changed = FALSE, hosts_changed = FALSE;
    gboolean running;

    if (!files)
        return FALSE;
    if (g_strcmp0(cfg->network, dm->cfg->network) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "dnsmasq of network '%s' cannot take the configuration of network '%s'",
                    dm->cfg->network, cfg->network);
        return FALSE;
    }
    g_mutex_lock(&dm->lock);
    vb_dnsmasq_config_free(dm->cfg);
    dm->cfg = vb_dnsmasq_config_copy(cfg);
    running = dm->wanted;
    g_mutex_unlock(&dm->lock);
    if (!write_files(dm, files, &conf_changed, &hosts_changed, error))
        return FALSE;
    if (!running)
        return TRUE;
    if (conf_changed) {
        vb_dnsmasq_stop(dm, NULL);
        return vb_dnsmasq_start(dm, error);
    }
    if (hosts_changed) {
        g_mutex_lock(&dm->lock);
        if (dm->pidfd >= 0 && pidfd_signal(dm->pidfd, SIGHUP) == 0)
            g_info("dnsmasq %d of network '%s' reloads its hosts", dm->pid, dm->cfg->network);
        g_mutex_unlock(&dm->lock);
    }
    return TRUE;
}

/**
 * vb_dnsmasq_get_pid:
 * @dm: a dnsmasq handle
 *
 * Returns: the pid of the running dnsmasq, 0 when none runs (stopped, or
 * between an exit and its restart).
 */
GPid
vb_dnsmasq_get_pid(VbDnsmasq *dm)
{
    GPid pid;

    g_mutex_lock(&dm->lock);
    pid = dm->pid;
    g_mutex_unlock(&dm->lock);
    return pid;
}

/**
 * vb_dnsmasq_get_restarts:
 * @dm: a dnsmasq handle
 *
 * Returns: how often dnsmasq was started again after an unexpected exit.
 */
guint
vb_dnsmasq_get_restarts(VbDnsmasq *dm)
{
    guint n;

    g_mutex_lock(&dm->lock);
    n = dm->restarts;
    g_mutex_unlock(&dm->lock);
    return n;
}

/**
 * vb_dnsmasq_get_adopted:
 * @dm: a dnsmasq handle
 *
 * Returns: %TRUE if the running dnsmasq was adopted by vb_dnsmasq_start().
 */
gboolean
vb_dnsmasq_get_adopted(VbDnsmasq *dm)
{
    gboolean a;

    g_mutex_lock(&dm->lock);
    a = dm->adopted;
    g_mutex_unlock(&dm->lock);
    return a;
}

/**
 * vb_dnsmasq_get_leases:
 * @dm: a dnsmasq handle
 * @mac: (nullable): only the leases of this MAC
 * @error: return location for an error
 *
 * Reads dnsmasq's lease file (no file yet: no leases) and leaves out
 * expired leases. Reads a file: call it from a worker thread.
 *
 * Returns: (transfer full) (element-type VbDnsmasqLease): the leases, or
 * %NULL on a read error.
 */
GPtrArray *
vb_dnsmasq_get_leases(VbDnsmasq *dm, const char *mac, GError **error)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(VbDnsmasqConfig) cfg = NULL;

    if (!g_file_get_contents(dm->leases_path, &text, NULL, &local)) {
        if (!g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            g_set_error(error, VB_ERROR, VB_ERROR_IO, "%s", local->message);
            return NULL;
        }
    }
    g_mutex_lock(&dm->lock);
    cfg = vb_dnsmasq_config_copy(dm->cfg);
    g_mutex_unlock(&dm->lock);
    return vb_dnsmasq_leases_parse(cfg, text, mac, g_get_real_time() / G_USEC_PER_SEC);
}
