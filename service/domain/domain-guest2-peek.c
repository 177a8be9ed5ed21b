/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain-def-priv.h" /* the disks of a definition */
#include "domain-guest2.h"
#include "domain-list-priv.h"
#include "qemu-monitor.h"
#include "store.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * GetDiskErrors, MemoryPeek, BlockPeek and Rename (issue 13, part guest2;
 * docs/guest-peek.md), with libvirt's checks (qemuDomainGetDiskErrors,
 * qemuDomainMemoryPeek, qemuDomainBlockPeek, qemuDomainRename). Worker threads; no lock is
 * held across I/O.
 */

#define QMP_TIMEOUT_MS 30000

static VbQemuMonitor *
job_monitor(VbDomainList *list, VbDomainObj *dom, VbJobType type, const char *method,
            const char *owner, GError **error)
{
    VbQemuMonitor *mon = NULL;

    if (!vb_domain_job_begin(dom, type, method, owner, list->config->job_wait_timeout,
                             list->config->max_queued, error))
        return NULL;
    g_mutex_lock(&dom->lock);
    if (dom->id < 0 || dom->mon == NULL || dom->stopping)
        vb_domain_obj_set_not_running_error(dom, method, error);
    else
        mon = vb_qemu_monitor_ref(dom->mon);
    g_mutex_unlock(&dom->lock);
    if (mon == NULL)
        vb_domain_job_end(dom);
    return mon;
}

/* ---- GetDiskErrors ---- */

/* query-block's qdev: "/machine/peripheral/virtio-disk0/virtio-backend" or "ide0-0-0" */
static char *
qdev_alias(const char *qdev)
{
    const char *p, *slash;

    if (qdev == NULL)
        return NULL;
    p = g_str_has_prefix(qdev, "/machine/peripheral/") ? qdev + strlen("/machine/peripheral/")
                                                       : qdev;
    slash = strchr(p, '/');
    return slash != NULL ? g_strndup(p, slash - p) : g_strdup(p);
}

/**
 * vb_domain_disk_error_note:
 * @alias: (nullable): the disk's alias (qdev id)
 * @nospace: the error was ENOSPC
 *
 * Keeps a BLOCK_IO_ERROR for GetDiskErrors: the disks whose error policy is report or
 * ignore have no io-status in query-block (QEMU keeps one for stop and enospc only), so
 * their last error of the run is what GetDiskErrors tells. Event worker.
 */
void
vb_domain_disk_error_note(VbDomainObj *dom, const char *alias, gboolean nospace)
{
    g_autoptr(GMutexLocker) locker = NULL;

    if (alias == NULL || *alias == '\0')
        return;
    locker = g_mutex_locker_new(&dom->lock);
    if (dom->disk_errors == NULL || dom->disk_errors_run != dom->run) {
        g_clear_pointer(&dom->disk_errors, g_hash_table_unref);
        dom->disk_errors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        dom->disk_errors_run = dom->run;
    }
    g_hash_table_replace(dom->disk_errors, g_strdup(alias),
                         GUINT_TO_POINTER(nospace ? VB_DISK_ERROR_NO_SPACE : VB_DISK_ERROR_UNSPEC));
}

/**
 * vb_domain_get_disk_errors:
 *
 * virDomainGetDiskErrors: the disks whose io-status (query-block) is not "ok", as
 * (target, libvirt's error code): UNSPEC 1 for "failed", NO_SPACE 2 for "nospace". QEMU
 * keeps the status from the BLOCK_IO_ERROR until the guest runs again (cont resets it).
 * A disk without io-status (error policy report or ignore) counts with the last
 * BLOCK_IO_ERROR of the run (vb_domain_disk_error_note()).
 * Worker threads; the domain's query job.
 *
 * Returns: (transfer full): an a(si)
 */
GVariant *
vb_domain_get_disk_errors(VbDomainList *list, VbDomainObj *dom, const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon =
        job_monitor(list, dom, VB_JOB_QUERY, "GetDiskErrors", owner, error);
    g_autoptr(JsonNode) r = NULL;
    g_autoptr(GHashTable) status = NULL;
    GVariantBuilder b;
    JsonArray *a;

    if (mon == NULL)
        return NULL;
    r = vb_qemu_monitor_command(mon, "query-block", NULL, QMP_TIMEOUT_MS, error);
    if (r == NULL) {
        vb_domain_job_end(dom);
        return NULL;
    }
    status = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    a = JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;
    for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *io =
            o != NULL ? json_object_get_string_member_with_default(o, "io-status", NULL) : NULL;
        char *alias;
        guint code;

        if (io == NULL)
            continue;
        /* "ok" is kept as NONE: such a disk does not count its events */
        code = g_str_equal(io, "ok")        ? VB_DISK_ERROR_NONE
               : g_str_equal(io, "nospace") ? VB_DISK_ERROR_NO_SPACE
                                            : VB_DISK_ERROR_UNSPEC;
        alias = qdev_alias(json_object_get_string_member_with_default(o, "qdev", NULL));
        if (alias == NULL)
            alias = g_strdup(json_object_get_string_member_with_default(o, "device", ""));
        g_hash_table_replace(status, alias, GUINT_TO_POINTER(code));
    }
    g_variant_builder_init(&b, G_VARIANT_TYPE("a(si)"));
    g_mutex_lock(&dom->lock);
    for (guint i = 0; i < dom->def->priv->devices->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(dom->def->priv->devices, i);
        g_autofree char *alias = NULL;
        gpointer code = NULL;

        if (dev->kind != VB_DEV_DISK || dev->target_dev == NULL)
            continue;
        alias = vb_domain_def_device_alias(dom->def, dev);
        if (alias == NULL)
            continue;
        if (!g_hash_table_lookup_extended(status, alias, NULL, &code) && dom->disk_errors != NULL &&
            dom->disk_errors_run == dom->run)
            code = g_hash_table_lookup(dom->disk_errors, alias);
        if (GPOINTER_TO_UINT(code) != VB_DISK_ERROR_NONE)
            g_variant_builder_add(&b, "(si)", dev->target_dev, (gint32)GPOINTER_TO_UINT(code));
    }
    g_mutex_unlock(&dom->lock);
    vb_domain_job_end(dom);
    return g_variant_ref_sink(g_variant_builder_end(&b));
}

/* ---- MemoryPeek ---- */

static gboolean
check_peek(const char *method, guint64 offset, guint64 size, GError **error)
{
    if (size > VB_PEEK_MAX) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "%s: size %" G_GUINT64_FORMAT " is above the limit of %u bytes per call; "
                    "split the request",
                    method, size, VB_PEEK_MAX);
        return FALSE;
    }
    if (offset > G_MAXUINT64 - size) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "%s: offset %" G_GUINT64_FORMAT " + size %" G_GUINT64_FORMAT " is out of range",
                    method, offset, size);
        return FALSE;
    }
    return TRUE;
}

/* Reads exactly @size bytes at @offset; the count read when short. */
static gssize
read_at(int fd, guint8 *buf, gsize size, guint64 offset)
{
    gsize done = 0;

    while (done < size) {
        ssize_t n = pread(fd, buf + done, size - done, (off_t)(offset + done));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += (gsize)n;
    }
    return (gssize)done;
}

/**
 * vb_domain_memory_peek:
 * @flags: VB_MEMORY_VIRTUAL (memsave, addresses as vCPU 0 sees them) or
 *   VB_MEMORY_PHYSICAL (pmemsave), exactly one
 *
 * virDomainMemoryPeek: QEMU writes the range into a file the service made (mode 0600) in
 * the domain's runtime directory; it is read and unlinked. At most VB_PEEK_MAX bytes.
 * Worker threads; the domain's query job.
 *
 * Returns: (transfer full): the bytes
 */
GBytes *
vb_domain_memory_peek(VbDomainList *list, VbDomainObj *dom, guint64 offset, guint64 size,
                      guint flags, const char *owner, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(JsonNode) r = NULL;
    g_autofree char *tmpl = NULL;
    g_autofree guint8 *buf = NULL;
    JsonObject *args;
    gssize got;
    int fd;

    if (flags != VB_MEMORY_VIRTUAL && flags != VB_MEMORY_PHYSICAL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "MemoryPeek: flags must be VIRTUAL (1) or PHYSICAL (2)");
        return NULL;
    }
    if (!check_peek("MemoryPeek", offset, size, error))
        return NULL;
    mon = job_monitor(list, dom, VB_JOB_QUERY, "MemoryPeek", owner, error);
    if (mon == NULL)
        return NULL;
    g_mutex_lock(&dom->lock);
    tmpl = g_build_filename(dom->runtime_dir, "qemu.mem.XXXXXX", NULL);
    g_mutex_unlock(&dom->lock);
    if (size == 0) { /* libvirt: an access test */
        vb_domain_job_end(dom);
        return g_bytes_new(NULL, 0);
    }
    fd = g_mkstemp_full(tmpl, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "MemoryPeek: cannot create '%s': %s", tmpl,
                    g_strerror(errno));
        vb_domain_job_end(dom);
        return NULL;
    }
    args = json_object_new();
    /* QMP's val is an int: a kernel address above 2^63 goes as its two's complement,
     * which QEMU takes back as the same 64-bit address */
    json_object_set_int_member(args, "val", (gint64)offset);
    json_object_set_int_member(args, "size", (gint64)size);
    json_object_set_string_member(args, "filename", tmpl);
    r = vb_qemu_monitor_command(mon, flags == VB_MEMORY_VIRTUAL ? "memsave" : "pmemsave", args,
                                QMP_TIMEOUT_MS, error); /* @args: transfer full */
    vb_domain_job_end(dom);
    if (r != NULL) {
        buf = g_malloc0(size);
        got = read_at(fd, buf, size, 0);
        if (got != (gssize)size) {
            g_set_error(error, VB_ERROR, VB_ERROR_IO,
                        "MemoryPeek: cannot read the memory QEMU saved to '%s': %s", tmpl,
                        got < 0 ? g_strerror(errno) : "short file");
            g_clear_pointer(&r, json_node_unref);
        }
    }
    close(fd);
    g_unlink(tmpl);
    if (r == NULL)
        return NULL;
    return g_bytes_new_take(g_steal_pointer(&buf), size);
}

/* ---- BlockPeek ---- */

/**
 * vb_domain_block_peek:
 * @disk: the disk's target (vda) or source path
 *
 * virDomainBlockPeek: reads the disk's source (a raw image file or a block device; libvirt
 * 9.0 refuses other formats), running or not. The file is opened non-blocking and must be
 * a regular file or a block device (a FIFO never pins a worker). Worker threads; no job
 * (the definition is copied under the lock).
 *
 * Returns: (transfer full): exactly @size bytes
 */
GBytes *
vb_domain_block_peek(VbDomainObj *dom, const char *disk, guint64 offset, guint64 size,
                     GError **error)
{
    g_autofree char *path = NULL;
    g_autofree char *format = NULL;
    g_autofree char *type = NULL;
    g_autofree char *name = NULL;
    g_autofree guint8 *buf = NULL;
    gboolean found = FALSE;
    struct stat st;
    gssize got;
    int fd;

    if (!check_peek("BlockPeek", offset, size, error))
        return NULL;
    g_mutex_lock(&dom->lock);
    name = g_strdup(dom->def->name);
    for (guint i = 0; i < dom->def->priv->devices->len && !found; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(dom->def->priv->devices, i);

        if (dev->kind != VB_DEV_DISK)
            continue;
        if (g_strcmp0(dev->target_dev, disk) == 0 ||
            (dev->source_path != NULL && g_strcmp0(dev->source_path, disk) == 0)) {
            found = TRUE;
            path = g_strdup(dev->source_path);
            format = g_strdup(dev->driver_type);
            type = g_strdup(dev->type);
        }
    }
    g_mutex_unlock(&dom->lock);
    if (!found) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "domain '%s' has no disk '%s' (give its target, like vda, or its source "
                    "path)",
                    name, disk);
        return NULL;
    }
    if (format != NULL && !g_str_equal(format, "raw")) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "peeking is only supported for disks with 'raw' format, not '%s' (as "
                    "libvirt)",
                    format);
        return NULL;
    }
    if (path == NULL ||
        (type != NULL && !g_str_equal(type, "file") && !g_str_equal(type, "block"))) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "disk '%s' of domain '%s' has no local source file (type '%s'): peeking "
                    "reads local files and block devices only",
                    disk, name, type != NULL ? type : "file");
        return NULL;
    }
    fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot open disk '%s' source '%s': %s", disk,
                    path, g_strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "disk '%s' source '%s' is not a regular file or a block device", disk, path);
        close(fd);
        return NULL;
    }
    buf = g_malloc0(MAX(size, 1));
    got = read_at(fd, buf, size, offset);
    close(fd);
    if (got < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot read disk '%s' source '%s': %s", disk,
                    path, g_strerror(errno));
        return NULL;
    }
    if ((guint64)got < size) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "'%s' starting from %" G_GUINT64_FORMAT " has only %" G_GSSIZE_FORMAT
                    " bytes available",
                    disk, offset, got);
        return NULL;
    }
    return g_bytes_new_take(g_steal_pointer(&buf), size);
}

/* ---- Rename ---- */

static gboolean
rename_checks(VbDomainList *list, VbDomainObj *dom, const char *name, GError **error)
{
    g_autoptr(GMutexLocker) locker = NULL;
    g_autofree char *other_uuid = NULL;

    g_mutex_lock(&list->lock);
    {
        VbDomainObj *other = g_hash_table_lookup(list->by_name, name);
        VbDomainStub *stub = g_hash_table_lookup(list->stub_names, name); /* issue 16 */

        if (other != NULL && other != dom)
            other_uuid = g_strdup(other->uuid_str);
        else if (stub != NULL)
            other_uuid = g_strdup(stub->uuid_str);
    }
    g_mutex_unlock(&list->lock);
    locker = g_mutex_locker_new(&dom->lock);
    if (dom->id >= 0 || dom->starting) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                            "cannot rename an active domain; shut it down first");
        return FALSE;
    }
    if (!dom->persistent) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                            "cannot rename a transient domain");
        return FALSE;
    }
    if (dom->has_managed_save) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                            "a domain with a managed save image cannot be renamed; start it "
                            "or remove the image (ManagedSaveRemove) first");
        return FALSE;
    }
    if (g_str_equal(dom->def->name, name)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "cannot rename domain '%s' to itself",
                    name);
        return FALSE;
    }
    if (other_uuid != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS, "domain '%s' already exists with uuid %s",
                    name, other_uuid);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_domain_rename:
 * @name: the new name (checked as DefineXML checks one)
 *
 * virDomainRename of an inactive persistent domain without a managed save image. The new
 * config is written first (and the autostart link and unsupported list made for it), the
 * domain takes the name, then the old files go: a crash in between leaves two configs of
 * the same uuid, and the start-up keeps the newer (vb_domain_list_load_configs). The
 * object path (the uuid) stays; Name changes; Lifecycle tells undefined/renamed and
 * defined/renamed, as libvirt's events. Worker threads; the domain's modify job.
 */
gboolean
vb_domain_rename(VbDomainList *list, VbDomainObj *dom, const char *name, const char *owner,
                 GError **error)
{
    g_autoptr(GMutexLocker) define_locker = NULL;
    g_autoptr(VbDomainDef) copy = NULL;
    g_autofree char *old = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *new_cfg = NULL, *old_cfg = NULL, *new_link = NULL, *old_link = NULL;
    g_auto(GStrv) unsupported = NULL;
    g_autoptr(GError) local = NULL;
    gboolean autostart, ok = FALSE;

    if (!vb_domain_def_name_validate(name, error))
        return FALSE;
    if (!vb_domain_job_begin(dom, VB_JOB_MODIFY, "Rename", owner, list->config->job_wait_timeout,
                             list->config->max_queued, error))
        return FALSE;
    define_locker = g_mutex_locker_new(&list->define_lock);
    if (!rename_checks(list, dom, name, error))
        goto out;
    g_mutex_lock(&dom->lock);
    old = g_strdup(dom->def->name);
    copy = vb_domain_def_copy(dom->def);
    autostart = dom->autostart;
    unsupported = g_strdupv(dom->unsupported);
    g_mutex_unlock(&dom->lock);
    if (copy == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED, "cannot copy the definition");
        goto out;
    }
    g_free(copy->name);
    copy->name = g_strdup(name);
    xml = vb_domain_def_format(copy, VB_DOMAIN_DEF_FORMAT_INACTIVE | VB_DOMAIN_DEF_FORMAT_SECURE,
                               error);
    if (xml == NULL)
        goto out;
    new_cfg = vb_paths_domain_config(list->paths, name);
    old_cfg = vb_paths_domain_config(list->paths, old);
    new_link = vb_paths_domain_autostart(list->paths, name);
    old_link = vb_paths_domain_autostart(list->paths, old);
    if (!vb_store_write_atomic(new_cfg, xml, -1, 0600, error))
        goto out;
    if (autostart) {
        g_autofree char *target = g_strconcat("../", name, ".xml", NULL);

        if (symlink(target, new_link) < 0 && errno != EEXIST) {
            g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot create autostart link '%s': %s",
                        new_link, g_strerror(errno));
            vb_store_remove(new_cfg, NULL);
            goto out;
        }
    }
    if (!vb_domain_unsupported_save(list, name, (const char *const *)unsupported, error)) {
        vb_store_remove(new_cfg, NULL);
        if (autostart)
            vb_store_remove(new_link, NULL);
        goto out;
    }
    g_mutex_lock(&list->lock);
    g_mutex_lock(&dom->lock);
    g_hash_table_remove(list->by_name, old);
    g_hash_table_insert(list->by_name, g_strdup(name), dom);
    vb_domain_def_free(dom->def);
    dom->def = g_steal_pointer(&copy);
    g_mutex_unlock(&dom->lock);
    g_mutex_unlock(&list->lock);
    /* the old files go last: a failure here leaves a stale file only */
    if (!vb_store_remove(old_cfg, &local) || (autostart && !vb_store_remove(old_link, &local)) ||
        !vb_domain_unsupported_save(list, old, NULL, &local))
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "renamed, but %s", local->message);
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "renamed from '%s' to '%s'", old, name);
    ok = TRUE;
out:
    g_clear_pointer(&define_locker, g_mutex_locker_free);
    vb_domain_job_end(dom);
    if (ok) {
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "undefined", "renamed");
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "defined", "renamed");
    }
    return ok;
}
