/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "vb-error.h"
#include "vbctl-migrate-priv.h"

/*
 * Following a migration job: progress from the Job's PropertiesChanged
 * (plus Domain.GetJobStats, asked for after a change, for the rate, the
 * expected downtime and the iteration), --timeout, --postcopy-after-precopy
 * and Ctrl-C. Nothing is polled: every call is a reaction to a change, a
 * timer the user asked for, or an interrupt.
 */

#define CALL_TIMEOUT_MS (5 * 60 * 1000)
/* GetJobStats at most this often (the service refreshes its cache every 500 ms) */
#define STATS_INTERVAL_US (G_USEC_PER_SEC * 4 / 10)
/* At most one progress line a second without a TTY. */
#define LINE_INTERVAL_US (1 * G_USEC_PER_SEC)
#define BAR_WIDTH 20
#define MIB (1024.0 * 1024.0)

static const char *const final_phases[] = {"completed", "failed", "cancelled", NULL};

struct _VbctlMigrateFollow {
    VbctlMigrateRun *run;
    VbDBusDomain *domain; /* the source */
    VbDBusJob *job;
    GCancellable *cancellable; /* of Wait and GetJobStats */
    gboolean show;
    gboolean tty;
    gboolean bar_drawn;
    gboolean done; /* Wait answered */
    guint pending; /* Cancel, Suspend, MigrateStartPostCopy in flight */
    gboolean stats_pending;
    gint64 stats_at_us;
    GVariant *stats; /* the last GetJobStats answer, or NULL */
    gboolean cancel_sent;
    gboolean postcopy_sent;
    guint timeout_id;
    GVariant *result;
    GError *error;
    char *last_phase;
    gint64 last_line_us;
    guint64 last_processed;
};

/**
 * vbctl_migrate_strip_remote:
 *
 * Removes the "GDBus.Error:NAME: " prefix of a D-Bus error's message, so
 * that a message prefixed later still reads well. The error keeps its
 * domain and code (the client maps org.virtbus.Virt1.Error.* to VB_ERROR).
 */
void
vbctl_migrate_strip_remote(GError *error)
{
    if (error != NULL && g_dbus_error_is_remote_error(error))
        g_dbus_error_strip_remote_error(error);
}

static void
clear_bar(VbctlMigrateFollow *f)
{
    if (f != NULL && f->bar_drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
        f->bar_drawn = FALSE;
    }
}

/* An unsigned statistic of the last GetJobStats answer. */
static gboolean
stat_u64(VbctlMigrateFollow *f, const char *key, guint64 *out_value)
{
    g_autoptr(GVariant) v = NULL;

    if (f->stats == NULL || (v = g_variant_lookup_value(f->stats, key, NULL)) == NULL)
        return FALSE;
    if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64))
        *out_value = g_variant_get_uint64(v);
    else if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
        *out_value = g_variant_get_uint32(v);
    else if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT64) && g_variant_get_int64(v) >= 0)
        *out_value = (guint64)g_variant_get_int64(v);
    else if (g_variant_is_of_type(v, G_VARIANT_TYPE_INT32) && g_variant_get_int32(v) >= 0)
        *out_value = (guint64)g_variant_get_int32(v);
    else
        return FALSE;
    return TRUE;
}

/* Whether the last statistics are those of a running job (their downtime is the expected one). */
static gboolean
stats_running(VbctlMigrateFollow *f)
{
    const char *type = NULL;

    return f->stats != NULL && g_variant_lookup(f->stats, "type", "&s", &type) &&
           g_str_equal(type, "unbounded");
}

/* "45% 57.6/128.0 MiB, 12.3 MiB/s, 70.4 MiB left, ETA 0:05, downtime ~300 ms" */
static char *
progress_numbers(VbctlMigrateFollow *f)
{
    VbDBusJob *job = f->job;
    guint64 total = vb_dbus_job_get_data_total(job), done = vb_dbus_job_get_data_processed(job);
    guint64 left = vb_dbus_job_get_data_remaining(job);
    guint64 elapsed = vb_dbus_job_get_time_elapsed(job), bps = 0, downtime = 0;
    double progress = CLAMP(vb_dbus_job_get_progress(job), 0.0, 1.0), rate = 0.0;
    GString *s = g_string_new(NULL);

    if (progress == 0.0 && total > 0)
        progress = CLAMP((double)done / (double)total, 0.0, 1.0);
    if (stats_running(f) && stat_u64(f, "memory_bps", &bps) && bps > 0)
        rate = bps / MIB;
    else if (elapsed > 0)
        rate = (done / MIB) / (elapsed / 1000.0);
    if (total == 0 && done == 0)
        return g_string_free(s, FALSE);
    g_string_append_printf(s, _("%3.0f%% %.1f/%.1f MiB, %.1f MiB/s, %.1f MiB left"),
                           progress * 100.0, done / MIB, total / MIB, rate, left / MIB);
    if (rate > 0.0) {
        guint64 secs = (guint64)((left / MIB) / rate + 0.5);

        g_string_append_printf(s, _(", ETA %" G_GUINT64_FORMAT ":%02u"), secs / 60,
                               (guint)(secs % 60));
    }
    if (stats_running(f) && stat_u64(f, "downtime", &downtime))
        g_string_append_printf(s, _(", downtime ~%" G_GUINT64_FORMAT " ms"), downtime);
    return g_string_free(s, FALSE);
}

static void
progress_update(VbctlMigrateFollow *f)
{
    const char *phase = vb_dbus_job_get_phase(f->job) ?: "";
    g_autofree char *numbers = NULL;
    gint64 now = g_get_monotonic_time();

    if (!f->show || f->done)
        return;
    numbers = progress_numbers(f);
    if (f->tty) {
        double progress = CLAMP(vb_dbus_job_get_progress(f->job), 0.0, 1.0);
        guint filled = (guint)(progress * BAR_WIDTH + 0.5);
        char bar[BAR_WIDTH + 1];

        for (guint i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < filled ? '#' : '-';
        bar[BAR_WIDTH] = '\0';
        fprintf(stderr, "\r\033[K%s: %-8s [%s] %s", _("migration"), phase, bar, numbers);
        fflush(stderr);
        f->bar_drawn = TRUE;
        return;
    }
    /* the end is told by progress_finish() or the error */
    if (g_strv_contains(final_phases, phase))
        return;
    /* a line when the phase changes, else at most one a second while data moves */
    if (g_strcmp0(f->last_phase, phase) == 0 &&
        (vb_dbus_job_get_data_processed(f->job) == f->last_processed ||
         now - f->last_line_us < LINE_INTERVAL_US))
        return;
    fprintf(stderr, "%s: %s%s%s\n", _("migration"), phase, *numbers != '\0' ? " " : "", numbers);
    fflush(stderr);
    g_free(f->last_phase);
    f->last_phase = g_strdup(phase);
    f->last_line_us = now;
    f->last_processed = vb_dbus_job_get_data_processed(f->job);
}

static void
note(VbctlMigrateFollow *f, const char *message)
{
    clear_bar(f);
    g_printerr("%s\n", message);
}

/* A call made while following, and what it was for (in a warning when it fails). */
typedef struct {
    VbctlMigrateFollow *f;
    const char *what;
} FollowAction;

static void
on_action_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
    FollowAction *a = user_data;
    VbctlMigrateFollow *f = a->f;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) reply = g_dbus_proxy_call_finish(G_DBUS_PROXY(source), res, &error);

    f->pending--;
    if (reply == NULL && !f->done) {
        vbctl_migrate_strip_remote(error);
        clear_bar(f);
        g_printerr(_("warning: %s failed: %s\n"), a->what, error->message);
    }
    g_free(a);
}

/* Calls @method on @proxy without waiting; a failure is a warning naming @what. */
static void
start_action(VbctlMigrateFollow *f, GDBusProxy *proxy, const char *method, GVariant *params,
             const char *what)
{
    FollowAction *a = g_new0(FollowAction, 1);

    a->f = f;
    a->what = what;
    f->pending++;
    g_dbus_proxy_call(proxy, method, params, G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
                      CALL_TIMEOUT_MS, NULL, on_action_done, a);
}

static void
follow_cancel(VbctlMigrateFollow *f)
{
    if (f->cancel_sent || f->done)
        return;
    f->cancel_sent = TRUE;
    start_action(f, G_DBUS_PROXY(f->job), "Cancel", NULL, _("cancelling the migration job"));
}

static void
on_stats_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
    VbctlMigrateFollow *f = user_data;
    g_autoptr(GVariant) reply = g_dbus_proxy_call_finish(G_DBUS_PROXY(source), res, NULL);
    guint64 iteration = 0;

    f->stats_pending = FALSE;
    if (reply == NULL)
        return; /* cancelled at the end, or statistics not readable: the bar goes without */
    g_clear_pointer(&f->stats, g_variant_unref);
    f->stats = g_variant_get_child_value(reply, 0);
    /* libvirt switches when the first pass ends, i.e. when iteration 2 begins */
    if (f->run->ctx->flags.migrate.postcopy_after_precopy && !f->postcopy_sent &&
        stats_running(f) && stat_u64(f, "memory_iteration", &iteration) && iteration >= 2) {
        f->postcopy_sent = TRUE;
        note(f, _("First pass over memory done; switching to post-copy"));
        start_action(f, G_DBUS_PROXY(f->domain), "MigrateStartPostCopy", g_variant_new("(u)", 0u),
                     _("switching to post-copy"));
    }
    progress_update(f);
}

static void
on_job_properties(GDBusProxy *proxy, GVariant *changed, GStrv invalidated, gpointer user_data)
{
    VbctlMigrateFollow *f = user_data;
    gint64 now = g_get_monotonic_time();

    progress_update(f);
    if (f->done || f->stats_pending || now - f->stats_at_us < STATS_INTERVAL_US)
        return;
    if (!f->show && !f->run->ctx->flags.migrate.postcopy_after_precopy)
        return;
    f->stats_pending = TRUE;
    f->stats_at_us = now;
    g_dbus_proxy_call(G_DBUS_PROXY(f->domain), "GetJobStats", g_variant_new("(u)", 0u),
                      G_DBUS_CALL_FLAGS_NONE, -1, f->cancellable, on_stats_done, f);
}

static gboolean
on_timeout(gpointer user_data)
{
    VbctlMigrateFollow *f = user_data;
    const VbctlFlags *flags = &f->run->ctx->flags;
    g_autofree char *msg = NULL;

    f->timeout_id = 0;
    if (f->done)
        return G_SOURCE_REMOVE;
    if (flags->migrate.timeout_postcopy) {
        msg = g_strdup_printf(_("Migration not done after %d s; switching to post-copy"),
                              flags->timeout);
        note(f, msg);
        f->postcopy_sent = TRUE;
        start_action(f, G_DBUS_PROXY(f->domain), "MigrateStartPostCopy", g_variant_new("(u)", 0u),
                     _("switching to post-copy"));
    } else {
        msg = g_strdup_printf(_("Migration not done after %d s; suspending the guest"),
                              flags->timeout);
        note(f, msg);
        start_action(f, G_DBUS_PROXY(f->domain), "Suspend", NULL, _("suspending the guest"));
    }
    return G_SOURCE_REMOVE;
}

static void
on_wait_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
    VbctlMigrateFollow *f = user_data;
    g_autoptr(GVariant) reply = g_dbus_proxy_call_finish(G_DBUS_PROXY(source), res, &f->error);

    if (reply != NULL)
        f->result = g_variant_get_child_value(reply, 0);
    f->done = TRUE;
}

/* The last word on the progress display. */
static void
progress_finish(VbctlMigrateFollow *f)
{
    guint64 total = 0, elapsed = 0, downtime = 0;
    g_autoptr(GString) s = NULL;

    clear_bar(f);
    if (!f->show || f->error != NULL)
        return;
    if (!g_variant_lookup(f->result, "data_total", "t", &total))
        total = MAX(vb_dbus_job_get_data_total(f->job), vb_dbus_job_get_data_processed(f->job));
    if (!g_variant_lookup(f->result, "time_elapsed", "t", &elapsed))
        elapsed = vb_dbus_job_get_time_elapsed(f->job);
    s = g_string_new(NULL);
    g_string_printf(s, _("migration: completed, %.1f MiB in %.1f s"), total / MIB,
                    elapsed / 1000.0);
    if (g_variant_lookup(f->result, "downtime", "t", &downtime))
        g_string_append_printf(s, _(", downtime %" G_GUINT64_FORMAT " ms"), downtime);
    g_printerr("%s\n", s->str);
}

/* The job's error as the command reports it. */
static void
follow_error(VbctlMigrateFollow *f, GError **error)
{
    if (f->run->n_interrupts > 0 && g_error_matches(f->error, VB_ERROR, VB_ERROR_ABORTED)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                    _("migration of domain '%s' cancelled"), f->run->domain_name);
        return;
    }
    vbctl_migrate_strip_remote(f->error);
    g_propagate_error(error, g_steal_pointer(&f->error));
}

static void
follow_loop(VbctlMigrateFollow *f)
{
    const VbctlFlags *flags = &f->run->ctx->flags;
    gulong changed_id;

    changed_id = g_signal_connect(f->job, "g-properties-changed", G_CALLBACK(on_job_properties), f);
    if (flags->timeout > 0)
        f->timeout_id = g_timeout_add_seconds((guint)flags->timeout, on_timeout, f);
    g_dbus_proxy_call(G_DBUS_PROXY(f->job), "Wait", NULL,
                      G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, G_MAXINT, f->cancellable,
                      on_wait_done, f);
    f->run->follow = f;
    /* an interrupt during the call that started the job */
    if (f->run->n_interrupts > 0)
        follow_cancel(f);
    progress_update(f);
    while (!f->done || f->pending > 0)
        g_main_context_iteration(NULL, TRUE);
    f->run->follow = NULL;
    if (f->timeout_id != 0)
        g_source_remove(f->timeout_id);
    g_cancellable_cancel(f->cancellable);
    while (f->stats_pending)
        g_main_context_iteration(NULL, TRUE);
    g_signal_handler_disconnect(f->job, changed_id);
    progress_finish(f);
}

/**
 * vbctl_migrate_follow_job:
 * @source: the source domain (for GetJobStats, Suspend, MigrateStartPostCopy)
 * @job_path: the Job that Migrate or MigratePerform returned
 *
 * Shows the job's progress on stderr (unless --no-progress), acts on
 * --timeout and --postcopy-after-precopy, cancels the job on an interrupt
 * (also one that came before), and returns once the job has ended and every
 * call it made has been answered.
 *
 * Returns: (transfer full): the job's result, or %NULL with @error set
 * (G_IO_ERROR_CANCELLED when cancelled by an interrupt).
 */
GVariant *
vbctl_migrate_follow_job(VbctlMigrateRun *run, VbDBusDomain *source, const char *job_path,
                         GError **error)
{
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    VbctlMigrateFollow f = {0};
    GVariant *result = NULL;

    f.run = run;
    f.domain = source;
    f.cancellable = cancellable;
    f.show = !run->ctx->flags.no_progress;
    f.tty = isatty(STDERR_FILENO);
    f.job = vb_dbus_job_proxy_new_sync(run->ctx->connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                       VBCTL_BUS_NAME, job_path, NULL, error);
    if (f.job == NULL)
        return NULL;
    follow_loop(&f);
    if (f.error != NULL)
        follow_error(&f, error);
    else
        result = g_steal_pointer(&f.result);
    g_clear_object(&f.job);
    g_clear_error(&f.error);
    g_clear_pointer(&f.result, g_variant_unref);
    g_clear_pointer(&f.stats, g_variant_unref);
    g_free(f.last_phase);
    return result;
}

/*
 * The first SIGINT/SIGTERM cancels the job being followed (or, between
 * phases, makes the client-driven migration stop after the current call and
 * undo what was done); later ones only say that the clean-up is going on.
 */
static gboolean
on_interrupt(gpointer user_data)
{
    VbctlMigrateRun *run = user_data;

    run->n_interrupts++;
    clear_bar(run->follow);
    if (run->n_interrupts > 1) {
        g_printerr(_("Still cancelling; waiting for the migration to be undone...\n"));
        return G_SOURCE_CONTINUE;
    }
    g_printerr(_("Cancelling the migration...\n"));
    if (run->follow != NULL)
        follow_cancel(run->follow);
    return G_SOURCE_CONTINUE;
}

/**
 * vbctl_migrate_run_init:
 *
 * Starts catching SIGINT and SIGTERM for the whole migration.
 */
void
vbctl_migrate_run_init(VbctlMigrateRun *run, VbctlContext *ctx, const char *domain_name)
{
    run->ctx = ctx;
    run->domain_name = domain_name;
    run->signal_ids[0] = g_unix_signal_add(SIGINT, on_interrupt, run);
    run->signal_ids[1] = g_unix_signal_add(SIGTERM, on_interrupt, run);
}

void
vbctl_migrate_run_clear(VbctlMigrateRun *run)
{
    for (guint i = 0; i < G_N_ELEMENTS(run->signal_ids); i++) {
        if (run->signal_ids[i] != 0)
            g_source_remove(run->signal_ids[i]);
        run->signal_ids[i] = 0;
    }
}

/**
 * vbctl_migrate_run_interrupted:
 *
 * Dispatches an interrupt that came during a synchronous call.
 *
 * Returns: whether the user interrupted the migration.
 */
gboolean
vbctl_migrate_run_interrupted(VbctlMigrateRun *run)
{
    while (g_main_context_iteration(NULL, FALSE))
        ;
    return run->n_interrupts > 0;
}
