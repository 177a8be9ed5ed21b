/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "vbctl.h"

/* A polkit dialog may take the user a while; do not time out under them. */
#define JOB_CALL_TIMEOUT_MS (5 * 60 * 1000)
/* How often the properties are polled when no PropertiesChanged came for JOB_POLL_AFTER_US. */
#define JOB_TICK_MS 500
#define JOB_POLL_AFTER_US (G_USEC_PER_SEC / 2)
/* At most one progress line a second without a TTY. */
#define JOB_LINE_INTERVAL_US (1 * G_USEC_PER_SEC)
#define JOB_BAR_WIDTH 24
#define MIB (1024.0 * 1024.0)

static const char *const final_phases[] = {"completed", "failed", "cancelled", NULL};

typedef struct {
    VbDBusJob *job;
    GCancellable *cancellable; /* of the Wait and Cancel calls */
    gboolean show;             /* print progress at all */
    gboolean tty;              /* stderr is a terminal: one redrawn bar */
    gboolean bar_drawn;
    gboolean done;           /* Wait answered */
    gboolean cancel_pending; /* a Cancel call is in flight */
    gboolean poll_pending;   /* a GetAll call is in flight */
    gint64 last_changed_us;  /* of the last PropertiesChanged */
    guint n_interrupts;
    GVariant *result;
    GError *error;
    char *last_phase;
    gint64 last_line_us;
    guint64 last_processed;
    /* vbctl_run_job_until_ready(): */
    gboolean until_ready;    /* stop at phase "ready", or act on it */
    gboolean ready_seen;
    VbctlJobReadyFunc ready; /* NULL: leave the ready job running */
    gpointer ready_data;
    VbctlContext *ctx;
} JobFollow;

/* Snapshot of the job's progress properties. */
typedef struct {
    const char *operation;
    const char *phase;
    double progress;
    guint64 total, processed, remaining, elapsed_ms;
} JobProgress;

static void
progress_read(JobFollow *f, JobProgress *p)
{
    p->operation = vb_dbus_job_get_operation(f->job) ?: "job";
    p->phase = vb_dbus_job_get_phase(f->job) ?: "";
    p->progress = CLAMP(vb_dbus_job_get_progress(f->job), 0.0, 1.0);
    p->total = vb_dbus_job_get_data_total(f->job);
    p->processed = vb_dbus_job_get_data_processed(f->job);
    p->remaining = vb_dbus_job_get_data_remaining(f->job);
    p->elapsed_ms = vb_dbus_job_get_time_elapsed(f->job);
    if (p->progress == 0.0 && p->total > 0)
        p->progress = CLAMP((double)p->processed / (double)p->total, 0.0, 1.0);
}

/* Average rate in MiB/s, 0 while unknown. */
static double
progress_rate(const JobProgress *p)
{
    if (p->elapsed_ms == 0)
        return 0.0;
    return (p->processed / MIB) / (p->elapsed_ms / 1000.0);
}

/* "1:05" style estimate of the time left, "-" while unknown. */
static char *
progress_eta(const JobProgress *p)
{
    double rate = progress_rate(p);
    guint64 secs;

    if (rate <= 0.0 || p->total == 0)
        return g_strdup("-");
    secs = (guint64)((p->remaining / MIB) / rate + 0.5);
    return g_strdup_printf("%" G_GUINT64_FORMAT ":%02u", secs / 60, (guint)(secs % 60));
}

/* "45% (57.6/128.0 MiB, 210.3 MiB/s, ETA 0:01)", or "" before data moves. */
static char *
progress_numbers(const JobProgress *p)
{
    g_autofree char *eta = progress_eta(p);

    if (p->total == 0 && p->processed == 0)
        return g_strdup("");
    return g_strdup_printf(_("%3.0f%% (%.1f/%.1f MiB, %.1f MiB/s, ETA %s)"), p->progress * 100.0,
                           p->processed / MIB, p->total / MIB, progress_rate(p), eta);
}

static void
draw_bar(JobFollow *f, const JobProgress *p)
{
    g_autofree char *numbers = progress_numbers(p);
    char bar[JOB_BAR_WIDTH + 1];
    guint filled = (guint)(p->progress * JOB_BAR_WIDTH + 0.5);

    for (guint i = 0; i < JOB_BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '-';
    bar[JOB_BAR_WIDTH] = '\0';
    fprintf(stderr, "\r\033[K%s: %-9s [%s] %s", p->operation, p->phase, bar, numbers);
    fflush(stderr);
    f->bar_drawn = TRUE;
}

/* Without a TTY: a line when the phase changes, else at most one a second while data moves. */
static void
print_line(JobFollow *f, const JobProgress *p)
{
    gint64 now = g_get_monotonic_time();
    gboolean phase_changed = g_strcmp0(f->last_phase, p->phase) != 0;
    g_autofree char *numbers = NULL;

    if (!phase_changed &&
        (p->processed == f->last_processed || now - f->last_line_us < JOB_LINE_INTERVAL_US))
        return;
    /* the end is reported by progress_finish(), with the job's result */
    if (g_strv_contains(final_phases, p->phase))
        return;
    numbers = progress_numbers(p);
    fprintf(stderr, "%s: %s%s%s\n", p->operation, p->phase, *numbers != '\0' ? " " : "", numbers);
    fflush(stderr);
    g_free(f->last_phase);
    f->last_phase = g_strdup(p->phase);
    f->last_line_us = now;
    f->last_processed = p->processed;
}

static void
progress_update(JobFollow *f)
{
    JobProgress p;

    if (!f->show || f->done)
        return;
    progress_read(f, &p);
    if (f->tty)
        draw_bar(f, &p);
    else
        print_line(f, &p);
}

/* The last word on the progress display once Wait has answered. */
static void
progress_finish(JobFollow *f)
{
    JobProgress p;
    guint64 total = 0, elapsed = 0;

    if (!f->show)
        return;
    if (f->error != NULL) {
        if (f->bar_drawn)
            fprintf(stderr, "\r\033[K");
        fflush(stderr);
        return;
    }
    progress_read(f, &p);
    if (!g_variant_lookup(f->result, "data_total", "t", &total))
        total = MAX(p.total, p.processed);
    if (!g_variant_lookup(f->result, "time_elapsed", "t", &elapsed))
        elapsed = p.elapsed_ms;
    if (f->tty)
        fprintf(stderr, "\r\033[K");
    fprintf(stderr, _("%s: completed, %.1f MiB in %.1f s\n"), p.operation, total / MIB,
            elapsed / 1000.0);
    fflush(stderr);
}

static void
check_ready(JobFollow *f)
{
    if (f->until_ready && !f->done &&
        g_strcmp0(vb_dbus_job_get_phase(f->job), "ready") == 0)
        f->ready_seen = TRUE;
}

static void
on_job_properties(GDBusProxy *proxy, GVariant *changed, GStrv invalidated, gpointer user_data)
{
    JobFollow *f = user_data;

    f->last_changed_us = g_get_monotonic_time();
    check_ready(f);
    progress_update(f);
}

static void
on_poll_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
    JobFollow *f = user_data;
    g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, NULL);
    g_autoptr(GVariant) props = NULL;
    GVariantIter iter;
    const char *name;
    GVariant *value;

    f->poll_pending = FALSE;
    if (reply == NULL)
        return;
    props = g_variant_get_child_value(reply, 0);
    g_variant_iter_init(&iter, props);
    while (g_variant_iter_next(&iter, "{&sv}", &name, &value)) {
        g_dbus_proxy_set_cached_property(G_DBUS_PROXY(f->job), name, value);
        g_variant_unref(value);
    }
    check_ready(f);
    progress_update(f);
}

/*
 * The service announces progress with PropertiesChanged; when none came for a
 * while, ask for the properties, so a missed or late signal does not freeze
 * the display.
 */
static gboolean
on_tick(gpointer user_data)
{
    JobFollow *f = user_data;
    GDBusProxy *proxy = G_DBUS_PROXY(f->job);

    if (f->done || f->poll_pending ||
        g_get_monotonic_time() - f->last_changed_us < JOB_POLL_AFTER_US)
        return G_SOURCE_CONTINUE;
    f->poll_pending = TRUE;
    g_dbus_connection_call(g_dbus_proxy_get_connection(proxy), g_dbus_proxy_get_name(proxy),
                           g_dbus_proxy_get_object_path(proxy), "org.freedesktop.DBus.Properties",
                           "GetAll", g_variant_new("(s)", g_dbus_proxy_get_interface_name(proxy)),
                           G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, -1, f->cancellable,
                           on_poll_done, f);
    return G_SOURCE_CONTINUE;
}

static void
on_wait_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
    JobFollow *f = user_data;
    g_autoptr(GVariant) reply = g_dbus_proxy_call_finish(G_DBUS_PROXY(source), res, &f->error);

    if (reply != NULL)
        f->result = g_variant_get_child_value(reply, 0);
    f->done = TRUE;
}

static void
on_cancel_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
    JobFollow *f = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) reply = g_dbus_proxy_call_finish(G_DBUS_PROXY(source), res, &error);

    f->cancel_pending = FALSE;
    if (reply != NULL || g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
    if (g_dbus_error_is_remote_error(error))
        g_dbus_error_strip_remote_error(error);
    if (f->bar_drawn)
        fprintf(stderr, "\n");
    g_printerr(_("warning: cannot cancel the job: %s\n"), error->message);
}

/*
 * The first SIGINT/SIGTERM asks the service to cancel the job and keeps
 * waiting for its end; a second one stops waiting (the job goes on).
 */
static gboolean
on_interrupt(gpointer user_data)
{
    JobFollow *f = user_data;

    f->n_interrupts++;
    if (f->n_interrupts > 1) {
        g_cancellable_cancel(f->cancellable);
        return G_SOURCE_CONTINUE;
    }
    if (f->bar_drawn)
        fprintf(stderr, "\n");
    g_printerr(_("Cancelling the job (interrupt again to stop waiting)...\n"));
    f->cancel_pending = TRUE;
    g_dbus_proxy_call(G_DBUS_PROXY(f->job), "Cancel", NULL,
                      G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, JOB_CALL_TIMEOUT_MS,
                      f->cancellable, on_cancel_done, f);
    return G_SOURCE_CONTINUE;
}

/* Turns the job's error into what the command reports. */
static void
job_error_propagate(JobFollow *f, GError **error)
{
    g_autofree char *remote = g_dbus_error_get_remote_error(f->error);

    if (f->n_interrupts > 0 && g_strcmp0(remote, "org.virtbus.Virt1.Error.Aborted") == 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("cancelled"));
        return;
    }
    if (g_error_matches(f->error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                    _("interrupted; the job %s may still run"),
                    g_dbus_proxy_get_object_path(G_DBUS_PROXY(f->job)));
        return;
    }
    g_propagate_error(error, g_steal_pointer(&f->error));
}

/*
 * Shows the progress of @f's job until Wait answers, and waits for a Cancel in flight.
 * With until_ready, at phase "ready" runs f->ready (and goes on until the end) or, without
 * one, stops waiting: the job goes on, and the result is {"ready": true}.
 */
static GVariant *
follow_job(JobFollow *f, GError **error)
{
    g_autoptr(GError) ready_error = NULL;
    gboolean ready_handled = FALSE, left_running = FALSE;
    gulong changed_id;
    guint tick_id;

    changed_id = g_signal_connect(f->job, "g-properties-changed", G_CALLBACK(on_job_properties), f);
    f->last_changed_us = g_get_monotonic_time();
    tick_id = g_timeout_add(JOB_TICK_MS, on_tick, f);
    g_dbus_proxy_call(G_DBUS_PROXY(f->job), "Wait", NULL,
                      G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, G_MAXINT, f->cancellable,
                      on_wait_done, f);
    check_ready(f);
    progress_update(f);
    /* also for a pending SIGINT that arrived during the method call */
    while (!f->done || f->cancel_pending) {
        if (f->ready_seen && !ready_handled && f->n_interrupts == 0) {
            ready_handled = TRUE;
            if (f->ready == NULL || !f->ready(f->ctx, f->ready_data, &ready_error)) {
                left_running = TRUE;
                break;
            }
        }
        g_main_context_iteration(NULL, TRUE);
    }
    g_source_remove(tick_id);
    g_cancellable_cancel(f->cancellable);
    while (f->poll_pending || !f->done)
        g_main_context_iteration(NULL, TRUE);
    g_signal_handler_disconnect(f->job, changed_id);
    if (left_running) {
        /* the job goes on; Wait was only abandoned */
        g_clear_error(&f->error);
        if (f->bar_drawn)
            fprintf(stderr, "\n");
        if (ready_error != NULL) {
            g_propagate_error(error, g_steal_pointer(&ready_error));
            return NULL;
        }
        return g_variant_ref_sink(g_variant_new_parsed("{'ready': <true>}"));
    }
    progress_finish(f);
    if (f->error != NULL) {
        job_error_propagate(f, error);
        return NULL;
    }
    return g_steal_pointer(&f->result);
}

static GVariant *
run_job(VbctlContext *ctx, GDBusProxy *proxy, const char *method, GVariant *parameters,
        gboolean until_ready, VbctlJobReadyFunc ready, gpointer ready_data, GError **error);

/**
 * vbctl_run_job:
 * @proxy: a Domain or Manager proxy
 * @method: a method that returns a job path ("(o)")
 * @parameters: (transfer floating): its arguments
 *
 * Calls @method and follows the job it returns: progress on stderr (a bar on
 * a terminal, else lines; none with --no-progress), Ctrl-C cancels the job,
 * and Wait() gives the result.
 *
 * Returns: (transfer full): the job's result dictionary, or %NULL with
 * @error set (G_IO_ERROR_CANCELLED after a cancel).
 */
GVariant *
vbctl_run_job(VbctlContext *ctx, GDBusProxy *proxy, const char *method, GVariant *parameters,
              GError **error)
{
    return run_job(ctx, proxy, method, parameters, FALSE, NULL, NULL, error);
}

/**
 * vbctl_run_job_until_ready:
 * @ready: (nullable): called once the job's phase is "ready" (a block copy or an active
 *   commit keeping the copy in sync): typically BlockJobAbort, with or without PIVOT,
 *   then the job is followed to its end; %NULL to stop waiting at "ready"
 *
 * As vbctl_run_job(), for a job that waits in phase "ready" for a decision.
 *
 * Returns: (transfer full): the job's result, {"ready": true} when @ready is %NULL and the
 *   job is ready, or %NULL with @error set.
 */
GVariant *
vbctl_run_job_until_ready(VbctlContext *ctx, GDBusProxy *proxy, const char *method,
                          GVariant *parameters, VbctlJobReadyFunc ready, gpointer ready_data,
                          GError **error)
{
    return run_job(ctx, proxy, method, parameters, TRUE, ready, ready_data, error);
}

static GVariant *
run_job(VbctlContext *ctx, GDBusProxy *proxy, const char *method, GVariant *parameters,
        gboolean until_ready, VbctlJobReadyFunc ready, gpointer ready_data, GError **error)
{
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GCancellable) cancellable = g_cancellable_new();
    JobFollow f = {0};
    GVariant *result = NULL;
    const char *path;
    guint sig[2];

    /* installed first so that an interrupt during the call cancels the job */
    sig[0] = g_unix_signal_add(SIGINT, on_interrupt, &f);
    sig[1] = g_unix_signal_add(SIGTERM, on_interrupt, &f);
    reply = vbctl_call_mutating(proxy, method, parameters, G_VARIANT_TYPE("(o)"), error);
    if (reply != NULL) {
        g_variant_get(reply, "(&o)", &path);
        f.job = vb_dbus_job_proxy_new_sync(ctx->connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                           VBCTL_BUS_NAME, path, NULL, error);
    }
    if (f.job != NULL) {
        f.cancellable = cancellable;
        f.until_ready = until_ready;
        f.ready = ready;
        f.ready_data = ready_data;
        f.ctx = ctx;
        f.show = !ctx->flags.no_progress;
        f.tty = isatty(STDERR_FILENO);
        result = follow_job(&f, error);
    }
    for (guint i = 0; i < G_N_ELEMENTS(sig); i++)
        g_source_remove(sig[i]);
    g_clear_object(&f.job);
    g_clear_error(&f.error);
    g_clear_pointer(&f.result, g_variant_unref);
    g_free(f.last_phase);
    return result;
}
