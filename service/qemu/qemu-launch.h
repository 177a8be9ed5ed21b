/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/*
 * The QEMU launcher: QEMU is not forked from the (multi-threaded) service
 * directly but through a fresh exec of a launcher: the small program
 * `virtbus-launch --qemu-launch FD` (qemu-launcher.c, GLib only), or the service's own
 * binary in the same hidden mode when that program is not installed. The launcher gets a
 * spec over a socket, confines itself (session, mount namespace, ids, no-new-privs, fds),
 * says "ready", waits for "go" (the service runs its hook in between: the
 * cgroup is joined before QEMU runs a single instruction) and execs QEMU;
 * an exec failure comes back as an errno. The launcher's pid is QEMU's.
 */

/* Runs in the service between "ready" and "go", with the launcher's pid. A failure kills the
 * launcher and fails the spawn with this error. */
typedef gboolean (*VbQemuSpawnHook)(pid_t pid, gpointer data, GError **error);

typedef struct {
    const char *const *argv;   /* the program (absolute path) and its arguments */
    const char *const *envp;   /* exactly the environment it gets */
    int log_fd;                /* its stdout and stderr (stdin is /dev/null); -1: /dev/null */
    const int *source_fds;     /* (array length=n_fds) the service's fds to pass on */
    const int *target_fds;     /* (array length=n_fds) their numbers in QEMU (3 or more) */
    gsize n_fds;
    gboolean set_ids;          /* switch to uid, gid and groups before the exec */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;       /* (array length=n_groups) supplementary groups */
    gsize n_groups;
    gboolean private_dev;      /* a private mount namespace with a minimal /dev */
    const char *const *devices; /* (nullable) device nodes under /dev to carry over */
} VbQemuLaunchSpec;

/* The hidden command-line mode: whether argv asks for the launcher. */
gboolean vb_qemu_launch_is_launcher(int argc, char **argv);
/* The launcher's main: never returns on success (it becomes QEMU). */
int vb_qemu_launch_main(int argc, char **argv);
/* The binary run as the launcher; default /proc/self/exe (the running program, which must
 * call vb_qemu_launch_main() when vb_qemu_launch_is_launcher()). */
void vb_qemu_launch_set_helper(const char *path);
/* Sets the small launcher program `virtbus-launch` as the helper when it is next to the running
 * binary or in @libexecdir (issue 16); returns the helper in use. */
const char *vb_qemu_launch_find_helper(const char *libexecdir);

/* Starts go through one kept launcher process (a "zygote" cloned per start) when enabled
 * (issue 16); off by default. */
void vb_qemu_launch_set_zygote(gboolean enabled);
/* The kept launcher's pid, -1 when none runs (tests). */
pid_t vb_qemu_launch_zygote_pid(void);

GStrv vb_qemu_launch_devices(const char *const *argv);
pid_t vb_qemu_launch_spawn(const VbQemuLaunchSpec *spec, VbQemuSpawnHook hook,
                           gpointer hook_data, GError **error);

G_END_DECLS
