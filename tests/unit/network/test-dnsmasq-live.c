/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A real dnsmasq (Debian's dnsmasq-base) run by VbDnsmasq in a network
 * namespace this test makes: a bridge with the gateway address 10.77.0.1/24
 * in namespace "server" (the test process itself enters it, so dnsmasq starts
 * there), two veths into namespace "client" where busybox udhcpc and
 * nslookup play the guests. Needs root (ip netns).
 *
 * The cases run in order and build on each other. The namespaces and every
 * dnsmasq are removed also when a case fails: a reaper process, forked before
 * anything is made, waits for the test's end (its pipe closes) and then kills
 * the dnsmasq processes whose command line names this test's directory (by
 * pid) and deletes the namespaces.
 */
#define _GNU_SOURCE
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "network-dnsmasq.h"
#include "vb-error.h"

#define BRIDGE "vbtbr0"
#define GW "10.77.0.1"
#define MAC1 "52:54:00:aa:bb:01" /* vc1: a static DHCP host */
#define MAC2 "52:54:00:aa:bb:02" /* vc2: from the dynamic range */
#define MAC3 "52:54:00:aa:bb:03" /* the tiny guest */

static struct {
    char *tmp;
    char *srv;
    char *cli;
    char *state;
    char *script;
    int reaper_fd;
    GPid reaper;
    VbDnsmasqConfig *cfg;
    VbDnsmasq *dm;
    GPid pid;     /* the dnsmasq the previous case left */
    char *dyn_ip; /* vc2's lease */
} T = {.reaper_fd = -1};

/* ------------------------------------------------------------ helpers */

/* The watch context: a thread of its own runs it, as the service's main
 * thread does, while the test's thread calls start/stop like a worker. */
static GMainContext *watch_ctx;
static GMainLoop *watch_loop;

static GMutex log_lock;
static GPtrArray *warnings; /* warnings logged, as text; under log_lock */
static GPtrArray *messages; /* g_message()s logged; under log_lock */

/* dnsmasq's exits are logged as warnings: collect them (the default writer
 * would abort a GTest program) and show them as TAP comments */
static GLogWriterOutput
capture_writer(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer user_data)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&log_lock);

    for (gsize i = 0; i < n; i++) {
        if (level & G_LOG_LEVEL_WARNING && g_str_equal(fields[i].key, "MESSAGE")) {
            g_ptr_array_add(warnings, g_strdup(fields[i].value));
            g_test_message("warning: %s", (const char *)fields[i].value);
        }
        if (level & G_LOG_LEVEL_MESSAGE && g_str_equal(fields[i].key, "MESSAGE"))
            g_ptr_array_add(messages, g_strdup(fields[i].value));
    }
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        return g_log_writer_default(level, fields, n, user_data);
    return G_LOG_WRITER_HANDLED;
}

/* a warning matching @pattern (g_pattern_match_simple) was logged */
static void
assert_warned(const char *pattern)
{
    g_mutex_lock(&log_lock);
    for (guint i = 0; i < warnings->len; i++) {
        if (g_pattern_match_simple(pattern, g_ptr_array_index(warnings, i))) {
            g_mutex_unlock(&log_lock);
            return;
        }
    }
    g_mutex_unlock(&log_lock);
    g_error("no warning '%s' was logged", pattern);
}

static char *run_status(int *out_status, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* runs a command line (no shell), returns its stdout; *out_status its wait status */
static char *
run_status(int *out_status, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *line = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) error = NULL;
    char *out = NULL;
    g_autofree char *err = NULL;

    va_start(ap, fmt);
    line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_assert_true(g_shell_parse_argv(line, NULL, &argv, NULL));
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                               out_status, &error));
    g_assert_no_error(error);
    if (*out_status != 0)
        g_test_message("'%s' ended with status %d: %s", line, *out_status, err);
    return out;
}

#define run(...)                                                                                   \
    G_STMT_START                                                                                   \
    {                                                                                              \
        int st_;                                                                                   \
        g_free(run_status(&st_, __VA_ARGS__));                                                     \
        g_assert_cmpint(st_, ==, 0);                                                               \
    }                                                                                              \
    G_STMT_END

static gboolean
alive(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid);
    g_autofree char *stat = NULL;
    const char *p;

    if (!g_file_get_contents(path, &stat, NULL, NULL))
        return FALSE;
    p = strrchr(stat, ')'); /* state after "pid (comm) " */
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* pids of the processes whose command line contains @needle */
static GArray *
pids_with(const char *needle)
{
    GArray *pids = g_array_new(FALSE, FALSE, sizeof(GPid));
    g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_strdup_printf("/proc/%s/cmdline", name);
        g_autofree char *text = NULL;
        gsize len = 0;
        GPid pid = (GPid)atoi(name);

        if (pid <= 0 || pid == getpid() || !g_file_get_contents(path, &text, &len, NULL))
            continue;
        for (gsize i = 0; i + 1 < len; i++) {
            if (!text[i])
                text[i] = ' ';
        }
        if (strstr(text, needle) && alive(pid))
            g_array_append_val(pids, pid);
    }
    return pids;
}

/* udhcpc on @iface in the client namespace: the address it got, or NULL */
static char *
dhcp(const char *iface, const char *hostname)
{
    g_autofree char *lease = g_strdup_printf("%s/%s.lease", T.tmp, iface);
    g_autofree char *ip = NULL;
    int st;

    g_unlink(lease);
    g_free(run_status(&st,
                      "ip netns exec %s busybox udhcpc -i %s -f -q -n -t 6 -T 1 -s %s "
                      "-x hostname:%s",
                      T.cli, iface, T.script, hostname));
    if (st != 0 || !g_file_get_contents(lease, &ip, NULL, NULL))
        return NULL;
    return g_strstrip(g_steal_pointer(&ip));
}

/* busybox nslookup NAME at the gateway, from the client namespace: the
 * answer part of its output ("Name: ... Address: ..."), "" for none */
static char *
nslookup(const char *name)
{
    int st;
    g_autofree char *out =
        run_status(&st, "ip netns exec %s busybox nslookup -type=a %s " GW, T.cli, name);
    const char *answer = strstr(out, "Name:");

    return g_strdup(answer ? answer : "");
}

/* iterates the default main context until dnsmasq runs with a pid other
 * than @old (the exit watch and restart timer live there) */
static GPid
wait_new_pid(GPid old)
{
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    GPid pid = 0;

    while (g_get_monotonic_time() < deadline) {
        pid = vb_dnsmasq_get_pid(T.dm);
        if (pid && pid != old)
            break;
        g_usleep(10000);
    }
    g_assert_cmpint(pid, !=, 0);
    g_assert_cmpint(pid, !=, old);
    return pid;
}

static char *
path_of(const char *suffix)
{
    return vb_dnsmasq_path(T.state, T.cfg->network, suffix);
}

static GPid
pid_file(void)
{
    g_autofree char *p = path_of("pid");
    g_autofree char *text = NULL;

    if (!g_file_get_contents(p, &text, NULL, NULL))
        return 0;
    return (GPid)atoi(text);
}

/* ------------------------------------------------------------ set-up */

/* the reaper: forked first; when the pipe closes (the test ended, however),
 * kills our dnsmasqs by pid and deletes the namespaces */
static void
reaper_main(int fd, const char *tmp, const char *srv, const char *cli)
{
    char c;
    int devnull = open("/dev/null", O_RDWR);

    dup2(devnull, 1);
    dup2(devnull, 2);
    while (read(fd, &c, 1) != 0 && errno == EINTR)
        ;
    for (int round = 0; round < 2; round++) {
        GArray *pids = pids_with(tmp);
        for (guint i = 0; i < pids->len; i++)
            kill(g_array_index(pids, GPid, i), SIGKILL);
        g_array_unref(pids);
        g_usleep(100000);
    }
    for (int i = 0; i < 3; i++) {
        pid_t p = fork();
        if (p == 0 && i == 2)
            execlp("rm", "rm", "-rf", tmp, NULL);
        if (p == 0)
            execlp("ip", "ip", "netns", "del", i ? cli : srv, NULL);
        if (p == 0)
            _exit(127);
        if (p > 0)
            waitpid(p, NULL, 0);
    }
    _exit(0);
}

static void
setup_namespaces(void)
{
    int fd;

    run("ip netns add %s", T.srv);
    run("ip netns add %s", T.cli);
    run("ip -n %s link set lo up", T.srv);
    run("ip -n %s link set lo up", T.cli);
    run("ip -n %s link add " BRIDGE " type bridge forward_delay 0", T.srv);
    run("ip -n %s addr add " GW "/24 dev " BRIDGE, T.srv);
    run("ip -n %s link set " BRIDGE " up", T.srv);
    for (int k = 1; k <= 2; k++) {
        run("ip -n %s link add vs%d type veth peer name vc%d netns %s", T.srv, k, k, T.cli);
        run("ip -n %s link set vs%d master " BRIDGE " up", T.srv, k);
        run("ip -n %s link set vc%d address %s up", T.cli, k, k == 1 ? MAC1 : MAC2);
    }
    /* this thread (the test's only one that spawns) enters the server side */
    g_autofree char *ns = g_strdup_printf("/run/netns/%s", T.srv);
    fd = open(ns, O_RDONLY | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(setns(fd, CLONE_NEWNET), ==, 0);
    close(fd);
}

static VbDnsmasqConfig *
make_config(void)
{
    VbDnsmasqConfig *c = vb_dnsmasq_config_new("vbt", BRIDGE);
    VbDnsmasqSubnet *s = vb_dnsmasq_config_add_subnet(c, GW, 24);
    const char *web[] = {"web", "www", NULL};

    c->domain = g_strdup("vbt.test");
    c->domain_local_only = TRUE; /* answered here, never forwarded */
    vb_dnsmasq_subnet_add_range(s, "10.77.0.100", "10.77.0.150");
    vb_dnsmasq_subnet_add_host(s, MAC1, NULL, "10.77.0.10", "static1");
    vb_dnsmasq_config_add_dns_host(c, "10.77.0.200", web);
    return c;
}

static void
write_script(void)
{
    g_autofree char *text = g_strdup_printf("#!/bin/sh\n"
                                            "case \"$1\" in bound|renew) ;; *) exit 0 ;; esac\n"
                                            "ip addr flush dev \"$interface\"\n"
                                            "ip addr add \"$ip/${mask:-24}\" dev \"$interface\"\n"
                                            "echo \"$ip\" > %s/\"$interface\".lease\n",
                                            T.tmp);

    T.script = g_build_filename(T.tmp, "udhcpc.sh", NULL);
    g_assert_true(g_file_set_contents(T.script, text, -1, NULL));
    g_assert_cmpint(g_chmod(T.script, 0755), ==, 0);
}

/* ------------------------------------------------------------ cases */

static void
test_start(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *conf_path = path_of("conf");
    g_autofree char *conf = NULL;
    g_autoptr(VbDnsmasqFiles) files = vb_dnsmasq_config_generate(T.cfg, T.state, NULL);
    g_autofree char *ns_path = g_strdup_printf("/run/netns/%s", T.srv);
    g_autofree char *proc_ns = NULL;
    struct stat a, b;

    T.dm = vb_dnsmasq_new(T.cfg, T.state, watch_ctx);
    g_assert_true(vb_dnsmasq_start(T.dm, &error));
    g_assert_no_error(error);
    T.pid = vb_dnsmasq_get_pid(T.dm);
    g_assert_cmpint(T.pid, >, 0);
    g_assert_true(alive(T.pid));
    g_assert_false(vb_dnsmasq_get_adopted(T.dm));
    g_assert_cmpint(pid_file(), ==, T.pid);
    g_assert_true(g_file_get_contents(conf_path, &conf, NULL, NULL));
    g_assert_cmpstr(conf, ==, files->conf);
    /* it runs in the server namespace */
    proc_ns = g_strdup_printf("/proc/%d/ns/net", T.pid);
    g_assert_cmpint(stat(ns_path, &a), ==, 0);
    g_assert_cmpint(stat(proc_ns, &b), ==, 0);
    g_assert_cmpuint(a.st_ino, ==, b.st_ino);
    /* a second start of a running one changes nothing */
    g_assert_true(vb_dnsmasq_start(T.dm, &error));
    g_assert_cmpint(vb_dnsmasq_get_pid(T.dm), ==, T.pid);
}

static void
test_static_host(void)
{
    g_autofree char *ip = dhcp("vc1", "static1");

    g_assert_cmpstr(ip, ==, "10.77.0.10");
}

static void
test_dynamic_lease(void)
{
    guint last;

    T.dyn_ip = dhcp("vc2", "dyn2");
    g_assert_nonnull(T.dyn_ip);
    g_assert_true(g_str_has_prefix(T.dyn_ip, "10.77.0."));
    last = (guint)atoi(T.dyn_ip + strlen("10.77.0."));
    g_assert_cmpuint(last, >=, 100);
    g_assert_cmpuint(last, <=, 150);
}

static void
test_leases(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) all = vb_dnsmasq_get_leases(T.dm, NULL, &error);
    g_autoptr(GPtrArray) one = NULL;
    g_autoptr(GVariant) v = NULL;
    VbDnsmasqLease *l;
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    const char *s;

    g_assert_no_error(error);
    g_assert_cmpuint(all->len, ==, 2);
    g_assert_cmpint(((VbDnsmasqLease *)g_ptr_array_index(all, 0))->expirytime, >, 0);
    one = vb_dnsmasq_get_leases(T.dm, "52:54:00:AA:BB:01", &error);
    g_assert_cmpuint(one->len, ==, 1);
    l = g_ptr_array_index(one, 0);
    g_assert_cmpstr(l->iface, ==, BRIDGE);
    g_assert_cmpuint(l->type, ==, 0);
    g_assert_cmpstr(l->mac, ==, MAC1);
    g_assert_cmpstr(l->ipaddr, ==, "10.77.0.10");
    g_assert_cmpuint(l->prefix, ==, 24);
    g_assert_cmpstr(l->hostname, ==, "static1");
    g_assert_nonnull(l->clientid);                 /* udhcpc sends 01:MAC */
    g_assert_cmpint(l->expirytime, >, now + 1800); /* dnsmasq's default: 1 h */
    g_assert_cmpint(l->expirytime, <=, now + 3600 + 5);
    g_ptr_array_unref(one);
    one = vb_dnsmasq_get_leases(T.dm, MAC2, &error);
    g_assert_cmpuint(one->len, ==, 1);
    l = g_ptr_array_index(one, 0);
    g_assert_cmpstr(l->ipaddr, ==, T.dyn_ip);
    g_assert_cmpstr(l->hostname, ==, "dyn2");
    v = g_variant_ref_sink(vb_dnsmasq_lease_to_variant(l));
    g_assert_true(g_variant_lookup(v, "ipaddr", "&s", &s));
    g_assert_cmpstr(s, ==, T.dyn_ip);
}

static void
test_dns(void)
{
    g_autofree char *a = nslookup("web.vbt.test");
    g_autofree char *b = nslookup("www.vbt.test");
    g_autofree char *c = nslookup("static1.vbt.test"); /* a DHCP client's name */
    g_autofree char *d = nslookup("nothere.vbt.test");

    g_assert_nonnull(strstr(a, "10.77.0.200"));
    g_assert_nonnull(strstr(b, "10.77.0.200"));
    g_assert_nonnull(strstr(c, "10.77.0.10"));
    g_assert_null(strstr(d, "10.77.0."));
}

static char *
read_text(const char *path)
{
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return g_strdup("");
    return text;
}

/* the tiny guest (tests/guest) on a tap in the bridge: its udhcpc gets a
 * lease from this dnsmasq, pings the gateway and a client, and the lease
 * shows up with the guest's MAC and host name */
static void
test_tiny_guest(void)
{
    const char *gdir = g_getenv("VB_TINY_GUEST");
    g_autofree char *kernel = g_build_filename(gdir ? gdir : ".", "vmlinux", NULL);
    g_autofree char *initrd = g_build_filename(gdir ? gdir : ".", "initrd.img", NULL);
    g_autofree char *cmdline_path = g_build_filename(gdir ? gdir : ".", "cmdline", NULL);
    g_autofree char *cmdline = NULL;
    g_autofree char *append = NULL;
    g_autofree char *serial = g_build_filename(T.tmp, "guest-serial.log", NULL);
    g_autofree char *serial_arg = g_strdup_printf("file:%s", serial);
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) leases = NULL;
    g_autofree char *marker = NULL;
    gint64 deadline = g_get_monotonic_time() + 90 * G_USEC_PER_SEC;
    VbDnsmasqLease *l;
    GPid qemu;
    int status;

    g_assert_true(g_file_get_contents(cmdline_path, &cmdline, NULL, NULL));
    append = g_strdup_printf("%s tgping=10.77.0.10", g_strstrip(cmdline));
    run("ip -n %s tuntap add vbttap0 mode tap", T.srv);
    run("ip -n %s link set vbttap0 master " BRIDGE " up", T.srv);
    const char *argv[] = {"qemu-system-x86_64",
                          "-machine",
                          "q35,accel=tcg",
                          "-m",
                          "128",
                          "-smp",
                          "1",
                          "-nodefaults",
                          "-no-user-config",
                          "-display",
                          "none",
                          "-kernel",
                          kernel,
                          "-initrd",
                          initrd,
                          "-append",
                          append,
                          "-serial",
                          serial_arg,
                          "-netdev",
                          "tap,id=hostnet0,ifname=vbttap0,script=no,downscript=no",
                          "-device",
                          "virtio-net-pci,netdev=hostnet0,id=net0,mac=" MAC3,
                          NULL};
    /* spawned from this thread: QEMU runs in the server namespace */
    g_assert_true(
        g_spawn_async(NULL, (char **)argv, NULL,
                      G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                      NULL, NULL, &qemu, &error));
    g_assert_no_error(error);
    for (;;) {
        g_autofree char *log = read_text(serial);
        const char *m = strstr(log, "TINYGUEST: lease ");
        if (m && strstr(m, "TINYGUEST: ping 10.77.0.10 ")) {
            marker = g_strndup(m, strcspn(m, "\r\n"));
            g_assert_nonnull(strstr(log, "TINYGUEST: ping " GW " ok"));
            g_assert_nonnull(strstr(log, "TINYGUEST: ping 10.77.0.10 ok"));
            break;
        }
        if (g_get_monotonic_time() > deadline || waitpid(qemu, &status, WNOHANG) == qemu)
            g_error("no lease and pings from the guest; serial:\n%s", log);
        g_usleep(50000);
    }
    leases = vb_dnsmasq_get_leases(T.dm, MAC3, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(leases->len, ==, 1);
    l = g_ptr_array_index(leases, 0);
    g_assert_cmpstr(l->hostname, ==, "tinyguest");
    {
        g_autofree char *want = g_strdup_printf("TINYGUEST: lease %s/24 gw " GW, l->ipaddr);
        g_assert_cmpstr(marker, ==, want);
    }
    kill(qemu, SIGKILL);
    waitpid(qemu, NULL, 0);
    run("ip -n %s link del vbttap0", T.srv);
}

static void
test_reload(void)
{
    g_autoptr(VbDnsmasqConfig) cfg = make_config();
    g_autoptr(GError) error = NULL;
    const char *names[] = {"new", NULL};
    g_autofree char *a = NULL;
    g_autofree char *b = NULL;

    /* replace the DNS entry: only the hosts files change -> SIGHUP */
    g_ptr_array_set_size(cfg->dns_hosts, 0);
    vb_dnsmasq_config_add_dns_host(cfg, "10.77.0.201", names);
    g_assert_true(vb_dnsmasq_update(T.dm, cfg, &error));
    g_assert_no_error(error);
    g_assert_cmpint(vb_dnsmasq_get_pid(T.dm), ==, T.pid);
    /* dnsmasq handles the SIGHUP in its main loop: retry briefly */
    for (int i = 0; i < 50; i++) {
        g_free(a);
        a = nslookup("new.vbt.test");
        if (strstr(a, "10.77.0.201"))
            break;
        g_usleep(100000);
    }
    g_assert_nonnull(strstr(a, "10.77.0.201"));
    b = nslookup("web.vbt.test");
    g_assert_null(strstr(b, "10.77.0.200"));

    /* a bad update changes nothing */
    g_ptr_array_set_size(cfg->dns_hosts, 0);
    vb_dnsmasq_config_add_dns_host(cfg, "10.77.0.300", names);
    g_assert_false(vb_dnsmasq_update(T.dm, cfg, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_cmpint(vb_dnsmasq_get_pid(T.dm), ==, T.pid);
}

static void
test_kill9(void)
{
    g_autofree char *ip = NULL;
    g_autofree char *pat = g_strdup_printf("dnsmasq (pid %d) of network 'vbt' was killed by "
                                           "signal 9*restarting it",
                                           T.pid);

    g_assert_cmpint(kill(T.pid, SIGKILL), ==, 0);
    T.pid = wait_new_pid(T.pid);
    assert_warned(pat);
    g_assert_cmpuint(vb_dnsmasq_get_restarts(T.dm), ==, 1);
    g_assert_true(alive(T.pid));
    /* serves again, from the lease database it wrote before */
    ip = dhcp("vc2", "dyn2");
    g_assert_cmpstr(ip, ==, T.dyn_ip);
}

static void
test_backoff(void)
{
    guint delays[4];
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    guint first = vb_dnsmasq_get_restarts(T.dm);
    guint seen = 0;

    /* every restart fails at once: the delay doubles (bounded at 10 s) */
    g_mutex_lock(&log_lock);
    g_ptr_array_set_size(messages, 0);
    g_mutex_unlock(&log_lock);
    vb_dnsmasq_set_binary(T.dm, "/bin/false");
    g_assert_cmpint(kill(T.pid, SIGKILL), ==, 0);
    while (vb_dnsmasq_get_restarts(T.dm) < first + 4 && g_get_monotonic_time() < deadline) {
        g_usleep(5000);
    }
    g_assert_cmpuint(vb_dnsmasq_get_restarts(T.dm), ==, first + 4);
    assert_warned("dnsmasq (pid *) of network 'vbt' exited with status 1; restarting it");
    g_mutex_lock(&log_lock);
    for (guint i = 0; i < messages->len; i++) {
        const char *m = strstr(g_ptr_array_index(messages, i), " restarts in ");
        guint d;
        if (!m)
            continue;
        d = (guint)atoi(m + strlen(" restarts in "));
        /* from 200 ms (this dnsmasq died soon after its last restart, so
         * the delay goes on from there), doubling, at most 10 s */
        if (seen)
            g_assert_cmpuint(d, ==, MIN(2 * delays[seen - 1], 10000));
        else
            g_assert_cmpuint(d, >=, 200);
        if (seen < G_N_ELEMENTS(delays))
            delays[seen++] = d;
    }
    g_mutex_unlock(&log_lock);
    g_assert_cmpuint(seen, ==, G_N_ELEMENTS(delays));
    /* dnsmasq can run again: the next restart brings it back */
    vb_dnsmasq_set_binary(T.dm, "/usr/sbin/dnsmasq");
    deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    for (;;) {
        GPid pid = vb_dnsmasq_get_pid(T.dm);
        if (pid && pid_file() == pid && alive(pid)) {
            T.pid = pid;
            break;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(10000);
    }
    g_assert_cmpuint(vb_dnsmasq_get_restarts(T.dm), ==, first + 5);
}

static void
test_adopt(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *pat = NULL;
    g_autoptr(GPtrArray) leases = NULL;
    g_autoptr(GArray) running = NULL;
    GPid old = T.pid;

    /* the service goes away: the handle is dropped, dnsmasq keeps running */
    vb_dnsmasq_free(T.dm);
    g_assert_true(alive(old));
    T.dm = vb_dnsmasq_new(T.cfg, T.state, watch_ctx);
    g_assert_true(vb_dnsmasq_start(T.dm, &error));
    g_assert_no_error(error);
    g_assert_true(vb_dnsmasq_get_adopted(T.dm));
    g_assert_cmpint(vb_dnsmasq_get_pid(T.dm), ==, old);
    running = pids_with(T.state);
    g_assert_cmpuint(running->len, ==, 1);
    leases = vb_dnsmasq_get_leases(T.dm, NULL, &error);
    g_assert_cmpuint(leases->len, ==, 3);

    /* the adopted one is watched through its pidfd */
    pat = g_strdup_printf("dnsmasq (pid %d) of network 'vbt' * restarting it", old);
    g_assert_cmpint(kill(old, SIGKILL), ==, 0);
    T.pid = wait_new_pid(old);
    assert_warned(pat);
    g_assert_false(vb_dnsmasq_get_adopted(T.dm));
    g_assert_true(alive(T.pid));
}

static void
test_foreign_pid(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *pidf = path_of("pid");
    g_autofree char *text = NULL;
    const char *argv[] = {"sleep", "60", NULL};
    GPid sleeper;

    g_assert_true(vb_dnsmasq_stop(T.dm, &error));
    vb_dnsmasq_free(T.dm);
    /* a pid file naming an unrelated process: not adopted, not touched */
    g_assert_true(g_spawn_async(NULL, (char **)argv, NULL,
                                G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                &sleeper, &error));
    text = g_strdup_printf("%d\n", sleeper);
    g_assert_true(g_file_set_contents(pidf, text, -1, NULL));
    T.dm = vb_dnsmasq_new(T.cfg, T.state, watch_ctx);
    g_assert_true(vb_dnsmasq_start(T.dm, &error));
    g_assert_no_error(error);
    T.pid = vb_dnsmasq_get_pid(T.dm);
    g_assert_false(vb_dnsmasq_get_adopted(T.dm));
    g_assert_cmpint(T.pid, !=, sleeper);
    g_assert_cmpint(pid_file(), ==, T.pid);
    g_assert_true(alive(sleeper));
    kill(sleeper, SIGKILL);
    waitpid(sleeper, NULL, 0);
}

static void
test_start_failure(void)
{
    g_autoptr(VbDnsmasqConfig) cfg = make_config();
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDnsmasq) dm = NULL;
    g_autoptr(GArray) left = NULL;
    g_autofree char *conf = NULL;
    g_autofree char *pidf = NULL;

    /* a second network on the same bridge: DNS port taken, dnsmasq exits */
    g_free(cfg->network);
    cfg->network = g_strdup("vbt2");
    dm = vb_dnsmasq_new(cfg, T.state, watch_ctx);
    g_assert_false(vb_dnsmasq_start(dm, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_FAILED);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, "dnsmasq of network 'vbt2' exited at start"));
    g_assert_nonnull(strstr(error->message, "in use"));
    g_assert_cmpint(vb_dnsmasq_get_pid(dm), ==, 0);
    conf = vb_dnsmasq_path(T.state, "vbt2", "conf");
    g_usleep(600000); /* longer than the first restart delay: none may come */
    g_assert_cmpuint(vb_dnsmasq_get_restarts(dm), ==, 0);
    left = pids_with(conf);
    g_assert_cmpuint(left->len, ==, 0);
    pidf = vb_dnsmasq_path(T.state, "vbt2", "pid");
    g_assert_false(g_file_test(pidf, G_FILE_TEST_EXISTS));
    /* the first one is untouched */
    g_assert_true(alive(T.pid));
}

static void
test_stop(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *conf = path_of("conf");
    g_autoptr(GArray) left = NULL;
    g_autofree char *pidf = path_of("pid");

    g_assert_true(vb_dnsmasq_stop(T.dm, &error));
    g_assert_no_error(error);
    g_assert_cmpint(vb_dnsmasq_get_pid(T.dm), ==, 0);
    g_assert_false(alive(T.pid));
    g_assert_cmpint(kill(T.pid, 0), ==, -1); /* reaped: no zombie either */
    g_assert_cmpint(errno, ==, ESRCH);
    left = pids_with(conf);
    g_assert_cmpuint(left->len, ==, 0);
    g_assert_false(g_file_test(pidf, G_FILE_TEST_EXISTS));
    /* nothing restarts it */
    for (int i = 0; i < 50; i++) {
        g_usleep(10000);
    }
    g_assert_cmpint(vb_dnsmasq_get_pid(T.dm), ==, 0);
    vb_dnsmasq_free(T.dm);
    T.dm = NULL;
}

/* ------------------------------------------------------------ main */

int
main(int argc, char **argv)
{
    int fds[2];
    int status;
    GThread *thread;

    g_test_init(&argc, &argv, NULL);
    warnings = g_ptr_array_new_with_free_func(g_free);
    messages = g_ptr_array_new_with_free_func(g_free);
    g_log_set_writer_func(capture_writer, NULL, NULL);
    if (geteuid() != 0 || !g_file_test("/usr/sbin/dnsmasq", G_FILE_TEST_IS_EXECUTABLE)) {
        g_printerr("needs root and /usr/sbin/dnsmasq (scripts/install-deps.sh)\n");
        return 1;
    }
    T.tmp = g_dir_make_tmp("vbt-dnsmasq-XXXXXX", NULL);
    g_assert_nonnull(T.tmp);
    g_assert_cmpint(g_chmod(T.tmp, 0755), ==, 0);
    T.state = g_build_filename(T.tmp, "state", NULL);
    T.srv = g_strdup_printf("vbt-dm%d-s", getpid());
    T.cli = g_strdup_printf("vbt-dm%d-c", getpid());
    write_script();
    T.cfg = make_config();

    g_assert_cmpint(pipe2(fds, O_CLOEXEC), ==, 0);
    T.reaper = fork();
    g_assert_cmpint(T.reaper, >=, 0);
    if (T.reaper == 0) {
        close(fds[1]);
        reaper_main(fds[0], T.tmp, T.srv, T.cli);
    }
    close(fds[0]);
    T.reaper_fd = fds[1];
    setup_namespaces();
    /* made after setns(): the thread is in the server namespace too, so
     * the dnsmasq it restarts is */
    watch_ctx = g_main_context_new();
    watch_loop = g_main_loop_new(watch_ctx, FALSE);
    thread = g_thread_new("watch", (GThreadFunc)g_main_loop_run, watch_loop);

    g_test_add_func("/network/dnsmasq-live/start", test_start);
    g_test_add_func("/network/dnsmasq-live/static-host-fixed-address", test_static_host);
    g_test_add_func("/network/dnsmasq-live/dynamic-lease", test_dynamic_lease);
    g_test_add_func("/network/dnsmasq-live/leases-as-libvirt-dicts", test_leases);
    g_test_add_func("/network/dnsmasq-live/dns-answers-host-entries", test_dns);
    g_test_add_func("/network/dnsmasq-live/tiny-guest-gets-lease", test_tiny_guest);
    g_test_add_func("/network/dnsmasq-live/update-reloads-hosts-with-sighup", test_reload);
    g_test_add_func("/network/dnsmasq-live/kill-9-noticed-and-restarted", test_kill9);
    g_test_add_func("/network/dnsmasq-live/restart-backoff-doubles", test_backoff);
    g_test_add_func("/network/dnsmasq-live/adopted-after-service-restart", test_adopt);
    g_test_add_func("/network/dnsmasq-live/foreign-pid-file-not-adopted", test_foreign_pid);
    g_test_add_func("/network/dnsmasq-live/start-failure-leaves-nothing", test_start_failure);
    g_test_add_func("/network/dnsmasq-live/stop-leaves-no-process", test_stop);
    status = g_test_run();

    g_main_loop_quit(watch_loop);
    g_thread_join(thread);
    /* the reaper deletes the namespaces (and would kill what is left) */
    close(T.reaper_fd);
    waitpid(T.reaper, NULL, 0);
    vb_dnsmasq_free(T.dm);
    vb_dnsmasq_config_free(T.cfg);
    run("rm -rf %s", T.tmp);
    return status;
}
