/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <locale.h>
#ifdef HAVE_MALLOPT
#include <malloc.h>
#endif
#include <unistd.h>

#include "bus-names.h"
#include "bus-service.h"
#include "domain-shutdown.h"
#include "migration.h"
#include "qemu-launch.h"
#include "vb-config.h"
#include "vb-error.h"
#include "vb-notify.h"
#include "vb-paths.h"
#include "vb-thread.h"
#include "vb-watchdog.h"

typedef struct {
    GMainLoop *loop;
    VbBusService *service;
    gboolean autostarted;
    int exit_code;
} Daemon;

static gboolean
quit_now(gpointer user_data)
{
    Daemon *d = user_data;

    g_message("the host's shutdown stopped the guests: terminating");
    g_main_loop_quit(d->loop);
    return G_SOURCE_REMOVE;
}

static gboolean
on_signal(gpointer user_data)
{
    Daemon *d = user_data;

    vb_notify("STOPPING=1");
    /* the host goes down and the guests are being stopped (on_host_shutdown): not before
     * they are, or systemd would stop their scopes under them */
    if (vb_domain_host_shutdown_defer_exit(quit_now, d)) {
        g_message("terminating on signal once the host's shutdown stopped the guests");
        return G_SOURCE_CONTINUE;
    }
    g_message("terminating on signal; running domains are left running");
    g_main_loop_quit(d->loop);
    return G_SOURCE_CONTINUE;
}

static void
on_name_acquired(GDBusConnection *connection, const char *name, gpointer user_data)
{
    Daemon *d = user_data;

    g_message("ready: serving %s", name);
    vb_notify("READY=1\nSTATUS=Serving " VB_BUS_NAME);
    /* in the background: the service answers while the domains boot */
    if (!d->autostarted) {
        d->autostarted = TRUE;
        vb_bus_service_autostart(d->service);
    }
}

static void
on_name_lost(GDBusConnection *connection, const char *name, gpointer user_data)
{
    Daemon *d = user_data;

    g_printerr("virtbusd: cannot own %s on the bus (another instance running, or the bus "
               "policy does not allow it)\n", name);
    d->exit_code = 1;
    g_main_loop_quit(d->loop);
}

static GDBusConnection *
connect_bus(gboolean session, const char *address, GError **error)
{
    if (address != NULL)
        return g_dbus_connection_new_for_address_sync(
            address,
            G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
            NULL, NULL, error);
    return g_bus_get_sync(session ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, NULL, error);
}

/* glibc gives each thread that allocates its own arena, up to 8 per core, and freed memory
 * stays resident in whichever arena it came from. With two arenas the bus thread (which
 * answers reads, bus-properties.c) and the main, worker and job threads still split the heap
 * in two, and the second one crept: RSS +7 % in 10 minutes of tests/reliability/load.py while
 * the heap in use stayed flat at ~2.3 MiB (heaptrack), 16.3 -> 17.4 MiB. One arena: +0.5 % in
 * 5 minutes at 16.2 MiB, and more calls answered (395 reads/s against 339-345; glibc's
 * per-thread caches take most of the locking off the arena). MALLOC_ARENA_MAX still wins. */
static void
bound_malloc_arenas(void)
{
#ifdef HAVE_MALLOPT
    if (g_getenv("MALLOC_ARENA_MAX") == NULL)
        mallopt(M_ARENA_MAX, 1);
#endif
}

int
main(int argc, char **argv)
{
    gboolean opt_system = FALSE, opt_session = FALSE, opt_polkit = FALSE, opt_version = FALSE;
    g_autofree char *opt_address = NULL, *opt_root = NULL, *opt_config = NULL;
    const GOptionEntry entries[] = {
        { "system", 0, 0, G_OPTION_ARG_NONE, &opt_system, "Serve on the system bus (default)",
          NULL },
        { "session", 0, 0, G_OPTION_ARG_NONE, &opt_session, "Serve on the session bus", NULL },
        { "bus-address", 0, 0, G_OPTION_ARG_STRING, &opt_address,
          "Serve on the bus at ADDRESS (e.g. a private dbus-daemon)", "ADDRESS" },
        { "root", 0, 0, G_OPTION_ARG_FILENAME, &opt_root,
          "Keep every file under DIR instead of the system or session locations", "DIR" },
        { "config", 0, 0, G_OPTION_ARG_FILENAME, &opt_config, "Read settings from FILE",
          "FILE" },
        { "polkit", 0, 0, G_OPTION_ARG_NONE, &opt_polkit,
          "Ask polkit even when not on the system bus", NULL },
        { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- the virtbus service");
    g_autoptr(GError) error = NULL;
    g_autoptr(GDBusConnection) connection = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    VbPaths *paths;
    VbAuth *auth;
    VbBusService *service;
    g_auto(VbConfig) config = { 0 };
    gboolean system_bus, use_polkit;
    Daemon d = { 0 };
    guint owner_id;
    VbWatchdog *watchdog;

    /* the hidden launcher mode (qemu-launch.c): becomes QEMU, touches nothing else */
    if (vb_qemu_launch_is_launcher(argc, argv))
        return vb_qemu_launch_main(argc, argv);
    /* before any thread exists: every thread gets a known stack size */
    if (!vb_thread_init_stack_size(&error)) {
        g_printerr("virtbusd: %s\n", error->message);
        return 1;
    }
    bound_malloc_arenas();
    /* issue 16: the small launcher program, when installed, runs before each QEMU */
    vb_qemu_launch_find_helper(LIBEXECDIR);
    /* and it is started once and kept: each start clones it (VIRTBUS_LAUNCH_ZYGOTE=0: an
     * exec per start, as before) */
    vb_qemu_launch_set_zygote(g_strcmp0(g_getenv("VIRTBUS_LAUNCH_ZYGOTE"), "0") != 0);
    setlocale(LC_ALL, "");
    bindtextdomain(GETTEXT_PACKAGE, LOCALEDIR);
    bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_summary(ctx, "Runs QEMU virtual machines and publishes them on D-Bus "
                                      "as " VB_BUS_NAME ".");
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        g_printerr("virtbusd: %s\n", error->message);
        return 2;
    }
    if (opt_version) {
        g_print("virtbusd %s\n", PACKAGE_VERSION);
        return 0;
    }
    if ((opt_system + opt_session + (opt_address != NULL)) > 1) {
        g_printerr("virtbusd: --system, --session and --bus-address exclude each other\n");
        return 2;
    }
    system_bus = !opt_session && opt_address == NULL;
    use_polkit = system_bus || opt_polkit;

    paths = vb_paths_new(system_bus ? VB_PATHS_SYSTEM : VB_PATHS_SESSION, opt_root);
    vb_config_init_defaults(&config);
    if (!vb_config_load(&config, opt_config != NULL ? opt_config : paths->config_file,
                        opt_config != NULL, &error)) {
        g_printerr("virtbusd: %s\n", error->message);
        vb_paths_free(paths);
        return 1;
    }

    /* "auto": only the system service at / makes the default network (a bridge in the
     * host's namespace); --root, --session and private buses do not */
    if (config.default_network < 0)
        config.default_network = system_bus && (opt_root == NULL || *opt_root == '\0');
    /* issue 14, part dac: the system service at / runs QEMU as virtbus-qemu unless told
     * otherwise; --session, private buses and --root keep the service's own user */
    if (config.qemu_user == NULL && config.qemu_group == NULL && system_bus &&
        (opt_root == NULL || *opt_root == '\0'))
        config.qemu_user = g_strdup("virtbus-qemu");
    /* issue 14, part cgroup: the system service at / puts each domain in its own scope
     * (machined, systemd or cgroups, whatever the host has) and shuts guests down before
     * the host goes down; other modes do neither unless told */
    if (config.cgroup_mode < 0)
        config.cgroup_mode = system_bus && (opt_root == NULL || *opt_root == '\0')
                                 ? VB_CGROUP_MODE_AUTO
                                 : VB_CGROUP_MODE_NONE;
    if (config.on_host_shutdown < 0)
        config.on_host_shutdown = system_bus && (opt_root == NULL || *opt_root == '\0')
                                      ? VB_HOST_SHUTDOWN_SHUTDOWN
                                      : VB_HOST_SHUTDOWN_NONE;
    /* a private /dev needs root; the session service never makes one */
    if (opt_session || geteuid() != 0)
        config.namespaces = 0;
    connection = connect_bus(opt_session, opt_address, &error);
    if (connection == NULL) {
        g_printerr("virtbusd: cannot connect to the bus: %s\n", error->message);
        vb_paths_free(paths);
        return 1;
    }
    auth = vb_auth_new(use_polkit, getuid(), &error);
    if (auth == NULL) {
        g_printerr("virtbusd: %s\n", error->message);
        vb_paths_free(paths);
        return 1;
    }
    service = vb_bus_service_new(paths, &config, auth, &error);
    if (service == NULL || !vb_bus_service_start(service, connection, &error)) {
        g_printerr("virtbusd: %s\n", error->message);
        vb_bus_service_free(service);
        return 1;
    }

    /* issue 14, part cgroup: logind's shutdown inhibitor while domains run */
    if (system_bus)
        vb_domain_host_shutdown_start(service->domains, connection);
    loop = g_main_loop_new(NULL, FALSE);
    d.loop = loop;
    d.service = service;
    g_unix_signal_add(SIGTERM, on_signal, &d);
    g_unix_signal_add(SIGINT, on_signal, &d);
    owner_id = g_bus_own_name_on_connection(connection, VB_BUS_NAME,
                                            G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                            on_name_acquired, on_name_lost, &d, NULL);
    /* VIRTBUS_TEST_WATCHDOG=SECONDS (tests only): a stuck main loop aborts with backtraces */
    watchdog = vb_watchdog_start_from_env(NULL);
    g_main_loop_run(loop);
    vb_watchdog_stop(watchdog);

    g_bus_unown_name(owner_id);
    vb_domain_host_shutdown_stop();
    vb_bus_service_free(service);
    vb_migration_pool_shutdown();
    g_dbus_connection_flush_sync(connection, NULL, NULL);
    return d.exit_code;
}
