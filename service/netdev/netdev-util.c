/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netdev-priv.h"
#include "vb-error.h"

/**
 * vb_netdev_errno_code:
 * @err: an errno value from the kernel
 *
 * Returns: the %VB_ERROR code a failure with @err is reported with.
 */
int
vb_netdev_errno_code(int err)
{
    switch (err) {
    case EEXIST:
    case EBUSY:
        return VB_ERROR_EXISTS;
    case ENODEV:
    case ENOENT:
    case EINVAL:
    case ERANGE:
        return VB_ERROR_INVALID_ARG;
    case EOPNOTSUPP:
    case EAFNOSUPPORT:
    case EPROTONOSUPPORT:
        return VB_ERROR_NOT_SUPPORTED;
    default:
        return VB_ERROR_FAILED;
    }
}

/**
 * vb_netdev_set_error:
 * @error: return location
 * @err: the errno of the failure
 * @reason: (nullable): the kernel's reason as text (g_strerror(@err) when %NULL)
 * @fmt: what failed, naming the device
 *
 * Sets "@fmt: @reason" with the code vb_netdev_errno_code() gives for @err.
 */
void
vb_netdev_set_error(GError **error, int err, const char *reason, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *what = NULL;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, VB_ERROR, vb_netdev_errno_code(err), "%s: %s", what,
                reason ? reason : g_strerror(err));
}

/**
 * vb_netdev_find_tool:
 * @name: a program of iproute2 or nftables ("tc", "nft")
 *
 * Looks in PATH, then in /usr/sbin and /sbin (a service's PATH may lack them).
 *
 * Returns: (transfer full) (nullable): the program's path.
 */
char *
vb_netdev_find_tool(const char *name)
{
    static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
    char *p = g_find_program_in_path(name);

    if (p != NULL)
        return p;
    for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
        g_autofree char *c = g_build_filename(dirs[i], name, NULL);

        if (g_file_test(c, G_FILE_TEST_IS_EXECUTABLE))
            return g_steal_pointer(&c);
    }
    return NULL;
}

static int
stdin_memfd(const char *text, GError **error)
{
    int fd = memfd_create("virtbus-netdev-stdin", MFD_CLOEXEC);
    gsize len = strlen(text), done = 0;

    if (fd < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot make a memfd: %s", g_strerror(errno));
        return -1;
    }
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot write a memfd: %s",
                        g_strerror(errno));
            close(fd);
            return -1;
        }
        done += n;
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* Reads stdout and stderr to their end or the deadline; FALSE on timeout. */
static gboolean
drain(int sout, int serr, GString *o, GString *e, gint64 deadline)
{
    struct pollfd p[2] = {{sout, POLLIN, 0}, {serr, POLLIN, 0}};
    char buf[4096];

    while (p[0].fd >= 0 || p[1].fd >= 0) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        int r;

        if (left <= 0)
            return FALSE;
        r = poll(p, 2, (int)MIN(left, G_MAXINT));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return TRUE;
        for (int k = 0; k < 2; k++) {
            ssize_t n;

            if (p[k].fd < 0 || p[k].revents == 0)
                continue;
            n = read(p[k].fd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                p[k].fd = -1;
            else
                g_string_append_len(k == 0 ? o : e, buf, n);
        }
    }
    return TRUE;
}

/**
 * vb_netdev_run_tool:
 * @argv: the command; argv[0] a tool name looked up with vb_netdev_find_tool()
 * @stdin_text: (nullable): fed to the command's standard input
 * @out_stdout: (out) (optional) (transfer full): its output
 * @out_stderr: (out) (optional) (transfer full): its error output, stripped
 * @out_status: (out): its exit status (-1 when killed by a signal)
 * @error: return location, set only when the command could not be run or
 *   did not end within 30 s (%VB_ERROR_OPERATION_TIMEOUT; it is killed)
 *
 * Runs a host tool to its end (short commands: tc, nft) with LC_ALL=C, no
 * inherited descriptors and its input from a memfd (no SIGPIPE, no pipe
 * dead-lock). The caller decides what a non-zero status means. Any thread.
 *
 * Returns: %TRUE when the command ran.
 */
gboolean
vb_netdev_run_tool(const char *const *argv, const char *stdin_text, char **out_stdout,
                   char **out_stderr, int *out_status, GError **error)
{
    g_autofree char *path = vb_netdev_find_tool(argv[0]);
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    g_auto(GStrv) env = g_environ_setenv(g_get_environ(), "LC_ALL", "C", TRUE);
    g_autoptr(GError) err = NULL;
    g_autoptr(GString) o = g_string_new(NULL);
    g_autoptr(GString) e = g_string_new(NULL);
    int in_fd = -1, sout = -1, serr = -1, status = 0;
    gboolean done;
    GPid pid;

    if (path == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "the host tool '%s' is not installed",
                    argv[0]);
        return FALSE;
    }
    g_ptr_array_add(args, path);
    for (guint i = 1; argv[i] != NULL; i++)
        g_ptr_array_add(args, (char *)argv[i]);
    g_ptr_array_add(args, NULL);
    if (stdin_text && (in_fd = stdin_memfd(stdin_text, error)) < 0)
        return FALSE;
    if (!g_spawn_async_with_pipes_and_fds(NULL, (const char *const *)args->pdata,
                                          (const char *const *)env, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                          NULL, in_fd, -1, -1, NULL, NULL, 0, &pid, NULL, &sout,
                                          &serr, &err)) {
        if (in_fd >= 0)
            close(in_fd);
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot run %s: %s", path, err->message);
        return FALSE;
    }
    if (in_fd >= 0)
        close(in_fd);
    done = drain(sout, serr, o, e, g_get_monotonic_time() + 30 * G_USEC_PER_SEC);
    close(sout);
    close(serr);
    if (!done)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    g_spawn_close_pid(pid);
    if (!done) {
        g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                    "%s did not finish within 30 seconds and was killed", path);
        return FALSE;
    }
    *out_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (out_stdout)
        *out_stdout = g_string_free(g_steal_pointer(&o), FALSE);
    if (out_stderr)
        *out_stderr = g_strstrip(g_string_free(g_steal_pointer(&e), FALSE));
    return TRUE;
}
