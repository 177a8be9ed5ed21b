/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP client against a scripted peer (tests/fakes/qmp-fake.c) replaying
 * exchanges recorded from QEMU 7.2 (tests/data/qmp/).
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu-json-check.h"
#include "qemu-monitor-parse.h"
#include "qemu-monitor.h"
#include "qmp-fake.h"
#include "vb-error.h"

typedef struct {
    GMutex lock;
    GCond cond;
    GPtrArray *events; /* "NAME SECONDS.MICROS[ REASON]" */
    guint eofs;
    GError *eof_error;
    gboolean close_in_event;
} Rec;

static void
on_event(VbQemuMonitor *mon, const char *event, JsonObject *data, gint64 seconds, gint64 micros,
         gpointer user_data)
{
    Rec *rec = user_data;
    const char *reason = data != NULL ? json_object_get_string_member_with_default(
                                            data, "reason", NULL)
                                      : NULL;

    g_mutex_lock(&rec->lock);
    g_ptr_array_add(rec->events, g_strdup_printf("%s %" G_GINT64_FORMAT ".%06" G_GINT64_FORMAT
                                                 "%s%s",
                                                 event, seconds, micros, reason ? " " : "",
                                                 reason ? reason : ""));
    g_cond_broadcast(&rec->cond);
    g_mutex_unlock(&rec->lock);
    if (rec->close_in_event)
        vb_qemu_monitor_close(mon);
}

static void
on_eof(VbQemuMonitor *mon, const GError *error, gpointer user_data)
{
    Rec *rec = user_data;

    g_mutex_lock(&rec->lock);
    rec->eofs++;
    if (error != NULL)
        rec->eof_error = g_error_copy(error);
    g_cond_broadcast(&rec->cond);
    g_mutex_unlock(&rec->lock);
}

static const VbQemuMonitorCallbacks rec_callbacks = { on_event, on_eof };

static void
rec_init(Rec *rec)
{
    memset(rec, 0, sizeof(*rec));
    g_mutex_init(&rec->lock);
    g_cond_init(&rec->cond);
    rec->events = g_ptr_array_new_with_free_func(g_free);
}

static void
rec_clear(Rec *rec)
{
    g_ptr_array_unref(rec->events);
    g_clear_error(&rec->eof_error);
    g_mutex_clear(&rec->lock);
    g_cond_clear(&rec->cond);
}

static void
rec_wait_eof(Rec *rec)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_TIME_SPAN_SECOND;

    g_mutex_lock(&rec->lock);
    while (rec->eofs == 0 && g_cond_wait_until(&rec->cond, &rec->lock, deadline))
        ;
    g_mutex_unlock(&rec->lock);
    g_assert_cmpuint(rec->eofs, ==, 1);
}

static char *
data_path(const char *name)
{
    return g_build_filename(QMP_DATA_DIR, name, NULL);
}

static VbQemuMonitor *
open_fake(VbQmpFake **out_fake, const char *script, VbQmpFakeFunc func, gpointer data, Rec *rec)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = script != NULL ? data_path(script) : NULL;
    VbQemuMonitor *mon;
    int fd;

    *out_fake = script != NULL ? vb_qmp_fake_new_script(path, &fd)
                               : vb_qmp_fake_new(func, data, &fd);
    mon = vb_qemu_monitor_open_fd(fd, 5000, &rec_callbacks, rec, &error);
    g_assert_no_error(error);
    g_assert_nonnull(mon);
    return mon;
}

static void
finish_fake(VbQmpFake *fake)
{
    g_autofree char *err = vb_qmp_fake_finish(fake);

    g_assert_null(err);
}

static void
assert_status(VbQemuMonitor *mon, const char *want)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = vb_qemu_monitor_command(mon, "query-status", NULL, 5000, &error);

    g_assert_no_error(error);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(r), "status"), ==, want);
}

static void
run_ok(VbQemuMonitor *mon, const char *cmd)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = vb_qemu_monitor_command(mon, cmd, NULL, 5000, &error);

    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(r));
}

static void
test_lifecycle(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = NULL;
    VbQmpFake *fake;
    Rec rec;
    VbQemuMonitor *mon;

    rec_init(&rec);
    mon = open_fake(&fake, "lifecycle.txt", NULL, NULL, &rec);
    assert_status(mon, "prelaunch");
    run_ok(mon, "cont");
    /* The event precedes the reply on the wire, so it was delivered first. */
    g_assert_cmpuint(rec.events->len, ==, 1);
    run_ok(mon, "stop");
    assert_status(mon, "paused");
    r = vb_qemu_monitor_command(mon, "nonexistent", NULL, 5000, &error);
    g_assert_null(r);
    g_assert_error(error, VB_ERROR, VB_ERROR_QEMU);
    g_assert_cmpstr(error->message, ==,
                    "CommandNotFound: The command nonexistent has not been found");
    g_clear_error(&error);
    run_ok(mon, "quit");
    rec_wait_eof(&rec);
    g_assert_null(rec.eof_error);
    g_assert_cmpuint(rec.events->len, ==, 3);
    g_assert_cmpstr(rec.events->pdata[0], ==, "RESUME 1795470938.124729");
    g_assert_cmpstr(rec.events->pdata[1], ==, "STOP 1795470938.125158");
    g_assert_cmpstr(rec.events->pdata[2], ==, "SHUTDOWN 1795470938.126388 host-qmp-quit");
    r = vb_qemu_monitor_command(mon, "query-status", NULL, 5000, &error);
    g_assert_error(error, VB_ERROR, VB_ERROR_QEMU);
    g_assert_cmpstr(error->message, ==, "monitor closed");
    vb_qemu_monitor_close(mon);
    vb_qemu_monitor_unref(mon);
    finish_fake(fake);
    g_assert_cmpuint(rec.eofs, ==, 1);
    rec_clear(&rec);
}

static void
test_recorded_events(void)
{
    static const char *const want_reset[] = {
        "RESET 1795470938.276789 host-qmp-system-reset", "POWERDOWN 1795470938.277359",
        "SHUTDOWN 1795470938.278146 host-qmp-quit", NULL
    };
    static const char *const want_guest[] = {
        "GUEST_PANICKED 1795470940.000001", "STOP 1795470941.000002",
        "SHUTDOWN 1795470942.000003 guest-shutdown", NULL
    };
    VbQmpFake *fake;
    Rec rec;
    VbQemuMonitor *mon;

    rec_init(&rec);
    mon = open_fake(&fake, "reset-powerdown.txt", NULL, NULL, &rec);
    run_ok(mon, "system_reset");
    run_ok(mon, "system_powerdown");
    run_ok(mon, "query-kvm");
    run_ok(mon, "quit");
    rec_wait_eof(&rec);
    g_ptr_array_add(rec.events, NULL);
    g_assert_cmpstrv((char **)rec.events->pdata, want_reset);
    vb_qemu_monitor_close(mon);
    vb_qemu_monitor_unref(mon);
    finish_fake(fake);
    rec_clear(&rec);

    rec_init(&rec);
    mon = open_fake(&fake, "guest-events.txt", NULL, NULL, &rec);
    finish_fake(fake); /* the script ends: the fake closes, the client sees EOF */
    rec_wait_eof(&rec);
    g_ptr_array_add(rec.events, NULL);
    g_assert_cmpstrv((char **)rec.events->pdata, want_guest);
    vb_qemu_monitor_close(mon);
    vb_qemu_monitor_unref(mon);
    rec_clear(&rec);
}

#define N_WAITERS 8

/* Collects N_WAITERS commands, then answers them in reverse order, a TICK event before each. */
static void
reverse_peer(VbQmpFake *fake, gpointer data)
{
    g_autoptr(GPtrArray) cmds = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
    JsonObject *c0;

    vb_qmp_fake_greet(fake);
    for (guint i = 0; i < N_WAITERS; i++) {
        JsonObject *c = vb_qmp_fake_recv(fake);

        if (c == NULL)
            return vb_qmp_fake_fail(fake, "early EOF");
        g_ptr_array_add(cmds, c);
    }
    for (guint i = N_WAITERS; i-- > 0;) {
        JsonObject *c = cmds->pdata[i];
        g_autofree char *ev = g_strdup_printf(
            "{\"timestamp\": {\"seconds\": 7, \"microseconds\": %u}, \"event\": \"TICK\"}", i);
        g_autofree char *ret = g_strdup_printf("{\"echo\": \"%s\"}",
                                               json_object_get_string_member(c, "execute"));

        vb_qmp_fake_send(fake, ev);
        vb_qmp_fake_reply(fake, c, ret);
    }
    while ((c0 = vb_qmp_fake_recv(fake)) != NULL)
        json_object_unref(c0);
}

static gpointer
waiter_thread(gpointer data)
{
    VbQemuMonitor *mon = ((gpointer *)data)[0];
    guint n = GPOINTER_TO_UINT(((gpointer *)data)[1]);
    g_autofree char *cmd = g_strdup_printf("cmd-%u", n);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = vb_qemu_monitor_command(mon, cmd, NULL, 10000, &error);

    g_assert_no_error(error);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(r), "echo"), ==, cmd);
    return NULL;
}

static void
test_concurrent_waiters(void)
{
    gpointer args[N_WAITERS][2];
    GThread *threads[N_WAITERS];
    VbQmpFake *fake;
    Rec rec;
    VbQemuMonitor *mon;

    rec_init(&rec);
    mon = open_fake(&fake, NULL, reverse_peer, NULL, &rec);
    for (guint i = 0; i < N_WAITERS; i++) {
        args[i][0] = mon;
        args[i][1] = GUINT_TO_POINTER(i);
        threads[i] = g_thread_new("waiter", waiter_thread, args[i]);
    }
    for (guint i = 0; i < N_WAITERS; i++)
        g_thread_join(threads[i]);
    g_assert_cmpuint(rec.events->len, ==, N_WAITERS);
    for (guint i = 0; i < N_WAITERS; i++) {
        g_autofree char *want = g_strdup_printf("TICK 7.%06u", N_WAITERS - 1 - i);

        g_assert_cmpstr(rec.events->pdata[i], ==, want);
    }
    vb_qemu_monitor_close(mon);
    vb_qemu_monitor_unref(mon);
    finish_fake(fake);
    g_assert_cmpuint(rec.eofs, ==, 0);
    rec_clear(&rec);
}

/* Does not answer the first command until the second arrives, then answers both. */
static void
late_peer(VbQmpFake *fake, gpointer data)
{
    g_autoptr(JsonObject) slow = NULL;
    g_autoptr(JsonObject) fast = NULL;
    JsonObject *rest;

    vb_qmp_fake_greet(fake);
    slow = vb_qmp_fake_recv(fake);
    fast = vb_qmp_fake_recv(fake);
    if (slow == NULL || fast == NULL)
        return vb_qmp_fake_fail(fake, "early EOF");
    vb_qmp_fake_reply(fake, slow, "{\"late\": true}");
    vb_qmp_fake_reply(fake, fast, "{\"late\": false}");
    while ((rest = vb_qmp_fake_recv(fake)) != NULL)
        json_object_unref(rest);
}

static void
test_timeout(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = NULL;
    gint64 t0;
    VbQmpFake *fake;
    Rec rec;
    VbQemuMonitor *mon;

    rec_init(&rec);
    mon = open_fake(&fake, NULL, late_peer, NULL, &rec);
    t0 = g_get_monotonic_time();
    r = vb_qemu_monitor_command(mon, "slow", NULL, 100, &error);
    g_assert_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT);
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, 100 * 1000);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 2000 * 1000);
    g_assert_false(vb_qemu_monitor_get_waiting(mon, NULL));
    g_clear_error(&error);
    /* The late reply to "slow" has an unknown id now: logged and dropped. */
    r = vb_qemu_monitor_command(mon, "fast", NULL, 5000, &error);
    g_assert_no_error(error);
    g_assert_false(json_object_get_boolean_member(json_node_get_object(r), "late"));
    vb_qemu_monitor_close(mon);
    vb_qemu_monitor_unref(mon);
    finish_fake(fake);
    g_assert_cmpuint(rec.eofs, ==, 0);
    rec_clear(&rec);
}

/*
 * Issue 16: a start's query-cpus-fast rides behind qmp_capabilities. The peer reads both
 * before it answers either (so the client cannot have waited for the first reply), then
 * answers as @data says: "ok", "caps-error", "query-error" or "eof".
 */
static void
pipelined_peer(VbQmpFake *fake, gpointer data)
{
    g_autoptr(JsonObject) caps = NULL;
    g_autoptr(JsonObject) query = NULL;
    const char *how = data;
    JsonObject *rest;

    vb_qmp_fake_send(fake, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "
                           "\"major\": 7}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}");
    caps = vb_qmp_fake_recv(fake);
    query = vb_qmp_fake_recv(fake);
    if (caps == NULL || query == NULL)
        return vb_qmp_fake_fail(fake, "the query did not come before the capabilities' reply");
    if (g_strcmp0(json_object_get_string_member_with_default(caps, "execute", ""),
                  "qmp_capabilities") != 0 ||
        g_strcmp0(json_object_get_string_member_with_default(query, "execute", ""),
                  "query-cpus-fast") != 0)
        return vb_qmp_fake_fail(fake, "expected qmp_capabilities, then query-cpus-fast");
    if (g_str_equal(how, "eof"))
        return vb_qmp_fake_close(fake);
    if (g_str_equal(how, "caps-error"))
        vb_qmp_fake_send(fake, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, "
                               "\"id\": 1}");
    else
        vb_qmp_fake_reply(fake, caps, "{}");
    if (g_str_equal(how, "query-error") || g_str_equal(how, "caps-error"))
        vb_qmp_fake_send(fake, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
                               "\"The command query-cpus-fast has not been found\"}, \"id\": 2}");
    else
        vb_qmp_fake_reply(fake, query, "[{\"cpu-index\": 0, \"thread-id\": 4242}]");
    while ((rest = vb_qmp_fake_recv(fake)) != NULL) {
        vb_qmp_fake_reply(fake, rest, "{\"status\": \"prelaunch\"}");
        json_object_unref(rest);
    }
}

static void
test_open_query(void)
{
    static const struct {
        const char *how;
        const char *error; /* NULL: opens */
    } cases[] = {
        { "ok", NULL },
        { "caps-error", "GenericError: no" },
        { "query-error", "CommandNotFound: The command query-cpus-fast has not been found" },
        { "eof", "monitor closed" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) cpus = NULL;
        VbQmpFake *fake;
        VbQemuMonitor *mon;
        Rec rec;
        int fd;

        rec_init(&rec);
        fake = vb_qmp_fake_new(pipelined_peer, (gpointer)cases[i].how, &fd);
        mon = vb_qemu_monitor_open_fd_query(fd, 5000, "query-cpus-fast", &cpus, &rec_callbacks,
                                            &rec, &error);
        if (cases[i].error == NULL) {
            JsonObject *cpu;

            g_assert_no_error(error);
            g_assert_nonnull(mon);
            g_assert_true(JSON_NODE_HOLDS_ARRAY(cpus));
            cpu = json_array_get_object_element(json_node_get_array(cpus), 0);
            g_assert_cmpint(json_object_get_int_member(cpu, "thread-id"), ==, 4242);
            /* the monitor goes on as any other: the next command gets the next id */
            run_ok(mon, "query-status");
            vb_qemu_monitor_close(mon);
            vb_qemu_monitor_unref(mon);
        } else {
            g_assert_null(mon);
            g_assert_null(cpus);
            g_assert_error(error, VB_ERROR, VB_ERROR_QEMU);
            g_assert_cmpstr(error->message, ==, cases[i].error);
        }
        finish_fake(fake);
        if (cases[i].error != NULL)
            g_assert_cmpuint(rec.eofs, ==, 0); /* an open that failed makes no eof callback */
        rec_clear(&rec);
    }
}

static void
eof_peer(VbQmpFake *fake, gpointer data)
{
    g_autoptr(JsonObject) c = NULL;
    const char *raw = data;

    vb_qmp_fake_greet(fake);
    c = vb_qmp_fake_recv(fake);
    if (raw != NULL) {
        vb_qmp_fake_send(fake, raw);
        g_clear_pointer(&c, json_object_unref);
        while ((c = vb_qmp_fake_recv(fake)) != NULL)
            g_clear_pointer(&c, json_object_unref);
    }
    vb_qmp_fake_close(fake);
}

static void
check_broken(const char *raw, const char *want_prefix)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = NULL;
    VbQmpFake *fake;
    Rec rec;
    VbQemuMonitor *mon;

    rec_init(&rec);
    mon = open_fake(&fake, NULL, eof_peer, (gpointer)raw, &rec);
    r = vb_qemu_monitor_command(mon, "query-status", NULL, 5000, &error);
    g_assert_error(error, VB_ERROR, VB_ERROR_QEMU);
    g_assert_true(g_str_has_prefix(error->message, want_prefix));
    rec_wait_eof(&rec);
    g_usleep(20 * 1000);
    g_assert_cmpuint(rec.eofs, ==, 1);
    if (raw == NULL)
        g_assert_null(rec.eof_error);
    else
        g_assert_true(g_str_has_prefix(rec.eof_error->message, want_prefix));
    vb_qemu_monitor_close(mon);
    vb_qemu_monitor_unref(mon);
    finish_fake(fake);
    rec_clear(&rec);
}

/* @prefix, then @n times @open, then @suffix. */
static char *
deep_text(const char *prefix, const char *open, guint n, const char *suffix)
{
    GString *s = g_string_new(prefix);

    for (guint i = 0; i < n; i++)
        g_string_append(s, open);
    g_string_append(s, suffix);
    return g_string_free(s, FALSE);
}

static const struct {
    const char *prefix, *open;
    guint n;
    const char *suffix, *want;
} deep_replies[] = {
    { "{\"id\": 1, \"return\": ", "[", VB_QEMU_JSON_MAX_DEPTH, "",
      "nested deeper than 1024 levels" },
    { "{\"id\": 1, \"return\": ", "[", 80000, "", "nested deeper than 1024 levels" },
    { "{\"id\": 1, \"return\": ", "{\"a\":", 100000, "1",
      "nested deeper than 1024 levels" },
    { "{\"event\": \"X\", \"data\": ", "{\"a\": [", 600, "", "nested deeper than 1024 levels" },
    /* brackets hidden from a naive scan by a single-quoted string or a comment */
    { "{\"id\": 1, \"return\": ['\"', ", "[", 5000, "'\"']}", "not strict JSON at byte 21" },
    { "{\"id\": 1, /* \" */ \"return\": ", "[", 5000, "", "not strict JSON at byte 10" },
    { "{\"id\": 1, # \"\n \"return\": ", "[", 5000, "", "not strict JSON at byte 10" },
};

static void
test_eof_while_waiting(void)
{
    check_broken(NULL, "monitor closed");
}

static void
test_malformed(void)
{
    static const char *const lines[] = {
        "this is not json", "[1, 2, 3]", "{\"event\": 5}", "{\"error\": {\"class\": 1}}",
        "{\"neither\": true}", "\"string\"", "{\"return\": {}, \"id\": 1",
        "{\"return\": \xff\xfe}", NULL
    };

    for (guint i = 0; lines[i] != NULL; i++)
        check_broken(lines[i], "malformed QMP message");
}

/* Replies to the first command with @data (a "return" value), to the second with {}. */
static void
reply_peer(VbQmpFake *fake, gpointer data)
{
    JsonObject *c;
    guint n = 0;

    vb_qmp_fake_greet(fake);
    while ((c = vb_qmp_fake_recv(fake)) != NULL) {
        vb_qmp_fake_reply(fake, c, n++ == 0 ? data : "{}");
        json_object_unref(c);
    }
}

static void
test_deep_reply(void)
{
    /* QEMU's nesting limit is accepted: 1023 arrays inside the reply object */
    g_autofree char *open = deep_text("", "[", VB_QEMU_JSON_MAX_DEPTH - 1, "");
    g_autofree char *at_limit = deep_text(open, "]", VB_QEMU_JSON_MAX_DEPTH - 1, "");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = NULL;
    VbQmpFake *fake;
    Rec rec;
    VbQemuMonitor *mon;

    rec_init(&rec);
    mon = open_fake(&fake, NULL, reply_peer, at_limit, &rec);
    r = vb_qemu_monitor_command(mon, "deep", NULL, 5000, &error);
    g_assert_no_error(error);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(r));
    g_clear_pointer(&r, json_node_unref);
    /* and the monitor still works */
    r = vb_qemu_monitor_command(mon, "query-status", NULL, 5000, &error);
    g_assert_no_error(error);
    vb_qemu_monitor_close(mon);
    vb_qemu_monitor_unref(mon);
    finish_fake(fake);
    g_assert_cmpuint(rec.eofs, ==, 0);
    rec_clear(&rec);

    /* Deeper: a protocol error, handled as a broken monitor (waiters fail,
     * eof callback with the error), never parsed. */
    for (guint i = 0; i < G_N_ELEMENTS(deep_replies); i++) {
        g_autofree char *line = deep_text(deep_replies[i].prefix, deep_replies[i].open,
                                          deep_replies[i].n, deep_replies[i].suffix);

        check_broken(line, "malformed QMP message: ");
        {
            VbQmpMessage msg;

            g_assert_false(vb_qemu_monitor_parse_line(line, strlen(line), &msg, &error));
            g_assert_error(error, VB_ERROR, VB_ERROR_QEMU);
            g_test_message("%s", error->message);
            g_assert_nonnull(strstr(error->message, deep_replies[i].want));
            g_assert_null(msg.root);
            g_clear_error(&error);
        }
    }
}

/* With @data: after the first command (never answered) sends events E0, E1, E2. */
static void
hold_peer(VbQmpFake *fake, gpointer data)
{
    JsonObject *c;

    vb_qmp_fake_greet(fake);
    while ((c = vb_qmp_fake_recv(fake)) != NULL) {
        json_object_unref(c);
        for (guint i = 0; data != NULL && i < 3; i++) {
            g_autofree char *ev = g_strdup_printf(
                "{\"timestamp\": {\"seconds\": 1, \"microseconds\": %u}, \"event\": \"E%u\"}", i,
                i);

            vb_qmp_fake_send(fake, ev);
        }
        data = NULL;
    }
}

static gpointer
blocked_command(gpointer data)
{
    GError *error = NULL;
    JsonNode *r = vb_qemu_monitor_command(data, "query-status", NULL, -1, &error);

    g_assert_null(r);
    return error;
}

static void
test_close_while_waiting(void)
{
    g_autoptr(GError) error = NULL;
    gint64 since = 0;
    VbQmpFake *fake;
    GThread *t;
    Rec rec;
    VbQemuMonitor *mon;

    rec_init(&rec);
    mon = open_fake(&fake, NULL, hold_peer, NULL, &rec);
    t = g_thread_new("blocked", blocked_command, mon);
    while (!vb_qemu_monitor_get_waiting(mon, &since))
        g_usleep(1000);
    g_assert_cmpint(since, >, 0);
    g_assert_cmpint(since, <=, g_get_monotonic_time());
    vb_qemu_monitor_close(mon);
    error = g_thread_join(t);
    g_assert_error(error, VB_ERROR, VB_ERROR_QEMU);
    g_assert_cmpstr(error->message, ==, "monitor closed");
    vb_qemu_monitor_unref(mon);
    finish_fake(fake); /* returns once the monitor thread has closed the socket */
    g_assert_cmpuint(rec.eofs, ==, 0);
    rec_clear(&rec);
}

static void
test_close_in_callback(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = NULL;
    VbQmpFake *fake;
    Rec rec;
    VbQemuMonitor *mon;

    rec_init(&rec);
    rec.close_in_event = TRUE;
    mon = open_fake(&fake, NULL, hold_peer, GINT_TO_POINTER(1), &rec);
    /* The callback of E0 closes the monitor, which fails this command. */
    r = vb_qemu_monitor_command(mon, "go", NULL, 5000, &error);
    g_assert_error(error, VB_ERROR, VB_ERROR_QEMU);
    g_assert_cmpstr(error->message, ==, "monitor closed");
    g_clear_error(&error);
    finish_fake(fake);
    g_assert_cmpuint(rec.events->len, ==, 1);
    g_assert_cmpuint(rec.eofs, ==, 0);
    r = vb_qemu_monitor_command(mon, "query-status", NULL, 1000, &error);
    g_assert_error(error, VB_ERROR, VB_ERROR_QEMU);
    vb_qemu_monitor_unref(mon);
    rec_clear(&rec);
}

static void
raw_peer(VbQmpFake *fake, gpointer data)
{
    g_autoptr(JsonObject) a = NULL;
    g_autoptr(JsonObject) b = NULL;
    g_autofree char *err = NULL;

    vb_qmp_fake_greet(fake);
    a = vb_qmp_fake_recv(fake);
    if (a == NULL || json_object_get_int_member(a, "id") != 2)
        return vb_qmp_fake_fail(fake, "raw command without our id");
    vb_qmp_fake_reply(fake, a, "{\"status\": \"running\"}");
    b = vb_qmp_fake_recv(fake);
    if (b == NULL)
        return;
    err = g_strdup_printf("{\"id\": %" G_GINT64_FORMAT ", \"error\": {\"class\": "
                          "\"CommandNotFound\", \"desc\": \"The command bad has not been found\"}}",
                          json_object_get_int_member(b, "id"));
    vb_qmp_fake_send(fake, err);
    g_clear_pointer(&a, json_object_unref);
    while ((a = vb_qmp_fake_recv(fake)) != NULL)
        g_clear_pointer(&a, json_object_unref);
}

static const struct {
    const char *prefix, *open;
    guint n;
    const char *suffix, *want;
} deep_commands[] = {
    { "", "[", 80000, "", "nested deeper than 1024 levels" },
    { "", "{\"a\":", 100000, "1", "nested deeper than 1024 levels" },
    { "{\"execute\": \"query-status\", \"arguments\": {\"a\": ", "[", 1023, "",
      "nested deeper than 1024 levels" },
    /* json-glib takes single-quoted strings: '"' must not hide the brackets */
    { "{\"execute\": \"x\", \"arguments\": {\"a\": ['\"', ", "[", 5000, "'\"']}}",
      "not strict JSON at byte 37" },
    { "{\"execute\": \"x\", /* \" */ \"a\": ", "[", 5000, "", "not strict JSON at byte 17" },
};

static void
test_command_raw(void)
{
    static const char *const bad[] = { "not json", "[1]", "{\"foo\": 1}", "{\"execute\": 1}",
                                       "", NULL };
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL;
    VbQmpFake *fake;
    Rec rec;
    VbQemuMonitor *mon;

    rec_init(&rec);
    mon = open_fake(&fake, NULL, raw_peer, NULL, &rec);
    /* Issue 9: "[" * 80000 and '{"a":' * 100000 overflowed the worker's
     * stack in json-glib; refused (unparsed, unsent) with InvalidArgs. */
    for (guint i = 0; i < G_N_ELEMENTS(deep_commands); i++) {
        g_autofree char *cmd = deep_text(deep_commands[i].prefix, deep_commands[i].open,
                                         deep_commands[i].n, deep_commands[i].suffix);
        g_autofree char *o = vb_qemu_monitor_command_raw(mon, cmd, 1000, &error);

        g_assert_null(o);
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        g_assert_true(g_str_has_prefix(error->message, "invalid QMP command: "));
        g_assert_nonnull(strstr(error->message, deep_commands[i].want));
        g_clear_error(&error);
    }
    for (guint i = 0; bad[i] != NULL; i++) {
        g_autofree char *o = vb_qemu_monitor_command_raw(mon, bad[i], 1000, &error);

        g_assert_null(o);
        g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
        g_clear_error(&error);
    }
    out = vb_qemu_monitor_command_raw(mon, "{\"execute\": \"query-status\", \"id\": \"mine\"}",
                                      5000, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(out, ==, "{\"return\":{\"status\":\"running\"}}");
    g_clear_pointer(&out, g_free);
    out = vb_qemu_monitor_command_raw(mon, "{\"execute\": \"bad\"}", 5000, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(out, ==, "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command "
                             "bad has not been found\"}}");
    vb_qemu_monitor_close(mon);
    vb_qemu_monitor_unref(mon);
    finish_fake(fake);
    rec_clear(&rec);
}

static gpointer
delayed_server(gpointer data)
{
    const char *path = data;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char buf[256];
    int fd;
    gssize n;
    const char *greeting = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, "
                           "\"major\": 7}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}\n";
    const char *reply = "{\"return\": {}, \"id\": 1}\n";

    g_usleep(50 * 1000);
    strcpy(addr.sun_path, path);
    g_assert_no_errno(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)));
    g_usleep(20 * 1000); /* bound but not listening: connect is refused meanwhile */
    g_assert_no_errno(listen(lfd, 1));
    fd = accept(lfd, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, greeting, strlen(greeting)), ==, (gssize)strlen(greeting));
    n = read(fd, buf, sizeof(buf));
    g_assert_cmpint(n, >, 0);
    g_assert_cmpint(write(fd, reply, strlen(reply)), ==, (gssize)strlen(reply));
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    close(fd);
    close(lfd);
    return NULL;
}

static void
test_open_retry(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("vb-test-mon-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "qmp.sock", NULL);
    gint64 t0 = g_get_monotonic_time();
    GThread *t = g_thread_new("server", delayed_server, path);
    VbQemuMonitor *mon = vb_qemu_monitor_open(path, getpid(), 5000, NULL, NULL, &error);

    g_assert_no_error(error);
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, 50 * 1000);
    vb_qemu_monitor_close(mon);
    vb_qemu_monitor_unref(mon);
    g_thread_join(t);
    unlink(path);
    rmdir(dir);

    /* Nobody ever listens: a timeout. */
    t0 = g_get_monotonic_time();
    mon = vb_qemu_monitor_open("/nonexistent/qmp.sock", 0, 100, NULL, NULL, &error);
    g_assert_null(mon);
    g_assert_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 2 * G_TIME_SPAN_SECOND);
}

static void
test_open_dead_pid(void)
{
    const char *argv[] = { "/bin/true", NULL };
    g_autoptr(GError) error = NULL;
    VbQemuMonitor *mon;
    gint64 t0;
    GPid pid;
    int status;

    g_assert_true(g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                NULL, &pid, NULL));
    /* wait until it exited, without reaping it */
    {
        siginfo_t info = { 0 };

        g_assert_no_errno(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT));
    }
    /* A zombie (not reaped yet): */
    t0 = g_get_monotonic_time();
    mon = vb_qemu_monitor_open("/nonexistent/qmp.sock", pid, 10000, NULL, NULL, &error);
    g_assert_null(mon);
    g_assert_error(error, VB_ERROR, VB_ERROR_QEMU);
    g_assert_cmpstr(error->message, ==, "QEMU exited while connecting to the monitor");
    g_assert_cmpint(g_get_monotonic_time() - t0, <, G_TIME_SPAN_SECOND);
    g_clear_error(&error);
    /* Reaped: */
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    mon = vb_qemu_monitor_open("/nonexistent/qmp.sock", pid, 10000, NULL, NULL, &error);
    g_assert_null(mon);
    g_assert_error(error, VB_ERROR, VB_ERROR_QEMU);
}

static void
test_json_check(void)
{
    static const struct {
        const char *text;
        VbQemuJsonCheck want;
        gsize offset;
    } cases[] = {
        { "{\"a\": [1, 2.5e3, -1, true, false, null, \"x\"]}", VB_QEMU_JSON_CHECK_OK, 0 },
        { "[[[]]]", VB_QEMU_JSON_CHECK_TOO_DEEP, 2 },
        { "[[]][[]]", VB_QEMU_JSON_CHECK_OK, 0 },
        /* brackets and quotes inside strings do not count */
        { "[\"[[[[\\\"[[[[\"]", VB_QEMU_JSON_CHECK_OK, 0 },
        { "[\"{'#/*\"]", VB_QEMU_JSON_CHECK_OK, 0 },
        /* unmatched closers never make room for more openers */
        { "]]]]][[[", VB_QEMU_JSON_CHECK_TOO_DEEP, 7 },
        { "['\"', [[1]], '\"']", VB_QEMU_JSON_CHECK_NOT_STRICT, 1 },
        { "[/* \" */ [[1]]]", VB_QEMU_JSON_CHECK_NOT_STRICT, 1 },
        { "[# \"\n[[1]]]", VB_QEMU_JSON_CHECK_NOT_STRICT, 1 },
        { "[$FF]", VB_QEMU_JSON_CHECK_NOT_STRICT, 1 },
        { "[\xc3\xa9]", VB_QEMU_JSON_CHECK_NOT_STRICT, 1 },
        { "\"unterminated [[[[", VB_QEMU_JSON_CHECK_OK, 0 },
        { "\"\\", VB_QEMU_JSON_CHECK_OK, 0 },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        gsize offset = 0;

        g_test_message("%s", cases[i].text);
        g_assert_cmpint(vb_qemu_json_check(cases[i].text, strlen(cases[i].text), 2, &offset), ==,
                        cases[i].want);
        if (cases[i].want != VB_QEMU_JSON_CHECK_OK)
            g_assert_cmpuint(offset, ==, cases[i].offset);
    }
}

static void
test_parse_line(void)
{
    g_autoptr(GError) error = NULL;
    VbQmpMessage msg;
    const char *ev =
        "{\"timestamp\": {\"seconds\": 12, \"microseconds\": 34}, \"event\": \"STOP\"}";
    const char *err = "{\"id\": 6, \"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}}";

    g_assert_true(vb_qemu_monitor_parse_line(ev, strlen(ev), &msg, &error));
    g_assert_cmpint(msg.kind, ==, VB_QMP_MSG_EVENT);
    g_assert_cmpstr(msg.event, ==, "STOP");
    g_assert_null(msg.data);
    g_assert_cmpint(msg.seconds, ==, 12);
    g_assert_cmpint(msg.micros, ==, 34);
    vb_qmp_message_clear(&msg);
    g_assert_true(vb_qemu_monitor_parse_line(err, strlen(err), &msg, &error));
    g_assert_cmpint(msg.kind, ==, VB_QMP_MSG_ERROR);
    g_assert_true(msg.has_id);
    g_assert_cmpint(msg.id, ==, 6);
    g_assert_cmpstr(msg.err_class, ==, "GenericError");
    vb_qmp_message_clear(&msg);
    /* A NUL byte inside, deep nesting: */
    g_assert_false(vb_qemu_monitor_parse_line("{\"return\": {}}\0x", 16, &msg, &error));
    g_clear_error(&error);
    {
        g_autoptr(GString) deep = g_string_new("{\"return\": ");

        for (guint i = 0; i < 100000; i++)
            g_string_append_c(deep, '[');
        g_assert_false(vb_qemu_monitor_parse_line(deep->str, deep->len, &msg, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_QEMU);
    }
}

static gboolean
collect_line(const char *line, gsize len, gpointer data)
{
    g_ptr_array_add(data, g_strndup(line, len));
    return TRUE;
}

static void
test_split_lines(void)
{
    g_autoptr(GString) buf = g_string_new("{\"a\": 1}\r\n\n{\"b\"");
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);

    g_assert_true(vb_qemu_monitor_split_lines(buf, collect_line, lines, NULL));
    g_assert_cmpuint(lines->len, ==, 1);
    g_assert_cmpstr(lines->pdata[0], ==, "{\"a\": 1}");
    g_assert_cmpstr(buf->str, ==, "{\"b\"");
    g_string_append(buf, ": 2}\n");
    g_assert_true(vb_qemu_monitor_split_lines(buf, collect_line, lines, NULL));
    g_assert_cmpstr(lines->pdata[1], ==, "{\"b\": 2}");
    g_assert_cmpuint(buf->len, ==, 0);
}

/* One object per line: json-glib 1.6 would keep the last of several and leak the rest. */
static void
test_parse_line_one_object(void)
{
    const char *bad[] = {
        "{\"return\": {}} {\"event\": \"STOP\"}",
        "{\"return\": {}}{\"return\": {}}",
        "[1] {\"return\": {}}",
        "\"x\" {\"return\": {}}",
        "{\"return\": {}} [2]",
    };
    const char *good = " {\"return\": \"}{ \\\" ]\"} \r";
    VbQmpMessage msg;

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;

        g_assert_false(vb_qemu_monitor_parse_line(bad[i], strlen(bad[i]), &msg, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_QEMU);
        g_assert_cmpstr(error->message, ==, "malformed QMP message: not a single JSON object");
        g_assert_null(msg.root);
        g_assert_false(vb_qemu_monitor_is_one_object(bad[i], strlen(bad[i])));
    }
    g_assert_true(vb_qemu_monitor_is_one_object(good, strlen(good)));
    g_assert_true(vb_qemu_monitor_parse_line(good, strlen(good), &msg, NULL));
    g_assert_cmpint(msg.kind, ==, VB_QMP_MSG_RETURN);
    g_assert_cmpstr(json_node_get_string(msg.ret), ==, "}{ \" ]");
    vb_qmp_message_clear(&msg);
}

/* issue 16: vb_qemu_monitor_command_watch() acts on the event before the reply */
typedef struct {
    gint seen;          /* atomic: calls of the seen callback */
    gint64 timestamp;   /* the last one's */
} Watch;

static void
watch_seen(const char *event, gint64 timestamp, gpointer user_data)
{
    Watch *w = user_data;

    g_assert_cmpstr(event, ==, "STOP");
    w->timestamp = timestamp;
    g_atomic_int_inc(&w->seen);
}

/* stop: STOP, then the reply only once the client acted on STOP (or after 5 s);
 * cont: the reply, then a STOP; query-status: the reply only. */
static void
watch_peer(VbQmpFake *fake, gpointer data)
{
    Watch *w = data;
    JsonObject *c;

    vb_qmp_fake_greet(fake);
    while ((c = vb_qmp_fake_recv(fake)) != NULL) {
        const char *cmd = json_object_get_string_member(c, "execute");

        if (g_str_equal(cmd, "stop")) {
            gint64 deadline = g_get_monotonic_time() + 5 * G_TIME_SPAN_SECOND;
            gboolean before;

            vb_qmp_fake_send(fake, "{\"timestamp\": {\"seconds\": 9, \"microseconds\": 123}, "
                                   "\"event\": \"STOP\"}");
            while (g_atomic_int_get(&w->seen) == 0 && g_get_monotonic_time() < deadline)
                g_usleep(1000);
            before = g_atomic_int_get(&w->seen) == 1;
            vb_qmp_fake_reply(fake, c, before ? "{\"acted\": true}" : "{\"acted\": false}");
        } else if (g_str_equal(cmd, "cont")) {
            vb_qmp_fake_reply(fake, c, "{}");
            vb_qmp_fake_send(fake, "{\"timestamp\": {\"seconds\": 10, \"microseconds\": 0}, "
                                   "\"event\": \"STOP\"}");
        } else {
            vb_qmp_fake_reply(fake, c, "{\"status\": \"paused\"}");
        }
        json_object_unref(c);
    }
}

static void
test_command_watch(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r1 = NULL;
    g_autoptr(JsonNode) r2 = NULL;
    g_autoptr(JsonNode) r3 = NULL;
    Watch w = { 0 };
    VbQmpFake *fake;
    VbQemuMonitor *mon;
    Rec rec;

    rec_init(&rec);
    mon = open_fake(&fake, NULL, watch_peer, &w, &rec);
    r1 = vb_qemu_monitor_command_watch(mon, "stop", "STOP", watch_seen, &w, 10000, &error);
    g_assert_no_error(error);
    /* called while the reply was still to come, with QMP's time stamp */
    g_assert_true(json_object_get_boolean_member(json_node_get_object(r1), "acted"));
    g_assert_cmpint(g_atomic_int_get(&w.seen), ==, 1);
    g_assert_cmpint(w.timestamp, ==, 9 * G_USEC_PER_SEC + 123);
    /* an event after the reply, and no event: not called */
    r2 = vb_qemu_monitor_command_watch(mon, "cont", "STOP", watch_seen, &w, 10000, &error);
    g_assert_no_error(error);
    /* (its late STOP read before the next command, which would watch it too) */
    g_mutex_lock(&rec.lock);
    while (rec.events->len < 2)
        g_cond_wait(&rec.cond, &rec.lock);
    g_mutex_unlock(&rec.lock);
    r3 = vb_qemu_monitor_command_watch(mon, "query-status", "STOP", watch_seen, &w, 10000,
                                       &error);
    g_assert_no_error(error);
    g_assert_cmpint(g_atomic_int_get(&w.seen), ==, 1);
    /* the event callback got both events all the same */
    g_mutex_lock(&rec.lock);
    g_assert_cmpuint(rec.events->len, ==, 2);
    g_assert_cmpstr(rec.events->pdata[0], ==, "STOP 9.000123");
    g_assert_cmpstr(rec.events->pdata[1], ==, "STOP 10.000000");
    g_mutex_unlock(&rec.lock);
    vb_qemu_monitor_close(mon);
    vb_qemu_monitor_unref(mon);
    finish_fake(fake);
    rec_clear(&rec);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_test_add_func("/qemu/monitor/parse-line", test_parse_line);
    g_test_add_func("/qemu/monitor/parse-line-one-object", test_parse_line_one_object);
    g_test_add_func("/qemu/monitor/split-lines", test_split_lines);
    g_test_add_func("/qemu/monitor/lifecycle", test_lifecycle);
    g_test_add_func("/qemu/monitor/recorded-events", test_recorded_events);
    g_test_add_func("/qemu/monitor/concurrent-waiters", test_concurrent_waiters);
    g_test_add_func("/qemu/monitor/timeout", test_timeout);
    g_test_add_func("/qemu/monitor/eof-while-waiting", test_eof_while_waiting);
    g_test_add_func("/qemu/monitor/malformed", test_malformed);
    g_test_add_func("/qemu/monitor/deep-reply", test_deep_reply);
    g_test_add_func("/qemu/monitor/json-check", test_json_check);
    g_test_add_func("/qemu/monitor/close-while-waiting", test_close_while_waiting);
    g_test_add_func("/qemu/monitor/close-in-callback", test_close_in_callback);
    g_test_add_func("/qemu/monitor/command-raw", test_command_raw);
    g_test_add_func("/qemu/monitor/open-retry", test_open_retry);
    g_test_add_func("/qemu/monitor/open-dead-pid", test_open_dead_pid);
    g_test_add_func("/qemu/monitor/command-watch", test_command_watch);
    g_test_add_func("/qemu/monitor/open-query", test_open_query);
    return g_test_run();
}
