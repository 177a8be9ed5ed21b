/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "domain-list-priv.h"
#include "migration-cookie.h"
#include "migration-priv.h"
#include "migration-remote.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * Live migration, protocol v3 (docs/migration.md). The source's
 * migration-out job is taken by Begin and held until Confirm; Perform runs
 * the transfer on a job thread of its own and leaves the job held again
 * (phase perform3_done) when it succeeds. The destination's migration-in
 * job is taken by Prepare (QEMU started with "-incoming defer", listening
 * on a port of the migration range) and held until Finish; its record is
 * the destination's Job object. A run that ends meanwhile ends the held
 * job (vb_domain_teardown()); the client that drives the migration is
 * watched: on the destination through autodestroy, on the source through
 * the job's owner (vb_domain_autodestroy_owner_gone()).
 */

/* every poll of query-migrate after QEMU completes adds to the guest's downtime
 * (it stays paused until Finish): bench/migrate measured up to 200 ms of it */
#define POLL_US (50 * 1000)

void
vb_migration_out_free(VbMigrationOut *m)
{
    if (m == NULL)
        return;
    g_free(m->nbd_host);
    g_strfreev(m->nbd_disks);
    if (m->nbd_copies != NULL)
        g_ptr_array_unref(m->nbd_copies);
    g_clear_object(&m->peer);
    g_free(m);
}

/**
 * vb_migration_set_peer:
 * @peer: (nullable): the peer-to-peer connection to the destination service
 *
 * Lets the waits of the transfer notice when @peer ends; %NULL before the
 * connection is closed on purpose. Job thread.
 */
void
vb_migration_set_peer(VbDomainObj *dom, GDBusConnection *peer)
{
    g_mutex_lock(&dom->lock);
    if (dom->migration != NULL)
        g_set_object(&((VbMigrationOut *)dom->migration)->peer, peer);
    g_mutex_unlock(&dom->lock);
}

/**
 * vb_migration_peer_lost:
 *
 * libvirt's "lost connection to destination host": whether the connection
 * to the destination of a peer-to-peer migration ended under it.
 *
 * Returns: (transfer full) (nullable): why, or %NULL (no peer, or it is
 *   still there). Job thread.
 */
char *
vb_migration_peer_lost(VbDomainObj *dom)
{
    g_autoptr(GDBusConnection) peer = NULL;

    g_mutex_lock(&dom->lock);
    if (dom->migration != NULL && ((VbMigrationOut *)dom->migration)->peer != NULL)
        peer = g_object_ref(((VbMigrationOut *)dom->migration)->peer);
    g_mutex_unlock(&dom->lock);
    return peer != NULL ? vb_remote_lost_reason(peer) : NULL;
}

gint64
vb_migration_now_ms(void)
{
    return g_get_real_time() / 1000;
}

/* The cookie of this side for @dom, with our identity. */
VbMigrationCookie *
vb_migration_cookie_for(const VbMigrationHost *host, VbDomainObj *dom)
{
    VbMigrationCookie *c = vb_migration_cookie_new();

    c->hostname = g_strdup(host->host_name);
    g_strlcpy(c->host_uuid, host->host_uuid, sizeof(c->host_uuid));
    g_mutex_lock(&dom->lock);
    c->name = g_strdup(dom->def->name);
    g_mutex_unlock(&dom->lock);
    g_strlcpy(c->uuid, dom->uuid_str, sizeof(c->uuid));
    return c;
}

VbMigrationCookie *
vb_migration_cookie_from_bytes(GBytes *bytes, GError **error)
{
    gsize len = 0;
    const guint8 *data = bytes != NULL ? g_bytes_get_data(bytes, &len) : NULL;

    return vb_migration_cookie_parse(data, len, error);
}

/* Whether the domain is running (or paused) with a monitor. Under lock. */
static gboolean
is_running_locked(VbDomainObj *dom)
{
    return dom->id >= 0 && dom->mon != NULL && !dom->stopping;
}

/*
 * Checks that @dom has the migration job @type held between calls in one
 * of @phases (NULL-terminated). Under lock.
 */
gboolean
vb_migration_check_held_locked(VbDomainObj *dom, VbAsyncJobType type, const char *const *phases,
                  const char *method, GError **error)
{
    if (dom->job.async != type || !dom->job.held) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "%s: domain '%s' has no %s migration waiting for this phase%s", method,
                    dom->def->name, type == VB_ASYNC_JOB_MIGRATION_OUT ? "outgoing" : "incoming",
                    dom->job.async == type && !dom->job.held ? " (its transfer still runs)"
                    : type == VB_ASYNC_JOB_MIGRATION_OUT ? " (call MigrateBegin first)"
                                                          : "");
        return FALSE;
    }
    if (!g_strv_contains(phases, dom->job.phase)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "%s: the migration of domain '%s' is in phase %s", method, dom->def->name,
                    dom->job.phase);
        return FALSE;
    }
    return TRUE;
}

/* ---- Begin (source) ---------------------------------------------------- */

static void
set_out_state(VbDomainObj *dom, guint flags, gint64 started)
{
    VbMigrationOut *m = g_new0(VbMigrationOut, 1);

    m->flags = flags;
    m->nbd_port = -1;
    m->started = started;
    g_mutex_lock(&dom->lock);
    if (dom->migration != NULL && dom->migration_free != NULL)
        dom->migration_free(dom->migration);
    dom->migration = m;
    dom->migration_free = (GDestroyNotify)vb_migration_out_free;
    g_mutex_unlock(&dom->lock);
}

/*
 * OFFLINE: only the persistent definition of a shut-off domain moves
 * (libvirt's rules: it needs PERSIST_DEST; no storage copy, no tunnel).
 */
static gboolean
begin_offline(VbDomainList *list, VbDomainObj *dom, const VbMigrationHost *host, guint flags,
              char **out_xml, GBytes **out_cookie, GError **error)
{
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(VbMigrationCookie) cookie = NULL;

    if (!(flags & VB_MIGRATE_PERSIST_DEST) ||
        (flags & (VB_MIGRATE_NON_SHARED_DISK | VB_MIGRATE_NON_SHARED_INC |
                  VB_MIGRATE_TUNNELLED | VB_MIGRATE_POSTCOPY | VB_MIGRATE_LIVE))) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "OFFLINE (1024) moves a definition only: it needs PERSIST_DEST (8) "
                            "and excludes LIVE, TUNNELLED, POSTCOPY and the storage copy flags");
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 || dom->starting || !dom->persistent) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' is %s; an offline migration moves the definition of a "
                    "shut-off persistent domain", dom->def->name,
                    !dom->persistent ? "transient" : "active");
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    dom->job.was_running = FALSE;
    def = vb_domain_def_copy(dom->def);
    g_mutex_unlock(&dom->lock);
    *out_xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_MIGRATABLE |
                                             VB_DOMAIN_DEF_FORMAT_SECURE, error);
    if (*out_xml == NULL)
        return FALSE;
    cookie = vb_migration_cookie_for(host, dom);
    if (!vb_migration_cookie_set_persistent(cookie, *out_xml, error)) {
        g_clear_pointer(out_xml, g_free);
        return FALSE;
    }
    cookie->features |= VB_MIGRATION_COOKIE_STATS;
    cookie->started = vb_migration_now_ms();
    *out_cookie = vb_migration_cookie_format(cookie);
    set_out_state(dom, flags, cookie->started);
    (void)list;
    return TRUE;
}

/*
 * The checks and the migratable XML of Begin, with the migration-out job
 * held by the caller. Worker or job thread.
 */
gboolean
vb_migration_begin_locked(VbDomainList *list, VbDomainObj *dom, const VbMigrationHost *host,
                          const char *xml_in, guint flags, const VbMigrationParams *params,
                          char **out_xml, GBytes **out_cookie, GError **error)
{
    g_autoptr(VbDomainDef) live = NULL;
    g_autoptr(VbDomainDef) given = NULL;
    g_autoptr(VbMigrationCookie) cookie = NULL;
    gboolean was_running;

    if (flags & VB_MIGRATE_OFFLINE)
        return begin_offline(list, dom, host, flags, out_xml, out_cookie, error);
    g_mutex_lock(&dom->lock);
    if (!is_running_locked(dom) ||
        (dom->state != VB_DOMAIN_STATE_RUNNING && dom->state != VB_DOMAIN_STATE_PAUSED)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' is not running (%s); only a running or paused domain can be "
                    "migrated live", dom->def->name, vb_domain_state_to_string(dom->state));
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    if ((flags & VB_MIGRATE_PERSIST_DEST) && !dom->persistent && params->persistent_xml == NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str,
                      "PERSIST_DEST of a transient domain: the live definition is kept");
    was_running = dom->state == VB_DOMAIN_STATE_RUNNING;
    dom->job.was_running = was_running;
    live = vb_domain_def_copy(dom->def);
    g_mutex_unlock(&dom->lock);
    if (live == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the live definition");
        return FALSE;
    }

    if (xml_in != NULL && *xml_in != '\0') {
        given = vb_domain_parse_config(xml_in, error);
        if (given == NULL)
            return FALSE;
        vb_domain_apply_os_defaults(list, given);
        /* the running guest is the source, the given XML the target */
        if (!vb_domain_def_check_abi_stability(live, given, error))
            return FALSE;
    }
    *out_xml = vb_domain_def_format(given != NULL ? given : live,
                                    VB_DOMAIN_DEF_FORMAT_MIGRATABLE | VB_DOMAIN_DEF_FORMAT_SECURE,
                                    error);
    if (*out_xml == NULL)
        return FALSE;

    cookie = vb_migration_cookie_for(host, dom);
    cookie->features |= VB_MIGRATION_COOKIE_STATS;
    cookie->started = vb_migration_now_ms();
    vb_migration_cookie_set_multifd(cookie, flags, params);
    /* the disks to copy, with their sizes (storage copy) */
    if (!vb_migration_nbd_begin(list, dom, flags, params, cookie, error))
        return FALSE;
    *out_cookie = vb_migration_cookie_format(cookie);
    set_out_state(dom, flags, cookie->started);
    g_mutex_lock(&dom->lock);
    dom->job.abort_on_error = (flags & VB_MIGRATE_ABORT_ON_ERROR) != 0;
    g_mutex_unlock(&dom->lock);
    return TRUE;
}

/**
 * vb_migration_begin:
 *
 * MigrateBegin: takes the migration-out job of @dom and keeps it, held for
 * the caller's next phases (Perform, then Confirm). Worker threads.
 */
gboolean
vb_migration_begin(VbDomainList *list, VbDomainObj *dom, const VbMigrationHost *host,
                   const char *xml_in, guint flags, const char *owner, char **out_xml,
                   GBytes **out_cookie, GError **error)
{
    VbMigrationParams none = { .ac_initial = -1, .ac_increment = -1 };
    g_autoptr(GError) st_err = NULL;

    if (!vb_migration_check_flags(flags, FALSE, error))
        return FALSE;
    if (!vb_domain_async_job_begin(dom, VB_ASYNC_JOB_MIGRATION_OUT, "MigrateBegin", owner,
                                   list->config->job_wait_timeout, list->config->max_queued,
                                   error))
        return FALSE;
    if (!vb_migration_begin_locked(list, dom, host, xml_in, flags, &none, out_xml, out_cookie,
                                   error)) {
        vb_domain_async_job_end(dom);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    dom->job.phase = "begin3";
    dom->job.held = TRUE;
    dom->job.owner_watched = owner != NULL;
    g_mutex_unlock(&dom->lock);
    if (!vb_domain_status_save(list, dom, &st_err))
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", st_err->message);
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "migration begun by %s (flags 0x%x)",
                  owner != NULL ? owner : "the service", flags);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    return TRUE;
}

/* ---- Perform (source) -------------------------------------------------- */

typedef struct {
    VbMigrationHost host;
    char *host_uuid;
    char *host_name;
    char *uri;
    guint flags;
    VbMigrationParams params;
    VbMigrationCookie *dest; /* the destination's cookie from Prepare */
} PerformData;

static void
perform_data_free(PerformData *d)
{
    g_free(d->host_uuid);
    g_free(d->host_name);
    g_free(d->uri);
    vb_migration_params_clear(&d->params);
    if (d->dest != NULL)
        vb_migration_cookie_free(d->dest);
    g_free(d);
}

static JsonNode *
cap(const char *name, gboolean on)
{
    JsonObject *o = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(o, "capability", name);
    json_object_set_boolean_member(o, "state", on);
    json_node_take_object(n, o);
    return n;
}

/* The multifd compression the parameters ask for: "zstd", "zlib" or "none". */
static const char *
multifd_compression(const VbMigrationParams *p, guint flags)
{
    if (!(flags & VB_MIGRATE_COMPRESSED) || p->compression == NULL)
        return "none";
    if (g_strv_contains((const char *const *)p->compression, "zstd"))
        return "zstd";
    if (g_strv_contains((const char *const *)p->compression, "zlib"))
        return "zlib";
    return "none";
}

/*
 * With PARALLEL, what both QEMUs must agree on: the number of connections
 * and their compression (the destination sets them before it listens).
 */
void
vb_migration_cookie_set_multifd(VbMigrationCookie *cookie, guint flags,
                                const VbMigrationParams *p)
{
    if (!(flags & VB_MIGRATE_PARALLEL))
        return;
    cookie->features |= VB_MIGRATION_COOKIE_MULTIFD;
    cookie->multifd_channels = p->parallel_connections > 0 ? p->parallel_connections : 2;
    g_free(cookie->multifd_compression);
    cookie->multifd_compression = g_strdup(multifd_compression(p, flags));
}

/**
 * vb_migration_check_multifd:
 * @dest: the destination's cookie (Prepare's)
 *
 * The multifd settings of Perform must be those the destination was
 * prepared with: it listens for that many connections.
 */
gboolean
vb_migration_check_multifd(const VbMigrationCookie *dest, guint flags,
                           const VbMigrationParams *p, GError **error)
{
    int channels = p->parallel_connections > 0 ? p->parallel_connections : 2;
    int dest_channels = 2;
    const char *dest_comp = "none";

    if (!(flags & VB_MIGRATE_PARALLEL))
        return TRUE;
    if (dest->features & VB_MIGRATION_COOKIE_MULTIFD) {
        dest_channels = dest->multifd_channels;
        dest_comp = dest->multifd_compression;
    }
    if (channels == dest_channels && g_str_equal(multifd_compression(p, flags), dest_comp))
        return TRUE;
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                "the destination was prepared for %d parallel connections with compression "
                "'%s', not %d with '%s' (a client-driven migration uses QEMU's defaults, 2 "
                "and none; peer-to-peer Migrate passes its parameters to the destination)",
                dest_channels, dest_comp, channels, multifd_compression(p, flags));
    return FALSE;
}

/* Whether @method is among the compression methods asked for. */
static gboolean
wants_compression(const VbMigrationParams *p, guint flags, const char *method)
{
    if (p->compression == NULL)
        /* COMPRESSED alone means xbzrle, as in libvirt */
        return (flags & VB_MIGRATE_COMPRESSED) && g_str_equal(method, "xbzrle");
    return g_strv_contains((const char *const *)p->compression, method);
}

static gboolean
copies_storage(guint flags)
{
    return (flags & (VB_MIGRATE_NON_SHARED_DISK | VB_MIGRATE_NON_SHARED_INC)) != 0;
}

/**
 * vb_migration_set_capabilities:
 * @source: the source's capabilities (else the destination's)
 *
 * Sets every capability virtbus uses, on or off, so that nothing of an
 * earlier migration of the same QEMU stays. Job thread or worker, with
 * the async job held.
 */
gboolean
vb_migration_set_capabilities(VbDomainList *list, VbDomainObj *dom, guint flags,
                              const VbMigrationParams *p, gboolean source, GError **error)
{
    JsonObject *args = json_object_new();
    JsonArray *caps = json_array_new();
    g_autoptr(JsonNode) r = NULL;

    json_array_add_element(caps, cap("xbzrle", source && wants_compression(p, flags, "xbzrle")));
    json_array_add_element(caps, cap("auto-converge",
                                     source && (flags & VB_MIGRATE_AUTO_CONVERGE) != 0));
    json_array_add_element(caps, cap("postcopy-ram", (flags & VB_MIGRATE_POSTCOPY) != 0));
    json_array_add_element(caps, cap("multifd", (flags & VB_MIGRATE_PARALLEL) != 0));
    /* with a storage copy the source stops before its switch-over, as libvirt's always
     * does: the mirrors end while QEMU's disks are still active (wait_outgoing()) */
    json_array_add_element(caps, cap("pause-before-switchover", source && copies_storage(flags)));
    /* QEMU sends MIGRATION events only with this: they wake the waits */
    json_array_add_element(caps, cap("events", TRUE));
    json_object_set_array_member(args, "capabilities", caps);
    r = vb_domain_async_monitor(list, dom, "migrate-set-capabilities", args, -1, error);
    if (r == NULL) {
        g_prefix_error(error, "cannot set the migration capabilities: ");
        return FALSE;
    }
    return TRUE;
}

/* The parameters both sides must agree on (multifd), and the source's own. */
gboolean
vb_migration_set_parameters(VbDomainList *list, VbDomainObj *dom, guint flags,
                            const VbMigrationParams *p, gboolean source, GError **error)
{
    JsonObject *args = json_object_new();
    g_autoptr(JsonNode) r = NULL;

    if (flags & VB_MIGRATE_PARALLEL) {
        json_object_set_int_member(args, "multifd-channels",
                                   p->parallel_connections > 0 ? p->parallel_connections : 2);
        json_object_set_string_member(args, "multifd-compression",
                                      multifd_compression(p, flags));
    }
    if (source) {
        /* unlimited unless asked: QEMU's own default is 128 MiB/s */
        json_object_set_int_member(args, "max-bandwidth",
                                   p->has_bandwidth && p->bandwidth > 0
                                       ? (gint64)(p->bandwidth * 1024 * 1024)
                                       : G_MAXINT64);
        if (p->has_downtime)
            json_object_set_int_member(args, "downtime-limit", (gint64)p->downtime);
        if (p->has_xbzrle_cache)
            json_object_set_int_member(args, "xbzrle-cache-size", (gint64)p->xbzrle_cache);
        if (p->ac_initial > 0)
            json_object_set_int_member(args, "cpu-throttle-initial", p->ac_initial);
        if (p->ac_increment > 0)
            json_object_set_int_member(args, "cpu-throttle-increment", p->ac_increment);
        if (p->has_postcopy_bandwidth)
            json_object_set_int_member(args, "max-postcopy-bandwidth",
                                       (gint64)(p->postcopy_bandwidth * 1024 * 1024));
    }
    if (json_object_get_size(args) == 0) {
        json_object_unref(args);
        return TRUE;
    }
    r = vb_domain_async_monitor(list, dom, "migrate-set-parameters", args, -1, error);
    if (r == NULL) {
        g_prefix_error(error, "cannot set the migration parameters: ");
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_migration_wait_event:
 * @seen: (inout): the MIGRATION event count last seen
 *
 * Sleeps until QEMU reports a migration state change (its MIGRATION event,
 * through the domain's condition) or @timeout_us passed, whichever comes
 * first: progress is published at every poll, and a completion is seen
 * at once. Job thread or worker, no lock held.
 */
void
vb_migration_wait_event(VbDomainObj *dom, guint *seen, gint64 timeout_us)
{
    gint64 deadline = g_get_monotonic_time() + timeout_us;

    g_mutex_lock(&dom->lock);
    while (dom->job.migration_events == *seen && !dom->job.abort_requested &&
           dom->id >= 0 && !dom->stopping) {
        if (!g_cond_wait_until(&dom->job.cond, &dom->lock, deadline))
            break;
    }
    *seen = dom->job.migration_events;
    g_mutex_unlock(&dom->lock);
}

static const char *
status_of(JsonNode *r)
{
    JsonObject *o = r != NULL && JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;

    return o != NULL && json_object_has_member(o, "status")
               ? json_object_get_string_member(o, "status") : "none";
}

/* Stops QEMU's outgoing migration after a failure and waits until it is idle. */
void
vb_migration_cancel_qemu(VbDomainList *list, VbDomainObj *dom)
{
    g_autoptr(JsonNode) c = vb_domain_async_monitor(list, dom, "migrate_cancel", NULL, -1, NULL);

    for (int i = 0; c != NULL && i < 100; i++) {
        g_autoptr(JsonNode) q = vb_domain_async_monitor(list, dom, "query-migrate", NULL, -1,
                                                        NULL);
        const char *st = status_of(q);

        if (q == NULL || (!g_str_equal(st, "active") && !g_str_equal(st, "setup") &&
                          !g_str_equal(st, "cancelling") && !g_str_equal(st, "device") &&
                          !g_str_equal(st, "pre-switchover")))
            break;
        g_usleep(100 * 1000);
    }
}

/* Lets the source's guest run again after a failed or cancelled migration. */
void
vb_migration_resume_source(VbDomainList *list, VbDomainObj *dom)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) q = NULL;
    g_autoptr(JsonNode) r = NULL;
    gboolean was_running, paused;

    g_mutex_lock(&dom->lock);
    was_running = dom->job.was_running;
    paused = dom->state == VB_DOMAIN_STATE_PAUSED && is_running_locked(dom);
    g_mutex_unlock(&dom->lock);
    /* a guest paused before Begin stays paused (libvirt's rule) */
    q = vb_domain_async_monitor(list, dom, "query-status", NULL, -1, NULL);
    if (q != NULL && JSON_NODE_HOLDS_OBJECT(q) &&
        json_object_get_boolean_member_with_default(json_node_get_object(q), "running", FALSE))
        paused = FALSE;
    if (!was_running || !paused) {
        if (was_running && q != NULL) {
            g_mutex_lock(&dom->lock);
            if (dom->state == VB_DOMAIN_STATE_PAUSED && is_running_locked(dom)) {
                vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_RUNNING, VB_DOMAIN_REASON_UNPAUSED);
                dom->resumed_at = g_get_real_time();
            }
            g_mutex_unlock(&dom->lock);
            vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
        }
        return;
    }
    r = vb_domain_async_monitor(list, dom, "cont", NULL, -1, &error);
    if (r == NULL) {
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "cannot resume the guest after the failed migration: %s", error->message);
        return;
    }
    g_mutex_lock(&dom->lock);
    if (is_running_locked(dom)) {
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_RUNNING, VB_DOMAIN_REASON_UNPAUSED);
        dom->resumed_at = g_get_real_time();
    }
    g_mutex_unlock(&dom->lock);
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "resumed after the failed migration");
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "resumed", "migrated");
}

/* Pauses the guest for a migration that is not live. */
static gboolean
pause_source(VbDomainList *list, VbDomainObj *dom, GError **error)
{
    g_autoptr(JsonNode) r = NULL;
    gboolean running;

    g_mutex_lock(&dom->lock);
    running = dom->state == VB_DOMAIN_STATE_RUNNING;
    if (running)
        dom->pause_reason = VB_DOMAIN_REASON_MIGRATION;
    g_mutex_unlock(&dom->lock);
    if (!running)
        return TRUE;
    r = vb_domain_async_monitor(list, dom, "stop", NULL, -1, error);
    if (r == NULL)
        return FALSE;
    g_mutex_lock(&dom->lock);
    vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_PAUSED, VB_DOMAIN_REASON_MIGRATION);
    g_mutex_unlock(&dom->lock);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "suspended", "migrated");
    return TRUE;
}

/*
 * QEMU stopped before its switch-over (pause-before-switchover, set with a storage
 * copy): the guest is paused and every disk still active. The ready mirrors end here,
 * leaving the destination a point-in-time copy, before QEMU goes on, sends the
 * devices' state and inactivates its disks. Ending them after the switch-over, as
 * before, let a mirror write to an inactivated node: QEMU 7.2 aborts on that assertion,
 * and the source's guest was lost with its QEMU (and in post-copy the destination's
 * guest ran while the mirrors still wrote its disks). libvirt's order
 * (qemuMigrationSrcRun).
 */
static gboolean
switch_over(VbDomainList *list, VbDomainObj *dom, GError **error)
{
    JsonObject *args;
    g_autoptr(JsonNode) r = NULL;

    if (!vb_migration_nbd_copy_finish(list, dom, error))
        return FALSE;
    VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str,
                  "storage copy ended before the switch-over; the migration goes on");
    args = json_object_new();
    json_object_set_string_member(args, "state", "pre-switchover");
    r = vb_domain_async_monitor(list, dom, "migrate-continue", args, -1, error);
    if (r == NULL)
        g_prefix_error(error, "cannot continue the migration after its storage copy: ");
    return r != NULL;
}

/*
 * Waits until QEMU's outgoing migration completes (or reaches post-copy,
 * with @until_postcopy), publishing its progress every poll; an abort
 * asked at any time (also before the transfer started) cancels it, except
 * in post-copy, where the destination already runs the guest.
 */
static gboolean
wait_outgoing(VbDomainList *list, VbDomainObj *dom, VbJob *job, gboolean until_postcopy,
              gint64 *out_downtime, GError **error)
{
    gboolean cancel_sent = FALSE, postcopy = FALSE, switched = FALSE;
    g_autofree char *lost = NULL;
    guint seen;

    g_mutex_lock(&dom->lock);
    seen = dom->job.migration_events;
    g_mutex_unlock(&dom->lock);
    for (;;) {
        g_autoptr(JsonNode) r = NULL;
        JsonObject *o;
        const char *status;
        gboolean abort;

        if (vb_domain_list_shutting_down(list)) {
            g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
                                "the service is stopping; the migration is recovered at its "
                                "next start");
            return FALSE;
        }
        g_mutex_lock(&dom->lock);
        abort = dom->job.abort_requested;
        g_mutex_unlock(&dom->lock);
        /* the stream may well be stuck on the same dead link: cancel it. In
         * post-copy the destination runs the guest; only QEMU can go on. */
        if (lost == NULL && !postcopy && (lost = vb_migration_peer_lost(dom)) != NULL) {
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                          "lost the connection to the destination: %s; cancelling the "
                          "migration", lost);
            abort = TRUE;
        }
        if (abort && !cancel_sent && !postcopy) {
            g_autoptr(JsonNode) c = vb_domain_async_monitor(list, dom, "migrate_cancel", NULL,
                                                            -1, error);

            if (c == NULL)
                return FALSE;
            cancel_sent = TRUE;
        }
        r = vb_domain_async_monitor(list, dom, "query-migrate", NULL, -1, error);
        if (r == NULL)
            return FALSE;
        o = JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
        status = status_of(r);
        if (o != NULL) {
            guint64 total = 0, remaining = 0;
            GVariant *stats = vb_migration_nbd_add_stats(list, dom,
                                                         vb_domain_migration_stats(o, &total,
                                                                                   &remaining));

            vb_job_set_progress(job, total, total - MIN(remaining, total), remaining, stats);
            vb_domain_list_job_notify(list, job, VB_JOB_NOTIFY_CHANGED);
            if (json_object_has_member(o, "downtime"))
                *out_downtime = json_object_get_int_member(o, "downtime");
        }
        if (g_str_equal(status, "completed"))
            return TRUE;
        if (g_str_equal(status, "pre-switchover") && !cancel_sent && !switched &&
            !switch_over(list, dom, error))
            return FALSE;
        if (g_str_equal(status, "pre-switchover"))
            switched = TRUE;
        if (g_str_equal(status, "postcopy-active") && !postcopy) {
            postcopy = TRUE;
            vb_domain_async_job_phase(list, dom, job, "postcopy", FALSE);
            if (until_postcopy)
                return TRUE;
        }
        if (lost != NULL && (g_str_equal(status, "cancelled") || g_str_equal(status, "failed"))) {
            g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                        "lost the connection to the destination: %s; the migration was "
                        "cancelled", lost);
            return FALSE;
        }
        if (g_str_equal(status, "cancelled") || (cancel_sent && g_str_equal(status, "failed"))) {
            gboolean io_error;

            g_mutex_lock(&dom->lock);
            io_error = dom->job.io_error;
            g_mutex_unlock(&dom->lock);
            g_set_error_literal(error, VB_ERROR, VB_ERROR_ABORTED,
                                io_error ? "the migration was aborted: the guest had an I/O "
                                           "error (ABORT_ON_ERROR)"
                                         : "the migration was cancelled on request");
            return FALSE;
        }
        if (g_str_equal(status, "failed") || g_str_equal(status, "none") ||
            g_str_equal(status, "postcopy-paused")) {
            g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "QEMU's migration %s: %s", status,
                        o != NULL && json_object_has_member(o, "error-desc")
                            ? json_object_get_string_member(o, "error-desc")
                            : "no details (the destination may have failed or the "
                              "connection was lost)");
            return FALSE;
        }
        vb_migration_wait_event(dom, &seen, POLL_US);
    }
}

/* The Perform cookie: our identity, the timestamps, the definition to keep. */
GBytes *
vb_migration_perform_cookie(VbDomainList *list, VbDomainObj *dom, const VbMigrationHost *host,
                            guint flags, const VbMigrationParams *p, gint64 started,
                            gint64 stopped, gint64 downtime)
{
    g_autoptr(VbMigrationCookie) c = vb_migration_cookie_for(host, dom);
    VbJobInfo info = { 0 };
    g_autoptr(VbJob) last = NULL;

    c->features |= VB_MIGRATION_COOKIE_STATS;
    c->started = started;
    c->stopped = stopped;
    c->downtime_ms = downtime > 0 ? (guint64)downtime : 0;
    c->total_ms = (guint64)MAX(vb_migration_now_ms() - started, 0);
    g_mutex_lock(&dom->lock);
    last = dom->job.record != NULL ? vb_job_ref(dom->job.record) : NULL;
    g_mutex_unlock(&dom->lock);
    if (last != NULL) {
        vb_job_get_info(last, &info);
        c->data_total = info.data_total;
        c->data_processed = info.data_processed;
        vb_job_info_clear(&info);
    }
    if (flags & VB_MIGRATE_PERSIST_DEST) {
        g_autoptr(VbDomainDef) persistent = NULL;

        g_autofree char *xml = NULL;
        g_autoptr(GError) perr = NULL;

        if (p->persistent_xml != NULL) {
            xml = g_strdup(p->persistent_xml);
        } else {
            g_mutex_lock(&dom->lock);
            persistent = vb_domain_def_copy(dom->new_def != NULL ? dom->new_def : dom->def);
            g_mutex_unlock(&dom->lock);
            xml = vb_domain_def_format(persistent,
                                       VB_DOMAIN_DEF_FORMAT_SECURE |
                                           VB_DOMAIN_DEF_FORMAT_MIGRATABLE,
                                       NULL);
        }
        if (xml != NULL && !vb_migration_cookie_set_persistent(c, xml, &perr))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                          "PERSIST_DEST: the persistent definition is not sent: %s",
                          perr->message);
    }
    (void)list;
    return vb_migration_cookie_format(c);
}

/*
 * Tells a SPICE client connected to the source where the guest goes
 * (client_migrate_info), so that it can follow it seamlessly. Best effort:
 * a display client never fails a migration.
 */
static void
relocate_spice(VbDomainList *list, VbDomainObj *dom, const VbMigrationCookie *dest)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args;
    int port = -1, tls = -1;
    gboolean has;

    if (dest == NULL || !(dest->features & VB_MIGRATION_COOKIE_GRAPHICS) ||
        g_strcmp0(dest->graphics_type, "spice") != 0 || dest->graphics_listen == NULL)
        return;
    g_mutex_lock(&dom->lock);
    has = vb_domain_def_get_spice(dom->def, &port, &tls);
    g_mutex_unlock(&dom->lock);
    if (!has)
        return;
    args = json_object_new();
    json_object_set_string_member(args, "protocol", "spice");
    json_object_set_string_member(args, "hostname", dest->graphics_listen);
    if (dest->graphics_port > 0)
        json_object_set_int_member(args, "port", dest->graphics_port);
    if (dest->graphics_tls_port > 0)
        json_object_set_int_member(args, "tls-port", dest->graphics_tls_port);
    r = vb_domain_async_monitor(list, dom, "client_migrate_info", args, -1, &error);
    if (r == NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "cannot tell the SPICE client where the guest goes: %s", error->message);
    else
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "SPICE clients relocate to %s:%d",
                      dest->graphics_listen, dest->graphics_port);
}

#define SPICE_WAIT_S 30

/*
 * After the transfer: when a SPICE client is connected, waits until it
 * has moved (QEMU's SPICE_MIGRATE_COMPLETED, through the domain's
 * condition; no polling), at most SPICE_WAIT_S.
 */
static void
wait_spice(VbDomainList *list, VbDomainObj *dom)
{
    g_autoptr(JsonNode) r = NULL;
    JsonObject *o;
    JsonArray *clients;
    gint64 deadline;
    gboolean done;
    int port, tls;

    g_mutex_lock(&dom->lock);
    done = !vb_domain_def_get_spice(dom->def, &port, &tls);
    g_mutex_unlock(&dom->lock);
    if (done)
        return;
    r = vb_domain_async_monitor(list, dom, "query-spice", NULL, -1, NULL);
    o = r != NULL && JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
    clients = o != NULL && json_object_has_member(o, "clients")
                  ? json_object_get_array_member(o, "clients") : NULL;
    if (clients == NULL || json_array_get_length(clients) == 0 ||
        json_object_get_boolean_member_with_default(o, "migrated", FALSE))
        return;
    deadline = g_get_monotonic_time() + SPICE_WAIT_S * G_USEC_PER_SEC;
    g_mutex_lock(&dom->lock);
    while (!dom->job.spice_migrated && dom->id >= 0 && !dom->stopping &&
           !vb_domain_list_shutting_down(list)) {
        if (!g_cond_wait_until(&dom->job.cond, &dom->lock, deadline))
            break;
    }
    done = dom->job.spice_migrated;
    g_mutex_unlock(&dom->lock);
    if (!done)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "the SPICE client did not follow the guest within %d s", SPICE_WAIT_S);
}

#define TUNNEL_FDNAME "vbtunnel"

/**
 * vb_migration_perform_run:
 * @uri: where QEMU sends the stream, or %NULL with
 * @fd: (transfer full): the tunnel's socket for QEMU (migrate to "fd:"),
 *   or -1
 * @out_cookie: (out): the Perform cookie for Finish
 *
 * The transfer: capabilities and parameters, the migration, its progress,
 * cancel. On success the source is paused (QEMU stopped the vCPUs for the
 * switch-over) and the job is in phase perform3_done; on failure QEMU's
 * migration is cancelled and the guest runs again if it ran before Begin.
 * Job thread.
 */
gboolean
vb_migration_perform_run(VbDomainList *list, VbDomainObj *dom, VbJob *job,
                         const VbMigrationHost *host, const char *uri, int fd, guint flags,
                         const VbMigrationParams *p, const VbMigrationCookie *dest,
                         GBytes **out_cookie, GError **error)
{
    g_autofree char *qemu_uri = fd >= 0 ? g_strdup("fd:" TUNNEL_FDNAME)
                                        : vb_migration_qemu_uri(uri, error);
    gint64 started, downtime = 0, stopped;
    gboolean ok;

    if (qemu_uri == NULL)
        return FALSE;
    g_mutex_lock(&dom->lock);
    started = dom->migration != NULL ? ((VbMigrationOut *)dom->migration)->started
                                     : vb_migration_now_ms();
    g_mutex_unlock(&dom->lock);
    vb_domain_async_job_phase(list, dom, job, "perform3", TRUE);
    /* the disks are mirrored first (libvirt's order): the memory follows once every
     * mirror is ready */
    ok = vb_migration_set_capabilities(list, dom, flags, p, TRUE, error) &&
         vb_migration_set_parameters(list, dom, flags, p, TRUE, error) &&
         vb_domain_async_check_abort(dom, error) &&
         vb_migration_nbd_copy_start(list, dom, job, uri, flags, p, error) &&
         (flags & VB_MIGRATE_LIVE || pause_source(list, dom, error));
    if (ok && fd >= 0) {
        JsonObject *fdargs = json_object_new();
        g_autoptr(JsonNode) r = NULL;

        json_object_set_string_member(fdargs, "fdname", TUNNEL_FDNAME);
        r = vb_domain_async_monitor(list, dom, "getfd", fdargs, fd, error);
        ok = r != NULL;
    }
    /* QEMU has its copy: ours would hide the end of the stream from the tunnel */
    if (fd >= 0)
        close(fd);
    if (ok)
        relocate_spice(list, dom, dest);
    if (ok) {
        JsonObject *args = json_object_new();
        g_autoptr(JsonNode) r = NULL;

        json_object_set_string_member(args, "uri", qemu_uri);
        g_mutex_lock(&dom->lock);
        /* QEMU stops the vCPUs for the switch-over: that pause is the migration's */
        dom->pause_reason = VB_DOMAIN_REASON_MIGRATION;
        dom->job.transferring = TRUE;
        g_mutex_unlock(&dom->lock);
        r = vb_domain_async_monitor(list, dom, "migrate", args, -1, error);
        ok = r != NULL && wait_outgoing(list, dom, job, (flags & VB_MIGRATE_POSTCOPY) != 0,
                                        &downtime, error);
    }
    /* the mirrors ended in the ready state before the switch-over (switch_over()): the
     * destination keeps the copy; this ends what is left (nothing, normally) */
    if (ok)
        ok = vb_migration_nbd_copy_finish(list, dom, error);
    if (!ok) {
        if (!vb_domain_list_shutting_down(list)) {
            vb_migration_cancel_qemu(list, dom);
            vb_migration_nbd_copy_cancel(list, dom);
            vb_migration_resume_source(list, dom);
        }
        return FALSE;
    }
    wait_spice(list, dom);
    stopped = vb_migration_now_ms() - downtime;
    g_mutex_lock(&dom->lock);
    if (dom->migration != NULL) {
        ((VbMigrationOut *)dom->migration)->stopped = stopped;
        ((VbMigrationOut *)dom->migration)->postcopy =
            g_strcmp0(dom->job.phase, "postcopy") == 0;
    }
    /* QEMU paused the guest at the switch-over; the STOP event may come later */
    if (is_running_locked(dom) && dom->state == VB_DOMAIN_STATE_RUNNING)
        vb_domain_obj_set_state(dom, VB_DOMAIN_STATE_PAUSED, VB_DOMAIN_REASON_MIGRATION);
    g_mutex_unlock(&dom->lock);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "suspended", "migrated");
    *out_cookie = vb_migration_perform_cookie(list, dom, host, flags, p, started, stopped,
                                              downtime);
    return TRUE;
}

static gboolean
perform_body(VbDomainList *list, VbDomainObj *dom, VbJob *job, gpointer data,
             GVariant **out_result, GError **error)
{
    PerformData *d = data;
    g_autoptr(GBytes) cookie = NULL;
    GVariantDict res;

    if (d->flags & VB_MIGRATE_OFFLINE)
        cookie = vb_migration_perform_cookie(list, dom, &d->host, d->flags, &d->params,
                                             vb_migration_now_ms(), 0, 0);
    else if (!vb_migration_perform_run(list, dom, job, &d->host, d->uri, -1, d->flags,
                                       &d->params, d->dest, &cookie, error))
        return FALSE;
    vb_domain_async_job_phase(list, dom, job, "perform3_done", FALSE);
    g_variant_dict_init(&res, NULL);
    g_variant_dict_insert_value(&res, "cookie",
                                g_variant_new_from_bytes(G_VARIANT_TYPE("ay"), cookie, TRUE));
    *out_result = g_variant_dict_end(&res);
    return TRUE;
}

/**
 * vb_migration_perform:
 *
 * MigratePerform: starts the transfer on a job thread of its own. Worker
 * threads.
 *
 * Returns: (transfer full): the job.
 */
VbJob *
vb_migration_perform(VbDomainList *list, VbDomainObj *dom, const VbMigrationHost *host,
                     GBytes *cookie, const char *uri, GVariant *params, guint flags,
                     const char *owner, GError **error)
{
    static const char *const phases[] = { "begin3", NULL };
    PerformData *d;
    g_autoptr(VbMigrationCookie) dest = NULL;
    VbMigrationParams p;
    gboolean ok;

    g_mutex_lock(&dom->lock);
    ok = vb_migration_check_held_locked(dom, VB_ASYNC_JOB_MIGRATION_OUT, phases,
                                        "MigratePerform", error);
    if (ok && !(flags & VB_MIGRATE_OFFLINE) && !is_running_locked(dom)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "domain '%s' is no longer running",
                    dom->def->name);
        ok = FALSE;
    }
    if (ok && dom->migration != NULL &&
        ((VbMigrationOut *)dom->migration)->flags != flags) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "MigratePerform: flags 0x%x differ from MigrateBegin's 0x%x", flags,
                    ((VbMigrationOut *)dom->migration)->flags);
        ok = FALSE;
    }
    g_mutex_unlock(&dom->lock);
    if (!ok || !vb_migration_check_flags(flags, FALSE, error) ||
        !vb_migration_params_parse(params, FALSE, &p, error))
        return NULL;
    dest = vb_migration_cookie_from_bytes(cookie, error);
    if (dest == NULL || !vb_migration_cookie_check(dest, host->host_uuid, dom->uuid_str, error) ||
        !vb_migration_check_params(&p, flags, error) ||
        !vb_migration_check_multifd(dest, flags, &p, error) ||
        !vb_migration_nbd_take_cookie(dom, flags, &p, dest, error)) {
        g_prefix_error(error, "MigratePerform: ");
        vb_migration_params_clear(&p);
        return NULL;
    }
    /* the uri is checked before the transfer's thread starts */
    if (!(flags & VB_MIGRATE_OFFLINE)) {
        g_autofree char *qemu_uri = vb_migration_qemu_uri(uri, error);

        if (qemu_uri == NULL) {
            vb_migration_params_clear(&p);
            return NULL;
        }
    }
    g_mutex_lock(&dom->lock);
    /* checked again: a concurrent call may have taken it meanwhile */
    ok = vb_migration_check_held_locked(dom, VB_ASYNC_JOB_MIGRATION_OUT, phases,
                                        "MigratePerform", error);
    if (ok)
        dom->job.held = FALSE; /* the transfer's thread runs it now */
    g_mutex_unlock(&dom->lock);
    if (!ok) {
        vb_migration_params_clear(&p);
        return NULL;
    }
    d = g_new0(PerformData, 1);
    d->host_uuid = g_strdup(host->host_uuid);
    d->host_name = g_strdup(host->host_name);
    d->host.host_uuid = d->host_uuid;
    d->host.host_name = d->host_name;
    d->uri = g_strdup(uri);
    d->flags = flags;
    d->params = p;
    d->dest = g_steal_pointer(&dest);
    return vb_domain_async_job_start_full(list, dom, VB_ASYNC_JOB_MIGRATION_OUT, "migration-out",
                                          owner, perform_body, d,
                                          (GDestroyNotify)perform_data_free,
                                          VB_ASYNC_START_KEEP);
}

/* ---- Confirm (source) -------------------------------------------------- */

/*
 * The end of a migration on the source, with the migration-out job held by
 * the caller (a nested job is taken here): stop the source after success,
 * resume it after a failure. Ends nothing; the caller ends the job.
 */
gboolean
vb_migration_confirm_locked(VbDomainList *list, VbDomainObj *dom, guint flags,
                            gboolean cancelled, GError **error)
{
    gboolean postcopy = FALSE, persistent;

    g_mutex_lock(&dom->lock);
    if (dom->migration != NULL)
        postcopy = ((VbMigrationOut *)dom->migration)->postcopy;
    persistent = dom->persistent && !dom->removed;
    g_mutex_unlock(&dom->lock);
    if (flags & VB_MIGRATE_OFFLINE) {
        if (!cancelled && (flags & VB_MIGRATE_UNDEFINE_SOURCE) && persistent &&
            !vb_domain_undefine(list, dom, VB_UNDEFINE_KEEP_NVRAM | VB_UNDEFINE_KEEP_TPM, error))
            return FALSE;
        return TRUE;
    }
    if (cancelled) {
        if (postcopy) {
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                          "the post-copy migration failed after the switch-over: the guest "
                          "stays paused (its state is split between the hosts)");
            return TRUE;
        }
        vb_migration_resume_source(list, dom);
        return TRUE;
    }
    if (postcopy) {
        g_autoptr(VbJob) none = NULL;
        gint64 deadline = g_get_monotonic_time() + 600 * G_USEC_PER_SEC;

        /* the destination runs; the source sends the pages it still has */
        for (;;) {
            g_autoptr(JsonNode) r = vb_domain_async_monitor(list, dom, "query-migrate", NULL,
                                                            -1, error);
            const char *st = status_of(r);

            if (r == NULL)
                return FALSE;
            if (g_str_equal(st, "completed"))
                break;
            if (!g_str_equal(st, "postcopy-active") || g_get_monotonic_time() > deadline) {
                g_set_error(error, VB_ERROR, VB_ERROR_QEMU,
                            "the post-copy migration did not complete (%s)", st);
                return FALSE;
            }
            g_usleep(POLL_US);
        }
    }
    if (!vb_domain_job_begin_nested(dom, list->config->job_wait_timeout, error))
        return FALSE;
    vb_domain_teardown(list, dom, VB_DOMAIN_REASON_MIGRATED);
    vb_domain_job_end(dom);
    g_mutex_lock(&dom->lock);
    persistent = dom->persistent && !dom->removed;
    g_mutex_unlock(&dom->lock);
    if ((flags & VB_MIGRATE_UNDEFINE_SOURCE) && persistent) {
        g_autoptr(GError) undef_err = NULL;

        /* firmware variables and TPM state stay: they are this host's copies */
        if (!vb_domain_undefine(list, dom, VB_UNDEFINE_KEEP_NVRAM | VB_UNDEFINE_KEEP_TPM,
                                &undef_err))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                          "cannot undefine the migrated domain: %s", undef_err->message);
    }
    return TRUE;
}

/**
 * vb_migration_confirm:
 *
 * MigrateConfirm: ends the migration-out job. Worker threads.
 */
gboolean
vb_migration_confirm(VbDomainList *list, VbDomainObj *dom, const VbMigrationHost *host,
                     GBytes *cookie, guint flags, gboolean cancelled, const char *owner,
                     GError **error)
{
    static const char *const phases[] = { "begin3", "perform3_done", NULL };
    static const char *const done[] = { "perform3_done", NULL };
    g_autoptr(GError) local = NULL;
    gboolean ok;

    (void)owner;
    if (!vb_migration_check_flags(flags, FALSE, error))
        return FALSE;
    if (!cancelled) {
        g_autoptr(VbMigrationCookie) c = vb_migration_cookie_from_bytes(cookie, error);

        if (c == NULL || !vb_migration_cookie_check(c, host->host_uuid, dom->uuid_str, error)) {
            g_prefix_error(error, "MigrateConfirm: ");
            return FALSE;
        }
    }
    g_mutex_lock(&dom->lock);
    ok = vb_migration_check_held_locked(dom, VB_ASYNC_JOB_MIGRATION_OUT,
                                        cancelled ? phases : done, "MigrateConfirm", error);
    if (ok)
        dom->job.held = FALSE;
    g_mutex_unlock(&dom->lock);
    if (!ok)
        return FALSE;
    vb_domain_async_job_set_phase(dom, cancelled ? "confirm3_cancelled" : "confirm3");
    ok = vb_migration_confirm_locked(list, dom, flags, cancelled, &local);
    if (!ok) {
        /* the guest may run on the destination: keep this copy paused */
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "MigrateConfirm: %s", local->message);
    } else {
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "migration %s",
                      cancelled ? "cancelled; the source continues" : "confirmed");
    }
    g_mutex_lock(&dom->lock);
    if (dom->migration != NULL && dom->migration_free != NULL)
        dom->migration_free(g_steal_pointer(&dom->migration));
    g_mutex_unlock(&dom->lock);
    vb_domain_async_job_complete(list, dom, NULL, NULL, NULL, FALSE);
    if (!ok)
        g_propagate_error(error, g_steal_pointer(&local));
    return ok;
}
