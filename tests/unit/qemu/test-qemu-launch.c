/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QEMU launcher (service/qemu/qemu-launch.c) with /bin/sh in QEMU's place: the
 * environment is exactly the given one, only the given fds are open, no-new-privs is set,
 * the hook runs before the exec, an exec failure is a named error with the errno text, the
 * ids switch (to nobody) and the private /dev holds only the listed devices. This program is
 * its own launcher (/proc/self/exe --qemu-launch FD), as virtbusd is without the small
 * program; the /qemu-launch/program/ cases run the same checks through that program,
 * virtbus-launch of the build tree (issue 16), and check that it is the one that ran; the
 * /qemu-launch/zygote/ cases run them through that program kept as a zygote (one process,
 * a clone per launch whose parent is this program), and inject its faults: killed, stopped,
 * its clone refused by a pids cgroup, its service killed (before or while it clones), many
 * launches at once. The id and /dev cases need root (as the rest of the suite).
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
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
/* data of the /qemu-launch/zygote/ cases: that program, kept as a zygote */
static const char zygote_mode[] = "zygote";
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
    vb_qemu_launch_set_zygote(data == zygote_mode);
    if (data == program_mode || data == zygote_mode) {
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

    vb_qemu_launch_set_zygote(FALSE); /* ends and reaps the zygote */
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

/* The warnings logged (the service's logging is structured: g_test_expect_message() does not
 * see it). */
static GPtrArray *logged;
static GMutex logged_lock;

static GLogWriterOutput
capture_writer(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer user_data)
{
    for (gsize i = 0; i < n; i++) {
        if (level & G_LOG_LEVEL_WARNING && g_str_equal(fields[i].key, "MESSAGE")) {
            g_mutex_lock(&logged_lock);
            g_ptr_array_add(logged, g_strdup(fields[i].value));
            g_mutex_unlock(&logged_lock);
        }
    }
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        return g_log_writer_default(level, fields, n, user_data);
    return G_LOG_WRITER_HANDLED;
}

static void
assert_logged(const char *pattern)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&logged_lock);

    for (guint i = 0; i < logged->len; i++) {
        if (g_pattern_match_simple(pattern, logged->pdata[i]))
            return;
    }
    g_error("no warning matching '%s' (%u logged)", pattern, logged->len);
}

/* Reads @pid's state letter ('Z': a zombie) and parent from /proc. Returns: FALSE when it is
 * gone. */
static gboolean
read_stat(pid_t pid, char *state, int *ppid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *stat = NULL;
    const char *close_paren;

    if (!g_file_get_contents(path, &stat, NULL, NULL))
        return FALSE;
    close_paren = strrchr(stat, ')'); /* the command name may hold anything */
    return close_paren != NULL && sscanf(close_paren + 2, "%c %d", state, ppid) == 2;
}

/* The pid of @pid's parent, -1 when it is gone. */
static int
parent_of(pid_t pid)
{
    char state;
    int ppid;

    return read_stat(pid, &state, &ppid) ? ppid : -1;
}

/* The state letter of @pid ('Z': a zombie), 0 when it is gone. */
static char
state_of(pid_t pid)
{
    char state;
    int ppid;

    return read_stat(pid, &state, &ppid) ? state : 0;
}

/* Children of this process, zombies included. */
static GArray *
children(void)
{
    g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
    GArray *list = g_array_new(FALSE, FALSE, sizeof(int));
    const char *name;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir)) != NULL) {
        int pid = atoi(name);

        if (pid > 0 && parent_of(pid) == getpid())
            g_array_append_val(list, pid);
    }
    return list;
}

/* No child is left but the zygote (when one runs), and that one is alive. */
static void
assert_no_child_left(void)
{
    g_autoptr(GArray) list = children();
    pid_t zygote = vb_qemu_launch_zygote_pid();

    if (zygote > 0) {
        g_assert_cmpuint(list->len, ==, 1);
        g_assert_cmpint(g_array_index(list, int, 0), ==, zygote);
        g_assert_cmpint(state_of(zygote), !=, 'Z');
    } else {
        g_assert_cmpuint(list->len, ==, 0);
    }
}

typedef struct {
    gboolean ran;
    gboolean saw_launcher; /* the pid was still the launcher (not yet exec'd) */
    gboolean saw_nnp;      /* and already had no-new-privs */
    char *exe;             /* the launcher's program */
    int parent;            /* the launcher's parent */
    gboolean cloned;       /* cloned by the zygote (its command line: --qemu-launch zFD) */
    gboolean fail;
} HookData;

/* Whether @buf (@len bytes, NULs among them) holds the @n bytes of @what. */
static gboolean
has_bytes(const char *buf, gsize len, const char *what, gsize n)
{
    for (gsize i = 0; buf != NULL && i + n <= len; i++) {
        if (memcmp(buf + i, what, n) == 0)
            return TRUE;
    }
    return FALSE;
}

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
    h->saw_launcher = has_bytes(cmdline, len, "--qemu-launch", 13);
    h->cloned = has_bytes(cmdline, len, "--qemu-launch\0z", 15);
    g_assert_true(g_file_get_contents(status_path, &status, NULL, NULL));
    h->saw_nnp = strstr(status, "NoNewPrivs:\t1") != NULL;
    g_free(h->exe);
    h->exe = g_file_read_link(exe_path, NULL);
    h->parent = parent_of(pid);
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
    /* this program's child, whether spawned or cloned by the zygote (CLONE_PARENT) */
    g_assert_cmpint(h.parent, ==, getpid());
    g_assert_cmpint(h.cloned, ==, data == zygote_mode);
    if (data == zygote_mode) {
        g_assert_cmpint(vb_qemu_launch_zygote_pid(), >, 0);
        g_assert_cmpint(vb_qemu_launch_zygote_pid(), !=, pid);
    } else {
        g_assert_cmpint(vb_qemu_launch_zygote_pid(), ==, -1);
    }
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
        assert_no_child_left();
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
    assert_no_child_left();
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

/* ---- the kept launcher (zygote), issue 16 ---- */

/* Launches `sh -c 'echo ok-N'` through the launcher; returns its pid (not yet reaped). */
static pid_t
launch_echo(Fixture *f, guint i, HookData *h, GError **error)
{
    g_autofree char *script = g_strdup_printf("echo ok-%u", i);
    const char *argv[] = { "/bin/sh", "-c", script, NULL };
    VbQemuLaunchSpec spec = { .argv = argv, .envp = test_env, .log_fd = f->log_fd };

    return vb_qemu_launch_spawn(&spec, hook, h, error);
}

/* Launches one program, checks it ran as this program's child (cloned by the zygote or not,
 * as @cloned says), reaps it. */
static void
launch_one(Fixture *f, guint i, gboolean cloned)
{
    HookData h = { 0 };
    g_autoptr(GError) error = NULL;
    g_autofree char *log = NULL, *want = g_strdup_printf("ok-%u\n", i);
    pid_t pid = launch_echo(f, i, &h, &error);

    g_assert_no_error(error);
    g_assert_cmpint(pid, >, 0);
    g_assert_true(h.saw_launcher);
    g_assert_cmpint(h.parent, ==, getpid());
    g_assert_cmpint(h.cloned, ==, cloned);
    g_assert_cmpstr(h.exe, ==, program_path);
    g_free(h.exe);
    log = finish(f, pid);
    g_assert_nonnull(strstr(log, want));
}

/* A "KEY:" line of /proc/PID/status, in KiB. */
static gsize
status_kib(pid_t pid, const char *key)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    g_autofree char *needle = g_strdup_printf("\n%s:", key);
    const char *line;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    line = strstr(text, needle);
    g_assert_nonnull(line);
    return (gsize)g_ascii_strtoull(line + strlen(needle), NULL, 10);
}

/* The zygote is started once and kept; it holds nothing of ours but its socket. */
static void
test_zygote_kept(Fixture *f, gconstpointer data)
{
    g_autofree char *fd_dir = NULL;
    g_autoptr(GDir) dir = NULL;
    const char *name;
    pid_t zygote;
    guint n_fds = 0;

    g_assert_cmpint(vb_qemu_launch_zygote_pid(), ==, -1); /* not before the first launch */
#ifdef __SANITIZE_ADDRESS__
    {
        /* the zygote takes the sanitizer's options: a freed block is reused at once, so its
         * memory shows a leak and nothing else (also when no options were set: the
         * default quarantine keeps every freed block for a while) */
        const char *was = g_getenv("ASAN_OPTIONS");
        g_autofree char *opts = g_strconcat(was != NULL ? was : "", was != NULL ? ":" : "",
                                            "quarantine_size_mb=0",
                                            ":thread_local_quarantine_size_kb=0", NULL);

        g_setenv("ASAN_OPTIONS", opts, TRUE);
    }
#endif
    launch_one(f, 1, TRUE);
    zygote = vb_qemu_launch_zygote_pid();
    g_assert_cmpint(zygote, >, 0);
    g_assert_cmpint(parent_of(zygote), ==, getpid());
    for (guint i = 2; i <= 5; i++)
        launch_one(f, i, TRUE);
    g_assert_cmpint(vb_qemu_launch_zygote_pid(), ==, zygote);
    /* stdin and stdout on /dev/null, stderr ours, fd 3 its socket: nothing else */
    fd_dir = g_strdup_printf("/proc/%d/fd", (int)zygote);
    dir = g_dir_open(fd_dir, 0, NULL);
    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir)) != NULL) {
        g_assert_cmpint(atoi(name), <=, 3);
        n_fds++;
    }
    g_assert_cmpuint(n_fds, ==, 4);
    /* its clones share its memory until they exec: what they allocate they free, so 200
     * more launches leave its memory as it was (a clone that kept its parsed spec, ~1 KiB,
     * would add ~200 KiB). Anonymous memory only (heap, stacks): the clones also touch
     * code of the shared libraries that the zygote itself never ran, and those clean file
     * pages (with the kernel's fault-around) count in its RSS as well. */
    {
        gsize anon0, anon1, rss0, rss1;

        for (guint i = 0; i < 20; i++)
            launch_one(f, 100 + i, TRUE);
        anon0 = status_kib(zygote, "RssAnon");
        rss0 = status_kib(zygote, "VmRSS");
        for (guint i = 0; i < 200; i++)
            launch_one(f, 200 + i, TRUE);
        anon1 = status_kib(zygote, "RssAnon");
        rss1 = status_kib(zygote, "VmRSS");
        g_test_message("zygote anonymous memory: %zu KiB, after 200 more launches %zu KiB "
                       "(RSS %zu, %zu KiB)", anon0, anon1, rss0, rss1);
        g_assert_cmpuint(anon1, <=, anon0 + 64);
    }
    assert_no_child_left();
    vb_qemu_launch_set_zygote(FALSE);
    g_assert_cmpint(state_of(zygote), ==, 0); /* ended and reaped */
}

/* A zygote killed between two launches: the next launch takes a new one; the dead one is
 * reaped. */
static void
test_zygote_killed(Fixture *f, gconstpointer data)
{
    pid_t old, now;

    launch_one(f, 1, TRUE);
    old = vb_qemu_launch_zygote_pid();
    g_assert_cmpint(kill(old, SIGKILL), ==, 0);
    for (guint i = 0; i < 200 && state_of(old) != 'Z'; i++)
        g_usleep(10 * 1000);
    g_assert_cmpint(state_of(old), ==, 'Z');
    launch_one(f, 2, TRUE);
    assert_logged("the kept QEMU launcher (pid *) is gone (Broken pipe)*");
    now = vb_qemu_launch_zygote_pid();
    g_assert_cmpint(now, >, 0);
    g_assert_cmpint(now, !=, old);
    g_assert_cmpint(state_of(old), ==, 0);
    launch_one(f, 3, TRUE);
    g_assert_cmpint(vb_qemu_launch_zygote_pid(), ==, now);
    assert_no_child_left();
}

/* A zygote that hangs (stopped): the launch does not wait for it longer than its timeout,
 * runs through a launcher of its own, and the stuck zygote is ended and reaped. */
static void
test_zygote_stopped(Fixture *f, gconstpointer data)
{
    gint64 t0;
    pid_t old;

    launch_one(f, 1, TRUE);
    old = vb_qemu_launch_zygote_pid();
    g_assert_cmpint(kill(old, SIGSTOP), ==, 0);
    t0 = g_get_monotonic_time();
    launch_one(f, 2, FALSE); /* a launcher of its own */
    assert_logged("the kept QEMU launcher (pid *) did not answer*");
    g_test_message("launch past a stopped zygote: %.1f s",
                   (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 15 * G_USEC_PER_SEC);
    g_assert_cmpint(state_of(old), ==, 0);
    g_assert_cmpint(vb_qemu_launch_zygote_pid(), ==, -1);
    launch_one(f, 3, TRUE); /* a new zygote */
    g_assert_cmpint(vb_qemu_launch_zygote_pid(), >, 0);
    g_assert_cmpint(vb_qemu_launch_zygote_pid(), !=, old);
    assert_no_child_left();
}

/* Writes @text to the cgroup file @path (in place: no temporary file and rename there). */
static gboolean
write_cgroup_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    gboolean ok;

    if (fd < 0)
        return FALSE;
    ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok;
}

/* A pids cgroup for the zygote alone, with room for no other process: NULL when this
 * machine has no pids controller to use (cgroup v1 /sys/fs/cgroup/pids, or v2). */
static char *
pids_cgroup_new(void)
{
    const char *const roots[] = { "/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified",
                                  "/sys/fs/cgroup" };

    for (guint i = 0; i < G_N_ELEMENTS(roots); i++) {
        g_autofree char *dir = g_strdup_printf("%s/vb-test-zygote-%d", roots[i], getpid());
        g_autofree char *max = g_build_filename(dir, "pids.max", NULL);

        if (g_mkdir(dir, 0755) < 0)
            continue;
        if (write_cgroup_file(max, "1"))
            return g_steal_pointer(&dir);
        g_rmdir(dir);
    }
    return NULL;
}

static gboolean
cgroup_move(const char *dir, pid_t pid)
{
    g_autofree char *procs = g_build_filename(dir, "cgroup.procs", NULL);
    g_autofree char *text = g_strdup_printf("%d\n", (int)pid);

    return write_cgroup_file(procs, text);
}

/* The zygote's clone fails (a real EAGAIN: its pids cgroup is full): the launch runs
 * through a launcher of its own, and the zygote stays. */
static void
test_zygote_clone_fails(Fixture *f, gconstpointer data)
{
    g_autofree char *cg = NULL, *parent = NULL;
    pid_t zygote;

    launch_one(f, 1, TRUE);
    zygote = vb_qemu_launch_zygote_pid();
    cg = pids_cgroup_new();
    if (cg == NULL) {
        g_test_skip("no pids cgroup controller here");
        return;
    }
    parent = g_path_get_dirname(cg);
    if (!cgroup_move(cg, zygote)) {
        g_rmdir(cg);
        g_test_skip("cannot move a process into a pids cgroup here");
        return;
    }
    launch_one(f, 2, FALSE); /* launchers of their own */
    launch_one(f, 3, FALSE);
    g_assert_cmpint(vb_qemu_launch_zygote_pid(), ==, zygote);
    g_assert_cmpint(state_of(zygote), !=, 'Z');
    g_assert_true(cgroup_move(parent, zygote));
    g_assert_cmpint(g_rmdir(cg), ==, 0);
    launch_one(f, 4, TRUE); /* cloned again */
    g_assert_cmpint(vb_qemu_launch_zygote_pid(), ==, zygote);
    assert_no_child_left();
}

typedef struct {
    Fixture *f;
    guint base;
    pid_t pids[4];
    int parents[4];
    gboolean cloned[4];
} Burst;

static gpointer
burst_thread(gpointer data)
{
    Burst *b = data;

    for (guint i = 0; i < G_N_ELEMENTS(b->pids); i++) {
        HookData h = { 0 };
        g_autoptr(GError) error = NULL;

        b->pids[i] = launch_echo(b->f, b->base + i, &h, &error);
        g_assert_no_error(error);
        b->parents[i] = h.parent;
        b->cloned[i] = h.cloned;
        g_free(h.exe);
    }
    return NULL;
}

/* 8 threads × 4 launches at once with one zygote: every one runs, as our child. */
static void
test_zygote_concurrent(Fixture *f, gconstpointer data)
{
    Burst bursts[8];
    GThread *threads[8];
    g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
    g_autofree char *log = NULL;
    guint n_cloned = 0, n_logged;
    pid_t zygote;

    launch_one(f, 0, TRUE);
    zygote = vb_qemu_launch_zygote_pid();
    n_logged = logged->len;
    for (guint t = 0; t < G_N_ELEMENTS(threads); t++) {
        bursts[t] = (Burst){ .f = f, .base = 100 * (t + 1) };
        threads[t] = g_thread_new("burst", burst_thread, &bursts[t]);
    }
    for (guint t = 0; t < G_N_ELEMENTS(threads); t++)
        g_thread_join(threads[t]);
    for (guint t = 0; t < G_N_ELEMENTS(threads); t++) {
        for (guint i = 0; i < G_N_ELEMENTS(bursts[t].pids); i++) {
            int status = -1;

            g_assert_cmpint(bursts[t].pids[i], >, 0);
            g_assert_cmpint(bursts[t].parents[i], ==, getpid());
            n_cloned += bursts[t].cloned[i];
            g_assert_false(g_hash_table_contains(seen, GINT_TO_POINTER(bursts[t].pids[i])));
            g_hash_table_add(seen, GINT_TO_POINTER(bursts[t].pids[i]));
            g_assert_cmpint(waitpid(bursts[t].pids[i], &status, 0), ==, bursts[t].pids[i]);
            g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
    }
    /* one launch holds the zygote at a time; the others ran launchers of their own instead
     * of waiting behind it, and nothing took it for stuck */
    g_test_message("%u of 32 launches cloned by the zygote", n_cloned);
    g_assert_cmpuint(n_cloned, >=, 1);
    g_assert_cmpuint(logged->len, ==, n_logged);
    g_assert_true(g_file_get_contents(f->log, &log, NULL, NULL));
    for (guint t = 0; t < G_N_ELEMENTS(threads); t++) {
        for (guint i = 0; i < G_N_ELEMENTS(bursts[t].pids); i++) {
            g_autofree char *want = g_strdup_printf("ok-%u\n", bursts[t].base + i);

            g_assert_nonnull(strstr(log, want));
        }
    }
    g_assert_cmpint(vb_qemu_launch_zygote_pid(), ==, zygote);
    assert_no_child_left();
}

typedef struct {
    Fixture *f;
    HookData inner;
    pid_t inner_pid;
} NestedHook;

/* A hook that launches another program, as QEMU's starts the helpers (swtpm, virtiofsd). */
static gboolean
nested_hook(pid_t pid, gpointer data, GError **error)
{
    NestedHook *n = data;

    n->inner_pid = launch_echo(n->f, 2, &n->inner, error);
    return n->inner_pid > 0;
}

/* A launch from within a launch's hook does not wait for the zygote, which waits for the
 * outer launch's clone: it runs a launcher of its own at once. */
static void
test_zygote_nested(Fixture *f, gconstpointer data)
{
    g_autofree char *script = g_strdup("echo ok-1");
    const char *argv[] = { "/bin/sh", "-c", script, NULL };
    VbQemuLaunchSpec spec = { .argv = argv, .envp = test_env, .log_fd = f->log_fd };
    NestedHook n = { .f = f };
    g_autoptr(GError) error = NULL;
    g_autofree char *log = NULL;
    guint n_logged;
    gint64 t0;
    pid_t pid;

    launch_one(f, 0, TRUE);
    n_logged = logged->len;
    t0 = g_get_monotonic_time();
    pid = vb_qemu_launch_spawn(&spec, nested_hook, &n, &error);
    g_assert_no_error(error);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 3 * G_USEC_PER_SEC);
    g_assert_cmpint(n.inner_pid, >, 0);
    g_assert_false(n.inner.cloned);
    g_assert_cmpint(n.inner.parent, ==, getpid());
    g_free(n.inner.exe);
    g_free(finish(f, n.inner_pid));
    log = finish(f, pid);
    g_assert_nonnull(strstr(log, "ok-1\n"));
    g_assert_nonnull(strstr(log, "ok-2\n"));
    g_assert_cmpuint(logged->len, ==, n_logged);
    launch_one(f, 3, TRUE); /* the same zygote, free again */
    assert_no_child_left();
}

/* The service (here: a child process of the test) dies while its zygote runs: the zygote
 * ends (EOF on its socket) instead of staying behind; what it launched keeps running. */
static void
test_zygote_service_dies(Fixture *f, gconstpointer data)
{
    int report[2];
    pid_t service, got[2] = { -1, -1 };
    int status = 0;

    g_assert_cmpint(pipe2(report, O_CLOEXEC), ==, 0);
    service = fork();
    g_assert_cmpint(service, >=, 0);
    if (service == 0) {
        const char *argv[] = { "/bin/sleep", "60", NULL };
        VbQemuLaunchSpec spec = { .argv = argv, .envp = test_env, .log_fd = f->log_fd };
        pid_t pid = vb_qemu_launch_spawn(&spec, NULL, NULL, NULL);

        got[0] = vb_qemu_launch_zygote_pid();
        got[1] = pid;
        if (write(report[1], got, sizeof(got)) != sizeof(got))
            _exit(1);
        pause();
        _exit(0);
    }
    close(report[1]);
    g_assert_cmpint(read(report[0], got, sizeof(got)), ==, sizeof(got));
    close(report[0]);
    g_assert_cmpint(got[0], >, 0);
    g_assert_cmpint(got[1], >, 0);
    g_assert_cmpint(parent_of(got[1]), ==, service);
    g_assert_cmpint(kill(service, SIGKILL), ==, 0);
    g_assert_cmpint(waitpid(service, &status, 0), ==, service);
    /* the zygote goes (reaped by whoever inherits it, or a zombie there) */
    for (guint i = 0; i < 500 && state_of(got[0]) != 0 && state_of(got[0]) != 'Z'; i++)
        g_usleep(10 * 1000);
    g_assert_true(state_of(got[0]) == 0 || state_of(got[0]) == 'Z');
    /* the launched program runs on */
    g_assert_cmpint(state_of(got[1]), !=, 0);
    g_assert_cmpint(state_of(got[1]), !=, 'Z');
    g_assert_cmpint(kill(got[1], SIGKILL), ==, 0);
}

/*
 * A clone that finds its service gone before it says its pid ends at once (_exit), from the
 * first frame of the clone stack, which the clones before it left as they were when they
 * exec'd. Under AddressSanitizer, _exit's cleanup (__asan_handle_no_return) asks
 * sigaltstack() for the signal stack into a frame of its own below the caller, and the
 * interceptor checked it against those stale redzones: a false stack-buffer-overflow report
 * that aborted the clone (a kill9-sweep CI run, its service SIGKILLed in a migration). The
 * zygote now clears the clone stack's shadow before each clone. Here: one launch that execs,
 * the zygote stopped, a second request queued, the service killed, the zygote continued: its
 * clone fails to answer, the zygote ends, and its stderr holds no sanitizer report.
 */
static void
test_zygote_clone_finds_service_gone(Fixture *f, gconstpointer data)
{
    g_autofree char *err_path = g_build_filename(f->dir, "zygote-stderr", NULL);
    g_autofree char *err_text = NULL;
    int report[2], go[2];
    pid_t service, zygote = -1;
    int status = 0;
    char c = 0;

    g_assert_cmpint(pipe2(report, O_CLOEXEC), ==, 0);
    g_assert_cmpint(pipe2(go, O_CLOEXEC), ==, 0);
    service = fork();
    g_assert_cmpint(service, >=, 0);
    if (service == 0) {
        const char *argv[] = { "/bin/true", NULL };
        VbQemuLaunchSpec spec = { .argv = argv, .envp = test_env, .log_fd = f->log_fd };
        int err_fd = open(err_path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
        pid_t pid;

        /* the zygote's stderr (and its clones', until they place their fds) */
        if (err_fd < 0 || dup2(err_fd, STDERR_FILENO) < 0)
            _exit(1);
        pid = vb_qemu_launch_spawn(&spec, NULL, NULL, NULL);
        if (pid <= 0 || waitpid(pid, NULL, 0) != pid)
            _exit(1);
        zygote = vb_qemu_launch_zygote_pid();
        if (write(report[1], &zygote, sizeof(zygote)) != sizeof(zygote) ||
            read(go[0], &c, 1) != 1 || write(report[1], "s", 1) != 1)
            _exit(1);
        /* queued to the stopped zygote; this process is killed while it waits */
        vb_qemu_launch_spawn(&spec, NULL, NULL, NULL);
        _exit(0);
    }
    close(report[1]);
    close(go[0]);
    g_assert_cmpint(read(report[0], &zygote, sizeof(zygote)), ==, sizeof(zygote));
    g_assert_cmpint(zygote, >, 0);
    g_assert_cmpint(kill(zygote, SIGSTOP), ==, 0);
    g_assert_cmpint(write(go[1], "g", 1), ==, 1);
    g_assert_cmpint(read(report[0], &c, 1), ==, 1);
    g_usleep(300 * 1000); /* the request is sent at once; its answer is waited for 5 s */
    g_assert_cmpint(kill(service, SIGKILL), ==, 0);
    g_assert_cmpint(waitpid(service, &status, 0), ==, service);
    close(report[0]);
    close(go[1]);
    g_assert_cmpint(kill(zygote, SIGCONT), ==, 0);
    /* the zygote clones for the queued request, then reads EOF and ends */
    for (guint i = 0; i < 500 && state_of(zygote) != 0 && state_of(zygote) != 'Z'; i++)
        g_usleep(10 * 1000);
    g_assert_true(state_of(zygote) == 0 || state_of(zygote) == 'Z');
    g_assert_true(g_file_get_contents(err_path, &err_text, NULL, NULL));
    g_assert_null(strstr(err_text, "Sanitizer"));
    g_assert_null(strstr(err_text, "runtime error"));
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
    logged = g_ptr_array_new_with_free_func(g_free);
    g_log_set_writer_func(capture_writer, NULL, NULL);
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
    /* issue 16: through that program kept as a zygote, and its faults */
    g_test_add("/qemu-launch/zygote/env-fds-nnp", Fixture, zygote_mode, fixture_setup,
               test_env_fds_nnp, fixture_teardown);
    g_test_add("/qemu-launch/zygote/exec-fails", Fixture, zygote_mode, fixture_setup,
               test_exec_fails, fixture_teardown);
    g_test_add("/qemu-launch/zygote/hook-fails", Fixture, zygote_mode, fixture_setup,
               test_hook_fails, fixture_teardown);
    g_test_add("/qemu-launch/zygote/set-ids", Fixture, zygote_mode, fixture_setup,
               test_set_ids, fixture_teardown);
    g_test_add("/qemu-launch/zygote/private-dev", Fixture, zygote_mode, fixture_setup,
               test_private_dev, fixture_teardown);
    g_test_add("/qemu-launch/zygote/kept", Fixture, zygote_mode, fixture_setup,
               test_zygote_kept, fixture_teardown);
    g_test_add("/qemu-launch/zygote/killed", Fixture, zygote_mode, fixture_setup,
               test_zygote_killed, fixture_teardown);
    g_test_add("/qemu-launch/zygote/stopped", Fixture, zygote_mode, fixture_setup,
               test_zygote_stopped, fixture_teardown);
    g_test_add("/qemu-launch/zygote/clone-fails", Fixture, zygote_mode, fixture_setup,
               test_zygote_clone_fails, fixture_teardown);
    g_test_add("/qemu-launch/zygote/concurrent", Fixture, zygote_mode, fixture_setup,
               test_zygote_concurrent, fixture_teardown);
    g_test_add("/qemu-launch/zygote/nested", Fixture, zygote_mode, fixture_setup,
               test_zygote_nested, fixture_teardown);
    g_test_add("/qemu-launch/zygote/service-dies", Fixture, zygote_mode, fixture_setup,
               test_zygote_service_dies, fixture_teardown);
    g_test_add("/qemu-launch/zygote/clone-finds-service-gone", Fixture, zygote_mode,
               fixture_setup, test_zygote_clone_finds_service_gone, fixture_teardown);
    return g_test_run();
}
