/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/select.h>
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

/**
 * vb_netdev_run_tool:
 * @argv: the command; argv[0] a tool name looked up with vb_netdev_find_tool()
 * @stdin_text: (nullable): fed to the command's standard input
 * @out_stdout: (out) (optional) (transfer full): its output
 * @out_stderr: (out) (optional) (transfer full): its error output, stripped
 * @out_status: (out): its exit status (-1 when killed by a signal)
 * @error: return location, set only when the command could not be run
 *
 * Runs a host tool to its end (short commands: tc, nft). The caller decides
 * what a non-zero status means. Any thread.
 *
 * Returns: %TRUE when the command ran.
 */
gboolean
vb_netdev_run_tool(const char *const *argv, const char *stdin_text, char **out_stdout,
                   char **out_stderr, int *out_status, GError **error)
{
    g_autofree char *path = vb_netdev_find_tool(argv[0]);
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    g_autofree char *errs = NULL;
    int in_pipe[2] = {-1, -1};
    int sout = -1, serr = -1, status = 0;
    GPid pid;
    GSpawnFlags flags = G_SPAWN_DO_NOT_REAP_CHILD;

    if (path == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "the host tool '%s' is not installed",
                    argv[0]);
        return FALSE;
    }
    g_ptr_array_add(args, path);
    for (guint i = 1; argv[i] != NULL; i++)
        g_ptr_array_add(args, (char *)argv[i]);
    g_ptr_array_add(args, NULL);

    if (!g_spawn_async_with_pipes(NULL, (char **)args->pdata, NULL, flags, NULL, NULL, &pid,
                                  stdin_text ? &in_pipe[1] : NULL, &sout, &serr, &err)) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot run %s: %s", path, err->message);
        return FALSE;
    }
    if (stdin_text) {
        gsize len = strlen(stdin_text), done = 0;

        while (done < len) {
            ssize_t n = write(in_pipe[1], stdin_text + done, len - done);

            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            done += n;
        }
        close(in_pipe[1]);
    }
    {
        /* Both pipes are drained by one GIOChannel-free loop: outputs are small. */
        GString *o = g_string_new(NULL), *e = g_string_new(NULL);
        char buf[4096];
        gboolean open_o = TRUE, open_e = TRUE;

        while (open_o || open_e) {
            fd_set set;
            int maxfd = MAX(sout, serr);

            FD_ZERO(&set);
            if (open_o)
                FD_SET(sout, &set);
            if (open_e)
                FD_SET(serr, &set);
            if (select(maxfd + 1, &set, NULL, NULL, NULL) < 0) {
                if (errno == EINTR)
                    continue;
                break;
            }
            for (int k = 0; k < 2; k++) {
                int fd = k == 0 ? sout : serr;
                gboolean *open = k == 0 ? &open_o : &open_e;
                ssize_t n;

                if (!*open || !FD_ISSET(fd, &set))
                    continue;
                n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0)
                    *open = FALSE;
                else
                    g_string_append_len(k == 0 ? o : e, buf, n);
            }
        }
        out = g_string_free(o, FALSE);
        errs = g_strstrip(g_string_free(e, FALSE));
    }
    close(sout);
    close(serr);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    g_spawn_close_pid(pid);
    *out_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (out_stdout)
        *out_stdout = g_steal_pointer(&out);
    if (out_stderr)
        *out_stderr = g_steal_pointer(&errs);
    return TRUE;
}
