/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <malloc.h>
#include <string.h>

#include "bus-errors.h"
#include "bus-names.h"
#include "bus-service.h"
#include "bus-skeleton.h"
#include "domain-console.h"
#include "store.h"
#include "vb-error.h"

static gboolean
uuid_usable(const char *s)
{
    unsigned char raw[16];
    gboolean all_same = TRUE;

    if (!vb_uuid_parse(s, raw))
        return FALSE;
    for (int i = 1; i < 16; i++)
        all_same &= raw[i] == raw[0];
    return !all_same; /* firmware often reports 0000... or ffff... */
}

/* The host UUID: persisted on first start so it never changes. */
static char *
load_host_uuid(const VbPaths *paths, GError **error)
{
    g_autofree char *file = g_build_filename(paths->data_dir, "host-uuid", NULL);
    g_autofree char *contents = NULL;
    g_autofree char *smbios = NULL;
    unsigned char raw[16];
    char uuid[37];

    if (g_file_get_contents(file, &contents, NULL, NULL)) {
        g_strstrip(contents);
        if (uuid_usable(contents))
            return g_steal_pointer(&contents);
        g_warning("ignoring malformed host uuid in '%s'", file);
    }
    if (g_file_get_contents("/sys/class/dmi/id/product_uuid", &smbios, NULL, NULL) &&
        uuid_usable(g_strstrip(smbios)) && vb_uuid_parse(smbios, raw)) {
        vb_uuid_format(raw, uuid);
    } else {
        vb_uuid_generate(raw);
        vb_uuid_format(raw, uuid);
    }
    {
        g_autofree char *line = g_strconcat(uuid, "\n", NULL);

        if (!vb_store_write_atomic(file, line, -1, 0644, error))
            return NULL;
    }
    return g_strdup(uuid);
}

/* The seam between the domains' interfaces and the running networks (issue 12). */
static gboolean
resolve_network(const char *network, VbQemuNetPort *out, gpointer user_data, GError **error)
{
    VbNetworkPort port = { 0 };

    if (!vb_network_list_port_lookup(user_data, network, &port, error))
        return FALSE;
    out->bridge = g_steal_pointer(&port.bridge);
    out->mtu = port.mtu;
    vb_network_port_clear(&port);
    return TRUE;
}

/**
 * vb_bus_service_new:
 * @paths: (transfer full): the service's directories
 * @config: settings, copied
 * @auth: (transfer full): the authorization checker
 *
 * Creates the directories and the domain list; nothing is loaded or
 * exported yet.
 */
VbBusService *
vb_bus_service_new(VbPaths *paths, const VbConfig *config, VbAuth *auth, GError **error)
{
    g_autoptr(VbPaths) owned_paths = paths;
    VbBusService *service;
    g_autofree char *host_uuid = NULL;
    GThreadPool *pool;

    if (!vb_paths_ensure(paths, error))
        return NULL;
    host_uuid = load_host_uuid(paths, error);
    if (host_uuid == NULL)
        return NULL;
    pool = g_thread_pool_new(vb_bus_worker_run, NULL, (gint)config->worker_threads, FALSE,
                             error);
    if (pool == NULL)
        return NULL;

    vb_bus_errors_register();
    service = g_new0(VbBusService, 1);
    service->main_context = g_main_context_ref_thread_default();
    service->paths = g_steal_pointer(&owned_paths);
    service->config = *config;
    service->auth = auth;
    service->workers = pool;
    service->host_uuid = g_steal_pointer(&host_uuid);
    service->domain_objects = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                    g_object_unref);
    service->object_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                  (GDestroyNotify)g_variant_unref);
    service->domain_exports = vb_bus_domain_exports_new(); /* issue 16 */
    g_mutex_init(&service->export_lock);
    g_mutex_init(&service->callers_lock);
    g_mutex_init(&service->publish_lock);
    service->snapshots = vb_bus_snapshots_new(); /* issue 15, part snapbus */
    service->domains = vb_domain_list_new(service->paths, &service->config, vb_bus_domain_path,
                                          vb_bus_domain_notify, service);
    vb_domain_list_set_job_notify(service->domains, vb_bus_job_notify, service);
    service->networks = vb_network_list_new(service->paths, vb_bus_network_path,
                                            vb_bus_network_notify, service);
    vb_domain_list_set_net_resolver(service->domains, resolve_network, service->networks);
    /* issue 14, part dac: qemu_user and qemu_group, the owner record */
    if (!vb_domain_list_setup_dac(service->domains, error)) {
        vb_bus_service_free(service);
        return NULL;
    }
    return service;
}

static VbDBusManager *
make_manager(VbBusService *service)
{
    VbDBusManager *manager = vb_bus_manager_skeleton_new(service);

    vb_dbus_manager_set_version(manager, PACKAGE_VERSION);
    vb_dbus_manager_set_host_name(manager, g_get_host_name());
    vb_dbus_manager_set_host_uuid(manager, service->host_uuid);
    return manager;
}

/**
 * vb_bus_service_start:
 * @connection: the bus to serve on
 *
 * Exports the manager, loads every persistent domain and exports it. Call
 * before owning the bus name, on the main thread.
 */
gboolean
vb_bus_service_start(VbBusService *service, GDBusConnection *connection, GError **error)
{
    guint n;
    gint64 t0 = g_get_monotonic_time();

    service->connection = g_object_ref(connection);
    vb_bus_callers_watch(service);
    vb_bus_autodestroy_init(service);
    service->filter_id = g_dbus_connection_add_filter(connection, vb_bus_properties_filter,
                                                      service, NULL);
    service->manager = make_manager(service);
    if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(service->manager),
                                          connection, VB_BUS_MANAGER_PATH, error)) {
        vb_error_convert(error);
        return FALSE;
    }
    service->object_manager = g_dbus_object_manager_server_new(VB_BUS_MANAGER_PATH);
    g_dbus_object_manager_server_set_connection(service->object_manager, connection);
    /* issue 16: the domains, one subtree (bus-domain-export.c) */
    if (!vb_bus_domain_exports_start(service, error))
        return FALSE;

    {
        guint nn = vb_network_list_load(service->networks);
        guint nr;

        if (nn > 0)
            g_message("loaded %u persistent network%s", nn, nn == 1 ? "" : "s");
        /* networks before domains: a domain's interface plugs into a running one */
        nr = vb_network_list_reconnect(service->networks);
        if (nr > 0)
            g_message("reconnected to %u running network%s", nr, nr == 1 ? "" : "s");
        if (service->config.default_network == 1)
            vb_network_list_ensure_default(service->networks);
        vb_network_list_autostart(service->networks);
    }
    /* Before the name is owned no client can match our signals by it: an InterfacesAdded
     * per domain would only be serialized and sent for nobody (for 1,000 domains ~2 MB
     * of messages queued at once, which left the heap fragmented: issue 16). Clients
     * read them with GetManagedObjects once the name is there. */
    service->loading = TRUE;
    n = vb_domain_list_load_configs(service->domains);
    {
        guint r = vb_domain_list_reconnect(service->domains);

        if (r > 0)
            g_message("reconnected to %u running domain%s", r, r == 1 ? "" : "s");
    }
    /* export what was loaded before the name is owned: a client that sees
     * the name sees every domain (publishing is queued to this context) */
    while (g_main_context_iteration(service->main_context, FALSE))
        ;
    service->loading = FALSE;
    /* parsing every config leaves the heap fragmented; give it back */
    malloc_trim(0);
    g_message("loaded %u persistent domain%s in %.1f ms", n, n == 1 ? "" : "s",
              (g_get_monotonic_time() - t0) / 1000.0);
    return TRUE;
}

/**
 * vb_bus_service_autostart:
 *
 * Starts the autostart domains in the background. Call once the service
 * owns its name, on the main thread.
 */
void
vb_bus_service_autostart(VbBusService *service)
{
    vb_domain_list_autostart(service->domains);
    vb_bus_snapshots_load_all(service); /* issue 15, part snapbus */
}

/**
 * vb_bus_service_queue:
 * @func: runs once on the main thread; returns %G_SOURCE_REMOVE
 *
 * Queues @func to the main context, after everything queued before it at
 * the same priority. Unlike g_main_context_invoke(), it never runs @func
 * on the calling thread, also while the main loop is not running yet
 * (reconnecting at start-up) or any more (shutdown): publishing and
 * replies happen on the main thread only. Any thread.
 */
void
vb_bus_service_queue(VbBusService *service, GSourceFunc func, gpointer data)
{
    GSource *source = g_idle_source_new();

    g_source_set_priority(source, G_PRIORITY_DEFAULT);
    g_source_set_callback(source, func, data, NULL);
    g_source_set_static_name(source, "virtbus: to the main thread");
    g_source_attach(source, service->main_context);
    g_source_unref(source);
}

/* Main thread: the service has been idle for a while after some work. */
static gboolean
trim_when_idle(gpointer data)
{
    VbBusService *service = data;

    g_clear_pointer(&service->trim_source, g_source_unref);
    malloc_trim(0);
    return G_SOURCE_REMOVE;
}

/**
 * vb_bus_service_note_activity:
 *
 * A call was answered or a change published: a few seconds after the first such
 * activity, freed heap memory is given back to the system (malloc_trim()), once per
 * busy period; an idle service never wakes up for it (issue 16: a domain's start left
 * ~0.3 MiB of freed pages resident). Main thread.
 */
void
vb_bus_service_note_activity(VbBusService *service)
{
    if (service->trim_source != NULL || g_atomic_int_get(&service->stopping))
        return;
    service->trim_source = g_timeout_source_new_seconds(VB_BUS_TRIM_DELAY_S);
    g_source_set_callback(service->trim_source, trim_when_idle, service, NULL);
    g_source_set_static_name(service->trim_source, "virtbus: give back freed heap");
    g_source_attach(service->trim_source, service->main_context);
}

/**
 * vb_bus_service_free:
 *
 * Waits for running workers, then drops everything. Domains' QEMU
 * processes are not touched.
 */
void
vb_bus_service_free(VbBusService *service)
{
    if (service == NULL)
        return;
    /* job threads may still report while they stop: nobody publishes now (a run-state
     * change being published from another thread ends first: publish_lock) */
    g_mutex_lock(&service->publish_lock);
    g_atomic_int_set(&service->stopping, 1);
    g_mutex_unlock(&service->publish_lock);
    if (service->trim_source != NULL) {
        g_source_destroy(service->trim_source);
        g_clear_pointer(&service->trim_source, g_source_unref);
    }
    g_thread_pool_free(service->workers, FALSE, TRUE);
    vb_bus_stats_fini(); /* issue 13, part stats: GetAllDomainStats' collectors */
    vb_domain_console_shutdown(); /* console streams end before the domains go */
    vb_bus_autodestroy_fini(service);
    if (service->connection != NULL) {
        g_dbus_connection_remove_filter(service->connection, service->filter_id);
        g_dbus_connection_signal_unsubscribe(service->connection, service->name_owner_sub);
    }
    if (service->manager != NULL)
        g_dbus_interface_skeleton_unexport(G_DBUS_INTERFACE_SKELETON(service->manager));
    g_clear_object(&service->manager);
    g_clear_object(&service->object_manager);
    vb_bus_domain_exports_stop(service);
    g_hash_table_destroy(service->domain_objects);
    g_hash_table_destroy(service->object_cache);
    vb_domain_list_free(service->domains);
    /* issue 15, part snapbus: after the domain threads (vb_bus_snapshots_load_all) ended */
    vb_bus_snapshots_free(service->snapshots);
    vb_network_list_free(service->networks);
    if (service->callers != NULL)
        g_hash_table_destroy(service->callers);
    if (service->shared_reads != NULL)
        g_hash_table_destroy(service->shared_reads);
    g_mutex_clear(&service->callers_lock);
    g_mutex_clear(&service->publish_lock);
    g_mutex_clear(&service->export_lock);
    vb_auth_free(service->auth);
    vb_paths_free(service->paths);
    g_clear_object(&service->connection);
    g_main_context_unref(service->main_context);
    g_free(service->host_uuid);
    g_free(service);
}
