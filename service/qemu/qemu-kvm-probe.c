/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu-caps.h"

/*
 * Whether KVM really runs guests. /dev/kvm opening and QMP's query-kvm
 * saying "present" prove nothing: on some hosts a KVM guest never executes
 * an instruction of its firmware (see tests/guest/README.md) and a domain
 * would hang at start. So QEMU boots its own firmware under KVM with a
 * debug console on port 0x402, where SeaBIOS prints its banner within
 * milliseconds; KVM is usable only if that banner appears within two
 * seconds. The answer is cached per binary for the life of the process
 * (and with the capabilities on disk).
 */

#define PROBE_TIMEOUT_MS 2000

static gboolean
banner_seen(const char *path)
{
    g_autofree char *contents = NULL;

    return g_file_get_contents(path, &contents, NULL, NULL) && contents[0] != '\0';
}

static gboolean
run_probe(const char *binary, const char **out_reason)
{
    g_autofree char *dir = g_dir_make_tmp("vb-kvm-probe-XXXXXX", NULL);
    g_autofree char *out = dir != NULL ? g_build_filename(dir, "debugcon", NULL) : NULL;
    g_autofree char *chardev = out != NULL ? g_strdup_printf("file,id=dbg,path=%s", out) : NULL;
    const char *argv[] = { binary, "-machine", "pc,accel=kvm", "-m", "16", "-nodefaults",
                           "-no-user-config", "-display", "none", "-no-reboot", "-chardev",
                           chardev, "-device", "isa-debugcon,iobase=0x402,chardev=dbg", NULL };
    const char *envp[] = { "LC_ALL=C", "PATH=/usr/bin:/bin", NULL };
    gint64 deadline = g_get_monotonic_time() + PROBE_TIMEOUT_MS * 1000;
    gboolean seen = FALSE;
    GPid pid;

    if (dir == NULL || access("/dev/kvm", R_OK | W_OK) != 0) {
        *out_reason = "/dev/kvm is missing or not accessible";
        return FALSE;
    }
    /* a service killed during the probe (2 s where KVM runs no guest) leaves no QEMU */
    if (!g_spawn_async(NULL, (char **)argv, (char **)envp,
                       G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL |
                           G_SPAWN_STDERR_TO_DEV_NULL,
                       vb_qemu_probe_child_setup, GINT_TO_POINTER(getpid()), &pid, NULL)) {
        *out_reason = "QEMU could not be run for the KVM probe";
        g_rmdir(dir);
        return FALSE;
    }
    while (!(seen = banner_seen(out)) && g_get_monotonic_time() < deadline) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            pid = 0;
            break;
        }
        g_usleep(5000);
    }
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    g_unlink(out);
    g_rmdir(dir);
    if (!seen)
        *out_reason = "a KVM guest made no progress within 2 s (KVM is present but does not "
                      "run guests on this host)";
    return seen;
}

/**
 * vb_qemu_kvm_usable:
 * @binary: the QEMU binary to try
 * @out_reason: (out) (optional): why not, when it is not (static string)
 *
 * Blocking up to two seconds the first time for @binary: worker threads
 * only.
 */
gboolean
vb_qemu_kvm_usable(const char *binary, const char **out_reason)
{
    static GMutex lock;
    static GHashTable *answers; /* binary -> reason, "" when usable */
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&lock);
    const char *reason;

    if (answers == NULL)
        answers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (!g_hash_table_lookup_extended(answers, binary, NULL, (gpointer *)&reason)) {
        reason = "";
        run_probe(binary, &reason);
        g_hash_table_insert(answers, g_strdup(binary), (gpointer)reason);
    }
    if (out_reason != NULL)
        *out_reason = *reason != '\0' ? reason : NULL;
    return *reason == '\0';
}
