/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "domain-obj.h"
#include "vb-error.h"

/* The job manager alone: no QEMU, no bus (docs/threads.md, "Jobs"). */

static const char *xml = "<domain type='qemu'><name>jobvm</name>"
                         "<uuid>3d0c6c1e-7a55-4b1e-9a53-7c9bd1a0c0f1</uuid>"
                         "<memory unit='MiB'>128</memory><vcpu>1</vcpu>"
                         "<os><type arch='x86_64'>hvm</type></os></domain>";

static VbDomainObj *
new_dom(void)
{
    g_autoptr(GError) error = NULL;
    VbDomainDef *def = vb_domain_def_parse_string(xml, 0, &error);

    g_assert_no_error(error);
    return vb_domain_obj_new(def, "/test/jobvm");
}

typedef struct {
    VbDomainObj *dom;
    VbJobType type;
    gboolean nested;
    guint timeout;
    gboolean ok;
    GError *error;
    gint64 got_at;
} Waiter;

static gpointer
waiter_main(gpointer data)
{
    Waiter *w = data;

    if (w->nested)
        w->ok = vb_domain_job_begin_nested(w->dom, w->timeout, &w->error);
    else
        w->ok = vb_domain_job_begin(w->dom, w->type, "Waiter", ":1.9", w->timeout, 0,
                                    &w->error);
    w->got_at = g_get_monotonic_time();
    if (w->ok)
        vb_domain_job_end(w->dom);
    return NULL;
}

/* Waits until @n callers wait for a job of @dom: the observable state of a
 * waiter that blocks in vb_domain_job_begin*(), not a guess of how long a
 * thread takes to get there. Fails after 10 s. */
static void
wait_for_waiters(VbDomainObj *dom, guint n)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    while (TRUE) {
        guint waiting;

        g_mutex_lock(&dom->lock);
        waiting = dom->job.waiters;
        g_mutex_unlock(&dom->lock);
        if (waiting == n)
            return;
        if (g_get_monotonic_time() > deadline)
            g_error("%u job waiters after 10 s, expected %u", waiting, n);
        g_usleep(1000);
    }
}

static void
test_strings(void)
{
    for (int i = 0; i < VB_JOB_LAST; i++)
        g_assert_cmpint(vb_job_type_from_string(vb_job_type_to_string(i)), ==, i);
    for (int i = 0; i < VB_ASYNC_JOB_LAST; i++)
        g_assert_cmpint(vb_async_job_type_from_string(vb_async_job_type_to_string(i)), ==, i);
    g_assert_cmpint(vb_async_job_type_from_string("bogus"), ==, -1);
}

/* A sync job waits for the holder; the message names the holder and its caller. */
static void
test_sync_timeout_message(void)
{
    g_autoptr(VbDomainObj) dom = new_dom();
    g_autoptr(GError) error = NULL;

    g_assert_true(vb_domain_job_begin(dom, VB_JOB_MODIFY, "Start", ":1.2", 1, 0, NULL));
    g_assert_false(vb_domain_job_begin(dom, VB_JOB_QUERY, "Get", ":1.3", 1, 0, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT);
    g_assert_nonnull(strstr(error->message,
                            "cannot acquire state change lock (held by Start from :1.2)"));
    vb_domain_job_end(dom);
}

/* The async job's mask: query/abort/destroy pass at once; the others are refused at once. */
static void
test_async_mask(void)
{
    g_autoptr(VbDomainObj) dom = new_dom();
    g_autoptr(GError) error = NULL;
    const VbJobType allowed[] = { VB_JOB_QUERY, VB_JOB_ABORT, VB_JOB_DESTROY };
    gint64 t0;

    g_assert_true(vb_domain_async_job_begin(dom, VB_ASYNC_JOB_SAVE, "Save", ":1.5", 1, 0, NULL));
    for (guint i = 0; i < G_N_ELEMENTS(allowed); i++) {
        g_assert_true(vb_domain_job_begin(dom, allowed[i], "X", NULL, 1, 0, NULL));
        vb_domain_job_end(dom);
    }
    t0 = g_get_monotonic_time();
    g_assert_false(vb_domain_job_begin(dom, VB_JOB_SUSPEND, "Suspend", NULL, 30, 0, &error));
    g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_STATE);
    g_assert_nonnull(strstr(error->message, "async job save: Save from :1.5"));
    g_clear_error(&error);
    /* an event handler is not held back by the async job */
    g_assert_true(vb_domain_job_begin_event(dom, "QEMU event STOP", 1, NULL));
    vb_domain_job_end(dom);
    /* a second async job is refused at once (no waiting for minutes), naming the first */
    t0 = g_get_monotonic_time();
    g_assert_false(vb_domain_async_job_begin(dom, VB_ASYNC_JOB_DUMP, "CoreDump", ":1.6", 30, 0,
                                             &error));
    g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC);
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_STATE);
    g_assert_nonnull(strstr(error->message, "async job save: Save from :1.5"));
    vb_domain_async_job_end(dom);
    /* migrations also allow suspend and migration-op */
    g_assert_cmpuint(vb_async_job_default_mask(VB_ASYNC_JOB_MIGRATION_OUT) &
                         VB_JOB_MASK(VB_JOB_SUSPEND), !=, 0);
    g_assert_cmpuint(vb_async_job_default_mask(VB_ASYNC_JOB_SAVE) &
                         VB_JOB_MASK(VB_JOB_MODIFY), ==, 0);
}

/* The nested job blocks other sync jobs; a waiter gets the job when it ends. */
static void
test_nested_and_threads(void)
{
    g_autoptr(VbDomainObj) dom = new_dom();
    Waiter w = { dom, VB_JOB_QUERY, FALSE, 10 };
    GThread *t;
    gint64 ended;
    VbDomainControlInfo info;

    g_assert_true(vb_domain_async_job_begin(dom, VB_ASYNC_JOB_SAVE, "Save", ":1.5", 1, 0, NULL));
    g_assert_true(vb_domain_job_begin_nested(dom, 1, NULL));
    vb_domain_get_control_info(dom, &info);
    g_assert_nonnull(strstr(info.job, "async-nested"));
    g_assert_cmpstr(info.owner, ==, ":1.5");
    g_assert_cmpstr(info.async_owner, ==, ":1.5");
    vb_domain_control_info_clear(&info);
    t = g_thread_new("waiter", waiter_main, &w);
    wait_for_waiters(dom, 1);
    g_assert_cmpint(w.got_at, ==, 0);
    ended = g_get_monotonic_time();
    vb_domain_job_end(dom);
    g_thread_join(t);
    g_assert_true(w.ok);
    g_assert_cmpint(w.got_at, >=, ended);
    vb_domain_async_job_end(dom);
}

/* max_queued refuses at once with Busy. */
static void
test_max_queued(void)
{
    g_autoptr(VbDomainObj) dom = new_dom();
    g_autoptr(GError) error = NULL;
    Waiter w = { dom, VB_JOB_QUERY, FALSE, 10 };
    GThread *t;
    gint64 t0;

    g_assert_true(vb_domain_job_begin(dom, VB_JOB_MODIFY, "Start", ":1.2", 1, 0, NULL));
    t = g_thread_new("waiter", waiter_main, &w);
    wait_for_waiters(dom, 1);
    t0 = g_get_monotonic_time();
    g_assert_false(vb_domain_job_begin(dom, VB_JOB_QUERY, "Get", NULL, 10, 1, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_BUSY);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, G_USEC_PER_SEC);
    vb_domain_job_end(dom);
    g_thread_join(t);
    g_assert_true(w.ok);
}

/* A waiter of a domain that goes away fails with NoDomain. */
static void
test_removed(void)
{
    g_autoptr(VbDomainObj) dom = new_dom();
    Waiter w = { dom, VB_JOB_MODIFY, FALSE, 10 };
    GThread *t;

    /* held by a sync job: the waiter waits (a long job would refuse it at once) */
    g_assert_true(vb_domain_job_begin(dom, VB_JOB_QUERY, "Get", NULL, 1, 0, NULL));
    t = g_thread_new("waiter", waiter_main, &w);
    wait_for_waiters(dom, 1);
    g_mutex_lock(&dom->lock);
    dom->removed = TRUE;
    g_cond_broadcast(&dom->job.cond);
    g_mutex_unlock(&dom->lock);
    g_thread_join(t);
    g_assert_false(w.ok);
    g_assert_error(w.error, VB_ERROR, VB_ERROR_NO_DOMAIN);
    g_clear_error(&w.error);
    vb_domain_job_end(dom);
}

/* The record: completion, stats, "last" after the async job ends. */
static void
test_record(void)
{
    g_autoptr(VbDomainObj) dom = new_dom();
    g_autoptr(VbJob) job = NULL;
    g_autoptr(VbJob) job2 = NULL;
    g_autoptr(GVariant) stats = NULL;
    VbJobInfo info = { 0 };
    const char *type;

    g_assert_true(vb_domain_async_job_begin(dom, VB_ASYNC_JOB_SAVE, "Save", NULL, 1, 0, NULL));
    job = vb_job_new(dom, VB_ASYNC_JOB_SAVE, "save", NULL);
    job2 = vb_job_new(dom, VB_ASYNC_JOB_SAVE, "save", NULL);
    g_assert_cmpuint(vb_job_get_id(job2), >, vb_job_get_id(job));
    dom->job.record = vb_job_ref(job);
    vb_job_set_progress(job, 1000, 250, 750, NULL);
    vb_job_get_info(job, &info);
    g_assert_cmpfloat(info.progress, ==, 0.25);
    g_assert_cmpstr(info.phase, ==, "queued");
    vb_job_info_clear(&info);
    vb_job_complete(job, NULL, NULL, FALSE);
    vb_domain_async_job_end(dom);
    g_assert_true(dom->job.last == job);
    stats = vb_job_stats(job, TRUE);
    g_assert_true(g_variant_lookup(stats, "type", "&s", &type));
    g_assert_cmpstr(type, ==, "completed");
    vb_job_get_info(job, &info);
    g_assert_cmpfloat(info.progress, ==, 1.0);
    g_assert_cmpuint(info.data_remaining, ==, 0);
    g_assert_nonnull(info.result);
    vb_job_info_clear(&info);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/domain/job/strings", test_strings);
    g_test_add_func("/domain/job/timeout-names-holder", test_sync_timeout_message);
    g_test_add_func("/domain/job/async-mask", test_async_mask);
    g_test_add_func("/domain/job/nested-blocks-sync-waiters", test_nested_and_threads);
    g_test_add_func("/domain/job/max-queued-busy", test_max_queued);
    g_test_add_func("/domain/job/removed-domain-nodomain", test_removed);
    g_test_add_func("/domain/job/record", test_record);
    return g_test_run();
}
