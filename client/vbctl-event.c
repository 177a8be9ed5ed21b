/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <stdio.h>

#include "vbctl.h"

#define DOMAIN_IFACE VBCTL_BUS_NAME ".Domain"

typedef struct {
    GMainLoop *loop;
    gboolean interrupted;
    guint sources[2];
} SignalWait;

static gboolean
on_unix_signal(gpointer user_data)
{
    SignalWait *w = user_data;

    w->interrupted = TRUE;
    g_main_loop_quit(w->loop);
    return G_SOURCE_CONTINUE;
}

/* Quits @loop on SIGINT or SIGTERM instead of dying, so cleanup runs. */
static void
signal_wait_init(SignalWait *w, GMainLoop *loop)
{
    w->loop = loop;
    w->interrupted = FALSE;
    w->sources[0] = g_unix_signal_add(SIGINT, on_unix_signal, w);
    w->sources[1] = g_unix_signal_add(SIGTERM, on_unix_signal, w);
}

static void
signal_wait_clear(SignalWait *w)
{
    for (guint i = 0; i < G_N_ELEMENTS(w->sources); i++)
        g_clear_handle_id(&w->sources[i], g_source_remove);
}

typedef struct {
    GMainLoop *loop;
    char *name;
    gboolean stopped;
    gboolean service_gone;
} AutodestroyWait;

static void
on_domain_lifecycle(VbDBusDomain *domain, const char *event, const char *detail, gpointer user_data)
{
    AutodestroyWait *w = user_data;

    if (g_strcmp0(event, "stopped") != 0)
        return;
    g_print(_("Domain '%s' stopped (%s)\n"), w->name, detail);
    w->stopped = TRUE;
    g_main_loop_quit(w->loop);
}

static void
on_domain_properties(GDBusProxy *proxy, GVariant *changed, GStrv invalidated, gpointer user_data)
{
    AutodestroyWait *w = user_data;
    gboolean active = TRUE;

    if (w->stopped || !g_variant_lookup(changed, "Active", "b", &active) || active)
        return;
    g_print(_("Domain '%s' stopped\n"), w->name);
    w->stopped = TRUE;
    g_main_loop_quit(w->loop);
}

static void
on_name_owner(GObject *proxy, GParamSpec *pspec, gpointer user_data)
{
    AutodestroyWait *w = user_data;
    g_autofree char *owner = g_dbus_proxy_get_name_owner(G_DBUS_PROXY(proxy));

    if (owner != NULL)
        return;
    w->service_gone = TRUE;
    g_main_loop_quit(w->loop);
}

/* Whether the domain still runs, asked now (not from the proxy's cache). */
static gboolean
domain_still_active(VbDBusDomain *domain)
{
    GDBusProxy *proxy = G_DBUS_PROXY(domain);
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariant) value = NULL;

    reply = g_dbus_connection_call_sync(
        g_dbus_proxy_get_connection(proxy), g_dbus_proxy_get_name(proxy),
        g_dbus_proxy_get_object_path(proxy), "org.freedesktop.DBus.Properties", "Get",
        g_variant_new("(ss)", DOMAIN_IFACE, "Active"), G_VARIANT_TYPE("(v)"),
        G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
    /* a transient domain that stopped has left the bus */
    if (reply == NULL)
        return FALSE;
    g_variant_get(reply, "(v)", &value);
    return g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN) && g_variant_get_boolean(value);
}

/**
 * vbctl_wait_autodestroy:
 * @domain: a domain just started with AUTODESTROY on @ctx's connection
 *
 * The service destroys @domain when this connection goes away, so stay on
 * the bus until the domain stops by itself (returns %TRUE), SIGINT/SIGTERM
 * arrive (%TRUE: leaving is what destroys it), or the service leaves the bus
 * (%FALSE with @error set).
 */
gboolean
vbctl_wait_autodestroy(VbctlContext *ctx, VbDBusDomain *domain, GError **error)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    AutodestroyWait w = {loop, g_strdup(vb_dbus_domain_get_name(domain)), FALSE, FALSE};
    g_autofree char *name = w.name;
    SignalWait sw;
    gulong ids[3];

    ids[0] = g_signal_connect(domain, "lifecycle", G_CALLBACK(on_domain_lifecycle), &w);
    ids[1] = g_signal_connect(domain, "g-properties-changed", G_CALLBACK(on_domain_properties), &w);
    ids[2] = g_signal_connect(domain, "notify::g-name-owner", G_CALLBACK(on_name_owner), &w);
    signal_wait_init(&sw, loop);
    g_print(_("Domain '%s' is destroyed when virtbusctl exits; waiting until it stops "
              "(Ctrl-C to destroy it now)\n"),
            name);
    fflush(stdout);
    if (domain_still_active(domain))
        g_main_loop_run(loop);
    else
        g_print(_("Domain '%s' stopped\n"), name);
    signal_wait_clear(&sw);
    for (guint i = 0; i < G_N_ELEMENTS(ids); i++)
        g_signal_handler_disconnect(domain, ids[i]);
    if (sw.interrupted)
        g_print(_("Interrupted: domain '%s' is being destroyed\n"), name);
    if (w.service_gone && !sw.interrupted) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                    _("the virtbus service (%s) left %s"), VBCTL_BUS_NAME,
                    ctx->bus_description);
        return FALSE;
    }
    return TRUE;
}

typedef struct {
    GMainLoop *loop;
    GDBusConnection *connection;
    GDBusObjectManager *om;
    gboolean keep_going;
    gboolean timed_out;
    guint n_events;
    gboolean timestamp; /* --timestamp (issue 13, part memev) */
} EventWatch;

/* The name of the domain at @path, even when it was not known at startup. */
static char *
domain_name_for(EventWatch *w, const char *path)
{
    g_autoptr(GDBusInterface) iface = NULL;
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariant) value = NULL;

    iface = g_dbus_object_manager_get_interface(w->om, path, DOMAIN_IFACE);
    if (iface != NULL && vb_dbus_domain_get_name(VB_DBUS_DOMAIN(iface)) != NULL)
        return g_strdup(vb_dbus_domain_get_name(VB_DBUS_DOMAIN(iface)));
    reply = g_dbus_connection_call_sync(
        w->connection, VBCTL_BUS_NAME, path, "org.freedesktop.DBus.Properties", "Get",
        g_variant_new("(ss)", DOMAIN_IFACE, "Name"), G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE,
        -1, NULL, NULL);
    if (reply == NULL)
        return g_strdup(path);
    g_variant_get(reply, "(v)", &value);
    if (!g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
        return g_strdup(path);
    return g_variant_dup_string(value, NULL);
}

/* virsh's event name of a domain signal (issue 13, part memev): "BalloonChange" is
 * 'balloon-change'; the few whose virsh name differs are listed. */
static char *
event_name_of(const char *signal)
{
    static const char *const special[][2] = {
        {"IOError", "io-error-reason"}, {"RTCChange", "rtc-change"},
        {"PMSuspend", "pm-suspend"},    {"PMSuspendDisk", "pm-suspend-disk"},
        {"PMWakeup", "pm-wakeup"},      {"AgentLifecycle", "agent-lifecycle"},
    };
    GString *out = g_string_new(NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(special); i++) {
        if (g_str_equal(signal, special[i][0]))
            return g_strdup(special[i][1]);
    }
    for (const char *c = signal; *c != '\0'; c++) {
        if (g_ascii_isupper(*c) && c != signal)
            g_string_append_c(out, '-');
        g_string_append_c(out, g_ascii_tolower(*c));
    }
    return g_string_free(out, FALSE);
}

/* The signal's arguments, space-separated: strings as they are, the rest as GVariant text. */
static char *
event_args_of(GVariant *params)
{
    GString *out = g_string_new(NULL);
    GVariantIter iter;
    GVariant *child;

    g_variant_iter_init(&iter, params);
    while ((child = g_variant_iter_next_value(&iter)) != NULL) {
        if (out->len > 0)
            g_string_append_c(out, ' ');
        if (g_variant_is_of_type(child, G_VARIANT_TYPE_STRING))
            g_string_append(out, g_variant_get_string(child, NULL));
        else
            g_variant_print_string(child, out, FALSE);
        g_variant_unref(child);
    }
    return g_string_free(out, FALSE);
}

static void
print_timestamp(EventWatch *w)
{
    g_autoptr(GDateTime) now = NULL;
    g_autofree char *text = NULL;

    if (!w->timestamp)
        return;
    /* virsh's "2026-11-30 09:05:52.123+0000: " */
    now = g_date_time_new_now_utc();
    text = g_date_time_format(now, "%Y-%m-%d %H:%M:%S");
    g_print("%s.%03d+0000: ", text, g_date_time_get_microsecond(now) / 1000);
}

static void
on_lifecycle_signal(GDBusConnection *connection, const char *sender, const char *path,
                    const char *iface, const char *signal, GVariant *params, gpointer user_data)
{
    EventWatch *w = user_data;
    g_autofree char *name = NULL;
    g_autofree char *event_name = NULL;
    g_autofree char *args = NULL;
    const char *event, *detail;

    if (g_strcmp0(signal, "Lifecycle") == 0) {
        if (!g_variant_is_of_type(params, G_VARIANT_TYPE("(ss)")))
            return;
        g_variant_get(params, "(&s&s)", &event, &detail);
    } else if (g_strcmp0(signal, "AgentEvent") == 0 || g_strcmp0(signal, "GraphicsEvent") == 0) {
        /* the same event as AgentLifecycle / Graphics under a second name: shown once */
        return;
    } else {
        /* event --all: every other domain signal */
        event = event_name = event_name_of(signal);
        detail = args = event_args_of(params);
    }
    name = domain_name_for(w, path);
    print_timestamp(w);
    if (*detail != '\0')
        g_print(_("event '%s' for domain '%s': %s\n"), event, name, detail);
    else
        g_print(_("event '%s' for domain '%s'\n"), event, name);
    fflush(stdout);
    w->n_events++;
    if (!w->keep_going)
        g_main_loop_quit(w->loop);
}

static gboolean
on_event_timeout(gpointer user_data)
{
    EventWatch *w = user_data;

    w->timed_out = TRUE;
    g_main_loop_quit(w->loop);
    return G_SOURCE_REMOVE;
}

static GDBusObjectManager *
event_object_manager(VbctlContext *ctx, GError **error)
{
    g_autoptr(GDBusObjectManager) om = NULL;
    g_autofree char *owner = NULL;

    om = vb_dbus_object_manager_client_new_sync(ctx->connection,
                                                G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                                VBCTL_BUS_NAME, VBCTL_MANAGER_PATH, NULL, error);
    if (om == NULL)
        return NULL;
    owner = g_dbus_object_manager_client_get_name_owner(G_DBUS_OBJECT_MANAGER_CLIENT(om));
    if (owner == NULL) {
        vbctl_set_service_missing_error(ctx, error);
        return NULL;
    }
    return g_steal_pointer(&om);
}

/**
 * vbctl_cmd_event:
 *
 * `event [NAME|UUID] [--loop] [--timeout SECONDS] [--all] [--timestamp]`: prints
 * Lifecycle signals (with --all every domain signal), of one domain or all. Without
 * --loop it ends after the first event; --timeout ends it quietly (exit 0) after
 * SECONDS; --timestamp prints the time first.
 */
gboolean
vbctl_cmd_event(VbctlContext *ctx, GError **error)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_autoptr(GDBusObjectManager) om = NULL;
    g_autoptr(VbDBusDomain) domain = NULL;
    EventWatch w = {loop, ctx->connection, NULL, ctx->flags.loop, FALSE, 0,
                    ctx->flags.timestamp};
    guint sub, timeout_id = 0;
    SignalWait sw;

    /*
     * Subscribe before the synchronous calls below: their replies come after
     * the AddMatch has been handled, so no event after startup is missed.
     */
    if (ctx->n_args > 0) {
        domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
        if (domain == NULL)
            return FALSE;
    }
    sub = g_dbus_connection_signal_subscribe(
        ctx->connection, VBCTL_BUS_NAME, DOMAIN_IFACE, ctx->flags.all ? NULL : "Lifecycle",
        domain != NULL ? g_dbus_proxy_get_object_path(G_DBUS_PROXY(domain)) : NULL, NULL,
        G_DBUS_SIGNAL_FLAGS_NONE, on_lifecycle_signal, &w, NULL);
    om = event_object_manager(ctx, error);
    if (om == NULL) {
        g_dbus_connection_signal_unsubscribe(ctx->connection, sub);
        return FALSE;
    }
    w.om = om;
    if (ctx->flags.timeout > 0)
        timeout_id = g_timeout_add((guint)ctx->flags.timeout * 1000, on_event_timeout, &w);
    signal_wait_init(&sw, loop);
    g_main_loop_run(loop);
    signal_wait_clear(&sw);
    if (!w.timed_out)
        g_clear_handle_id(&timeout_id, g_source_remove);
    g_dbus_connection_signal_unsubscribe(ctx->connection, sub);
    return TRUE;
}
