/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Device nodes in a running QEMU's private /dev (issue 14, part devns; docs/confinement.md).
 *
 * The launcher gives QEMU a mount namespace of its own with a tmpfs on /dev holding what the
 * command line names (qemu-launch.c). A host device hot-plugged later (a disk on /dev/loop3,
 * a cdrom medium /dev/sr0) must appear there before QEMU is asked to open it. The service is
 * multi-threaded and setns() on a mount namespace refuses a multi-threaded caller anyway, so
 * the work is done by a short-lived forked child: everything it needs (the host's view of
 * each node: type, mode, rdev, owner, link target; the directories to make) is read here
 * first, the child only makes system calls (async-signal-safe) and reports the first failure
 * over a pipe.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu-devns.h"
#include "vb-error.h"

#define DEVNS_TIMEOUT_MS 10000

typedef enum { OP_MKDIR, OP_NODE, OP_LINK, OP_UNLINK } OpKind;

typedef struct {
    OpKind kind;
    char *path;   /* absolute, under /dev */
    char *target; /* OP_LINK */
    mode_t mode;
    dev_t rdev;
    uid_t uid;
    gid_t gid;
} Op;

typedef struct {
    int op;  /* index of the failing op */
    int err; /* its errno */
} Report;

static void
op_clear(gpointer data)
{
    Op *o = data;

    g_free(o->path);
    g_free(o->target);
}

/* Whether @path is a name under /dev the service may touch: no "..", not /dev itself, not
 * QEMU's fd set paths, no control characters. */
static gboolean
dev_path_ok(const char *path)
{
    if (!g_str_has_prefix(path, "/dev/") || path[5] == '\0' || strstr(path, "/..") != NULL ||
        g_str_has_prefix(path, "/dev/fdset/") || g_str_has_prefix(path, "/dev/fd/"))
        return FALSE;
    for (const char *p = path; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return FALSE;
    }
    return TRUE;
}

static void
add_unique(GPtrArray *list, const char *path)
{
    g_autofree char *canon = NULL;

    if (!dev_path_ok(path))
        return;
    canon = g_canonicalize_filename(path, "/");
    if (!dev_path_ok(canon) || g_ptr_array_find_with_equal_func(list, canon, g_str_equal, NULL))
        return;
    g_ptr_array_add(list, g_steal_pointer(&canon));
}

/**
 * vb_qemu_devns_paths:
 * @args: (array zero-terminated=1): QEMU options (argv, or the -blockdev/-device pairs of
 *   a hot-plug)
 *
 * The /dev paths @args name (after '=', ':', a quote or at the start of an argument), with
 * the targets of symlinks among them (/dev/disk/by-id/... -> /dev/loop3).
 *
 * Returns: (transfer full): absolute paths, %NULL-terminated
 */
GStrv
vb_qemu_devns_paths(const char *const *args)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; args != NULL && args[i] != NULL; i++) {
        const char *a = args[i], *p = a;

        while ((p = strstr(p, "/dev/")) != NULL) {
            gsize len = strcspn(p, ",\"' ");
            g_autofree char *path = g_strndup(p, len);

            if (p == a || p[-1] == '=' || p[-1] == ':' || p[-1] == '"' || p[-1] == '\'') {
                g_autofree char *target = realpath(path, NULL);

                add_unique(list, path);
                if (target != NULL && g_strcmp0(target, path) != 0)
                    add_unique(list, target);
            }
            p += len;
        }
    }
    g_ptr_array_add(list, NULL);
    return (GStrv)g_ptr_array_free(g_steal_pointer(&list), FALSE);
}

static gboolean
same_ns(pid_t pid, gboolean *out_same, GError **error)
{
    g_autofree char *theirs = g_strdup_printf("/proc/%d/ns/mnt", (int)pid);
    struct stat a, b;

    if (stat(theirs, &a) < 0 || stat("/proc/self/ns/mnt", &b) < 0) {
        int err = errno;

        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "cannot read the mount namespace of QEMU (pid %d): %s", (int)pid,
                    g_strerror(err));
        return FALSE;
    }
    *out_same = a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    return TRUE;
}

/**
 * vb_qemu_devns_is_private:
 * @pid: QEMU's pid
 *
 * Whether QEMU runs in a mount namespace other than the service's (the launcher made its
 * private /dev). FALSE also when it cannot be told (QEMU is gone).
 */
gboolean
vb_qemu_devns_is_private(pid_t pid)
{
    gboolean same = TRUE;

    return pid > 0 && same_ns(pid, &same, NULL) && !same;
}

/* The ops that make @path (with its parents) in QEMU's /dev as it is on the host. */
static gboolean
plan_node(GArray *ops, GHashTable *dirs, const char *path, GError **error)
{
    struct stat st;
    Op o = { 0 };

    if (lstat(path, &st) < 0) {
        int err = errno;

        g_set_error(error, VB_ERROR, err == ENOENT ? VB_ERROR_INVALID_ARG : VB_ERROR_IO,
                    "cannot give QEMU the device %s: %s", path, g_strerror(err));
        return FALSE;
    }
    if (!S_ISLNK(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
        return TRUE; /* a directory or a file under /dev (shm): not a device node, skipped */
    /* the parents, outermost first, once */
    {
        g_autofree char *parent = g_path_get_dirname(path);
        g_autoptr(GPtrArray) chain = g_ptr_array_new_with_free_func(g_free);

        while (strcmp(parent, "/dev") != 0 && strcmp(parent, "/") != 0) {
            char *up = g_path_get_dirname(parent);

            g_ptr_array_add(chain, g_steal_pointer(&parent));
            parent = up;
        }
        for (guint i = chain->len; i > 0; i--) {
            const char *d = g_ptr_array_index(chain, i - 1);
            Op m = { OP_MKDIR, NULL, NULL, 0755, 0, 0, 0 };

            if (g_hash_table_contains(dirs, d))
                continue;
            g_hash_table_add(dirs, g_strdup(d));
            m.path = g_strdup(d);
            g_array_append_val(ops, m);
        }
    }
    o.path = g_strdup(path);
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof(target) - 1);

        if (n < 0) {
            int err = errno;

            g_free(o.path);
            g_set_error(error, VB_ERROR, VB_ERROR_IO,
                        "cannot read the link %s: %s", path, g_strerror(err));
            return FALSE;
        }
        target[n] = '\0';
        o.kind = OP_LINK;
        o.target = g_strdup(target);
    } else {
        o.kind = OP_NODE;
        o.mode = st.st_mode;
        o.rdev = st.st_rdev;
        o.uid = st.st_uid;
        o.gid = st.st_gid;
    }
    g_array_append_val(ops, o);
    return TRUE;
}

/* The child: in QEMU's mount namespace, the ops; the first failure is written to @fd.
 * System calls only (it was forked from a multi-threaded process). */
static void G_GNUC_NORETURN
child_run(int nsfd, const Op *ops, guint n, int fd)
{
    Report r = { -1, 0 };

    if (setns(nsfd, CLONE_NEWNS) < 0) {
        r.err = errno;
        goto out;
    }
    for (guint i = 0; i < n; i++) {
        const Op *o = &ops[i];
        struct stat st;

        r.op = (int)i;
        switch (o->kind) {
        case OP_MKDIR:
            if (mkdir(o->path, o->mode) < 0 && errno != EEXIST) {
                r.err = errno;
                goto out;
            }
            break;
        case OP_LINK:
            if (lstat(o->path, &st) == 0)
                (void)unlink(o->path); /* a stale link of an earlier medium */
            if (symlink(o->target, o->path) < 0) {
                r.err = errno;
                goto out;
            }
            break;
        case OP_NODE:
            if (lstat(o->path, &st) == 0) {
                if ((st.st_mode & S_IFMT) == (o->mode & S_IFMT) && st.st_rdev == o->rdev)
                    goto owner; /* there already (the command line named it) */
                (void)unlink(o->path);
            }
            if (mknod(o->path, o->mode, o->rdev) < 0) {
                r.err = errno;
                goto out;
            }
owner:
            if (chown(o->path, o->uid, o->gid) < 0 || chmod(o->path, o->mode & 07777) < 0) {
                r.err = errno;
                goto out;
            }
            break;
        case OP_UNLINK:
            if (lstat(o->path, &st) == 0 && !S_ISDIR(st.st_mode) && unlink(o->path) < 0 &&
                errno != ENOENT) {
                r.err = errno;
                goto out;
            }
            break;
        }
    }
    r.op = -1;
out:
    if (r.err != 0)
        (void)!write(fd, &r, sizeof(r));
    _exit(r.err != 0 ? 1 : 0);
}

static const char *
op_verb(OpKind kind)
{
    switch (kind) {
    case OP_MKDIR:
        return "create the directory";
    case OP_NODE:
        return "create the device node";
    case OP_LINK:
        return "create the link";
    case OP_UNLINK:
        return "remove";
    }
    return "handle";
}

/* Runs @ops in the mount namespace of @pid. */
static gboolean
run_in_ns(pid_t pid, GArray *ops, GError **error)
{
    g_autofree char *nspath = g_strdup_printf("/proc/%d/ns/mnt", (int)pid);
    const Op *v = (const Op *)(void *)ops->data;
    Report r = { -1, 0 };
    int p[2], nsfd, status = 0;
    gint64 end;
    pid_t child, w;
    ssize_t n;

    if (ops->len == 0)
        return TRUE;
    nsfd = open(nspath, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
        int err = errno;

        g_set_error(error, VB_ERROR, err == ENOENT ? VB_ERROR_INVALID_STATE : VB_ERROR_FAILED,
                    "cannot enter the mount namespace of QEMU (pid %d): %s", (int)pid,
                    g_strerror(err));
        return FALSE;
    }
    if (pipe2(p, O_CLOEXEC) < 0) {
        int err = errno;

        close(nsfd);
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "pipe: %s", g_strerror(err));
        return FALSE;
    }
    child = fork();
    if (child == 0) {
        close(p[0]);
        child_run(nsfd, v, ops->len, p[1]);
    }
    close(nsfd);
    close(p[1]);
    if (child < 0) {
        int err = errno;

        close(p[0]);
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot fork: %s", g_strerror(err));
        return FALSE;
    }
    /* a child of system calls on a tmpfs: it ends at once; bounded all the same */
    end = g_get_monotonic_time() + DEVNS_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
    while ((w = waitpid(child, &status, WNOHANG)) == 0 && g_get_monotonic_time() < end)
        g_usleep(2 * G_TIME_SPAN_MILLISECOND);
    if (w == 0) {
        kill(child, SIGKILL);
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
            ;
        close(p[0]);
        g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                    "timed out making the devices in the /dev of QEMU (pid %d)", (int)pid);
        return FALSE;
    }
    n = read(p[0], &r, sizeof(r));
    close(p[0]);
    if (n == (ssize_t)sizeof(r) && r.err != 0) {
        if (r.op < 0 || (guint)r.op >= ops->len)
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                        "cannot enter the mount namespace of QEMU (pid %d): %s", (int)pid,
                        g_strerror(r.err));
        else
            g_set_error(error, VB_ERROR, VB_ERROR_IO,
                        "cannot %s %s in the /dev of QEMU (pid %d): %s", op_verb(v[r.op].kind),
                        v[r.op].path, (int)pid, g_strerror(r.err));
        return FALSE;
    }
    if (w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                    "the helper making the devices in the /dev of QEMU (pid %d) failed",
                    (int)pid);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_qemu_devns_add:
 * @pid: QEMU's pid (it runs in a private /dev: vb_qemu_devns_is_private())
 * @paths: (array zero-terminated=1): absolute /dev paths (vb_qemu_devns_paths())
 *
 * Makes each of @paths in QEMU's /dev as it is on the host: a device node with the host's
 * mode, rdev and owner (the DAC part chowned the host's node to QEMU's user already), a
 * symlink with the same target, and their parent directories. Paths that are neither
 * (directories, files) are skipped. Refuses to touch the service's own /dev (QEMU runs in
 * the service's namespace). Any thread; blocks for a fork.
 */
gboolean
vb_qemu_devns_add(pid_t pid, const char *const *paths, GError **error)
{
    g_autoptr(GArray) ops = g_array_new(FALSE, TRUE, sizeof(Op));
    g_autoptr(GHashTable) dirs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    gboolean same = TRUE;

    g_array_set_clear_func(ops, op_clear);
    if (paths == NULL || paths[0] == NULL)
        return TRUE;
    if (!same_ns(pid, &same, error))
        return FALSE;
    if (same) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "QEMU (pid %d) has no private /dev", (int)pid);
        return FALSE;
    }
    for (guint i = 0; paths[i] != NULL; i++) {
        if (!dev_path_ok(paths[i])) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "'%s' is not a path under /dev",
                        paths[i]);
            return FALSE;
        }
        if (!plan_node(ops, dirs, paths[i], error))
            return FALSE;
    }
    return run_in_ns(pid, ops, error);
}

/**
 * vb_qemu_devns_remove:
 * @pid: QEMU's pid
 * @paths: (array zero-terminated=1): absolute /dev paths
 *
 * Removes @paths (nodes and links, never directories) from QEMU's private /dev, after the
 * device that used them went (libvirt does the same). Nothing when QEMU shares the
 * service's namespace.
 */
gboolean
vb_qemu_devns_remove(pid_t pid, const char *const *paths, GError **error)
{
    g_autoptr(GArray) ops = g_array_new(FALSE, TRUE, sizeof(Op));
    gboolean same = TRUE;

    g_array_set_clear_func(ops, op_clear);
    if (paths == NULL || paths[0] == NULL)
        return TRUE;
    if (!same_ns(pid, &same, error))
        return FALSE;
    if (same)
        return TRUE;
    for (guint i = 0; paths[i] != NULL; i++) {
        Op o = { OP_UNLINK, NULL, NULL, 0, 0, 0, 0 };

        if (!dev_path_ok(paths[i]))
            continue;
        o.path = g_strdup(paths[i]);
        g_array_append_val(ops, o);
    }
    return run_in_ns(pid, ops, error);
}
