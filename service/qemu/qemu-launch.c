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

static char *launch_helper;

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
