/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain-save-write.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * A save image of a running QEMU, written by the job thread of an async job (save, or
 * snapshot): the status names the temporary file before it exists (so a service killed
 * meanwhile removes it at its next start, domain-reconnect.c), the header and the XML are
 * written, QEMU gets a descriptor (the file, or a pipe into zstd) with getfd and migrates
 * to "fd:"; on success the file is synced and renamed into place. A failure removes the
 * temporary file and cancels QEMU's migration; the guest's run state is the caller's.
 */

#define FDNAME "vbsave"
#define QMP_TIMEOUT_MS 30000

/**
 * vb_domain_held_monitor:
 *
 * As vb_domain_async_monitor(), for a job thread that holds its nested job already (the
 * snapshot job's body): sends @cmd to the running domain's monitor directly.
 */
JsonNode *
vb_domain_held_monitor(VbDomainList *list, VbDomainObj *dom, const char *cmd, JsonObject *args,
                       int fd, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = NULL;

    (void)list;
    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 && dom->mon != NULL && !dom->stopping)
        mon = vb_qemu_monitor_ref(dom->mon);
    else
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' is no longer running", dom->def->name);
    g_mutex_unlock(&dom->lock);
    if (mon == NULL) {
        if (args != NULL)
            json_object_unref(args);
        return NULL;
    }
    if (fd >= 0)
        return vb_qemu_monitor_command_with_fd(mon, cmd, args, fd, QMP_TIMEOUT_MS, error);
    return vb_qemu_monitor_command(mon, cmd, args, QMP_TIMEOUT_MS, error);
}

void
vb_save_writer_init(VbSaveWriter *w, VbSaveTarget *target, const char *xml,
                    guint32 header_flags, gboolean compress, VbMonitorSendFunc send,
                    const char *open_phase)
{
    memset(w, 0, sizeof(*w));
    w->target = target;
    w->xml = xml;
    w->header_flags = header_flags;
    w->compress = compress;
    w->send = send;
    w->open_phase = open_phase;
    w->cancelable = TRUE;
    w->file_fd = -1;
    w->qemu_fd = -1;
}

/* Closes the descriptors and stops the compressor; the temporary file stays. */
static void
close_all(VbSaveWriter *w)
{
    if (w->qemu_fd >= 0 && w->qemu_fd != w->file_fd)
        close(w->qemu_fd);
    w->qemu_fd = -1;
    if (w->file_fd >= 0)
        close(w->file_fd);
    w->file_fd = -1;
    if (w->compressor > 0) {
        kill(w->compressor, SIGKILL);
        waitpid(w->compressor, NULL, 0);
    }
    w->compressor = 0;
}

/* The test suite slows saves down with this, to cancel them in flight. */
static gint64
max_bandwidth(void)
{
    const char *v = g_getenv("VIRTBUS_TEST_SAVE_MAX_BANDWIDTH");

    if (v != NULL && *v != '\0') {
        g_warning("VIRTBUS_TEST_SAVE_MAX_BANDWIDTH=%s: saves are throttled (test only)", v);
        return g_ascii_strtoll(v, NULL, 10);
    }
    return G_MAXINT64;
}

static void
record_temp(VbDomainObj *dom, const VbSaveWriter *w)
{
    g_mutex_lock(&dom->lock);
    g_free(dom->job.temp_path);
    dom->job.temp_path = g_strdup(w->target->temp_path);
    g_mutex_unlock(&dom->lock);
}

/* QEMU's end of the stream: the file, or a pipe into zstd writing the file. */
static gboolean
open_stream(VbSaveWriter *w, GError **error)
{
    const char *argv[] = { "zstd", "-q", "-c", "-1", "-T0", NULL };
    int p[2];

    if (!w->compress) {
        w->qemu_fd = w->file_fd;
        return TRUE;
    }
    if (!g_unix_open_pipe(p, FD_CLOEXEC, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "pipe: %s", g_strerror(errno));
        return FALSE;
    }
    if (!g_spawn_async_with_fds(NULL, (char **)argv, NULL,
                                G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                    G_SPAWN_STDERR_TO_DEV_NULL,
                                NULL, NULL, &w->compressor, p[0], w->file_fd, -1, error)) {
        close(p[0]);
        close(p[1]);
        vb_error_convert(error);
        g_prefix_error(error, "cannot run zstd to compress the save image: ");
        return FALSE;
    }
    close(p[0]);
    w->qemu_fd = p[1];
    return TRUE;
}

/**
 * vb_save_writer_open:
 *
 * Records the temporary file (status XML, job phase @w->open_phase) before it exists,
 * creates it, writes the header and the XML and opens QEMU's end of the stream.
 */
gboolean
vb_save_writer_open(VbDomainList *list, VbDomainObj *dom, VbJob *job, VbSaveWriter *w,
                    GError **error)
{
    g_autofree char *picked = NULL;

    vb_save_target_pick_temp(w->target);
    picked = g_strdup(w->target->temp_path);
    w->opened = TRUE;
    record_temp(dom, w);
    vb_domain_async_job_phase(list, dom, job, w->open_phase, w->cancelable);
    w->file_fd = vb_save_target_create_temp(w->target, error);
    if (w->file_fd < 0)
        return FALSE;
    if (g_strcmp0(picked, w->target->temp_path) != 0) {
        /* the name was taken meanwhile: record the other one */
        record_temp(dom, w);
        vb_domain_async_job_phase(list, dom, job, w->open_phase, w->cancelable);
    }
    if (!vb_save_image_write_header(w->file_fd, w->xml, w->header_flags, w->compress, error)) {
        /* "No space left on device": which file system is full */
        g_prefix_error(error, "'%s': ", w->target->path);
        return FALSE;
    }
    return open_stream(w, error);
}

/* QEMU writes its state into @w->qemu_fd; returns when it completed. */
gboolean
vb_save_writer_migrate(VbDomainList *list, VbDomainObj *dom, VbJob *job, VbSaveWriter *w,
                       GError **error)
{
    JsonObject *params = json_object_new();
    JsonObject *fdargs = json_object_new();
    JsonObject *margs = json_object_new();
    g_autoptr(JsonNode) r1 = NULL, r2 = NULL, r3 = NULL;

    json_object_set_int_member(params, "max-bandwidth", max_bandwidth());
    r1 = w->send(list, dom, "migrate-set-parameters", params, -1, error);
    if (r1 == NULL) {
        json_object_unref(fdargs);
        json_object_unref(margs);
        return FALSE;
    }
    json_object_set_string_member(fdargs, "fdname", FDNAME);
    r2 = w->send(list, dom, "getfd", fdargs, w->qemu_fd, error);
    if (r2 == NULL) {
        json_object_unref(margs);
        return FALSE;
    }
    /* QEMU has its own copy; ours would keep the pipe open after QEMU's end */
    if (w->qemu_fd != w->file_fd) {
        close(w->qemu_fd);
        w->qemu_fd = -1;
    }
    json_object_set_string_member(margs, "uri", "fd:" FDNAME);
    r3 = w->send(list, dom, "migrate", margs, -1, error);
    if (r3 == NULL)
        return FALSE;
    return vb_domain_async_wait_migration_full(list, dom, job, -1, NULL, w->send, error);
}

/* After QEMU completed: the compressor's end, fsync, rename into place. */
gboolean
vb_save_writer_commit(VbSaveWriter *w, GError **error)
{
    if (w->qemu_fd != w->file_fd) {
        int status = 0;

        if (w->qemu_fd >= 0)
            close(w->qemu_fd);
        w->qemu_fd = -1;
        if (waitpid(w->compressor, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            w->compressor = 0;
            g_set_error_literal(error, VB_ERROR, VB_ERROR_IO, "zstd failed to compress the image");
            return FALSE;
        }
        w->compressor = 0;
    }
    if (fsync(w->file_fd) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot write '%s': %s", w->target->path,
                    g_strerror(errno));
        return FALSE;
    }
    if (!vb_save_target_commit(w->target, error))
        return FALSE;
    w->opened = FALSE;
    return TRUE;
}

/* After a failure: stop QEMU's migration if it still runs (best effort). */
static void
cancel_migration(VbDomainList *list, VbDomainObj *dom, VbSaveWriter *w)
{
    g_autoptr(JsonNode) c = w->send(list, dom, "migrate_cancel", NULL, -1, NULL);

    for (int i = 0; c != NULL && i < 50; i++) {
        g_autoptr(JsonNode) q = w->send(list, dom, "query-migrate", NULL, -1, NULL);
        JsonObject *o = q != NULL && JSON_NODE_HOLDS_OBJECT(q) ? json_node_get_object(q) : NULL;
        const char *st = o != NULL && json_object_has_member(o, "status")
                             ? json_object_get_string_member(o, "status") : "none";

        if (!g_str_equal(st, "active") && !g_str_equal(st, "setup") &&
            !g_str_equal(st, "cancelling"))
            break;
        g_usleep(100 * 1000);
    }
}

/**
 * vb_save_writer_abort:
 *
 * After a failure: the compressor first (QEMU may be blocked writing into its pipe), the
 * temporary file, then QEMU's migration cancelled.
 */
void
vb_save_writer_abort(VbDomainList *list, VbDomainObj *dom, VbSaveWriter *w)
{
    close_all(w);
    if (w->opened)
        vb_save_target_discard(w->target);
    w->opened = FALSE;
    cancel_migration(list, dom, w);
}

/* The service stops: only our descriptors go, the temporary file is the recovery's. */
void
vb_save_writer_forget(VbSaveWriter *w)
{
    if (w->opened)
        vb_save_target_forget_temp(w->target);
    w->opened = FALSE;
    w->compressor = 0;
    close_all(w);
}

/* The size of the written image (before vb_save_writer_clear()). */
guint64
vb_save_writer_size(VbSaveWriter *w)
{
    struct stat st;

    return w->file_fd >= 0 && fstat(w->file_fd, &st) == 0 ? (guint64)st.st_size : 0;
}

void
vb_save_writer_clear(VbSaveWriter *w)
{
    close_all(w);
    if (w->opened)
        vb_save_target_discard(w->target);
    w->opened = FALSE;
}
