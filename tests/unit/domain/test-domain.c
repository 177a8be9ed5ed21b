/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "domain-list.h"
#include "domain-list-priv.h"
#include "vb-error.h"

static GPtrArray *logged; /* warnings seen, as text */

static GLogWriterOutput
capture_writer(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer user_data)
{
    for (gsize i = 0; i < n; i++) {
        if (level & G_LOG_LEVEL_WARNING && g_str_equal(fields[i].key, "MESSAGE"))
            g_ptr_array_add(logged, g_strdup(fields[i].value));
    }
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        return g_log_writer_default(level, fields, n, user_data);
    return G_LOG_WRITER_HANDLED;
}

static void
test_state_strings(void)
{
    for (int i = 0; i < VB_DOMAIN_STATE_LAST; i++) {
        const char *s = vb_domain_state_to_string(i);

        g_assert_nonnull(s);
        g_assert_cmpint(vb_domain_state_from_string(s), ==, i);
    }
    for (int i = 0; i < VB_DOMAIN_REASON_LAST; i++) {
        const char *s = vb_domain_reason_to_string(i);

        g_assert_nonnull(s);
        g_assert_cmpint(vb_domain_reason_from_string(s), ==, i);
    }
    g_assert_cmpint(vb_domain_state_from_string("bogus"), ==, -1);
    g_assert_cmpint(vb_domain_reason_from_string(NULL), ==, -1);
}

typedef struct {
    char *root;
    VbPaths *paths;
    VbDomainList *list;
    GPtrArray *events; /* "kind:event/detail" */
    VbConfig config;
} Fixture;

static char *
path_func(const char *uuid)
{
    return g_strconcat("/test/", uuid, NULL);
}

static void
record(VbDomainObj *dom, VbDomainNotifyKind kind, const char *event, const char *detail,
       gpointer user_data)
{
    Fixture *f = user_data;

    g_ptr_array_add(f->events, g_strdup_printf("%d:%s/%s", kind, event ? event : "-",
                                               detail ? detail : "-"));
}

static void
setup(Fixture *f, gconstpointer data)
{
    f->root = g_dir_make_tmp("vb-domain-XXXXXX", NULL);
    f->paths = vb_paths_new(VB_PATHS_SESSION, f->root);
    g_assert_true(vb_paths_ensure(f->paths, NULL));
    f->events = g_ptr_array_new_with_free_func(g_free);
    vb_config_init_defaults(&f->config);
    f->list = vb_domain_list_new(f->paths, &f->config, path_func, record, f);
}

static void
teardown(Fixture *f, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->root);

    vb_domain_list_free(f->list);
    vb_paths_free(f->paths);
    vb_config_clear(&f->config);
    g_ptr_array_unref(f->events);
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(f->root);
}

#define XML(name, uuid) \
    "<domain type='qemu'><name>" name "</name><uuid>" uuid "</uuid>" \
    "<memory unit='MiB'>128</memory><vcpu>1</vcpu>" \
    "<os><type arch='x86_64' machine='q35'>hvm</type></os></domain>"
#define U1 "11111111-2222-3333-4444-555555555555"
#define U2 "66666666-2222-3333-4444-555555555555"

static void
test_define_undefine(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainObj) dom = NULL;
    g_autoptr(VbDomainObj) again = NULL;
    g_autoptr(VbDomainObj) found = NULL;
    g_autoptr(GPtrArray) all = NULL;
    g_autofree char *config = vb_paths_domain_config(f->paths, "vm1");

    dom = vb_domain_define_xml(f->list, XML("vm1", U1), &error);
    g_assert_no_error(error);
    g_assert_cmpstr(dom->object_path, ==, "/test/" U1);
    g_assert_true(g_file_test(config, G_FILE_TEST_IS_REGULAR));
    g_assert_cmpstr(f->events->pdata[0], ==, "0:defined/added");

    again = vb_domain_define_xml(f->list, XML("vm1", U1), &error);
    g_assert_true(again == dom);
    g_assert_cmpstr(f->events->pdata[1], ==, "1:defined/updated");

    g_assert_null(vb_domain_define_xml(f->list, XML("vm1", U2), &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_EXISTS);
    g_clear_error(&error);
    g_assert_null(vb_domain_define_xml(f->list, XML("vm2", U1), &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_EXISTS);
    g_clear_error(&error);
    g_assert_cmpuint(f->events->len, ==, 2);

    found = vb_domain_list_find_by_uuid(f->list, "11111111-2222-3333-4444-555555555555",
                                        &error);
    g_assert_true(found == dom);

    g_assert_true(vb_domain_set_autostart(f->list, dom, TRUE, &error));
    all = vb_domain_list_collect(f->list, VB_LIST_AUTOSTART);
    g_assert_cmpuint(all->len, ==, 1);

    g_assert_true(vb_domain_undefine(f->list, dom, 0, &error));
    g_assert_no_error(error);
    g_assert_false(g_file_test(config, G_FILE_TEST_EXISTS));
    g_assert_cmpstr(f->events->pdata[f->events->len - 1], ==, "2:undefined/removed");
    g_assert_cmpuint(vb_domain_list_count(f->list), ==, 0);
    /* a caller still holding the domain gets NoDomain, not a crash */
    g_assert_false(vb_domain_undefine(f->list, dom, 0, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN);
}

static void
test_load_skips_bad(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainObj) dom = vb_domain_define_xml(f->list, XML("good", U1), &error);
    g_autofree char *bad = vb_paths_domain_config(f->paths, "bad");
    VbDomainList *fresh;

    g_assert_nonnull(dom);
    g_assert_true(g_file_set_contents(bad, "<domain><name>bad", -1, NULL));
    fresh = vb_domain_list_new(f->paths, &f->config, path_func, NULL, NULL);
    g_ptr_array_set_size(logged, 0);
    g_assert_cmpuint(vb_domain_list_load_configs(fresh), ==, 1);
    g_assert_cmpuint(logged->len, ==, 1);
    g_assert_nonnull(strstr(logged->pdata[0], "bad.xml"));
    g_assert_nonnull(strstr(logged->pdata[0], "line 1"));
    vb_domain_list_free(fresh);
}

typedef struct {
    VbDomainList *list;
    VbDomainObj *dom;
    gint done;
} TeardownRun;

static gpointer
teardown_thread(gpointer data)
{
    TeardownRun *t = data;

    vb_domain_teardown(t->list, t->dom, VB_DOMAIN_REASON_DESTROYED);
    g_atomic_int_set(&t->done, 1);
    return NULL;
}

/*
 * The lock order (docs/threads.md): list lock, then a domain's lock. A
 * domain that stops while a DefineXML holds the list lock and wants the
 * domain's lock (check_conflicts) must not wait for the list lock with
 * its own domain lock held: that deadlocked the whole service when the
 * end of a run released its display port under the domain lock.
 */
static void
test_teardown_lock_order(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainObj) dom = vb_domain_define_xml(f->list, XML("vm1", U1), &error);
    TeardownRun t = { f->list, dom, 0 };
    GThread *thread;
    gint64 deadline;
    gboolean got_domain_lock = FALSE;

    g_assert_no_error(error);
    g_mutex_lock(&dom->lock);
    dom->id = 7;
    dom->display_port = 5999;
    vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_RUNNING, VB_DOMAIN_REASON_BOOTED);
    g_mutex_unlock(&dom->lock);

    g_mutex_lock(&f->list->lock); /* as DefineXML's conflict check does */
    thread = g_thread_new("teardown", teardown_thread, &t);
    /* the teardown finishes although the list lock is held ... */
    deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (!g_atomic_int_get(&t.done) && g_get_monotonic_time() < deadline)
        g_usleep(1000);
    /* ... and the domain's lock is free for the holder of the list lock */
    got_domain_lock = g_mutex_trylock(&dom->lock);
    if (got_domain_lock)
        g_mutex_unlock(&dom->lock);
    g_mutex_unlock(&f->list->lock); /* lets a wrong-order teardown finish */
    g_thread_join(thread);
    g_assert_true(g_atomic_int_get(&t.done));
    g_assert_true(got_domain_lock);
    g_assert_cmpint(dom->id, ==, -1);
    g_assert_cmpint(dom->state, ==, VB_DOMAIN_STATE_SHUTOFF);
    g_assert_cmpstr(f->events->pdata[f->events->len - 1], ==, "1:stopped/destroyed");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    logged = g_ptr_array_new_with_free_func(g_free);
    g_log_set_writer_func(capture_writer, NULL, NULL);
    g_test_add_func("/domain/state-strings-round-trip", test_state_strings);
    g_test_add("/domain/list/define-update-conflict-undefine", Fixture, NULL, setup,
               test_define_undefine, teardown);
    g_test_add("/domain/list/load-skips-corrupt-config", Fixture, NULL, setup,
               test_load_skips_bad, teardown);
    g_test_add("/domain/list/teardown-follows-lock-order", Fixture, NULL, setup,
               test_teardown_lock_order, teardown);
    return g_test_run();
}
