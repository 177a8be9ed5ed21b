/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Device nodes in a running QEMU's private /dev (service/qemu/qemu-devns.c; issue 14, part
 * devns), with a child of the test in QEMU's place: a mount namespace of its own with a
 * tmpfs on /dev, as the launcher makes it. The paths a hot-plug's options name, a node made
 * with the host's rdev, mode and owner, a link under a new directory with its target, their
 * removal, a missing host path and a process sharing our namespace refused by name.
 * The namespace cases need root (as the rest of the suite).
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu-devns.h"
#include "vb-error.h"

/* A child in a mount namespace with an empty tmpfs /dev (@private), or in ours; -1 when
 * the namespace cannot be made here. */
static pid_t
spawn_holder(gboolean private)
{
    int p[2];
    char c = 0;
    pid_t pid;

    g_assert_cmpint(pipe(p), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        close(p[0]);
        if (private &&
            (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0 ||
             mount("vbtest-dev", "/dev", "tmpfs", MS_NOSUID, "mode=0755,size=64k") < 0))
            _exit(1);
        if (write(p[1], "R", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    if (read(p[0], &c, 1) != 1 || c != 'R') {
        close(p[0]);
        waitpid(pid, NULL, 0);
        return -1;
    }
    close(p[0]);
    return pid;
}

static void
end_holder(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void
test_paths(void)
{
    const char *args[] = {
        "-blockdev",
        "{\"driver\":\"host_device\",\"filename\":\"/dev/null\",\"node-name\":\"x\"}",
        "-chardev", "serial,id=s,path=/dev/zero", "/dev/full",
        "{\"filename\":\"/dev/fdset/3\"}", "file=/dev/../etc/passwd", "x/dev/nope",
        "path=/dev/null", NULL,
    };
    g_auto(GStrv) paths = vb_qemu_devns_paths(args);

    g_assert_cmpuint(g_strv_length(paths), ==, 3);
    g_assert_cmpstr(paths[0], ==, "/dev/null");
    g_assert_cmpstr(paths[1], ==, "/dev/zero");
    g_assert_cmpstr(paths[2], ==, "/dev/full");
}

static void
test_add_remove(void)
{
    g_autofree char *dir = NULL, *sub = NULL, *link = NULL, *inside = NULL;
    g_autoptr(GError) error = NULL;
    struct stat host, st;
    pid_t pid;

    if (geteuid() != 0) {
        g_test_skip("a mount namespace needs root");
        return;
    }
    pid = spawn_holder(TRUE);
    if (pid < 0) {
        g_test_skip("no mount namespace here");
        return;
    }
    g_assert_true(vb_qemu_devns_is_private(pid));
    /* a link in a directory of its own under the host's /dev, as /dev/disk/by-id/x */
    dir = g_strdup_printf("/dev/vbtest-devns-%d", (int)getpid());
    sub = g_build_filename(dir, "sub", NULL);
    link = g_build_filename(sub, "zero-link", NULL);
    g_assert_cmpint(g_mkdir_with_parents(sub, 0755), ==, 0);
    g_assert_cmpint(symlink("../../zero", link), ==, 0);
    {
        const char *args[] = { link, NULL };
        g_auto(GStrv) paths = vb_qemu_devns_paths(args);

        g_assert_cmpuint(g_strv_length(paths), ==, 2); /* the link and /dev/zero */
        g_assert_cmpstr(paths[1], ==, "/dev/zero");
        g_assert_true(vb_qemu_devns_add(pid, (const char *const *)paths, &error));
        g_assert_no_error(error);
    }
    g_assert_cmpint(stat("/dev/zero", &host), ==, 0);
    inside = g_strdup_printf("/proc/%d/root/dev/zero", (int)pid);
    g_assert_cmpint(lstat(inside, &st), ==, 0);
    g_assert_true(S_ISCHR(st.st_mode));
    g_assert_cmpuint(st.st_rdev, ==, host.st_rdev);
    g_assert_cmpuint(st.st_mode, ==, host.st_mode);
    g_assert_cmpuint(st.st_uid, ==, host.st_uid);
    g_assert_cmpuint(st.st_gid, ==, host.st_gid);
    {
        g_autofree char *l = g_strdup_printf("/proc/%d/root%s", (int)pid, link);
        g_autofree char *target = g_file_read_link(l, NULL);

        g_assert_cmpstr(target, ==, "../../zero");
    }
    /* again: already there, no error */
    {
        const char *again[] = { "/dev/zero", NULL };

        g_assert_true(vb_qemu_devns_add(pid, again, &error));
        g_assert_no_error(error);
    }
    /* a host path that does not exist: named, nothing made */
    {
        const char *missing[] = { "/dev/vbtest-devns-missing", NULL };
        g_autofree char *m = g_strdup_printf("/proc/%d/root/dev/vbtest-devns-missing",
                                             (int)pid);

        g_assert_false(vb_qemu_devns_add(pid, missing, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        g_assert_nonnull(strstr(error->message, "/dev/vbtest-devns-missing"));
        g_clear_error(&error);
        g_assert_false(g_file_test(m, G_FILE_TEST_EXISTS));
    }
    /* not under /dev */
    {
        const char *bad[] = { "/etc/passwd", NULL };

        g_assert_false(vb_qemu_devns_add(pid, bad, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        g_clear_error(&error);
    }
    /* removal: the node and the link; the host's stay */
    {
        const char *gone[] = { "/dev/zero", link, NULL };
        g_autofree char *l = g_strdup_printf("/proc/%d/root%s", (int)pid, link);

        g_assert_true(vb_qemu_devns_remove(pid, gone, &error));
        g_assert_no_error(error);
        g_assert_cmpint(lstat(inside, &st), <, 0);
        g_assert_cmpint(lstat(l, &st), <, 0);
        g_assert_cmpint(lstat("/dev/zero", &st), ==, 0);
        g_assert_cmpint(lstat(link, &st), ==, 0);
    }
    unlink(link);
    rmdir(sub);
    rmdir(dir);
    end_holder(pid);
}

static void
test_shared_namespace_refused(void)
{
    g_autoptr(GError) error = NULL;
    const char *paths[] = { "/dev/zero", NULL };
    pid_t pid = spawn_holder(FALSE);

    g_assert_cmpint(pid, >, 0);
    g_assert_false(vb_qemu_devns_is_private(pid));
    /* never touches the host's (our) /dev */
    g_assert_false(vb_qemu_devns_add(pid, paths, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_STATE);
    g_clear_error(&error);
    /* removal in a shared namespace: nothing done */
    g_assert_true(vb_qemu_devns_remove(pid, paths, &error));
    g_assert_true(g_file_test("/dev/zero", G_FILE_TEST_EXISTS));
    end_holder(pid);
    /* a process that is gone */
    g_assert_false(vb_qemu_devns_is_private(pid));
    g_assert_false(vb_qemu_devns_add(pid, paths, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_STATE);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu-devns/paths", test_paths);
    g_test_add_func("/qemu-devns/add-remove", test_add_remove);
    g_test_add_func("/qemu-devns/shared-namespace", test_shared_namespace_refused);
    return g_test_run();
}
