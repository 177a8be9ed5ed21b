/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "domain-def-priv.h"
#include "migration-priv.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * Storage copy of a live migration over NBD (NON_SHARED_DISK,
 * NON_SHARED_INC), the way libvirt 9.0 does it with QEMU 7.2
 * (docs/migration.md, "Storage copy"):
 *
 *  - Begin (source) lists the disks to copy in its cookie with their
 *    virtual sizes (and, for NON_SHARED_INC, their backing files);
 *  - Prepare (destination) creates the missing target images, starts
 *    QEMU's NBD server on a port of the migration range, exports every
 *    listed disk writable and answers with the port and the disk list;
 *  - Perform (source) adds an NBD client node per disk, mirrors the disk
 *    into it (blockdev-mirror, sync full or top), waits until EVERY mirror
 *    is ready through the domain's condition (woken by the block job
 *    events, never by polling; the Job's disk figures are refreshed from
 *    query-block-jobs every 500 ms meanwhile), runs the memory migration,
 *    then cancels the ready mirrors (the destination keeps a point-in-time
 *    copy, the source its images) and deletes the client nodes. A failure
 *    or an abort cancels every mirror at once (force) and removes the
 *    nodes: the source disks are never changed;
 *  - Finish (destination) stops the NBD server before the guest runs; the
 *    port goes back on every path (also with the run's end).
 */

#define QMP_TIMEOUT_MS 30000
#define PROGRESS_US (500 * 1000)
#define CANCEL_WAIT_S 60
#define QEMU_IMG_TIMEOUT_S 60

struct _VbNbdCopy {
    char *target;  /* vda */
    char *job_id;  /* drive-virtio-disk0 */
    char *storage; /* migration-vda-storage */
    char *format;  /* migration-vda-format */
    gboolean storage_added, format_added, mirror_started, ended;
};

void
vb_nbd_copy_free(VbNbdCopy *copy)
{
    if (copy == NULL)
        return;
    g_free(copy->target);
    g_free(copy->job_id);
    g_free(copy->storage);
    g_free(copy->format);
    g_free(copy);
}

/* libvirt's default: non-shared, writable disks with media (qemuMigrationAnyCopyDisk) */
static gboolean
copy_by_default(const VbDeviceDef *dev)
{
    return !dev->shareable && !dev->readonly && g_strcmp0(dev->device, "cdrom") != 0 &&
           dev->source_path != NULL;
}

static const VbDeviceDef *
disk_by_target(const VbDomainDef *def, const char *target)
{
    for (guint i = 0; i < def->priv->devices->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(def->priv->devices, i);

        if (dev->kind == VB_DEV_DISK && g_strcmp0(dev->target_dev, target) == 0)
            return dev;
    }
    return NULL;
}

/*
 * The disks to copy: the ones @migrate_disks names (each must exist, be
 * writable and have media), or libvirt's default.
 */
static GPtrArray *
select_disks(const VbDomainDef *def, const char *const *migrate_disks, GError **error)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new();

    for (guint i = 0; migrate_disks != NULL && migrate_disks[i] != NULL; i++) {
        const VbDeviceDef *dev = disk_by_target(def, migrate_disks[i]);

        if (dev == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "migrate_disks: disk target %s not found", migrate_disks[i]);
            return NULL;
        }
        if (g_ptr_array_find(out, dev, NULL)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "migrate_disks: disk target %s is listed twice", migrate_disks[i]);
            return NULL;
        }
        if (dev->readonly || g_strcmp0(dev->device, "cdrom") == 0 || dev->source_path == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "cannot migrate empty or read-only disk %s", dev->target_dev);
            return NULL;
        }
        g_ptr_array_add(out, (gpointer)dev);
    }
    if (migrate_disks != NULL && migrate_disks[0] != NULL)
        return g_steal_pointer(&out);
    for (guint i = 0; i < def->priv->devices->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(def->priv->devices, i);

        if (dev->kind == VB_DEV_DISK && copy_by_default(dev))
            g_ptr_array_add(out, (gpointer)dev);
    }
    return g_steal_pointer(&out);
}

static const char *
str_member(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n) : NULL;
}

static JsonObject *
obj_member(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* query-block's entry of the device with QEMU id @alias ("qdev" is the id or its path). */
static JsonObject *
block_of(JsonNode *r, const char *alias)
{
    JsonArray *a = r != NULL && JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;
    g_autofree char *prefix = g_strdup_printf("/machine/peripheral/%s/", alias);

    for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        const char *qdev = str_member(o, "qdev");

        if (qdev != NULL && (g_str_equal(qdev, alias) || g_str_has_prefix(qdev, prefix)))
            return o;
    }
    return NULL;
}

/* The node a disk's device uses (its top node) and its image, from query-block. */
static gboolean
disk_node(JsonNode *blocks, const VbDomainDef *def, const VbDeviceDef *dev, char **out_alias,
          const char **out_node, JsonObject **out_image, GError **error)
{
    g_autofree char *alias = vb_domain_def_device_alias(def, dev);
    JsonObject *inserted = obj_member(block_of(blocks, alias != NULL ? alias : ""), "inserted");
    const char *node = str_member(inserted, "node-name");

    if (alias == NULL || node == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU,
                    "disk %s: QEMU reports no image for device '%s'", dev->target_dev,
                    alias != NULL ? alias : "?");
        return FALSE;
    }
    *out_node = node;
    if (out_image != NULL)
        *out_image = obj_member(inserted, "image");
    *out_alias = g_steal_pointer(&alias);
    return TRUE;
}

static guint64
u64_member(JsonObject *o, const char *name)
{
    return o != NULL && json_object_has_member(o, name)
               ? (guint64)MAX(json_object_get_int_member(o, name), 0) : 0;
}

/* ---- Begin (source) ---------------------------------------------------- */

/**
 * vb_migration_nbd_begin:
 * @cookie: the Begin cookie to fill
 *
 * With NON_SHARED_DISK or NON_SHARED_INC: lists the disks to copy in the
 * cookie, with their virtual sizes (and backing files for
 * NON_SHARED_INC). The migration-out job is held. Job thread or worker.
 */
gboolean
vb_migration_nbd_begin(VbDomainList *list, VbDomainObj *dom, guint flags,
                       const VbMigrationParams *p, VbMigrationCookie *cookie, GError **error)
{
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(GPtrArray) disks = NULL;
    g_autoptr(JsonNode) blocks = NULL;

    if (!(flags & (VB_MIGRATE_NON_SHARED_DISK | VB_MIGRATE_NON_SHARED_INC)))
        return TRUE;
    g_mutex_lock(&dom->lock);
    def = vb_domain_def_copy(dom->def);
    g_mutex_unlock(&dom->lock);
    if (def == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the live definition");
        return FALSE;
    }
    disks = select_disks(def, (const char *const *)p->migrate_disks, error);
    if (disks == NULL)
        return FALSE;
    cookie->features |= VB_MIGRATION_COOKIE_NBD;
    if (disks->len == 0)
        return TRUE;
    blocks = vb_domain_async_monitor(list, dom, "query-block", NULL, -1, error);
    if (blocks == NULL)
        return FALSE;
    for (guint i = 0; i < disks->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(disks, i);
        g_autofree char *alias = NULL;
        const char *node;
        JsonObject *image = NULL;
        VbMigrationCookieDisk *d;

        if (!disk_node(blocks, def, dev, &alias, &node, &image, error))
            return FALSE;
        vb_migration_cookie_add_disk(cookie, dev->target_dev, u64_member(image, "virtual-size"));
        d = &g_array_index(cookie->nbd_disks, VbMigrationCookieDisk, cookie->nbd_disks->len - 1);
        if ((flags & VB_MIGRATE_NON_SHARED_INC) && image != NULL) {
            const char *b = str_member(image, "full-backing-filename");
            const char *bf = str_member(image, "backing-filename-format");

            if (b == NULL)
                b = str_member(image, "backing-filename");
            if (b != NULL && b[0] == '/') {
                d->backing = g_strdup(b);
                d->backing_format = g_strdup(bf);
            } else if (b != NULL) {
                g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "NON_SHARED_INC: the backing file '%s' of disk %s is not a local "
                            "path; copy the whole disk (NON_SHARED_DISK)", b, dev->target_dev);
                return FALSE;
            }
        }
    }
    return TRUE;
}

/* ---- Prepare and Finish (destination) ---------------------------------- */

static gboolean
run_qemu_img(const char *const *argv, GError **error)
{
    g_autofree char *err = NULL;
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                      NULL, NULL, NULL, &err, &status, error))
        return FALSE;
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "qemu-img create failed: %s",
                    err != NULL ? g_strstrip(err) : "no message");
        return FALSE;
    }
    return TRUE;
}

/* Removes the images a Prepare created (the migration was abandoned). */
void
vb_migration_nbd_remove_created(GStrv created)
{
    for (guint i = 0; created != NULL && created[i] != NULL; i++) {
        if (g_unlink(created[i]) != 0 && errno != ENOENT)
            g_warning("cannot remove the storage copy target '%s': %s", created[i],
                      g_strerror(errno));
        else
            g_message("removed the storage copy target '%s' of the abandoned migration",
                      created[i]);
    }
}

/* Creates the target image of one disk (libvirt's qemuMigrationDstPrecreateDisk). */
static gboolean
precreate(const VbDeviceDef *dev, const VbMigrationCookieDisk *src, guint flags,
          GPtrArray *created, GError **error)
{
    const char *format = dev->driver_type != NULL ? dev->driver_type : "raw";
    g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT, src->capacity);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    gboolean inc = (flags & VB_MIGRATE_NON_SHARED_INC) != 0 && src->backing != NULL;

    if (g_strcmp0(dev->type, "file") != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "disk %s: '%s' does not exist and storage of disk type '%s' cannot be "
                    "created for the copy; create it on this host first", dev->target_dev,
                    dev->source_path, dev->type);
        return FALSE;
    }
    if (!g_path_is_absolute(dev->source_path)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "disk %s: the target '%s' is not an absolute path", dev->target_dev,
                    dev->source_path);
        return FALSE;
    }
    if (strcmp(format, "qcow2") != 0 && strcmp(format, "raw") != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "disk %s: '%s' does not exist and images of format '%s' cannot be created "
                    "for the copy (qcow2 and raw can); create it on this host first",
                    dev->target_dev, dev->source_path, format);
        return FALSE;
    }
    if (src->capacity == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "disk %s: the source cookie gives no size to create '%s' with",
                    dev->target_dev, dev->source_path);
        return FALSE;
    }
    if (inc && strcmp(format, "qcow2") != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "NON_SHARED_INC: disk %s has the backing file '%s' but its target '%s' is "
                    "of format '%s', which has no backing file; use qcow2 or NON_SHARED_DISK",
                    dev->target_dev, src->backing, dev->source_path, format);
        return FALSE;
    }
    if (inc && !g_file_test(src->backing, G_FILE_TEST_EXISTS)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "NON_SHARED_INC: the backing file '%s' of disk %s does not exist on this "
                    "host (only the top image is copied; the backing file must be here)",
                    src->backing, dev->target_dev);
        return FALSE;
    }
    g_ptr_array_add(argv, "qemu-img");
    g_ptr_array_add(argv, "create");
    g_ptr_array_add(argv, "-q");
    g_ptr_array_add(argv, "-f");
    g_ptr_array_add(argv, (gpointer)format);
    if (strcmp(format, "qcow2") == 0) {
        g_ptr_array_add(argv, "-o");
        g_ptr_array_add(argv, "compat=1.1");
    }
    if (inc) {
        g_ptr_array_add(argv, "-b");
        g_ptr_array_add(argv, src->backing);
        if (src->backing_format != NULL) {
            g_ptr_array_add(argv, "-F");
            g_ptr_array_add(argv, src->backing_format);
        }
    }
    g_ptr_array_add(argv, "--");
    g_ptr_array_add(argv, dev->source_path);
    g_ptr_array_add(argv, size);
    g_ptr_array_add(argv, NULL);
    if (!run_qemu_img((const char *const *)argv->pdata, error)) {
        g_prefix_error(error, "disk %s: cannot create '%s' for the storage copy: ",
                       dev->target_dev, dev->source_path);
        return FALSE;
    }
    g_ptr_array_add(created, g_strdup(dev->source_path));
    g_message("created '%s' (%s, %s bytes%s%s) for the storage copy of disk %s",
              dev->source_path, format, size, inc ? ", backing file " : "",
              inc ? src->backing : "", dev->target_dev);
    return TRUE;
}

/**
 * vb_migration_nbd_precreate:
 * @def: the definition the destination runs
 * @src: the source's Begin cookie
 * @out_created: (out) (transfer full): the images made here (NULL-terminated)
 *
 * Checks every disk the source copies and creates the target images that do
 * not exist (existing ones are used as they are, as libvirt does). Before
 * QEMU starts. Worker threads.
 */
gboolean
vb_migration_nbd_precreate(VbDomainList *list, VbDomainDef *def, const VbMigrationCookie *src,
                           guint flags, GStrv *out_created, GError **error)
{
    g_autoptr(GPtrArray) created = g_ptr_array_new_with_free_func(g_free);
    guint n = src->nbd_disks != NULL ? src->nbd_disks->len : 0;

    (void)list;
    *out_created = NULL;
    if (!(flags & (VB_MIGRATE_NON_SHARED_DISK | VB_MIGRATE_NON_SHARED_INC)) || n == 0)
        return TRUE;
    for (guint i = 0; i < n; i++) {
        const VbMigrationCookieDisk *d = &g_array_index(src->nbd_disks, VbMigrationCookieDisk, i);
        const VbDeviceDef *dev = disk_by_target(def, d->target);

        if (dev == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "the source copies disk %s, which the definition does not have",
                        d->target);
            goto fail;
        }
        if (dev->readonly || g_strcmp0(dev->device, "cdrom") == 0 || dev->source_path == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "cannot migrate empty or read-only disk %s", dev->target_dev);
            goto fail;
        }
        if (g_file_test(dev->source_path, G_FILE_TEST_EXISTS))
            continue; /* used as it is (the mirror checks its size) */
        if (!precreate(dev, d, flags, created, error))
            goto fail;
    }
    g_ptr_array_add(created, NULL);
    *out_created = (GStrv)g_ptr_array_free(g_steal_pointer(&created), FALSE);
    return TRUE;
fail:
    g_ptr_array_add(created, NULL);
    vb_migration_nbd_remove_created((GStrv)created->pdata);
    return FALSE;
}

/**
 * vb_migration_nbd_start_server:
 * @src: the source's Begin cookie (the disks to export)
 * @mine: the Prepare cookie: gets the port, @nbd_host and the disk list
 *
 * Starts QEMU's NBD server on a port of the migration range, listening on
 * migration_address (or every address), and exports each disk writable
 * under libvirt's name ("drive-<alias>"). On failure nothing is left: the
 * server is stopped and the port released. The migration-in job is held.
 */
gboolean
vb_migration_nbd_start_server(VbDomainList *list, VbDomainObj *dom,
                              const VbMigrationCookie *src, VbMigrationCookie *mine,
                              const char *nbd_host, GError **error)
{
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(JsonNode) blocks = NULL;
    g_autofree char *port_str = NULL;
    guint n = src->nbd_disks != NULL ? src->nbd_disks->len : 0;
    JsonObject *args, *addr, *data;
    gboolean started = FALSE;
    int port;

    if (n == 0)
        return TRUE;
    g_mutex_lock(&dom->lock);
    def = vb_domain_def_copy(dom->def);
    g_mutex_unlock(&dom->lock);
    if (def == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the live definition");
        return FALSE;
    }
    blocks = vb_domain_async_monitor(list, dom, "query-block", NULL, -1, error);
    if (blocks == NULL)
        return FALSE;
    port = vb_domain_ports_acquire(list, list->config->migration_port_min,
                                   list->config->migration_port_max, error);
    if (port < 0) {
        g_prefix_error(error, "no port for the NBD server of the storage copy: ");
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    dom->nbd_port = port;
    g_mutex_unlock(&dom->lock);

    port_str = g_strdup_printf("%d", port);
    data = json_object_new();
    json_object_set_string_member(data, "host", list->config->migration_address != NULL
                                                    ? list->config->migration_address
                                                    : "0.0.0.0");
    json_object_set_string_member(data, "port", port_str);
    addr = json_object_new();
    json_object_set_string_member(addr, "type", "inet");
    json_object_set_object_member(addr, "data", data);
    args = json_object_new();
    json_object_set_object_member(args, "addr", addr);
    {
        g_autoptr(JsonNode) r = vb_domain_async_monitor(list, dom, "nbd-server-start", args, -1,
                                                        error);

        started = r != NULL;
        if (!started)
            g_prefix_error(error, "cannot start the NBD server on port %d: ", port);
    }
    for (guint i = 0; started && i < n; i++) {
        const VbMigrationCookieDisk *d = &g_array_index(src->nbd_disks, VbMigrationCookieDisk, i);
        const VbDeviceDef *dev = disk_by_target(def, d->target);
        g_autofree char *alias = NULL;
        g_autofree char *name = NULL;
        g_autofree char *id = NULL;
        g_autoptr(JsonNode) r = NULL;
        const char *node;

        if (dev == NULL || !disk_node(blocks, def, dev, &alias, &node, NULL, error)) {
            if (dev == NULL)
                g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "the source copies disk %s, which the definition does not have",
                            d->target);
            goto fail;
        }
        name = g_strdup_printf("drive-%s", alias);
        id = g_strdup_printf("libvirt-nbd-%s", node);
        args = json_object_new();
        json_object_set_string_member(args, "type", "nbd");
        json_object_set_string_member(args, "id", id);
        json_object_set_string_member(args, "node-name", node);
        json_object_set_boolean_member(args, "writable", TRUE);
        json_object_set_string_member(args, "name", name);
        r = vb_domain_async_monitor(list, dom, "block-export-add", args, -1, error);
        if (r == NULL) {
            g_prefix_error(error, "cannot export disk %s over NBD: ", d->target);
            goto fail;
        }
        vb_migration_cookie_add_disk(mine, d->target, d->capacity);
    }
    if (!started)
        goto fail;
    mine->features |= VB_MIGRATION_COOKIE_NBD;
    mine->nbd_port = port;
    g_free(mine->nbd_host);
    mine->nbd_host = g_strdup(nbd_host);
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                  "NBD server for the storage copy of %u disk(s) listens on port %d", n, port);
    return TRUE;
fail:
    vb_migration_nbd_stop_server(list, dom);
    return FALSE;
}

/**
 * vb_migration_nbd_stop_server:
 *
 * Stops the NBD server of an incoming storage copy (its exports go with
 * it) and releases its port; nothing when none runs. Never fails (a QEMU
 * that is gone has no server). The migration-in job is held.
 */
void
vb_migration_nbd_stop_server(VbDomainList *list, VbDomainObj *dom)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = NULL;
    int port;

    g_mutex_lock(&dom->lock);
    port = dom->nbd_port;
    dom->nbd_port = -1;
    g_mutex_unlock(&dom->lock);
    if (port < 0)
        return;
    r = vb_domain_async_monitor(list, dom, "nbd-server-stop", NULL, -1, &error);
    if (r == NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "stopping the NBD server: %s",
                      error->message);
    else
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "NBD server on port %d stopped", port);
    vb_domain_ports_release(list, port);
}

/* ---- Perform (source) -------------------------------------------------- */

/**
 * vb_migration_nbd_take_cookie:
 * @dest: the destination's Prepare cookie
 *
 * Keeps the destination's NBD server and disk list for the transfer and
 * checks them against the flags and migrate_disks: every disk the
 * destination exports is copied (it holds a new, empty target for each),
 * so migrate_disks, when given to Perform, must name the same disks.
 */
gboolean
vb_migration_nbd_take_cookie(VbDomainObj *dom, guint flags, const VbMigrationParams *p,
                             const VbMigrationCookie *dest, GError **error)
{
    g_autoptr(GPtrArray) targets = g_ptr_array_new_with_free_func(g_free);
    guint n = dest->nbd_disks != NULL ? dest->nbd_disks->len : 0;
    VbMigrationOut *m;

    if (!(flags & (VB_MIGRATE_NON_SHARED_DISK | VB_MIGRATE_NON_SHARED_INC)))
        return TRUE;
    for (guint i = 0; i < n; i++)
        g_ptr_array_add(targets,
                        g_strdup(g_array_index(dest->nbd_disks, VbMigrationCookieDisk, i).target));
    if (n > 0 && dest->nbd_port <= 0) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "the destination's cookie lists disks to copy but no NBD port");
        return FALSE;
    }
    if (p->migrate_disks != NULL && p->migrate_disks[0] != NULL) {
        gboolean same = g_strv_length(p->migrate_disks) == n;

        for (guint i = 0; same && p->migrate_disks[i] != NULL; i++)
            same = g_ptr_array_find_with_equal_func(targets, p->migrate_disks[i], g_str_equal,
                                                    NULL);
        if (!same) {
            g_ptr_array_add(targets, NULL);
            g_autofree char *have = g_strjoinv(", ", (GStrv)targets->pdata);
            g_autofree char *want = g_strjoinv(", ", p->migrate_disks);

            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "migrate_disks (%s) differs from the disks the destination prepared "
                        "(%s): the disks are chosen at MigrateBegin (libvirt's default there, "
                        "or Migrate's migrate_disks)", want, *have != '\0' ? have : "none");
            return FALSE;
        }
    }
    g_ptr_array_add(targets, NULL);
    g_mutex_lock(&dom->lock);
    m = dom->migration;
    if (m != NULL) {
        m->nbd_port = n > 0 ? dest->nbd_port : -1;
        g_free(m->nbd_host);
        m->nbd_host = g_strdup(dest->nbd_host);
        g_strfreev(m->nbd_disks);
        m->nbd_disks = (GStrv)g_ptr_array_free(g_steal_pointer(&targets), FALSE);
    }
    g_mutex_unlock(&dom->lock);
    return TRUE;
}

/* The copies of the running Perform (a new reference to the array), or NULL. */
static GPtrArray *
copies_of(VbDomainObj *dom)
{
    GPtrArray *c = NULL;

    g_mutex_lock(&dom->lock);
    if (dom->migration != NULL && ((VbMigrationOut *)dom->migration)->nbd_copies != NULL)
        c = g_ptr_array_ref(((VbMigrationOut *)dom->migration)->nbd_copies);
    g_mutex_unlock(&dom->lock);
    return c;
}

static JsonObject *
node_props(const VbNbdCopy *c, const char *host, int port, const char *export_name)
{
    JsonObject *o = json_object_new();
    JsonObject *server = json_object_new();
    g_autofree char *p = g_strdup_printf("%d", port);

    json_object_set_string_member(o, "driver", "nbd");
    json_object_set_string_member(server, "type", "inet");
    json_object_set_string_member(server, "host", host);
    json_object_set_string_member(server, "port", p);
    json_object_set_object_member(o, "server", server);
    json_object_set_string_member(o, "export", export_name);
    json_object_set_string_member(o, "node-name", c->storage);
    json_object_set_boolean_member(o, "auto-read-only", TRUE);
    json_object_set_string_member(o, "discard", "unmap");
    return o;
}

/* The disk figures from query-block-jobs: total, processed, remaining bytes. */
static gboolean
disk_progress(VbDomainList *list, VbDomainObj *dom, GPtrArray *copies, guint64 *out_total,
              guint64 *out_done)
{
    g_autoptr(JsonNode) r = vb_domain_async_monitor(list, dom, "query-block-jobs", NULL, -1,
                                                    NULL);
    JsonArray *a = r != NULL && JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;

    *out_total = *out_done = 0;
    if (a == NULL)
        return FALSE;
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        const char *dev = str_member(o, "device");

        for (guint j = 0; dev != NULL && j < copies->len; j++) {
            VbNbdCopy *c = g_ptr_array_index(copies, j);

            if (g_str_equal(c->job_id, dev)) {
                *out_total += u64_member(o, "len");
                *out_done += MIN(u64_member(o, "offset"), u64_member(o, "len"));
            }
        }
    }
    return TRUE;
}

static void
publish_progress(VbDomainList *list, VbDomainObj *dom, VbJob *job, GPtrArray *copies)
{
    guint64 total = 0, done = 0;
    GVariantDict d;

    if (!disk_progress(list, dom, copies, &total, &done))
        return;
    g_variant_dict_init(&d, NULL);
    g_variant_dict_insert(&d, "disk_total", "t", total);
    g_variant_dict_insert(&d, "disk_processed", "t", done);
    g_variant_dict_insert(&d, "disk_remaining", "t", total - done);
    vb_job_set_progress(job, total, done, total - done, g_variant_dict_end(&d));
    vb_domain_list_job_notify(list, job, VB_JOB_NOTIFY_CHANGED);
}

/**
 * vb_migration_nbd_add_stats:
 * @stats: (transfer full): the memory migration's statistics (a{sv})
 *
 * Adds the disk figures of the running mirrors to @stats.
 *
 * Returns: (transfer full): a floating a{sv}.
 */
GVariant *
vb_migration_nbd_add_stats(VbDomainList *list, VbDomainObj *dom, GVariant *stats)
{
    g_autoptr(GPtrArray) copies = copies_of(dom);
    guint64 total = 0, done = 0;
    gboolean copied = FALSE;
    GVariantDict d;

    if (copies == NULL) {
        /* the mirrors completed before the switch-over: their figures are kept */
        g_mutex_lock(&dom->lock);
        if (dom->migration != NULL && ((VbMigrationOut *)dom->migration)->nbd_copied) {
            copied = TRUE;
            total = done = ((VbMigrationOut *)dom->migration)->nbd_bytes;
        }
        g_mutex_unlock(&dom->lock);
        if (!copied)
            return stats;
    } else if (copies->len == 0 || !disk_progress(list, dom, copies, &total, &done)) {
        return stats;
    }
    g_variant_dict_init(&d, g_variant_ref_sink(stats));
    g_variant_unref(stats);
    g_variant_dict_insert(&d, "disk_total", "t", total);
    g_variant_dict_insert(&d, "disk_processed", "t", done);
    g_variant_dict_insert(&d, "disk_remaining", "t", total - done);
    return g_variant_dict_end(&d);
}

/* The QEMU job ids of @copies' mirrors (all of them, or those started), NULL-terminated;
 * the strings are @copies'. */
static GPtrArray *
mirror_ids(GPtrArray *copies, gboolean started_only)
{
    GPtrArray *ids = g_ptr_array_new();

    for (guint i = 0; i < copies->len; i++) {
        VbNbdCopy *c = g_ptr_array_index(copies, i);

        if (!started_only || c->mirror_started)
            g_ptr_array_add(ids, c->job_id);
    }
    g_ptr_array_add(ids, NULL);
    return ids;
}

/*
 * Waits until every mirror is ready (vb_domain_block_jobs_wait_locked(): woken at each
 * block job event, an abort request or the run's end); every 500 ms the Job's disk
 * figures are refreshed and the connection to the destination is checked.
 */
static gboolean
wait_ready(VbDomainList *list, VbDomainObj *dom, VbJob *job, GPtrArray *copies, GError **error)
{
    g_autoptr(GPtrArray) ids = mirror_ids(copies, FALSE);

    for (;;) {
        g_autofree char *lost = NULL;
        const VbBlockJob *bj = NULL;
        VbBlockWait w;

        publish_progress(list, dom, job, copies);
        if (vb_domain_list_shutting_down(list)) {
            g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
                                "the service is stopping; the migration is recovered at its "
                                "next start");
            return FALSE;
        }
        g_mutex_lock(&dom->lock);
        w = vb_domain_block_jobs_wait_locked(dom, (const char *const *)ids->pdata, TRUE,
                                             g_get_monotonic_time() + PROGRESS_US, TRUE, &bj);
        if (w == VB_BLOCK_WAIT_ENDED) {
            for (guint i = 0; i < copies->len; i++) {
                VbNbdCopy *c = g_ptr_array_index(copies, i);

                if (g_str_equal(c->job_id, bj->id)) {
                    c->ended = TRUE;
                    g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                                "migration of disk %s failed%s%s", c->target,
                                bj->error != NULL ? ": " : "",
                                bj->error != NULL ? bj->error : "");
                }
            }
        }
        g_mutex_unlock(&dom->lock);
        switch (w) {
        case VB_BLOCK_WAIT_DONE:
            publish_progress(list, dom, job, copies);
            return TRUE;
        case VB_BLOCK_WAIT_ENDED:
            return FALSE;
        case VB_BLOCK_WAIT_ABORT:
            g_set_error_literal(error, VB_ERROR, VB_ERROR_ABORTED,
                                "the migration was cancelled on request (while copying the "
                                "disks)");
            return FALSE;
        case VB_BLOCK_WAIT_GONE:
            g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
                                "the domain's QEMU ended during the storage copy");
            return FALSE;
        case VB_BLOCK_WAIT_TIMEOUT:
            break;
        }
        lost = vb_migration_peer_lost(dom);
        if (lost != NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                        "lost the connection to the destination while copying the disks: %s",
                        lost);
            return FALSE;
        }
    }
}

/**
 * vb_migration_nbd_copy_start:
 * @uri: the migration URI: its host is the NBD server's (libvirt's choice)
 *
 * Mirrors every disk the destination exports into its NBD server and
 * waits until all mirrors are ready. On failure the caller calls
 * vb_migration_nbd_copy_cancel(). Job thread.
 */
gboolean
vb_migration_nbd_copy_start(VbDomainList *list, VbDomainObj *dom, VbJob *job, const char *uri,
                            guint flags, const VbMigrationParams *p, GError **error)
{
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(JsonNode) blocks = NULL;
    g_autoptr(GPtrArray) copies = NULL;
    g_autofree char *host = NULL;
    g_auto(GStrv) disks = NULL;
    int port = -1, uri_port;
    VbMigrationOut *m;

    if (!(flags & (VB_MIGRATE_NON_SHARED_DISK | VB_MIGRATE_NON_SHARED_INC)))
        return TRUE;
    g_mutex_lock(&dom->lock);
    m = dom->migration;
    if (m != NULL && m->nbd_disks != NULL && m->nbd_disks[0] != NULL && m->nbd_port > 0) {
        disks = g_strdupv(m->nbd_disks);
        port = m->nbd_port;
        host = g_strdup(m->nbd_host);
    }
    def = vb_domain_def_copy(dom->def);
    g_mutex_unlock(&dom->lock);
    if (disks == NULL)
        return TRUE; /* nothing to copy */
    if (def == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the live definition");
        return FALSE;
    }
    {
        g_autofree char *uri_host = NULL;

        if (vb_migration_parse_tcp_uri(uri, &uri_host, &uri_port, NULL)) {
            g_free(host);
            host = g_steal_pointer(&uri_host);
        }
    }
    if (host == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "no address of the destination's NBD server");
        return FALSE;
    }
    blocks = vb_domain_async_monitor(list, dom, "query-block", NULL, -1, error);
    if (blocks == NULL)
        return FALSE;
    copies = g_ptr_array_new_with_free_func((GDestroyNotify)vb_nbd_copy_free);
    g_mutex_lock(&dom->lock);
    if (dom->migration != NULL) {
        m = dom->migration;
        if (m->nbd_copies != NULL)
            g_ptr_array_unref(m->nbd_copies);
        m->nbd_copies = g_ptr_array_ref(copies);
        m->nbd_copied = FALSE;
    }
    g_mutex_unlock(&dom->lock);

    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                  "storage copy of %u disk(s) to the NBD server %s:%d (%s)",
                  g_strv_length(disks), host, port,
                  flags & VB_MIGRATE_NON_SHARED_INC ? "top images" : "whole disks");
    for (guint i = 0; disks[i] != NULL; i++) {
        const VbDeviceDef *dev = disk_by_target(def, disks[i]);
        g_autofree char *alias = NULL;
        g_autofree char *export_name = NULL;
        g_autoptr(JsonNode) r1 = NULL;
        g_autoptr(JsonNode) r2 = NULL;
        g_autoptr(JsonNode) r3 = NULL;
        const char *node;
        VbNbdCopy *c;
        JsonObject *args;

        if (dev == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "the destination exports disk %s, which this domain does not have",
                        disks[i]);
            return FALSE;
        }
        if (!disk_node(blocks, def, dev, &alias, &node, NULL, error) ||
            !vb_domain_async_check_abort(dom, error))
            return FALSE;
        c = g_new0(VbNbdCopy, 1);
        c->target = g_strdup(disks[i]);
        c->job_id = g_strdup_printf("drive-%s", alias);
        c->storage = g_strdup_printf("migration-%s-storage", disks[i]);
        c->format = g_strdup_printf("migration-%s-format", disks[i]);
        g_ptr_array_add(copies, c);
        export_name = g_strdup_printf("drive-%s", alias);

        r1 = vb_domain_async_monitor(list, dom, "blockdev-add",
                                     node_props(c, host, port, export_name), -1, error);
        if (r1 == NULL) {
            g_prefix_error(error, "disk %s: cannot connect to the destination's NBD server "
                           "%s:%d: ", c->target, host, port);
            return FALSE;
        }
        c->storage_added = TRUE;
        args = json_object_new();
        json_object_set_string_member(args, "node-name", c->format);
        json_object_set_boolean_member(args, "read-only", FALSE);
        json_object_set_string_member(args, "driver", "raw");
        json_object_set_string_member(args, "file", c->storage);
        r2 = vb_domain_async_monitor(list, dom, "blockdev-add", args, -1, error);
        if (r2 == NULL) {
            g_prefix_error(error, "disk %s: ", c->target);
            return FALSE;
        }
        c->format_added = TRUE;

        g_mutex_lock(&dom->lock);
        vb_domain_block_job_forget_locked(dom, c->job_id);
        g_mutex_unlock(&dom->lock);
        args = json_object_new();
        json_object_set_string_member(args, "job-id", c->job_id);
        json_object_set_string_member(args, "device", node);
        json_object_set_string_member(args, "target", c->format);
        if (p->has_bandwidth && p->bandwidth > 0)
            json_object_set_int_member(args, "speed", (gint64)(p->bandwidth << 20));
        json_object_set_string_member(args, "sync",
                                      flags & VB_MIGRATE_NON_SHARED_INC ? "top" : "full");
        if (flags & VB_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES)
            json_object_set_string_member(args, "copy-mode", "write-blocking");
        json_object_set_boolean_member(args, "auto-finalize", TRUE);
        json_object_set_boolean_member(args, "auto-dismiss", FALSE);
        r3 = vb_domain_async_monitor(list, dom, "blockdev-mirror", args, -1, error);
        if (r3 == NULL) {
            g_prefix_error(error, "disk %s: cannot start the mirror: ", c->target);
            return FALSE;
        }
        c->mirror_started = TRUE;
    }
    if (!wait_ready(list, dom, job, copies, error))
        return FALSE;
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "all %u disk mirror(s) are ready",
                  copies->len);
    return TRUE;
}

/**
 * vb_migration_nbd_set_speed:
 * @mon: the domain's monitor; the caller holds the migration-op job
 * @bytes_per_s: the new limit, 0 for none
 *
 * MigrateSetMaxSpeed while an outgoing migration copies disks: every
 * running mirror of the copy (job drive-*) gets the new limit, as the
 * migration's bandwidth gave them theirs when they started
 * (block-job-set-speed). Nothing to do when no copy runs. Worker threads.
 */
gboolean
vb_migration_nbd_set_speed(VbDomainObj *dom, VbQemuMonitor *mon, guint64 bytes_per_s,
                           GError **error)
{
    g_autoptr(JsonNode) r = NULL;
    JsonArray *jobs;
    gboolean copying;

    g_mutex_lock(&dom->lock);
    copying = dom->job.async == VB_ASYNC_JOB_MIGRATION_OUT && dom->migration != NULL &&
              ((VbMigrationOut *)dom->migration)->nbd_copies != NULL;
    g_mutex_unlock(&dom->lock);
    if (!copying)
        return TRUE;
    r = vb_qemu_monitor_command(mon, "query-block-jobs", NULL, QMP_TIMEOUT_MS, error);
    if (r == NULL)
        return FALSE;
    jobs = JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;
    for (guint i = 0; jobs != NULL && i < json_array_get_length(jobs); i++) {
        JsonNode *n = json_array_get_element(jobs, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        const char *dev = str_member(o, "device");
        const char *type = str_member(o, "type");
        JsonObject *args;
        g_autoptr(JsonNode) done = NULL;

        if (dev == NULL || g_strcmp0(type, "mirror") != 0 || !g_str_has_prefix(dev, "drive-"))
            continue;
        args = json_object_new();
        json_object_set_string_member(args, "device", dev);
        json_object_set_int_member(args, "speed", (gint64)bytes_per_s);
        done = vb_qemu_monitor_command(mon, "block-job-set-speed", args, QMP_TIMEOUT_MS, error);
        if (done == NULL) {
            g_prefix_error(error, "the disk mirror %s: ", dev);
            return FALSE;
        }
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                      "the disk mirror %s now copies at %" G_GUINT64_FORMAT " bytes/s "
                      "(0: no limit)", dev, bytes_per_s);
    }
    return TRUE;
}

/* Deletes the NBD client node @node (logged when QEMU refuses). */
static void
blockdev_del(VbDomainList *list, VbDomainObj *dom, const char *node)
{
    JsonObject *args = json_object_new();
    g_autoptr(JsonNode) r = NULL;
    g_autoptr(GError) local = NULL;

    json_object_set_string_member(args, "node-name", node);
    r = vb_domain_async_monitor(list, dom, "blockdev-del", args, -1, &local);
    if (r == NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "blockdev-del %s: %s", node,
                      local->message);
}

/*
 * Ends every mirror: block-job-cancel (forced when @abort: the copy is
 * thrown away; otherwise a ready mirror completes with a point-in-time
 * copy), waits for each job's end through the domain's condition, then
 * dismisses the jobs and deletes the NBD client nodes. Returns the first
 * mirror that did not complete (only when !@abort).
 */
static gboolean
end_copies(VbDomainList *list, VbDomainObj *dom, gboolean abort, GError **error)
{
    g_autoptr(GPtrArray) copies = copies_of(dom);
    g_autoptr(GPtrArray) ids = NULL;
    gint64 deadline = g_get_monotonic_time() + CANCEL_WAIT_S * G_USEC_PER_SEC;
    guint64 bytes = 0, done = 0;
    gboolean ok = TRUE;

    if (copies == NULL)
        return TRUE;
    /* the figures the Job keeps once the mirrors are gone; the guest is paused */
    if (!abort && !disk_progress(list, dom, copies, &bytes, &done))
        bytes = 0;
    for (guint i = 0; i < copies->len; i++) {
        VbNbdCopy *c = g_ptr_array_index(copies, i);
        g_autoptr(GError) local = NULL;
        JsonObject *args;
        g_autoptr(JsonNode) r = NULL;
        const VbBlockJob *bj;
        gboolean ended;

        if (!c->mirror_started)
            continue;
        g_mutex_lock(&dom->lock);
        bj = vb_domain_block_job_get_locked(dom, c->job_id);
        ended = bj != NULL && vb_domain_block_job_ended(bj->state);
        g_mutex_unlock(&dom->lock);
        if (ended)
            continue;
        args = json_object_new();
        json_object_set_string_member(args, "device", c->job_id);
        json_object_set_boolean_member(args, "force", abort);
        r = vb_domain_async_monitor(list, dom, "block-job-cancel", args, -1, &local);
        if (r == NULL)
            VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "block-job-cancel %s: %s", c->job_id,
                          local->message);
    }
    /* wait for every job's end */
    ids = mirror_ids(copies, TRUE);
    g_mutex_lock(&dom->lock);
    vb_domain_block_jobs_wait_locked(dom, (const char *const *)ids->pdata, FALSE, deadline,
                                     FALSE, NULL);
    for (guint i = 0; i < copies->len; i++) {
        VbNbdCopy *c = g_ptr_array_index(copies, i);
        const VbBlockJob *bj = vb_domain_block_job_get_locked(dom, c->job_id);

        if (!c->mirror_started || abort || !ok)
            continue;
        if (bj == NULL || bj->state != VB_BLOCK_JOB_COMPLETED) {
            ok = FALSE;
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "migration of disk %s failed%s%s",
                        c->target,
                        bj == NULL || !vb_domain_block_job_ended(bj->state)
                            ? ": its mirror did not end"
                        : bj->error != NULL ? ": " : " (the mirror was cancelled)",
                        bj != NULL && bj->error != NULL ? bj->error : "");
        }
    }
    g_mutex_unlock(&dom->lock);

    /* the jobs are not dismissed by QEMU (auto-dismiss off, as libvirt) */
    for (guint i = 0; i < copies->len; i++) {
        VbNbdCopy *c = g_ptr_array_index(copies, i);

        if (c->mirror_started) {
            JsonObject *args = json_object_new();
            g_autoptr(JsonNode) r = NULL;

            json_object_set_string_member(args, "id", c->job_id);
            r = vb_domain_async_monitor(list, dom, "job-dismiss", args, -1, NULL);
            g_mutex_lock(&dom->lock);
            vb_domain_block_job_forget_locked(dom, c->job_id);
            g_mutex_unlock(&dom->lock);
            c->mirror_started = FALSE;
        }
        /* the format node first: it sits on the storage node */
        if (c->format_added)
            blockdev_del(list, dom, c->format);
        c->format_added = FALSE;
        if (c->storage_added)
            blockdev_del(list, dom, c->storage);
        c->storage_added = FALSE;
    }
    g_mutex_lock(&dom->lock);
    if (dom->migration != NULL) {
        VbMigrationOut *m = dom->migration;

        g_clear_pointer(&m->nbd_copies, g_ptr_array_unref);
        m->nbd_copied = !abort && ok;
        m->nbd_bytes = m->nbd_copied ? bytes : 0;
    }
    g_mutex_unlock(&dom->lock);
    return ok;
}

/**
 * vb_migration_nbd_copy_finish:
 *
 * After the memory migration completed (the source is paused): cancels
 * the ready mirrors, which then complete with the destination holding
 * every byte, and removes the NBD client nodes. Fails when a mirror did
 * not complete. Job thread.
 */
gboolean
vb_migration_nbd_copy_finish(VbDomainList *list, VbDomainObj *dom, GError **error)
{
    return end_copies(list, dom, FALSE, error);
}

/**
 * vb_migration_nbd_copy_cancel:
 *
 * After a failure or an abort: cancels every mirror at once and removes
 * the NBD client nodes; the source's disks stay as they are. Job thread.
 */
void
vb_migration_nbd_copy_cancel(VbDomainList *list, VbDomainObj *dom)
{
    end_copies(list, dom, TRUE, NULL);
}
