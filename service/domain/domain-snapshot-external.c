/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>

#include "domain-agent.h"
#include "domain-blockops-priv.h"
#include "domain-chain.h"
#include "domain-def-hotplug.h"
#include "domain-def-priv.h"
#include "domain-list-priv.h"
#include "domain-snapshot-external.h"
#include "domain-snapshot-journal.h" /* issue 15, part svckill */
#include "domain-snapshot-live.h"
#include "qemu-img-snapshot.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * External disk snapshots (issue 15): each disk the snapshot gives snapshot='external'
 * gets a new qcow2 overlay whose backing file is the disk's image, and the overlay becomes
 * the disk's source; the image below keeps the disk as it was at the snapshot. As libvirt
 * does:
 *  - the overlay is the snapshot's <source file=>, by default the image's path with its
 *    last suffix replaced by the snapshot's name (/v/a.qcow2 -> /v/a.NAME); it must not
 *    exist, unless REUSE_EXT, which takes an existing file as it is;
 *  - of an inactive domain, `qemu-img create -b` and the persistent definition's source;
 *  - of a running one, `qemu-img create -u` (QEMU holds the image), `blockdev-add` of the
 *    overlay and one `transaction` of `blockdev-snapshot` actions, so all disks switch or
 *    none (ATOMIC is always so); then the live definition and the persistent one. QUIESCE
 *    freezes the guest's file systems through the agent meanwhile.
 * A failure before the switch removes what was made (the overlays created here, the nodes
 * added); after it nothing is undone, the snapshot stands. Workers, with the domain's job
 * (or the async snapshot job's nested job) held.
 */

#define QMP_TIMEOUT_MS 30000

void
vb_ext_disk_free(VbExtDisk *d)
{
    if (d == NULL)
        return;
    g_free(d->target);
    g_free(d->base);
    g_free(d->base_format);
    g_free(d->overlay);
    g_free(d->top_node);
    g_free(d->fmt_node);
    g_free(d->file_node);
    g_free(d->snapshot);
    g_free(d->snap_overlay);
    g_free(d);
}

/* libvirt's default overlay: the image's path with its last suffix replaced by @name. */
static char *
default_overlay(const char *base, const char *name)
{
    const char *slash = strrchr(base, '/');
    const char *dot = strrchr(base, '.');

    if (dot != NULL && (slash == NULL || dot > slash + 1))
        return g_strdup_printf("%.*s.%s", (int)(dot - base), base, name);
    return g_strdup_printf("%s.%s", base, name);
}

/* Whether any disk of @snap (aligned) is external; refuses a mix with internal ones. */
gboolean
vb_snapshot_external_wanted(const VbSnapshotDef *snap, gboolean *out_external, GError **error)
{
    gboolean internal = FALSE, external = FALSE;

    for (guint i = 0; snap->disks != NULL && i < snap->disks->len; i++) {
        const VbSnapshotDiskDef *d = g_ptr_array_index(snap->disks, i);

        internal |= d->snapshot == VB_SNAPSHOT_LOCATION_INTERNAL;
        external |= d->snapshot == VB_SNAPSHOT_LOCATION_EXTERNAL;
        if (d->snapshot == VB_SNAPSHOT_LOCATION_MANUAL) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "disk %s: snapshot='manual' is not implemented", d->name);
            return FALSE;
        }
    }
    if (internal && external) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "a snapshot mixing internal and external disks is not supported "
                            "(libvirt refuses it too); give every disk the same kind, or "
                            "snapshot='no'");
        return FALSE;
    }
    *out_external = external;
    return TRUE;
}

/**
 * vb_snapshot_external_disks:
 * @snap: the new snapshot, its disks aligned with @def's; the external ones get their
 *   overlay's path and format recorded
 * @named: the targets the snapshot's XML named (explicitly), others were defaulted
 *
 * Checks the external disks of @snap against @def and the file system.
 *
 * Returns: (transfer full) (element-type VbExtDisk): the disks, or %NULL
 */
GPtrArray *
vb_snapshot_external_disks(VbSnapshotDef *snap, const VbDomainDef *def, GHashTable *named,
                           gboolean reuse, GError **error)
{
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func((GDestroyNotify)vb_ext_disk_free);
    g_autoptr(GHashTable) overlays = g_hash_table_new(g_str_hash, g_str_equal);

    for (guint i = 0; i < snap->disks->len; i++) {
        VbSnapshotDiskDef *sd = g_ptr_array_index(snap->disks, i);
        const VbDeviceDef *dev;
        VbExtDisk *d;

        if (sd->snapshot != VB_SNAPSHOT_LOCATION_EXTERNAL)
            continue;
        dev = vb_domain_def_find_disk(def, sd->name);
        if (dev == NULL || dev->source_path == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "disk %s has no image to take "
                        "an external snapshot of", sd->name);
            return NULL;
        }
        if (dev->readonly || g_strcmp0(dev->device, "cdrom") == 0 ||
            g_strcmp0(dev->device, "floppy") == 0) {
            if (g_hash_table_contains(named, sd->name)) {
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "disk %s is read-only: it cannot take an external snapshot; give "
                            "it snapshot='no'", sd->name);
                return NULL;
            }
            sd->snapshot = VB_SNAPSHOT_LOCATION_NO;
            continue;
        }
        if (g_strcmp0(dev->type, "file") != 0 ||
            (sd->type != NULL && g_strcmp0(sd->type, "file") != 0)) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "disk %s: external snapshots of type='%s' disks (or into a %s) are not "
                        "implemented; only files", sd->name, dev->type,
                        sd->type != NULL ? sd->type : "file");
            return NULL;
        }
        if (sd->driver_type != NULL && g_strcmp0(sd->driver_type, "qcow2") != 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "disk %s: an external snapshot's image of format '%s' is not "
                        "supported; only qcow2 (an overlay needs a backing file)", sd->name,
                        sd->driver_type);
            return NULL;
        }
        d = g_new0(VbExtDisk, 1);
        g_ptr_array_add(disks, d);
        d->target = g_strdup(sd->name);
        d->snapshot = g_strdup(snap->name);
        d->reuse = reuse;
        d->base = g_strdup(dev->source_path);
        d->base_format = g_strdup(dev->driver_type != NULL ? dev->driver_type : "raw");
        d->overlay = sd->source_path != NULL ? g_strdup(sd->source_path)
                                             : default_overlay(d->base, snap->name);
        if (!g_path_is_absolute(d->overlay) || !g_utf8_validate(d->overlay, -1, NULL) ||
            strchr(d->overlay, ',') != NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "disk %s: the external snapshot's image must be an absolute path "
                        "without commas, not '%s'", d->target, d->overlay);
            return NULL;
        }
        if (g_str_equal(d->overlay, d->base) ||
            !g_hash_table_add(overlays, d->overlay)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "disk %s: the external snapshot's image %s is already used by this "
                        "snapshot or by the disk itself", d->target, d->overlay);
            return NULL;
        }
        if (reuse && !g_file_test(d->overlay, G_FILE_TEST_IS_REGULAR)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "disk %s: REUSE_EXT (32) needs the external snapshot's image %s to "
                        "be an existing regular file", d->target, d->overlay);
            return NULL;
        }
        if (!reuse && g_file_test(d->overlay, G_FILE_TEST_EXISTS)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "disk %s: the external snapshot's image %s already exists; remove "
                        "it, name another file, or give REUSE_EXT (32) to use it", d->target,
                        d->overlay);
            return NULL;
        }
        g_free(sd->source_path);
        sd->source_path = g_strdup(d->overlay);
        g_free(sd->driver_type);
        sd->driver_type = g_strdup("qcow2");
        g_free(sd->type);
        sd->type = g_strdup("file");
    }
    if (disks->len == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "snapshot '%s' would hold no disk: every disk has snapshot='no' or is "
                    "read-only", snap->name);
        return NULL;
    }
    return g_steal_pointer(&disks);
}

/* The overlays created here go again (a failed snapshot or revert). */
void
vb_snapshot_external_remove_created(GPtrArray *disks)
{
    for (guint i = 0; i < disks->len; i++) {
        VbExtDisk *d = g_ptr_array_index(disks, i);

        if (d->created && g_unlink(d->overlay) < 0)
            g_warning("disk %s: cannot remove %s again: %s", d->target, d->overlay,
                      g_strerror(errno));
        d->created = FALSE;
    }
}

/* Creates each disk's overlay (not a REUSE_EXT one) on its base; all or none. */
gboolean
vb_snapshot_external_create_overlays(GPtrArray *disks, GError **error)
{
    for (guint i = 0; i < disks->len; i++) {
        VbExtDisk *d = g_ptr_array_index(disks, i);
        VbQemuImgDisk img = { .target = d->target, .path = d->overlay };

        if (d->reuse)
            continue;
        if (!vb_qemu_img_create_overlay(&img, d->base, d->base_format, d->size, error)) {
            vb_snapshot_external_remove_created(disks);
            return FALSE;
        }
        d->created = TRUE;
    }
    return TRUE;
}

static gboolean
set_sources(VbDomainDef *def, gpointer data, GError **error)
{
    GPtrArray *disks = data;

    for (guint i = 0; i < disks->len; i++) {
        const VbExtDisk *d = g_ptr_array_index(disks, i);

        /* a disk the persistent definition no longer has keeps what it has */
        vb_domain_def_set_disk_source(def, d->target, d->overlay, "qcow2");
    }
    return TRUE;
}

/* The snapshot's name (for its journal). */
static const char *
disk_snapshot(GPtrArray *disks)
{
    return disks->len > 0 ? ((VbExtDisk *)g_ptr_array_index(disks, 0))->snapshot : "?";
}

/* ---- the running domain ---- */

static const char *
jstr(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n) : NULL;
}

/* Each disk's top node (the snapshot's base in QEMU) and virtual size. */
static gboolean
find_nodes(VbDomainObj *dom, VbQemuMonitor *mon, GPtrArray *disks, GError **error)
{
    g_autoptr(GPtrArray) targets = g_ptr_array_new();
    g_autoptr(JsonArray) nodes = NULL;
    g_autoptr(JsonNode) named = NULL;
    JsonObject *args;
    JsonArray *all;

    for (guint i = 0; i < disks->len; i++)
        g_ptr_array_add(targets, ((VbExtDisk *)g_ptr_array_index(disks, i))->target);
    nodes = vb_domain_snapshot_disk_nodes(dom, mon, targets, error);
    if (nodes == NULL)
        return FALSE;
    args = json_object_new();
    json_object_set_boolean_member(args, "flat", TRUE);
    named = vb_qemu_monitor_command(mon, "query-named-block-nodes", args, QMP_TIMEOUT_MS, error);
    if (named == NULL)
        return FALSE;
    all = JSON_NODE_HOLDS_ARRAY(named) ? json_node_get_array(named) : NULL;
    for (guint i = 0; i < disks->len; i++) {
        VbExtDisk *d = g_ptr_array_index(disks, i);

        d->top_node = g_strdup(json_array_get_string_element(nodes, i));
        for (guint j = 0; all != NULL && j < json_array_get_length(all); j++) {
            JsonNode *n = json_array_get_element(all, j);
            JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
            JsonNode *img = o != NULL ? json_object_get_member(o, "image") : NULL;

            if (g_strcmp0(jstr(o, "node-name"), d->top_node) == 0 && img != NULL &&
                JSON_NODE_HOLDS_OBJECT(img) &&
                json_object_has_member(json_node_get_object(img), "virtual-size"))
                d->size = (guint64)json_object_get_int_member(json_node_get_object(img),
                                                              "virtual-size");
        }
        if (d->size == 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_QEMU,
                        "disk %s: QEMU does not tell the size of node %s", d->target,
                        d->top_node);
            return FALSE;
        }
    }
    return TRUE;
}

static JsonNode *
command(VbQemuMonitor *mon, const char *cmd, JsonObject *args, GError **error)
{
    return vb_qemu_monitor_command(mon, cmd, args, QMP_TIMEOUT_MS, error);
}

/* The overlays' nodes added before go again (best effort). */
static void
del_nodes(VbDomainObj *dom, VbQemuMonitor *mon, GPtrArray *disks)
{
    for (guint i = 0; i < disks->len; i++) {
        VbExtDisk *d = g_ptr_array_index(disks, i);
        const char *nodes[] = { d->fmt_node, d->file_node };

        for (guint k = 0; d->added && k < G_N_ELEMENTS(nodes); k++) {
            g_autoptr(GError) err = NULL;
            g_autoptr(JsonNode) r = NULL;
            JsonObject *args = json_object_new();

            json_object_set_string_member(args, "node-name", nodes[k]);
            r = command(mon, "blockdev-del", args, &err);
            if (r == NULL)
                VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "blockdev-del %s: %s",
                              nodes[k], err->message);
        }
        d->added = FALSE;
    }
}

/* The overlays' node names, before anything is made (the journal records them). */
static void
name_nodes(GPtrArray *disks)
{
    guint32 stamp = (guint32)(g_get_real_time() / 1000);

    for (guint i = 0; i < disks->len; i++) {
        VbExtDisk *d = g_ptr_array_index(disks, i);

        /* QEMU's node names are at most 31 bytes: "vbs" 8 hex "-" target "-storage" */
        g_free(d->file_node);
        g_free(d->fmt_node);
        d->file_node = g_strdup_printf("vbs%08x-%.10s-storage", stamp, d->target);
        d->fmt_node = g_strdup_printf("vbs%08x-%.10s-format", stamp, d->target);
    }
}

static gboolean
add_nodes(VbQemuMonitor *mon, GPtrArray *disks, GError **error)
{
    for (guint i = 0; i < disks->len; i++) {
        VbExtDisk *d = g_ptr_array_index(disks, i);
        g_autoptr(JsonNode) r1 = NULL;
        g_autoptr(JsonNode) r2 = NULL;
        JsonObject *args = json_object_new();

        json_object_set_string_member(args, "driver", "file");
        json_object_set_string_member(args, "node-name", d->file_node);
        json_object_set_string_member(args, "filename", d->overlay);
        r1 = command(mon, "blockdev-add", args, error);
        if (r1 == NULL)
            return FALSE;
        args = json_object_new();
        json_object_set_string_member(args, "driver", "qcow2");
        json_object_set_string_member(args, "node-name", d->fmt_node);
        json_object_set_string_member(args, "file", d->file_node);
        /* blockdev-snapshot puts the disk's node below it */
        json_object_set_null_member(args, "backing");
        r2 = command(mon, "blockdev-add", args, error);
        if (r2 == NULL) {
            JsonObject *del = json_object_new();
            g_autoptr(JsonNode) r3 = NULL;

            json_object_set_string_member(del, "node-name", d->file_node);
            r3 = command(mon, "blockdev-del", del, NULL);
            return FALSE;
        }
        d->added = TRUE;
    }
    return TRUE;
}

/* One transaction: every disk switches to its overlay, or none. */
static gboolean
switch_disks(VbQemuMonitor *mon, GPtrArray *disks, GError **error)
{
    g_autoptr(JsonNode) r = NULL;
    JsonArray *actions = json_array_new();
    JsonObject *args = json_object_new();

    for (guint i = 0; i < disks->len; i++) {
        const VbExtDisk *d = g_ptr_array_index(disks, i);
        JsonObject *action = json_object_new();
        JsonObject *data = json_object_new();

        json_object_set_string_member(data, "node", d->top_node);
        json_object_set_string_member(data, "overlay", d->fmt_node);
        json_object_set_string_member(action, "type", "blockdev-snapshot");
        json_object_set_object_member(action, "data", data);
        json_array_add_object_element(actions, action);
    }
    json_object_set_array_member(args, "actions", actions);
    r = command(mon, "transaction", args, error);
    return r != NULL;
}

static VbQemuMonitor *
monitor_of(VbDomainObj *dom, GError **error)
{
    VbQemuMonitor *mon = NULL;

    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 && dom->mon != NULL && !dom->stopping)
        mon = vb_qemu_monitor_ref(dom->mon);
    else
        vb_domain_obj_set_not_running_error(dom, "SnapshotCreateXML", error);
    g_mutex_unlock(&dom->lock);
    return mon;
}

/* The disks' chains for the live XML, as QEMU now runs them (domain-chain.c) */
static void
refresh_chains(VbDomainObj *dom, VbQemuMonitor *mon)
{
    g_autoptr(JsonNode) blocks = command(mon, "query-block", NULL, NULL);

    vb_domain_chains_update(dom, blocks);
}

static gboolean
take_live(VbDomainList *list, VbDomainObj *dom, GPtrArray *disks, gboolean quiesce,
          const char *owner, const char *metadata, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = monitor_of(dom, error);
    g_autoptr(GError) thaw_error = NULL;
    gboolean ok, frozen = FALSE;

    if (mon == NULL || !find_nodes(dom, mon, disks, error))
        return FALSE;
    name_nodes(disks);
    /* issue 15, part svckill: a restart after a kill from here on finds what was made */
    if (!vb_snapshot_journal_create(list, dom, disk_snapshot(disks), TRUE, disks, metadata,
                                    error))
        return FALSE;
    if (!vb_snapshot_external_create_overlays(disks, error))
        return FALSE;
    /* QEMU, as its own user, opens the overlays for writing (issue 14, part dac) */
    for (guint i = 0; i < disks->len; i++) {
        if (!vb_domain_dac_hold_image(list, dom,
                                      ((VbExtDisk *)g_ptr_array_index(disks, i))->overlay,
                                      error)) {
            vb_snapshot_external_remove_created(disks);
            return FALSE;
        }
    }
    if (!add_nodes(mon, disks, error)) {
        del_nodes(dom, mon, disks);
        vb_snapshot_external_remove_created(disks);
        return FALSE;
    }
    if (quiesce) {
        frozen = vb_domain_agent_freeze(list, dom, NULL, owner, error) >= 0;
        if (!frozen) {
            g_prefix_error(error, "QUIESCE: cannot freeze the guest's file systems: ");
            del_nodes(dom, mon, disks);
            vb_snapshot_external_remove_created(disks);
            return FALSE;
        }
    }
    vb_snapshot_test_kill_point("external-nodes-added");
    ok = switch_disks(mon, disks, error);
    if (ok)
        vb_snapshot_test_kill_point("external-transaction");
    if (frozen && vb_domain_agent_thaw(list, dom, NULL, owner, &thaw_error) < 0)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "cannot thaw the guest's file systems after the snapshot: %s",
                      thaw_error->message);
    if (!ok) {
        del_nodes(dom, mon, disks);
        vb_snapshot_external_remove_created(disks);
        return FALSE;
    }
    /* the disks run on the overlays now: the live definition says so */
    g_mutex_lock(&dom->lock);
    if (dom->id >= 0)
        set_sources(dom->def, disks, NULL);
    g_mutex_unlock(&dom->lock);
    refresh_chains(dom, mon);
    return TRUE;
}

/**
 * vb_snapshot_external_take:
 * @active: whether @dom runs (else its persistent definition is the one changed)
 * @quiesce: freeze the guest's file systems meanwhile (running domain, agent)
 * @metadata: (nullable): the snapshot's XML as it will be stored, for the journal
 *
 * Takes the external disk snapshot of @disks: overlays made (unless REUSE_EXT) and put
 * on top, the definitions changed to them. A failure leaves nothing behind. On success
 * the journal stays until the caller wrote the metadata (vb_snapshot_journal_remove()).
 * With the job.
 */
gboolean
vb_snapshot_external_take(VbDomainList *list, VbDomainObj *dom, gboolean active,
                          GPtrArray *disks, gboolean quiesce, const char *owner,
                          const char *metadata, GError **error)
{
    g_autoptr(GError) config_error = NULL;
    gboolean persistent;

    if (active && !take_live(list, dom, disks, quiesce, owner, metadata, error)) {
        vb_snapshot_journal_remove(list, dom); /* nothing was left behind */
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    persistent = dom->persistent;
    g_mutex_unlock(&dom->lock);
    if (!active) {
        if (!vb_snapshot_journal_create(list, dom, disk_snapshot(disks), FALSE, disks,
                                        metadata, error))
            return FALSE;
        if (!vb_snapshot_external_create_overlays(disks, error)) {
            vb_snapshot_journal_remove(list, dom);
            return FALSE;
        }
        vb_snapshot_test_kill_point("external-inactive-created");
        if (!vb_domain_persistent_update(list, dom, set_sources, disks, FALSE, error)) {
            vb_snapshot_external_remove_created(disks);
            vb_snapshot_journal_remove(list, dom);
            return FALSE;
        }
        return TRUE;
    }
    if (!vb_domain_status_save(list, dom, &config_error)) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", config_error->message);
        g_clear_error(&config_error);
    }
    vb_snapshot_test_kill_point("external-status-written");
    /* the guest writes to the overlays: its next start must use them too */
    if (persistent &&
        !vb_domain_persistent_update(list, dom, set_sources, disks, FALSE, &config_error))
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "the external snapshot is taken, but the persistent definition could "
                      "not be changed to its images (fix it with DefineXML before the next "
                      "start): %s", config_error->message);
    return TRUE;
}

/* ---- deleting an external snapshot: its overlays merged into the images below ---- */

#define COMMIT_TIMEOUT_US (G_GINT64_CONSTANT(30) * 60 * G_USEC_PER_SEC)

/* The disk @target of @def: its image and format. */
static gboolean
disk_image(const VbDomainDef *def, const char *target, const char **out_path,
           const char **out_format)
{
    const VbDeviceDef *dev = def != NULL ? vb_domain_def_find_disk(def, target) : NULL;

    if (dev == NULL || dev->source_path == NULL)
        return FALSE;
    *out_path = dev->source_path;
    *out_format = dev->driver_type != NULL ? dev->driver_type : "raw";
    return TRUE;
}

/* Running: the format node of each file of the disk's chain (query-named-block-nodes). */
static char *
node_of_file(JsonArray *all, const char *file)
{
    for (guint j = 0; all != NULL && j < json_array_get_length(all); j++) {
        JsonNode *n = json_array_get_element(all, j);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        const char *name = jstr(o, "node-name");

        if (name != NULL && g_str_has_suffix(name, "-format") &&
            g_strcmp0(jstr(o, "file"), file) == 0)
            return g_strdup(name);
    }
    return NULL;
}

/* Running: waits for QEMU's job @id to be ready (@ready) or to end; its error. */
static gboolean
wait_commit(VbDomainObj *dom, const char *id, gboolean ready, GError **error)
{
    const char *ids[] = { id, NULL };
    const VbBlockJob *bj = NULL;
    VbBlockJobState state = VB_BLOCK_JOB_READY;
    g_autofree char *qemu_error = NULL;
    VbBlockWait w;

    g_mutex_lock(&dom->lock);
    w = vb_domain_block_jobs_wait_locked(dom, ids, ready,
                                         g_get_monotonic_time() + COMMIT_TIMEOUT_US, FALSE, &bj);
    if (w == VB_BLOCK_WAIT_ENDED || (w == VB_BLOCK_WAIT_DONE && !ready)) {
        bj = vb_domain_block_job_get_locked(dom, id);
        state = bj->state;
        qemu_error = g_strdup(bj->error);
    }
    g_mutex_unlock(&dom->lock);
    if (w == VB_BLOCK_WAIT_GONE) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "the domain stopped running during the commit of %s", id);
        return FALSE;
    }
    if (w == VB_BLOCK_WAIT_TIMEOUT) {
        g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                    "QEMU's commit %s did not end within %d minutes", id,
                    (int)(COMMIT_TIMEOUT_US / G_USEC_PER_SEC / 60));
        return FALSE;
    }
    if (state == VB_BLOCK_JOB_FAILED || state == VB_BLOCK_JOB_CANCELLED) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "QEMU's commit %s %s: %s", id,
                    state == VB_BLOCK_JOB_FAILED ? "failed" : "was cancelled",
                    qemu_error != NULL ? qemu_error : "no reason given");
        return FALSE;
    }
    return TRUE;
}

static void
forget_job(VbDomainObj *dom, const char *id)
{
    g_mutex_lock(&dom->lock);
    vb_domain_block_job_forget_locked(dom, id);
    g_mutex_unlock(&dom->lock);
}

/* Running: blockdev-del of an overlay's nodes once it left the graph (best effort). */
static void
drop_overlay_nodes(VbDomainObj *dom, VbQemuMonitor *mon, const char *fmt_node)
{
    g_autofree char *storage = g_str_has_suffix(fmt_node, "-format")
                                   ? vb_block_storage_node(fmt_node) : NULL;
    const char *nodes[] = { fmt_node, storage };

    for (guint k = 0; k < G_N_ELEMENTS(nodes) && nodes[k] != NULL; k++) {
        g_autoptr(JsonNode) r = NULL;
        JsonObject *args = json_object_new();

        json_object_set_string_member(args, "node-name", nodes[k]);
        r = command(mon, "blockdev-del", args, NULL);
    }
}

/* Running: commits @layer (the disk's top when @active, with a pivot) into @base. */
static gboolean
commit_live(VbDomainObj *dom, VbQemuMonitor *mon, const char *target, const char *layer,
            const char *base, gboolean active, GError **error)
{
    g_autoptr(GPtrArray) targets = g_ptr_array_new();
    g_autoptr(JsonArray) tops = NULL;
    g_autoptr(JsonNode) named = NULL;
    g_autoptr(JsonNode) r = NULL;
    g_autofree char *id = g_strdup_printf("vbsnapdel-%s", target);
    g_autofree char *layer_node = NULL;
    g_autofree char *base_node = NULL;
    JsonObject *args;

    g_ptr_array_add(targets, (gpointer)target);
    tops = vb_domain_snapshot_disk_nodes(dom, mon, targets, error);
    if (tops == NULL)
        return FALSE;
    args = json_object_new();
    json_object_set_boolean_member(args, "flat", TRUE);
    named = command(mon, "query-named-block-nodes", args, error);
    if (named == NULL)
        return FALSE;
    layer_node = node_of_file(JSON_NODE_HOLDS_ARRAY(named) ? json_node_get_array(named) : NULL,
                              layer);
    base_node = node_of_file(JSON_NODE_HOLDS_ARRAY(named) ? json_node_get_array(named) : NULL,
                             base);
    if (layer_node == NULL || base_node == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "disk %s: QEMU has no node for %s",
                    target, layer_node == NULL ? layer : base);
        return FALSE;
    }
    forget_job(dom, id);
    args = json_object_new();
    json_object_set_string_member(args, "job-id", id);
    json_object_set_string_member(args, "device", json_array_get_string_element(tops, 0));
    if (!active)
        json_object_set_string_member(args, "top-node", layer_node);
    json_object_set_string_member(args, "base-node", base_node);
    r = command(mon, "block-commit", args, error);
    if (r != NULL)
        vb_snapshot_test_kill_point("delete-commit");
    if (r == NULL || !wait_commit(dom, id, active, error))
        return FALSE;
    if (active) {
        g_autoptr(JsonNode) c = NULL;

        args = json_object_new();
        json_object_set_string_member(args, "device", id);
        c = command(mon, "block-job-complete", args, error);
        if (c != NULL)
            vb_snapshot_test_kill_point("delete-pivot");
        if (c == NULL || !wait_commit(dom, id, FALSE, error))
            return FALSE;
    }
    forget_job(dom, id);
    drop_overlay_nodes(dom, mon, layer_node);
    return TRUE;
}

typedef struct {
    const char *target, *old_path, *path, *format;
} Rewrite;

static gboolean
rewrite_source(VbDomainDef *def, gpointer data, GError **error)
{
    const Rewrite *w = data;
    const char *cur = NULL, *fmt = NULL;

    /* a definition that names another image keeps it */
    if (disk_image(def, w->target, &cur, &fmt) && g_strcmp0(cur, w->old_path) == 0)
        vb_domain_def_set_disk_source(def, w->target, w->path, w->format);
    return TRUE;
}

/*
 * One disk of the snapshot: its overlay @overlay merged into the image below it in the
 * disk's chain now (the image the snapshot was taken over, or what replaced it when an
 * older snapshot was deleted since), then removed.
 */
static gboolean
delete_disk(VbDomainList *list, VbDomainObj *dom, VbQemuMonitor *mon, const char *name,
            const char *target, const char *overlay, GError **error)
{
    const char *top = NULL, *top_format = NULL, *base, *base_format;
    g_autoptr(GPtrArray) chain = NULL;
    g_autoptr(GPtrArray) formats = NULL;
    g_autofree char *top_path = NULL;
    VbQemuImgDisk img = { .target = (char *)target };
    Rewrite w = { target, overlay, NULL, NULL };
    gboolean found, ok;
    guint i;

    g_mutex_lock(&dom->lock);
    found = disk_image(mon != NULL ? dom->def : dom->new_def != NULL ? dom->new_def : dom->def,
                       target, &top, &top_format);
    top_path = g_strdup(top);
    g_mutex_unlock(&dom->lock);
    img.path = top_path;
    chain = found ? vb_qemu_img_backing_chain(&img, &formats, error) : NULL;
    if (found && chain == NULL)
        return FALSE;
    for (i = 0; chain != NULL && i + 1 < chain->len; i++) {
        if (g_str_equal(g_ptr_array_index(chain, i), overlay))
            break;
    }
    if (chain == NULL || i + 1 >= chain->len) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "disk %s: the snapshot's image %s is not in the disk's chain any more "
                    "(%s); delete the snapshot with METADATA_ONLY (2)", target, overlay,
                    top_path != NULL ? top_path : "no image");
        return FALSE;
    }
    base = w.path = g_ptr_array_index(chain, i + 1);
    base_format = w.format = g_ptr_array_index(formats, i + 1);
    /* issue 15, part svckill: a restart after a kill from here on finishes the disk (the
     * journal stays until the snapshot's metadata is gone: vb_snapshot_journal_remove()) */
    if (!vb_snapshot_journal_delete(list, dom, name, target, overlay, base, base_format, i == 0,
                                    error))
        return FALSE;
    if (mon != NULL) {
        ok = commit_live(dom, mon, target, overlay, base, i == 0, error);
        if (ok && i == 0) {
            g_mutex_lock(&dom->lock);
            if (dom->id >= 0)
                rewrite_source(dom->def, &w, NULL);
            g_mutex_unlock(&dom->lock);
            /* before the overlay goes: a restart must not find a status naming it */
            vb_domain_status_save(list, dom, NULL);
        }
    } else {
        img.path = (char *)overlay;
        ok = vb_qemu_img_commit(&img, error);
        if (ok && i > 0) {
            img.path = g_ptr_array_index(chain, i - 1);
            ok = vb_qemu_img_rebase_unsafe(&img, base, base_format, error);
        }
    }
    if (!ok) {
        vb_snapshot_journal_remove(list, dom);
        return FALSE;
    }
    if (i == 0) {
        g_autoptr(GError) err = NULL;
        gboolean persistent;

        g_mutex_lock(&dom->lock);
        persistent = dom->persistent;
        g_mutex_unlock(&dom->lock);
        if (persistent && !vb_domain_persistent_update(list, dom, rewrite_source, &w, FALSE,
                                                       mon != NULL ? &err : error)) {
            if (mon == NULL)
                return FALSE;
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "disk %s runs on %s now, but "
                          "the persistent definition could not be changed: %s", target, base,
                          err->message);
        }
    }
    if (g_unlink(overlay) < 0)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "disk %s: cannot remove %s: %s",
                      target, overlay, g_strerror(errno));
    vb_snapshot_test_kill_point("delete-disk-done");
    if (mon != NULL)
        refresh_chains(dom, mon);
    return TRUE;
}

/**
 * vb_snapshot_external_delete:
 * @active: whether @dom runs
 *
 * Deletes the images of external snapshot @snap: each disk's overlay is merged into the
 * image below it, which held the disk as it was at the snapshot, and removed. The overlay
 * at the top of a disk: a block commit with a pivot to the base (running; the definitions
 * then name the base), or `qemu-img commit` (inactive; the definition names the base).
 * An overlay below a later one: a block commit of that layer (QEMU relinks the image
 * above), or `qemu-img commit` and `rebase -u` of the image above. Disk by disk: a failure
 * leaves the disks done so far merged and the rest as they were. With the job held.
 */
gboolean
vb_snapshot_external_delete(VbDomainList *list, VbDomainObj *dom, gboolean active,
                            const VbSnapshotDef *snap, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = active ? monitor_of(dom, error) : NULL;

    if (active && mon == NULL)
        return FALSE;
    for (guint i = 0; snap->disks != NULL && i < snap->disks->len; i++) {
        const VbSnapshotDiskDef *sd = g_ptr_array_index(snap->disks, i);

        if (sd->snapshot != VB_SNAPSHOT_LOCATION_EXTERNAL)
            continue;
        if (sd->source_path == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "snapshot '%s': disk %s: the snapshot does not record its image; "
                        "delete it with METADATA_ONLY (2)", snap->name, sd->name);
            return FALSE;
        }
        if (!delete_disk(list, dom, mon, snap->name, sd->name, sd->source_path, error)) {
            g_prefix_error(error, "snapshot '%s': ", snap->name);
            return FALSE;
        }
    }
    if (active) {
        g_autoptr(GError) err = NULL;

        if (!vb_domain_status_save(list, dom, &err))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", err->message);
    }
    return TRUE;
}
