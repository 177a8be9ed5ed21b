/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internal snapshots of inactive disks with qemu-img (service/qemu/qemu-img-snapshot.c;
 * issue 15, part qemuimg), on real qcow2 images made with `qemu-img create` in a temp dir:
 * create/list/apply/delete, the data an apply brings back (qemu-io writes and checks a
 * pattern), a name that is also an id, the rollback when a later disk fails (an image held
 * open by qemu-io), raw images and unsupported disks refused, the write lock reported as
 * Busy, a full file system (a small tmpfs in a private mount namespace: root only) as IO,
 * and a hung qemu-img (a fake one: a real one does not hang on demand) killed on timeout.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "qemu-img-snapshot.h"
#include "vb-error.h"

static gboolean have_mountns;
static char *hang_file;
static char *fail_apply_file;

typedef struct {
    char *dir;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    (void)data;
    f->dir = g_dir_make_tmp("vb-qemu-img-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    const char *argv[] = { "rm", "-rf", f->dir, NULL };

    (void)data;
    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL,
                 NULL);
    g_free(f->dir);
}

/* runs @argv; its exit status, stdout+stderr in @out_text (nullable) */
static int
run(const char *const *argv, char **out_text)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status = -1;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               &err, &status, NULL));
    if (out_text != NULL)
        *out_text = g_strconcat(out, err, NULL);
    return g_spawn_check_wait_status(status, NULL) ? 0 : 1;
}

static char *
make_image(Fixture *f, const char *name, const char *format)
{
    char *path = g_build_filename(f->dir, name, NULL);
    const char *argv[] = { "qemu-img", "create", "-q", "-f", format, path, "64M", NULL };

    g_assert_cmpint(run(argv, NULL), ==, 0);
    return path;
}

/* qemu-io -c @cmd on @path; TRUE when it ran and verified */
static gboolean
qemu_io(const char *path, const char *cmd)
{
    const char *argv[] = { "qemu-io", "-f", "qcow2", "-c", cmd, path, NULL };
    g_autofree char *text = NULL;
    int rc = run(argv, &text);

    return rc == 0 && strstr(text, "Pattern verification failed") == NULL &&
           strstr(text, "failed") == NULL;
}

static GPtrArray *
disks_new(void)
{
    return g_ptr_array_new_with_free_func((GDestroyNotify)vb_qemu_img_disk_free);
}

/* the names of @disk's snapshots, space separated */
static char *
names(const VbQemuImgDisk *disk)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) list = vb_qemu_img_snapshot_list(disk, &error);
    GString *s = g_string_new(NULL);

    g_assert_no_error(error);
    for (guint i = 0; i < list->len; i++) {
        const VbQemuImgSnapshot *snap = g_ptr_array_index(list, i);

        g_string_append_printf(s, "%s%s", s->len > 0 ? " " : "", snap->name);
    }
    return g_string_free(s, FALSE);
}

/* qemu-io holding @path open for writing (its lock taken) until holder_end() */
static GSubprocess *
holder_start(const char *path)
{
    g_autoptr(GError) error = NULL;
    GSubprocess *p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                      G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, "qemu-io", "-f",
                                      "qcow2", path, NULL);
    g_autoptr(GDataInputStream) in = NULL;
    const char cmd[] = "read 0 512\n";

    g_assert_no_error(error);
    g_assert_true(g_output_stream_write_all(g_subprocess_get_stdin_pipe(p), cmd, strlen(cmd),
                                            NULL, NULL, &error));
    g_assert_no_error(error);
    in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(p));
    g_filter_input_stream_set_close_base_stream(G_FILTER_INPUT_STREAM(in), FALSE);
    for (;;) {
        g_autofree char *line = g_data_input_stream_read_line(in, NULL, NULL, &error);

        g_assert_no_error(error);
        g_assert_nonnull(line); /* qemu-io ended before it read */
        if (strstr(line, "read 512/512") != NULL)
            break;
    }
    return p;
}

static void
holder_end(GSubprocess *p)
{
    g_output_stream_close(g_subprocess_get_stdin_pipe(p), NULL, NULL);
    g_assert_true(g_subprocess_wait(p, NULL, NULL));
    g_object_unref(p);
}

static void
test_name_validate(void)
{
    g_autofree char *longname = g_strnfill(1025, 'a');
    const char *bad[] = { "", "a\nb", "tab\there", "del\x7f", "c1\xc2\x85", "\xff\xfe",
                          longname, NULL };

    for (guint i = 0; bad[i] != NULL; i++) {
        g_autoptr(GError) error = NULL;

        g_assert_false(vb_qemu_img_snapshot_name_validate(bad[i], &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    }
    g_assert_true(vb_qemu_img_snapshot_name_validate("before upgrade 2026-12-01 é", NULL));
    g_assert_false(vb_qemu_img_snapshot_name_validate(NULL, NULL));
}

static void
test_create_list_apply_delete(Fixture *f, gconstpointer data)
{
    g_autofree char *a = make_image(f, "a.qcow2", "qcow2");
    g_autoptr(GPtrArray) disks = disks_new();
    g_autoptr(GPtrArray) list = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *n1 = NULL;
    g_autofree char *n2 = NULL;
    const VbQemuImgSnapshot *s;

    (void)data;
    g_ptr_array_add(disks, vb_qemu_img_disk_new("vda", a, FALSE));
    list = vb_qemu_img_snapshot_list(g_ptr_array_index(disks, 0), &error);
    g_assert_no_error(error);
    g_assert_cmpuint(list->len, ==, 0);
    g_clear_pointer(&list, g_ptr_array_unref);

    g_assert_true(vb_qemu_img_snapshot_create(disks, "s1", &error));
    g_assert_no_error(error);
    list = vb_qemu_img_snapshot_list(g_ptr_array_index(disks, 0), &error);
    g_assert_no_error(error);
    g_assert_cmpuint(list->len, ==, 1);
    s = g_ptr_array_index(list, 0);
    g_assert_cmpstr(s->name, ==, "s1");
    g_assert_cmpstr(s->id, ==, "1");
    g_assert_cmpuint(s->vm_state_size, ==, 0);
    g_assert_cmpint(s->date_sec, >, g_get_real_time() / G_USEC_PER_SEC - 600);

    /* the same name again: qcow2 would take it, we do not */
    g_assert_false(vb_qemu_img_snapshot_create(disks, "s1", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_EXISTS);
    g_assert_nonnull(strstr(error->message, "disk vda ("));
    g_clear_error(&error);
    g_assert_true(vb_qemu_img_snapshot_create(disks, "s2", &error));
    g_assert_no_error(error);
    n1 = names(g_ptr_array_index(disks, 0));
    g_assert_cmpstr(n1, ==, "s1 s2");

    g_assert_true(vb_qemu_img_snapshot_apply(disks, "s1", &error));
    g_assert_no_error(error);
    g_assert_false(vb_qemu_img_snapshot_apply(disks, "nope", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "no internal snapshot named 'nope'"));
    g_clear_error(&error);
    g_assert_false(vb_qemu_img_snapshot_delete(disks, "nope", FALSE, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_clear_error(&error);
    g_assert_true(vb_qemu_img_snapshot_delete(disks, "nope", TRUE, &error));
    g_assert_no_error(error);

    g_assert_true(vb_qemu_img_snapshot_delete(disks, "s1", FALSE, &error));
    g_assert_no_error(error);
    n2 = names(g_ptr_array_index(disks, 0));
    g_assert_cmpstr(n2, ==, "s2");
    g_assert_false(vb_qemu_img_snapshot_create(disks, "bad\x01name", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_clear_error(&error);
    g_assert_false(vb_qemu_img_snapshot_create(disks, "virtbus-undo-1", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
}

/* what apply brings back is what the image held when the snapshot was taken */
static void
test_data(Fixture *f, gconstpointer data)
{
    g_autofree char *a = make_image(f, "a.qcow2", "qcow2");
    g_autofree char *b = make_image(f, "b.qcow2", "qcow2");
    g_autoptr(GPtrArray) disks = disks_new();
    g_autoptr(GError) error = NULL;

    (void)data;
    g_ptr_array_add(disks, vb_qemu_img_disk_new("vda", a, FALSE));
    g_ptr_array_add(disks, vb_qemu_img_disk_new("vdb", b, FALSE));
    g_assert_true(qemu_io(a, "write -P 0xaa 0 64k"));
    g_assert_true(qemu_io(b, "write -P 0x11 1M 64k"));
    g_assert_true(vb_qemu_img_snapshot_create(disks, "s1", &error));
    g_assert_no_error(error);
    g_assert_true(qemu_io(a, "write -P 0xbb 0 64k"));
    g_assert_true(qemu_io(b, "write -P 0x22 1M 64k"));
    g_assert_false(qemu_io(a, "read -P 0xaa 0 64k")); /* the check can fail */
    g_assert_true(vb_qemu_img_snapshot_apply(disks, "s1", &error));
    g_assert_no_error(error);
    g_assert_true(qemu_io(a, "read -P 0xaa 0 64k"));
    g_assert_true(qemu_io(b, "read -P 0x11 1M 64k"));
    /* the snapshot stays after apply, and the images are consistent */
    {
        g_autofree char *n = names(g_ptr_array_index(disks, 1));
        const char *check[] = { "qemu-img", "check", "-q", "-f", "qcow2", a, NULL };

        g_assert_cmpstr(n, ==, "s1");
        g_assert_cmpint(run(check, NULL), ==, 0);
    }
}

/* a disk on a backing chain: the snapshot goes into the top image only, as libvirt's */
static void
test_backing_chain(Fixture *f, gconstpointer data)
{
    g_autofree char *base = make_image(f, "base.qcow2", "qcow2");
    g_autofree char *top = g_build_filename(f->dir, "top.qcow2", NULL);
    const char *mk[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2",
                         top, NULL };
    g_autofree char *xml = NULL;
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(GPtrArray) disks = NULL;
    g_autoptr(GPtrArray) base_disks = disks_new();
    g_autoptr(GError) error = NULL;

    (void)data;
    g_assert_true(qemu_io(base, "write -P 0x77 1M 64k"));
    g_assert_cmpint(run(mk, NULL), ==, 0);
    xml = g_strdup_printf(
        "<domain type='qemu'><name>f</name><memory>131072</memory>"
        "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='%s'/><backingStore type='file'><format type='qcow2'/>"
        "<source file='%s'/><backingStore/></backingStore>"
        "<target dev='vda' bus='virtio'/></disk></devices></domain>", top, base);
    def = vb_domain_def_parse_string(xml, 0, &error);
    g_assert_no_error(error);
    disks = vb_qemu_img_snapshot_disks(def, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(disks->len, ==, 1);
    g_assert_true(qemu_io(top, "write -P 0xaa 0 64k"));
    g_assert_true(vb_qemu_img_snapshot_create(disks, "s1", &error));
    g_assert_no_error(error);
    g_assert_true(qemu_io(top, "write -P 0xcc 0 64k"));
    g_assert_true(qemu_io(top, "write -P 0xcc 1M 64k"));
    g_assert_true(vb_qemu_img_snapshot_apply(disks, "s1", &error));
    g_assert_no_error(error);
    g_assert_true(qemu_io(top, "read -P 0xaa 0 64k"));
    g_assert_true(qemu_io(top, "read -P 0x77 1M 64k")); /* from the backing image again */
    g_ptr_array_add(base_disks, vb_qemu_img_disk_new("base", base, FALSE));
    {
        g_autofree char *nt = names(g_ptr_array_index(disks, 0));
        g_autofree char *nb = names(g_ptr_array_index(base_disks, 0));

        g_assert_cmpstr(nt, ==, "s1");
        g_assert_cmpstr(nb, ==, "");
    }
}

/* qemu-img takes "1" as an id before a name: our name "1" must reach our snapshot */
static void
test_numeric_name(Fixture *f, gconstpointer data)
{
    g_autofree char *a = make_image(f, "a.qcow2", "qcow2");
    g_autoptr(GPtrArray) disks = disks_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *n = NULL;

    (void)data;
    g_ptr_array_add(disks, vb_qemu_img_disk_new("vda", a, FALSE));
    g_assert_true(qemu_io(a, "write -P 0x01 0 64k"));
    g_assert_true(vb_qemu_img_snapshot_create(disks, "first", &error)); /* id 1 */
    g_assert_true(qemu_io(a, "write -P 0x02 0 64k"));
    g_assert_true(vb_qemu_img_snapshot_create(disks, "second", &error)); /* id 2 */
    g_assert_true(qemu_io(a, "write -P 0x03 0 64k"));
    g_assert_true(vb_qemu_img_snapshot_create(disks, "1", &error)); /* id 3 */
    g_assert_no_error(error);
    g_assert_true(qemu_io(a, "write -P 0x04 0 64k"));
    g_assert_true(vb_qemu_img_snapshot_apply(disks, "1", &error));
    g_assert_no_error(error);
    g_assert_true(qemu_io(a, "read -P 0x03 0 64k"));
    g_assert_true(vb_qemu_img_snapshot_delete(disks, "1", FALSE, &error));
    g_assert_no_error(error);
    n = names(g_ptr_array_index(disks, 0));
    g_assert_cmpstr(n, ==, "first second");
}

/* the third disk fails (its image is in use): the first two lose the snapshot again */
static void
test_rollback_locked(Fixture *f, gconstpointer data)
{
    g_autofree char *a = make_image(f, "a.qcow2", "qcow2");
    g_autofree char *b = make_image(f, "b,with comma.qcow2", "qcow2");
    g_autofree char *c = make_image(f, "c.qcow2", "qcow2");
    g_autoptr(GPtrArray) disks = disks_new();
    g_autoptr(GError) error = NULL;
    GSubprocess *holder;

    (void)data;
    g_ptr_array_add(disks, vb_qemu_img_disk_new("vda", a, FALSE));
    g_ptr_array_add(disks, vb_qemu_img_disk_new("vdb", b, FALSE));
    g_ptr_array_add(disks, vb_qemu_img_disk_new("vdc", c, FALSE));
    holder = holder_start(c);
    g_assert_false(vb_qemu_img_snapshot_create(disks, "s1", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_BUSY);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "removed again from the 2 disks"));
    g_assert_nonnull(strstr(error->message, "disk vdc ("));
    g_assert_nonnull(strstr(error->message, c));
    g_assert_nonnull(strstr(error->message, "in use"));
    g_assert_nonnull(strstr(error->message, "Failed to get \"write\" lock"));
    g_assert_null(strstr(error->message, "driver=qcow2")); /* the path, not the options */
    for (guint i = 0; i < 3; i++) {
        g_autofree char *n = names(g_ptr_array_index(disks, i)); /* -U: reads while held */

        g_assert_cmpstr(n, ==, "");
    }
    g_clear_error(&error);

    /* apply and delete on a held image: refused, nothing changed */
    holder_end(holder);
    g_assert_true(vb_qemu_img_snapshot_create(disks, "s1", &error));
    g_assert_no_error(error);
    holder = holder_start(b);
    g_assert_false(vb_qemu_img_snapshot_delete(disks, "s1", FALSE, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_BUSY);
    g_assert_nonnull(strstr(error->message, "still in disk(s) vdb:"));
    g_clear_error(&error);
    g_assert_false(vb_qemu_img_snapshot_apply(disks, "s1", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG); /* vda lost it above */
    g_clear_error(&error);
    holder_end(holder);
    {
        g_autofree char *n = names(g_ptr_array_index(disks, 1));

        g_assert_cmpstr(n, ==, "s1");
    }
}

/* a revert that fails on the third disk puts the first two back; a held image stops it
 * before anything changes */
static void
test_apply_atomic(Fixture *f, gconstpointer data)
{
    const char *files[] = { "a.qcow2", "b.qcow2", "c.qcow2" };
    const char *targets[] = { "vda", "vdb", "vdc" };
    g_autoptr(GPtrArray) disks = disks_new();
    g_autoptr(GError) error = NULL;
    GSubprocess *holder;

    (void)data;
    for (guint i = 0; i < 3; i++) {
        g_autofree char *p = make_image(f, files[i], "qcow2");

        g_ptr_array_add(disks, vb_qemu_img_disk_new(targets[i], p, FALSE));
        g_assert_true(qemu_io(p, "write -P 0xaa 0 64k"));
    }
    g_assert_true(vb_qemu_img_snapshot_create(disks, "s1", &error));
    g_assert_no_error(error);
    for (guint i = 0; i < 3; i++)
        g_assert_true(qemu_io(((VbQemuImgDisk *)g_ptr_array_index(disks, i))->path,
                              "write -P 0xbb 0 64k"));

    /* the third disk's revert fails (an injected I/O error) */
    g_assert_true(g_file_set_contents(fail_apply_file, "c.qcow2", -1, NULL));
    g_assert_false(vb_qemu_img_snapshot_apply(disks, "s1", &error));
    g_assert_cmpint(g_unlink(fail_apply_file), ==, 0);
    g_test_message("%s", error->message);
    g_assert_error(error, VB_ERROR, VB_ERROR_IO);
    g_assert_nonnull(strstr(error->message, "the disks are as they were"));
    g_assert_nonnull(strstr(error->message, "Could not apply snapshot 's1' (id 1)"));
    g_assert_nonnull(strstr(error->message, "disk vdc ("));
    g_clear_error(&error);
    for (guint i = 0; i < 3; i++) {
        const VbQemuImgDisk *d = g_ptr_array_index(disks, i);
        g_autofree char *n = names(d);

        g_assert_true(qemu_io(d->path, "read -P 0xbb 0 64k"));
        g_assert_cmpstr(n, ==, "s1"); /* the undo snapshot is gone */
    }

    /* a held image: refused before any disk is reverted */
    holder = holder_start(((VbQemuImgDisk *)g_ptr_array_index(disks, 1))->path);
    g_assert_false(vb_qemu_img_snapshot_apply(disks, "s1", &error));
    holder_end(holder);
    g_assert_error(error, VB_ERROR, VB_ERROR_BUSY);
    g_assert_nonnull(strstr(error->message, "nothing changed"));
    g_assert_nonnull(strstr(error->message, "disk vdb ("));
    g_clear_error(&error);
    for (guint i = 0; i < 3; i++) {
        const VbQemuImgDisk *d = g_ptr_array_index(disks, i);
        g_autofree char *n = names(d);

        g_assert_true(qemu_io(d->path, "read -P 0xbb 0 64k"));
        g_assert_cmpstr(n, ==, "s1");
    }

    g_assert_true(vb_qemu_img_snapshot_apply(disks, "s1", &error));
    g_assert_no_error(error);
    for (guint i = 0; i < 3; i++) {
        const VbQemuImgDisk *d = g_ptr_array_index(disks, i);
        g_autofree char *n = names(d);

        g_assert_true(qemu_io(d->path, "read -P 0xaa 0 64k"));
        g_assert_cmpstr(n, ==, "s1");
    }
}

/* a raw image given as a disk directly, and which disks a definition gives */
static void
test_refused(Fixture *f, gconstpointer data)
{
    g_autofree char *a = make_image(f, "a.qcow2", "qcow2");
    g_autofree char *r = make_image(f, "r.img", "raw");
    g_autoptr(GPtrArray) disks = disks_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(GPtrArray) picked = NULL;
    const char *skip_vdb[] = { "vdb", "vdd", NULL };
    const char *skip_all[] = { "vdb", "vdd", "vde", NULL };

    (void)data;
    g_ptr_array_add(disks, vb_qemu_img_disk_new("vda", a, FALSE));
    g_ptr_array_add(disks, vb_qemu_img_disk_new("vdb", r, FALSE));
    g_assert_false(vb_qemu_img_snapshot_create(disks, "s1", &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
    g_assert_nonnull(strstr(error->message, "disk vdb ("));
    g_assert_nonnull(strstr(error->message, "not in qcow2 format"));
    g_clear_error(&error);
    {
        g_autofree char *n = names(g_ptr_array_index(disks, 0));

        g_assert_cmpstr(n, ==, ""); /* refused before anything was written */
    }

    xml = g_strdup_printf(
        "<domain type='qemu'><name>f</name><memory>131072</memory>"
        "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='%s'/><target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        "<source file='%s'/><target dev='vdb' bus='virtio'/></disk>"
        "<disk type='file' device='cdrom'><source file='/img/b.iso'/>"
        "<target dev='sda' bus='sata'/><readonly/></disk>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='/img/ro.qcow2'/><target dev='vdc' bus='virtio'/><readonly/></disk>"
        "<disk type='network' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source protocol='nbd' name='x'><host name='h' port='1'/></source>"
        "<target dev='vdd' bus='virtio'/></disk>"
        "<disk type='file' device='disk'><source file='/img/noformat.img'/>"
        "<target dev='vde' bus='virtio'/></disk>"
        "</devices></domain>", a, r);
    def = vb_domain_def_parse_string(xml, 0, &error);
    g_assert_no_error(error);
    g_assert_null(vb_qemu_img_snapshot_disks(def, NULL, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
    g_assert_nonnull(strstr(error->message, "disk vdb ("));
    g_assert_nonnull(strstr(error->message, "format 'raw'"));
    g_clear_error(&error);
    g_assert_null(vb_qemu_img_snapshot_disks(def, skip_vdb, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
    g_assert_nonnull(strstr(error->message, "disk vde (")); /* no <driver type>: raw */
    g_clear_error(&error);
    g_assert_null(vb_qemu_img_snapshot_disks(def, (const char *const[]){ "vdb", "vde", NULL },
                                             &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
    g_assert_nonnull(strstr(error->message, "type='network'"));
    g_clear_error(&error);
    picked = vb_qemu_img_snapshot_disks(def, skip_all, &error);
    g_assert_no_error(error);
    /* cdrom and the read-only disk are left out, as libvirt's defaults do */
    g_assert_cmpuint(picked->len, ==, 1);
    g_assert_cmpstr(((VbQemuImgDisk *)g_ptr_array_index(picked, 0))->target, ==, "vda");
    g_assert_cmpstr(((VbQemuImgDisk *)g_ptr_array_index(picked, 0))->path, ==, a);
    g_assert_true(vb_qemu_img_snapshot_create(picked, "s1", &error));
    g_assert_no_error(error);
}

/* the second disk's file system is full: IO naming it, the first disk rolled back */
static void
test_disk_full(Fixture *f, gconstpointer data)
{
    g_autofree char *a = make_image(f, "a.qcow2", "qcow2");
    g_autofree char *mnt = g_build_filename(f->dir, "small", NULL);
    g_autofree char *b = NULL;
    g_autofree char *filler = NULL;
    g_autoptr(GPtrArray) disks = disks_new();
    g_autoptr(GError) error = NULL;
    char block[4096] = { 1 };
    int fd;

    (void)data;
    if (!have_mountns) {
        g_test_skip("needs root (a private mount namespace for a small tmpfs)");
        return;
    }
    g_assert_cmpint(g_mkdir(mnt, 0700), ==, 0);
    g_assert_cmpint(mount("vbtest-small", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m"), ==, 0);
    b = make_image(f, "small/b.qcow2", "qcow2");
    g_assert_true(qemu_io(b, "write -P 0x5a 0 256k"));
    filler = g_build_filename(mnt, "filler", NULL);
    fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    g_assert_cmpint(fd, >=, 0);
    while (write(fd, block, sizeof(block)) == (ssize_t)sizeof(block))
        ;
    g_assert_cmpint(errno, ==, ENOSPC);
    close(fd);

    g_ptr_array_add(disks, vb_qemu_img_disk_new("vda", a, FALSE));
    g_ptr_array_add(disks, vb_qemu_img_disk_new("vdb", b, FALSE));
    g_assert_false(vb_qemu_img_snapshot_create(disks, "s1", &error));
    g_test_message("%s", error->message);
    g_assert_error(error, VB_ERROR, VB_ERROR_IO);
    g_assert_nonnull(strstr(error->message, "disk vdb ("));
    g_assert_nonnull(strstr(error->message, "No space left on device"));
    g_assert_nonnull(strstr(error->message, "Could not create snapshot 's1'"));
    g_clear_error(&error);
    for (guint i = 0; i < 2; i++) {
        g_autofree char *n = names(g_ptr_array_index(disks, i));

        g_assert_cmpstr(n, ==, "");
    }
    /* with room again it works, and the data is intact */
    g_assert_cmpint(g_unlink(filler), ==, 0);
    g_assert_true(vb_qemu_img_snapshot_create(disks, "s1", &error));
    g_assert_no_error(error);
    g_assert_true(qemu_io(b, "read -P 0x5a 0 256k"));
    g_assert_cmpint(umount2(mnt, MNT_DETACH), ==, 0);
}

/* a qemu-img that never answers (a hung NFS mount) is killed at the timeout: the wrapper
 * main() puts first in PATH sleeps while the hang file exists */
static void
test_timeout(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) disks = disks_new();
    g_autoptr(GError) error = NULL;
    gint64 start;

    (void)f;
    (void)data;
    g_assert_true(g_file_set_contents(hang_file, "", 0, NULL));
    g_ptr_array_add(disks, vb_qemu_img_disk_new("vda", "/nfs/a.qcow2", FALSE));
    vb_qemu_img_snapshot_set_timeout_ms(1000);
    start = g_get_monotonic_time();
    g_assert_false(vb_qemu_img_snapshot_create(disks, "s1", &error));
    vb_qemu_img_snapshot_set_timeout_ms(0);
    g_assert_cmpint(g_unlink(hang_file), ==, 0);
    g_assert_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT);
    g_assert_nonnull(strstr(error->message, "disk vda (/nfs/a.qcow2)"));
    g_assert_nonnull(strstr(error->message, "killed"));
    g_assert_cmpint(g_get_monotonic_time() - start, <, 10 * G_USEC_PER_SEC);
}

/* before any thread exists (setenv): a qemu-img wrapper first in PATH that runs the real
 * one unless the hang file exists */
static char *
wrapper_dir(const char *real)
{
    char *dir = g_dir_make_tmp("vb-qemu-img-wrap-XXXXXX", NULL);
    g_autofree char *wrapper = g_build_filename(dir, "qemu-img", NULL);
    g_autofree char *script = NULL;
    g_autofree char *path = NULL;

    g_assert_nonnull(dir);
    hang_file = g_build_filename(dir, "hang", NULL);
    fail_apply_file = g_build_filename(dir, "fail-apply", NULL);
    /* snapshot -q --image-opts -a ID OPTS: fails when OPTS has the fail-apply file's text */
    script = g_strdup_printf(
        "#!/bin/sh\nif [ -e '%s' ]; then exec sleep 60; fi\n"
        "if [ -e '%s' ] && [ \"$4\" = -a ]; then case \"$5\" in virtbus-undo-*) ;; *)\n"
        "  case \"$6\" in *\"$(cat '%s')\"*) echo \"qemu-img: Could not apply snapshot "
        "'$5': Input/output error\" >&2; exit 1;; esac;; esac; fi\n"
        "exec '%s' \"$@\"\n", hang_file, fail_apply_file, fail_apply_file, real);
    g_assert_true(g_file_set_contents(wrapper, script, -1, NULL));
    g_assert_cmpint(g_chmod(wrapper, 0755), ==, 0);
    path = g_strdup_printf("%s:%s", dir, g_getenv("PATH"));
    g_setenv("PATH", path, TRUE);
    return dir;
}

int
main(int argc, char **argv)
{
    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");
    g_autofree char *qemu_io_bin = g_find_program_in_path("qemu-io");
    g_autofree char *wrap = NULL;
    int rc;

    /* before any thread exists: a mount namespace of our own for the tmpfs case */
    if (geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
        mount(NULL, "/", NULL, MS_PRIVATE | MS_REC, NULL) == 0)
        have_mountns = TRUE;
    if (qemu_img != NULL)
        wrap = wrapper_dir(qemu_img);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu/img-snapshot/name-validate", test_name_validate);
    if (qemu_img == NULL || qemu_io_bin == NULL) {
        if (g_strcmp0(g_getenv("VB_REQUIRE_ALL"), "") != 0 &&
            g_strcmp0(g_getenv("VB_REQUIRE_ALL"), "0") != 0)
            g_error("qemu-img and qemu-io (qemu-utils) are required");
        g_test_message("qemu-img/qemu-io not installed: image cases skipped");
        return g_test_run();
    }
#define ADD(name, fn) g_test_add("/qemu/img-snapshot/" name, Fixture, NULL, fixture_setup, fn, \
                                 fixture_teardown)
    ADD("create-list-apply-delete", test_create_list_apply_delete);
    ADD("apply-brings-data-back", test_data);
    ADD("numeric-name-not-an-id", test_numeric_name);
    ADD("backing-chain-top-only", test_backing_chain);
    ADD("rollback-when-third-disk-locked", test_rollback_locked);
    ADD("apply-all-or-none", test_apply_atomic);
    ADD("raw-and-unsupported-refused", test_refused);
    ADD("disk-full-named-and-rolled-back", test_disk_full);
    ADD("hung-qemu-img-killed", test_timeout);
    rc = g_test_run();
    g_unlink(hang_file);
    {
        g_autofree char *w = g_build_filename(wrap, "qemu-img", NULL);

        g_unlink(w);
        g_rmdir(wrap);
    }
    g_free(hang_file);
    g_free(fail_apply_file);
    return rc;
}
