/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a start needs to know about the disks' images before QEMU is spawned, read in the
 * start path (a worker thread, no domain lock held; the builder stays free of I/O):
 *
 *  - a missing medium: startupPolicy='optional' drops it (the drive starts empty, a disk
 *    is left out), anything else refuses the start naming the file;
 *  - the backing chain of a local image whose <backingStore> the definition does not give:
 *    read layer by layer with `qemu-img info --output=json -U -f FORMAT`, each layer opened
 *    with the format the layer above recorded for it, so a raw image is never probed as
 *    qcow2. A backing image whose format is not recorded is probed only when the probe
 *    finds no backing image in it; otherwise the start is refused, as libvirt 9.0 does.
 *    A missing backing file refuses the start naming it and the image that names it.
 *
 * qemu-img (not our own header reader) because it reads every format QEMU opens, resolves
 * relative backing names as QEMU will, and is what the images were made with; each run is
 * bounded by a timeout, so an image on a hung NFS mount cannot hold the start forever.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <scsi/sg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "qemu-command-priv.h"
#include "qemu-hotplug.h"
#include "vb-error.h"

#define QEMU_IMG_TIMEOUT_MS 30000
#define CHAIN_MAX_DEPTH 200

static void
layer_free(VbQemuDiskLayer *l)
{
    g_free(l->type);
    g_free(l->path);
    g_free(l->format);
    g_free(l);
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

/* runs @argv, its output in @out_stdout; fails on a non-zero exit with what it printed */
static gboolean
run_bounded(const char *const *argv, char **out_stdout, GError **error)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GCancellable) cancel = g_cancellable_new();
    g_autoptr(GSource) timer = g_timeout_source_new(QEMU_IMG_TIMEOUT_MS);
    RunResult r = { 0 };
    gboolean expired = FALSE;

    proc = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                             G_SUBPROCESS_FLAGS_STDERR_PIPE, error);
    if (proc == NULL)
        return FALSE;
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
    if (expired) {
        g_clear_error(&r.error);
        g_free(r.out);
        g_free(r.err);
        /* reap it: force_exit sent SIGKILL */
        g_subprocess_wait(proc, NULL, NULL);
        g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                    "'%s info %s' did not answer within %d s", argv[0],
                    argv[g_strv_length((char **)argv) - 1], QEMU_IMG_TIMEOUT_MS / 1000);
        return FALSE;
    }
    if (r.error != NULL) {
        g_propagate_error(error, r.error);
        g_free(r.out);
        g_free(r.err);
        return FALSE;
    }
    g_subprocess_wait(proc, NULL, NULL);
    if (!g_subprocess_get_if_exited(proc) || g_subprocess_get_exit_status(proc) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "%s", r.err != NULL ? g_strstrip(r.err)
                                                                          : "qemu-img failed");
        g_free(r.out);
        g_free(r.err);
        return FALSE;
    }
    g_free(r.err);
    *out_stdout = r.out;
    return TRUE;
}

/* `qemu-img info` of one image; @format NULL probes it */
static JsonObject *
image_info(const char *path, const char *format, GError **error)
{
    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");
    g_autofree char *out = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    const char *argv[] = { NULL, "info", "--output=json", "-U", NULL, NULL, NULL, NULL };
    guint n = 4;
    JsonNode *root;

    if (qemu_img == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "qemu-img is not installed; it "
                    "reads the backing chain of '%s'", path);
        return NULL;
    }
    argv[0] = qemu_img;
    if (format != NULL) {
        argv[n++] = "-f";
        argv[n++] = format;
    }
    argv[n] = path;
    if (!run_bounded(argv, &out, error)) {
        g_prefix_error(error, "cannot read image '%s': ", path);
        return NULL;
    }
    if (!json_parser_load_from_data(parser, out, -1, error))
        return NULL;
    root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "qemu-img info of '%s' is not an object",
                    path);
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

static const char *
member(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    return n != NULL && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n)
               : NULL;
}

/* where the backing file named in @info of @path is, or NULL (with @error) */
static char *
backing_path(JsonObject *info, const char *path, GError **error)
{
    const char *full = member(info, "full-backing-filename");
    const char *name = member(info, "backing-filename");
    g_autofree char *dir = NULL;

    if (full == NULL)
        full = name;
    if (g_str_has_prefix(full, "json:") || strstr(full, "://") != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "backing file '%s' of '%s' is "
                    "not a local file; give the chain with <backingStore>", full, path);
        return NULL;
    }
    if (g_path_is_absolute(full))
        return g_strdup(full);
    dir = g_path_get_dirname(path);
    return g_build_filename(dir, full, NULL);
}

/* the layer below @path (opened as @format), or NULL at the end of the chain */
static gboolean
next_layer(const char *path, const char *format, VbQemuDiskLayer **out_layer, GError **error)
{
    g_autoptr(JsonObject) info = image_info(path, format, error);
    g_autofree char *below = NULL;
    g_autofree char *below_format = NULL;
    struct stat st;

    *out_layer = NULL;
    if (info == NULL)
        return FALSE;
    if (member(info, "backing-filename") == NULL)
        return TRUE;
    below = backing_path(info, path, error);
    if (below == NULL)
        return FALSE;
    if (stat(below, &st) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "backing file '%s' of '%s' %s",
                    below, path, errno == ENOENT ? "does not exist" : g_strerror(errno));
        return FALSE;
    }
    below_format = g_strdup(member(info, "backing-filename-format"));
    if (below_format == NULL) {
        g_autoptr(JsonObject) probe = image_info(below, NULL, error);

        if (probe == NULL)
            return FALSE;
        if (member(probe, "backing-filename") != NULL || member(probe, "format") == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "format of backing image '%s' of image '%s' was not specified in the "
                        "image metadata; record it (qemu-img rebase -u -F FORMAT -b '%s' "
                        "'%s') or give the chain with <backingStore>", below, path, below,
                        path);
            return FALSE;
        }
        below_format = g_strdup(member(probe, "format"));
    }
    *out_layer = g_new0(VbQemuDiskLayer, 1);
    (*out_layer)->type = g_strdup(S_ISBLK(st.st_mode) ? "block" : "file");
    (*out_layer)->path = g_steal_pointer(&below);
    (*out_layer)->format = g_steal_pointer(&below_format);
    return TRUE;
}

static GPtrArray *
read_chain(const char *top, const char *format, GError **error)
{
    g_autoptr(GPtrArray) layers = g_ptr_array_new_with_free_func((GDestroyNotify)layer_free);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    const char *path = top;

    g_hash_table_add(seen, (gpointer)top);
    for (guint depth = 0;; depth++) {
        VbQemuDiskLayer *l = NULL;

        if (depth >= CHAIN_MAX_DEPTH) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "backing chain of '%s' is "
                        "longer than %d images", top, CHAIN_MAX_DEPTH);
            return NULL;
        }
        if (!next_layer(path, format, &l, error))
            return NULL;
        if (l == NULL)
            return g_steal_pointer(&layers);
        g_ptr_array_add(layers, l);
        if (!g_hash_table_add(seen, l->path)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "backing chain of '%s' refers "
                        "to '%s' twice", top, l->path);
            return NULL;
        }
        path = l->path;
        format = l->format;
    }
}

static gboolean
has_child(const VbExtra *ex, const char *name)
{
    for (guint i = 0; ex->children != NULL && i < ex->children->len; i++) {
        if (strcmp(((const VbRawElem *)g_ptr_array_index(ex->children, i))->name, name) == 0)
            return TRUE;
    }
    return FALSE;
}

/* the local files of the <backingStore> chain that do not exist: the first one, named */
static gboolean
check_given_chain(const VbDeviceDef *dev, GError **error)
{
    for (guint i = 0; dev->extra.children != NULL && i < dev->extra.children->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(dev->extra.children, i);
        xmlDoc *doc;
        g_autofree char *above = g_strdup(dev->source_path);
        gboolean ok = TRUE;

        if (strcmp(raw->name, "backingStore") != 0 || (doc = vb_raw_elem_parse(raw)) == NULL)
            continue;
        for (xmlNode *bs = xmlDocGetRootElement(doc); ok && bs != NULL;) {
            xmlNode *next = NULL;

            for (xmlNode *c = bs->children; c != NULL; c = c->next) {
                xmlChar *p;

                if (c->type != XML_ELEMENT_NODE)
                    continue;
                if (strcmp((const char *)c->name, "backingStore") == 0)
                    next = c;
                if (strcmp((const char *)c->name, "source") != 0)
                    continue;
                p = xmlGetProp(c, (const xmlChar *)"file");
                if (p == NULL)
                    p = xmlGetProp(c, (const xmlChar *)"dev");
                if (p != NULL && !g_file_test((const char *)p, G_FILE_TEST_EXISTS)) {
                    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                                "backing file '%s' of '%s' does not exist", (const char *)p,
                                above);
                    ok = FALSE;
                }
                if (p != NULL) {
                    g_free(above);
                    above = g_strdup((const char *)p);
                }
                xmlFree(p);
            }
            bs = next;
        }
        xmlFreeDoc(doc);
        return ok;
    }
    return TRUE;
}

/* scsi-block passes SCSI commands through: the host device must speak SG_IO */
static gboolean
check_lun(const VbDeviceDef *dev, GError **error)
{
    int fd = open(dev->source_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int version = 0;
    gboolean ok;

    if (fd < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "cannot open '%s' of disk '%s': %s",
                    dev->source_path, dev->target_dev, g_strerror(errno));
        return FALSE;
    }
    ok = ioctl(fd, SG_GET_VERSION_NUM, &version) == 0;
    close(fd);
    if (!ok)
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "<disk device='lun'> '%s': '%s' "
                    "is not a SCSI device (it takes no SG_IO); use device='disk'",
                    dev->target_dev, dev->source_path);
    return ok;
}

static gboolean
prepare_disk(const VbDeviceDef *dev, GHashTable *out, GError **error)
{
    const char *policy = vb_extra_get_attr(&dev->source.extra, "startupPolicy");
    const char *format = dev->driver_type != NULL ? dev->driver_type : "raw";
    g_autoptr(VbQemuDiskPrep) prep = g_new0(VbQemuDiskPrep, 1);

    if (dev->source_path == NULL ||
        (strcmp(dev->type, "file") != 0 && strcmp(dev->type, "block") != 0))
        return TRUE; /* empty drives and network disks: nothing to read here */
    if (access(dev->source_path, F_OK) < 0) {
        int err = errno;

        /* a device node the service's device policy leaves out (DevicePolicy=closed of the
         * unit) exists, but even access() is refused: say so rather than "does not exist" */
        if (err != ENOENT && err != ENOTDIR) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "cannot access source '%s' of disk '%s': %s%s", dev->source_path,
                        dev->target_dev, g_strerror(err),
                        err == EPERM ? " (a device the service's device list does not allow: "
                                       "see DeviceAllow= in docs/confinement-unit.md)"
                                     : "");
            return FALSE;
        }
        if (g_strcmp0(policy, "optional") == 0) {
            g_message("disk %s: source '%s' is missing; startupPolicy='optional' drops it",
                      dev->target_dev, dev->source_path);
            prep->drop_source = TRUE;
            g_hash_table_insert(out, g_strdup(dev->target_dev), g_steal_pointer(&prep));
            return TRUE;
        }
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "source '%s' of disk '%s' does not "
                    "exist%s", dev->source_path, dev->target_dev,
                    policy != NULL ? " (startupPolicy is not 'optional')" : "");
        return FALSE;
    }
    if (strcmp(dev->device, "lun") == 0)
        return check_lun(dev, error);
    if (has_child(&dev->extra, "backingStore"))
        return check_given_chain(dev, error);
    if (strcmp(format, "qcow2") != 0 && strcmp(format, "qcow") != 0 &&
        strcmp(format, "qed") != 0 && strcmp(format, "vmdk") != 0)
        return TRUE; /* no backing image possible */
    prep->backing = read_chain(dev->source_path, format, error);
    if (prep->backing == NULL) {
        g_prefix_error(error, "disk '%s': ", dev->target_dev);
        return FALSE;
    }
    g_hash_table_insert(out, g_strdup(dev->target_dev), g_steal_pointer(&prep));
    return TRUE;
}

/**
 * vb_qemu_disk_prepare:
 * @def: the definition about to be started (a private copy: no lock needed)
 * @out_disks: (out) (transfer full): target dev -> VbQemuDiskPrep*, for
 *   VbQemuCommandParams.disks
 * @error: error
 *
 * Checks the disks' media and reads the backing chains of their images (see the top of
 * this file). Blocking (qemu-img, bounded by a timeout): workers only, no lock held.
 */
gboolean
vb_qemu_disk_prepare(const VbDomainDef *def, GHashTable **out_disks, GError **error)
{
    g_autoptr(GHashTable) disks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                        (GDestroyNotify)vb_qemu_disk_prep_free);
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *dev = g_ptr_array_index(devs, i);

        if (dev->kind == VB_DEV_DISK && !prepare_disk(dev, disks, error))
            return FALSE;
    }
    *out_disks = g_steal_pointer(&disks);
    return TRUE;
}

/**
 * vb_qemu_disk_prepare_one:
 * @dev: one disk (issue 13, part hotplug: a disk attached to a running domain)
 * @out_disks: (out) (transfer full): as vb_qemu_disk_prepare()
 * @error: as vb_qemu_disk_prepare()
 *
 * vb_qemu_disk_prepare() for @dev alone. Blocking: workers only, no lock held.
 */
gboolean
vb_qemu_disk_prepare_one(const VbDeviceDef *dev, GHashTable **out_disks, GError **error)
{
    g_autoptr(GHashTable) disks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                        (GDestroyNotify)vb_qemu_disk_prep_free);

    if (!prepare_disk(dev, disks, error))
        return FALSE;
    *out_disks = g_steal_pointer(&disks);
    return TRUE;
}
