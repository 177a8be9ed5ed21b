/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "migration-priv.h"
#include "vb-error.h"

/*
 * Migration flags and typed parameters: libvirt's bit values and names,
 * checked before anything starts. A flag virtbus does not implement yet is
 * refused with NotSupported naming it, never silently ignored.
 */

static const struct {
    guint flag;
    const char *name;
    const char *why; /* NULL: implemented */
} flag_table[] = {
    { VB_MIGRATE_LIVE, "LIVE", NULL },
    { VB_MIGRATE_PEER2PEER, "PEER2PEER", NULL },
    { VB_MIGRATE_TUNNELLED, "TUNNELLED", NULL },
    { VB_MIGRATE_PERSIST_DEST, "PERSIST_DEST", NULL },
    { VB_MIGRATE_UNDEFINE_SOURCE, "UNDEFINE_SOURCE", NULL },
    { VB_MIGRATE_PAUSED, "PAUSED", NULL },
    { VB_MIGRATE_NON_SHARED_DISK, "NON_SHARED_DISK", NULL },
    { VB_MIGRATE_NON_SHARED_INC, "NON_SHARED_INC", NULL },
    { VB_MIGRATE_CHANGE_PROTECTION, "CHANGE_PROTECTION", NULL },
    { VB_MIGRATE_UNSAFE, "UNSAFE", NULL },
    { VB_MIGRATE_OFFLINE, "OFFLINE", NULL },
    { VB_MIGRATE_COMPRESSED, "COMPRESSED", NULL },
    { VB_MIGRATE_ABORT_ON_ERROR, "ABORT_ON_ERROR", NULL },
    { VB_MIGRATE_AUTO_CONVERGE, "AUTO_CONVERGE", NULL },
    { VB_MIGRATE_RDMA_PIN_ALL, "RDMA_PIN_ALL", "RDMA migration is not supported" },
    { VB_MIGRATE_POSTCOPY, "POSTCOPY", NULL },
    { VB_MIGRATE_TLS, "TLS", "TLS for the migration stream is not implemented yet" },
    { VB_MIGRATE_PARALLEL, "PARALLEL", NULL },
    { VB_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES, "NON_SHARED_SYNCHRONOUS_WRITES", NULL },
    { VB_MIGRATE_POSTCOPY_RESUME, "POSTCOPY_RESUME",
      "resuming a failed post-copy migration is not implemented yet" },
    { VB_MIGRATE_ZEROCOPY, "ZEROCOPY", "zero-copy migration is not implemented yet" },
};

/**
 * vb_migration_check_flags:
 * @p2p: the flags of Domain.Migrate (PEER2PEER allowed)
 *
 * Unknown bits are InvalidArgument; known ones not implemented are
 * NotSupported, naming the flag and its value.
 */
gboolean
vb_migration_check_flags(guint flags, gboolean p2p, GError **error)
{
    guint known = 0;

    for (gsize i = 0; i < G_N_ELEMENTS(flag_table); i++) {
        known |= flag_table[i].flag;
        if (!(flags & flag_table[i].flag) || flag_table[i].why == NULL)
            continue;
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED, "migration flag %s (%u): %s",
                    flag_table[i].name, flag_table[i].flag, flag_table[i].why);
        return FALSE;
    }
    if (flags & ~known) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "unknown migration flags 0x%x",
                    flags & ~known);
        return FALSE;
    }
    /* libvirt's rules for the storage copy flags */
    if ((flags & VB_MIGRATE_NON_SHARED_DISK) && (flags & VB_MIGRATE_NON_SHARED_INC)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "NON_SHARED_DISK (64) and NON_SHARED_INC (128) are mutually "
                            "exclusive: copy the whole disks, or only their top images");
        return FALSE;
    }
    if ((flags & VB_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES) &&
        !(flags & (VB_MIGRATE_NON_SHARED_DISK | VB_MIGRATE_NON_SHARED_INC))) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "NON_SHARED_SYNCHRONOUS_WRITES (262144) needs NON_SHARED_DISK (64) "
                            "or NON_SHARED_INC (128)");
        return FALSE;
    }
    if ((flags & VB_MIGRATE_TUNNELLED) &&
        (flags & (VB_MIGRATE_NON_SHARED_DISK | VB_MIGRATE_NON_SHARED_INC))) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "migration of non-shared storage is not supported with tunnelled "
                            "migration (the NBD stream goes host to host)");
        return FALSE;
    }
    if ((flags & VB_MIGRATE_PEER2PEER) && !p2p) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "PEER2PEER (2) is for Domain.Migrate; the phases are client-driven");
        return FALSE;
    }
    /* libvirt's rule: the stream goes through the services' own connection */
    if ((flags & VB_MIGRATE_TUNNELLED) && !(flags & VB_MIGRATE_PEER2PEER)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            p2p ? "TUNNELLED (4) needs PEER2PEER (2)"
                                : "TUNNELLED (4) needs PEER2PEER (2): only Domain.Migrate "
                                  "tunnels the stream, the client-driven phases cannot");
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_migration_check_tunnel:
 *
 * What a tunnelled migration cannot do (libvirt refuses the same): QEMU's
 * own extra connections (multifd), post-copy's return path, a QEMU URI.
 */
gboolean
vb_migration_check_tunnel(guint flags, const VbMigrationParams *p, GError **error)
{
    if (!(flags & VB_MIGRATE_TUNNELLED))
        return TRUE;
    if (flags & VB_MIGRATE_PARALLEL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "migration flag PARALLEL (131072) with TUNNELLED: multifd needs "
                            "QEMU's own connections, the tunnel carries one stream");
        return FALSE;
    }
    if (flags & VB_MIGRATE_POSTCOPY) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "migration flag POSTCOPY (32768) with TUNNELLED: post-copy needs a "
                            "return path from the destination, the tunnel carries one way");
        return FALSE;
    }
    if (p != NULL && p->migrate_uri != NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "migration parameter 'migrate_uri' does not apply to a TUNNELLED "
                            "migration: the stream goes through the services' connection");
        return FALSE;
    }
    return TRUE;
}

void
vb_migration_params_clear(VbMigrationParams *p)
{
    g_clear_pointer(&p->compression, g_strfreev);
    g_clear_pointer(&p->migrate_uri, g_free);
    g_clear_pointer(&p->dest_name, g_free);
    g_clear_pointer(&p->dest_xml, g_free);
    g_clear_pointer(&p->persistent_xml, g_free);
    g_clear_pointer(&p->migrate_disks, g_strfreev);
}

static gboolean
want_type(const char *name, GVariant *v, const char *type, GError **error)
{
    if (g_variant_is_of_type(v, G_VARIANT_TYPE(type)))
        return TRUE;
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                "migration parameter '%s' must be of type '%s', not '%s'", name, type,
                g_variant_get_type_string(v));
    return FALSE;
}

static gboolean
get_int(const char *name, GVariant *v, int min, int max, int *out, GError **error)
{
    int x;

    if (!want_type(name, v, "i", error))
        return FALSE;
    x = g_variant_get_int32(v);
    if (x < min || x > max) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "migration parameter '%s' must be from %d to %d, not %d", name, min, max, x);
        return FALSE;
    }
    *out = x;
    return TRUE;
}

static gboolean
get_u64(const char *name, GVariant *v, guint64 max, guint64 *out, gboolean *has, GError **error)
{
    guint64 x;

    if (!want_type(name, v, "t", error))
        return FALSE;
    x = g_variant_get_uint64(v);
    if (x > max) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "migration parameter '%s' must be at most %" G_GUINT64_FORMAT, name, max);
        return FALSE;
    }
    *out = x;
    *has = TRUE;
    return TRUE;
}

static gboolean
get_str(const char *name, GVariant *v, char **out, GError **error)
{
    if (!want_type(name, v, "s", error))
        return FALSE;
    g_free(*out);
    *out = g_variant_dup_string(v, NULL);
    return TRUE;
}

/* libvirt's bandwidth limit: what fits QEMU's bytes/s in an int64 */
#define MAX_MIB_S ((guint64)G_MAXINT64 / (1024 * 1024))

/**
 * vb_migration_params_parse:
 * @dict: a{sv} of libvirt's typed parameter names
 * @p2p: Domain.Migrate's parameters (the destination's too)
 *
 * Unknown names, wrong types and values out of range are InvalidArgument
 * naming the parameter.
 */
gboolean
vb_migration_params_parse(GVariant *dict, gboolean p2p, VbMigrationParams *out, GError **error)
{
    GVariantIter iter;
    const char *name;
    GVariant *v;

    memset(out, 0, sizeof(*out));
    out->ac_initial = -1;
    out->ac_increment = -1;
    g_variant_iter_init(&iter, dict);
    while (g_variant_iter_loop(&iter, "{&sv}", &name, &v)) {
        gboolean ok;
        gboolean unused = FALSE;

        if (g_str_equal(name, "bandwidth"))
            ok = get_u64(name, v, MAX_MIB_S, &out->bandwidth, &out->has_bandwidth, error);
        else if (g_str_equal(name, "downtime"))
            ok = get_u64(name, v, 2000000, &out->downtime, &out->has_downtime, error);
        else if (g_str_equal(name, "parallel.connections"))
            ok = get_int(name, v, 1, 255, &out->parallel_connections, error);
        else if (g_str_equal(name, "compression")) {
            ok = want_type(name, v, "as", error);
            if (ok) {
                g_strfreev(out->compression);
                out->compression = g_variant_dup_strv(v, NULL);
            }
        } else if (g_str_equal(name, "compression.xbzrle.cache"))
            ok = get_u64(name, v, G_MAXINT64, &out->xbzrle_cache, &out->has_xbzrle_cache, error);
        else if (g_str_equal(name, "auto_converge.initial"))
            ok = get_int(name, v, 1, 99, &out->ac_initial, error);
        else if (g_str_equal(name, "auto_converge.increment"))
            ok = get_int(name, v, 1, 99, &out->ac_increment, error);
        else if (g_str_equal(name, "bandwidth.postcopy"))
            ok = get_u64(name, v, MAX_MIB_S, &out->postcopy_bandwidth,
                         &out->has_postcopy_bandwidth, error);
        else if (g_str_equal(name, "migrate_disks")) {
            ok = want_type(name, v, "as", error);
            if (ok) {
                g_strfreev(out->migrate_disks);
                out->migrate_disks = g_variant_dup_strv(v, NULL);
            }
        } else if (p2p && g_str_equal(name, "migrate_uri"))
            ok = get_str(name, v, &out->migrate_uri, error);
        else if (p2p && g_str_equal(name, "destination_name"))
            ok = get_str(name, v, &out->dest_name, error);
        else if (p2p && g_str_equal(name, "destination_xml"))
            ok = get_str(name, v, &out->dest_xml, error);
        else if (p2p && g_str_equal(name, "persistent_xml"))
            ok = get_str(name, v, &out->persistent_xml, error);
        else {
            unused = TRUE;
            ok = FALSE;
        }
        if (unused)
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "unknown migration parameter '%s'%s", name,
                        !p2p ? " (migrate_uri, destination_name, destination_xml and "
                               "persistent_xml belong to Migrate, MigrateBegin and "
                               "MigratePrepare)" : "");
        if (!ok) {
            g_variant_unref(v);
            vb_migration_params_clear(out);
            return FALSE;
        }
    }
    for (guint i = 0; out->compression != NULL && out->compression[i] != NULL; i++) {
        const char *m = out->compression[i];

        if (g_str_equal(m, "xbzrle") || g_str_equal(m, "zlib") || g_str_equal(m, "zstd"))
            continue;
        if (g_str_equal(m, "mt"))
            g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                                "compression method 'mt' is not supported (use zlib or zstd "
                                "with PARALLEL, or xbzrle)");
        else
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "unknown compression method '%s' (xbzrle, zlib, zstd)", m);
        vb_migration_params_clear(out);
        return FALSE;
    }
    return TRUE;
}
