/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "domain-list.h"

G_BEGIN_DECLS

/* libvirt's virDomainMigrateFlags, same values. */
typedef enum {
    VB_MIGRATE_LIVE = 1 << 0,
    VB_MIGRATE_PEER2PEER = 1 << 1,
    VB_MIGRATE_TUNNELLED = 1 << 2,
    VB_MIGRATE_PERSIST_DEST = 1 << 3,
    VB_MIGRATE_UNDEFINE_SOURCE = 1 << 4,
    VB_MIGRATE_PAUSED = 1 << 5,
    VB_MIGRATE_NON_SHARED_DISK = 1 << 6,
    VB_MIGRATE_NON_SHARED_INC = 1 << 7,
    VB_MIGRATE_CHANGE_PROTECTION = 1 << 8,
    VB_MIGRATE_UNSAFE = 1 << 9,
    VB_MIGRATE_OFFLINE = 1 << 10,
    VB_MIGRATE_COMPRESSED = 1 << 11,
    VB_MIGRATE_ABORT_ON_ERROR = 1 << 12,
    VB_MIGRATE_AUTO_CONVERGE = 1 << 13,
    VB_MIGRATE_RDMA_PIN_ALL = 1 << 14,
    VB_MIGRATE_POSTCOPY = 1 << 15,
    VB_MIGRATE_TLS = 1 << 16,
    VB_MIGRATE_PARALLEL = 1 << 17,
    VB_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES = 1 << 18,
    VB_MIGRATE_POSTCOPY_RESUME = 1 << 19,
    VB_MIGRATE_ZEROCOPY = 1 << 20,
} VbMigrateFlags;

/* MigrateSetMaxSpeed / MigrateGetMaxSpeed */
#define VB_MIGRATE_MAX_SPEED_POSTCOPY 1u

/* Who this host is, for cookies. */
typedef struct {
    const char *host_uuid;
    const char *host_name;
} VbMigrationHost;

/* libvirt's typed migration parameters that virtbus acts on. */
typedef struct {
    gboolean has_bandwidth;
    guint64 bandwidth; /* MiB/s */
    gboolean has_downtime;
    guint64 downtime; /* ms */
    int parallel_connections; /* 0: QEMU's default */
    GStrv compression;        /* nullable */
    gboolean has_xbzrle_cache;
    guint64 xbzrle_cache; /* bytes */
    int ac_initial;       /* -1: QEMU's default */
    int ac_increment;     /* -1: QEMU's default */
    gboolean has_postcopy_bandwidth;
    guint64 postcopy_bandwidth; /* MiB/s */
    char *migrate_uri;
    char *dest_name;
    char *dest_xml;
    char *persistent_xml;
    /* storage copy (issue 11, part nbd) */
    GStrv migrate_disks; /* nullable: the disk targets to copy (libvirt's migrate_disks) */
} VbMigrationParams;

gboolean vb_migration_params_parse(GVariant *dict, gboolean p2p, VbMigrationParams *out,
                                   GError **error);
void vb_migration_params_clear(VbMigrationParams *params);
gboolean vb_migration_check_flags(guint flags, gboolean p2p, GError **error);

gboolean vb_migration_begin(VbDomainList *list, VbDomainObj *dom, const VbMigrationHost *host,
                            const char *xml_in, guint flags, const char *owner, char **out_xml,
                            GBytes **out_cookie, GError **error);
VbDomainObj *vb_migration_prepare(VbDomainList *list, const VbMigrationHost *host,
                                  const char *xml, GBytes *cookie, const char *uri_in,
                                  guint flags, const char *owner, GBytes **out_cookie,
                                  char **out_uri, GError **error);
VbJob *vb_migration_perform(VbDomainList *list, VbDomainObj *dom, const VbMigrationHost *host,
                            GBytes *cookie, const char *uri, GVariant *params, guint flags,
                            const char *owner, GError **error);
VbDomainObj *vb_migration_finish(VbDomainList *list, const VbMigrationHost *host,
                                 GBytes *cookie, guint flags, gboolean cancelled,
                                 const char *owner, GBytes **out_cookie, GError **error);
gboolean vb_migration_confirm(VbDomainList *list, VbDomainObj *dom, const VbMigrationHost *host,
                              GBytes *cookie, guint flags, gboolean cancelled,
                              const char *owner, GError **error);
VbJob *vb_migration_migrate(VbDomainList *list, VbDomainObj *dom, const VbMigrationHost *host,
                            const char *dest_uri, GVariant *params, guint flags,
                            const char *owner, GError **error);

/* Tunnelled migration, destination side (migration-tunnel.c, migration-dest.c) */
#define VB_TUNNEL_MAX_CHUNK (16u * 1024 * 1024)
/* Called once per chunk or end marker, from any thread: @error NULL on success. */
typedef void (*VbTunnelDone)(const GError *error, gpointer user_data);
VbDomainObj *vb_migration_prepare_tunnel(VbDomainList *list, const VbMigrationHost *host,
                                         const char *xml, GBytes *cookie, guint flags,
                                         const char *owner, GBytes **out_cookie,
                                         GError **error);
gboolean vb_migration_tunnel_data(VbDomainList *list, const char *uuid, const char *owner,
                                  guint64 offset, GBytes *data, VbTunnelDone done,
                                  gpointer user_data, GError **error);
gboolean vb_migration_tunnel_attach(VbDomainList *list, const char *uuid, const char *token,
                                    int fd, GError **error);
gboolean vb_migration_tunnel_end(VbDomainList *list, const char *uuid, const char *owner,
                                 guint64 length, gboolean abort, VbTunnelDone done,
                                 gpointer user_data, GError **error);

gboolean vb_migration_start_postcopy(VbDomainList *list, VbDomainObj *dom, const char *owner,
                                     GError **error);
gboolean vb_migration_set_max_speed(VbDomainList *list, VbDomainObj *dom, guint64 mib_s,
                                    guint flags, const char *owner, GError **error);
gboolean vb_migration_get_max_speed(VbDomainList *list, VbDomainObj *dom, guint flags,
                                    const char *owner, guint64 *out_mib_s, GError **error);
gboolean vb_migration_set_max_downtime(VbDomainList *list, VbDomainObj *dom, guint64 ms,
                                       const char *owner, GError **error);
gboolean vb_migration_get_max_downtime(VbDomainList *list, VbDomainObj *dom, const char *owner,
                                       guint64 *out_ms, GError **error);

/* Closes the connections to other hosts kept for the next migration (main.c, at the end). */
void vb_migration_pool_shutdown(void);

G_END_DECLS
