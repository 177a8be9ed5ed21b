/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib-unix.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu-launch.h"
#include "qemu-launch-proto.h"
#include "vb-error.h"

#define LAUNCH_TIMEOUT_MS 30000
/* How long the zygote may take to clone before it is taken for stuck (it answers in well
 * under a millisecond when it runs at all). */
#define ZYGOTE_TIMEOUT_MS 5000
/* The most fds a zygote request carries (the kernel's SCM_MAX_FD); more: a launcher of its
 * own. */
#define ZYGOTE_MAX_FDS 253

static char *launch_helper;

/* The kept launcher (zygote): spawned at the first start, kept, replaced when it is gone. */
static GMutex zygote_lock;
static gint zygote_enabled;     /* atomic; changed under zygote_lock */
static int zygote_fd = -1;      /* under zygote_lock: the service's end of its socket */
static pid_t zygote_pid = -1;   /* under zygote_lock */
static guint zygote_generation; /* under zygote_lock: bumped by each new zygote */
/* atomic: a launch holds the zygote, from its request until its clone has exec'd; the
 * zygote waits for its clone meanwhile (CLONE_VFORK), so another launch (a concurrent start,
 * or a helper started by this launch's own hook) spawns a launcher of its own instead of
 * waiting behind it */
static gint zygote_busy;

void
vb_qemu_launch_set_helper(const char *path)
{
    g_free(launch_helper);
    launch_helper = g_strdup(path);
}

static gboolean
is_program(const char *path)
{
    return g_file_test(path, G_FILE_TEST_IS_REGULAR) &&
           g_file_test(path, G_FILE_TEST_IS_EXECUTABLE);
}

/**
 * vb_qemu_launch_find_helper:
 * @libexecdir: where an installed service keeps its helper programs
 *
 * Picks the launcher the service runs before each QEMU (issue 16): the small program
 * `virtbus-launch` next to the running binary (a build tree) or in @libexecdir (an
 * installation). Its exec costs a fraction of the service's own (GLib only, no D-Bus,
 * polkit, libxml2, json-glib, systemd or ICU to load and relocate). Without it the service
 * runs itself (/proc/self/exe), as before. Once, before any start.
 *
 * Returns: (transfer none): the launcher chosen.
 */
const char *
vb_qemu_launch_find_helper(const char *libexecdir)
{
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *dir = self != NULL ? g_path_get_dirname(self) : NULL;
    g_autofree char *sibling = dir != NULL ? g_build_filename(dir, "virtbus-launch", NULL)
                                           : NULL;
    g_autofree char *installed = g_build_filename(libexecdir, "virtbus-launch", NULL);

    if (sibling != NULL && is_program(sibling))
        vb_qemu_launch_set_helper(sibling);
    else if (is_program(installed))
        vb_qemu_launch_set_helper(installed);
    return launch_helper != NULL ? launch_helper : "/proc/self/exe";
}

/* ---- the service side ---- */

/* Waits up to @timeout_ms for one message. Returns: its length, 0 on EOF, -1 (errno). */
static ssize_t
recv_timeout(int fd, char *buf, size_t len, int timeout_ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int r;

    do
        r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    if (r < 0)
        return -1;
    return recv(fd, buf, len, 0);
}

/* As recv_timeout(), but takes the "P<pid>" messages of a zygote launch on the way: the
 * first one sets *@pid (if still -1). While the pid is unknown, waits @pid_timeout_ms. */
static ssize_t
recv_reply(int fd, char *buf, size_t len, pid_t *pid, int pid_timeout_ms)
{
    for (;;) {
        ssize_t n = recv_timeout(fd, buf, len - 1,
                                 *pid < 0 ? pid_timeout_ms : LAUNCH_TIMEOUT_MS);

        if (n <= 1 || buf[0] != 'P')
            return n;
        buf[n] = '\0';
        if (*pid < 0) {
            gint64 p = g_ascii_strtoll(buf + 1, NULL, 10);

            *pid = p > 0 && p <= G_MAXINT32 ? (pid_t)p : -1;
        }
    }
}

static void
kill_launcher(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* The launcher's answer @buf (@n bytes): sets @error unless it is @expect. */
static gboolean
check_reply(const char *program, pid_t pid, const char *buf, ssize_t n, char expect,
            GError **error)
{
    if (n > 0 && buf[0] == expect)
        return TRUE;
    if (n > 1 && (buf[0] == 'E' || buf[0] == 'X')) {
        g_autofree char *text = g_strndup(buf + 1, (gsize)n - 1);
        char *what = NULL;
        int err = (int)g_ascii_strtoll(text, &what, 10);

        if (buf[0] == 'X')
            g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "cannot run %s: %s", program,
                        g_strerror(err));
        else
            g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "cannot start %s: %s: %s",
                        program, what != NULL && *what == ' ' ? what + 1 : "launcher",
                        g_strerror(err));
        return FALSE;
    }
    if (n < 0)
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                    "cannot start %s: no answer from the launcher (pid %d): %s", program,
                    (int)pid, g_strerror(errno));
    else
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                    "cannot start %s: the launcher (pid %d) ended early (see the log)",
                    program, (int)pid);
    return FALSE;
}

static void
add_device(GPtrArray *list, const char *path)
{
    g_autofree char *canon = NULL;

    if (!g_str_has_prefix(path, "/dev/") || path[5] == '\0' ||
        g_str_has_prefix(path, "/dev/fdset/") || strstr(path, "/..") != NULL)
        return;
    canon = g_canonicalize_filename(path, "/");
    if (!g_str_has_prefix(canon, "/dev/") ||
        g_ptr_array_find_with_equal_func(list, canon + 5, g_str_equal, NULL))
        return;
    g_ptr_array_add(list, g_strdup(canon + 5));
}

/**
 * vb_qemu_launch_devices:
 * @argv: QEMU's command line
 *
 * What a private /dev must hold for this QEMU: the basic nodes (null, zero, full, random,
 * urandom, tty, ptmx and the host's pts for pty chardevs, shm), /dev/kvm for KVM,
 * /dev/net/tun and /dev/vhost-net for interfaces, /dev/vhost-vsock, and every /dev path the
 * command line names (disk sources, serial devices, hostdevs), with the targets of symlinks
 * among them (/dev/disk/by-id/...).
 *
 * Returns: (transfer full): names relative to /dev.
 */
GStrv
vb_qemu_launch_devices(const char *const *argv)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(g_free);
    static const char *const basic[] = { "null", "zero", "full", "random", "urandom", "tty",
                                         "ptmx", "pts", "shm", NULL };

    for (guint i = 0; basic[i] != NULL; i++)
        g_ptr_array_add(list, g_strdup(basic[i]));
    for (guint i = 0; argv[i] != NULL; i++) {
        const char *a = argv[i], *p = a;

        if (strstr(a, "kvm") != NULL && (strstr(a, "accel=kvm") != NULL ||
                                         (i > 0 && strcmp(argv[i - 1], "-accel") == 0)))
            add_device(list, "/dev/kvm");
        if (g_str_has_prefix(a, "tap,") || strstr(a, "\"type\":\"tap\"") != NULL ||
            strstr(a, "vhost=on") != NULL || strstr(a, "\"vhost\":true") != NULL) {
            add_device(list, "/dev/net/tun");
            add_device(list, "/dev/vhost-net");
        }
        if (strstr(a, "vhost-vsock") != NULL)
            add_device(list, "/dev/vhost-vsock");
        while ((p = strstr(p, "/dev/")) != NULL) {
            gsize len = strcspn(p, ",\"' ");
            g_autofree char *path = g_strndup(p, len);
            g_autofree char *target = NULL;

            if (p == a || p[-1] == '=' || p[-1] == ':' || p[-1] == '"') {
                add_device(list, path);
                target = realpath(path, NULL);
                if (target != NULL)
                    add_device(list, target);
            }
            p += len;
        }
    }
    g_ptr_array_add(list, NULL);
    return (GStrv)g_ptr_array_free(g_steal_pointer(&list), FALSE);
}

static GVariant *
build_spec(const VbQemuLaunchSpec *spec)
{
    GVariantBuilder targets, groups;
    const char *const none[] = { NULL };

    g_variant_builder_init(&targets, G_VARIANT_TYPE("ai"));
    for (gsize i = 0; i < spec->n_fds; i++)
        g_variant_builder_add(&targets, "i", (gint32)spec->target_fds[i]);
    g_variant_builder_init(&groups, G_VARIANT_TYPE("au"));
    for (gsize i = 0; i < spec->n_groups; i++)
        g_variant_builder_add(&groups, "u", (guint32)spec->groups[i]);
    return g_variant_ref_sink(g_variant_new(
        "(@aay@aayaibuuaub@aay)", g_variant_new_bytestring_array(spec->argv, -1),
        g_variant_new_bytestring_array(spec->envp, -1), &targets, spec->set_ids,
        (guint32)spec->uid, (guint32)spec->gid, &groups, spec->private_dev,
        g_variant_new_bytestring_array(spec->devices != NULL ? spec->devices : none, -1)));
}

/* ---- the kept launcher (zygote) ---- */

/* Ends the zygote and reaps it. Under zygote_lock. */
static void
zygote_stop_locked(void)
{
    if (zygote_fd >= 0)
        close(zygote_fd);
    zygote_fd = -1;
    if (zygote_pid > 0)
        kill_launcher(zygote_pid);
    zygote_pid = -1;
}

/* Spawns the zygote: the launcher program in its kept mode (`--qemu-launch zFD`), once,
 * as a launcher of one start was spawned (posix_spawn, the service's fds left open: it
 * closes every one but its socket first). Under zygote_lock. */
static gboolean
zygote_start_locked(GError **error)
{
    const char *helper = launch_helper != NULL ? launch_helper : "/proc/self/exe";
    const char *argv[] = { helper, "--qemu-launch", "z3", NULL };
    g_autoptr(GStrvBuilder) env = g_strv_builder_new();
    g_auto(GStrv) envp = NULL;
    int sv[2], high, target = 3;
    GPid pid;
    gboolean ok;

    /* its environment: the C locale, and a sanitizer build's options (what it launches
     * gets exactly the spec's environment) */
    g_strv_builder_add(env, "LC_ALL=C");
    for (guint i = 0; i < 2; i++) {
        const char *name = i == 0 ? "ASAN_OPTIONS" : "UBSAN_OPTIONS";

        if (g_getenv(name) != NULL) {
            g_autofree char *var = g_strconcat(name, "=", g_getenv(name), NULL);

            g_strv_builder_add(env, var);
        }
    }
    envp = g_strv_builder_end(env);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "socketpair: %s", g_strerror(errno));
        return FALSE;
    }
    high = fcntl(sv[1], F_DUPFD_CLOEXEC, target + 1); /* no source may be a target */
    ok = high >= 0;
    if (!ok)
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "fcntl: %s", g_strerror(errno));
    ok = ok && g_spawn_async_with_pipes_and_fds(
                   NULL, argv, (const char *const *)envp,
                   G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL |
                       G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_LEAVE_DESCRIPTORS_OPEN,
                   NULL, NULL, -1, -1, -1, &high, &target, 1, &pid, NULL, NULL, NULL, error);
    if (high >= 0)
        close(high);
    close(sv[1]);
    if (!ok) {
        close(sv[0]);
        vb_error_convert(error);
        return FALSE;
    }
    zygote_fd = sv[0];
    zygote_pid = pid;
    zygote_generation++;
    g_debug("the kept launcher %s runs as pid %d", helper, (int)pid);
    return TRUE;
}

/**
 * vb_qemu_launch_set_zygote:
 * @enabled: whether starts go through a kept launcher
 *
 * With @enabled, vb_qemu_launch_spawn() clones each launcher from one kept launcher process
 * (the "zygote", started at the first spawn) instead of spawning and exec'ing a launcher per
 * start: ~0.2 ms instead of an exec's ~7 (issue 16). The clone's parent is the caller's
 * process, so the program runs as its child exactly as before. Disabling ends the zygote.
 * Any thread.
 */
void
vb_qemu_launch_set_zygote(gboolean enabled)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&zygote_lock);

    g_atomic_int_set(&zygote_enabled, enabled);
    if (!enabled)
        zygote_stop_locked();
}

/* The zygote's pid, -1 when none runs (tests). */
pid_t
vb_qemu_launch_zygote_pid(void)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&zygote_lock);

    return zygote_pid;
}

/* Ends the zygote of generation @gen (dead, stuck or broken); a newer one is left alone. */
static void
zygote_forget(guint gen)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&zygote_lock);

    if (gen == zygote_generation) {
        g_warning("the kept QEMU launcher (pid %d) did not answer: it is replaced",
                  (int)zygote_pid);
        zygote_stop_locked();
    }
}

/* Sends one request to the zygote, started first if none runs, restarted once if it is
 * gone. Never blocks for long: a zygote that takes no request within ZYGOTE_TIMEOUT_MS is
 * ended. Returns: whether it was sent; *@gen the zygote's generation. */
static gboolean
zygote_send(struct msghdr *mh, guint *gen)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&zygote_lock);
    g_autoptr(GError) error = NULL;
    gint64 deadline = g_get_monotonic_time() + ZYGOTE_TIMEOUT_MS * 1000;
    guint spawned = 0;

    if (!g_atomic_int_get(&zygote_enabled))
        return FALSE;
    for (;;) {
        struct pollfd p;
        int r;

        if (zygote_fd < 0) {
            if (spawned++ > 0 || !zygote_start_locked(&error)) {
                if (error != NULL)
                    g_warning("cannot run the kept QEMU launcher: %s", error->message);
                return FALSE;
            }
        }
        if (sendmsg(zygote_fd, mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0) {
            *gen = zygote_generation;
            return TRUE;
        }
        if (errno == EINTR)
            continue;
        if (errno == EMSGSIZE || errno == ENOBUFS || errno == ENOMEM)
            return FALSE; /* this request, not the zygote */
        if (errno != EAGAIN) { /* gone: EPIPE, ECONNRESET */
            g_warning("the kept QEMU launcher (pid %d) is gone (%s): a new one is started",
                      (int)zygote_pid, g_strerror(errno));
            zygote_stop_locked();
            continue;
        }
        p.fd = zygote_fd;
        p.events = POLLOUT;
        do
            r = poll(&p, 1, (int)MAX(0, (deadline - g_get_monotonic_time()) / 1000));
        while (r < 0 && errno == EINTR);
        if (r <= 0) {
            g_warning("the kept QEMU launcher (pid %d) takes no request: it is replaced",
                      (int)zygote_pid);
            zygote_stop_locked();
        }
    }
}

/* The end of every launch, the launcher running as @pid, its first answer (@first, @n)
 * read: "R", the hook, "G", the exec's EOF. Closes @sock. */
static pid_t
finish_launch(int sock, pid_t pid, const char *first, ssize_t n, const char *program,
              VbQemuSpawnHook hook, gpointer hook_data, GError **error)
{
    char reply[600];

    if (!check_reply(program, pid, first, n, 'R', error))
        goto fail;
    if (hook != NULL && !hook(pid, hook_data, error))
        goto fail;
    if (send(sock, "G", 1, MSG_NOSIGNAL) != 1) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot start %s: %s", program,
                    g_strerror(errno));
        goto fail;
    }
    n = recv_reply(sock, reply, sizeof(reply), &pid, LAUNCH_TIMEOUT_MS);
    if (n != 0) { /* EOF: the exec closed the socket */
        check_reply(program, pid, reply, n, 0, error);
        goto fail;
    }
    close(sock);
    return pid;

fail:
    close(sock);
    kill_launcher(pid);
    return -1;
}

/* A launch through the zygote. *@fallback: the zygote failed before any process of ours
 * existed (not running, gone, stuck, or its clone failed): the caller spawns a launcher of
 * its own instead. */
static pid_t
launch_by_zygote(const VbQemuLaunchSpec *spec, GVariant *msg, VbQemuSpawnHook hook,
                 gpointer hook_data, gboolean *fallback, GError **error)
{
    gsize n_fds = 0;
    g_autofree int *fds = g_new(int, spec->n_fds + 2);
    g_autofree char *control = NULL;
    struct iovec iov = { .iov_base = (void *)g_variant_get_data(msg),
                         .iov_len = g_variant_get_size(msg) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    struct cmsghdr *c;
    char reply[600];
    pid_t pid = -1;
    guint gen = 0;
    ssize_t n;
    int sv[2];

    *fallback = TRUE;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    fds[n_fds++] = sv[1];
    if (spec->log_fd >= 0)
        fds[n_fds++] = spec->log_fd;
    for (gsize i = 0; i < spec->n_fds; i++)
        fds[n_fds++] = spec->source_fds[i];
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
    mh.msg_control = control = g_malloc0(mh.msg_controllen);
    c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
    if (!zygote_send(&mh, &gen)) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    close(sv[1]);
    n = recv_reply(sv[0], reply, sizeof(reply), &pid, ZYGOTE_TIMEOUT_MS);
    if (pid < 0 && n > 1 && reply[0] == 'E') { /* its clone failed */
        reply[n] = '\0';
        g_debug("the kept QEMU launcher cannot start %s: %s", spec->argv[0], reply + 1);
        close(sv[0]);
        return -1;
    }
    if (pid < 0) {
        /* no answer: the zygote died or hangs; a clone it made just before it ended says
         * its pid first, then waits for "G": end that one too */
        zygote_forget(gen);
        while ((n = recv_timeout(sv[0], reply, sizeof(reply) - 1, ZYGOTE_TIMEOUT_MS)) > 1) {
            if (reply[0] == 'P') {
                reply[n] = '\0';
                pid = (pid_t)g_ascii_strtoll(reply + 1, NULL, 10);
                if (pid > 0)
                    kill_launcher(pid);
                break;
            }
        }
        close(sv[0]);
        return -1;
    }
    *fallback = FALSE;
    return finish_launch(sv[0], pid, reply, n, spec->argv[0], hook, hook_data, error);
}

/**
 * vb_qemu_launch_spawn:
 * @spec: what to run and how
 * @hook: (nullable): runs once the launcher is confined, before the exec
 *
 * Starts @spec->argv through the launcher. Returns once the program runs
 * (the exec succeeded), or with a named error ("cannot run /x: Permission
 * denied") after the launcher has been reaped. The caller reaps the pid
 * (G_SPAWN_DO_NOT_REAP_CHILD). Any thread.
 *
 * Returns: the pid, or -1.
 */
pid_t
vb_qemu_launch_spawn(const VbQemuLaunchSpec *spec, VbQemuSpawnHook hook, gpointer hook_data,
                     GError **error)
{
    const char *program = spec->argv[0];
    g_autoptr(GVariant) msg = NULL;
    g_autofree int *src = g_new(int, spec->n_fds + 1);
    g_autofree int *dst = g_new(int, spec->n_fds + 1);
    g_autofree char *sock_arg = NULL;
    const char *helper = launch_helper != NULL ? launch_helper : "/proc/self/exe";
    char reply[600];
    int sv[2], sock_target = 3;
    GPid pid;
    ssize_t n;

    if (program == NULL || !g_path_is_absolute(program)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "cannot run '%s': not an absolute path", program != NULL ? program : "");
        return -1;
    }
    msg = build_spec(spec);
    if (g_variant_get_size(msg) > SPEC_MAX) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "cannot run %s: the command line is too long", program);
        return -1;
    }
    for (gsize i = 0; i < spec->n_fds; i++) {
        src[i] = spec->source_fds[i];
        dst[i] = spec->target_fds[i];
        g_return_val_if_fail(dst[i] > 2, -1);
        sock_target = MAX(sock_target, dst[i] + 1);
    }
    if (g_atomic_int_get(&zygote_enabled) && spec->n_fds + 2 <= ZYGOTE_MAX_FDS &&
        g_atomic_int_compare_and_exchange(&zygote_busy, 0, 1)) {
        gboolean fallback = FALSE;

        pid = launch_by_zygote(spec, msg, hook, hook_data, &fallback, error);
        g_atomic_int_set(&zygote_busy, 0);
        if (!fallback)
            return pid;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot run %s: socketpair: %s",
                    program, g_strerror(errno));
        return -1;
    }
    src[spec->n_fds] = sv[1];
    dst[spec->n_fds] = sock_target;
    sock_arg = g_strdup_printf("%d", sock_target);
    {
        const char *largv[] = { helper, "--qemu-launch", sock_arg, NULL };
        g_autofree int *high = g_new(int, spec->n_fds + 2);
        int log_fd = -1;
        gboolean ok = TRUE;

        /* GLib's posix_spawn path applies the fd mapping and then closes the stdout/stderr
         * source fd even when that number is one of the targets (GLib 2.74): every fd given
         * to the spawn is first copied above all targets, so no source is a target */
        for (gsize i = 0; i < spec->n_fds + 1; i++) {
            high[i] = fcntl(src[i], F_DUPFD_CLOEXEC, sock_target + 1);
            ok = ok && high[i] >= 0;
        }
        high[spec->n_fds + 1] = log_fd =
            spec->log_fd >= 0 ? fcntl(spec->log_fd, F_DUPFD_CLOEXEC, sock_target + 1) : -1;
        ok = ok && (spec->log_fd < 0 || log_fd >= 0);
        if (!ok)
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot run %s: fcntl: %s", program,
                        g_strerror(errno));

        /* LEAVE_DESCRIPTORS_OPEN lets GLib use posix_spawn (a vfork, not a fork that copies
         * the service's page tables: issue 16); the launcher closes every fd the spec does
         * not name before QEMU runs (close_others()) */
        ok = ok && g_spawn_async_with_pipes_and_fds(
                       NULL, largv, spec->envp,
                       G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL |
                           G_SPAWN_LEAVE_DESCRIPTORS_OPEN |
                           (log_fd < 0 ? G_SPAWN_STDOUT_TO_DEV_NULL |
                                             G_SPAWN_STDERR_TO_DEV_NULL
                                       : 0),
                       NULL, NULL, -1, log_fd, log_fd, high, dst, spec->n_fds + 1, &pid, NULL,
                       NULL, NULL, error);
        for (gsize i = 0; i < spec->n_fds + 2; i++) {
            if (high[i] >= 0)
                close(high[i]);
        }
        close(sv[1]);
        if (!ok) {
            close(sv[0]);
            vb_error_convert(error);
            g_prefix_error(error, "cannot run the launcher %s for %s: ", helper, program);
            return -1;
        }
    }
    if (send(sv[0], g_variant_get_data(msg), g_variant_get_size(msg), MSG_NOSIGNAL) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot start %s: %s", program,
                    g_strerror(errno));
        close(sv[0]);
        kill_launcher(pid);
        return -1;
    }
    n = recv_reply(sv[0], reply, sizeof(reply), &pid, LAUNCH_TIMEOUT_MS);
    return finish_launch(sv[0], pid, reply, n, program, hook, hook_data, error);
}
