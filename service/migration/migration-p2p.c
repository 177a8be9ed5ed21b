/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "migration-priv.h"
#include "migration-remote.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * Peer-to-peer migration (Domain.Migrate): the source service runs the
 * five phases itself, on a job thread, calling the destination service's
 * Manager over its own bus connection to it (migration-remote.c: D-Bus
 * over ssh, or a bus address on this machine). The destination ties the
 * incoming domain to that connection: if this service or the ssh link
 * dies, the destination destroys it. The first error is the one reported;
 * failures while cleaning up after it are logged.
 */

#define CALL_TIMEOUT_MS (120 * 1000)
/* after QEMU's transfer: how long the ssh of the data path may take to end */
#define SSH_END_WAIT_MS (30 * 1000)
#define DEST_NAME "org.virtbus.Virt1"
#define DEST_PATH "/org/virtbus/Virt1"
#define DEST_IFACE "org.virtbus.Virt1.Manager"

typedef struct {
    VbMigrationHost host;
    char *host_uuid;
    char *host_name;
    char *dest_uri;
    guint flags;
    VbMigrationParams params;
    char *ssh_config;
    guint keepalive_interval;
    guint keepalive_count;
    char *tunnel_command; /* the ssh data path's remote program (issue 11, part tunnel2) */
} P2PData;

static void
p2p_data_free(P2PData *d)
{
    g_free(d->host_uuid);
    g_free(d->host_name);
    g_free(d->dest_uri);
    g_free(d->ssh_config);
    g_free(d->tunnel_command);
    vb_migration_params_clear(&d->params);
    g_free(d);
}

static GVariant *
bytes_variant(GBytes *b)
{
    return b != NULL ? g_variant_new_from_bytes(G_VARIANT_TYPE("ay"), b, TRUE)
                     : g_variant_new_from_data(G_VARIANT_TYPE("ay"), "", 0, TRUE, NULL, NULL);
}

static GBytes *
variant_bytes(GVariant *v)
{
    gsize n = 0;
    const guint8 *data = g_variant_get_fixed_array(v, &n, 1);

    return g_bytes_new(data, n);
}

/* The remote error as ours: the destination's D-Bus error name maps back. */
static void
remote_error(GError **error, const char *phase)
{
    if (error == NULL || *error == NULL)
        return;
    if (g_dbus_error_is_remote_error(*error))
        g_dbus_error_strip_remote_error(*error);
    vb_error_convert(error);
    g_prefix_error(error, "%s on the destination: ", phase);
}

/* Whether @err is the destination's own answer (a virtbus error: it knows the migration
 * failed and gave its domain up), not a lost connection, a timeout or the bus's NoReply. */
static gboolean
dest_answered(const GError *err)
{
    g_autofree char *name = NULL;

    if (err == NULL || !g_dbus_error_is_remote_error(err))
        return FALSE;
    name = g_dbus_error_get_remote_error(err);
    return name != NULL && g_str_has_prefix(name, "org.virtbus.Virt1.Error.");
}

/* Where the destination listens, unless the caller said: the ssh host. */
static char *
default_uri_in(const P2PData *d)
{
    g_autofree char *host = NULL;

    if (d->params.migrate_uri != NULL)
        return g_strdup(d->params.migrate_uri);
    host = vb_remote_uri_host(d->dest_uri);
    if (host != NULL)
        return strchr(host, ':') != NULL ? g_strdup_printf("tcp://[%s]", host)
                                         : g_strdup_printf("tcp://%s", host);
    return g_strdup("");
}

/* Ends the tunnel on the destination: MigrateTunnelEnd(abort) after a failure. */
static void
tunnel_abort(VbDomainObj *dom, GDBusConnection *conn, const char *dest_path, guint64 sent)
{
    g_autoptr(GError) end_err = NULL;
    g_autoptr(GVariant) reply = NULL;

    reply = g_dbus_connection_call_sync(conn, DEST_NAME, DEST_PATH, DEST_IFACE,
                                        "MigrateTunnelEnd",
                                        g_variant_new("(otb)", dest_path, sent, TRUE),
                                        G_VARIANT_TYPE("()"), G_DBUS_CALL_FLAGS_NONE,
                                        CALL_TIMEOUT_MS, NULL, &end_err);
    if (reply == NULL) {
        remote_error(&end_err, "MigrateTunnelEnd");
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "ending the failed tunnel: %s",
                      end_err->message);
    }
}

/*
 * The ssh data path of a tunnelled migration to an ssh:// destination
 * (docs/migration.md): QEMU migrates into one end of a socket pair whose
 * other end is the stdin of a second ssh to the destination, running
 * `TUNNEL_COMMAND [--connect BUS] migrate-tunnel-attach PATH TOKEN` there:
 * that hands sshd's pipe to the destination service (MigrateTunnelAttach),
 * which splices it into its QEMU. No D-Bus call carries the data. The ssh
 * child never outlives this function.
 */
static gboolean
perform_tunnelled_ssh(VbDomainList *list, VbDomainObj *dom, VbJob *job, P2PData *d,
                      GDBusConnection *conn, const char *dest_path,
                      const VbMigrationCookie *dest, GBytes **out_cookie, GError **error)
{
    g_autoptr(VbRemoteUri) u = vb_remote_uri_parse(d->dest_uri, FALSE, error);
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    g_auto(GStrv) command = NULL;
    g_autoptr(VbRemoteCommand) ssh = NULL;
    g_autoptr(GError) qemu_err = NULL;
    g_autoptr(GError) ssh_err = NULL;
    VbRemoteOptions ropts = { .ssh_config = d->ssh_config,
                              .trusted = FALSE,
                              .keepalive_interval = d->keepalive_interval,
                              .keepalive_count = d->keepalive_count,
                              /* SIGTERM when this job thread ends, or the service dies */
                              .die_with_caller = TRUE };
    gint64 t0 = g_get_monotonic_time();
    guint64 sent = 0;
    gboolean ok;
    int fds[2];

    if (u == NULL)
        return FALSE;
    /* every word goes through the remote shell: only characters it takes literally
     * (tunnel_command and the bus address are checked when read, the path is an
     * object path, the token hex digits) */
    g_strv_builder_add(b, d->tunnel_command);
    if (u->bus != NULL)
        g_strv_builder_add_many(b, "--connect", u->bus, NULL);
    g_strv_builder_add_many(b, "migrate-tunnel-attach", dest_path, dest->tunnel_token, NULL);
    command = g_strv_builder_end(b);
    if (!vb_migration_tunnel_socketpair(fds, error))
        return FALSE;
    ssh = vb_remote_command_spawn(d->dest_uri, &ropts, (const char *const *)command, fds[0],
                                  error);
    close(fds[0]); /* ssh has its copy: it sees the end of the stream when QEMU closes */
    if (ssh == NULL) {
        close(fds[1]);
        g_prefix_error(error, "the tunnel's ssh data path: ");
        tunnel_abort(dom, conn, dest_path, 0);
        return FALSE;
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str,
                  "tunnelled stream over ssh (pid %d): %s ... migrate-tunnel-attach %s",
                  (int)vb_remote_command_get_pid(ssh), d->tunnel_command, dest_path);
    ok = vb_migration_perform_run(list, dom, job, &d->host, NULL, fds[1], d->flags, &d->params,
                                  dest, out_cookie, &qemu_err);
    if (ok) {
        /* every byte left QEMU: ssh ends once the destination has them all */
        if (!vb_remote_command_wait(ssh, SSH_END_WAIT_MS)) {
            g_set_error(&ssh_err, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                        "the tunnel's ssh data path did not end within %d s after the "
                        "transfer", SSH_END_WAIT_MS / 1000);
        } else if (!vb_remote_command_check(ssh, &ssh_err)) {
            g_prefix_error(&ssh_err, "the tunnel's ssh data path (%s migrate-tunnel-attach): ",
                           d->tunnel_command);
        }
        if (ssh_err != NULL) {
            qemu_err = g_steal_pointer(&ssh_err);
            vb_migration_resume_source(list, dom);
            ok = FALSE;
        }
    } else if (vb_remote_command_wait(ssh, 200) && !vb_remote_command_check(ssh, &ssh_err)) {
        /* ssh failed on its own (QEMU's end of the stream makes it exit 0): its
         * failure came first, QEMU's "broken pipe" only follows from it */
        g_clear_error(&qemu_err);
        qemu_err = g_steal_pointer(&ssh_err);
        g_prefix_error(&qemu_err, "the tunnel's ssh data path (%s migrate-tunnel-attach): ",
                       d->tunnel_command);
    }
    if (!ok) {
        vb_remote_command_end(ssh, 0);
        tunnel_abort(dom, conn, dest_path, 0);
    }
    if (*out_cookie != NULL) {
        g_autoptr(VbMigrationCookie) pc = vb_migration_cookie_from_bytes(*out_cookie, NULL);

        if (pc != NULL)
            sent = pc->data_processed;
    }
    {
        double secs = (g_get_monotonic_time() - t0) / 1e6;

        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                      "tunnelled stream: %" G_GUINT64_FORMAT " bytes (QEMU's count), %.2f s "
                      "(%.1f MB/s) over ssh%s", sent, secs,
                      secs > 0 ? sent / secs / 1e6 : 0.0, ok ? "" : ", failed");
    }
    if (!ok) {
        g_clear_pointer(out_cookie, g_bytes_unref);
        g_propagate_error(error, g_steal_pointer(&qemu_err));
    }
    return ok;
}

/*
 * The transfer of a tunnelled migration: QEMU migrates to one end of a
 * socket pair, the pump sends the other end's bytes to the destination
 * (MigrateTunnelData), then the end marker (MigrateTunnelEnd, or its
 * abort after a failure). The first error wins: when the tunnel failed,
 * QEMU's own failure ("broken pipe") only follows from it.
 */
static gboolean
perform_tunnelled(VbDomainList *list, VbDomainObj *dom, VbJob *job, P2PData *d,
                  GDBusConnection *conn, const char *dest_path, const VbMigrationCookie *dest,
                  GBytes **out_cookie, GError **error)
{
    g_autoptr(VbTunnelOut) pump = NULL;
    g_autoptr(GError) qemu_err = NULL;
    g_autoptr(GError) tun_err = NULL;
    g_autoptr(GError) end_err = NULL;
    g_autoptr(GVariant) reply = NULL;
    guint64 sent = 0;
    gint64 t0 = g_get_monotonic_time();
    gboolean ok;
    int fds[2];

    /* the destination gave a token and is reached over ssh: the fast path */
    if (dest->tunnel_token != NULL && g_str_has_prefix(d->dest_uri, "ssh://"))
        return perform_tunnelled_ssh(list, dom, job, d, conn, dest_path, dest, out_cookie,
                                     error);
    if (!vb_migration_tunnel_socketpair(fds, error))
        return FALSE;
    pump = vb_tunnel_out_start(conn, dest_path, fds[0], error);
    if (pump == NULL) {
        close(fds[1]);
        return FALSE;
    }
    ok = vb_migration_perform_run(list, dom, job, &d->host, NULL, fds[1], d->flags, &d->params,
                                  dest, out_cookie, &qemu_err);
    if (!ok)
        vb_tunnel_out_stop(pump);
    if (!vb_tunnel_out_wait(pump, &sent, &tun_err)) {
        GError *first = vb_tunnel_out_get_error(pump);

        /* a failure of the tunnel came first; a stop only follows QEMU's */
        if (first != NULL) {
            g_clear_error(&qemu_err);
            qemu_err = first;
        } else if (qemu_err == NULL) {
            qemu_err = g_steal_pointer(&tun_err);
        }
        if (ok)
            vb_migration_resume_source(list, dom);
        ok = FALSE;
    }
    reply = g_dbus_connection_call_sync(conn, DEST_NAME, DEST_PATH, DEST_IFACE,
                                        "MigrateTunnelEnd",
                                        g_variant_new("(otb)", dest_path, sent, !ok),
                                        G_VARIANT_TYPE("()"), G_DBUS_CALL_FLAGS_NONE,
                                        CALL_TIMEOUT_MS, NULL, ok ? &qemu_err : &end_err);
    if (reply == NULL) {
        if (ok) {
            remote_error(&qemu_err, "MigrateTunnelEnd");
            vb_migration_resume_source(list, dom);
            ok = FALSE;
        } else {
            remote_error(&end_err, "MigrateTunnelEnd");
            VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "ending the failed tunnel: %s",
                          end_err->message);
        }
    }
    {
        double secs = (g_get_monotonic_time() - t0) / 1e6;

        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                      "tunnelled stream: %" G_GUINT64_FORMAT " bytes in %" G_GUINT64_FORMAT
                      " calls, %.2f s (%.1f MB/s)%s", sent, vb_tunnel_out_calls(pump), secs,
                      secs > 0 ? sent / secs / 1e6 : 0.0, ok ? "" : ", failed");
    }
    if (!ok)
        g_propagate_error(error, g_steal_pointer(&qemu_err));
    return ok;
}

static gboolean
p2p_body(VbDomainList *list, VbDomainObj *dom, VbJob *job, gpointer data, GVariant **out_result,
         GError **error)
{
    P2PData *d = data;
    g_autofree char *xml = NULL;
    g_autofree char *uri_in = NULL;
    g_autofree char *uri_out = NULL;
    g_autofree char *dest_path = NULL;
    g_autoptr(GBytes) cookie = NULL;
    g_autoptr(GBytes) prep_cookie = NULL;
    g_autoptr(GBytes) perf_cookie = NULL;
    g_autoptr(GBytes) fin_cookie = NULL;
    g_autoptr(GDBusConnection) conn = NULL;
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GError) later = NULL;
    VbRemoteOptions ropts = { .ssh_config = d->ssh_config,
                              .trusted = FALSE,
                              .keepalive_interval = d->keepalive_interval,
                              .keepalive_count = d->keepalive_count };
    /* an offline migration has no stream to tunnel */
    gboolean tunnelled = (d->flags & VB_MIGRATE_TUNNELLED) && !(d->flags & VB_MIGRATE_OFFLINE);
    /* the destination's phases are not peer-to-peer; Finish needs no tunnel flag */
    guint dest_flags = d->flags & ~(VB_MIGRATE_PEER2PEER | VB_MIGRATE_TUNNELLED);
    gboolean performed = FALSE, finished = FALSE, finish_answered = FALSE;
    GVariantDict res;

    vb_domain_async_job_phase(list, dom, job, "begin", TRUE);
    if (!vb_migration_begin_locked(list, dom, &d->host, d->params.dest_xml, d->flags, &d->params,
                                   &xml, &cookie, error))
        return FALSE;

    vb_domain_async_job_phase(list, dom, job, "prepare", TRUE);
    conn = vb_migration_pool_take(d->dest_uri, &ropts, error);
    if (conn == NULL)
        g_prefix_error(error, "destination: ");
    if (conn == NULL || !vb_domain_async_check_abort(dom, error)) {
        vb_migration_resume_source(list, dom);
        return FALSE;
    }
    vb_migration_set_peer(dom, conn);
    if (tunnelled)
        reply = g_dbus_connection_call_sync(conn, DEST_NAME, DEST_PATH, DEST_IFACE,
                                            "MigratePrepareTunnel",
                                            g_variant_new("(s@ayu)", xml, bytes_variant(cookie),
                                                          dest_flags | VB_MIGRATE_TUNNELLED),
                                            G_VARIANT_TYPE("(ayo)"), G_DBUS_CALL_FLAGS_NONE,
                                            CALL_TIMEOUT_MS, NULL, error);
    else {
        uri_in = default_uri_in(d);
        reply = g_dbus_connection_call_sync(conn, DEST_NAME, DEST_PATH, DEST_IFACE,
                                            "MigratePrepare",
                                            g_variant_new("(s@aysu)", xml, bytes_variant(cookie),
                                                          uri_in, dest_flags),
                                            G_VARIANT_TYPE("(ayso)"), G_DBUS_CALL_FLAGS_NONE,
                                            CALL_TIMEOUT_MS, NULL, error);
    }
    if (reply == NULL) {
        remote_error(error, tunnelled ? "MigratePrepareTunnel" : "MigratePrepare");
        vb_migration_set_peer(dom, NULL);
        vb_migration_pool_give(d->dest_uri, &ropts, g_steal_pointer(&conn), FALSE);
        vb_migration_resume_source(list, dom);
        return FALSE;
    }
    {
        g_autoptr(GVariant) c = NULL;

        if (tunnelled)
            g_variant_get(reply, "(@ayo)", &c, &dest_path);
        else
            g_variant_get(reply, "(@ayso)", &c, &uri_out, &dest_path);
        prep_cookie = variant_bytes(c);
    }
    g_clear_pointer(&reply, g_variant_unref);

    /* Perform: the first error from here on is the one the caller gets */
    {
        g_autoptr(VbMigrationCookie) dc = vb_migration_cookie_from_bytes(prep_cookie, error);

        performed = dc != NULL &&
                    vb_migration_cookie_check(dc, d->host.host_uuid, dom->uuid_str, error) &&
                    vb_migration_nbd_take_cookie(dom, d->flags, &d->params, dc, error) &&
                    vb_domain_async_check_abort(dom, error);
        if (performed && (d->flags & VB_MIGRATE_OFFLINE))
            perf_cookie = vb_migration_perform_cookie(list, dom, &d->host, d->flags, &d->params,
                                                      vb_migration_now_ms(), 0, 0);
        else if (performed && tunnelled)
            performed = perform_tunnelled(list, dom, job, d, conn, dest_path, dc, &perf_cookie,
                                          error);
        else if (performed)
            performed = vb_migration_perform_run(list, dom, job, &d->host, uri_out, -1, d->flags,
                                                 &d->params, dc, &perf_cookie, error);
    }

    if (!performed && vb_domain_list_shutting_down(list)) {
        /* the service stops: the destination destroys its domain when this
         * connection goes, and the next start resumes the source */
        vb_migration_set_peer(dom, NULL);
        vb_migration_pool_give(d->dest_uri, &ropts, g_steal_pointer(&conn), FALSE);
        return FALSE;
    }
    /* the phase names say whether the transfer completed: a restart keeps the
     * source paused after it (domain-reconnect.c) */
    vb_domain_async_job_phase(list, dom, job, performed ? "finish" : "cancel", FALSE);
    reply = g_dbus_connection_call_sync(conn, DEST_NAME, DEST_PATH, DEST_IFACE, "MigrateFinish",
                                        g_variant_new("(@ayub)",
                                                      bytes_variant(performed ? perf_cookie
                                                                              : cookie),
                                                      dest_flags, !performed),
                                        G_VARIANT_TYPE("(oay)"), G_DBUS_CALL_FLAGS_NONE,
                                        CALL_TIMEOUT_MS, NULL, performed ? error : &later);
    finish_answered = reply != NULL;
    if (reply == NULL && performed && !dest_answered(error != NULL ? *error : NULL)) {
        /* no answer after the transfer: the destination may have resumed the guest (its
         * service was killed after `cont`, the answer was lost); resuming this copy
         * beside it would run the guest twice (the kill -9 sweep found such a split
         * brain). As a source killed in this phase: it stays paused, the administrator
         * decides (the destination keeps a guest it resumed, domain-reconnect.c). */
        remote_error(error, "MigrateFinish");
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "the migration's transfer completed but %s; the guest may run on the "
                      "destination: it stays paused here (resume or destroy it here)",
                      error != NULL && *error != NULL ? (*error)->message : "no answer");
        g_mutex_lock(&dom->lock);
        if (dom->state == VB_DOMAIN_STATE_PAUSED) {
            dom->pause_reason = VB_DOMAIN_REASON_MIGRATION;
            vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_PAUSED, VB_DOMAIN_REASON_MIGRATION);
        }
        g_mutex_unlock(&dom->lock);
        vb_migration_set_peer(dom, NULL);
        vb_migration_pool_give(d->dest_uri, &ropts, g_steal_pointer(&conn), FALSE);
        g_prefix_error(error, "the guest may run on the destination and stays paused here: ");
        return FALSE;
    }
    if (reply != NULL) {
        g_autoptr(GVariant) c = NULL;

        g_free(dest_path);
        g_variant_get(reply, "(o@ay)", &dest_path, &c);
        fin_cookie = variant_bytes(c);
        finished = performed;
    } else {
        remote_error(performed ? error : &later, "MigrateFinish");
        if (later != NULL)
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                          "cleaning up the destination after the failed migration: %s",
                          later->message);
    }

    if (finished) {
        vb_domain_async_job_phase(list, dom, job, "confirm", FALSE);
        /* the destination runs the guest, the status says so, Confirm not done yet */
        vb_test_kill_point("VIRTBUS_TEST_MIGRATION_KILL", "confirm");
    }
    g_clear_error(&later);
    if (!vb_migration_confirm_locked(list, dom, d->flags, !finished, &later)) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "confirm: %s", later->message);
        if (finished) {
            g_propagate_error(error, g_steal_pointer(&later));
            finished = FALSE;
        }
    }
    vb_migration_set_peer(dom, NULL);
    /* a connection that answered Finish is good for the next migration */
    vb_migration_pool_give(d->dest_uri, &ropts, g_steal_pointer(&conn), finish_answered);
    if (!finished)
        return FALSE;
    g_variant_dict_init(&res, NULL);
    g_variant_dict_insert(&res, "destination", "s", d->dest_uri);
    g_variant_dict_insert(&res, "domain", "o", dest_path);
    if (fin_cookie != NULL) {
        g_autoptr(VbMigrationCookie) fc = vb_migration_cookie_from_bytes(fin_cookie, NULL);

        if (fc != NULL) {
            guint64 total = 0, downtime = 0;
            gboolean estimated = FALSE;

            vb_migration_cookie_times(fc, vb_migration_now_ms(), &total, &downtime,
                                      &estimated);
            g_variant_dict_insert(&res, "downtime", "t", downtime);
        }
    }
    *out_result = g_variant_dict_end(&res);
    return TRUE;
}

/**
 * vb_migration_migrate:
 *
 * Domain.Migrate: starts a peer-to-peer migration of @dom to the service
 * at @dest_uri, on a job thread. Worker threads.
 *
 * Returns: (transfer full): the job.
 */
VbJob *
vb_migration_migrate(VbDomainList *list, VbDomainObj *dom, const VbMigrationHost *host,
                     const char *dest_uri, GVariant *params, guint flags, const char *owner,
                     GError **error)
{
    P2PData *d;
    VbMigrationParams p;
    gboolean running;

    if (!vb_migration_check_flags(flags, TRUE, error) ||
        !vb_migration_params_parse(params, TRUE, &p, error))
        return NULL;
    if (!vb_migration_check_params(&p, flags, error) ||
        !vb_migration_check_tunnel(flags, &p, error) ||
        !vb_remote_check_uri(dest_uri, FALSE, error)) {
        vb_migration_params_clear(&p);
        return NULL;
    }
    if (p.dest_name != NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "migration parameter 'destination_name' is not implemented yet");
        vb_migration_params_clear(&p);
        return NULL;
    }
    if (!vb_domain_async_job_begin(dom, VB_ASYNC_JOB_MIGRATION_OUT, "Migrate", owner,
                                   list->config->job_wait_timeout, list->config->max_queued,
                                   error)) {
        vb_migration_params_clear(&p);
        return NULL;
    }
    g_mutex_lock(&dom->lock);
    running = (flags & VB_MIGRATE_OFFLINE) || (dom->id >= 0 && dom->mon != NULL &&
                                               !dom->stopping);
    if (!running)
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' is not running; only a running or paused domain can be "
                    "migrated live", dom->def->name);
    g_mutex_unlock(&dom->lock);
    if (!running) {
        vb_domain_async_job_end(dom);
        vb_migration_params_clear(&p);
        return NULL;
    }
    d = g_new0(P2PData, 1);
    d->host_uuid = g_strdup(host->host_uuid);
    d->host_name = g_strdup(host->host_name);
    d->host.host_uuid = d->host_uuid;
    d->host.host_name = d->host_name;
    d->dest_uri = g_strdup(dest_uri);
    d->flags = flags;
    d->params = p;
    d->ssh_config = g_strdup(list->config->ssh_config);
    d->keepalive_interval = list->config->keepalive_interval;
    d->keepalive_count = list->config->keepalive_count;
    d->tunnel_command = g_strdup(list->config->tunnel_command != NULL
                                     ? list->config->tunnel_command
                                     : "virtbusctl");
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "peer-to-peer migration to %s (flags 0x%x)",
                  dest_uri, flags);
    return vb_domain_async_job_start_full(list, dom, VB_ASYNC_JOB_MIGRATION_OUT, "migration-out",
                                          owner, p2p_body, d, (GDestroyNotify)p2p_data_free, 0);
}
