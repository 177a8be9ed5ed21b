/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QEMU launcher (service/qemu/qemu-launch.c) with /bin/sh in QEMU's place: the
 * environment is exactly the given one, only the given fds are open, no-new-privs is set,
 * the hook runs before the exec, an exec failure is a named error with the errno text, the
 * ids switch (to nobody) and the private /dev holds only the listed devices. This program is
 * its own launcher (/proc/self/exe --qemu-launch FD), as virtbusd is without the small
 * program; the /qemu-launch/program/ cases run the same checks through that program,
 * virtbus-launch of the build tree (issue 16), and check that it is the one that ran. The id
 * and /dev cases need root (as the rest of the suite).
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu-launch.h"
#include "qemu-process.h"
#include "vb-error.h"

typedef struct {
    char *dir;
    char *log;
    int log_fd;
} Fixture;

/* data of the /qemu-launch/program/ cases: the launcher is the program virtbus-launch */
static const char program_mode[] = "program";
static char *program_path;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    f->dir = g_dir_make_tmp("vb-launch-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    g_assert_cmpint(chmod(f->dir, 0755), ==, 0); /* nobody reads nothing there but its log */
    f->log = g_build_filename(f->dir, "log", NULL);
    f->log_fd = open(f->log, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    g_assert_cmpint(f->log_fd, >=, 0);
    if (data == program_mode) {
        const char *builddir = g_getenv("VB_BUILDDIR");

        g_assert_nonnull(builddir);
        g_free(program_path);
        program_path = g_build_filename(builddir, "service", "virtbus-launch", NULL);
        g_assert_true(g_file_test(program_path, G_FILE_TEST_IS_EXECUTABLE));
        vb_qemu_launch_set_helper(program_path);
    } else {
        g_clear_pointer(&program_path, g_free);
        vb_qemu_launch_set_helper(NULL); /* /proc/self/exe */
    }
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);

    close(f->log_fd);
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(f->log);
    g_free(f->dir);
}

/* Waits for @pid and returns the log. */
static char *
finish(Fixture *f, pid_t pid)
{
    int status = 0;
    char *text = NULL;

    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(g_file_get_contents(f->log, &text, NULL, NULL));
    g_test_message("log:\n%s", text);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    return text;
}

/* The text of the section "== NAME" of @log, up to the next section. */
static char *
section(const char *log, const char *name)
{
    g_autofree char *head = g_strdup_printf("== %s\n", name);
    const char *start = strstr(log, head), *end;

    g_assert_nonnull(start);
    start += strlen(head);
    end = strstr(start, "== ");
    return end != NULL ? g_strndup(start, (gsize)(end - start)) : g_strdup(start);
}

typedef struct {
    gboolean ran;
    gboolean saw_launcher; /* the pid was still the launcher (not yet exec'd) */
    gboolean saw_nnp;      /* and already had no-new-privs */
    char *exe;             /* the launcher's program */
    gboolean fail;
} HookData;

static gboolean
hook(pid_t pid, gpointer data, GError **error)
{
    HookData *h = data;
    g_autofree char *cmdline_path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *status_path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *exe_path = g_strdup_printf("/proc/%d/exe", (int)pid);
    g_autofree char *cmdline = NULL, *status = NULL;
    gsize len = 0;

    h->ran = TRUE;
    g_assert_true(g_file_get_contents(cmdline_path, &cmdline, &len, NULL));
    /* argv[1] of the launcher: the bytes hold NULs between the arguments */
    h->saw_launcher = len > 0 && memmem(cmdline, len, "--qemu-launch", 13) != NULL;
    g_assert_true(g_file_get_contents(status_path, &status, NULL, NULL));
    h->saw_nnp = strstr(status, "NoNewPrivs:\t1") != NULL;
    g_free(h->exe);
    h->exe = g_file_read_link(exe_path, NULL);
    if (h->fail) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot join the cgroup (test)");
        return FALSE;
    }
    return TRUE;
}

static const char *const test_env[] = { "LC_ALL=C", "PATH=/usr/bin:/bin", "VB_ONLY=this",
                                        NULL };

static void
test_env_fds_nnp(Fixture *f, gconstpointer data)
{
    const char *script =
        "echo '== env'; tr '\\0' '\\n' < /proc/$$/environ; "
        "echo '== fds'; ls /proc/$$/fd; "
        "echo '== status'; grep -E '^(NoNewPrivs|Seccomp):' /proc/$$/status; "
        "echo '== sid'; cut -d' ' -f6 /proc/$$/stat; "
        "echo hello >&7";
    const char *argv[] = { "/bin/sh", "-c", script, NULL };
    int pipefd[2], stray = open("/dev/null", O_RDONLY); /* not close-on-exec, not passed */
    int target = 7;
    VbQemuLaunchSpec spec = { .argv = argv, .envp = test_env, .log_fd = f->log_fd };
    HookData h = { 0 };
    g_autoptr(GError) error = NULL;
    g_autofree char *log = NULL, *env = NULL, *fds = NULL, *status = NULL, *sid = NULL;
    char buf[16] = { 0 };
    pid_t pid;

    g_assert_cmpint(stray, >=, 0);
    g_assert_cmpint(pipe2(pipefd, O_CLOEXEC), ==, 0);
    spec.source_fds = &pipefd[1];
    spec.target_fds = &target;
    spec.n_fds = 1;
    pid = vb_qemu_launch_spawn(&spec, hook, &h, &error);
    g_assert_no_error(error);
    g_assert_cmpint(pid, >, 0);
    close(pipefd[1]);
    g_assert_true(h.ran);
    g_assert_true(h.saw_launcher);
    g_assert_true(h.saw_nnp);
    {
        /* the launcher that ran: the small program, or this test program itself */
        g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);

        g_assert_nonnull(h.exe);
        g_assert_cmpstr(h.exe, ==, program_path != NULL ? program_path : self);
        g_free(h.exe);
    }
    log = finish(f, pid);
    g_assert_cmpint(read(pipefd[0], buf, sizeof(buf) - 1), ==, 6);
    g_assert_cmpstr(buf, ==, "hello\n");
    close(pipefd[0]);
    close(stray);

    env = section(log, "env");
    g_assert_cmpstr(env, ==, "LC_ALL=C\nPATH=/usr/bin:/bin\nVB_ONLY=this\n");
    fds = section(log, "fds");
    g_assert_cmpstr(fds, ==, "0\n1\n2\n7\n");
    status = section(log, "status");
    g_assert_nonnull(strstr(status, "NoNewPrivs:\t1"));
    sid = section(log, "sid");
    /* a session of its own: the shell leads it */
    g_assert_cmpint(atoi(sid), ==, pid);
}

static void
test_exec_fails(Fixture *f, gconstpointer data)
{
    g_autofree char *noexec = g_build_filename(f->dir, "not-executable", NULL);
    g_autofree char *missing = g_build_filename(f->dir, "missing", NULL);
    struct {
        const char *program;
        const char *error;
    } cases[] = {
        { f->dir, "Permission denied" },
        { noexec, "Permission denied" },
        { missing, "No such file or directory" },
    };

    g_assert_true(g_file_set_contents(noexec, "#!/bin/sh\n", -1, NULL));
    g_assert_cmpint(chmod(noexec, 0644), ==, 0);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *argv[] = { cases[i].program, NULL };
        VbQemuLaunchSpec spec = { .argv = argv, .envp = test_env, .log_fd = f->log_fd };
        HookData h = { 0 };
        g_autoptr(GError) error = NULL;
        g_autofree char *want = g_strdup_printf("cannot run %s: %s", cases[i].program,
                                                cases[i].error);
        gint64 t0 = g_get_monotonic_time();

        g_assert_cmpint(vb_qemu_launch_spawn(&spec, hook, &h, &error), ==, -1);
        g_assert_nonnull(error);
        g_test_message("%s", error->message);
        g_assert_cmpstr(error->message, ==, want);
        g_assert_true(h.ran);
        g_free(h.exe);
        /* quickly, and the launcher is reaped: no child left */
        g_assert_cmpint(g_get_monotonic_time() - t0, <, 10 * G_USEC_PER_SEC);
        g_assert_cmpint(waitpid(-1, NULL, WNOHANG), ==, -1);
        g_assert_cmpint(errno, ==, ECHILD);
    }
}

static void
test_hook_fails(Fixture *f, gconstpointer data)
{
    g_autofree char *mark = g_build_filename(f->dir, "ran", NULL);
    g_autofree char *script = g_strdup_printf("touch '%s'", mark);
    const char *argv[] = { "/bin/sh", "-c", script, NULL };
    VbQemuLaunchSpec spec = { .argv = argv, .envp = test_env, .log_fd = f->log_fd };
    HookData h = { .fail = TRUE };
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(vb_qemu_launch_spawn(&spec, hook, &h, &error), ==, -1);
    g_assert_error(error, VB_ERROR, VB_ERROR_FAILED);
    g_assert_cmpstr(error->message, ==, "cannot join the cgroup (test)");
    g_assert_true(h.ran);
    g_free(h.exe);
    g_assert_cmpint(waitpid(-1, NULL, WNOHANG), ==, -1);
    g_usleep(100 * 1000);
    g_assert_false(g_file_test(mark, G_FILE_TEST_EXISTS));
}

static void
test_set_ids(Fixture *f, gconstpointer data)
{
    const char *script = "echo '== ids'; grep -E '^(Uid|Gid|Groups):' /proc/$$/status; "
                         "echo '== caps'; grep -E '^Cap(Eff|Prm):' /proc/$$/status";
    const char *argv[] = { "/bin/sh", "-c", script, NULL };
    const gid_t groups[] = { 65534 };
    VbQemuLaunchSpec spec = { .argv = argv, .envp = test_env, .log_fd = f->log_fd,
                              .set_ids = TRUE, .uid = 65534, .gid = 65534, .groups = groups,
                              .n_groups = 1 };
    g_autoptr(GError) error = NULL;
    g_autofree char *log = NULL, *ids = NULL, *caps = NULL;
    pid_t pid;

    if (geteuid() != 0) {
        g_test_skip("switching ids needs root");
        return;
    }
    pid = vb_qemu_launch_spawn(&spec, NULL, NULL, &error);
    g_assert_no_error(error);
    log = finish(f, pid);
    ids = section(log, "ids");
    g_assert_cmpstr(ids, ==,
                    "Uid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\n"
                    "Groups:\t65534 \n");
    caps = section(log, "caps");
    g_assert_cmpstr(caps, ==, "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n");
}

static void
test_private_dev(Fixture *f, gconstpointer data)
{
    const char *script = "echo '== dev'; ls -A /dev; echo '== null'; stat -c '%t:%T %F' "
                         "/dev/null; echo '== pts'; test -d /dev/pts/ && echo dir; "
                         "exec 3<>/dev/ptmx && echo ptmx-opens";
    const char *argv[] = { "/bin/sh", "-c", script, NULL };
    const char *devices[] = { "null", "zero", "urandom", "pts", "ptmx", "not-on-this-host",
                              NULL };
    VbQemuLaunchSpec spec = { .argv = argv, .envp = test_env, .log_fd = f->log_fd,
                              .private_dev = TRUE, .devices = devices };
    g_autoptr(GError) error = NULL;
    g_autofree char *log = NULL, *dev = NULL, *null = NULL;
    pid_t pid;

    if (geteuid() != 0) {
        g_test_skip("a mount namespace needs root");
        return;
    }
    pid = vb_qemu_launch_spawn(&spec, NULL, NULL, &error);
    g_assert_no_error(error);
    log = finish(f, pid);
    if (strstr(log, "no private /dev") != NULL) {
        g_test_skip("no mount namespace here");
        return;
    }
    dev = section(log, "dev");
    g_assert_cmpstr(dev, ==, "fd\nnull\nptmx\npts\nstderr\nstdin\nstdout\nurandom\nzero\n");
    null = section(log, "null");
    g_assert_cmpstr(null, ==, "1:3 character special file\n");
    g_assert_nonnull(strstr(log, "== pts\ndir\nptmx-opens\n"));
    /* the host's /dev is untouched */
    g_assert_true(g_file_test("/dev/full", G_FILE_TEST_EXISTS));
}

static void
test_devices(void)
{
    const char *argv[] = { "/usr/bin/qemu-system-x86_64", "-accel", "kvm", "-blockdev",
                           "{\"driver\":\"host_device\",\"filename\":\"/dev/vb-no-such\"}",
                           "-netdev", "{\"type\":\"tap\",\"fd\":\"3\",\"vhost\":true}",
                           "-add-fd", "fd=5,set=1,opaque=/dev/fdset/1", "-chardev",
                           "tty,id=s0,path=/dev/ttyS7", NULL };
    g_auto(GStrv) devices = vb_qemu_launch_devices(argv);
    g_autofree char *joined = g_strjoinv(" ", devices);

    g_assert_cmpstr(joined, ==,
                    "null zero full random urandom tty ptmx pts shm kvm vb-no-such net/tun "
                    "vhost-net ttyS7");
}

int
main(int argc, char **argv)
{
    if (vb_qemu_launch_is_launcher(argc, argv))
        return vb_qemu_launch_main(argc, argv);
    g_test_init(&argc, &argv, NULL);
    g_test_add("/qemu-launch/env-fds-nnp", Fixture, NULL, fixture_setup, test_env_fds_nnp,
               fixture_teardown);
    g_test_add("/qemu-launch/exec-fails", Fixture, NULL, fixture_setup, test_exec_fails,
               fixture_teardown);
    g_test_add("/qemu-launch/hook-fails", Fixture, NULL, fixture_setup, test_hook_fails,
               fixture_teardown);
    g_test_add("/qemu-launch/set-ids", Fixture, NULL, fixture_setup, test_set_ids,
               fixture_teardown);
    g_test_add("/qemu-launch/private-dev", Fixture, NULL, fixture_setup, test_private_dev,
               fixture_teardown);
    g_test_add_func("/qemu-launch/devices", test_devices);
    /* issue 16: the same through the small program virtbus-launch */
    g_test_add("/qemu-launch/program/env-fds-nnp", Fixture, program_mode, fixture_setup,
               test_env_fds_nnp, fixture_teardown);
    g_test_add("/qemu-launch/program/exec-fails", Fixture, program_mode, fixture_setup,
               test_exec_fails, fixture_teardown);
    g_test_add("/qemu-launch/program/set-ids", Fixture, program_mode, fixture_setup,
               test_set_ids, fixture_teardown);
    g_test_add("/qemu-launch/program/private-dev", Fixture, program_mode, fixture_setup,
               test_private_dev, fixture_teardown);
    return g_test_run();
}
