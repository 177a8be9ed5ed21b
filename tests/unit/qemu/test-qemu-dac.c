/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The owner record of QEMU's files (issue 14, part dac; service/qemu/qemu-dac.c): files
 * given to QEMU's user and back, the record read again after a simulated restart, the
 * reference count of a shared image, corrupt records, symlinks, unreachable files. The
 * chown cases need root (skipped otherwise); the ids are made up (no such user is needed).
 */
#define _GNU_SOURCE /* setresuid() */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu-dac.h"
#include "vb-error.h"

#define QEMU_UID 51234
#define QEMU_GID 51235

typedef struct {
    char *dir;
    char *record;
    VbQemuIds ids;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->dir = g_dir_make_tmp("vb-dac-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    g_assert_cmpint(chmod(f->dir, 0755), ==, 0); /* QEMU's user must pass */
    f->record = g_build_filename(f->dir, "owners.keyfile", NULL);
    f->ids.set_ids = TRUE;
    f->ids.uid = QEMU_UID;
    f->ids.gid = QEMU_GID;
    f->ids.groups[0] = QEMU_GID;
    f->ids.n_groups = 1;
    g_strlcpy(f->ids.user, "qemu-test", sizeof(f->ids.user));
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);

    g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
    g_free(f->record);
    g_free(f->dir);
}

static gboolean
need_root(void)
{
    if (geteuid() == 0)
        return TRUE;
    g_test_skip("chown needs root");
    return FALSE;
}

static char *
make_file(Fixture *f, const char *name, int mode)
{
    char *path = g_build_filename(f->dir, name, NULL);

    g_assert_true(g_file_set_contents(path, "image", -1, NULL));
    g_assert_cmpint(chown(path, 0, 0), ==, 0);
    g_assert_cmpint(chmod(path, mode), ==, 0);
    return path;
}

static GPtrArray *
files_of(const char *path, gboolean readonly)
{
    GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify)vb_qemu_dac_file_free);
    VbQemuDacFile *file = g_new0(VbQemuDacFile, 1);

    file->path = g_strdup(path);
    file->readonly = readonly;
    g_ptr_array_add(a, file);
    return a;
}

static void
assert_owner(const char *path, uid_t uid, gid_t gid, guint mode)
{
    struct stat st;

    g_assert_cmpint(lstat(path, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, uid);
    g_assert_cmpuint(st.st_gid, ==, gid);
    g_assert_cmpuint(st.st_mode & 07777, ==, mode);
}

static void
test_ids_resolve(void)
{
    VbQemuIds ids;
    g_autoptr(GError) error = NULL;

    g_assert_true(vb_qemu_ids_resolve(NULL, NULL, &ids, &error));
    g_assert_false(ids.set_ids);
    g_assert_false(vb_qemu_ids_resolve("no-such-user-vbdac", NULL, &ids, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "no-such-user-vbdac"));
    g_clear_error(&error);
    g_assert_false(vb_qemu_ids_resolve(NULL, "root", &ids, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_clear_error(&error);
    g_assert_false(vb_qemu_ids_resolve("root", "no-such-group-vbdac", &ids, &error));
    g_assert_nonnull(strstr(error->message, "no-such-group-vbdac"));
    g_clear_error(&error);
    /* the service's own user: no switch */
    if (geteuid() == 0) {
        g_assert_true(vb_qemu_ids_resolve("root", NULL, &ids, &error));
        g_assert_no_error(error);
        g_assert_false(ids.set_ids);
    }
}

/* a service that is not root cannot switch: a start-up error naming the user */
static void
test_ids_not_root(void)
{
    pid_t pid;
    int status = 0;

    if (!need_root())
        return;
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        VbQemuIds ids;
        g_autoptr(GError) error = NULL;
        gboolean refused;

        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
            _exit(2);
        refused = !vb_qemu_ids_resolve("root", NULL, &ids, &error) &&
                  g_error_matches(error, VB_ERROR, VB_ERROR_INVALID_ARG) &&
                  strstr(error->message, "cannot run QEMU as 'root'") != NULL;
        _exit(refused ? 0 : 1);
    }
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

/* a root 0600 image goes to QEMU's user for the run and back after it */
static void
test_hold_release(Fixture *f, gconstpointer data)
{
    g_autofree char *img = NULL;
    g_autoptr(GPtrArray) files = NULL;
    g_autoptr(VbQemuDac) dac = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *rec = NULL;

    if (!need_root())
        return;
    img = make_file(f, "disk.img", 0600);
    files = files_of(img, FALSE);
    dac = vb_qemu_dac_new(f->record, &f->ids);
    g_assert_true(vb_qemu_dac_load(dac, &error));
    g_assert_true(vb_qemu_dac_hold(dac, "uuid-a", files, &error));
    g_assert_no_error(error);
    assert_owner(img, QEMU_UID, QEMU_GID, 0600);
    g_assert_cmpuint(vb_qemu_dac_refcount(dac, img), ==, 1);
    /* the record is on disk, readable by root only, naming the original owner */
    g_assert_true(g_file_get_contents(f->record, &rec, NULL, NULL));
    g_assert_nonnull(strstr(rec, img));
    g_assert_nonnull(strstr(rec, "uid=0"));
    g_assert_nonnull(strstr(rec, "holders=uuid-a;"));
    assert_owner(f->record, 0, 0, 0600);
    /* holding again changes nothing */
    g_assert_true(vb_qemu_dac_hold(dac, "uuid-a", files, &error));
    g_assert_cmpuint(vb_qemu_dac_refcount(dac, img), ==, 1);
    vb_qemu_dac_release(dac, "uuid-a");
    assert_owner(img, 0, 0, 0600);
    g_assert_cmpuint(vb_qemu_dac_refcount(dac, img), ==, 0);
    g_assert_false(g_file_test(f->record, G_FILE_TEST_EXISTS));
}

/* a file QEMU's user may already use is left alone */
static void
test_accessible_untouched(Fixture *f, gconstpointer data)
{
    g_autofree char *img = NULL;
    g_autoptr(GPtrArray) ro = NULL;
    g_autoptr(GPtrArray) rw = NULL;
    g_autoptr(VbQemuDac) dac = vb_qemu_dac_new(f->record, &f->ids);
    g_autoptr(GError) error = NULL;

    if (!need_root())
        return;
    img = make_file(f, "iso.img", 0644);
    ro = files_of(img, TRUE);
    g_assert_true(vb_qemu_dac_hold(dac, "uuid-a", ro, &error));
    assert_owner(img, 0, 0, 0644);
    g_assert_cmpuint(vb_qemu_dac_refcount(dac, img), ==, 0);
    g_assert_false(g_file_test(f->record, G_FILE_TEST_EXISTS));
    /* written, it must be QEMU's */
    rw = files_of(img, FALSE);
    g_assert_true(vb_qemu_dac_hold(dac, "uuid-b", rw, &error));
    assert_owner(img, QEMU_UID, QEMU_GID, 0644);
    vb_qemu_dac_release(dac, "uuid-b");
    assert_owner(img, 0, 0, 0644);
}

/* the service is killed while the run holds the file: the next start gives it back */
static void
test_restart(Fixture *f, gconstpointer data)
{
    g_autofree char *img = NULL;
    g_autofree char *img2 = NULL;
    g_autoptr(GPtrArray) files = NULL;
    g_autoptr(GPtrArray) files2 = NULL;
    g_autoptr(GError) error = NULL;
    VbQemuDac *dac;
    const char *live[] = { "uuid-running", NULL };

    if (!need_root())
        return;
    img = make_file(f, "a.img", 0640);
    img2 = make_file(f, "b.img", 0600);
    g_assert_cmpint(chown(img, 0, 4), ==, 0); /* a group that is not QEMU's */
    files = files_of(img, FALSE);
    files2 = files_of(img2, FALSE);
    dac = vb_qemu_dac_new(f->record, &f->ids);
    g_assert_true(vb_qemu_dac_hold(dac, "uuid-gone", files, &error));
    g_assert_true(vb_qemu_dac_hold(dac, "uuid-running", files2, &error));
    vb_qemu_dac_free(dac); /* the crash: nothing given back */
    assert_owner(img, QEMU_UID, QEMU_GID, 0640);

    /* a new start, as another user even: the record says what to give back */
    dac = vb_qemu_dac_new(f->record, NULL);
    g_assert_true(vb_qemu_dac_load(dac, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(vb_qemu_dac_refcount(dac, img), ==, 1);
    g_assert_cmpuint(vb_qemu_dac_reconcile(dac, live), ==, 1);
    assert_owner(img, 0, 4, 0640);
    /* the running one keeps its file and its record */
    assert_owner(img2, QEMU_UID, QEMU_GID, 0600);
    g_assert_cmpuint(vb_qemu_dac_refcount(dac, img2), ==, 1);
    vb_qemu_dac_free(dac);
    dac = vb_qemu_dac_new(f->record, NULL);
    g_assert_true(vb_qemu_dac_load(dac, &error));
    g_assert_cmpuint(vb_qemu_dac_refcount(dac, img), ==, 0);
    g_assert_cmpuint(vb_qemu_dac_refcount(dac, img2), ==, 1);
    g_assert_cmpuint(vb_qemu_dac_reconcile(dac, NULL), ==, 1);
    assert_owner(img2, 0, 0, 0600);
    g_assert_false(g_file_test(f->record, G_FILE_TEST_EXISTS));
    vb_qemu_dac_free(dac);
}

/* two runs share a read-only image: it goes back when the last one ends */
static void
test_refcount(Fixture *f, gconstpointer data)
{
    g_autofree char *img = NULL;
    g_autoptr(GPtrArray) files = NULL;
    g_autoptr(VbQemuDac) dac = vb_qemu_dac_new(f->record, &f->ids);
    g_autoptr(VbQemuDac) again = NULL;
    g_autoptr(GError) error = NULL;

    if (!need_root())
        return;
    img = make_file(f, "base.img", 0600);
    files = files_of(img, TRUE);
    g_assert_true(vb_qemu_dac_hold(dac, "uuid-a", files, &error));
    g_assert_true(vb_qemu_dac_hold(dac, "uuid-b", files, &error));
    g_assert_cmpuint(vb_qemu_dac_refcount(dac, img), ==, 2);
    vb_qemu_dac_release(dac, "uuid-a");
    assert_owner(img, QEMU_UID, QEMU_GID, 0600);
    g_assert_cmpuint(vb_qemu_dac_refcount(dac, img), ==, 1);
    /* the count is on disk too */
    again = vb_qemu_dac_new(f->record, &f->ids);
    g_assert_true(vb_qemu_dac_load(again, &error));
    g_assert_cmpuint(vb_qemu_dac_refcount(again, img), ==, 1);
    vb_qemu_dac_release(dac, "uuid-b");
    assert_owner(img, 0, 0, 0600);
    /* releasing a holder that holds nothing is harmless */
    vb_qemu_dac_release(dac, "uuid-b");
    assert_owner(img, 0, 0, 0600);
}

/* a symlink is resolved: the target is given and recorded, the link never changes */
static void
test_symlink(Fixture *f, gconstpointer data)
{
    g_autofree char *img = NULL;
    g_autofree char *link = NULL;
    g_autoptr(GPtrArray) files = NULL;
    g_autoptr(VbQemuDac) dac = vb_qemu_dac_new(f->record, &f->ids);
    g_autoptr(GError) error = NULL;
    g_autofree char *rec = NULL;

    if (!need_root())
        return;
    img = make_file(f, "target.img", 0600);
    link = g_build_filename(f->dir, "link.img", NULL);
    g_assert_cmpint(symlink(img, link), ==, 0);
    files = files_of(link, FALSE);
    g_assert_true(vb_qemu_dac_hold(dac, "uuid-a", files, &error));
    assert_owner(img, QEMU_UID, QEMU_GID, 0600);
    {
        struct stat st;

        g_assert_cmpint(lstat(link, &st), ==, 0);
        g_assert_cmpuint(st.st_uid, ==, 0);
    }
    g_assert_cmpuint(vb_qemu_dac_refcount(dac, img), ==, 1);
    g_assert_true(g_file_get_contents(f->record, &rec, NULL, NULL));
    g_assert_null(strstr(rec, "link.img"));
    vb_qemu_dac_release(dac, "uuid-a");
    assert_owner(img, 0, 0, 0600);
}

/* a file below a directory QEMU's user cannot search: an error naming it, nothing changed */
static void
test_unreachable(Fixture *f, gconstpointer data)
{
    g_autofree char *sub = g_build_filename(f->dir, "private", NULL);
    g_autofree char *img = g_build_filename(sub, "disk.img", NULL);
    g_autofree char *ok = NULL;
    g_autoptr(GPtrArray) files = NULL;
    g_autoptr(VbQemuDac) dac = vb_qemu_dac_new(f->record, &f->ids);
    g_autoptr(GError) error = NULL;
    VbQemuDacFile *first;

    if (!need_root())
        return;
    g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
    g_assert_true(g_file_set_contents(img, "x", -1, NULL));
    g_assert_cmpint(chmod(img, 0600), ==, 0);
    ok = make_file(f, "ok.img", 0600);
    /* the reachable one first: the failure gives it back */
    files = files_of(ok, FALSE);
    first = g_new0(VbQemuDacFile, 1);
    first->path = g_strdup(img);
    g_ptr_array_add(files, first);
    g_assert_false(vb_qemu_dac_hold(dac, "uuid-a", files, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_IO);
    g_assert_nonnull(strstr(error->message, sub));
    g_assert_nonnull(strstr(error->message, "qemu_user"));
    assert_owner(img, 0, 0, 0600);
    assert_owner(ok, 0, 0, 0600);
    g_assert_cmpuint(vb_qemu_dac_refcount(dac, ok), ==, 0);
    g_assert_false(g_file_test(f->record, G_FILE_TEST_EXISTS));
}

/* a file replaced during the run (or given away by the admin) is not touched at the end */
static void
test_replaced(Fixture *f, gconstpointer data)
{
    g_autofree char *img = NULL;
    g_autoptr(GPtrArray) files = NULL;
    g_autoptr(VbQemuDac) dac = vb_qemu_dac_new(f->record, &f->ids);
    g_autoptr(GError) error = NULL;

    if (!need_root())
        return;
    img = make_file(f, "disk.img", 0600);
    files = files_of(img, FALSE);
    g_assert_true(vb_qemu_dac_hold(dac, "uuid-a", files, &error));
    g_assert_cmpint(chown(img, 4, 4), ==, 0);
    vb_qemu_dac_release(dac, "uuid-a");
    assert_owner(img, 4, 4, 0600);
}

static void
check_corrupt(Fixture *f, const char *contents)
{
    g_autoptr(VbQemuDac) dac = vb_qemu_dac_new(f->record, &f->ids);
    g_autoptr(GError) error = NULL;

    g_assert_true(g_file_set_contents(f->record, contents, -1, NULL));
    g_assert_false(vb_qemu_dac_load(dac, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_IO);
    g_assert_nonnull(strstr(error->message, f->record));
    /* the table stays empty: releasing anything touches nothing */
    g_assert_cmpuint(vb_qemu_dac_reconcile(dac, NULL), ==, 0);
}

static void
test_corrupt(Fixture *f, gconstpointer data)
{
    check_corrupt(f, "\x01\x02 not a keyfile [[[");
    check_corrupt(f, "[file 0]\npath=/x\nuid=0\n");
    check_corrupt(f, "[file 0]\npath=relative\nuid=0\ngid=0\nmode=0600\ndev=1\nino=2\n"
                     "set-uid=5\nset-gid=5\nholders=a;\n");
    check_corrupt(f, "[file 0]\npath=/x\nuid=-1\ngid=0\nmode=0600\ndev=1\nino=2\n"
                     "set-uid=5\nset-gid=5\nholders=a;\n");
    check_corrupt(f, "[file 0]\npath=/x\nuid=0\ngid=0\nmode=0600\ndev=1\nino=2\n"
                     "set-uid=5\nset-gid=5\nholders=a;\n"
                     "[file 1]\npath=/x\nuid=0\ngid=0\nmode=0600\ndev=1\nino=2\n"
                     "set-uid=5\nset-gid=5\nholders=b;\n");
    check_corrupt(f, "[file 0]\npath=/x\nuid=0\ngid=0\nmode=99999\ndev=1\nino=2\n"
                     "set-uid=5\nset-gid=5\nholders=a;\n");
}

/* what a definition makes QEMU open */
static void
test_files(void)
{
    static const char xml[] =
        "<domain type='qemu'><name>f</name><memory>131072</memory>"
        "<os><type arch='x86_64' machine='q35'>hvm</type><kernel>/boot/k</kernel>"
        "<initrd>/boot/i</initrd></os><devices>"
        "<disk type='file' device='disk'><source file='/img/a.qcow2'/>"
        "<target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='cdrom'><source file='/img/b.iso'/>"
        "<target dev='sda' bus='sata'/><readonly/></disk>"
        "<disk type='network' device='disk'><source protocol='nbd' name='x'>"
        "<host name='h' port='1'/></source><target dev='vdb' bus='virtio'/></disk>"
        "<serial type='file'><source path='/var/log/s.log'/><target port='0'/></serial>"
        "</devices></domain>";
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) def = vb_domain_def_parse_string(xml, 0, &error);
    g_autoptr(GPtrArray) files = NULL;
    g_autoptr(GString) seen = g_string_new(NULL);

    g_assert_no_error(error);
    files = vb_qemu_dac_files(def, NULL);
    for (guint i = 0; i < files->len; i++) {
        const VbQemuDacFile *file = g_ptr_array_index(files, i);

        g_string_append_printf(seen, "%s%s%s ", file->path, file->readonly ? ":ro" : "",
                               file->create ? ":create" : "");
    }
    g_assert_cmpstr(seen->str, ==,
                    "/img/a.qcow2 /img/b.iso:ro /var/log/s.log:create /boot/k:ro /boot/i:ro ");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu/dac/ids-resolve", test_ids_resolve);
    g_test_add_func("/qemu/dac/files-of-definition", test_files);
    g_test_add_func("/qemu/dac/ids-not-root-refused", test_ids_not_root);
#define ADD(name, fn) g_test_add("/qemu/dac/" name, Fixture, NULL, fixture_setup, fn, \
                                 fixture_teardown)
    ADD("hold-release-gives-back", test_hold_release);
    ADD("accessible-file-untouched", test_accessible_untouched);
    ADD("restart-restores-from-record", test_restart);
    ADD("shared-image-refcount", test_refcount);
    ADD("symlink-resolved", test_symlink);
    ADD("unreachable-is-error", test_unreachable);
    ADD("replaced-file-left-alone", test_replaced);
    ADD("corrupt-record-is-error", test_corrupt);
    return g_test_run();
}
