/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "domain-list-priv.h"
#include "migration-cookie.h"
#include "migration.h"
#include "migration-remote.h"

G_BEGIN_DECLS

/* The source's state of a migration (VbDomainObj.migration, under its lock). */
typedef struct {
    guint flags;
    gint64 started;   /* wall ms: Begin */
    gint64 stopped;   /* wall ms: the vCPUs stopped for the switch-over */
    gboolean postcopy; /* the transfer reached post-copy */
    /* storage copy (issue 11, part nbd) */
    int nbd_port;          /* the destination's NBD server (Prepare cookie), -1: none */
    char *nbd_host;        /* its address from the Prepare cookie, nullable */
    GStrv nbd_disks;       /* the disk targets the destination exports, nullable */
    GPtrArray *nbd_copies; /* VbNbdCopy* (migration-nbd.c): the mirrors of this Perform */
    gboolean nbd_copied;   /* they completed (before the switch-over): the Job's disk */
    guint64 nbd_bytes;     /* figures stay at these bytes, all processed */
    /* peer-to-peer: the connection to the destination service (nullable); the
     * waits give up when it ends (ssh keepalive, a cut network) */
    GDBusConnection *peer;
} VbMigrationOut;

/* migration-tunnel.c: the stream through the services' D-Bus connection */
typedef struct _VbTunnelIn VbTunnelIn;
typedef struct _VbTunnelOut VbTunnelOut;

/* The destination's state (VbDomainObj.migration, under its lock). */
typedef struct {
    guint flags;
    VbJob *record;     /* the incoming job's record (a reference) */
    gint64 prepared;   /* wall ms */
    /* storage copy (issue 11, part nbd) */
    GStrv nbd_created; /* images Prepare created: removed if the migration is abandoned */
    VbTunnelIn *tunnel; /* nullable: a tunnelled migration's (issue 11, part tunnel) */
} VbMigrationIn;

void vb_migration_out_free(VbMigrationOut *m);
void vb_migration_set_peer(VbDomainObj *dom, GDBusConnection *peer);

/* migration-pool.c: connections to other hosts kept for the next migration */
GDBusConnection *vb_migration_pool_take(const char *uri, const VbRemoteOptions *opts,
                                        GError **error);
void vb_migration_pool_give(const char *uri, const VbRemoteOptions *opts, GDBusConnection *conn,
                            gboolean reusable);
char *vb_migration_peer_lost(VbDomainObj *dom);
void vb_migration_in_free(VbMigrationIn *m);
gint64 vb_migration_now_ms(void);
VbMigrationCookie *vb_migration_cookie_for(const VbMigrationHost *host, VbDomainObj *dom);
VbMigrationCookie *vb_migration_cookie_from_bytes(GBytes *bytes, GError **error);

gboolean vb_migration_check_held_locked(VbDomainObj *dom, VbAsyncJobType type,
                                        const char *const *phases, const char *method,
                                        GError **error);

void vb_migration_cookie_set_multifd(VbMigrationCookie *cookie, guint flags,
                                     const VbMigrationParams *p);
gboolean vb_migration_check_multifd(const VbMigrationCookie *dest, guint flags,
                                    const VbMigrationParams *p, GError **error);

/* migration-uri.c */
char *vb_migration_qemu_uri(const char *uri, GError **error);
gboolean vb_migration_parse_tcp_uri(const char *uri, char **out_host, int *out_port,
                                    GError **error);
gboolean vb_migration_check_params(const VbMigrationParams *p, guint flags, GError **error);

/* migration.c: the phases' work, shared by the bus calls and peer-to-peer */
gboolean vb_migration_begin_locked(VbDomainList *list, VbDomainObj *dom,
                                   const VbMigrationHost *host, const char *xml_in, guint flags,
                                   const VbMigrationParams *params, char **out_xml,
                                   GBytes **out_cookie, GError **error);
gboolean vb_migration_set_capabilities(VbDomainList *list, VbDomainObj *dom, guint flags,
                                       const VbMigrationParams *p, gboolean source,
                                       GError **error);
gboolean vb_migration_set_parameters(VbDomainList *list, VbDomainObj *dom, guint flags,
                                     const VbMigrationParams *p, gboolean source,
                                     GError **error);
void vb_migration_wait_event(VbDomainObj *dom, guint *seen, gint64 timeout_us);
void vb_migration_cancel_qemu(VbDomainList *list, VbDomainObj *dom);
void vb_migration_resume_source(VbDomainList *list, VbDomainObj *dom);
gboolean vb_migration_perform_run(VbDomainList *list, VbDomainObj *dom, VbJob *job,
                                  const VbMigrationHost *host, const char *uri, int fd,
                                  guint flags, const VbMigrationParams *p,
                                  const VbMigrationCookie *dest, GBytes **out_cookie,
                                  GError **error);
GBytes *vb_migration_perform_cookie(VbDomainList *list, VbDomainObj *dom,
                                    const VbMigrationHost *host, guint flags,
                                    const VbMigrationParams *p, gint64 started, gint64 stopped,
                                    gint64 downtime);
gboolean vb_migration_confirm_locked(VbDomainList *list, VbDomainObj *dom, guint flags,
                                     gboolean cancelled, GError **error);

/* migration-nbd.c: storage copy over NBD (issue 11, part nbd) */
typedef struct _VbNbdCopy VbNbdCopy;
void vb_nbd_copy_free(VbNbdCopy *copy);
gboolean vb_migration_nbd_begin(VbDomainList *list, VbDomainObj *dom, guint flags,
                                const VbMigrationParams *p, VbMigrationCookie *cookie,
                                GError **error);
gboolean vb_migration_nbd_take_cookie(VbDomainObj *dom, guint flags, const VbMigrationParams *p,
                                      const VbMigrationCookie *dest, GError **error);
gboolean vb_migration_nbd_copy_start(VbDomainList *list, VbDomainObj *dom, VbJob *job,
                                     const char *uri, guint flags, const VbMigrationParams *p,
                                     GError **error);
GVariant *vb_migration_nbd_add_stats(VbDomainList *list, VbDomainObj *dom, GVariant *stats);
gboolean vb_migration_nbd_copy_finish(VbDomainList *list, VbDomainObj *dom, GError **error);
void vb_migration_nbd_copy_cancel(VbDomainList *list, VbDomainObj *dom);
gboolean vb_migration_nbd_set_speed(VbDomainObj *dom, VbQemuMonitor *mon, guint64 bytes_per_s,
                                    GError **error);
gboolean vb_migration_nbd_precreate(VbDomainList *list, VbDomainDef *def,
                                    const VbMigrationCookie *src, guint flags,
                                    GStrv *out_created, GError **error);
void vb_migration_nbd_remove_created(GStrv created);
gboolean vb_migration_nbd_start_server(VbDomainList *list, VbDomainObj *dom,
                                       const VbMigrationCookie *src, VbMigrationCookie *mine,
                                       const char *nbd_host, GError **error);
void vb_migration_nbd_stop_server(VbDomainList *list, VbDomainObj *dom);
/* migration-params.c */
gboolean vb_migration_check_tunnel(guint flags, const VbMigrationParams *p, GError **error);

/* migration-tunnel.c */
gboolean vb_migration_tunnel_socketpair(int fds[2], GError **error);
VbTunnelIn *vb_tunnel_in_new(int fd, const char *owner, const char *name, GError **error);
VbTunnelIn *vb_tunnel_in_ref(VbTunnelIn *t);
void vb_tunnel_in_unref(VbTunnelIn *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbTunnelIn, vb_tunnel_in_unref)
void vb_tunnel_in_close(VbTunnelIn *t, const GError *why);
gboolean vb_tunnel_in_push(VbTunnelIn *t, const char *owner, guint64 offset, GBytes *data,
                           VbTunnelDone done, gpointer user_data, GError **error);
gboolean vb_tunnel_in_end(VbTunnelIn *t, const char *owner, guint64 length, gboolean abort,
                          VbTunnelDone done, gpointer user_data, GError **error);
const char *vb_tunnel_in_get_token(VbTunnelIn *t);
gboolean vb_tunnel_in_attach(VbTunnelIn *t, const char *token, int fd, GError **error);
VbTunnelOut *vb_tunnel_out_start(GDBusConnection *conn, const char *dest_path, int fd,
                                 GError **error);
void vb_tunnel_out_stop(VbTunnelOut *t);
gboolean vb_tunnel_out_wait(VbTunnelOut *t, guint64 *out_sent, GError **error);
GError *vb_tunnel_out_get_error(VbTunnelOut *t);
guint64 vb_tunnel_out_calls(VbTunnelOut *t);
void vb_tunnel_out_free(VbTunnelOut *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbTunnelOut, vb_tunnel_out_free)

G_END_DECLS
