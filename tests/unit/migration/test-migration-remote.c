/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The D-Bus-over-ssh connection (service/migration/migration-remote.c):
 * URI parsing (what is accepted, what is refused and how the error names
 * it, what an untrusted caller may not use), the ssh argument vector, and
 * the failure paths of a real ssh child (refused, no answer, no ssh): the
 * error carries what ssh said, and no child is left, running or zombie.
 * Connections that succeed are tested with real sshd in
 * tests/integration/test_hosts.py.
 */
#include "config.h"

#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migration-remote.h"
#include "vb-error.h"

typedef struct {
    const char *uri;
    const char *user, *host;
    guint port;
    const char *bus, *keyfile, *known_hosts;
    gboolean no_verify;
    const char *display;
} GoodCase;

static const GoodCase good[] = {
    {"ssh://host2", NULL, "host2", 0, NULL, NULL, NULL, FALSE, "ssh://host2"},
    {"ssh://host2/", NULL, "host2", 0, NULL, NULL, NULL, FALSE, "ssh://host2"},
    {"ssh://root@10.1.2.3", "root", "10.1.2.3", 0, NULL, NULL, NULL, FALSE, "ssh://root@10.1.2.3"},
    {"ssh://root@10.1.2.3:2222/", "root", "10.1.2.3", 2222, NULL, NULL, NULL, FALSE,
     "ssh://root@10.1.2.3:2222"},
    {"ssh://[fe80::1]:22", NULL, "fe80::1", 22, NULL, NULL, NULL, FALSE, "ssh://[fe80::1]:22"},
    {"ssh://u_1.x-y@h-1.example.org", "u_1.x-y", "h-1.example.org", 0, NULL, NULL, NULL, FALSE,
     "ssh://u_1.x-y@h-1.example.org"},
    {"ssh://h?bus=unix:path=/run/vb/bus,guid=0123456789abcdef0123456789abcdef", NULL, "h", 0,
     "unix:path=/run/vb/bus,guid=0123456789abcdef0123456789abcdef", NULL, NULL, FALSE, "ssh://h"},
    {"ssh://h/?bus=unix:abstract=vb-test", NULL, "h", 0, "unix:abstract=vb-test", NULL, NULL, FALSE,
     "ssh://h"},
    /* %-escapes are decoded (URI), D-Bus's own escapes survive as %25XX */
    {"ssh://h?bus=unix%3Apath%3D/tmp/a%252cb", NULL, "h", 0, "unix:path=/tmp/a%2cb", NULL, NULL,
     FALSE, "ssh://h"},
    {"ssh://root@h?bus=unix:path=/b&keyfile=/k/id&known_hosts=/k/kh&no_verify=1", "root", "h", 0,
     "unix:path=/b", "/k/id", "/k/kh", TRUE, "ssh://root@h"},
    {"ssh://h?no_verify=0", NULL, "h", 0, NULL, NULL, NULL, FALSE, "ssh://h"},
    {"unix:path=/run/dbus/system_bus_socket", NULL, NULL, 0,
     "unix:path=/run/dbus/system_bus_socket", NULL, NULL, FALSE,
     "unix:path=/run/dbus/system_bus_socket"},
    {"unix:abstract=foo", NULL, NULL, 0, "unix:abstract=foo", NULL, NULL, FALSE,
     "unix:abstract=foo"},
};

static void
test_parse_good(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
        const GoodCase *t = &good[i];
        g_autoptr(GError) error = NULL;
        g_autoptr(VbRemoteUri) u = vb_remote_uri_parse(t->uri, TRUE, &error);
        g_autofree char *display = NULL;

        g_test_message("%s", t->uri);
        g_assert_no_error(error);
        g_assert_nonnull(u);
        g_assert_cmpint(u->kind, ==, t->host != NULL ? VB_REMOTE_URI_SSH : VB_REMOTE_URI_ADDRESS);
        g_assert_cmpstr(u->user, ==, t->user);
        g_assert_cmpstr(u->host, ==, t->host);
        g_assert_cmpuint(u->port, ==, t->port);
        g_assert_cmpstr(u->bus, ==, t->bus);
        g_assert_cmpstr(u->keyfile, ==, t->keyfile);
        g_assert_cmpstr(u->known_hosts, ==, t->known_hosts);
        g_assert_cmpint(u->no_verify, ==, t->no_verify);
        display = vb_remote_uri_display(u);
        g_assert_cmpstr(display, ==, t->display);
    }
}

typedef struct {
    const char *uri;
    const char *message; /* a fragment of the error */
} BadCase;

static const BadCase bad[] = {
    {"", "unsupported URI ''"},
    {"qemu+ssh://h/system", "unsupported URI"},
    {"tcp:host=h,port=1", "unsupported URI"},
    {"ssh://", "invalid host"},
    {"ssh://root@", "invalid host"},
    {"ssh://-oProxyCommand=x", "invalid host"},
    {"ssh://h;reboot", "invalid host"},
    {"ssh://h%41", "invalid host"},
    {"ssh://h h", "invalid host"},
    {"ssh://.h", "invalid host"},
    {"ssh://[::1", "invalid host"},
    {"ssh://[::1]x", "invalid host"},
    {"ssh://[h]", "invalid host"},
    {"ssh://[fe80::1%eth0]", "invalid host"},
    {"ssh://-l@h", "invalid user name '-l'"},
    {"ssh://@h", "invalid user name ''"},
    {"ssh://a@b@h", "invalid user name 'a'"},
    {"ssh://root:secret@h", "invalid user name 'root:secret'"},
    {"ssh://r$(id)@h", "invalid user name"},
    {"ssh://h:", "invalid port ''"},
    {"ssh://h:0", "invalid port '0'"},
    {"ssh://h:65536", "invalid port '65536'"},
    {"ssh://h:22x", "invalid port '22x'"},
    {"ssh://h:-22", "invalid port '-22'"},
    {"ssh://h:+22", "invalid port '+22'"},
    {"ssh://h/system", "a path is not allowed"},
    {"ssh://h//", "a path is not allowed"},
    {"ssh://h#x", "a fragment"},
    {"ssh://h?bus=unix:path=/b#x", "a fragment"},
    {"ssh://h?", "empty URI parameters"},
    {"ssh://h?bus", "not of the form NAME=VALUE"},
    {"ssh://h?bus=", "not of the form NAME=VALUE"},
    {"ssh://h?=x", "not of the form NAME=VALUE"},
    {"ssh://h?bus=unix:path=/b&&no_verify=1", "not of the form NAME=VALUE"},
    {"ssh://h?socket=/x", "unknown URI parameter 'socket'"},
    {"ssh://h?Bus=unix:path=/b", "unknown URI parameter 'Bus'"},
    {"ssh://h?bus=unix:path=/a&bus=unix:path=/b", "'bus' is given twice"},
    {"ssh://h?bus=unix:path=/a%zz", "malformed %-escape"},
    {"ssh://h?bus=unix:path=/a%00", "malformed %-escape"},
    {"ssh://h?bus=tcp:host=x,port=1", "bus address 'tcp:host=x,port=1' is not supported"},
    {"ssh://h?bus=unix:path=relative", "is not supported"},
    {"ssh://h?bus=unix:path=/a;unix:path=/b", "is not supported"},
    {"ssh://h?bus=unix:path=/a,abstract=b", "is not supported"},
    {"ssh://h?bus=unix:path=/a,path=/b", "is not supported"},
    {"ssh://h?bus=unix:guid=0123456789abcdef0123456789abcdef", "is not supported"},
    {"ssh://h?bus=unix:path=/a,guid=12", "is not supported"},
    {"ssh://h?bus=unix:path=/a$(reboot)", "is not supported"},
    {"ssh://h?bus=unix:path=/a%20b", "is not supported"},
    {"ssh://h?bus=unix:path=/a*", "is not supported"},
    {"ssh://h?bus=unix:path=/a%2", "malformed %-escape"},
    {"ssh://h?bus=unix:path=/a%25zz", "is not supported"},
    {"ssh://h?bus=unix:path=/a,runtime=yes", "is not supported"},
    {"ssh://h?no_verify=yes", "'no_verify' must be 1 or 0"},
    {"ssh://h?keyfile=/a%20b", "'keyfile' must be a file name without white space"},
    {"ssh://h?known_hosts=/a%22b", "'known_hosts' must be a file name"},
    {"ssh://h?keyfile=/a%5Cb", "'keyfile' must be a file name"},
    {"ssh://h?keyfile=/a%0Ab", "'keyfile' must be a file name"},
    {"unix:path=relative", "is not supported"},
    {"unix:path=/a,abstract=b", "is not supported"},
    {"unix:", "is not supported"},
};

static void
test_parse_bad(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VbRemoteUri) u = vb_remote_uri_parse(bad[i].uri, TRUE, &error);

        g_test_message("'%s'", bad[i].uri);
        g_assert_null(u);
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        if (strstr(error->message, bad[i].message) == NULL)
            g_error("'%s': message '%s' lacks '%s'", bad[i].uri, error->message, bad[i].message);
    }
}

static void
test_check_and_host(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *h1 = vb_remote_uri_host("ssh://root@10.1.2.3:2222?bus=unix:path=/b");
    g_autofree char *h2 = vb_remote_uri_host("ssh://[fe80::1]/");
    g_autofree char *h3 = vb_remote_uri_host("unix:path=/run/dbus/system_bus_socket");
    g_autofree char *h4 = vb_remote_uri_host("ssh://-x");
    /* an untrusted URI still has a host: the check refuses it elsewhere */
    g_autofree char *h5 = vb_remote_uri_host("ssh://h?keyfile=/k");

    g_assert_cmpstr(h1, ==, "10.1.2.3");
    g_assert_cmpstr(h2, ==, "fe80::1");
    g_assert_null(h3);
    g_assert_null(h4);
    g_assert_cmpstr(h5, ==, "h");
    g_assert_true(vb_remote_check_uri("ssh://h?bus=unix:path=/b", FALSE, &error));
    g_assert_no_error(error);
    g_assert_true(vb_remote_check_uri("unix:path=/b", FALSE, &error));
    g_assert_false(vb_remote_check_uri("ssh://h?no_verify=1", FALSE, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_clear_error(&error);
    g_assert_true(vb_remote_check_uri("ssh://h?no_verify=1", TRUE, &error));
    g_assert_false(vb_remote_check_uri("tcp:host=h,port=1", TRUE, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
}

/* A caller of the service may name the host, user, port and bus, nothing that
 * makes root's ssh read a file or skip the host key check. */
static void
test_parse_untrusted(void)
{
    static const struct {
        const char *uri, *param;
    } refused[] = {
        {"ssh://h?keyfile=/root/.ssh/id_ed25519", "keyfile"},
        {"ssh://h?known_hosts=/dev/null", "known_hosts"},
        {"ssh://h?no_verify=1", "no_verify"},
        {"ssh://h?no_verify=0", "no_verify"},
        {"ssh://h?bus=unix:path=/b&keyfile=/k", "keyfile"},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VbRemoteUri) u = vb_remote_uri_parse(refused[i].uri, FALSE, &error);
        g_autofree char *needle =
            g_strdup_printf("'%s' is not accepted by the service", refused[i].param);

        g_assert_null(u);
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        g_assert_nonnull(strstr(error->message, needle));
        g_assert_nonnull(strstr(error->message, "ssh_config"));
    }
    {
        g_autoptr(GError) error = NULL;
        g_autoptr(VbRemoteUri) u =
            vb_remote_uri_parse("ssh://root@h:2222/?bus=unix:path=/b", FALSE, &error);

        g_assert_no_error(error);
        g_assert_cmpstr(u->bus, ==, "unix:path=/b");
    }
}

#define BRIDGE "env SYSTEMD_LOG_TARGET=console systemd-stdio-bridge"

static void
check_argv(const char *uri, const VbRemoteOptions *opts, const char *expected)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbRemoteUri) u = vb_remote_uri_parse(uri, TRUE, &error);
    g_auto(GStrv) argv = NULL;
    g_autofree char *joined = NULL;

    g_assert_no_error(error);
    argv = vb_remote_ssh_argv(u, opts);
    joined = g_strjoinv(" ", argv);
    g_assert_cmpstr(joined, ==, expected);
}

static void
test_argv(void)
{
    const VbRemoteOptions cfg = {
        .trusted = TRUE, .ssh_config = "/etc/virtbus/ssh_config", .timeout = 5};

    check_argv("ssh://h", NULL, "ssh -xT -o BatchMode=yes -o ConnectTimeout=20 -- h " BRIDGE);
    check_argv("ssh://root@10.1.2.3:2222?bus=unix:path=/run/b", &cfg,
               "ssh -xT -o BatchMode=yes -o ConnectTimeout=5 -F /etc/virtbus/ssh_config "
               "-p 2222 -l root -- 10.1.2.3 " BRIDGE " -punix:path=/run/b");
    check_argv("ssh://[::1]?keyfile=/k/id%25h&known_hosts=/k/kh", NULL,
               "ssh -xT -o BatchMode=yes -o ConnectTimeout=20 -i /k/id%%h "
               "-o UserKnownHostsFile=/k/kh -- ::1 " BRIDGE);
    /* no_verify never writes a known_hosts file */
    check_argv("ssh://h?no_verify=1", NULL,
               "ssh -xT -o BatchMode=yes -o ConnectTimeout=20 -o UserKnownHostsFile=/dev/null "
               "-o StrictHostKeyChecking=no -- h " BRIDGE);
    check_argv("ssh://h?no_verify=1&known_hosts=/kh", NULL,
               "ssh -xT -o BatchMode=yes -o ConnectTimeout=20 -o UserKnownHostsFile=/kh "
               "-o StrictHostKeyChecking=no -- h " BRIDGE);
    /* keepalive before -F: ssh takes the first value it sees */
    {
        const VbRemoteOptions ka = {
            .ssh_config = "/c", .keepalive_interval = 5, .keepalive_count = 3};
        const VbRemoteOptions ka0 = {.keepalive_interval = 2, .keepalive_count = 0};

        check_argv("ssh://h", &ka,
                   "ssh -xT -o BatchMode=yes -o ConnectTimeout=20 -o ServerAliveInterval=5 "
                   "-o ServerAliveCountMax=3 -F /c -- h " BRIDGE);
        check_argv("ssh://h", &ka0,
                   "ssh -xT -o BatchMode=yes -o ConnectTimeout=20 -o ServerAliveInterval=2 "
                   "-o ServerAliveCountMax=1 -- h " BRIDGE);
    }
}

/* Children of this process, zombies included. */
static guint
count_children(void)
{
    g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
    const char *name;
    guint n = 0;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *path = g_build_filename("/proc", name, "stat", NULL);
        g_autofree char *stat = NULL;
        const char *close_paren;
        int ppid = 0;

        if (!g_ascii_isdigit(name[0]) || !g_file_get_contents(path, &stat, NULL, NULL))
            continue;
        close_paren = strrchr(stat, ')');
        if (close_paren != NULL && sscanf(close_paren + 2, "%*c %d", &ppid) == 1 &&
            ppid == getpid())
            n++;
    }
    return n;
}

static void
test_connect_refused(void)
{
    const VbRemoteOptions opts = {.trusted = TRUE, .ssh_config = "/dev/null", .timeout = 10};
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) conn = NULL;
    gint64 start = g_get_monotonic_time();

    /* nothing listens on port 1 */
    conn = vb_remote_connect("ssh://nobody@127.0.0.1:1?no_verify=1", &opts, NULL, &error);
    g_assert_null(conn);
    g_assert_error(error, VB_ERROR, VB_ERROR_FAILED);
    g_assert_cmpstr(error->message, ==,
                    "cannot connect to ssh://nobody@127.0.0.1:1: ssh: connect to host 127.0.0.1 "
                    "port 1: Connection refused");
    g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);
    g_assert_cmpuint(count_children(), ==, 0);
}

/* A TCP listener on 127.0.0.1 that never accepts (the kernel completes the
 * handshake) or, with @banner, accepts in a thread and sends an SSH banner,
 * then nothing. */
typedef struct {
    GSocket *listener;
    GSocket *peer;
    GThread *thread;
    guint port;
} FakePeer;

static gpointer
fake_peer_accept(gpointer data)
{
    FakePeer *f = data;
    static const char banner[] = "SSH-2.0-vbtest\r\n";

    f->peer = g_socket_accept(f->listener, NULL, NULL);
    if (f->peer != NULL)
        g_socket_send(f->peer, banner, strlen(banner), NULL, NULL);
    return NULL;
}

static void
fake_peer_start(FakePeer *f, gboolean banner)
{
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    g_autoptr(GSocketAddress) bound = NULL;
    g_autoptr(GError) error = NULL;

    f->listener =
        g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
    g_assert_no_error(error);
    g_assert_true(g_socket_bind(f->listener, any, TRUE, &error));
    g_assert_true(g_socket_listen(f->listener, &error));
    bound = g_socket_get_local_address(f->listener, &error);
    g_assert_no_error(error);
    f->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
    if (banner)
        f->thread = g_thread_new("fake-peer", fake_peer_accept, f);
}

static void
fake_peer_stop(FakePeer *f)
{
    g_socket_close(f->listener, NULL);
    if (f->thread != NULL)
        g_thread_join(f->thread);
    g_clear_object(&f->peer);
    g_clear_object(&f->listener);
}

/* ssh's own ConnectTimeout covers the connect and the banner exchange */
static void
test_connect_banner_timeout(void)
{
    const VbRemoteOptions opts = {.trusted = TRUE, .ssh_config = "/dev/null", .timeout = 1};
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) conn = NULL;
    g_autofree char *uri = NULL;
    FakePeer f = {0};
    gint64 start;

    fake_peer_start(&f, FALSE);
    uri = g_strdup_printf("ssh://127.0.0.1:%u?no_verify=1", f.port);
    start = g_get_monotonic_time();
    conn = vb_remote_connect(uri, &opts, NULL, &error);
    fake_peer_stop(&f);
    g_assert_null(conn);
    g_assert_error(error, VB_ERROR, VB_ERROR_FAILED);
    g_assert_nonnull(strstr(error->message, "timed out during banner exchange"));
    g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);
    g_assert_cmpuint(count_children(), ==, 0);
}

/* A peer that stalls after its banner: ssh would wait for ever; the
 * handshake's own bound ends it, and ssh is ended and reaped. */
static void
test_connect_stall_timeout(void)
{
    const VbRemoteOptions opts = {.trusted = TRUE, .ssh_config = "/dev/null", .timeout = 1};
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) conn = NULL;
    g_autofree char *uri = NULL;
    FakePeer f = {0};
    gint64 start;

    fake_peer_start(&f, TRUE);
    uri = g_strdup_printf("ssh://127.0.0.1:%u?no_verify=1", f.port);
    start = g_get_monotonic_time();
    conn = vb_remote_connect(uri, &opts, NULL, &error);
    g_assert_null(conn);
    g_assert_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT);
    g_assert_nonnull(strstr(error->message, "no answer within 1 s"));
    g_assert_cmpint(g_get_monotonic_time() - start, <, 6 * G_USEC_PER_SEC);
    g_assert_cmpuint(count_children(), ==, 0);
    fake_peer_stop(&f);
}

static void
test_connect_cancelled(void)
{
    const VbRemoteOptions opts = {.trusted = TRUE, .ssh_config = "/dev/null", .timeout = 10};
    g_autoptr(GCancellable) cancel = g_cancellable_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) conn = NULL;

    g_cancellable_cancel(cancel);
    conn = vb_remote_connect("ssh://127.0.0.1:1?no_verify=1", &opts, cancel, &error);
    g_assert_null(conn);
    g_assert_error(error, VB_ERROR, VB_ERROR_ABORTED);
    g_assert_cmpuint(count_children(), ==, 0);
}

static void
test_connect_no_ssh(void)
{
    g_autofree char *path = g_strdup(g_getenv("PATH"));
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) conn = NULL;

    g_setenv("PATH", "/nonexistent", TRUE);
    conn = vb_remote_connect("ssh://h", NULL, NULL, &error);
    g_setenv("PATH", path, TRUE);
    g_assert_null(conn);
    g_assert_error(error, VB_ERROR, VB_ERROR_FAILED);
    g_assert_true(g_str_has_prefix(error->message, "cannot run ssh: "));
    g_assert_cmpuint(count_children(), ==, 0);
}

/* A bad URI or an untrusted parameter never starts anything. */
static void
test_connect_refuses_before_spawning(void)
{
    const VbRemoteOptions untrusted = {.trusted = FALSE};
    const VbRemoteOptions bad_config = {.trusted = TRUE, .ssh_config = "/a b"};
    g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;

    g_assert_null(vb_remote_connect("ssh://h?keyfile=/k", &untrusted, NULL, &e1));
    g_assert_error(e1, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_null(vb_remote_connect("ssh://h?keyfile=/k", NULL, NULL, &e2));
    g_assert_error(e2, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_null(vb_remote_connect("ssh://h", &bad_config, NULL, &e3));
    g_assert_error(e3, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(e3->message, "'/a b'"));
    g_assert_cmpuint(count_children(), ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration/remote/parse/good", test_parse_good);
    g_test_add_func("/migration/remote/parse/bad", test_parse_bad);
    g_test_add_func("/migration/remote/parse/untrusted", test_parse_untrusted);
    g_test_add_func("/migration/remote/argv", test_argv);
    g_test_add_func("/migration/remote/check-and-host", test_check_and_host);
    g_test_add_func("/migration/remote/connect/refused", test_connect_refused);
    g_test_add_func("/migration/remote/connect/banner-timeout", test_connect_banner_timeout);
    g_test_add_func("/migration/remote/connect/stall-timeout", test_connect_stall_timeout);
    g_test_add_func("/migration/remote/connect/cancelled", test_connect_cancelled);
    g_test_add_func("/migration/remote/connect/no-ssh", test_connect_no_ssh);
    g_test_add_func("/migration/remote/connect/bad-uri", test_connect_refuses_before_spawning);
    return g_test_run();
}
