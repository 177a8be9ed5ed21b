/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal disk-only snapshots of an inactive domain with `qemu-img snapshot` (issue 15,
 * part qemuimg), the way libvirt 9.0 takes them for a shut-off domain: one snapshot of the
 * same name in the top image of every qcow2 disk.
 *
 *  - Every image is opened with --image-opts driver=qcow2: the format is never probed.
 *  - Before anything is written, every disk is checked (qcow2, a local file or block
 *    device, the name free for create, present once for apply/delete) with
 *    `qemu-img info --output=json -U` (reading only, so -U is harmless there).
 *  - Writes (-c, -a, -d) never pass -U: an image that a running QEMU or another tool holds
 *    fails on its write lock, and that is reported as Busy naming the disk.
 *  - create is atomic over the disks: when one fails, the snapshot is deleted again from
 *    those that took it. apply is too: the state before it is kept in an undo snapshot
 *    that the disks go back to when one of them fails. delete cannot be undone: it goes on
 *    over the other disks and names those still holding the snapshot.
 *  - apply passes qcow2's snapshot id, looked up by name first: QEMU 7.2's `snapshot -a`
 *    takes its argument as an id before a name, so a snapshot named "2" would otherwise
 *    reach the snapshot whose id is 2. `snapshot -d` looks up names only (the first
 *    match), so delete passes the name, which create keeps unique in each image.
 *
 * Each qemu-img run is bounded by a timeout (an image on a hung NFS mount cannot hold the
 * job forever) and its stderr becomes the error's message. All of it blocks: workers only.
 */
#include "config.h"

#include <string.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "domain-def-priv.h"
#include "qemu-img-snapshot.h"
#include "vb-error.h"

#define QEMU_IMG_TIMEOUT_MS_DEFAULT 300000
#define SNAPSHOT_NAME_MAX 1024
/* the undo snapshot of a revert: a name create refuses */
#define UNDO_PREFIX "virtbus-undo-"

static guint timeout_ms = QEMU_IMG_TIMEOUT_MS_DEFAULT;

void
vb_qemu_img_snapshot_set_timeout_ms(guint ms)
{
    timeout_ms = ms != 0 ? ms : QEMU_IMG_TIMEOUT_MS_DEFAULT;
}

VbQemuImgDisk *
vb_qemu_img_disk_new(const char *target, const char *path, gboolean block)
{
    VbQemuImgDisk *d = g_new0(VbQemuImgDisk, 1);

    d->target = g_strdup(target);
    d->path = g_strdup(path);
    d->block = block;
    return d;
}

void
vb_qemu_img_disk_free(VbQemuImgDisk *disk)
{
    if (disk == NULL)
        return;
    g_free(disk->target);
    g_free(disk->path);
    g_free(disk);
}

void
vb_qemu_img_snapshot_free(VbQemuImgSnapshot *snap)
{
    if (snap == NULL)
        return;
    g_free(snap->id);
    g_free(snap->name);
    g_free(snap);
}

/**
 * vb_qemu_img_snapshot_name_validate:
 * @name: a snapshot name
 * @error: InvalidArgument when it is not one
 *
 * A name qcow2 can keep and XML can carry: not empty, UTF-8, no control characters, at
 * most 1024 bytes.
 */
gboolean
vb_qemu_img_snapshot_name_validate(const char *name, GError **error)
{
    if (name == NULL || *name == '\0') {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "a snapshot name must not be empty");
        return FALSE;
    }
    if (strlen(name) > SNAPSHOT_NAME_MAX) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "snapshot name is longer than %d bytes", SNAPSHOT_NAME_MAX);
        return FALSE;
    }
    if (!g_utf8_validate(name, -1, NULL)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "snapshot name is not UTF-8");
        return FALSE;
    }
    for (const char *p = name; *p != '\0'; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);

        if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0xfffe || c == 0xffff) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "snapshot name contains the control character U+%04X at byte %d; "
                        "use printable characters only", c, (int)(p - name));
            return FALSE;
        }
    }
    return TRUE;
}

/* --image-opts value for @disk: commas in the path doubled, as QEMU's option parser wants */
static char *
image_opts(const VbQemuImgDisk *disk)
{
    g_auto(GStrv) parts = g_strsplit(disk->path, ",", -1);
    g_autofree char *escaped = g_strjoinv(",,", parts);

    return g_strdup_printf("driver=qcow2,file.driver=%s,file.filename=%s",
                           disk->block ? "host_device" : "file", escaped);
}

typedef struct {
    gboolean done;
    char *out;
    char *err;
    GError *error;
} RunResult;

static void
communicate_done(GObject *source, GAsyncResult *res, gpointer data)
{
    RunResult *r = data;

    g_subprocess_communicate_utf8_finish(G_SUBPROCESS(source), res, &r->out, &r->err,
                                         &r->error);
    r->done = TRUE;
}

static gboolean
timed_out(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* qemu-img's stderr made readable: its "qemu-img: " prefixes and the option string it
 * names the image by replaced with the path, lines joined */
static char *
tidy_stderr(const char *err, const char *opts, const char *path)
{
    g_autofree char *quoted_opts = g_strdup_printf("'%s'", opts);
    g_autofree char *quoted_path = g_strdup_printf("'%s'", path);
    g_auto(GStrv) lines = g_strsplit(err != NULL ? err : "", "\n", -1);
    g_autoptr(GString) s = g_string_new(NULL);

    for (guint i = 0; lines[i] != NULL; i++) {
        const char *l = g_strstrip(lines[i]);

        if (g_str_has_prefix(l, "qemu-img: "))
            l += strlen("qemu-img: ");
        if (*l == '\0')
            continue;
        if (s->len > 0)
            g_string_append(s, "; ");
        g_string_append(s, l);
    }
    g_string_replace(s, quoted_opts, quoted_path, 0);
    if (s->len == 0)
        g_string_append(s, "qemu-img failed without a message");
    return g_string_free(g_steal_pointer(&s), FALSE);
}

/* the error code a qemu-img failure reads as */
static int
classify(const char *msg)
{
    if (strstr(msg, "Failed to get") != NULL && strstr(msg, "lock") != NULL)
        return VB_ERROR_BUSY;
    if (strstr(msg, "No space left on device") != NULL ||
        strstr(msg, "Input/output error") != NULL || strstr(msg, "Disk quota exceeded") != NULL ||
        strstr(msg, "Read-only file system") != NULL ||
        strstr(msg, "Permission denied") != NULL)
        return VB_ERROR_IO;
    if (strstr(msg, "not in qcow2 format") != NULL)
        return VB_ERROR_NOT_SUPPORTED;
    return VB_ERROR_QEMU;
}

/*
 * Runs qemu-img @args (no shell) on @disk, bounded by the timeout; its stdout in
 * @out_stdout (may be NULL). A failure names the disk: "disk vda (/p/a.qcow2): qemu-img
 * snapshot: <what qemu-img said>".
 */
static gboolean
run_qemu_img(const VbQemuImgDisk *disk, const char *what, const char *const *args,
             const char *opts, char **out_stdout, GError **error)
{
    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GMainContext) ctx = NULL;
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GCancellable) cancel = NULL;
    g_autoptr(GSource) timer = NULL;
    g_autofree char *msg = NULL;
    RunResult r = { 0 };
    gboolean expired = FALSE;
    GError *local = NULL;

    if (qemu_img == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "disk %s (%s): qemu-img is not "
                    "installed; internal snapshots of an inactive domain need it (qemu-utils)",
                    disk->target, disk->path);
        return FALSE;
    }
    g_ptr_array_add(argv, qemu_img);
    for (guint i = 0; args[i] != NULL; i++)
        g_ptr_array_add(argv, (char *)args[i]);
    g_ptr_array_add(argv, NULL);

    proc = g_subprocess_newv((const char *const *)argv->pdata,
                             G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                             &local);
    if (proc == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "disk %s (%s): cannot run qemu-img: %s",
                    disk->target, disk->path, local->message);
        g_error_free(local);
        return FALSE;
    }
    ctx = g_main_context_new();
    cancel = g_cancellable_new();
    timer = g_timeout_source_new(timeout_ms);
    g_main_context_push_thread_default(ctx);
    g_source_set_callback(timer, timed_out, &expired, NULL);
    g_source_attach(timer, ctx);
    g_subprocess_communicate_utf8_async(proc, NULL, cancel, communicate_done, &r);
    while (!r.done) {
        if (expired && !g_cancellable_is_cancelled(cancel)) {
            g_subprocess_force_exit(proc);
            g_cancellable_cancel(cancel);
        }
        g_main_context_iteration(ctx, TRUE);
    }
    g_source_destroy(timer);
    g_main_context_pop_thread_default(ctx);
    /* reaped in every case (force_exit sent SIGKILL on a timeout) */
    g_subprocess_wait(proc, NULL, NULL);
    if (expired) {
        g_clear_error(&r.error);
        g_free(r.out);
        g_free(r.err);
        g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                    "disk %s (%s): qemu-img %s did not finish within %u s and was killed; "
                    "is the storage under the image reachable?", disk->target, disk->path,
                    what, timeout_ms / 1000 > 0 ? timeout_ms / 1000 : 1);
        return FALSE;
    }
    if (r.error != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "disk %s (%s): qemu-img %s: %s",
                    disk->target, disk->path, what, r.error->message);
        g_error_free(r.error);
        g_free(r.out);
        g_free(r.err);
        return FALSE;
    }
    if (!g_subprocess_get_if_exited(proc) || g_subprocess_get_exit_status(proc) != 0) {
        msg = tidy_stderr(r.err, opts, disk->path);
        g_free(r.out);
        g_free(r.err);
        if (classify(msg) == VB_ERROR_BUSY)
            g_set_error(error, VB_ERROR, VB_ERROR_BUSY, "disk %s (%s): the image is in use: "
                        "another process (the domain's QEMU, or another tool) holds its lock; "
                        "qemu-img %s: %s", disk->target, disk->path, what, msg);
        else
            g_set_error(error, VB_ERROR, classify(msg), "disk %s (%s): qemu-img %s: %s",
                        disk->target, disk->path, what, msg);
        return FALSE;
    }
    g_free(r.err);
    if (out_stdout != NULL)
        *out_stdout = r.out;
    else
        g_free(r.out);
    return TRUE;
}

static const char *
str_member(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n)
               : NULL;
}

static gint64
int_member(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64
               ? json_node_get_int(n)
               : 0;
}

/**
 * vb_qemu_img_snapshot_list:
 * @disk: a qcow2 image
 * @error: error
 *
 * The internal snapshots of @disk's image, in qcow2's order, read with
 * `qemu-img info --output=json -U` (QEMU 7.2's `snapshot -l` has no JSON form). The names
 * are the image's (UTF-8, but not validated: an image made elsewhere may hold any bytes);
 * check them with vb_qemu_img_snapshot_name_validate() before they go into XML. Blocking.
 *
 * Returns: (transfer full): a GPtrArray of VbQemuImgSnapshot, or NULL with @error
 */
GPtrArray *
vb_qemu_img_snapshot_list(const VbQemuImgDisk *disk, GError **error)
{
    g_autofree char *opts = image_opts(disk);
    const char *args[] = { "info", "--output=json", "-U", "--image-opts", opts, NULL };
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(
        (GDestroyNotify)vb_qemu_img_snapshot_free);
    g_autofree char *out = NULL;
    JsonNode *root;
    JsonNode *snaps;
    JsonArray *arr;

    if (!run_qemu_img(disk, "info", args, opts, &out, error))
        return NULL;
    if (!json_parser_load_from_data(parser, out, -1, NULL) ||
        (root = json_parser_get_root(parser)) == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "disk %s (%s): qemu-img info printed no "
                    "JSON object", disk->target, disk->path);
        return NULL;
    }
    snaps = json_object_get_member(json_node_get_object(root), "snapshots");
    if (snaps == NULL)
        return g_steal_pointer(&list); /* qemu-img leaves the member out when there is none */
    if (!JSON_NODE_HOLDS_ARRAY(snaps)) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "disk %s (%s): qemu-img info's "
                    "\"snapshots\" is not an array", disk->target, disk->path);
        return NULL;
    }
    arr = json_node_get_array(snaps);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonNode *n = json_array_get_element(arr, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        VbQemuImgSnapshot *s;

        if (o == NULL || str_member(o, "id") == NULL || str_member(o, "name") == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "disk %s (%s): qemu-img info lists "
                        "a snapshot without an id or a name", disk->target, disk->path);
            return NULL;
        }
        s = g_new0(VbQemuImgSnapshot, 1);
        s->id = g_strdup(str_member(o, "id"));
        s->name = g_strdup(str_member(o, "name"));
        s->date_sec = int_member(o, "date-sec");
        s->vm_state_size = (guint64)int_member(o, "vm-state-size");
        s->vm_clock_nsec = (guint64)int_member(o, "vm-clock-sec") * G_GUINT64_CONSTANT(1000000000) +
                           (guint64)int_member(o, "vm-clock-nsec");
        g_ptr_array_add(list, s);
    }
    return g_steal_pointer(&list);
}

/* the id of the one snapshot of @disk named @name: NULL and *@out_missing when there is
 * none, NULL with @error when it cannot be read or the name is not unique */
static char *
find_snapshot(const VbQemuImgDisk *disk, const char *name, gboolean *out_missing,
              GError **error)
{
    g_autoptr(GPtrArray) list = vb_qemu_img_snapshot_list(disk, error);
    const char *id = NULL;
    guint count = 0;

    *out_missing = FALSE;
    if (list == NULL)
        return NULL;
    for (guint i = 0; i < list->len; i++) {
        const VbQemuImgSnapshot *s = g_ptr_array_index(list, i);

        if (strcmp(s->name, name) == 0) {
            id = s->id;
            count++;
        }
    }
    if (count > 1) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "disk %s (%s): the image has %u "
                    "internal snapshots named '%s'; remove the extra ones with "
                    "'qemu-img snapshot -d ID' (see 'qemu-img snapshot -l')", disk->target,
                    disk->path, count, name);
        return NULL;
    }
    if (count == 0) {
        *out_missing = TRUE;
        return NULL;
    }
    return g_strdup(id);
}

static void
missing_error(const VbQemuImgDisk *disk, const char *name, GError **error)
{
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "disk %s (%s): the image has no "
                "internal snapshot named '%s'", disk->target, disk->path, name);
}

static gboolean
run_snapshot(const VbQemuImgDisk *disk, const char *op, const char *arg, GError **error)
{
    g_autofree char *opts = image_opts(disk);
    const char *args[] = { "snapshot", "-q", "--image-opts", op, arg, opts, NULL };

    return run_qemu_img(disk, "snapshot", args, opts, NULL, error);
}

/* deletes @name again from @disk after a failed create; logs what it cannot do */
static void
rollback_one(const VbQemuImgDisk *disk, const char *name)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *id = NULL;
    gboolean missing = FALSE;

    id = find_snapshot(disk, name, &missing, &err);
    if (id == NULL) {
        if (!missing)
            g_warning("rollback of snapshot '%s': %s", name, err->message);
        return;
    }
    if (!run_snapshot(disk, "-d", name, &err))
        g_warning("rollback of snapshot '%s' (id %s): %s; delete it with 'qemu-img snapshot "
                  "-d'", name, id, err->message);
}

/* create without the name checks (the undo snapshot of a revert comes this way) */
static gboolean
create_all(GPtrArray *disks, const char *name, GError **error)
{
    guint i;

    for (i = 0; i < disks->len; i++) {
        const VbQemuImgDisk *d = g_ptr_array_index(disks, i);
        g_autoptr(GPtrArray) list = vb_qemu_img_snapshot_list(d, error);

        if (list == NULL)
            return FALSE;
        for (guint j = 0; j < list->len; j++) {
            const VbQemuImgSnapshot *s = g_ptr_array_index(list, j);

            if (strcmp(s->name, name) == 0) {
                g_set_error(error, VB_ERROR, VB_ERROR_EXISTS, "disk %s (%s): the image already "
                            "has an internal snapshot named '%s' (id %s)", d->target, d->path,
                            name, s->id);
                return FALSE;
            }
        }
    }
    for (i = 0; i < disks->len; i++) {
        const VbQemuImgDisk *d = g_ptr_array_index(disks, i);

        if (!run_snapshot(d, "-c", name, error))
            break;
    }
    if (i == disks->len)
        return TRUE;
    /* the failed image may hold a half-made snapshot too: qemu-img removes it, but check */
    for (guint j = 0; j <= i; j++)
        rollback_one(g_ptr_array_index(disks, j), name);
    if (i > 0)
        g_prefix_error(error, "snapshot '%s' not taken (removed again from the %u disk%s "
                       "before): ", name, i, i > 1 ? "s" : "");
    return FALSE;
}

/**
 * vb_qemu_img_snapshot_create:
 * @disks: the disks (VbQemuImgDisk) to snapshot, from vb_qemu_img_snapshot_disks()
 * @name: the snapshot's name
 * @error: InvalidArgument (name; the prefix "virtbus-undo-" is kept for reverts),
 *   AlreadyExists (an image has a snapshot of that name), Busy (an image is in use), IO
 *   (no space, I/O error), Qemu, OperationTimeout
 *
 * Takes an internal snapshot @name in every image of @disks, all or none: a failure
 * deletes it again from the images that took it. An empty @disks does nothing (whether a
 * snapshot without disks is allowed is the caller's choice). Blocking: workers only, no
 * lock held.
 */
gboolean
vb_qemu_img_snapshot_create(GPtrArray *disks, const char *name, GError **error)
{
    if (!vb_qemu_img_snapshot_name_validate(name, error))
        return FALSE;
    if (g_str_has_prefix(name, UNDO_PREFIX)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "snapshot names starting with '%s' "
                    "are kept for the service's own use; choose another name", UNDO_PREFIX);
        return FALSE;
    }
    return create_all(disks, name, error);
}

/* the id of @name in each disk, in @disks' order; NULL entries for disks that lack it when
 * @ignore_missing */
static GPtrArray *
resolve_all(GPtrArray *disks, const char *name, gboolean ignore_missing, GError **error)
{
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);

    if (!vb_qemu_img_snapshot_name_validate(name, error))
        return NULL;
    for (guint i = 0; i < disks->len; i++) {
        const VbQemuImgDisk *d = g_ptr_array_index(disks, i);
        gboolean missing = FALSE;
        char *id = find_snapshot(d, name, &missing, error);

        if (id == NULL && !missing)
            return NULL;
        if (id == NULL && !ignore_missing) {
            missing_error(d, name, error);
            return NULL;
        }
        g_ptr_array_add(ids, id);
    }
    return g_steal_pointer(&ids);
}

/* qemu-img names the snapshot of a failed -a by the id it was given: name it by @name */
static void
name_the_id(GError **error, const char *id, const char *name)
{
    g_autofree char *from = g_strdup_printf("snapshot '%s'", id);
    g_autofree char *to = g_strdup_printf("snapshot '%s' (id %s)", name, id);
    GString *s;

    if (error == NULL || *error == NULL)
        return;
    s = g_string_new((*error)->message);
    g_string_replace(s, from, to, 1);
    g_free((*error)->message);
    (*error)->message = g_string_free(s, FALSE);
}

/* deletes the undo snapshot of a revert from @disks, but from the disks named in @keep */
static void
drop_undo(GPtrArray *disks, const char *undo, GHashTable *keep)
{
    for (guint i = 0; i < disks->len; i++) {
        const VbQemuImgDisk *d = g_ptr_array_index(disks, i);
        g_autoptr(GError) err = NULL;

        if (keep != NULL && g_hash_table_contains(keep, d->target))
            continue;
        if (!run_snapshot(d, "-d", undo, &err))
            g_warning("revert: the snapshot '%s' that kept the state before it is left in "
                      "the image: %s", undo, err->message);
    }
}

/**
 * vb_qemu_img_snapshot_apply:
 * @disks: the disks, as for vb_qemu_img_snapshot_create()
 * @name: the snapshot to go back to
 * @error: InvalidArgument (no such snapshot in a disk), OperationInvalid (the name is not
 *   unique in an image), Busy, IO, Qemu, OperationTimeout
 *
 * Reverts every image of @disks to its internal snapshot @name, all or none: each image
 * is checked to hold @name exactly once, then the current state of every image is kept
 * in an undo snapshot ("virtbus-undo-…", taken as by vb_qemu_img_snapshot_create(), so a
 * busy or full image fails here, before anything is reverted). When a revert fails
 * midway the disks already reverted go back to the undo snapshot; the undo snapshots are
 * deleted at the end. A disk that cannot be put back keeps its undo snapshot and the
 * error names both. Blocking: workers only, no lock held.
 */
gboolean
vb_qemu_img_snapshot_apply(GPtrArray *disks, const char *name, GError **error)
{
    g_autoptr(GPtrArray) ids = resolve_all(disks, name, FALSE, error);
    g_autoptr(GHashTable) stuck = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GString) stuck_list = g_string_new(NULL);
    g_autofree char *undo = NULL;
    guint i;

    if (ids == NULL)
        return FALSE;
    undo = g_strdup_printf(UNDO_PREFIX "%08x%08x", g_random_int(), g_random_int());
    if (!create_all(disks, undo, error)) {
        g_prefix_error(error, "revert to '%s' not started, nothing changed: ", name);
        return FALSE;
    }
    for (i = 0; i < disks->len; i++) {
        const VbQemuImgDisk *d = g_ptr_array_index(disks, i);

        if (!run_snapshot(d, "-a", g_ptr_array_index(ids, i), error)) {
            name_the_id(error, g_ptr_array_index(ids, i), name);
            break;
        }
    }
    if (i == disks->len) {
        drop_undo(disks, undo, NULL);
        return TRUE;
    }
    /* the undo name is not made of digits: qemu-img cannot take it for an id */
    for (guint j = 0; j <= i; j++) {
        VbQemuImgDisk *d = g_ptr_array_index(disks, j);
        g_autoptr(GError) err = NULL;

        if (run_snapshot(d, "-a", undo, &err))
            continue;
        g_warning("revert to '%s': %s", name, err->message);
        g_hash_table_add(stuck, d->target);
        g_string_append_printf(stuck_list, "%s%s", stuck_list->len > 0 ? ", " : "", d->target);
    }
    drop_undo(disks, undo, stuck);
    if (stuck_list->len > 0)
        g_prefix_error(error, "revert to '%s' failed, and disk(s) %s could not be put back: "
                       "their state before the revert is in their snapshot '%s' "
                       "(qemu-img snapshot -a); ", name, stuck_list->str, undo);
    else
        g_prefix_error(error, "revert to '%s' failed; the disks are as they were: ", name);
    return FALSE;
}

/**
 * vb_qemu_img_snapshot_delete:
 * @disks: the disks, as for vb_qemu_img_snapshot_create()
 * @name: the snapshot to delete
 * @ignore_missing: a disk without @name is passed over (as libvirt does on delete: a disk
 *   added after the snapshot does not have it)
 * @error: as vb_qemu_img_snapshot_apply()
 *
 * Deletes @name from every image of @disks. A failure on one disk does not stop the others
 * (what is deleted is gone); the error is the first failure, naming the disks that still
 * hold the snapshot. Blocking: workers only.
 */
gboolean
vb_qemu_img_snapshot_delete(GPtrArray *disks, const char *name, gboolean ignore_missing,
                            GError **error)
{
    g_autoptr(GPtrArray) ids = resolve_all(disks, name, ignore_missing, error);
    g_autoptr(GString) left = g_string_new(NULL);
    GError *first = NULL;

    if (ids == NULL)
        return FALSE;
    for (guint i = 0; i < disks->len; i++) {
        const VbQemuImgDisk *d = g_ptr_array_index(disks, i);
        const char *id = g_ptr_array_index(ids, i);
        g_autoptr(GError) err = NULL;

        if (id == NULL)
            continue;
        if (run_snapshot(d, "-d", name, &err))
            continue;
        g_string_append_printf(left, "%s%s", left->len > 0 ? ", " : "", d->target);
        if (first == NULL)
            first = g_steal_pointer(&err);
    }
    if (first == NULL)
        return TRUE;
    g_propagate_prefixed_error(error, first, "snapshot '%s' is still in disk(s) %s: ", name,
                               left->str);
    return FALSE;
}

/**
 * vb_qemu_img_snapshot_disks:
 * @def: the domain's (inactive) definition
 * @skip: (nullable): target devs to leave out (snapshot='no' in the snapshot's XML)
 * @error: NotSupported naming the disk and the reason
 *
 * The disks an internal snapshot of the inactive @def goes to, as libvirt picks them:
 * device='disk' with a source, not <readonly/> (libvirt's snapshot default for those is
 * 'no'), each a local file or block device in qcow2 format; the top image of a chain only.
 * Any other disk refuses the whole snapshot (list it in @skip to leave it out). No I/O.
 *
 * Returns: (transfer full): a GPtrArray of VbQemuImgDisk (maybe empty), or NULL
 */
GPtrArray *
vb_qemu_img_snapshot_disks(const VbDomainDef *def, const char *const *skip, GError **error)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(
        (GDestroyNotify)vb_qemu_img_disk_free);
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);
        const char *format;

        gboolean local;

        if (dev->kind != VB_DEV_DISK || g_strcmp0(dev->device, "disk") != 0 ||
            dev->readonly || dev->target_dev == NULL)
            continue;
        if (skip != NULL && g_strv_contains(skip, dev->target_dev))
            continue;
        local = g_strcmp0(dev->type, "file") == 0 || g_strcmp0(dev->type, "block") == 0;
        if (local && dev->source_path == NULL)
            continue; /* no medium: nothing to snapshot */
        if (!local) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "disk %s: a disk of "
                        "type='%s' cannot take an internal snapshot while the domain is "
                        "inactive (only local files and block devices can); give it "
                        "snapshot='no'", dev->target_dev, dev->type != NULL ? dev->type : "");
            return NULL;
        }
        format = dev->driver_type != NULL ? dev->driver_type : "raw";
        if (strcmp(format, "qcow2") != 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "disk %s (%s): format '%s' "
                        "does not support internal snapshots, only qcow2 does; give it "
                        "snapshot='no' or take an external snapshot", dev->target_dev,
                        dev->source_path, format);
            return NULL;
        }
        g_ptr_array_add(out, vb_qemu_img_disk_new(dev->target_dev, dev->source_path,
                                                  strcmp(dev->type, "block") == 0));
    }
    return g_steal_pointer(&out);
}

/**
 * vb_qemu_img_create_overlay:
 * @disk: its target, and the new image's path as @disk->path
 * @backing: the image the overlay sits on (absolute), of format @backing_format
 * @size: the virtual size in bytes, or 0 to read it from @backing; with a size the backing
 *   image is not opened (-u: a running QEMU holds it)
 *
 * Creates the new qcow2 overlay of an external snapshot (issue 15), never over an existing
 * file (qemu-img create would truncate it). Workers only.
 */
gboolean
vb_qemu_img_create_overlay(const VbQemuImgDisk *disk, const char *backing,
                           const char *backing_format, guint64 size, GError **error)
{
    g_autofree char *size_str = size > 0 ? g_strdup_printf("%" G_GUINT64_FORMAT, size) : NULL;
    const char *args[] = { "create", "-q", "-f", "qcow2", "-F", backing_format, "-b", backing,
                           size > 0 ? "-u" : "--", disk->path, size_str, NULL };

    if (g_file_test(disk->path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "disk %s: the external snapshot's image %s already exists; remove it, "
                    "name another file, or give REUSE_EXT (32) to use it", disk->target,
                    disk->path);
        return FALSE;
    }
    return run_qemu_img(disk, "create", args, disk->path, NULL, error);
}

/**
 * vb_qemu_img_create:
 * @disk: its target, and the new image's path as @disk->path
 * @format: "qcow2" or "raw"
 *
 * Creates an empty image of @size bytes that must not exist yet (`qemu-img create`): a
 * block copy's destination. Workers.
 */
gboolean
vb_qemu_img_create(const VbQemuImgDisk *disk, const char *format, guint64 size,
                   GError **error)
{
    g_autofree char *size_str = g_strdup_printf("%" G_GUINT64_FORMAT, size);
    const char *args[] = { "create", "-q", "-f", format, "--", disk->path, size_str, NULL };

    if (g_file_test(disk->path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "disk %s: the image %s already exists", disk->target, disk->path);
        return FALSE;
    }
    return run_qemu_img(disk, "create", args, disk->path, NULL, error);
}

/**
 * vb_qemu_img_commit:
 * @disk: its target, and the overlay's path as @disk->path
 *
 * Commits the qcow2 overlay into its backing file (`qemu-img commit`, the overlay kept:
 * the caller removes it). Deleting an external snapshot of an inactive domain. Workers.
 */
gboolean
vb_qemu_img_commit(const VbQemuImgDisk *disk, GError **error)
{
    const char *args[] = { "commit", "-q", "-f", "qcow2", "--", disk->path, NULL };

    return run_qemu_img(disk, "commit", args, disk->path, NULL, error);
}

/**
 * vb_qemu_img_rebase_unsafe:
 * @disk: its target, and the image to change as @disk->path
 *
 * Points the qcow2 image's backing file at @backing without copying data (`rebase -u`):
 * after a commit of the image below into @backing, both hold the same data. Workers.
 */
gboolean
vb_qemu_img_rebase_unsafe(const VbQemuImgDisk *disk, const char *backing,
                          const char *backing_format, GError **error)
{
    const char *args[] = { "rebase", "-q", "-u", "-f", "qcow2", "-F", backing_format, "-b",
                           backing, "--", disk->path, NULL };

    return run_qemu_img(disk, "rebase", args, disk->path, NULL, error);
}

/**
 * vb_qemu_img_backing_chain:
 * @disk: the top image as @disk->path
 *
 * Returns: (transfer full) (element-type utf8): the files of @disk's chain, top first
 *   (`qemu-img info --backing-chain`, read only), their formats in @out_formats; or %NULL
 */
GPtrArray *
vb_qemu_img_backing_chain(const VbQemuImgDisk *disk, GPtrArray **out_formats, GError **error)
{
    g_autoptr(GPtrArray) formats = g_ptr_array_new_with_free_func(g_free);
    const char *args[] = { "info", "-U", "--backing-chain", "--output=json", "--", disk->path,
                           NULL };
    g_autofree char *out = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    JsonNode *root;
    JsonArray *a;

    if (!run_qemu_img(disk, "info", args, disk->path, &out, error))
        return NULL;
    if (!json_parser_load_from_data(parser, out, -1, NULL) ||
        (root = json_parser_get_root(parser)) == NULL || !JSON_NODE_HOLDS_ARRAY(root)) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU,
                    "disk %s (%s): qemu-img info --backing-chain did not answer a list",
                    disk->target, disk->path);
        return NULL;
    }
    a = json_node_get_array(root);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        const char *f = o != NULL ? str_member(o, "filename") : NULL;
        const char *fmt = o != NULL ? str_member(o, "format") : NULL;

        if (f == NULL)
            break;
        g_ptr_array_add(files, g_strdup(f));
        g_ptr_array_add(formats, g_strdup(fmt != NULL ? fmt : "raw"));
    }
    *out_formats = g_steal_pointer(&formats);
    return g_steal_pointer(&files);
}
