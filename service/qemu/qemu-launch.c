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
#include "vb-error.h"

/*
 * The protocol on the socket (SOCK_SEQPACKET: one message each):
 *   service -> launcher: the spec, a GVariant (SPEC_TYPE) in normal form;
 *   launcher -> service: "R" ready, or "E<errno> <what failed>" and it exits;
 *   service -> launcher: "G" go (anything else, or EOF: the launcher exits);
 *   launcher -> service: nothing (the socket is close-on-exec: EOF means QEMU runs),
 *                        or "X<errno>" when the exec failed.
 * The fds reach the launcher at their final numbers through the spawn itself (GLib's
 * fd mapping, made for multi-threaded parents); the spec names them, the launcher closes
 * every other one.
 */
#define SPEC_TYPE "(aayaayaibuuaubaay)"
#define SPEC_MAX (1024 * 1024)
#define LAUNCH_TIMEOUT_MS 30000

static char *launch_helper;

void
vb_qemu_launch_set_helper(const char *path)
{
    g_free(launch_helper);
    launch_helper = g_strdup(path);
}

gboolean
vb_qemu_launch_is_launcher(int argc, char **argv)
{
    return argc == 3 && strcmp(argv[1], "--qemu-launch") == 0;
}

/* ---- the launcher (a fresh, single-threaded process) ---- */

static int launch_sock = -1;

static void G_GNUC_NORETURN G_GNUC_PRINTF(2, 3)
launch_fail(int err, const char *fmt, ...)
{
    char what[512], msg[600];
    va_list ap;
    int n;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    n = snprintf(msg, sizeof(msg), "E%d %s", err, what);
    if (launch_sock >= 0)
        (void)send(launch_sock, msg, (size_t)MIN(n, (int)sizeof(msg) - 1), MSG_NOSIGNAL);
    fprintf(stderr, "virtbusd launcher: %s: %s\n", what, g_strerror(err));
    _exit(127);
}

/* Carries /dev/REL of the host (through @olddev, the old /dev) into the new /dev. */
static void
carry_device(int olddev, const char *rel)
{
    g_autofree char *src = g_strdup_printf("/proc/self/fd/%d/%s", olddev, rel);
    g_autofree char *dst = g_strconcat("/dev/", rel, NULL);
    g_autofree char *parent = g_path_get_dirname(dst);
    struct stat st;

    if (fstatat(olddev, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return; /* not on this host: QEMU reports it if it needs it */
    if (g_mkdir_with_parents(parent, 0755) < 0)
        launch_fail(errno, "cannot create %s", parent);
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(olddev, rel, target, sizeof(target) - 1);

        if (n < 0)
            launch_fail(errno, "cannot read the link %s", dst);
        target[n] = '\0';
        if (symlink(target, dst) < 0 && errno != EEXIST)
            launch_fail(errno, "cannot create the link %s", dst);
        return;
    }
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        /* a node of our own, not a bind mount: opening /dev/ptmx finds its devpts as the
         * "pts" next to it, which a bind-mounted file has not */
        if (mknod(dst, st.st_mode, st.st_rdev) == 0) {
            if (chown(dst, st.st_uid, st.st_gid) < 0 || chmod(dst, st.st_mode & 07777) < 0)
                launch_fail(errno, "cannot set the owner and mode of %s", dst);
            return;
        }
        if (errno != EPERM)
            launch_fail(errno, "cannot create the device node %s", dst);
        /* no right to make device nodes (a container): bind the host's */
        if (strcmp(rel, "ptmx") == 0) {
            if (symlink("pts/ptmx", dst) < 0)
                launch_fail(errno, "cannot create the link %s", dst);
            return;
        }
    }
    if (S_ISDIR(st.st_mode)) {
        if (g_mkdir_with_parents(dst, 0755) < 0)
            launch_fail(errno, "cannot create %s", dst);
    } else {
        int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

        if (fd < 0 && errno != EEXIST)
            launch_fail(errno, "cannot create %s", dst);
        if (fd >= 0)
            close(fd);
    }
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
        launch_fail(errno, "cannot bind %s", dst);
}

/* A mount namespace of its own with a tmpfs /dev holding only @devices (relative names). */
static void
private_dev(char **devices)
{
    int olddev;

    if (unshare(CLONE_NEWNS) < 0) {
        /* a container without the right: QEMU runs with the host's /dev, and says so */
        fprintf(stderr, "virtbusd launcher: no private /dev (cannot unshare the mount "
                        "namespace: %s)\n", g_strerror(errno));
        return;
    }
    if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        launch_fail(errno, "cannot make / a slave mount");
    olddev = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (olddev < 0)
        launch_fail(errno, "cannot open /dev");
    if (mount("virtbus-dev", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") <
        0)
        launch_fail(errno, "cannot mount a tmpfs on /dev");
    for (guint i = 0; devices[i] != NULL; i++)
        carry_device(olddev, devices[i]);
    if (symlink("/proc/self/fd", "/dev/fd") < 0 || symlink("/proc/self/fd/0", "/dev/stdin") < 0 ||
        symlink("/proc/self/fd/1", "/dev/stdout") < 0 ||
        symlink("/proc/self/fd/2", "/dev/stderr") < 0)
        launch_fail(errno, "cannot create the /dev/fd links");
    close(olddev);
}

static void
set_ids(uid_t uid, gid_t gid, GVariant *groups)
{
    gsize n = 0;
    const guint32 *g = g_variant_get_fixed_array(groups, &n, sizeof(guint32));
    g_autofree gid_t *list = g_new0(gid_t, n + 1);

    for (gsize i = 0; i < n; i++)
        list[i] = g[i];
    if (setgroups(n, list) < 0)
        launch_fail(errno, "cannot set the supplementary groups");
    if (setresgid(gid, gid, gid) < 0)
        launch_fail(errno, "cannot switch to group %u", (unsigned)gid);
    if (setresuid(uid, uid, uid) < 0)
        launch_fail(errno, "cannot switch to user %u", (unsigned)uid);
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        launch_fail(EPERM, "user %u could get root back", (unsigned)uid);
    if (gid != 0 && uid != 0 && setgid(0) == 0)
        launch_fail(EPERM, "group %u could get root back", (unsigned)gid);
}

static int
cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* Closes every fd but 0, 1, 2, @keep and @sock. */
static void
close_others(const gint32 *keep, gsize n_keep, int sock)
{
    g_autofree int *k = g_new(int, n_keep + 4);
    gsize n = 0;
    int lo = 3;

    for (gsize i = 0; i < n_keep; i++)
        k[n++] = keep[i];
    k[n++] = sock;
    qsort(k, n, sizeof(int), cmp_int);
    for (gsize i = 0; i < n; i++) {
        if (k[i] > lo && syscall(SYS_close_range, lo, k[i] - 1, 0) < 0)
            launch_fail(errno, "cannot close the fds %d-%d", lo, k[i] - 1);
        lo = MAX(lo, k[i] + 1);
    }
    if (syscall(SYS_close_range, lo, ~0U, 0) < 0)
        launch_fail(errno, "cannot close the fds from %d", lo);
}

int
vb_qemu_launch_main(int argc, char **argv)
{
    g_autofree char *buf = NULL;
    g_autoptr(GVariant) spec = NULL;
    g_autoptr(GVariant) targets = NULL, groups = NULL;
    g_autofree char **args = NULL, **env = NULL, **devices = NULL;
    gboolean ids, dev;
    guint32 uid, gid;
    const gint32 *t;
    gsize n_t = 0;
    sigset_t all;
    ssize_t n;
    char go = 0;
    int err;

    if (argc != 3)
        return 2;
    launch_sock = atoi(argv[2]);
    /* a clean slate: default dispositions, nothing blocked (QEMU sets its own) */
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    }
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    if (setsid() < 0)
        launch_fail(errno, "cannot start a session");
    if (fcntl(launch_sock, F_SETFD, FD_CLOEXEC) < 0)
        launch_fail(errno, "bad launcher socket %s", argv[2]);

    buf = g_malloc(SPEC_MAX);
    n = recv(launch_sock, buf, SPEC_MAX, MSG_TRUNC);
    if (n <= 0 || n > SPEC_MAX)
        launch_fail(n < 0 ? errno : EPROTO, "no launch spec");
    spec = g_variant_new_from_data(G_VARIANT_TYPE(SPEC_TYPE), buf, (gsize)n, FALSE, NULL,
                                   NULL);
    g_variant_ref_sink(spec);
    if (!g_variant_is_normal_form(spec))
        launch_fail(EPROTO, "malformed launch spec");
    g_variant_get(spec, "(^a&ay^a&ay@aibuu@aub^a&ay)", &args, &env, &targets, &ids, &uid,
                  &gid, &groups, &dev, &devices);
    if (args[0] == NULL || args[0][0] != '/')
        launch_fail(EINVAL, "the program must be an absolute path");
    t = g_variant_get_fixed_array(targets, &n_t, sizeof(gint32));

    if (dev)
        private_dev(devices);
    if (ids)
        set_ids(uid, gid, groups);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        launch_fail(errno, "cannot set no-new-privs");
    close_others(t, n_t, launch_sock);

    if (send(launch_sock, "R", 1, MSG_NOSIGNAL) != 1)
        _exit(127);
    if (recv(launch_sock, &go, 1, 0) != 1 || go != 'G')
        _exit(127); /* the service gave up (its hook failed, or it died) */
    execve(args[0], args, env);
    err = errno;
    {
        char msg[32];
        int len = snprintf(msg, sizeof(msg), "X%d", err);

        (void)send(launch_sock, msg, (size_t)len, MSG_NOSIGNAL);
    }
    fprintf(stderr, "virtbusd launcher: cannot run %s: %s\n", args[0], g_strerror(err));
    _exit(127);
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
        gboolean ok;

        ok = g_spawn_async_with_pipes_and_fds(
            NULL, largv, spec->envp,
            G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL |
                (spec->log_fd < 0 ? G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL
                                  : 0),
            NULL, NULL, -1, spec->log_fd, spec->log_fd, src, dst, spec->n_fds + 1, &pid, NULL,
            NULL, NULL, error);
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
        goto fail;
    }
    n = recv_timeout(sv[0], reply, sizeof(reply), LAUNCH_TIMEOUT_MS);
    if (!check_reply(program, pid, reply, n, 'R', error))
        goto fail;
    if (hook != NULL && !hook(pid, hook_data, error))
        goto fail;
    if (send(sv[0], "G", 1, MSG_NOSIGNAL) != 1) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot start %s: %s", program,
                    g_strerror(errno));
        goto fail;
    }
    n = recv_timeout(sv[0], reply, sizeof(reply), LAUNCH_TIMEOUT_MS);
    if (n != 0) { /* EOF: the exec closed the socket */
        check_reply(program, pid, reply, n, 0, error);
        goto fail;
    }
    close(sv[0]);
    return pid;

fail:
    close(sv[0]);
    kill_launcher(pid);
    return -1;
}
