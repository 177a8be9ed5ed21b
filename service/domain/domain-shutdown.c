/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's shutdown (issue 14, part cgroup; docs/resources.md "Host shutdown"): while at
 * least one domain runs, the system service holds a logind "delay" inhibitor for
 * "shutdown" (who "virtbus", why "N running domains"). On PrepareForShutdown(true) the
 * on_host_shutdown setting decides: shutdown (ACPI power-off of every running domain,
 * destroyed after shutdown_timeout seconds), managedsave, or none; then the inhibitor is
 * released and the host goes on. Without logind on the bus: nothing (one debug line).
 *
 * Threads: the inhibitor is taken and dropped on the main context (asynchronous calls);
 * vb_domain_host_shutdown_update() may be called from any thread. The guests are stopped
 * by a thread of its own (vb-hostdown), never on the main thread.
 */
#include "config.h"

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <unistd.h>

#include "domain-list-priv.h"
#include "domain-shutdown.h"
#include "vb-error.h"

#define LOGIN1 "org.freedesktop.login1"
#define LOGIN1_PATH "/org/freedesktop/login1"
#define LOGIN1_MANAGER "org.freedesktop.login1.Manager"

typedef struct {
    VbDomainList *list;
    GDBusConnection *bus;
    guint signal_id;
    int fd;             /* the inhibitor, -1 when none; main context only */
    guint held_for;     /* the N of the held inhibitor */
    gboolean pending;   /* an Inhibit call runs */
    gboolean stopping;  /* PrepareForShutdown(true) seen: keep it until the guests stopped */
    gboolean dead;      /* the service ended while an Inhibit call ran: its reply frees it */
    GSourceFunc exit_cb; /* SIGTERM came while the guests stop: called when they did */
    gpointer exit_data;
} HostShutdown;

static HostShutdown *state; /* set and cleared on the main thread */
G_LOCK_DEFINE_STATIC(state);

static void update_on_main(HostShutdown *hs);

static void
release(HostShutdown *hs)
{
    if (hs->fd >= 0) {
        close(hs->fd);
        hs->fd = -1;
        hs->held_for = 0;
        g_debug("logind shutdown inhibitor released");
    }
}

static guint
running_count(VbDomainList *list)
{
    g_autoptr(GPtrArray) active = vb_domain_list_collect_loaded(list, VB_LIST_ACTIVE);

    return active->len;
}

static void
on_inhibit(GObject *source, GAsyncResult *res, gpointer user_data)
{
    HostShutdown *hs = user_data;
    g_autoptr(GUnixFDList) fds = NULL;
    g_autoptr(GVariant) r = NULL;
    g_autoptr(GError) error = NULL;
    guint n = hs->held_for;
    int fd;

    r = g_dbus_connection_call_with_unix_fd_list_finish(G_DBUS_CONNECTION(source), &fds, res,
                                                         &error);
    hs->pending = FALSE;
    if (hs->dead) {
        /* the descriptor in @fds closes with it */
        g_object_unref(hs->bus);
        g_free(hs);
        return;
    }
    if (r == NULL || fds == NULL) {
        g_warning("cannot take logind's shutdown inhibitor: %s",
                  error != NULL ? error->message : "no descriptor");
        return;
    }
    fd = g_unix_fd_list_get(fds, 0, NULL);
    release(hs);
    hs->fd = fd;
    hs->held_for = n;
    g_debug("logind shutdown inhibitor taken (%u running domains)", n);
    update_on_main(hs);
}

static void
update_on_main(HostShutdown *hs)
{
    guint n;
    g_autofree char *why = NULL;

    if (hs->pending || hs->stopping)
        return;
    n = running_count(hs->list);
    if (n == 0) {
        release(hs);
        return;
    }
    if (hs->fd >= 0 && hs->held_for == n)
        return;
    why = g_strdup_printf("%u running domain%s", n, n == 1 ? "" : "s");
    hs->pending = TRUE;
    hs->held_for = n;
    g_dbus_connection_call_with_unix_fd_list(
        hs->bus, LOGIN1, LOGIN1_PATH, LOGIN1_MANAGER, "Inhibit",
        g_variant_new("(ssss)", "shutdown", "virtbus", why, "delay"), G_VARIANT_TYPE("(h)"),
        G_DBUS_CALL_FLAGS_NONE, 10000, NULL, NULL, on_inhibit, hs);
}

static gboolean
update_idle(gpointer data)
{
    (void)data;
    G_LOCK(state);
    if (state != NULL)
        update_on_main(state);
    G_UNLOCK(state);
    return G_SOURCE_REMOVE;
}

/**
 * vb_domain_host_shutdown_update:
 *
 * A domain started or stopped: the inhibitor follows the number of running domains. Any
 * thread; the work is queued to the main context.
 */
void
vb_domain_host_shutdown_update(void)
{
    gboolean on;

    G_LOCK(state);
    on = state != NULL;
    G_UNLOCK(state);
    if (on)
        g_idle_add(update_idle, NULL);
}

static gboolean
wait_inactive(GPtrArray *doms, gint64 deadline)
{
    while (g_get_monotonic_time() < deadline) {
        gboolean any = FALSE;

        for (guint i = 0; i < doms->len; i++)
            any = any || vb_domain_obj_is_active(g_ptr_array_index(doms, i));
        if (!any)
            return TRUE;
        g_usleep(200000);
    }
    return FALSE;
}

static gboolean
release_idle(gpointer data)
{
    GSourceFunc exit_cb = NULL;
    gpointer exit_data = NULL;

    (void)data;
    G_LOCK(state);
    if (state != NULL) {
        state->stopping = FALSE;
        release(state);
        exit_cb = g_steal_pointer(&state->exit_cb);
        exit_data = state->exit_data;
    }
    G_UNLOCK(state);
    if (exit_cb != NULL)
        exit_cb(exit_data);
    return G_SOURCE_REMOVE;
}

/* vb-hostdown: stops the guests as on_host_shutdown says, then lets the host go on */
static gpointer
stop_guests(gpointer data)
{
    VbDomainList *list = data;
    g_autoptr(GPtrArray) doms = vb_domain_list_collect_loaded(list, VB_LIST_ACTIVE);
    int action = list->config->on_host_shutdown;
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)list->config->shutdown_timeout * G_USEC_PER_SEC;

    g_message("host shutdown: %s for %u running domains",
              action == VB_HOST_SHUTDOWN_MANAGEDSAVE ? "managed save" : "guest shutdown",
              doms->len);
    for (guint i = 0; i < doms->len; i++) {
        VbDomainObj *dom = g_ptr_array_index(doms, i);
        g_autoptr(GError) err = NULL;
        g_autofree char *name = vb_domain_obj_get_name(dom);

        if (action == VB_HOST_SHUTDOWN_MANAGEDSAVE) {
            g_autoptr(VbJob) job = vb_domain_managed_save(list, dom, 0, NULL, &err);

            if (job == NULL)
                g_warning("host shutdown: managed save of '%s': %s", name, err->message);
        } else if (!vb_domain_shutdown(list, dom, NULL, &err)) {
            g_warning("host shutdown: shutdown of '%s': %s", name, err->message);
        }
    }
    if (!wait_inactive(doms, deadline)) {
        for (guint i = 0; i < doms->len; i++) {
            VbDomainObj *dom = g_ptr_array_index(doms, i);
            g_autoptr(GError) err = NULL;

            if (!vb_domain_obj_is_active(dom))
                continue;
            g_warning("host shutdown: domain still running after %u s: destroying it",
                      list->config->shutdown_timeout);
            if (!vb_domain_destroy(list, dom, 0, NULL, &err))
                g_warning("host shutdown: %s", err->message);
        }
    }
    g_idle_add(release_idle, NULL);
    return NULL;
}

static void
on_prepare_for_shutdown(GDBusConnection *bus, const char *sender, const char *path,
                        const char *iface, const char *signal, GVariant *params,
                        gpointer user_data)
{
    HostShutdown *hs = user_data;
    gboolean start = FALSE;

    (void)bus, (void)sender, (void)path, (void)iface, (void)signal;
    if (!g_variant_is_of_type(params, G_VARIANT_TYPE("(b)")))
        return;
    g_variant_get(params, "(b)", &start);
    if (!start) {
        /* a shutdown that was called off: the inhibitor follows the domains again */
        hs->stopping = FALSE;
        update_on_main(hs);
        return;
    }
    if (hs->list->config->on_host_shutdown <= VB_HOST_SHUTDOWN_NONE || hs->fd < 0) {
        release(hs);
        return;
    }
    hs->stopping = TRUE;
    g_thread_unref(g_thread_new("vb-hostdown", stop_guests, hs->list));
}

/**
 * vb_domain_host_shutdown_start:
 * @bus: the system bus the service serves on
 *
 * Watches logind when it is on @bus: the inhibitor and PrepareForShutdown. Main thread,
 * once, after the running domains were reconnected.
 */
void
vb_domain_host_shutdown_start(VbDomainList *list, GDBusConnection *bus)
{
    g_autoptr(GVariant) r = NULL;
    gboolean has = FALSE;
    HostShutdown *hs;

    if (list->config->on_host_shutdown <= VB_HOST_SHUTDOWN_NONE) {
        g_debug("on_host_shutdown=none: no shutdown inhibitor");
        return;
    }
    /* logind may not run yet (it is D-Bus activated on demand): a Ping starts it, so the
     * inhibitor is in place before the first `systemctl poweroff` asks it */
    r = g_dbus_connection_call_sync(bus, LOGIN1, LOGIN1_PATH, "org.freedesktop.DBus.Peer",
                                    "Ping", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL,
                                    NULL);
    has = r != NULL;
    if (!has) {
        g_debug("no logind on the bus: no shutdown inhibitor");
        return;
    }
    hs = g_new0(HostShutdown, 1);
    hs->list = list;
    hs->bus = g_object_ref(bus);
    hs->fd = -1;
    hs->signal_id = g_dbus_connection_signal_subscribe(
        bus, LOGIN1, LOGIN1_MANAGER, "PrepareForShutdown", LOGIN1_PATH, NULL,
        G_DBUS_SIGNAL_FLAGS_NONE, on_prepare_for_shutdown, hs, NULL);
    G_LOCK(state);
    state = hs;
    G_UNLOCK(state);
    update_on_main(hs);
}

/**
 * vb_domain_host_shutdown_defer_exit:
 * @exit_cb: what ends the service, called on the main thread once the guests stopped
 *
 * At SIGTERM (main thread): while a host shutdown stops the guests, the service must not
 * end before they did. logind's delay inhibitor lasts only InhibitDelayMaxSec (5 s by
 * default); after that systemd stops the units, this service first (the domains' scopes
 * are ordered Before= it, domain-cgroup.c), and waits for it up to its TimeoutStopSec.
 *
 * Returns: TRUE when @exit_cb will be called (the caller does not end now).
 */
gboolean
vb_domain_host_shutdown_defer_exit(GSourceFunc exit_cb, gpointer data)
{
    gboolean deferred = FALSE;

    G_LOCK(state);
    if (state != NULL && state->stopping) {
        state->exit_cb = exit_cb;
        state->exit_data = data;
        deferred = TRUE;
    }
    G_UNLOCK(state);
    return deferred;
}

/**
 * vb_domain_host_shutdown_stop:
 *
 * At the service's end (main thread): drops the inhibitor and the watch.
 */
void
vb_domain_host_shutdown_stop(void)
{
    HostShutdown *hs;

    G_LOCK(state);
    hs = g_steal_pointer(&state);
    G_UNLOCK(state);
    if (hs == NULL)
        return;
    g_dbus_connection_signal_unsubscribe(hs->bus, hs->signal_id);
    release(hs);
    if (hs->pending) {
        hs->dead = TRUE; /* on_inhibit() frees it */
        return;
    }
    g_object_unref(hs->bus);
    g_free(hs);
}
