/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "vb-error.h"

typedef struct {
    char *dir;
    char *file;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->dir = g_dir_make_tmp("vb-store-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    f->file = g_build_filename(f->dir, "vm1.xml", NULL);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_autoptr(GDir) d = g_dir_open(f->dir, 0, NULL);
    const char *name;

    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
        g_autofree char *p = g_build_filename(f->dir, name, NULL);

        if (g_file_test(p, G_FILE_TEST_IS_DIR))
            g_rmdir(p);
        else
            g_unlink(p);
    }
    g_rmdir(f->dir);
    g_free(f->dir);
    g_free(f->file);
}

static guint
count_hidden(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    guint n = 0;

    while ((name = g_dir_read_name(d)) != NULL)
        n += name[0] == '.';
    return n;
}

static void
assert_contents(const char *path, const char *expected)
{
    g_autofree char *got = NULL;

    g_assert_true(g_file_get_contents(path, &got, NULL, NULL));
    g_assert_cmpstr(got, ==, expected);
}

static void
test_write_replace(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    GStatBuf st;

    g_assert_true(vb_store_write_atomic(f->file, "first", -1, 0600, &error));
    g_assert_no_error(error);
    assert_contents(f->file, "first");
    g_assert_true(vb_store_write_atomic(f->file, "second\n", -1, 0640, &error));
    assert_contents(f->file, "second\n");
    g_assert_cmpint(g_stat(f->file, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0640);
    g_assert_cmpuint(count_hidden(f->dir), ==, 0);
}

static void
test_write_fails_cleanly(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *missing = g_build_filename(f->dir, "no-such-dir", "x.xml", NULL);

    g_assert_false(vb_store_write_atomic(missing, "data", -1, 0600, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_IO);
    g_assert_nonnull(strstr(error->message, "no-such-dir"));
    g_assert_false(g_file_test(missing, G_FILE_TEST_EXISTS));
}

/* A write that runs out of space (here: RLIMIT_FSIZE, EFBIG, as ENOSPC would) names the
 * file the caller asked for, not the temporary one, leaves the old contents and no
 * temporary file (issue 14, part crash: disk full) */
static void
test_write_out_of_space(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *big = g_malloc0(1 << 16);
    struct rlimit old, lim;
    void (*old_handler)(int);

    g_assert_true(vb_store_write_atomic(f->file, "old", -1, 0600, &error));
    g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &old), ==, 0);
    lim = old;
    lim.rlim_cur = 4096;
    old_handler = signal(SIGXFSZ, SIG_IGN);
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &lim), ==, 0);
    g_assert_false(vb_store_write_atomic(f->file, big, 1 << 16, 0600, &error));
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &old), ==, 0);
    signal(SIGXFSZ, old_handler);
    g_assert_error(error, VB_ERROR, VB_ERROR_IO);
    /* "cannot write 'DIR/x.xml': ...", not the temporary "DIR/.x.xml.XXXXXX" */
    g_assert_nonnull(strstr(error->message, f->file));
    g_assert_nonnull(strstr(error->message, g_strerror(EFBIG)));
    assert_contents(f->file, "old");
    g_assert_cmpuint(count_hidden(f->dir), ==, 0);
}

/* Runs a write in a child that "crashes" at @point. */
static void
crash_while_writing(const char *path, const char *data, VbStoreCrashPoint point)
{
    pid_t pid = fork();
    int status = 0;

    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        vb_store_test_set_crash_point(point);
        vb_store_write_atomic(path, data, -1, 0600, NULL);
        _exit(0); /* not reached when the crash point works */
    }
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 99);
}

static void
test_crash_before_rename_keeps_old(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) entries = NULL;

    g_assert_true(vb_store_write_atomic(f->file, "<old/>", -1, 0600, &error));
    crash_while_writing(f->file, "<new-and-longer/>", VB_STORE_CRASH_AFTER_WRITE);
    /* the config is the old one, complete; the temp file is left over ... */
    assert_contents(f->file, "<old/>");
    g_assert_cmpuint(count_hidden(f->dir), ==, 1);
    /* ... and loading never sees it */
    entries = vb_store_read_dir(f->dir, ".xml", &error);
    g_assert_no_error(error);
    g_assert_cmpuint(entries->len, ==, 1);
    g_assert_cmpstr(((VbStoreEntry *)entries->pdata[0])->contents, ==, "<old/>");
    /* the next start of the service removes it: it may hold secrets */
    g_assert_cmpuint(vb_store_remove_stale_temps(f->dir), ==, 1);
    g_assert_cmpuint(count_hidden(f->dir), ==, 0);
    assert_contents(f->file, "<old/>");
}

static void
test_stale_temps(Fixture *f, gconstpointer data)
{
    const char *const temps[] = { ".vm1.xml.a1B2c3", ".vm1.save.vbpart-Zz09aa", NULL };
    const char *const kept[] = { ".vm1.xml.a1B2c", ".vm1.xml.a1B2c!", "vm1.xml.a1B2c3",
                                 ".hidden", ".x.vbpart-", ".vm1.xml-a1B2c3", NULL };
    g_autofree char *sub = g_build_filename(f->dir, ".vm2.xml.QQQQQQ", NULL);
    g_autofree char *link = g_build_filename(f->dir, ".vm3.xml.LLLLLL", NULL);

    for (guint i = 0; temps[i] != NULL; i++) {
        g_autofree char *p = g_build_filename(f->dir, temps[i], NULL);

        g_assert_true(vb_store_is_temp_name(temps[i]));
        g_assert_true(g_file_set_contents(p, "secret", -1, NULL));
    }
    for (guint i = 0; kept[i] != NULL; i++) {
        g_autofree char *p = g_build_filename(f->dir, kept[i], NULL);

        g_assert_false(vb_store_is_temp_name(kept[i]));
        g_assert_true(g_file_set_contents(p, "keep", -1, NULL));
    }
    /* a directory or a symlink with such a name is not ours to remove */
    g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
    g_assert_cmpint(symlink(f->file, link), ==, 0);
    g_assert_true(g_file_set_contents(f->file, "<target/>", -1, NULL));

    g_assert_cmpuint(vb_store_remove_stale_temps(f->dir), ==, 2);
    for (guint i = 0; temps[i] != NULL; i++) {
        g_autofree char *p = g_build_filename(f->dir, temps[i], NULL);

        g_assert_false(g_file_test(p, G_FILE_TEST_EXISTS));
    }
    for (guint i = 0; kept[i] != NULL; i++) {
        g_autofree char *p = g_build_filename(f->dir, kept[i], NULL);

        g_assert_true(g_file_test(p, G_FILE_TEST_EXISTS));
    }
    g_assert_true(g_file_test(sub, G_FILE_TEST_IS_DIR));
    g_assert_true(g_file_test(link, G_FILE_TEST_IS_SYMLINK));
    assert_contents(f->file, "<target/>");
    g_unlink(link);
    g_assert_cmpuint(vb_store_remove_stale_temps("/nonexistent/dir"), ==, 0);
}

static void
test_crash_after_rename_has_new(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(vb_store_write_atomic(f->file, "<old/>", -1, 0600, &error));
    crash_while_writing(f->file, "<new/>", VB_STORE_CRASH_AFTER_RENAME);
    assert_contents(f->file, "<new/>");
    g_assert_cmpuint(count_hidden(f->dir), ==, 0);
}

static void
test_read_dir(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) entries = NULL;
    g_autofree char *b = g_build_filename(f->dir, "b.xml", NULL);
    g_autofree char *a = g_build_filename(f->dir, "a.xml", NULL);
    g_autofree char *other = g_build_filename(f->dir, "notes.txt", NULL);
    g_autofree char *subdir = g_build_filename(f->dir, "dir.xml", NULL);
    g_autofree char *gone = g_build_filename(f->dir, "gone", NULL);

    g_assert_true(vb_store_write_atomic(b, "B", -1, 0600, NULL));
    g_assert_true(vb_store_write_atomic(a, "A", -1, 0600, NULL));
    g_assert_true(vb_store_write_atomic(other, "T", -1, 0600, NULL));
    g_assert_cmpint(g_mkdir(subdir, 0700), ==, 0);
    entries = vb_store_read_dir(f->dir, ".xml", &error);
    g_assert_no_error(error);
    g_assert_cmpuint(entries->len, ==, 2);
    g_assert_cmpstr(((VbStoreEntry *)entries->pdata[0])->path, ==, a);
    g_assert_cmpstr(((VbStoreEntry *)entries->pdata[1])->contents, ==, "B");
    g_clear_pointer(&entries, g_ptr_array_unref);
    entries = vb_store_read_dir(gone, ".xml", &error);
    g_assert_no_error(error);
    g_assert_cmpuint(entries->len, ==, 0);

    g_assert_true(vb_store_remove(a, &error));
    g_assert_false(g_file_test(a, G_FILE_TEST_EXISTS));
    g_assert_true(vb_store_remove(a, &error)); /* already gone: fine */
    g_assert_no_error(error);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/store/write/replace", Fixture, NULL, fixture_setup, test_write_replace,
               fixture_teardown);
    g_test_add("/store/write/fails-cleanly", Fixture, NULL, fixture_setup,
               test_write_fails_cleanly, fixture_teardown);
    g_test_add("/store/write/out-of-space", Fixture, NULL, fixture_setup,
               test_write_out_of_space, fixture_teardown);
    g_test_add("/store/write/crash-before-rename-keeps-old", Fixture, NULL, fixture_setup,
               test_crash_before_rename_keeps_old, fixture_teardown);
    g_test_add("/store/write/crash-after-rename-has-new", Fixture, NULL, fixture_setup,
               test_crash_after_rename_has_new, fixture_teardown);
    g_test_add("/store/stale-temps-removed", Fixture, NULL, fixture_setup, test_stale_temps,
               fixture_teardown);
    g_test_add("/store/read-dir", Fixture, NULL, fixture_setup, test_read_dir,
               fixture_teardown);
    return g_test_run();
}
