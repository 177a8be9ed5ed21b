/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest agent client (service/qemu/qemu-agent.c) against a scripted qemu-ga on a unix
 * socket: the faults a real guest does not produce on demand (stale replies before the
 * sync, a wrong sync id, an error reply, silence, EOF, a reply too deep or too long). The
 * real qemu-ga in the tiny guest is exercised by tests/integration/test_ifaddr.py.
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "qemu-agent.h"
#include "vb-error.h"

typedef enum {
    FAKE_ANSWER,  /* stale lines, a wrong sync id, then the right one; then @reply */
    FAKE_SILENT,  /* reads everything, answers nothing */
    FAKE_EOF,     /* closes at once */
    FAKE_HUGE,    /* syncs, then sends more than VB_QEMU_AGENT_MAX_REPLY without a newline */
} FakeMode;

typedef struct {
    char *dir;
    char *path;
    int listen_fd;
    FakeMode mode;
    const char *reply;
    GThread *thread;
    char *command_seen; /* the command line the fake received after the sync */
} Fake;

static void
send_str(int fd, const char *s)
{
    gsize len = strlen(s);

    while (len > 0) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

        if (n <= 0)
            return;
        s += n;
        len -= (gsize)n;
    }
}

/* Reads up to and including the next newline; NULL at EOF. */
static char *
recv_line(int fd)
{
    GString *s = g_string_new(NULL);
    char c;

    for (;;) {
        ssize_t n = recv(fd, &c, 1, 0);

        if (n <= 0) {
            g_string_free(s, TRUE);
            return NULL;
        }
        if (c == '\n')
            return g_string_free(s, FALSE);
        g_string_append_c(s, c);
    }
}

static gpointer
fake_run(gpointer data)
{
    Fake *f = data;
    int fd = accept(f->listen_fd, NULL, NULL);
    g_autofree char *sync = NULL;
    const char *id;

    if (fd < 0)
        return NULL;
    if (f->mode == FAKE_EOF) {
        close(fd);
        return NULL;
    }
    if (f->mode == FAKE_SILENT) {
        char buf[256];

        while (recv(fd, buf, sizeof(buf), 0) > 0)
            ;
        close(fd);
        return NULL;
    }
    sync = recv_line(fd);
    g_assert_nonnull(sync);
    /* the client sends 0xFF first, to reset qemu-ga's parser */
    g_assert_cmpint((guchar)sync[0], ==, 0xff);
    id = strstr(sync, "\"id\":");
    g_assert_nonnull(id);
    /* what a previous client left: a late reply, qemu-ga's error for the 0xFF, an older
     * sync's answer with its own sentinel and id */
    send_str(fd, "{\"return\": {\"late\": true}}\n");
    send_str(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid JSON\"}}\n");
    send_str(fd, "\xff{\"return\": 1}\n");
    {
        g_autofree char *right = g_strdup_printf("\xff{\"return\": %" G_GINT64_FORMAT "}\n",
                                                 g_ascii_strtoll(id + 5, NULL, 10));

        send_str(fd, right);
    }
    f->command_seen = recv_line(fd);
    if (f->mode == FAKE_HUGE) {
        g_autofree char *chunk = g_strnfill(1024 * 1024, ' ');

        send_str(fd, "{\"return\": \"");
        for (guint i = 0; i < VB_QEMU_AGENT_MAX_REPLY / (1024 * 1024) + 2; i++)
            send_str(fd, chunk);
    } else if (f->reply != NULL) {
        send_str(fd, f->reply);
        send_str(fd, "\n");
    }
    /* wait for the client to close */
    g_free(recv_line(fd));
    close(fd);
    return NULL;
}

static Fake *
fake_new(FakeMode mode, const char *reply)
{
    Fake *f = g_new0(Fake, 1);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    f->dir = g_dir_make_tmp("vb-agent-XXXXXX", NULL);
    f->path = g_build_filename(f->dir, "qga.sock", NULL);
    f->mode = mode;
    f->reply = reply;
    g_strlcpy(sa.sun_path, f->path, sizeof(sa.sun_path));
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(f->listen_fd, 1), ==, 0);
    f->thread = g_thread_new("fake-qga", fake_run, f);
    return f;
}

static void
fake_join(Fake *f)
{
    if (f->thread != NULL)
        g_thread_join(f->thread);
    f->thread = NULL;
}

static void
fake_free(Fake *f)
{
    fake_join(f);
    close(f->listen_fd);
    g_unlink(f->path);
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    g_free(f->command_seen);
    g_free(f);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Fake, fake_free)

static void
test_sync_skips_stale_replies(void)
{
    g_autoptr(Fake) f = fake_new(FAKE_ANSWER,
        "{\"return\": [{\"name\": \"lo\", \"hardware-address\": \"00:00:00:00:00:00\", "
        "\"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": \"127.0.0.1\", "
        "\"prefix\": 8}]}, {\"name\": \"eth0\", \"hardware-address\": \"52:54:00:aa:bb:cc\", "
        "\"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": \"10.0.2.15\", "
        "\"prefix\": 24}, {\"ip-address-type\": \"ipv6\", \"ip-address\": \"fe80::1\", "
        "\"prefix\": 64}]}, {\"name\": \"eth0:1\", \"ip-addresses\": [{\"ip-address-type\": "
        "\"ipv4\", \"ip-address\": \"10.0.3.7\", \"prefix\": 16}]}, {\"name\": \"dummy0\"}]}");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = vb_qemu_agent_run(f->path, "guest-network-get-interfaces", NULL,
                                                5000, &error);
    g_autoptr(GPtrArray) ifaces = NULL;
    const VbGuestInterface *eth0;
    const VbGuestIPAddress *a;

    g_assert_no_error(error);
    g_assert_nonnull(ret);
    ifaces = vb_qemu_agent_parse_interfaces(ret, &error);
    g_assert_no_error(error);
    /* lo, eth0 (with eth0:1's address), dummy0 without addresses */
    g_assert_cmpuint(ifaces->len, ==, 3);
    eth0 = g_ptr_array_index(ifaces, 1);
    g_assert_cmpstr(eth0->name, ==, "eth0");
    g_assert_cmpstr(eth0->hwaddr, ==, "52:54:00:aa:bb:cc");
    g_assert_cmpuint(eth0->addrs->len, ==, 3);
    a = &g_array_index(eth0->addrs, VbGuestIPAddress, 1);
    g_assert_cmpstr(a->addr, ==, "fe80::1");
    g_assert_cmpuint(a->type, ==, 1);
    g_assert_cmpuint(a->prefix, ==, 64);
    a = &g_array_index(eth0->addrs, VbGuestIPAddress, 2);
    g_assert_cmpstr(a->addr, ==, "10.0.3.7");
    g_assert_cmpuint(a->type, ==, 0);
    g_assert_cmpuint(((VbGuestInterface *)g_ptr_array_index(ifaces, 2))->addrs->len, ==, 0);
    g_assert_null(((VbGuestInterface *)g_ptr_array_index(ifaces, 2))->hwaddr);
}

static void
test_guest_error(void)
{
    g_autoptr(Fake) f = fake_new(FAKE_ANSWER,
                                 "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                                 "\"The command guest-x has not been found\"}}");
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;

    json_object_set_string_member(args, "path", "/tmp/x \"quoted\"");
    ret = vb_qemu_agent_run(f->path, "guest-x", args, 5000, &error);
    g_assert_null(ret);
    g_assert_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND);
    g_assert_nonnull(strstr(error->message, "unable to execute QEMU agent command 'guest-x'"));
    g_assert_nonnull(strstr(error->message, "has not been found"));
}

static void
test_command_is_sent_with_arguments(void)
{
    g_autoptr(Fake) f = fake_new(FAKE_ANSWER, "{\"return\": {}}");
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = NULL;

    json_object_set_int_member(args, "n", 7);
    ret = vb_qemu_agent_run(f->path, "guest-ping", args, 5000, &error);
    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(ret));
    fake_join(f);
    g_assert_cmpstr(f->command_seen, ==,
                    "{\"execute\":\"guest-ping\",\"arguments\":{\"n\":7}}");
}

static void
test_silent_agent_times_out(void)
{
    g_autoptr(Fake) f = fake_new(FAKE_SILENT, NULL);
    g_autoptr(GError) error = NULL;
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(JsonNode) ret = vb_qemu_agent_run(f->path, "guest-ping", NULL, 300, &error);
    gint64 elapsed = g_get_monotonic_time() - t0;

    g_assert_null(ret);
    g_assert_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT);
    g_assert_nonnull(strstr(error->message, "timed out"));
    g_assert_cmpint(elapsed, >=, 290 * 1000);
    g_assert_cmpint(elapsed, <, 1500 * 1000);
}

static void
test_eof_and_no_socket(void)
{
    g_autoptr(Fake) f = fake_new(FAKE_EOF, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = vb_qemu_agent_run(f->path, "guest-ping", NULL, 5000, &error);
    g_autofree char *missing = g_build_filename(f->dir, "nothing.sock", NULL);

    g_assert_null(ret);
    g_assert_error(error, VB_ERROR, VB_ERROR_AGENT_UNRESPONSIVE);
    g_assert_nonnull(strstr(error->message, "not connected"));
    g_clear_error(&error);
    g_assert_null(vb_qemu_agent_run(missing, "guest-ping", NULL, 5000, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_AGENT_UNRESPONSIVE);
    g_assert_nonnull(strstr(error->message, "cannot connect"));
}

static void
test_malformed_replies(void)
{
    g_autofree char *deep = NULL;
    GString *s = g_string_new("{\"return\": ");
    g_autoptr(GError) error = NULL;

    for (int i = 0; i < 5000; i++)
        g_string_append_c(s, '[');
    deep = g_string_free(s, FALSE);
    {
        g_autoptr(Fake) f = fake_new(FAKE_ANSWER, deep);

        g_assert_null(vb_qemu_agent_run(f->path, "guest-ping", NULL, 5000, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND);
        g_assert_nonnull(strstr(error->message, "malformed"));
        g_clear_error(&error);
    }
    {
        g_autoptr(Fake) f = fake_new(FAKE_ANSWER, "{'return': {}}");

        g_assert_null(vb_qemu_agent_run(f->path, "guest-ping", NULL, 5000, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND);
        g_clear_error(&error);
    }
    {
        g_autoptr(Fake) f = fake_new(FAKE_ANSWER, "{\"neither\": 1}");

        g_assert_null(vb_qemu_agent_run(f->path, "guest-ping", NULL, 5000, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND);
        g_assert_nonnull(strstr(error->message, "without 'return'"));
        g_clear_error(&error);
    }
    {
        g_autoptr(Fake) f = fake_new(FAKE_HUGE, NULL);

        g_assert_null(vb_qemu_agent_run(f->path, "guest-ping", NULL, 20000, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND);
        g_assert_nonnull(strstr(error->message, "longer than"));
    }
}

typedef struct {
    VbQemuAgent *agent;
} CancelData;

static gpointer
cancel_later(gpointer data)
{
    CancelData *d = data;

    g_usleep(100 * 1000);
    vb_qemu_agent_cancel(d->agent);
    return NULL;
}

static void
test_cancel_wakes_the_waiter(void)
{
    g_autoptr(Fake) f = fake_new(FAKE_SILENT, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(VbQemuAgent) agent = vb_qemu_agent_open(f->path, &error);
    CancelData d = { agent };
    gint64 t0 = g_get_monotonic_time();
    GThread *t;

    g_assert_no_error(error);
    t = g_thread_new("cancel", cancel_later, &d);
    g_assert_false(vb_qemu_agent_sync(agent, t0 + 10 * G_USEC_PER_SEC, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_ABORTED);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 3 * G_USEC_PER_SEC);
    g_thread_join(t);
    g_clear_pointer(&agent, vb_qemu_agent_free);
}

static void
check_parse_error(const char *json, const char *fragment)
{
    g_autoptr(JsonNode) node = json_from_string(json, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) ifaces = vb_qemu_agent_parse_interfaces(node, &error);

    g_assert_null(ifaces);
    g_assert_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND);
    g_assert_nonnull(strstr(error->message, fragment));
}

static void
test_parse_interfaces_errors(void)
{
    g_autoptr(JsonNode) empty = json_from_string("[]", NULL);
    g_autoptr(GPtrArray) none = vb_qemu_agent_parse_interfaces(empty, NULL);

    g_assert_cmpuint(none->len, ==, 0);
    check_parse_error("{}", "array of interfaces");
    check_parse_error("[{\"hardware-address\": \"x\"}]", "without 'name'");
    check_parse_error("[{\"name\": \"e\", \"ip-addresses\": 3}]", "'ip-addresses'");
    check_parse_error("[{\"name\": \"e\", \"ip-addresses\": [{\"ip-address-type\": \"ipx\", "
                      "\"ip-address\": \"1\", \"prefix\": 1}]}]", "'ip-address-type'");
    check_parse_error("[{\"name\": \"e\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", "
                      "\"prefix\": 1}]}]", "'ip-address'");
    check_parse_error("[{\"name\": \"e\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", "
                      "\"ip-address\": \"1.2.3.4\", \"prefix\": \"24\"}]}]", "'prefix'");
    check_parse_error("[{\"name\": \"e\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", "
                      "\"ip-address\": \"1.2.3.4\", \"prefix\": 300}]}]", "'prefix'");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu/agent/sync-skips-stale-replies", test_sync_skips_stale_replies);
    g_test_add_func("/qemu/agent/command-sent-with-arguments",
                    test_command_is_sent_with_arguments);
    g_test_add_func("/qemu/agent/guest-error-is-named", test_guest_error);
    g_test_add_func("/qemu/agent/silent-agent-times-out", test_silent_agent_times_out);
    g_test_add_func("/qemu/agent/eof-and-no-socket-not-connected", test_eof_and_no_socket);
    g_test_add_func("/qemu/agent/malformed-replies", test_malformed_replies);
    g_test_add_func("/qemu/agent/cancel-wakes-the-waiter", test_cancel_wakes_the_waiter);
    g_test_add_func("/qemu/agent/parse-interfaces-errors", test_parse_interfaces_errors);
    return g_test_run();
}
