/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain-list-priv.h"
#include "domain-save-write.h"
#include "domain-snapshot-live.h"
#include "domain-snapshot-memory.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * External snapshots with memory (issue 15, part extmem), as libvirt's
 * qemuSnapshotCreateActiveExternal: the memory state goes into <memory file=> as a save
 * image (domain-save-write.c: the same header, XML and stream Domain.Save writes), then
 * the disks take their overlays (domain-snapshot-external.c), then the guest runs again.
 * Without LIVE the guest is paused first (reason "snapshot"); with LIVE QEMU migrates
 * while it runs and pauses it at the end of the migration. The image records the live
 * definition as it was before the disks switched, so its disks are the images below the
 * new overlays: a restore of it is the guest at the snapshot. The file is written under a
 * temporary name and renamed at the end, so a failure never leaves a half-written file
 * under its name; an existing file is refused. The snapshot job's thread holds its nested
 * job throughout: every command goes to the monitor directly (vb_domain_held_monitor()).
 */

#define QMP_TIMEOUT_MS 30000

struct _VbSnapshotMemory {
    VbSaveTarget target;
    char *path;
    char *xml;          /* migratable XML of the domain at the snapshot */
    gboolean live;
    gboolean was_running;
    gboolean paused;    /* the guest is paused by us */
    gboolean written;   /* the file is in place */
};

void
vb_snapshot_memory_free(VbSnapshotMemory *m)
{
    if (m == NULL)
        return;
    vb_save_target_clear(&m->target);
    g_free(m->path);
    g_free(m->xml);
    g_free(m);
}

/**
 * vb_snapshot_memory_prepare:
 * @def: the running domain's live definition now (its disks: those before the snapshot)
 * @live: LIVE (256): the migration runs while the guest runs
 *
 * Checks the memory file of @snap (an absolute path in an existing directory, no file
 * there yet) and formats the XML its image records. Worker, with the job.
 *
 * Returns: (transfer full): what vb_snapshot_memory_save() writes, or %NULL
 */
VbSnapshotMemory *
vb_snapshot_memory_prepare(const VbSnapshotDef *snap, const VbDomainDef *def, gboolean live,
                           GError **error)
{
    g_autoptr(VbSnapshotMemory) m = g_new0(VbSnapshotMemory, 1);
    struct stat st;

    m->target.dir_fd = -1;
    m->path = g_strdup(snap->memory_file);
    m->live = live;
    if (m->path == NULL || !g_path_is_absolute(m->path)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "snapshot '%s': an external memory snapshot needs an absolute "
                    "<memory file=>", snap->name);
        return NULL;
    }
    if (!vb_save_target_open(&m->target, m->path, (guint32)geteuid(), error)) {
        g_prefix_error(error, "snapshot '%s': memory file: ", snap->name);
        return NULL;
    }
    /* libvirt refuses an existing memory file: it is never replaced (also not one made
     * while QEMU writes) */
    m->target.no_replace = TRUE;
    if (fstatat(m->target.dir_fd, m->target.base, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
        errno != ENOENT) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "snapshot '%s': the memory file %s already exists; remove it or name "
                    "another file", snap->name, m->path);
        return NULL;
    }
    m->xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_MIGRATABLE |
                                           VB_DOMAIN_DEF_FORMAT_SECURE, error);
    if (m->xml == NULL)
        return NULL;
    return g_steal_pointer(&m);
}

/* The guest is paused (by us, or by QEMU at the end of a live migration): recorded. */
static void
set_paused(VbDomainList *list, VbDomainObj *dom)
{
    g_mutex_lock(&dom->lock);
    vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_PAUSED, VB_DOMAIN_REASON_SNAPSHOT);
    dom->paused_at = g_get_real_time();
    g_mutex_unlock(&dom->lock);
    vb_domain_status_save(list, dom, NULL);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "suspended", "snapshot");
}

static void
resume(VbDomainList *list, VbDomainObj *dom, VbSnapshotMemory *m)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = NULL;
    gboolean changed;

    if (!m->paused)
        return;
    m->paused = FALSE;
    r = vb_domain_held_monitor(list, dom, "cont", NULL, -1, &error);
    if (r == NULL) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "cannot let the guest run after the snapshot: %s", error->message);
        return;
    }
    g_mutex_lock(&dom->lock);
    changed = dom->id >= 0;
    if (changed) {
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_RUNNING, VB_DOMAIN_REASON_UNPAUSED);
        dom->resumed_at = g_get_real_time();
    }
    g_mutex_unlock(&dom->lock);
    if (!changed)
        return;
    vb_domain_status_save(list, dom, NULL);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "resumed", "unpaused");
}

/* Whether QEMU's vCPUs are stopped now (query-status). */
static gboolean
qemu_paused(VbDomainList *list, VbDomainObj *dom)
{
    g_autoptr(JsonNode) r = vb_domain_held_monitor(list, dom, "query-status", NULL, -1, NULL);
    JsonObject *o = r != NULL && JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;

    return o != NULL && json_object_has_member(o, "running") &&
           !json_object_get_boolean_member(o, "running");
}

/**
 * vb_snapshot_memory_save:
 *
 * With the nested job held (the snapshot job's body): writes the memory state of the
 * running @dom into the memory file; the guest is then paused (reason "snapshot") until
 * vb_snapshot_memory_finish(). A failure removes the temporary file, cancels QEMU's
 * migration and lets the guest run as it did. Phase "memory", with the migration's
 * progress.
 */
gboolean
vb_snapshot_memory_save(VbDomainList *list, VbDomainObj *dom, VbJob *job, VbSnapshotMemory *m,
                        GError **error)
{
    VbSaveWriter w;
    gboolean ok = TRUE;

    vb_domain_snapshot_own_run_state(dom, TRUE);
    g_mutex_lock(&dom->lock);
    m->was_running = dom->state == VB_DOMAIN_STATE_RUNNING;
    if (m->was_running)
        dom->pause_reason = VB_DOMAIN_REASON_SNAPSHOT;
    g_mutex_unlock(&dom->lock);
    if (m->was_running && !m->live) {
        g_autoptr(JsonNode) r = vb_domain_held_monitor(list, dom, "stop", NULL, -1, error);

        if (r == NULL) {
            vb_domain_snapshot_own_run_state(dom, FALSE);
            return FALSE;
        }
        m->paused = TRUE;
        set_paused(list, dom);
    }
    vb_save_writer_init(&w, &m->target, m->xml,
                        m->was_running ? VB_SAVE_RUNNING : VB_SAVE_PAUSED, FALSE,
                        vb_domain_held_monitor, "memory");
    /* Job.Cancel takes a job of its own, which waits for this one: not cancelable */
    w.cancelable = FALSE;
    ok = vb_save_writer_open(list, dom, job, &w, error) &&
         vb_save_writer_migrate(list, dom, job, &w, error);
    if (ok && m->was_running && m->live) {
        /* QEMU stopped the vCPUs at the end of the migration */
        m->paused = TRUE;
        if (!qemu_paused(list, dom))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                          "the guest still runs after the live migration to the memory file");
        set_paused(list, dom);
    }
    ok = ok && vb_save_writer_commit(&w, error);
    if (!ok && error != NULL && *error != NULL && (*error)->domain == VB_ERROR &&
        (*error)->code == VB_ERROR_QEMU &&
        (strstr((*error)->message, "No space left") != NULL ||
         strstr((*error)->message, "Disk quota exceeded") != NULL ||
         strstr((*error)->message, "Input/output error") != NULL)) {
        /* the storage under the memory file: IO, as for the disks' images */
        (*error)->code = VB_ERROR_IO;
    }
    if (!ok)
        g_prefix_error(error, "memory file %s: ", m->path);
    if (!ok) {
        if (!vb_domain_list_shutting_down(list)) {
            vb_save_writer_abort(list, dom, &w);
            if (m->was_running) {
                m->paused = TRUE;
                resume(list, dom, m);
            }
        } else {
            /* the recovery at the next start removes the file and lets the guest run */
            vb_save_writer_forget(&w);
        }
        vb_save_writer_clear(&w);
        vb_domain_snapshot_own_run_state(dom, FALSE);
        return FALSE;
    }
    vb_save_writer_clear(&w);
    g_mutex_lock(&dom->lock);
    g_clear_pointer(&dom->job.temp_path, g_free);
    g_mutex_unlock(&dom->lock);
    m->written = TRUE;
    return TRUE;
}

gboolean
vb_snapshot_memory_was_running(const VbSnapshotMemory *m)
{
    return m->was_running;
}

/**
 * vb_snapshot_memory_finish:
 * @ok: the snapshot stands (else the memory file is removed again)
 * @run: let the guest run again if it ran (not with HALT: the caller shuts it off)
 *
 * After the disks' part. With the nested job held.
 */
void
vb_snapshot_memory_finish(VbDomainList *list, VbDomainObj *dom, VbSnapshotMemory *m,
                          gboolean ok, gboolean run)
{
    if (!ok && m->written && unlinkat(m->target.dir_fd, m->target.base, 0) < 0)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "cannot remove %s again: %s",
                      m->path, g_strerror(errno));
    if (!ok)
        m->written = FALSE;
    if (run || !ok)
        resume(list, dom, m);
    vb_domain_snapshot_own_run_state(dom, FALSE);
}
