/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain-save-image.h"
#include "vb-error.h"

/*
 * What a caller's path may be (domain-save-image.c): an image is read only
 * from a regular file, opened without blocking; a save or dump replaces
 * only nothing or a regular file of the caller's own.
 */

typedef struct {
    char *dir;
    char *victim;  /* a file that must survive */
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    f->dir = g_dir_make_tmp("vb-save-image-XXXXXX", &error);
    g_assert_no_error(error);
    f->victim = g_build_filename(f->dir, "victim", NULL);
    g_assert_true(g_file_set_contents(f->victim, "victim", -1, NULL));
}

static void
remove_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
        g_autofree char *p = g_build_filename(dir, name, NULL);

        if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
            remove_tree(p);
        else
            g_unlink(p);
    }
    g_rmdir(dir);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    remove_tree(f->dir);
    g_free(f->dir);
    g_free(f->victim);
}

static char *
make_temp(Fixture *f)
{
    char *temp = g_build_filename(f->dir, ".img.vbpart-XXXXXX", NULL);
    int fd = g_mkstemp_full(temp, O_WRONLY | O_CLOEXEC, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, "image", 5), ==, 5);
    close(fd);
    return temp;
}

static void
assert_victim_intact(Fixture *f)
{
    g_autofree char *text = NULL;

    g_assert_true(g_file_get_contents(f->victim, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "victim");
}

/* Nothing there: renamed into place. */
static void
test_commit_new(Fixture *f, gconstpointer data)
{
    g_autofree char *temp = make_temp(f);
    g_autofree char *path = g_build_filename(f->dir, "img", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_true(vb_save_image_commit(temp, path, getuid(), &error));
    g_assert_no_error(error);
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "image");
    g_assert_false(g_file_test(temp, G_FILE_TEST_EXISTS));
}

/* The caller's own regular file: replaced. */
static void
test_commit_own_file(Fixture *f, gconstpointer data)
{
    g_autofree char *temp = make_temp(f);
    g_autofree char *path = g_build_filename(f->dir, "img", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_true(g_file_set_contents(path, "old", -1, NULL));
    g_assert_true(vb_save_image_check_target(path, getuid(), &error));
    g_assert_true(vb_save_image_commit(temp, path, getuid(), &error));
    g_assert_no_error(error);
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "image");
}

/* A symlink, a directory, a FIFO or another uid's file: refused, left as it is. */
static void
test_commit_refused(Fixture *f, gconstpointer data)
{
    const char *kind = data;
    g_autofree char *temp = make_temp(f);
    g_autofree char *path = g_build_filename(f->dir, "img", NULL);
    g_autoptr(GError) error = NULL;
    guint32 uid = getuid();
    const char *expect;
    struct stat before, after;

    if (g_str_equal(kind, "symlink")) {
        g_assert_cmpint(symlink(f->victim, path), ==, 0);
        expect = "is a symbolic link";
    } else if (g_str_equal(kind, "directory")) {
        g_assert_cmpint(g_mkdir(path, 0700), ==, 0);
        expect = "is a directory";
    } else if (g_str_equal(kind, "fifo")) {
        g_assert_cmpint(mkfifo(path, 0600), ==, 0);
        expect = "is a FIFO";
    } else {
        /* a file of ours, seen as another uid's */
        g_assert_true(g_file_set_contents(path, "theirs", -1, NULL));
        uid = getuid() + 1;
        expect = "belongs to uid";
    }
    g_assert_cmpint(lstat(path, &before), ==, 0);
    g_assert_false(vb_save_image_check_target(path, uid, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, expect));
    g_assert_nonnull(strstr(error->message, path));
    g_clear_error(&error);
    g_assert_false(vb_save_image_commit(temp, path, uid, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_cmpint(lstat(path, &after), ==, 0);
    g_assert_cmpint(before.st_ino, ==, after.st_ino);
    g_assert_cmpint(before.st_mode, ==, after.st_mode);
    g_assert_true(g_file_test(temp, G_FILE_TEST_EXISTS)); /* the caller removes it */
    assert_victim_intact(f);
}

/* Reading: regular files only, and a FIFO never blocks the open. */
static void
test_open_read(Fixture *f, gconstpointer data)
{
    g_autofree char *fifo = g_build_filename(f->dir, "fifo", NULL);
    g_autoptr(GError) error = NULL;
    const char *refused[] = { fifo, f->dir, "/dev/null" };
    int fd, fl;

    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_assert_cmpint(vb_save_image_open_read(refused[i], &error), ==, -1);
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        g_assert_nonnull(strstr(error->message, "is not a regular file"));
        g_assert_nonnull(strstr(error->message, refused[i]));
        g_clear_error(&error);
    }
    fd = vb_save_image_open_read(f->victim, &error);
    g_assert_no_error(error);
    g_assert_cmpint(fd, >=, 0);
    fl = fcntl(fd, F_GETFL);
    g_assert_cmpint(fl & O_NONBLOCK, ==, 0);
    g_assert_cmpint(fcntl(fd, F_GETFD) & FD_CLOEXEC, !=, 0);
    close(fd);
}

int
main(int argc, char **argv)
{
    static const char *kinds[] = { "symlink", "directory", "fifo", "other-uid" };

    g_test_init(&argc, &argv, NULL);
    g_test_add("/domain/save-image/commit-new", Fixture, NULL, fixture_set_up, test_commit_new,
               fixture_tear_down);
    g_test_add("/domain/save-image/commit-own-file", Fixture, NULL, fixture_set_up,
               test_commit_own_file, fixture_tear_down);
    for (guint i = 0; i < G_N_ELEMENTS(kinds); i++) {
        g_autofree char *name = g_strdup_printf("/domain/save-image/commit-refuses-%s",
                                                kinds[i]);

        g_test_add(name, Fixture, kinds[i], fixture_set_up, test_commit_refused,
                   fixture_tear_down);
    }
    g_test_add("/domain/save-image/open-read-regular-only", Fixture, NULL, fixture_set_up,
               test_open_read, fixture_tear_down);
    return g_test_run();
}
