/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "migration-priv.h"
#include "vb-error.h"
#include "vb-log.h"

/*
 * What a caller changes while a migration runs: speed, downtime, the
 * switch to post-copy. Each takes the migration-op job (allowed during a
 * migration's async job) and talks to QEMU at once; the settings also
 * apply to a migration that starts later on the same QEMU.
 */

#define QMP_TIMEOUT_MS 30000

static VbQemuMonitor *
begin_op(VbDomainList *list, VbDomainObj *dom, const char *method, const char *owner,
         GError **error)
{
    VbQemuMonitor *mon = NULL;

    if (!vb_domain_job_begin(dom, VB_JOB_MIGRATION_OP, method, owner,
                             list->config->job_wait_timeout, list->config->max_queued, error))
        return NULL;
    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 && dom->mon != NULL && !dom->stopping)
        mon = vb_qemu_monitor_ref(dom->mon);
    else
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "domain '%s' is not running",
                    dom->def->name);
    g_mutex_unlock(&dom->lock);
    if (mon == NULL)
        vb_domain_job_end(dom);
    return mon;
}

static gboolean
set_param(VbDomainList *list, VbDomainObj *dom, const char *method, const char *owner,
          const char *name, gint64 value, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = begin_op(list, dom, method, owner, error);
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args;
    gboolean ok;

    if (mon == NULL)
        return FALSE;
    args = json_object_new();
    json_object_set_int_member(args, name, value);
    r = vb_qemu_monitor_command(mon, "migrate-set-parameters", args, QMP_TIMEOUT_MS, error);
    ok = r != NULL;
    /* a storage copy's mirrors run at the migration's bandwidth too: they follow it */
    if (ok && g_str_equal(name, "max-bandwidth"))
        ok = vb_migration_nbd_set_speed(dom, mon, value == G_MAXINT64 ? 0 : (guint64)value,
                                        error);
    vb_domain_job_end(dom);
    return ok;
}

static gboolean
get_param(VbDomainList *list, VbDomainObj *dom, const char *method, const char *owner,
          const char *name, gint64 *out, GError **error)
{
    g_autoptr(VbQemuMonitor) mon = begin_op(list, dom, method, owner, error);
    g_autoptr(JsonNode) r = NULL;
    JsonObject *o;

    if (mon == NULL)
        return FALSE;
    r = vb_qemu_monitor_command(mon, "query-migrate-parameters", NULL, QMP_TIMEOUT_MS, error);
    vb_domain_job_end(dom);
    if (r == NULL)
        return FALSE;
    o = JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
    if (o == NULL || !json_object_has_member(o, name)) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "QEMU does not report '%s'", name);
        return FALSE;
    }
    *out = json_object_get_int_member(o, name);
    return TRUE;
}

/* libvirt's unlimited: the largest MiB/s whose bytes/s fit an int64 */
#define MAX_MIB_S ((guint64)G_MAXINT64 / (1024 * 1024))

gboolean
vb_migration_set_max_speed(VbDomainList *list, VbDomainObj *dom, guint64 mib_s, guint flags,
                           const char *owner, GError **error)
{
    if (mib_s > MAX_MIB_S) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "bandwidth %" G_GUINT64_FORMAT " MiB/s is above the limit of %"
                    G_GUINT64_FORMAT " MiB/s", mib_s, MAX_MIB_S);
        return FALSE;
    }
    if (flags & VB_MIGRATE_MAX_SPEED_POSTCOPY)
        return set_param(list, dom, "MigrateSetMaxSpeed", owner, "max-postcopy-bandwidth",
                         (gint64)(mib_s * 1024 * 1024), error);
    /* 0 is unlimited, as in libvirt */
    return set_param(list, dom, "MigrateSetMaxSpeed", owner, "max-bandwidth",
                     mib_s == 0 ? G_MAXINT64 : (gint64)(mib_s * 1024 * 1024), error);
}

gboolean
vb_migration_get_max_speed(VbDomainList *list, VbDomainObj *dom, guint flags, const char *owner,
                           guint64 *out_mib_s, GError **error)
{
    gint64 v = 0;

    if (!get_param(list, dom, "MigrateGetMaxSpeed", owner,
                   (flags & VB_MIGRATE_MAX_SPEED_POSTCOPY) ? "max-postcopy-bandwidth"
                                                           : "max-bandwidth",
                   &v, error))
        return FALSE;
    /* the unlimited value reads back as 0 */
    *out_mib_s = v <= 0 || (guint64)v / (1024 * 1024) >= MAX_MIB_S ? 0
                                                                   : (guint64)v / (1024 * 1024);
    return TRUE;
}

gboolean
vb_migration_set_max_downtime(VbDomainList *list, VbDomainObj *dom, guint64 ms,
                              const char *owner, GError **error)
{
    /* QEMU's limit for downtime-limit */
    if (ms == 0 || ms > 2000000) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "downtime must be from 1 to 2000000 ms, not %" G_GUINT64_FORMAT, ms);
        return FALSE;
    }
    return set_param(list, dom, "MigrateSetMaxDowntime", owner, "downtime-limit", (gint64)ms,
                     error);
}

gboolean
vb_migration_get_max_downtime(VbDomainList *list, VbDomainObj *dom, const char *owner,
                              guint64 *out_ms, GError **error)
{
    gint64 v = 0;

    if (!get_param(list, dom, "MigrateGetMaxDowntime", owner, "downtime-limit", &v, error))
        return FALSE;
    *out_ms = (guint64)MAX(v, 0);
    return TRUE;
}

/**
 * vb_migration_start_postcopy:
 *
 * Switches the running outgoing migration (started with POSTCOPY) to
 * post-copy. Worker threads.
 */
gboolean
vb_migration_start_postcopy(VbDomainList *list, VbDomainObj *dom, const char *owner,
                            GError **error)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autoptr(JsonNode) r = NULL;
    gboolean ok;

    mon = begin_op(list, dom, "MigrateStartPostCopy", owner, error);
    if (mon == NULL)
        return FALSE;
    g_mutex_lock(&dom->lock);
    ok = dom->job.async == VB_ASYNC_JOB_MIGRATION_OUT && dom->job.transferring &&
         dom->migration != NULL && (((VbMigrationOut *)dom->migration)->flags &
                                    VB_MIGRATE_POSTCOPY);
    if (!ok)
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' has no outgoing migration with POSTCOPY (32768) running",
                    dom->def->name);
    g_mutex_unlock(&dom->lock);
    if (ok) {
        r = vb_qemu_monitor_command(mon, "migrate-start-postcopy", NULL, QMP_TIMEOUT_MS, error);
        ok = r != NULL;
    }
    vb_domain_job_end(dom);
    if (ok)
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, dom->uuid_str, "switching the migration to post-copy");
    return ok;
}
