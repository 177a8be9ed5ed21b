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
 * only nothing or a regular file of the caller's own, in a directory where
 * the caller could create it.
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

/* Opens a target for @uid, creates its temporary file and writes "image" in it. */
static void
open_with_temp(VbSaveTarget *t, const char *path, guint32 uid)
{
    g_autoptr(GError) error = NULL;
    int fd;

    g_assert_true(vb_save_target_open(t, path, uid, &error));
    g_assert_no_error(error);
    fd = vb_save_target_create_temp(t, &error);
    g_assert_no_error(error);
    g_assert_cmpint(fd, >=, 0);
    g_assert_nonnull(strstr(t->temp_path, ".vbpart-"));
    g_assert_cmpint(write(fd, "image", 5), ==, 5);
    close(fd);
}

static void
assert_victim_intact(Fixture *f)
{
    g_autofree char *text = NULL;

    g_assert_true(g_file_get_contents(f->victim, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "victim");
}

static void
assert_contents(const char *path, const char *want)
{
    g_autofree char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, want);
}

/* Nothing there: renamed into place, the temporary file is gone. */
static void
test_commit_new(Fixture *f, gconstpointer data)
{
    g_autofree char *path = g_build_filename(f->dir, "img", NULL);
    g_autofree char *temp = NULL;
    g_autoptr(GError) error = NULL;
    VbSaveTarget t;

    open_with_temp(&t, path, getuid());
    temp = g_strdup(t.temp_path);
    g_assert_true(vb_save_target_commit(&t, &error));
    g_assert_no_error(error);
    assert_contents(path, "image");
    g_assert_false(g_file_test(temp, G_FILE_TEST_EXISTS));
    vb_save_target_clear(&t);
}

/* The caller's own regular file: replaced. */
static void
test_commit_own_file(Fixture *f, gconstpointer data)
{
    g_autofree char *path = g_build_filename(f->dir, "img", NULL);
    g_autoptr(GError) error = NULL;
    VbSaveTarget t;

    g_assert_true(g_file_set_contents(path, "old", -1, NULL));
    open_with_temp(&t, path, getuid());
    g_assert_true(vb_save_target_commit(&t, &error));
    g_assert_no_error(error);
    assert_contents(path, "image");
    vb_save_target_clear(&t);
}

/* Makes @kind at @path; returns the words the refusal must contain. */
static const char *
make_kind(Fixture *f, const char *kind, const char *path, guint32 *uid)
{
    *uid = getuid();
    if (g_str_equal(kind, "symlink")) {
        g_assert_cmpint(symlink(f->victim, path), ==, 0);
        return "is a symbolic link";
    }
    if (g_str_equal(kind, "directory")) {
        g_assert_cmpint(g_mkdir(path, 0700), ==, 0);
        return "is a directory";
    }
    if (g_str_equal(kind, "fifo")) {
        g_assert_cmpint(mkfifo(path, 0600), ==, 0);
        return "is a FIFO";
    }
    /* a file of ours, seen by a caller of another uid (whose directory it is) */
    g_assert_true(g_file_set_contents(path, "theirs", -1, NULL));
    *uid = getuid() + 1;
    g_assert_cmpint(chown(f->dir, *uid, (gid_t)-1), ==, 0);
    return "belongs to uid";
}

/* A symlink, a directory, a FIFO or another uid's file: refused, left as it is. */
static void
test_open_refused(Fixture *f, gconstpointer data)
{
    g_autofree char *path = g_build_filename(f->dir, "img", NULL);
    g_autoptr(GError) error = NULL;
    guint32 uid;
    const char *expect = make_kind(f, data, path, &uid);
    struct stat before, after;
    VbSaveTarget t;

    g_assert_cmpint(lstat(path, &before), ==, 0);
    g_assert_false(vb_save_target_open(&t, path, uid, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, expect));
    g_assert_nonnull(strstr(error->message, path));
    vb_save_target_clear(&t);
    g_assert_cmpint(lstat(path, &after), ==, 0);
    g_assert_cmpint(before.st_ino, ==, after.st_ino);
    g_assert_cmpint(before.st_mode, ==, after.st_mode);
    assert_victim_intact(f);
}

/* Something put there while the job ran is checked again, not replaced. */
static void
test_commit_appeared(Fixture *f, gconstpointer data)
{
    g_autofree char *path = g_build_filename(f->dir, "img", NULL);
    g_autofree char *temp = NULL;
    g_autoptr(GError) error = NULL;
    VbSaveTarget t;

    open_with_temp(&t, path, getuid());
    temp = g_strdup(t.temp_path);
    g_assert_cmpint(symlink(f->victim, path), ==, 0);
    g_assert_false(vb_save_target_commit(&t, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "is a symbolic link"));
    g_assert_true(g_file_test(path, G_FILE_TEST_IS_SYMLINK));
    assert_victim_intact(f);
    vb_save_target_discard(&t);
    g_assert_false(g_file_test(temp, G_FILE_TEST_EXISTS));
    vb_save_target_clear(&t);
}

/* The directory checked is the directory written: a symlink swapped in after does nothing. */
static void
test_dir_swapped(Fixture *f, gconstpointer data)
{
    g_autofree char *real = g_build_filename(f->dir, "real", NULL);
    g_autofree char *moved = g_build_filename(f->dir, "moved", NULL);
    g_autofree char *elsewhere = g_build_filename(f->dir, "elsewhere", NULL);
    g_autofree char *path = g_build_filename(real, "img", NULL);
    g_autofree char *landed = g_build_filename(moved, "img", NULL);
    g_autofree char *not_there = g_build_filename(elsewhere, "img", NULL);
    g_autoptr(GError) error = NULL;
    VbSaveTarget t;

    g_assert_cmpint(g_mkdir(real, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(elsewhere, 0700), ==, 0);
    open_with_temp(&t, path, getuid());
    g_assert_cmpint(rename(real, moved), ==, 0);
    g_assert_cmpint(symlink(elsewhere, real), ==, 0);
    g_assert_true(vb_save_target_commit(&t, &error));
    g_assert_no_error(error);
    assert_contents(landed, "image");
    g_assert_false(g_file_test(not_there, G_FILE_TEST_EXISTS));
    vb_save_target_clear(&t);
}

/*
 * A caller of another uid than root and the service writes only where it
 * could create files itself: its own directory or a sticky world-writable
 * one; the file it gets is its own. (Needs root: chown.)
 */
static void
test_dir_of_caller(Fixture *f, gconstpointer data)
{
    g_autofree char *shared = g_build_filename(f->dir, "shared", NULL);
    g_autofree char *path = g_build_filename(f->dir, "img", NULL);
    g_autofree char *in_shared = g_build_filename(shared, "img", NULL);
    g_autoptr(GError) error = NULL;
    guint32 caller = 4242;
    struct stat st;
    VbSaveTarget t;

    if (getuid() != 0) {
        g_test_skip("needs root (chown)");
        return;
    }
    /* root's directory: refused, nothing created */
    g_assert_false(vb_save_target_open(&t, path, caller, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "belongs to uid 0, not to the caller (uid 4242)"));
    g_clear_error(&error);
    vb_save_target_clear(&t);
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    /* /tmp-like: allowed, and the image is the caller's */
    g_assert_cmpint(g_mkdir(shared, 0777), ==, 0);
    g_assert_cmpint(chmod(shared, 01777), ==, 0);
    open_with_temp(&t, in_shared, caller);
    g_assert_true(vb_save_target_commit(&t, &error));
    g_assert_no_error(error);
    g_assert_cmpint(lstat(in_shared, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, caller);
    g_assert_cmpuint(st.st_mode & 0777, ==, 0600);
    vb_save_target_clear(&t);
    /* its own directory: allowed; and a second save replaces its own image */
    g_assert_cmpint(chown(f->dir, caller, (gid_t)-1), ==, 0);
    open_with_temp(&t, path, caller);
    g_assert_true(vb_save_target_commit(&t, &error));
    vb_save_target_clear(&t);
    open_with_temp(&t, path, caller);
    g_assert_true(vb_save_target_commit(&t, &error));
    g_assert_no_error(error);
    vb_save_target_clear(&t);
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

/* The temporary name is known before the file exists (the status records it first,
 * issue 14's kill -9 sweep); creating uses that name, or another one when it was taken,
 * and never touches the file that took it. */
static void
test_pick_temp_then_create(Fixture *f, gconstpointer data)
{
    g_autofree char *path = g_build_filename(f->dir, "img", NULL);
    g_autofree char *picked = NULL;
    g_autoptr(GError) error = NULL;
    VbSaveTarget t;
    int fd;

    g_assert_true(vb_save_target_open(&t, path, getuid(), &error));
    vb_save_target_pick_temp(&t);
    picked = g_strdup(t.temp_path);
    g_assert_nonnull(strstr(picked, "/.img.vbpart-"));
    g_assert_false(g_file_test(picked, G_FILE_TEST_EXISTS));
    fd = vb_save_target_create_temp(&t, &error);
    g_assert_no_error(error);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    g_assert_cmpstr(t.temp_path, ==, picked);
    g_assert_true(g_file_test(picked, G_FILE_TEST_IS_REGULAR));
    vb_save_target_discard(&t);
    g_assert_false(g_file_test(picked, G_FILE_TEST_EXISTS));

    /* taken meanwhile: another name; the other file survives the discard */
    vb_save_target_pick_temp(&t);
    g_clear_pointer(&picked, g_free);
    picked = g_strdup(t.temp_path);
    g_assert_true(g_file_set_contents(picked, "theirs", -1, NULL));
    fd = vb_save_target_create_temp(&t, &error);
    g_assert_no_error(error);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    g_assert_cmpstr(t.temp_path, !=, picked);
    vb_save_target_discard(&t);
    assert_contents(picked, "theirs");
    vb_save_target_clear(&t);
}

int
main(int argc, char **argv)
{
    static const char *kinds[] = { "symlink", "directory", "fifo", "other-uid" };

    g_test_init(&argc, &argv, NULL);
    g_test_add("/domain/save-image/pick-temp-then-create", Fixture, NULL, fixture_set_up,
               test_pick_temp_then_create, fixture_tear_down);
    g_test_add("/domain/save-image/commit-new", Fixture, NULL, fixture_set_up, test_commit_new,
               fixture_tear_down);
    g_test_add("/domain/save-image/commit-own-file", Fixture, NULL, fixture_set_up,
               test_commit_own_file, fixture_tear_down);
    for (guint i = 0; i < G_N_ELEMENTS(kinds); i++) {
        g_autofree char *name = g_strdup_printf("/domain/save-image/refuses-%s", kinds[i]);

        g_test_add(name, Fixture, kinds[i], fixture_set_up, test_open_refused,
                   fixture_tear_down);
    }
    g_test_add("/domain/save-image/commit-rechecks-what-appeared", Fixture, NULL,
               fixture_set_up, test_commit_appeared, fixture_tear_down);
    g_test_add("/domain/save-image/dir-swapped-after-check", Fixture, NULL, fixture_set_up,
               test_dir_swapped, fixture_tear_down);
    g_test_add("/domain/save-image/dir-of-the-caller", Fixture, NULL, fixture_set_up,
               test_dir_of_caller, fixture_tear_down);
    g_test_add("/domain/save-image/open-read-regular-only", Fixture, NULL, fixture_set_up,
               test_open_read, fixture_tear_down);
    return g_test_run();
}
