/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "migration-priv.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * The destination's phases: Prepare starts QEMU waiting for the stream
 * and keeps the migration-in job (its record is the destination's Job
 * object); Finish resumes the guest, or kills it.
 */

#define FINISH_WAIT_S 60
#define POLL_US (20 * 1000) /* the guest is paused meanwhile (bench/migrate) */

void
vb_migration_in_free(VbMigrationIn *m)
{
    if (m == NULL)
        return;
    /* images made for a storage copy that never finished go with the migration */
    vb_migration_nbd_remove_created(m->nbd_created);
    g_strfreev(m->nbd_created);
    g_clear_pointer(&m->record, vb_job_unref);
    if (m->tunnel != NULL) {
        g_autoptr(GError) why = g_error_new_literal(VB_ERROR, VB_ERROR_INVALID_STATE,
                                                    "the incoming migration has ended");

        /* takes no lock and never waits: this may run under the domain's lock */
        vb_tunnel_in_close(m->tunnel, why);
        vb_tunnel_in_unref(m->tunnel);
    }
    g_free(m);
}

/* The incoming domain: the defined one (inactive), or a new transient one. */
static VbDomainObj *
incoming_domain(VbDomainList *list, VbDomainDef *def, GStrv unsupported, gboolean *out_created,
                GError **error)
{
    char uuid[37];
    VbDomainObj *dom;
    VbDomainDef *copy = NULL;

    *out_created = FALSE;
    vb_uuid_format(def->uuid, uuid);
    g_mutex_lock(&list->define_lock);
    /* a domain kept as a stub takes the run in its loaded object (issue 16) */
    if (!vb_domain_list_load_stub(list, uuid, error)) {
        g_mutex_unlock(&list->define_lock);
        return NULL;
    }
    g_mutex_lock(&list->lock);
    dom = g_hash_table_lookup(list->by_uuid, uuid);
    if (dom != NULL) {
        g_autofree char *name = vb_domain_obj_get_name(dom);

        if (!g_str_equal(name, def->name)) {
            g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                        "uuid %s belongs to domain '%s' on this host, not '%s'", uuid, name,
                        def->name);
            dom = NULL;
        } else if (vb_domain_obj_is_active(dom)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "domain '%s' is already active on this host", name);
            dom = NULL;
        } else {
            vb_domain_obj_ref(dom);
        }
    } else if (vb_domain_list_has_name_locked(list, def->name)) {
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                    "a domain named '%s' exists on this host with another uuid", def->name);
    } else if ((copy = vb_domain_def_copy(def)) == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the incoming definition");
    } else {
        g_autofree char *path = list->path_func(uuid);

        dom = vb_domain_obj_new(g_steal_pointer(&copy), path);
        dom->unsupported = g_strdupv(unsupported);
        vb_domain_list_insert(list, dom, def->name);
        *out_created = TRUE;
    }
    g_mutex_unlock(&list->lock);
    g_mutex_unlock(&list->define_lock);
    if (*out_created)
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_ADDED, NULL, NULL);
    return dom;
}

static void
forget_created(VbDomainList *list, VbDomainObj *dom)
{
    gboolean still_there;

    g_mutex_lock(&dom->lock);
    still_there = !dom->removed && dom->id < 0 && !dom->persistent;
    g_mutex_unlock(&dom->lock);
    if (still_there) {
        vb_domain_list_remove(list, dom);
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_REMOVED, NULL, NULL);
    }
}

/* Where the source's QEMU connects: the URI's host, migration_host, or our name. */
static char *
advertised_host(VbDomainList *list, const VbMigrationHost *host, const char *uri_host)
{
    if (uri_host != NULL)
        return g_strdup(uri_host);
    if (list->config->migration_host != NULL)
        return g_strdup(list->config->migration_host);
    return g_strdup(host->host_name);
}

/* Starts QEMU with "-incoming defer" and the definition to run, paused. */
static gboolean
start_incoming(VbDomainList *list, VbDomainObj *dom, VbDomainDef *def, const char *owner,
               GError **error)
{
    gboolean ok;

    if (!vb_domain_use_live_def(dom, def, "the incoming definition", error))
        return FALSE;
    if (!vb_domain_job_begin_nested(dom, list->config->job_wait_timeout, error))
        return FALSE;
    ok = vb_domain_start_locked(list, dom, owner != NULL ? VB_START_AUTODESTROY : 0, owner,
                                TRUE, error);
    vb_domain_job_end(dom);
    if (!ok) {
        g_mutex_lock(&dom->lock);
        if (dom->new_def != NULL) {
            vb_domain_def_free(dom->def);
            dom->def = g_steal_pointer(&dom->new_def);
        }
        g_mutex_unlock(&dom->lock);
    }
    return ok;
}

/* Removes the images Prepare made for a storage copy that did not finish. */
static void
abandon_created(VbDomainObj *dom)
{
    g_auto(GStrv) created = NULL;

    g_mutex_lock(&dom->lock);
    if (dom->migration != NULL)
        created = g_steal_pointer(&((VbMigrationIn *)dom->migration)->nbd_created);
    g_mutex_unlock(&dom->lock);
    vb_migration_nbd_remove_created(created);
}

/* Kills the incoming QEMU (with the migration-in job held). */
static void
kill_incoming(VbDomainList *list, VbDomainObj *dom)
{
    g_autoptr(GError) error = NULL;

    if (!vb_domain_job_begin_nested(dom, list->config->job_wait_timeout, &error)) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", error->message);
        return;
    }
    vb_domain_teardown(list, dom, VB_DOMAIN_REASON_FAILED);
    vb_domain_job_end(dom);
}

/*
 * Listens for the stream: a port of the migration range (or the URI's),
 * the capabilities both sides need, migrate-incoming.
 */
static gboolean
listen_incoming(VbDomainList *list, VbDomainObj *dom, const VbMigrationHost *host,
                const char *uri_in, guint flags, const VbMigrationCookie *src, char **out_uri,
                GError **error)
{
    g_autofree char *uri_host = NULL;
    g_autofree char *adv = NULL;
    g_autofree char *listen = NULL;
    VbMigrationParams none = { .ac_initial = -1, .ac_increment = -1 };
    const char *comp[2] = { NULL, NULL };
    JsonObject *args;
    g_autoptr(JsonNode) r = NULL;
    int port = -1;

    if (uri_in != NULL && *uri_in != '\0' &&
        !vb_migration_parse_tcp_uri(uri_in, &uri_host, &port, error))
        return FALSE;
    if (port < 0) {
        port = vb_domain_ports_acquire(list, list->config->migration_port_min,
                                       list->config->migration_port_max, error);
        if (port < 0) {
            g_prefix_error(error, "no port for the incoming migration: ");
            return FALSE;
        }
        g_mutex_lock(&dom->lock);
        dom->migration_port = port;
        g_mutex_unlock(&dom->lock);
    }
    /* the source's multifd settings: both QEMUs must use the same */
    if (src->features & VB_MIGRATION_COOKIE_MULTIFD) {
        none.parallel_connections = src->multifd_channels;
        comp[0] = src->multifd_compression;
        none.compression = (GStrv)comp;
    }
    if (!vb_migration_set_capabilities(list, dom, flags, &none, FALSE, error) ||
        !vb_migration_set_parameters(list, dom, flags, &none, FALSE, error))
        return FALSE;
    listen = list->config->migration_address != NULL
                 ? (strchr(list->config->migration_address, ':') != NULL
                        ? g_strdup_printf("tcp:[%s]:%d", list->config->migration_address, port)
                        : g_strdup_printf("tcp:%s:%d", list->config->migration_address, port))
                 : g_strdup_printf("tcp:0.0.0.0:%d", port);
    args = json_object_new();
    json_object_set_string_member(args, "uri", listen);
    r = vb_domain_async_monitor(list, dom, "migrate-incoming", args, -1, error);
    if (r == NULL) {
        g_prefix_error(error, "cannot listen on %s for the incoming migration: ", listen);
        return FALSE;
    }
    adv = advertised_host(list, host, uri_host);
    *out_uri = strchr(adv, ':') != NULL ? g_strdup_printf("tcp:[%s]:%d", adv, port)
                                        : g_strdup_printf("tcp:%s:%d", adv, port);
    return TRUE;
}

/* Where a SPICE client of the source reconnects: our display's address and ports. */
static void
add_graphics(VbDomainList *list, const VbMigrationHost *host, VbDomainObj *dom,
             const char *uri_in, VbMigrationCookie *cookie)
{
    g_autofree char *uri_host = NULL;
    int port = -1, tls = -1, uri_port;
    gboolean has;

    g_mutex_lock(&dom->lock);
    has = vb_domain_def_get_spice(dom->def, &port, &tls);
    g_mutex_unlock(&dom->lock);
    if (!has)
        return;
    if (uri_in != NULL && *uri_in != '\0')
        vb_migration_parse_tcp_uri(uri_in, &uri_host, &uri_port, NULL);
    cookie->features |= VB_MIGRATION_COOKIE_GRAPHICS;
    cookie->graphics_type = g_strdup("spice");
    cookie->graphics_port = port;
    cookie->graphics_tls_port = tls;
    cookie->graphics_listen = advertised_host(list, host, uri_host);
}

/* The NBD server of a storage copy, on the host the migration URI names. */
static gboolean
start_nbd(VbDomainList *list, VbDomainObj *dom, const VbMigrationHost *host,
          const VbMigrationCookie *src, VbMigrationCookie *mine, const char *uri,
          GError **error)
{
    g_autofree char *uri_host = NULL;
    int port;

    if (!vb_migration_parse_tcp_uri(uri, &uri_host, &port, NULL))
        uri_host = advertised_host(list, host, NULL);
    return vb_migration_nbd_start_server(list, dom, src, mine, uri_host, error);
}

#define TUNNEL_FDNAME "vbtunnel"

/*
 * Waits for the stream on a socket pair instead: QEMU reads "fd:" from
 * one end, the tunnel's thread writes what MigrateTunnelData brings into
 * the other.
 */
static VbTunnelIn *
listen_tunnel(VbDomainList *list, VbDomainObj *dom, guint flags, const char *owner,
              GError **error)
{
    VbMigrationParams none = { .ac_initial = -1, .ac_increment = -1 };
    JsonObject *args;
    g_autoptr(JsonNode) r = NULL;
    g_autofree char *name = vb_domain_obj_get_name(dom);
    int fds[2];

    if (!vb_migration_set_capabilities(list, dom, flags, &none, FALSE, error) ||
        !vb_migration_set_parameters(list, dom, flags, &none, FALSE, error) ||
        !vb_migration_tunnel_socketpair(fds, error))
        return NULL;
    args = json_object_new();
    json_object_set_string_member(args, "fdname", TUNNEL_FDNAME);
    r = vb_domain_async_monitor(list, dom, "getfd", args, fds[1], error);
    close(fds[1]); /* QEMU has its copy */
    if (r != NULL) {
        g_clear_pointer(&r, json_node_unref);
        args = json_object_new();
        json_object_set_string_member(args, "uri", "fd:" TUNNEL_FDNAME);
        r = vb_domain_async_monitor(list, dom, "migrate-incoming", args, -1, error);
    }
    if (r == NULL) {
        close(fds[0]);
        g_prefix_error(error, "cannot start the tunnelled incoming migration: ");
        return NULL;
    }
    return vb_tunnel_in_new(fds[0], owner, name, error);
}

/*
 * MigratePrepare and MigratePrepareTunnel. Worker threads (and the
 * peer-to-peer driver's thread of the other host, through the bus).
 */
static VbDomainObj *
prepare(VbDomainList *list, const VbMigrationHost *host, const char *xml, GBytes *cookie,
        const char *uri_in, guint flags, gboolean tunnelled, const char *owner,
        GBytes **out_cookie, char **out_uri, GError **error)
{
    g_autoptr(VbMigrationCookie) src = NULL;
    g_autoptr(VbMigrationCookie) mine = NULL;
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(VbDomainObj) dom = NULL;
    g_autoptr(VbJob) record = NULL;
    g_auto(GStrv) unsupported = NULL;
    g_autofree char *uri = NULL;
    g_auto(GStrv) nbd_created = NULL;
    VbMigrationIn *m;
    VbTunnelIn *tunnel = NULL;
    gboolean created = FALSE;
    char uuid[37];

    if (!vb_migration_check_flags(flags, FALSE, error))
        return NULL;
    if (tunnelled && !vb_migration_check_tunnel(flags | VB_MIGRATE_TUNNELLED, NULL, error))
        return NULL;
    src = vb_migration_cookie_from_bytes(cookie, error);
    if (src == NULL || !vb_migration_cookie_check(src, host->host_uuid, NULL, error)) {
        g_prefix_error(error, "MigratePrepare: ");
        return NULL;
    }
    def = vb_domain_parse_define(list, xml, &unsupported, error);
    if (def == NULL)
        return NULL;
    vb_uuid_format(def->uuid, uuid);
    if (!g_str_equal(uuid, src->uuid)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "MigratePrepare: the XML describes domain uuid %s, the cookie %s", uuid,
                    src->uuid);
        return NULL;
    }
    if (flags & VB_MIGRATE_OFFLINE) {
        /* nothing runs: Finish defines it; refuse now what Finish would */
        if (!(flags & VB_MIGRATE_PERSIST_DEST) ||
            !(src->features & VB_MIGRATION_COOKIE_PERSISTENT)) {
            g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                                "MigratePrepare: OFFLINE (1024) needs PERSIST_DEST (8) and a "
                                "cookie with the persistent definition");
            return NULL;
        }
        dom = vb_domain_list_peek_by_uuid(list, uuid); /* a stub is inactive */
        if (dom != NULL && vb_domain_obj_is_active(dom)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                        "domain '%s' is active on this host", def->name);
            return NULL;
        }
        mine = vb_migration_cookie_new();
        mine->hostname = g_strdup(host->host_name);
        g_strlcpy(mine->host_uuid, host->host_uuid, sizeof(mine->host_uuid));
        mine->name = g_strdup(def->name);
        g_strlcpy(mine->uuid, uuid, sizeof(mine->uuid));
        *out_cookie = vb_migration_cookie_format(mine);
        *out_uri = g_strdup("");
        return NULL;
    }
    dom = incoming_domain(list, def, unsupported, &created, error);
    if (dom == NULL)
        return NULL;
    if (!vb_domain_async_job_begin(dom, VB_ASYNC_JOB_MIGRATION_IN, "MigratePrepare", owner,
                                   list->config->job_wait_timeout, list->config->max_queued,
                                   error)) {
        if (created)
            forget_created(list, dom);
        return NULL;
    }
    vb_domain_async_job_set_phase(dom, "prepare");
    mine = vb_migration_cookie_for(host, dom);
    /* storage copy: the target images exist before QEMU opens them */
    if (!vb_migration_nbd_precreate(list, def, src, flags, &nbd_created, error)) {
        vb_domain_async_job_end(dom);
        if (created)
            forget_created(list, dom);
        return NULL;
    }
    if (!start_incoming(list, dom, def, owner, error)) {
        vb_migration_nbd_remove_created(nbd_created);
        vb_domain_async_job_end(dom);
        if (created)
            forget_created(list, dom);
        return NULL;
    }
    if (tunnelled) {
        tunnel = listen_tunnel(list, dom, flags, owner, error);
        if (tunnel != NULL) {
            uri = g_strdup("tunnel");
            /* the one-time token of the ssh data path (MigrateTunnelAttach) */
            mine->tunnel_token = g_strdup(vb_tunnel_in_get_token(tunnel));
            mine->features |= VB_MIGRATION_COOKIE_TUNNEL;
        }
    }
    if ((tunnelled ? tunnel == NULL
                   : !listen_incoming(list, dom, host, uri_in, flags, src, &uri, error)) ||
        ((flags & (VB_MIGRATE_NON_SHARED_DISK | VB_MIGRATE_NON_SHARED_INC)) &&
         !start_nbd(list, dom, host, src, mine, uri, error))) {
        vb_migration_nbd_stop_server(list, dom);
        kill_incoming(list, dom);
        vb_migration_nbd_remove_created(nbd_created);
        vb_domain_async_job_end(dom);
        return NULL;
    }
    g_mutex_lock(&dom->lock);
    vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_PAUSED, VB_DOMAIN_REASON_MIGRATION);
    g_mutex_unlock(&dom->lock);
    record = vb_domain_async_job_add_record(list, dom, VB_ASYNC_JOB_MIGRATION_IN,
                                            "migration-in", owner);
    vb_job_set_phase(record, "prepare", FALSE);
    g_mutex_lock(&dom->lock);
    /* once the source switched to post-copy it can never run again: the
     * guest runs here at once, not a Finish call later (QEMU's own autostart) */
    dom->job.run_on_postcopy = (flags & VB_MIGRATE_POSTCOPY) && !(flags & VB_MIGRATE_PAUSED);
    g_mutex_unlock(&dom->lock);
    m = g_new0(VbMigrationIn, 1);
    m->flags = flags;
    m->record = vb_job_ref(record);
    m->prepared = vb_migration_now_ms();
    m->nbd_created = g_steal_pointer(&nbd_created);
    m->tunnel = tunnel;
    g_mutex_lock(&dom->lock);
    if (dom->migration != NULL && dom->migration_free != NULL)
        dom->migration_free(dom->migration);
    dom->migration = m;
    dom->migration_free = (GDestroyNotify)vb_migration_in_free;
    g_mutex_unlock(&dom->lock);
    {
        g_autoptr(GError) st_err = NULL;

        if (!vb_domain_status_save(list, dom, &st_err))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", st_err->message);
    }
    add_graphics(list, host, dom, uri_in, mine);
    if (src->features & VB_MIGRATION_COOKIE_MULTIFD) {
        mine->features |= VB_MIGRATION_COOKIE_MULTIFD;
        mine->multifd_channels = src->multifd_channels;
        mine->multifd_compression = g_strdup(src->multifd_compression);
    }
    *out_cookie = vb_migration_cookie_format(mine);
    *out_uri = g_steal_pointer(&uri);
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                  "incoming migration from %s (%s) prepared on %s", src->hostname,
                  src->host_uuid, *out_uri);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "started", "migrated");
    return g_steal_pointer(&dom);
}

/**
 * vb_migration_prepare:
 * @owner: (nullable): the bus name the incoming domain is tied to until
 *   Finish (autodestroy)
 *
 * MigratePrepare. Worker threads.
 *
 * Returns: (transfer full): the incoming domain.
 */
VbDomainObj *
vb_migration_prepare(VbDomainList *list, const VbMigrationHost *host, const char *xml,
                     GBytes *cookie, const char *uri_in, guint flags, const char *owner,
                     GBytes **out_cookie, char **out_uri, GError **error)
{
    return prepare(list, host, xml, cookie, uri_in, flags, FALSE, owner, out_cookie, out_uri,
                   error);
}

/**
 * vb_migration_prepare_tunnel:
 * @flags: as for MigratePrepare; TUNNELLED may be set
 * @owner: the bus name that prepares it: the only one that may feed the
 *   tunnel, and the one the incoming domain is tied to until Finish
 *
 * MigratePrepareTunnel. Worker threads.
 *
 * Returns: (transfer full): the incoming domain.
 */
VbDomainObj *
vb_migration_prepare_tunnel(VbDomainList *list, const VbMigrationHost *host, const char *xml,
                            GBytes *cookie, guint flags, const char *owner,
                            GBytes **out_cookie, GError **error)
{
    g_autofree char *uri = NULL;

    if (owner == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_AUTHORIZED,
                            "MigratePrepareTunnel: calls must come through the bus");
        return NULL;
    }
    return prepare(list, host, xml, cookie, NULL, flags & ~VB_MIGRATE_TUNNELLED, TRUE, owner,
                   out_cookie, &uri, error);
}

/* The tunnel of the incoming domain @uuid (a reference). Main thread. */
static VbTunnelIn *
tunnel_of(VbDomainList *list, const char *uuid, GError **error)
{
    g_autoptr(VbDomainObj) dom = vb_domain_list_peek_by_uuid(list, uuid); /* never a stub */
    VbTunnelIn *t = NULL;

    if (dom == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN,
                    "no incoming domain with uuid %s (it was destroyed, or its QEMU ended)",
                    uuid);
        return NULL;
    }
    g_mutex_lock(&dom->lock);
    if (dom->job.async == VB_ASYNC_JOB_MIGRATION_IN && dom->migration != NULL &&
        dom->migration_free == (GDestroyNotify)vb_migration_in_free &&
        ((VbMigrationIn *)dom->migration)->tunnel != NULL)
        t = vb_tunnel_in_ref(((VbMigrationIn *)dom->migration)->tunnel);
    else
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' has no tunnelled incoming migration (MigratePrepareTunnel)",
                    dom->def->name);
    g_mutex_unlock(&dom->lock);
    return t;
}

/**
 * vb_migration_tunnel_data:
 * @owner: the caller: only the one that prepared the tunnel may feed it
 * @offset: where @data starts in the stream (checked: the stream stays whole)
 * @done: called once, from any thread, when @data is in QEMU's socket or
 *   failed; not called when this returns %FALSE
 *
 * MigrateTunnelData: queues a chunk of the stream. Main thread; never
 * blocks.
 */
gboolean
vb_migration_tunnel_data(VbDomainList *list, const char *uuid, const char *owner,
                         guint64 offset, GBytes *data, VbTunnelDone done, gpointer user_data,
                         GError **error)
{
    g_autoptr(VbTunnelIn) t = tunnel_of(list, uuid, error);

    return t != NULL && vb_tunnel_in_push(t, owner, offset, data, done, user_data, error);
}

/**
 * vb_migration_tunnel_end:
 * @length: the stream's length, as the source sent it
 * @abort: the source gives up: the tunnel closes at once (QEMU fails)
 *
 * MigrateTunnelEnd: @done runs when every byte is in QEMU's socket and
 * the tunnel is closed. Main thread; never blocks.
 */
gboolean
vb_migration_tunnel_end(VbDomainList *list, const char *uuid, const char *owner,
                        guint64 length, gboolean abort, VbTunnelDone done, gpointer user_data,
                        GError **error)
{
    g_autoptr(VbTunnelIn) t = tunnel_of(list, uuid, error);

    return t != NULL && vb_tunnel_in_end(t, owner, length, abort, done, user_data, error);
}

/**
 * vb_migration_tunnel_attach:
 * @token: the one-time token of the domain's Prepare cookie
 * @fd: (transfer full): the stream (closed on failure too)
 *
 * MigrateTunnelAttach: the tunnel of the incoming domain @uuid takes its
 * stream from @fd (the ssh data path). Returns at once. Main thread; never
 * blocks.
 */
gboolean
vb_migration_tunnel_attach(VbDomainList *list, const char *uuid, const char *token, int fd,
                           GError **error)
{
    VbTunnelIn *t = tunnel_of(list, uuid, error);
    gboolean ok;

    if (t == NULL) {
        close(fd);
        return FALSE;
    }
    ok = vb_tunnel_in_attach(t, token, fd, error);
    vb_tunnel_in_unref(t);
    return ok;
}

/* Waits for the incoming stream to complete (or reach post-copy). */
static gboolean
wait_incoming(VbDomainList *list, VbDomainObj *dom, VbJob *record, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + FINISH_WAIT_S * G_USEC_PER_SEC;
    guint seen;

    g_mutex_lock(&dom->lock);
    seen = dom->job.migration_events;
    g_mutex_unlock(&dom->lock);
    vb_job_set_phase(record, "finish", FALSE);
    vb_domain_list_job_notify(list, record, VB_JOB_NOTIFY_CHANGED);
    for (;;) {
        g_autoptr(JsonNode) r = vb_domain_async_monitor(list, dom, "query-migrate", NULL, -1,
                                                        error);
        JsonObject *o = r != NULL && JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
        const char *st = o != NULL && json_object_has_member(o, "status")
                             ? json_object_get_string_member(o, "status") : "none";

        if (r == NULL)
            return FALSE;
        if (g_str_equal(st, "completed") || g_str_equal(st, "postcopy-active"))
            return TRUE;
        if (g_str_equal(st, "failed") || g_str_equal(st, "cancelled")) {
            g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "the incoming migration %s: %s", st,
                        o != NULL && json_object_has_member(o, "error-desc")
                            ? json_object_get_string_member(o, "error-desc") : "no details");
            return FALSE;
        }
        if (g_get_monotonic_time() > deadline) {
            g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                        "the incoming migration did not complete within %d s of "
                        "MigrateFinish (QEMU reports '%s')", FINISH_WAIT_S, st);
            return FALSE;
        }
        vb_migration_wait_event(dom, &seen, POLL_US);
    }
}

/* Makes the migrated domain persistent (PERSIST_DEST). */
static void
persist(VbDomainList *list, VbDomainObj *dom, const VbMigrationCookie *src)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainObj) defined = NULL;
    VbDomainDef *def = NULL;

    if (src->persistent_xml != NULL) {
        def = vb_domain_parse_config(src->persistent_xml, &error);
        if (def != NULL && memcmp(def->uuid, dom->def->uuid, sizeof(def->uuid)) != 0) {
            g_clear_pointer(&def, vb_domain_def_free);
            g_set_error_literal(&error, VB_ERROR, VB_ERROR_INVALID_ARG,
                                "the persistent definition names another uuid");
        }
    } else {
        g_mutex_lock(&dom->lock);
        def = vb_domain_def_copy(dom->new_def != NULL ? dom->new_def : dom->def);
        g_mutex_unlock(&dom->lock);
        if (def != NULL)
            vb_domain_def_clear_runtime(def);
        else
            g_set_error_literal(&error, VB_ERROR, VB_ERROR_INTERNAL,
                                "cannot copy the persistent definition");
    }
    if (def != NULL) {
        /* the source's definition keeps its name; here the domain may have
         * another (destination_name, --dname): the incoming one wins */
        g_mutex_lock(&dom->lock);
        if (!g_str_equal(def->name, dom->def->name)) {
            g_free(def->name);
            def->name = g_strdup(dom->def->name);
        }
        g_mutex_unlock(&dom->lock);
        defined = vb_domain_define(list, def, &error);
    }
    if (defined == NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "PERSIST_DEST: cannot make the migrated domain persistent: %s",
                      error->message);
}

/* The figures of the completed migration, on the destination's record. */
static GVariant *
finish_stats(VbMigrationCookie *src, VbJob *record)
{
    guint64 total = 0, downtime = 0;
    gboolean estimated = FALSE;
    GVariantDict d;

    vb_migration_cookie_times(src, vb_migration_now_ms(), &total, &downtime, &estimated);
    g_variant_dict_init(&d, NULL);
    g_variant_dict_insert(&d, "time_elapsed", "t", total);
    g_variant_dict_insert(&d, "downtime", "t", downtime);
    g_variant_dict_insert(&d, "time_estimated", "b", estimated);
    if (src->data_total > 0) {
        g_variant_dict_insert(&d, "memory_total", "t", src->data_total);
        g_variant_dict_insert(&d, "memory_processed", "t", src->data_processed);
    }
    vb_job_set_progress(record, src->data_total, src->data_processed, 0,
                        g_variant_dict_end(&d));
    g_variant_dict_init(&d, NULL);
    g_variant_dict_insert(&d, "total_time", "t", total);
    g_variant_dict_insert(&d, "downtime", "t", downtime);
    g_variant_dict_insert(&d, "time_estimated", "b", estimated);
    if (estimated)
        g_message("migration of %s: the hosts' clocks differ; total time and downtime are "
                  "estimates", src->name);
    return g_variant_dict_end(&d);
}

/* OFFLINE: defines the domain the cookie carries. */
static VbDomainObj *
finish_offline(VbDomainList *list, const VbMigrationHost *host, VbMigrationCookie *src,
               gboolean cancelled, GBytes **out_cookie, GError **error)
{
    g_autoptr(VbMigrationCookie) mine = NULL;
    VbDomainDef *def;
    VbDomainObj *dom;

    if (cancelled) {
        *out_cookie = g_bytes_new(NULL, 0);
        return NULL;
    }
    if (src->persistent_xml == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "MigrateFinish: the cookie carries no definition to define");
        return NULL;
    }
    def = vb_domain_parse_config(src->persistent_xml, error);
    if (def == NULL)
        return NULL;
    dom = vb_domain_define(list, def, error);
    if (dom == NULL)
        return NULL;
    mine = vb_migration_cookie_for(host, dom);
    *out_cookie = vb_migration_cookie_format(mine);
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "defined by an offline migration from %s",
                  src->hostname);
    return dom;
}

/* Finish does not go on: the record ends with @why, the incoming QEMU is
 * killed (a domain Prepare created leaves), the migration-in job ends. */
static void
give_up(VbDomainList *list, VbDomainObj *dom, VbJob *record, const GError *why,
        gboolean cancelled)
{
    if (record != NULL) {
        vb_job_complete(record, NULL, why, cancelled);
        vb_domain_list_job_notify(list, record, VB_JOB_NOTIFY_COMPLETED);
    }
    kill_incoming(list, dom);
    abandon_created(dom);
    vb_domain_async_job_complete(list, dom, NULL, NULL, NULL, FALSE);
}

/**
 * vb_migration_finish:
 * @cancelled: the transfer failed or never ran: kill the incoming domain
 *
 * MigrateFinish. Worker threads.
 *
 * Returns: (transfer full) (nullable): the domain, or %NULL (with no
 *   error when cancelled).
 */
VbDomainObj *
vb_migration_finish(VbDomainList *list, const VbMigrationHost *host, GBytes *cookie, guint flags,
                    gboolean cancelled, const char *owner, GBytes **out_cookie, GError **error)
{
    static const char *const phases[] = { "prepare", NULL };
    g_autoptr(VbMigrationCookie) src = NULL;
    g_autoptr(VbMigrationCookie) mine = NULL;
    g_autoptr(VbDomainObj) dom = NULL;
    g_autoptr(VbJob) record = NULL;
    g_autoptr(GError) local = NULL;
    GVariant *result;
    gboolean ok;
    gboolean run = !(flags & VB_MIGRATE_PAUSED);
    int port;

    (void)owner;
    if (!vb_migration_check_flags(flags, FALSE, error))
        return NULL;
    src = vb_migration_cookie_from_bytes(cookie, error);
    if (src == NULL || !vb_migration_cookie_check(src, host->host_uuid, NULL, error)) {
        g_prefix_error(error, "MigrateFinish: ");
        return NULL;
    }
    if (flags & VB_MIGRATE_OFFLINE)
        return finish_offline(list, host, src, cancelled, out_cookie, error);
    dom = vb_domain_list_peek_by_uuid(list, src->uuid); /* an incoming one is never a stub */
    if (dom == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN,
                    "MigrateFinish: no incoming domain with uuid %s (it was destroyed, or its "
                    "QEMU ended)", src->uuid);
        return NULL;
    }
    g_mutex_lock(&dom->lock);
    ok = vb_migration_check_held_locked(dom, VB_ASYNC_JOB_MIGRATION_IN, phases, "MigrateFinish",
                                         error);
    if (ok) {
        dom->job.held = FALSE;
        if (dom->job.record != NULL)
            record = vb_job_ref(dom->job.record);
    }
    g_mutex_unlock(&dom->lock);
    if (!ok)
        return NULL;
    vb_domain_async_job_set_phase(dom, "finish");

    if (cancelled) {
        g_autoptr(GError) gone = g_error_new_literal(VB_ERROR, VB_ERROR_ABORTED,
                                                     "the migration was cancelled");

        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "incoming migration cancelled");
        vb_migration_nbd_stop_server(list, dom);
        give_up(list, dom, record, gone, TRUE);
        *out_cookie = g_bytes_new(NULL, 0);
        return NULL;
    }

    ok = wait_incoming(list, dom, record, &local);
    /* the copy is complete once the source's Perform ended: no more NBD clients */
    vb_migration_nbd_stop_server(list, dom);
    if (ok && run) {
        g_autoptr(JsonNode) r = vb_domain_async_monitor(list, dom, "cont", NULL, -1, &local);

        ok = r != NULL;
        if (!ok)
            g_prefix_error(&local, "cannot resume the migrated guest: ");
        else /* the guest runs here, nothing records it yet (docs/migration.md) */
            vb_test_kill_point("VIRTBUS_TEST_MIGRATION_KILL", "finish-resumed");
    }
    if (!ok) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "MigrateFinish: %s", local->message);
        give_up(list, dom, record, local, FALSE);
        g_propagate_error(error, g_steal_pointer(&local));
        return NULL;
    }
    g_mutex_lock(&dom->lock);
    /* the copied images are the guest's now */
    if (dom->migration != NULL)
        g_clear_pointer(&((VbMigrationIn *)dom->migration)->nbd_created, g_strfreev);
    vb_domain_obj_set_state(dom, run ? VB_DOMAIN_STATE_RUNNING : VB_DOMAIN_STATE_PAUSED,
                            run ? VB_DOMAIN_REASON_MIGRATED : VB_DOMAIN_REASON_USER);
    dom->resumed_at = g_get_real_time();
    /* the guest is ours now: the client's departure no longer destroys it */
    g_clear_pointer(&dom->autodestroy_owner, g_free);
    /* QEMU closed its listening socket when the stream came */
    port = dom->migration_port;
    dom->migration_port = -1;
    g_mutex_unlock(&dom->lock);
    vb_domain_ports_release(list, port);
    if (flags & VB_MIGRATE_PERSIST_DEST)
        persist(list, dom, src);
    result = finish_stats(src, record);
    mine = vb_migration_cookie_for(host, dom);
    mine->features |= VB_MIGRATION_COOKIE_STATS;
    mine->started = src->started;
    mine->stopped = src->stopped;
    mine->downtime_ms = src->downtime_ms;
    *out_cookie = vb_migration_cookie_format(mine);
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "incoming migration from %s finished",
                  src->hostname);
    vb_domain_async_job_complete(list, dom, record, result, NULL, FALSE);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, run ? "resumed" : "suspended",
                          "migrated");
    return g_steal_pointer(&dom);
}
