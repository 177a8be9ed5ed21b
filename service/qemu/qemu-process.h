/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <sys/types.h>

#include "qemu-launch.h"

G_BEGIN_DECLS

/*
 * A QEMU process the service spawned (its parent: the exit is seen at once,
 * without polling). The exit callback runs on the process-watch thread,
 * once, after the process has been reaped.
 */
typedef struct _VbQemuProcess VbQemuProcess;

/*
 * issue 14, part dac: the user, group and supplementary groups QEMU runs as (qemu_user,
 * qemu_group; resolved by vb_qemu_ids_resolve() in qemu-dac.c). The launcher's spec
 * (set_ids, uid, gid, groups) takes these over; a fixed array, so the child touches no heap.
 */
#define VB_QEMU_IDS_MAX_GROUPS 64
typedef struct {
    gboolean set_ids; /* FALSE: QEMU keeps the service's ids */
    uid_t uid;
    gid_t gid;
    gid_t groups[VB_QEMU_IDS_MAX_GROUPS];
    gsize n_groups;
    char user[65]; /* for messages */
} VbQemuIds;
typedef void (*VbQemuProcessExitFunc)(VbQemuProcess *proc, int wait_status,
                                      gpointer user_data);

VbQemuProcess *vb_qemu_process_spawn(const char *const *argv, const char *home, int log_fd,
                                     VbQemuProcessExitFunc on_exit, gpointer user_data,
                                     GError **error);
VbQemuProcess *vb_qemu_process_spawn_fds(const char *const *argv, const char *home, int log_fd,
                                         const int *source_fds, const int *target_fds,
                                         gsize n_fds, const VbQemuIds *ids,
                                         VbQemuProcessExitFunc on_exit,
                                         gpointer user_data, GError **error);
VbQemuProcess *vb_qemu_process_launch(const VbQemuLaunchSpec *spec, VbQemuSpawnHook hook,
                                      gpointer hook_data, VbQemuProcessExitFunc on_exit,
                                      gpointer user_data, GError **error);
VbQemuProcess *vb_qemu_process_attach(pid_t pid, VbQemuProcessExitFunc on_exit,
                                      gpointer user_data, GError **error);
pid_t vb_qemu_process_get_pid(VbQemuProcess *proc);
gint64 vb_qemu_process_get_start_time(VbQemuProcess *proc);
gpointer vb_qemu_process_detach(VbQemuProcess *proc);
gboolean vb_qemu_process_has_exited(VbQemuProcess *proc, int *out_status);
gboolean vb_qemu_process_wait(VbQemuProcess *proc, guint timeout_ms);
gboolean vb_qemu_process_signal(VbQemuProcess *proc, int sig);
gboolean vb_qemu_process_kill(VbQemuProcess *proc, gboolean graceful, guint term_timeout_ms,
                              GError **error);
VbQemuProcess *vb_qemu_process_ref(VbQemuProcess *proc);
void vb_qemu_process_unref(VbQemuProcess *proc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbQemuProcess, vb_qemu_process_unref)

GStrv vb_qemu_process_env(const char *home);
char *vb_qemu_process_describe_status(int wait_status);

G_END_DECLS
