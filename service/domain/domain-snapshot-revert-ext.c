/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "domain-def-hotplug.h"
#include "domain-def-priv.h"
#include "domain-list-priv.h"
#include "domain-snapshot-external.h"
#include "domain-snapshot-revert-ext.h"
#include "domain-snapshot-start.h"
#include "domain-snapshot.h"
#include "qemu-img-snapshot.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * Reverts to external snapshots (issue 15, extrevert), as libvirt >= 9.7 does them. An
 * external snapshot S made, for each external disk, an overlay on top of the disk's image
 * then; S's <domain> names those images. They hold the disks as they were at S and must
 * not be written (other overlays may sit on them). A revert to S therefore gives each of
 * S's external disks a NEW qcow2 overlay whose backing file is S's image for the disk,
 * named after S's overlay with a suffix "-N" (the first N >= 1 with no such file), and the
 * domain's definition becomes S's <domain> (its <inactiveDomain> when it has one) with
 * those overlays as the disks' sources. The overlays the domain used before stay (they
 * belong to the branch it leaves). S records the new overlays as <revertDisks>.
 *  - inactive domain, disk-only S: the overlays, then the definition; with RUNNING or
 *    PAUSED QEMU boots from them (a running domain: its QEMU stops first, Stopped detail
 *    "from-snapshot"; RUNNING/PAUSED then need FORCE, as for every snapshot);
 *  - S with an external memory state (running/paused): QEMU starts with "-incoming" from
 *    S's memory file (a virtbus save image), running or paused as S was (RUNNING/PAUSED
 *    override), reason "from-snapshot".
 * Nothing changes before every check passed (missing images, the memory file, names);
 * a failure after the overlays were made removes them again and leaves the definition
 * and the current snapshot as they were (a running domain's QEMU, once stopped, stays
 * stopped, as libvirt). Deleting S, or a snapshot whose overlay is the image of a
 * reverted snapshot, is refused (vb_snapshot_revert_ext_check_delete()): its image is
 * the base of two branches, and merging it into either would change the other.
 */

/* One disk of a revert: the image at the snapshot and the new overlay on it. */

static gboolean
wants_start(const VbSnapshotDef *snap, guint flags)
{
    return !vb_snapshot_def_is_offline(snap) ||
           (flags & (VB_SNAPSHOT_REVERT_RUNNING | VB_SNAPSHOT_REVERT_PAUSED));
}

/* The disks of @snap a revert gives new overlays, checked against the file system; with
 * @pick the new overlays' names are chosen (never an existing file). */
static GPtrArray *
rev_disks(const VbSnapshotDef *snap, gboolean pick, GError **error)
{
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func((GDestroyNotify)vb_ext_disk_free);

    for (guint i = 0; i < snap->disks->len; i++) {
        const VbSnapshotDiskDef *sd = g_ptr_array_index(snap->disks, i);
        const VbDeviceDef *dev;
        VbExtDisk *d;

        if (sd->snapshot != VB_SNAPSHOT_LOCATION_EXTERNAL)
            continue;
        dev = vb_domain_def_find_disk(snap->dom, sd->name);
        if (dev == NULL || dev->source_path == NULL || g_strcmp0(dev->type, "file") != 0 ||
            sd->source_path == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "snapshot '%s': disk %s: reverting needs the snapshot's image as a "
                        "file in the snapshot's <domain> and its overlay in <disks>",
                        snap->name, sd->name);
            return NULL;
        }
        if (!g_file_test(dev->source_path, G_FILE_TEST_IS_REGULAR)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "snapshot '%s': disk %s: the image it holds the disk in, %s, does not "
                        "exist (or is not a regular file); the snapshot cannot be reverted "
                        "to", snap->name, sd->name, dev->source_path);
            return NULL;
        }
        if (strchr(sd->source_path, ',') != NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "snapshot '%s': disk %s: overlay name %s holds a comma", snap->name,
                        sd->name, sd->source_path);
            return NULL;
        }
        d = g_new0(VbExtDisk, 1);
        g_ptr_array_add(disks, d);
        d->target = g_strdup(sd->name);
        d->base = g_strdup(dev->source_path);
        d->base_format = g_strdup(dev->driver_type != NULL ? dev->driver_type : "raw");
        d->snap_overlay = g_strdup(sd->source_path);
        for (guint n = 1; pick && d->overlay == NULL && n < 10000; n++) {
            g_autofree char *cand = g_strdup_printf("%s-%u", sd->source_path, n);
            gboolean taken = g_file_test(cand, G_FILE_TEST_EXISTS);

            for (guint j = 0; !taken && j + 1 < disks->len; j++)
                taken = g_str_equal(((VbExtDisk *)g_ptr_array_index(disks, j))->overlay, cand);
            if (!taken)
                d->overlay = g_steal_pointer(&cand);
        }
        if (pick && d->overlay == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "snapshot '%s': disk %s: no free name %s-N for the revert's overlay",
                        snap->name, sd->name, sd->source_path);
            return NULL;
        }
    }
    if (disks->len == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "snapshot '%s' holds no external disk to revert to", snap->name);
        return NULL;
    }
    return g_steal_pointer(&disks);
}

/* The memory state of @snap, opened and checked against @run_def before anything changes. */
static VbRestoreImage *
open_memory(const VbSnapshotDef *snap, VbDomainObj *dom, const VbDomainDef *run_def,
            GError **error)
{
    VbRestoreImage *image = vb_restore_image_open(snap->memory_file, (guint32)geteuid(), error);

    if (image == NULL) {
        g_prefix_error(error, "snapshot '%s': its memory state cannot be restored: ",
                       snap->name);
        return NULL;
    }
    if (g_strcmp0(vb_restore_image_get_uuid(image), dom->uuid_str) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "snapshot '%s': memory file %s holds domain %s, not this one (%s)",
                    snap->name, snap->memory_file, vb_restore_image_get_uuid(image),
                    dom->uuid_str);
        vb_restore_image_free(image);
        return NULL;
    }
    if (!vb_domain_def_check_abi_stability(vb_restore_image_get_def(image), run_def, error)) {
        g_prefix_error(error, "snapshot '%s': its <domain> does not match the guest in memory "
                       "file %s: ", snap->name, snap->memory_file);
        vb_restore_image_free(image);
        return NULL;
    }
    return image;
}

/**
 * vb_snapshot_revert_ext_check:
 * @flags: libvirt's virDomainSnapshotRevertFlags
 *
 * With the domain's job: whether @dom can go back to the external snapshot @snap, checked
 * before anything changes (the method's reply).
 */
gboolean
vb_snapshot_revert_ext_check(VbDomainObj *dom, const VbSnapshotDef *snap, guint flags,
                             GError **error)
{
    gboolean offline = vb_snapshot_def_is_offline(snap);
    gboolean active, persistent;
    g_autoptr(GPtrArray) disks = NULL;

    g_mutex_lock(&dom->lock);
    active = dom->id >= 0 || dom->starting;
    persistent = dom->persistent;
    g_mutex_unlock(&dom->lock);
    if (snap->dom == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "snapshot '%s' holds no domain definition (<domain>) to revert to",
                    snap->name);
        return FALSE;
    }
    if (!offline && (snap->memory != VB_SNAPSHOT_LOCATION_EXTERNAL || snap->memory_file == NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "snapshot '%s': reverting to external disks with an internal memory state "
                    "is not supported", snap->name);
        return FALSE;
    }
    if (active && offline && (flags & (VB_SNAPSHOT_REVERT_RUNNING | VB_SNAPSHOT_REVERT_PAUSED)) &&
        !(flags & VB_SNAPSHOT_REVERT_FORCE)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "revert requires FORCE (4): snapshot '%s' holds no memory state (%s); "
                    "running the domain from it means a new QEMU", snap->name,
                    vb_snapshot_state_to_string(snap->state));
        return FALSE;
    }
    if (active && !persistent) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "the domain is transient: a revert to snapshot '%s' would stop its QEMU, "
                    "and a transient domain is gone when it stops", snap->name);
        return FALSE;
    }
    if ((flags & VB_SNAPSHOT_REVERT_RESET_NVRAM) && (!wants_start(snap, flags) || !offline)) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "Snapshot.Revert: RESET_NVRAM (8) applies only to a revert to a disk-only "
                    "snapshot that boots the domain (RUNNING or PAUSED); snapshot '%s' %s",
                    snap->name, offline ? "would leave it shut off" : "restores its memory");
        return FALSE;
    }
    disks = rev_disks(snap, FALSE, error);
    if (disks == NULL)
        return FALSE;
    if (!offline) {
        VbRestoreImage *image = open_memory(snap, dom, snap->dom, error);

        if (image == NULL)
            return FALSE;
        vb_restore_image_free(image);
    }
    return TRUE;
}

/* A copy of @def named @name whose reverted disks use the new overlays. */
static VbDomainDef *
with_overlays(const VbDomainDef *def, const char *name, GPtrArray *disks, GError **error)
{
    VbDomainDef *copy = vb_snapshot_domain_copy_named(def, name, error);

    for (guint i = 0; copy != NULL && i < disks->len; i++) {
        const VbExtDisk *d = g_ptr_array_index(disks, i);

        vb_domain_def_set_disk_source(copy, d->target, d->overlay, "qcow2");
    }
    return copy;
}

/* A copy of the stored @snap recording @disks as its <revertDisks>. */
static VbSnapshotDef *
with_revert_disks(const VbSnapshotDef *snap, GPtrArray *disks, GError **error)
{
    g_autofree char *xml = vb_snapshot_def_format(snap, VB_SNAPSHOT_FORMAT_INTERNAL |
                                                            VB_SNAPSHOT_FORMAT_SECURE, error);
    VbSnapshotDef *copy = xml != NULL ? vb_snapshot_def_parse_string(
                                            xml, VB_SNAPSHOT_PARSE_INTERNAL, error)
                                      : NULL;

    if (copy == NULL)
        return NULL;
    g_clear_pointer(&copy->revert_disks, g_ptr_array_unref);
    copy->revert_disks = g_ptr_array_new_with_free_func(
        (GDestroyNotify)vb_snapshot_disk_def_free);
    for (guint i = 0; i < disks->len; i++) {
        const VbExtDisk *d = g_ptr_array_index(disks, i);

        g_ptr_array_add(copy->revert_disks,
                        vb_snapshot_disk_def_new_file(d->target, d->overlay, "qcow2"));
    }
    return copy;
}

/* QEMU from the new overlays: a fresh boot, or the memory state restored. */
static gboolean
start_reverted(VbDomainList *list, VbDomainObj *dom, const VbSnapshotDef *snap,
               const VbDomainDef *run_def, VbRestoreImage *image, guint flags, GError **error)
{
    gboolean run = (flags & VB_SNAPSHOT_REVERT_RUNNING) ? TRUE
                   : (flags & VB_SNAPSHOT_REVERT_PAUSED) ? FALSE
                                                         : snap->state == VB_SNAPSHOT_STATE_RUNNING;
    VbStartExtra extra = { .def = run_def, .from_snapshot = TRUE };
    guint start_flags = run ? 0 : VB_START_PAUSED;

    if (image != NULL)
        return vb_restore_image_load_locked(list, dom, image, run_def, run, error);
    if (flags & VB_SNAPSHOT_REVERT_RESET_NVRAM)
        start_flags |= VB_START_RESET_NVRAM;
    return vb_domain_start_locked_full(list, dom, start_flags, NULL, FALSE, &extra, error);
}

/**
 * vb_snapshot_revert_ext_run:
 * @store: the domain's snapshots
 * @name: the external snapshot
 *
 * With the domain's job: the revert (see the top of this file); then @name records the
 * new overlays (<revertDisks>) and is the current snapshot. Job thread.
 */
gboolean
vb_snapshot_revert_ext_run(VbDomainList *list, VbDomainObj *dom, VbSnapshotStore *store,
                           const char *name, guint flags, GError **error)
{
    const VbSnapshotDef *snap = vb_snapshot_store_lookup(store, name);
    g_autoptr(GPtrArray) disks = NULL;
    g_autoptr(VbDomainDef) run_def = NULL;
    g_autoptr(VbDomainDef) inactive = NULL;
    g_autoptr(VbSnapshotDef) recorded = NULL;
    g_autoptr(GError) define_error = NULL;
    g_autofree char *dom_name = NULL;
    VbRestoreImage *image = NULL;
    gboolean active, start, ok;
    VbDomainObj *defined;

    if (snap == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_SNAPSHOT, "no domain snapshot named '%s'",
                    name);
        return FALSE;
    }
    if (!vb_snapshot_revert_ext_check(dom, snap, flags, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    active = dom->id >= 0 || dom->starting;
    dom_name = g_strdup(dom->def->name);
    g_mutex_unlock(&dom->lock);
    start = wants_start(snap, flags);
    disks = rev_disks(snap, TRUE, error);
    if (disks == NULL)
        return FALSE;
    run_def = with_overlays(snap->dom, dom_name, disks, error);
    if (run_def == NULL)
        return FALSE;
    inactive = with_overlays(snap->inactive_dom != NULL ? snap->inactive_dom : snap->dom,
                             dom_name, disks, error);
    if (inactive == NULL)
        return FALSE;
    recorded = with_revert_disks(snap, disks, error);
    if (recorded == NULL)
        return FALSE;
    if (!vb_snapshot_def_is_offline(snap)) {
        image = open_memory(snap, dom, run_def, error);
        if (image == NULL)
            return FALSE;
    }
    if (!vb_snapshot_external_create_overlays(disks, error)) {
        g_prefix_error(error, "revert to snapshot '%s': ", name);
        vb_restore_image_free(image);
        return FALSE;
    }
    if (active) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom_name, "revert to snapshot '%s': stopping QEMU",
                      name);
        vb_domain_teardown(list, dom, VB_DOMAIN_REASON_FROM_SNAPSHOT);
    }
    ok = !start || start_reverted(list, dom, snap, run_def, image, flags, error);
    vb_restore_image_free(image);
    if (!ok) {
        vb_snapshot_external_remove_created(disks);
        g_prefix_error(error, "revert to snapshot '%s'%s: ", name,
                       active ? " (the domain was stopped for it and stays shut off)" : "");
        return FALSE;
    }
    /* the domain runs on the overlays (or is shut off): now the definition names them */
    defined = vb_domain_define(list, g_steal_pointer(&inactive), &define_error);
    if (defined == NULL && !start) {
        vb_snapshot_external_remove_created(disks);
        g_propagate_prefixed_error(error, g_steal_pointer(&define_error),
                                   "revert to snapshot '%s': ", name);
        return FALSE;
    }
    if (defined == NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom_name,
                      "reverted to snapshot '%s', but its definition could not be made the "
                      "domain's: %s", name, define_error->message);
    else
        vb_domain_obj_unref(defined);
    for (guint i = 0; i < disks->len; i++) {
        const VbExtDisk *d = g_ptr_array_index(disks, i);

        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom_name, "revert to snapshot '%s': disk %s on %s "
                      "(over %s; %s stays)", name, d->target, d->overlay, d->base,
                      d->snap_overlay);
    }
    if (!vb_snapshot_store_add(store, g_steal_pointer(&recorded), TRUE, error)) {
        g_prefix_error(error, "reverted to snapshot '%s' (the disks use new overlays), but "
                       "the snapshot's metadata could not record them: ", name);
        return FALSE;
    }
    return TRUE;
}

static gboolean
names_image(const VbDomainDef *def, const char *path)
{
    g_autoptr(GPtrArray) infos = def != NULL ? vb_domain_def_get_disk_infos(def) : NULL;

    for (guint i = 0; infos != NULL && i < infos->len; i++) {
        const VbDomainDiskInfo *info = g_ptr_array_index(infos, i);

        if (g_strcmp0(info->path, path) == 0)
            return TRUE;
    }
    return FALSE;
}

/**
 * vb_snapshot_revert_ext_check_delete:
 * @snap: an external snapshot to delete with its images
 *
 * Refuses (OperationInvalid) a deletion that would merge an image two branches sit on: a
 * snapshot that was reverted to (its image is the base of its own overlay and of the
 * revert's), or one whose overlay is the image of a snapshot that was reverted to.
 */
gboolean
vb_snapshot_revert_ext_check_delete(VbSnapshotStore *store, const VbSnapshotDef *snap,
                                    GError **error)
{
    g_autoptr(GPtrArray) all = NULL;

    if (snap->revert_disks != NULL && snap->revert_disks->len > 0) {
        const VbSnapshotDiskDef *rd = g_ptr_array_index(snap->revert_disks, 0);

        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "snapshot '%s' was reverted to: its images are the base of its own "
                    "overlays and of the revert's (%s, ...); merging them would change the "
                    "other branch. Delete it with METADATA_ONLY (2) (the images stay)",
                    snap->name, rd->source_path);
        return FALSE;
    }
    all = vb_snapshot_store_topological(store);
    for (guint i = 0; i < all->len; i++) {
        const VbSnapshotDef *other = vb_snapshot_store_lookup(store, all->pdata[i]);

        if (other == NULL || other == snap || other->revert_disks == NULL ||
            other->revert_disks->len == 0)
            continue;
        for (guint j = 0; j < snap->disks->len; j++) {
            const VbSnapshotDiskDef *sd = g_ptr_array_index(snap->disks, j);

            if (sd->snapshot != VB_SNAPSHOT_LOCATION_EXTERNAL || sd->source_path == NULL ||
                !names_image(other->dom, sd->source_path))
                continue;
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "snapshot '%s': its image %s is the state of snapshot '%s', which was "
                        "reverted to, and the base of two branches now; merging it would "
                        "change one of them. Delete it with METADATA_ONLY (2) (the images "
                        "stay)", snap->name, sd->source_path, other->name);
            return FALSE;
        }
    }
    return TRUE;
}
