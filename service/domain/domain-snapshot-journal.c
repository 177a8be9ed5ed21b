/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include <glib/gstdio.h>

#include "domain-blockops-priv.h"
#include "domain-def-priv.h"
#include "domain-list-priv.h"
#include "domain-snapshot-external.h"
#include "domain-snapshot-journal.h"
#include "domain-snapshot-live.h"
#include "qemu-img-snapshot.h"
#include "snapshot-store.h"
#include "store.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * An external snapshot changes three things that cannot change at once: the files (a new
 * overlay, or an overlay merged and removed), what QEMU has open (blockdev-snapshot, or a
 * commit's pivot) and the definitions (live, status XML, persistent). A service killed in
 * between (SIGKILL, a crash, a power cut) would leave them disagreeing: a guest writing to
 * an overlay that no definition names (its next start would lose the writes), an overlay
 * file and QEMU nodes nothing refers to, a definition naming a file that was merged away.
 *
 * So, before it touches anything, the operation writes a journal,
 * <snapshot_dir>/<uuid>.journal (a key file, written atomically), with what it is about
 * to do; it removes the journal once the definitions are written. A journal found at the
 * service's start (vb_snapshot_journal_recover(), after the reconnection) is resolved
 * from what really is:
 *
 *  - a creation of a running domain: query-block tells whether the disk's top node is the
 *    overlay's (the transaction happened): then the overlay is adopted (live definition,
 *    status XML, and a persistent definition that named the base); else the overlay's
 *    nodes are deleted (blockdev-del) and the overlay files made are removed;
 *  - a creation of an inactive domain: a persistent definition naming the overlay keeps
 *    it; else the overlay made (never used: the domain could not start meanwhile) goes;
 *  - a running creation whose QEMU ended while the service was down: it cannot be known
 *    whether the guest wrote to the overlay; a definition naming it keeps it, else the
 *    overlay is kept and a warning names it (never thrown away: it may hold writes);
 *  - a deletion's commit (running): when the disk's chain shows the commit completed
 *    (the disk runs on the base after a pivot, or the overlay left the chain) the
 *    definitions name what QEMU has, the overlay's nodes and file go, and the snapshot's
 *    metadata goes once none of its overlays is left; else (QEMU's commit was cancelled
 *    at the reconnection) the snapshot stays as it was.
 *
 * The journal of a creation holds the snapshot's XML as it was to be stored, and stays
 * until that is written: a creation whose images stand gets its metadata written back at
 * the recovery (current; a parent deleted since makes it a root); one undone has none. A
 * snapshot's metadata thus never names files that do not exist, and is not lost.
 */

#define QMP_TIMEOUT_MS 30000
#define GROUP "journal"

/* Fault injection: VIRTBUS_TEST_SNAPSHOT_KILL=@point (docs/snapshots.md names them). */
void
vb_snapshot_test_kill_point(const char *point)
{
    vb_test_kill_point("VIRTBUS_TEST_SNAPSHOT_KILL", point);
}

static char *
journal_path(VbDomainList *list, const char *uuid)
{
    g_autofree char *file = g_strconcat(uuid, ".journal", NULL);

    return g_build_filename(list->paths->snapshot_dir, file, NULL);
}

static gboolean
journal_write(VbDomainList *list, VbDomainObj *dom, GKeyFile *kf, GError **error)
{
    g_autofree char *path = journal_path(list, dom->uuid_str);
    g_autofree char *data = g_key_file_to_data(kf, NULL, NULL);

    if (!vb_store_write_atomic(path, data, -1, 0600, error)) {
        g_prefix_error(error, "cannot write the snapshot's journal: ");
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_snapshot_journal_create:
 * @active: the domain runs (the overlays go on top in QEMU)
 * @disks: (element-type VbExtDisk): the disks, their nodes named when @active
 * @metadata: (nullable): the snapshot's XML as it will be stored (none: NO_METADATA)
 *
 * Records an external snapshot's creation before its first overlay is made. It stays
 * until the snapshot's metadata is written (vb_snapshot_journal_remove()). With the job.
 */
gboolean
vb_snapshot_journal_create(VbDomainList *list, VbDomainObj *dom, const char *name,
                           gboolean active, GPtrArray *disks, const char *metadata,
                           GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();

    g_key_file_set_string(kf, GROUP, "op", "create");
    g_key_file_set_string(kf, GROUP, "name", name);
    g_key_file_set_boolean(kf, GROUP, "active", active);
    if (metadata != NULL)
        g_key_file_set_string(kf, GROUP, "metadata", metadata);
    for (guint i = 0; i < disks->len; i++) {
        const VbExtDisk *d = g_ptr_array_index(disks, i);
        g_autofree char *g = g_strdup_printf("disk %u", i);

        g_key_file_set_string(kf, g, "target", d->target);
        g_key_file_set_string(kf, g, "base", d->base);
        g_key_file_set_string(kf, g, "overlay", d->overlay);
        g_key_file_set_boolean(kf, g, "created", !d->reuse);
        if (d->fmt_node != NULL && d->file_node != NULL) {
            g_key_file_set_string(kf, g, "formatNode", d->fmt_node);
            g_key_file_set_string(kf, g, "storageNode", d->file_node);
        }
    }
    return journal_write(list, dom, kf, error);
}

/**
 * vb_snapshot_journal_delete:
 * @top: @overlay is the disk's top (an active commit and a pivot to @base)
 *
 * Records the commit of one disk of snapshot @name's deletion (a running domain) before it
 * starts. With the job.
 */
gboolean
vb_snapshot_journal_delete(VbDomainList *list, VbDomainObj *dom, const char *name,
                           const char *target, const char *overlay, const char *base,
                           const char *base_format, gboolean top, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();

    g_key_file_set_string(kf, GROUP, "op", "delete");
    g_key_file_set_string(kf, GROUP, "name", name);
    g_key_file_set_boolean(kf, GROUP, "active", TRUE);
    g_key_file_set_string(kf, "disk 0", "target", target);
    g_key_file_set_string(kf, "disk 0", "overlay", overlay);
    g_key_file_set_string(kf, "disk 0", "base", base);
    g_key_file_set_string(kf, "disk 0", "baseFormat", base_format);
    g_key_file_set_boolean(kf, "disk 0", "top", top);
    return journal_write(list, dom, kf, error);
}

/**
 * vb_snapshot_journal_remove:
 *
 * The change is complete (or undone): its journal goes. With the job.
 */
void
vb_snapshot_journal_remove(VbDomainList *list, VbDomainObj *dom)
{
    g_autofree char *path = journal_path(list, dom->uuid_str);
    g_autoptr(GError) error = NULL;

    if (!vb_store_remove(path, &error))
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", error->message);
}

/**
 * vb_snapshot_journal_done:
 *
 * vb_snapshot_journal_remove() in a chain of calls (a deletion's journal goes once the
 * snapshot's metadata is gone). Returns: %TRUE
 */
gboolean
vb_snapshot_journal_done(VbDomainList *list, VbDomainObj *dom)
{
    vb_snapshot_journal_remove(list, dom);
    return TRUE;
}

/* ---- recovery, at the service's start ---- */

typedef struct {
    char *target, *base, *base_format, *overlay, *fmt_node, *file_node;
    gboolean created, top;
} JDisk;

static void
jdisk_free(JDisk *d)
{
    g_free(d->target);
    g_free(d->base);
    g_free(d->base_format);
    g_free(d->overlay);
    g_free(d->fmt_node);
    g_free(d->file_node);
    g_free(d);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(JDisk, jdisk_free)

/* The disks of @kf; %NULL when one lacks what it must have. */
static GPtrArray *
read_disks(GKeyFile *kf)
{
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func((GDestroyNotify)jdisk_free);
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

    for (guint i = 0; groups[i] != NULL; i++) {
        g_autoptr(JDisk) d = g_new0(JDisk, 1);

        if (!g_str_has_prefix(groups[i], "disk "))
            continue;
        d->target = g_key_file_get_string(kf, groups[i], "target", NULL);
        d->base = g_key_file_get_string(kf, groups[i], "base", NULL);
        d->base_format = g_key_file_get_string(kf, groups[i], "baseFormat", NULL);
        d->overlay = g_key_file_get_string(kf, groups[i], "overlay", NULL);
        d->fmt_node = g_key_file_get_string(kf, groups[i], "formatNode", NULL);
        d->file_node = g_key_file_get_string(kf, groups[i], "storageNode", NULL);
        d->created = g_key_file_get_boolean(kf, groups[i], "created", NULL);
        d->top = g_key_file_get_boolean(kf, groups[i], "top", NULL);
        if (d->target == NULL || d->base == NULL || d->overlay == NULL ||
            !g_path_is_absolute(d->overlay))
            return NULL;
        g_ptr_array_add(disks, g_steal_pointer(&d));
    }
    return disks->len > 0 ? g_steal_pointer(&disks) : NULL;
}

typedef struct {
    const char *target, *from, *to, *format;
} Rename;

/* A definition whose disk @target names @from names @to (a definition naming another image
 * keeps it). */
static gboolean
rename_source(VbDomainDef *def, gpointer data, GError **error)
{
    const Rename *r = data;
    g_autoptr(GPtrArray) infos = vb_domain_def_get_disk_infos(def);

    for (guint i = 0; i < infos->len; i++) {
        const VbDomainDiskInfo *d = infos->pdata[i];

        if (g_strcmp0(d->target, r->target) == 0 && g_strcmp0(d->path, r->from) == 0)
            vb_domain_def_set_disk_source(def, r->target, r->to, r->format);
    }
    return TRUE;
}

/* Whether the persistent definition of @dom names @path for disk @target. */
static gboolean
persistent_names(VbDomainObj *dom, const char *target, const char *path)
{
    g_autoptr(GPtrArray) infos = NULL;
    gboolean found = FALSE;

    g_mutex_lock(&dom->lock);
    if (dom->persistent)
        infos = vb_domain_def_get_disk_infos(dom->new_def != NULL ? dom->new_def : dom->def);
    g_mutex_unlock(&dom->lock);
    for (guint i = 0; infos != NULL && i < infos->len; i++) {
        const VbDomainDiskInfo *d = infos->pdata[i];

        found |= g_strcmp0(d->target, target) == 0 && g_strcmp0(d->path, path) == 0;
    }
    return found;
}

/* Both definitions: disk @target from @from to @to (the live one only when @dom runs). */
static void
rename_everywhere(VbDomainList *list, VbDomainObj *dom, const Rename *r)
{
    g_autoptr(GError) error = NULL;
    gboolean persistent;

    g_mutex_lock(&dom->lock);
    if (dom->id >= 0)
        rename_source(dom->def, (gpointer)r, NULL);
    persistent = dom->persistent;
    g_mutex_unlock(&dom->lock);
    if (persistent && !vb_domain_persistent_update(list, dom, rename_source, (gpointer)r, FALSE,
                                                   &error))
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "disk %s: the persistent definition "
                      "cannot be changed to %s: %s", r->target, r->to, error->message);
}

static void
unlink_logged(VbDomainObj *dom, const char *what, const char *path)
{
    if (g_unlink(path) < 0 && errno != ENOENT)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "cannot remove %s %s: %s", what,
                      path, g_strerror(errno));
}

static void
blockdev_del(VbQemuMonitor *mon, const char *node)
{
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args;

    if (node == NULL)
        return;
    args = json_object_new();
    json_object_set_string_member(args, "node-name", node);
    r = vb_qemu_monitor_command(mon, "blockdev-del", args, QMP_TIMEOUT_MS, NULL);
}

static const char *
jstr(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n) : NULL;
}

/* query-named-block-nodes: the file of format node @node, or the format node of @file. */
static char *
named_lookup(VbQemuMonitor *mon, const char *node, const char *file)
{
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args = json_object_new();
    JsonArray *all;

    json_object_set_boolean_member(args, "flat", TRUE);
    r = vb_qemu_monitor_command(mon, "query-named-block-nodes", args, QMP_TIMEOUT_MS, NULL);
    all = r != NULL && JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;
    for (guint j = 0; all != NULL && j < json_array_get_length(all); j++) {
        JsonNode *n = json_array_get_element(all, j);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        const char *name = jstr(o, "node-name");

        if (name == NULL || g_strcmp0(jstr(o, "drv"), "file") == 0)
            continue;
        if (node != NULL && g_str_equal(name, node))
            return g_strdup(jstr(o, "file"));
        if (file != NULL && g_strcmp0(jstr(o, "file"), file) == 0)
            return g_strdup(name);
    }
    return NULL;
}

/* The disk's top node in QEMU (NULL when QEMU does not say). */
static char *
top_node(VbDomainObj *dom, VbQemuMonitor *mon, const char *target)
{
    g_autoptr(GPtrArray) targets = g_ptr_array_new();
    g_autoptr(JsonArray) nodes = NULL;
    g_autoptr(GError) error = NULL;

    g_ptr_array_add(targets, (gpointer)target);
    nodes = vb_domain_snapshot_disk_nodes(dom, mon, targets, &error);
    if (nodes == NULL || json_array_get_length(nodes) == 0) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "disk %s: QEMU does not tell its "
                      "top node: %s", target, error != NULL ? error->message : "no node");
        return NULL;
    }
    return g_strdup(json_array_get_string_element(nodes, 0));
}

static VbQemuMonitor *
monitor_if_running(VbDomainObj *dom)
{
    VbQemuMonitor *mon = NULL;

    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 && dom->mon != NULL)
        mon = vb_qemu_monitor_ref(dom->mon);
    g_mutex_unlock(&dom->lock);
    return mon;
}

/* The metadata of a creation whose images stand: written as the snapshot would have been
 * (current, its parent the current one at the time), unless a snapshot of that name is
 * there. Returns what the log says of it. */
static const char *
restore_metadata(VbDomainList *list, VbDomainObj *dom, const char *name, const char *metadata)
{
    g_autoptr(GError) error = NULL;
    VbSnapshotDef *def;

    if (metadata == NULL)
        return "it had no metadata (NO_METADATA)";
    if (dom->snapshots == NULL)
        dom->snapshots = vb_snapshot_store_load(list->paths->snapshot_dir, dom->uuid_str,
                                                &error);
    if (dom->snapshots == NULL) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "snapshot '%s': %s", name,
                      error->message);
        return "its metadata is lost (the snapshots cannot be read)";
    }
    if (vb_snapshot_store_lookup(dom->snapshots, name) != NULL)
        return "its metadata was written";
    def = vb_snapshot_def_parse_string(metadata, VB_SNAPSHOT_PARSE_INTERNAL, &error);
    if (def != NULL && def->parent_name != NULL &&
        vb_snapshot_store_lookup(dom->snapshots, def->parent_name) == NULL)
        g_clear_pointer(&def->parent_name, g_free); /* deleted since: a root */
    if (def == NULL || !vb_snapshot_store_add(dom->snapshots, def, TRUE, &error)) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "snapshot '%s': %s", name,
                      error->message);
        return "its metadata is lost (it cannot be written back)";
    }
    return "its metadata is written back (the snapshot is listed, current)";
}

/* Whether the journal is resolved (else it stays for the next start). */
static gboolean
recover_create(VbDomainList *list, VbDomainObj *dom, const char *name, gboolean active,
               GPtrArray *disks, const char *metadata)
{
    g_autoptr(VbQemuMonitor) mon = active ? monitor_if_running(dom) : NULL;
    guint switched = 0;

    for (guint i = 0; mon != NULL && i < disks->len; i++) {
        JDisk *d = g_ptr_array_index(disks, i);
        g_autofree char *top = top_node(dom, mon, d->target);

        if (top == NULL) {
            /* never remove an overlay QEMU may write to: the next start asks again */
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "external snapshot '%s' was "
                          "interrupted, and QEMU does not tell disk %s's top image: nothing "
                          "is changed now", name, d->target);
            return FALSE;
        }
        if (d->fmt_node != NULL && g_strcmp0(top, d->fmt_node) == 0) {
            Rename r = { d->target, d->base, d->overlay, "qcow2" };

            rename_everywhere(list, dom, &r);
            switched++;
        }
    }
    if (switched > 0) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                      "external snapshot '%s' was interrupted by the service's end after its "
                      "disks switched to the new images: the definitions name them now; %s",
                      name, restore_metadata(list, dom, name, metadata));
        vb_domain_status_save(list, dom, NULL);
        return TRUE;
    }
    for (guint i = 0; i < disks->len; i++) {
        JDisk *d = g_ptr_array_index(disks, i);

        if (persistent_names(dom, d->target, d->overlay)) {
            VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                          "external snapshot '%s' was interrupted after the definition "
                          "named %s: it stays; %s", name, d->overlay,
                          restore_metadata(list, dom, name, metadata));
            continue;
        }
        if (mon != NULL) {
            blockdev_del(mon, d->fmt_node);
            blockdev_del(mon, d->file_node);
        }
        if (active && mon == NULL) {
            if (d->created && g_file_test(d->overlay, G_FILE_TEST_EXISTS))
                VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                              "external snapshot '%s' was interrupted and the domain's QEMU "
                              "ended meanwhile: whether the guest wrote to %s cannot be "
                              "known; it is kept (no definition names it)", name,
                              d->overlay);
            continue;
        }
        if (d->created)
            unlink_logged(dom, "the unused overlay", d->overlay);
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                  "external snapshot '%s' was interrupted by the service's end before its "
                  "disks switched: what it had made is removed, the disks are unchanged",
                  name);
    return TRUE;
}

/* The snapshot's metadata goes once none of its external images is left. */
static void
drop_metadata_if_gone(VbDomainList *list, VbDomainObj *dom, const char *name)
{
    g_autoptr(GError) error = NULL;
    const VbSnapshotDef *snap;

    if (dom->snapshots == NULL)
        dom->snapshots = vb_snapshot_store_load(list->paths->snapshot_dir, dom->uuid_str,
                                                &error);
    snap = dom->snapshots != NULL ? vb_snapshot_store_lookup(dom->snapshots, name) : NULL;
    if (snap == NULL)
        return;
    for (guint i = 0; snap->disks != NULL && i < snap->disks->len; i++) {
        const VbSnapshotDiskDef *sd = g_ptr_array_index(snap->disks, i);

        if (sd->snapshot == VB_SNAPSHOT_LOCATION_EXTERNAL && sd->source_path != NULL &&
            g_file_test(sd->source_path, G_FILE_TEST_EXISTS)) {
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "snapshot '%s' is partly "
                          "deleted: %s is still there; delete it again", name,
                          sd->source_path);
            return;
        }
    }
    if (!vb_snapshot_store_remove(dom->snapshots, name, 0, &error))
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "snapshot '%s': %s", name,
                      error->message);
}

/* The files of @img's chain, or NULL. */
static GPtrArray *
backing_chain(const VbQemuImgDisk *img)
{
    g_autoptr(GPtrArray) formats = NULL;

    return vb_qemu_img_backing_chain(img, &formats, NULL);
}

/* An inactive domain's deletion (qemu-img commit; or a running one's whose QEMU ended):
 * done when the overlay left the persistent definition's chain. */
static void
recover_delete_inactive(VbDomainList *list, VbDomainObj *dom, const char *name, JDisk *d)
{
    g_autoptr(GPtrArray) infos = NULL;
    g_autoptr(GPtrArray) chain = NULL;
    g_autofree char *path = NULL;

    g_mutex_lock(&dom->lock);
    if (dom->persistent)
        infos = vb_domain_def_get_disk_infos(dom->new_def != NULL ? dom->new_def : dom->def);
    g_mutex_unlock(&dom->lock);
    for (guint i = 0; infos != NULL && i < infos->len; i++) {
        const VbDomainDiskInfo *info = infos->pdata[i];

        if (g_strcmp0(info->target, d->target) == 0)
            path = g_strdup(info->path);
    }
    if (path != NULL) {
        VbQemuImgDisk img = { .target = d->target, .path = path };

        chain = backing_chain(&img);
    }
    if (chain == NULL ||
        g_ptr_array_find_with_equal_func(chain, d->overlay, g_str_equal, NULL)) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "the deletion of snapshot '%s' was "
                      "interrupted before disk %s's definition left %s: the snapshot stays "
                      "(delete it again)", name, d->target, d->overlay);
        return;
    }
    unlink_logged(dom, "the merged overlay", d->overlay);
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "the deletion of snapshot '%s' was "
                  "interrupted after disk %s was merged: %s is removed", name, d->target,
                  d->overlay);
    drop_metadata_if_gone(list, dom, name);
}

static void
recover_delete(VbDomainList *list, VbDomainObj *dom, const char *name, GPtrArray *disks)
{
    g_autoptr(VbQemuMonitor) mon = monitor_if_running(dom);
    JDisk *d = g_ptr_array_index(disks, 0);
    g_autofree char *top = NULL;
    g_autofree char *top_file = NULL;
    gboolean done;

    if (mon == NULL) {
        recover_delete_inactive(list, dom, name, d);
        return;
    }
    top = top_node(dom, mon, d->target);
    top_file = top != NULL ? named_lookup(mon, top, NULL) : NULL;
    if (top_file == NULL)
        return;
    if (d->top) {
        done = g_str_equal(top_file, d->base);
    } else {
        VbQemuImgDisk img = { .target = d->target, .path = top_file };
        g_autoptr(GPtrArray) chain = backing_chain(&img);

        done = chain != NULL && !g_ptr_array_find_with_equal_func(chain, d->overlay,
                                                                  g_str_equal, NULL);
    }
    if (!done) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "the deletion of snapshot '%s' was "
                      "interrupted before disk %s's commit completed: the commit is "
                      "cancelled, the snapshot stays", name, d->target);
        return;
    }
    if (d->top) {
        Rename r = { d->target, d->overlay, d->base,
                     d->base_format != NULL ? d->base_format : "qcow2" };

        rename_everywhere(list, dom, &r);
    }
    /* the overlay's nodes, out of the graph now (as the deletion drops them) */
    d->fmt_node = named_lookup(mon, NULL, d->overlay);
    if (d->fmt_node != NULL && g_str_has_suffix(d->fmt_node, "-format")) {
        g_autofree char *storage = vb_block_storage_node(d->fmt_node);

        blockdev_del(mon, d->fmt_node);
        blockdev_del(mon, storage);
    }
    unlink_logged(dom, "the merged overlay", d->overlay);
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "the deletion of snapshot '%s' was "
                  "interrupted after disk %s's commit completed: the disk runs on %s, the "
                  "definitions say so, %s is removed", name, d->target, top_file, d->overlay);
    drop_metadata_if_gone(list, dom, name);
    vb_domain_status_save(list, dom, NULL);
}

static void
recover_one(VbDomainList *list, const char *dir, const char *file)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);
    g_autofree char *uuid = g_strndup(file, strlen(file) - strlen(".journal"));
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainObj) dom = NULL;
    g_autoptr(GPtrArray) disks = NULL;
    g_autofree char *op = NULL;
    g_autofree char *name = NULL;

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &error) ||
        (op = g_key_file_get_string(kf, GROUP, "op", &error)) == NULL ||
        (name = g_key_file_get_string(kf, GROUP, "name", &error)) == NULL ||
        (disks = read_disks(kf)) == NULL) {
        g_warning("snapshot journal %s cannot be read (%s); it is removed, nothing is "
                  "changed", path, error != NULL ? error->message : "a disk lacks its images");
        g_unlink(path);
        return;
    }
    dom = vb_domain_list_find_by_uuid(list, uuid, NULL);
    if (dom == NULL) {
        g_warning("snapshot journal %s: no domain has UUID %s; it is removed", path, uuid);
        g_unlink(path);
        return;
    }
    if (g_str_equal(op, "create")) {
        g_autofree char *metadata = g_key_file_get_string(kf, GROUP, "metadata", NULL);

        if (!recover_create(list, dom, name, g_key_file_get_boolean(kf, GROUP, "active", NULL),
                            disks, metadata))
            return;
    }
    if (g_str_equal(op, "delete"))
        recover_delete(list, dom, name, disks);
    vb_snapshot_journal_remove(list, dom);
}

/**
 * vb_snapshot_journal_recover:
 *
 * Resolves the journals of external snapshot changes that the service's end interrupted
 * (see the top of this file). At start-up, after vb_domain_list_reconnect() took the running
 * domains back, before the bus name is owned.
 */
void
vb_snapshot_journal_recover(VbDomainList *list)
{
    g_autoptr(GDir) d = g_dir_open(list->paths->snapshot_dir, 0, NULL);
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
    const char *entry;

    while (d != NULL && (entry = g_dir_read_name(d)) != NULL) {
        if (g_str_has_suffix(entry, ".journal") && strlen(entry) == 36 + strlen(".journal"))
            g_ptr_array_add(found, g_strdup(entry));
    }
    for (guint i = 0; i < found->len; i++)
        recover_one(list, list->paths->snapshot_dir, found->pdata[i]);
}
