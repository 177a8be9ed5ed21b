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
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "qemu-launch.h"
#include "qemu-launch-proto.h"

#if defined(__SANITIZE_ADDRESS__)
#include <pthread.h>
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define VB_ASAN 1
#endif

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

/* A launch spec, parsed: pointers into the message (kept alive by @spec). */
typedef struct {
    GVariant *spec;
    GVariant *targets, *groups;
    char **args, **env, **devices;
    gboolean ids, dev;
    guint32 uid, gid;
    const gint32 *t;
    gsize n_t;
} LaunchSpec;

/* Parses a launch spec. Returns: NULL, or what is wrong with it (*@err: the errno). */
static const char *
parse_spec(LaunchSpec *ls, const char *buf, gsize n, int *err)
{
    memset(ls, 0, sizeof(*ls));
    *err = EPROTO;
    ls->spec = g_variant_new_from_data(G_VARIANT_TYPE(SPEC_TYPE), buf, n, FALSE, NULL, NULL);
    g_variant_ref_sink(ls->spec);
    if (!g_variant_is_normal_form(ls->spec))
        return "malformed launch spec";
    g_variant_get(ls->spec, "(^a&ay^a&ay@aibuu@aub^a&ay)", &ls->args, &ls->env, &ls->targets,
                  &ls->ids, &ls->uid, &ls->gid, &ls->groups, &ls->dev, &ls->devices);
    ls->t = g_variant_get_fixed_array(ls->targets, &ls->n_t, sizeof(gint32));
    for (gsize i = 0; i < ls->n_t; i++) {
        if (ls->t[i] < 3)
            return "malformed launch spec: an fd below 3";
    }
    *err = EINVAL;
    if (ls->args[0] == NULL || ls->args[0][0] != '/')
        return "the program must be an absolute path";
    return NULL;
}

static void
spec_clear(LaunchSpec *ls)
{
    g_free(ls->args);
    g_free(ls->env);
    g_free(ls->devices);
    g_clear_pointer(&ls->targets, g_variant_unref);
    g_clear_pointer(&ls->groups, g_variant_unref);
    g_clear_pointer(&ls->spec, g_variant_unref);
}

/* A clean slate: default dispositions, nothing blocked (QEMU sets its own); a session of
 * its own (a terminal's Ctrl-C never reaches QEMU). */
static void
reset_process(void)
{
    sigset_t all;

    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    }
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    if (setsid() < 0)
        launch_fail(errno, "cannot start a session");
}

/* The rest of every launch, with only the spec's fds (and the socket) open: the private
 * /dev, the ids, no-new-privs, "ready", the service's "go", the exec. */
static void G_GNUC_NORETURN
confine_and_exec(LaunchSpec *ls)
{
    char go = 0;
    int err;

    if (ls->dev)
        private_dev(ls->devices);
    if (ls->ids)
        set_ids(ls->uid, ls->gid, ls->groups);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        launch_fail(errno, "cannot set no-new-privs");

    if (send(launch_sock, "R", 1, MSG_NOSIGNAL) != 1)
        _exit(127);
    if (recv(launch_sock, &go, 1, 0) != 1 || go != 'G')
        _exit(127); /* the service gave up (its hook failed, or it died) */
    execve(ls->args[0], ls->args, ls->env);
    err = errno;
    {
        char msg[32];
        int len = snprintf(msg, sizeof(msg), "X%d", err);

        (void)send(launch_sock, msg, (size_t)len, MSG_NOSIGNAL);
    }
    fprintf(stderr, "virtbusd launcher: cannot run %s: %s\n", ls->args[0], g_strerror(err));
    _exit(127);
}

/* ---- the kept launcher (zygote): one process, a clone per start ---- */

/* The most fds one request carries: the kernel's SCM_MAX_FD. */
#define ZYGOTE_MAX_FDS 253
/* The stack of the clones (they run on it one at a time, the zygote waiting). */
#define ZYGOTE_STACK_SIZE (512 * 1024)

/* What a clone gets from the zygote. It shares the zygote's memory until its exec: it only
 * reads this, and what it allocates it frees before the exec. */
typedef struct {
    int sock;          /* the start's socket */
    const int *fds;    /* QEMU's stdout/stderr when has_log, then one fd per target */
    gsize n_fds;
    gboolean has_log;
    LaunchSpec *ls;
    gboolean on_own_stack; /* the clone told AddressSanitizer (VB_ASAN) */
} ZygoteRequest;

#ifdef VB_ASAN
/* AddressSanitizer keeps the bounds of the running stack in memory the clone shares with
 * the zygote: the clone announces its own stack (a fiber switch), the zygote takes its
 * stack back once the clone has exec'd; without it every noreturn call in the clone warns
 * in QEMU's log. The frames of a clone never return (it execs or exits), so their redzones
 * stay poisoned in the shadow the next clone shares: the stack is cleared before each
 * clone, as a new thread's is. Without that, a clone that exits early (its service gone)
 * had __asan_handle_no_return's own sigaltstack() query land on the last clone's redzones:
 * a false stack-buffer-overflow report, and the clone aborted. */
static void *asan_stack;
static gsize asan_stack_size;

static void
asan_enter_clone_stack(char *stack)
{
    pthread_attr_t attr;

    if (asan_stack == NULL && pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &asan_stack, &asan_stack_size);
        pthread_attr_destroy(&attr);
    }
    __asan_unpoison_memory_region(stack, ZYGOTE_STACK_SIZE);
    __sanitizer_start_switch_fiber(NULL, stack, ZYGOTE_STACK_SIZE);
}

static void
asan_back_on_own_stack(const ZygoteRequest *zr)
{
    if (!zr->on_own_stack) /* no clone, or it died before it said so */
        __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
    __sanitizer_start_switch_fiber(NULL, asan_stack, asan_stack_size);
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
}
#endif

/* Puts the fds of a request where the spec wants them (a copy of their numbers: the
 * request's array is the zygote's). Stdin is /dev/null. */
static void
place_fds(const ZygoteRequest *zr)
{
    int moved[ZYGOTE_MAX_FDS];
    int top = 2, null_fd;

    for (gsize i = 0; i < zr->ls->n_t; i++)
        top = MAX(top, zr->ls->t[i]);
    /* everything above every target first, so that no dup2() below lands on a source */
    launch_sock = fcntl(zr->sock, F_DUPFD_CLOEXEC, top + 1);
    if (launch_sock < 0)
        _exit(127);
    for (gsize i = 0; i < zr->n_fds; i++) {
        moved[i] = fcntl(zr->fds[i], F_DUPFD_CLOEXEC, top + 1);
        if (moved[i] < 0)
            launch_fail(errno, "cannot move the fds");
    }
    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0)
        launch_fail(errno, "cannot open /dev/null");
    if (dup2(null_fd, 0) < 0 || dup2(zr->has_log ? moved[0] : null_fd, 1) < 0 ||
        dup2(zr->has_log ? moved[0] : null_fd, 2) < 0)
        launch_fail(errno, "cannot set stdin, stdout and stderr");
    for (gsize i = 0; i < zr->ls->n_t; i++) {
        if (dup2(moved[i + (zr->has_log ? 1 : 0)], zr->ls->t[i]) < 0)
            launch_fail(errno, "cannot pass fd %d", (int)zr->ls->t[i]);
    }
}

/*
 * One clone of the zygote: the service's child (CLONE_PARENT), on its own stack, sharing the
 * zygote's memory (CLONE_VM | CLONE_VFORK: no page tables copied, no page copied on write;
 * the zygote waits until it execs or exits), not its fd table. Its signal dispositions and
 * mask are the zygote's, already reset.
 */
static int
zygote_child(void *data)
{
    const ZygoteRequest *zr = data;
    char msg[32];
    int len;

#ifdef VB_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
    ((ZygoteRequest *)data)->on_own_stack = TRUE;
#endif
    launch_sock = zr->sock;
    /* the pid, first: the zygote says it too once this one has exec'd, but it may die
     * before it does */
    len = snprintf(msg, sizeof(msg), "P%d", (int)getpid());
    if (send(launch_sock, msg, (size_t)len, MSG_NOSIGNAL) != len)
        _exit(127);
    if (setsid() < 0)
        launch_fail(errno, "cannot start a session");
    place_fds(zr);
    close_others(zr->ls->t, zr->ls->n_t, launch_sock);
    confine_and_exec(zr->ls);
}

static void
close_fds(const int *fds, gsize n)
{
    for (gsize i = 0; i < n; i++)
        close(fds[i]);
}

/* Answers a request on its socket @sock, never blocking. */
static void
zygote_answer(int sock, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
zygote_answer(int sock, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    (void)send(sock, msg, (size_t)MIN(len, (int)sizeof(msg) - 1), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Serves one request (@buf, @n bytes; @fds as received, the start's socket first). */
static void
zygote_serve(char *stack, const char *buf, gsize n, const int *fds, gsize n_fds)
{
    LaunchSpec ls;
    ZygoteRequest zr = { .sock = fds[0], .fds = fds + 1, .n_fds = n_fds - 1, .ls = &ls };
    const char *bad;
    pid_t pid;
    int err;

    bad = parse_spec(&ls, buf, n, &err);
    if (bad == NULL && zr.n_fds != ls.n_t && zr.n_fds != ls.n_t + 1) {
        bad = "the launch request does not carry one fd per target";
        err = EPROTO;
    }
    if (bad != NULL) {
        zygote_answer(zr.sock, "E%d %s", err, bad);
        spec_clear(&ls);
        return;
    }
    zr.has_log = zr.n_fds == ls.n_t + 1;
    /* the exit signal of a CLONE_PARENT clone is the zygote's own (SIGCHLD) */
#ifdef VB_ASAN
    asan_enter_clone_stack(stack);
#endif
    pid = clone(zygote_child, stack + ZYGOTE_STACK_SIZE,
                CLONE_VM | CLONE_VFORK | CLONE_PARENT | SIGCHLD, &zr);
    err = errno;
#ifdef VB_ASAN
    asan_back_on_own_stack(&zr);
#endif
    launch_sock = -1; /* the clone's, in the memory they shared */
    if (pid < 0)
        zygote_answer(zr.sock, "E%d cannot fork the launcher", err);
    else
        zygote_answer(zr.sock, "P%d", (int)pid);
    spec_clear(&ls);
}

/*
 * The zygote (`--qemu-launch zFD`): the service spawns it once and keeps it; for each start
 * it sends one request on the socket FD (SOCK_SEQPACKET): the spec as the data, and as
 * SCM_RIGHTS the start's own socket first, then QEMU's stdout/stderr (if any), then the
 * fds of the spec's targets. The zygote parses the spec and clones a child (zygote_child())
 * that says "P<pid>" on the start's socket, places the fds and goes on as a launcher spawned
 * for this start would (the protocol of qemu-launch-proto.h from "R" on). Once the child has
 * exec'd (or died), the zygote says "P<pid>" too (or "E<errno> ..." when the spec was bad
 * or the clone failed) and closes its copies. A clone of this small process costs a fraction
 * of an exec (issue 16). EOF on FD (the service is gone) ends the zygote.
 */
static int
zygote_main(int zsock)
{
    g_autofree char *buf = g_malloc(SPEC_MAX);
    union {
        char buf[CMSG_SPACE(sizeof(int) * ZYGOTE_MAX_FDS)];
        struct cmsghdr align;
    } control;
    char *stack;

    reset_process();
    if (fcntl(zsock, F_SETFD, FD_CLOEXEC) < 0)
        launch_fail(errno, "bad zygote socket %d", zsock);
    {
        const gint32 none = 0;

        close_others(&none, 0, zsock);
    }
    stack = mmap(NULL, ZYGOTE_STACK_SIZE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        launch_fail(errno, "cannot map a stack");
    for (;;) {
        struct iovec iov = { .iov_base = buf, .iov_len = SPEC_MAX };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                             .msg_controllen = sizeof(control.buf) };
        int fds[ZYGOTE_MAX_FDS];
        gsize n_fds = 0;
        struct cmsghdr *c;
        ssize_t n;

        n = recvmsg(zsock, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(n == 0 ? 0 : 1); /* the service closed its end, or died */
        for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                gsize k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                for (gsize i = 0; i < k && n_fds < ZYGOTE_MAX_FDS; i++)
                    memcpy(&fds[n_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            }
        }
        if (n_fds == 0)
            continue; /* no socket to answer on: not a request */
        if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0)
            zygote_answer(fds[0], "E%d the launch request was cut short", EMSGSIZE);
        else
            zygote_serve(stack, buf, (gsize)n, fds, n_fds);
        close_fds(fds, n_fds);
    }
}

int
vb_qemu_launch_main(int argc, char **argv)
{
    g_autofree char *buf = NULL;
    const char *bad;
    LaunchSpec ls;
    ssize_t n;
    int err;

    if (argc != 3)
        return 2;
    if (argv[2][0] == 'z')
        return zygote_main(atoi(argv[2] + 1));
    launch_sock = atoi(argv[2]);
    reset_process();
    if (fcntl(launch_sock, F_SETFD, FD_CLOEXEC) < 0)
        launch_fail(errno, "bad launcher socket %s", argv[2]);

    buf = g_malloc(SPEC_MAX);
    n = recv(launch_sock, buf, SPEC_MAX, MSG_TRUNC);
    if (n <= 0 || n > SPEC_MAX)
        launch_fail(n < 0 ? errno : EPROTO, "no launch spec");
    bad = parse_spec(&ls, buf, (gsize)n, &err);
    if (bad != NULL)
        launch_fail(err, "%s", bad);
    /* first: the service spawns the launcher with its descriptors left open (a vfork) */
    close_others(ls.t, ls.n_t, launch_sock);
    confine_and_exec(&ls);
}
