/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * Contract of the QMP client (qemu-monitor*.c). All monitors share one
 * dedicated monitor thread with its own GMainContext; callbacks run on
 * that thread and must not call back into the monitor (queue work
 * elsewhere instead); only vb_qemu_monitor_close() and ref/unref are
 * allowed there. They must not block: every monitor shares the thread.
 * The socket-free parser is in qemu-monitor-parse.h.
 */
typedef struct _VbQemuMonitor VbQemuMonitor;

typedef struct {
    /* A QMP event. @data may be NULL. @seconds/@micros: QEMU's timestamp. */
    void (*event)(VbQemuMonitor *mon, const char *event, JsonObject *data, gint64 seconds,
                  gint64 micros, gpointer user_data);
    /* The connection ended: EOF (@error NULL) or an I/O/protocol error. Called once. */
    void (*eof)(VbQemuMonitor *mon, const GError *error, gpointer user_data);
} VbQemuMonitorCallbacks;

/*
 * Connects to the QMP unix socket at @path (retrying until @timeout_ms while
 * the socket does not exist yet or refuses, and failing early when
 * @pid > 0 dies meanwhile), reads the greeting and negotiates
 * capabilities. Blocking: worker threads only. @callbacks is copied.
 */
VbQemuMonitor *vb_qemu_monitor_open(const char *path, pid_t pid, int timeout_ms,
                                    const VbQemuMonitorCallbacks *callbacks,
                                    gpointer user_data, GError **error);
/* Same over an already connected socket fd (taken over). */
VbQemuMonitor *vb_qemu_monitor_open_fd(int fd, int timeout_ms,
                                       const VbQemuMonitorCallbacks *callbacks,
                                       gpointer user_data, GError **error);
VbQemuMonitor *vb_qemu_monitor_open_fd_query(int fd, int timeout_ms, const char *query,
                                             JsonNode **query_return,
                                             const VbQemuMonitorCallbacks *callbacks,
                                             gpointer user_data, GError **error);

/*
 * Sends @command with @arguments (transfer full, nullable) and waits for
 * its reply up to @timeout_ms (-1: no limit). Returns the "return" member
 * (transfer full; an empty object when QEMU returned {}), or NULL with
 * VB_ERROR_QEMU carrying QEMU's error class and desc, or
 * VB_ERROR_OPERATION_TIMEOUT, or VB_ERROR_QEMU "monitor closed" when the
 * connection ends first. Any thread but the monitor thread.
 */
JsonNode *vb_qemu_monitor_command(VbQemuMonitor *mon, const char *command,
                                  JsonObject *arguments, int timeout_ms, GError **error);

/* vb_qemu_monitor_command_watch(): @event came, at @timestamp (QMP's, µs since the epoch). */
typedef void (*VbQemuMonitorEventSeen)(const char *event, gint64 timestamp, gpointer user_data);

/*
 * As vb_qemu_monitor_command() without arguments; when QEMU emits @event before the
 * reply, @seen runs at once on the calling thread (no lock held), then the reply is
 * waited for as usual (issue 16: Suspend publishes at STOP).
 */
JsonNode *vb_qemu_monitor_command_watch(VbQemuMonitor *mon, const char *command,
                                        const char *event, VbQemuMonitorEventSeen seen,
                                        gpointer user_data, int timeout_ms, GError **error);

/*
 * As vb_qemu_monitor_command(), passing @fd (SCM_RIGHTS) with the command,
 * for "getfd"/"add-fd". The caller keeps and closes its copy of @fd.
 */
JsonNode *vb_qemu_monitor_command_with_fd(VbQemuMonitor *mon, const char *command,
                                          JsonObject *arguments, int fd, int timeout_ms,
                                          GError **error);

/* Passes a raw QMP command (JSON text) through; returns the reply's JSON text. */
JsonObject *vb_qemu_monitor_parse_command(const char *json, GError **error);
char *vb_qemu_monitor_command_object(VbQemuMonitor *mon, JsonObject *cmd, int timeout_ms,
                                     GError **error);
char *vb_qemu_monitor_command_raw(VbQemuMonitor *mon, const char *json, int timeout_ms,
                                  GError **error);

/* Whether a caller waits for a reply, and since when (monotonic µs). Any thread. */
gboolean vb_qemu_monitor_get_waiting(VbQemuMonitor *mon, gint64 *out_since);

/* Closes the connection: pending and later commands fail; no callback runs after. */
void vb_qemu_monitor_close(VbQemuMonitor *mon);

VbQemuMonitor *vb_qemu_monitor_ref(VbQemuMonitor *mon);
void vb_qemu_monitor_unref(VbQemuMonitor *mon);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbQemuMonitor, vb_qemu_monitor_unref)

G_END_DECLS
