/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "qemu-launch.h"
#include "qemu-launch-proto.h"

/*
 * The launcher side of qemu-launch.c: a fresh, single-threaded process that confines itself
 * and becomes QEMU. It needs GLib only, so it is built twice: into the service (the
 * fallback, `virtbusd --qemu-launch FD` through /proc/self/exe) and as the small program
 * `virtbus-launch` (launch-main.c), which the service runs when it finds it: its exec loads
 * two libraries instead of the service's ~25 (issue 16: a few milliseconds of every start).
 */

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
    /* first: the service spawns the launcher with its descriptors left open (a vfork) */
    close_others(t, n_t, launch_sock);

    if (dev)
        private_dev(devices);
    if (ids)
        set_ids(uid, gid, groups);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        launch_fail(errno, "cannot set no-new-privs");

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
