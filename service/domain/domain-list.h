/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-obj.h"
#include "vb-config.h"
#include "vb-paths.h"

G_BEGIN_DECLS

typedef enum {
    VB_DOMAIN_NOTIFY_ADDED,   /* a new domain: export it */
    VB_DOMAIN_NOTIFY_CHANGED, /* properties changed */
    VB_DOMAIN_NOTIFY_REMOVED, /* gone: unexport it */
    VB_DOMAIN_NOTIFY_RUN_STATE, /* only the state and its reason changed (the vCPUs stopped
                                   or ran again): may be published from the calling
                                   thread, before anything else is done (issue 16) */
} VbDomainNotifyKind;

/*
 * Called from any thread, with no lock held, after the change is done.
 * @event/@detail are the Lifecycle signal to emit after the properties,
 * or NULL.
 */
typedef void (*VbDomainNotifyFunc)(VbDomainObj *dom, VbDomainNotifyKind kind,
                                   const char *event, const char *detail, gpointer user_data);

/* ListDomains flags (libvirt's values) */
typedef enum {
    VB_LIST_ACTIVE = 1 << 0,
    VB_LIST_INACTIVE = 1 << 1,
    VB_LIST_PERSISTENT = 1 << 2,
    VB_LIST_TRANSIENT = 1 << 3,
    VB_LIST_AUTOSTART = 1 << 6,
    VB_LIST_NO_AUTOSTART = 1 << 7,
} VbListFlags;
#define VB_LIST_ALL_FLAGS (VB_LIST_ACTIVE | VB_LIST_INACTIVE | VB_LIST_PERSISTENT | \
                           VB_LIST_TRANSIENT | VB_LIST_AUTOSTART | VB_LIST_NO_AUTOSTART)

typedef struct _VbDomainList VbDomainList;
typedef char *(*VbDomainPathFunc)(const char *uuid);

VbDomainList *vb_domain_list_new(const VbPaths *paths, const VbConfig *config,
                                 VbDomainPathFunc path_func, VbDomainNotifyFunc notify,
                                 gpointer user_data);
void vb_domain_list_free(VbDomainList *list);
void vb_domain_list_set_net_resolver(VbDomainList *list, VbQemuNetResolveFunc resolve,
                                     gpointer user_data);
void vb_domain_list_set_job_notify(VbDomainList *list, VbJobNotifyFunc notify,
                                   gpointer user_data);

guint vb_domain_list_load_configs(VbDomainList *list);
guint vb_domain_list_reconnect(VbDomainList *list);
gboolean vb_domain_list_setup_dac(VbDomainList *list, GError **error); /* issue 14, dac */
void vb_domain_list_autostart(VbDomainList *list);
VbDomainObj *vb_domain_list_find_by_name(VbDomainList *list, const char *name,
                                         GError **error);
VbDomainObj *vb_domain_list_find_by_uuid(VbDomainList *list, const char *uuid,
                                         GError **error);
GPtrArray *vb_domain_list_collect(VbDomainList *list, guint flags);
GPtrArray *vb_domain_list_collect_loaded(VbDomainList *list, guint flags);
guint vb_domain_list_count(VbDomainList *list);

/* issue 16: what needs no loaded domain (any thread, no disk I/O) */
typedef struct {
    char *name;
    char uuid_str[37];
} VbDomainId;
void vb_domain_id_free(VbDomainId *id);
GPtrArray *vb_domain_list_collect_ids(VbDomainList *list, guint flags);
gboolean vb_domain_list_identify(VbDomainList *list, const char *name, const char *uuid,
                                 VbDomainId *out, GError **error);
VbDomainObj *vb_domain_list_peek_by_uuid(VbDomainList *list, const char *uuid);
VbDomainObj *vb_domain_list_find_for_reading(VbDomainList *list, const char *uuid,
                                             GError **error);

VbDomainObj *vb_domain_define_xml(VbDomainList *list, const char *xml, GError **error);
VbDomainDef *vb_domain_parse_config(const char *xml, GError **error);
VbDomainObj *vb_domain_define(VbDomainList *list, VbDomainDef *def, GError **error);

/* DefineXML's flags (libvirt's values) */
typedef enum {
    VB_DEFINE_VALIDATE = 1 << 0, /* refuse what a start would not act on */
    VB_DEFINE_STUB = 1u << 31,   /* ours (issue 16): a new domain is kept as a stub, and
                                    the returned object is not the list's */
} VbDefineFlags;

/* domain-defaults.c (issue 10, part live) */
VbDomainDef *vb_domain_parse_define(VbDomainList *list, const char *xml, GStrv *out_unsupported,
                                    GError **error);
gboolean vb_domain_unsupported_check(const char *const *unsupported, const char *name,
                                     GError **error);
gboolean vb_domain_unsupported_save(VbDomainList *list, const char *name,
                                    const char *const *unsupported, GError **error);
GStrv vb_domain_unsupported_load(VbDomainList *list, const char *name);
void vb_domain_apply_os_defaults(VbDomainList *list, VbDomainDef *def);
VbDomainObj *vb_domain_define_full(VbDomainList *list, const char *xml, guint flags,
                                   GError **error);
/* Undefine flags (libvirt's values) */
typedef enum {
    VB_UNDEFINE_MANAGED_SAVE = 1 << 0,
    VB_UNDEFINE_SNAPSHOTS_METADATA = 1 << 1, /* issue 15: remove the snapshot metadata */
    VB_UNDEFINE_NVRAM = 1 << 2,      /* also remove the NVRAM file */
    VB_UNDEFINE_KEEP_NVRAM = 1 << 3, /* keep the NVRAM file */
    VB_UNDEFINE_TPM = 1 << 5,        /* remove the emulated TPM's state (the default) */
    VB_UNDEFINE_KEEP_TPM = 1 << 6,   /* keep the emulated TPM's state */
} VbUndefineFlags;
#define VB_UNDEFINE_ALL_FLAGS                                                                  \
    (VB_UNDEFINE_MANAGED_SAVE | VB_UNDEFINE_NVRAM | VB_UNDEFINE_KEEP_NVRAM | VB_UNDEFINE_TPM | \
     VB_UNDEFINE_KEEP_TPM | VB_UNDEFINE_SNAPSHOTS_METADATA)

gboolean vb_domain_undefine(VbDomainList *list, VbDomainObj *dom, guint flags, GError **error);
gboolean vb_domain_set_autostart(VbDomainList *list, VbDomainObj *dom, gboolean autostart,
                                 GError **error);
char *vb_domain_get_xml(VbDomainObj *dom, guint flags, GError **error);

/* Start/CreateXML flags (libvirt's values) */
typedef enum {
    VB_START_PAUSED = 1 << 0,
    VB_START_AUTODESTROY = 1 << 1,
    VB_START_FORCE_BOOT = 1 << 3, /* discard a managed save image */
    VB_START_VALIDATE = 1 << 4,   /* CreateXML: refuse what a start would not act on */
    VB_START_RESET_NVRAM = 1 << 5, /* make the NVRAM file again from its template */
} VbStartFlags;

/* Save/Restore flags (libvirt's values; COMPRESS is ours, from the top) */
typedef enum {
    VB_SAVE_BYPASS_CACHE = 1 << 0,
    VB_SAVE_RUNNING = 1 << 1,
    VB_SAVE_PAUSED = 1 << 2,
    VB_SAVE_COMPRESS = 1u << 31,
} VbSaveFlags;

/* CoreDump flags (libvirt's values) */
typedef enum {
    VB_DUMP_CRASH = 1 << 0,
    VB_DUMP_LIVE = 1 << 1,
    VB_DUMP_BYPASS_CACHE = 1 << 2,
    VB_DUMP_RESET = 1 << 3,
    VB_DUMP_MEMORY_ONLY = 1 << 4,
} VbDumpFlags;

/* GetJobStats flags */
typedef enum {
    VB_JOB_STATS_COMPLETED = 1 << 0,
} VbJobStatsFlags;

/* Destroy flags */
typedef enum {
    VB_DESTROY_GRACEFUL = 1 << 0,
} VbDestroyFlags;

/* Lifecycle operations (domain-process.c, domain-ops.c); worker threads only. */
gboolean vb_domain_start(VbDomainList *list, VbDomainObj *dom, guint flags, const char *owner,
                         GError **error);
VbDomainObj *vb_domain_create_xml(VbDomainList *list, const char *xml, guint flags,
                                  const char *owner, GError **error);
gboolean vb_domain_destroy(VbDomainList *list, VbDomainObj *dom, guint flags,
                           const char *owner, GError **error);
gboolean vb_domain_shutdown(VbDomainList *list, VbDomainObj *dom, const char *owner,
                            GError **error);
gboolean vb_domain_reboot(VbDomainList *list, VbDomainObj *dom, const char *owner,
                          GError **error);
gboolean vb_domain_reset(VbDomainList *list, VbDomainObj *dom, const char *owner,
                         GError **error);
gboolean vb_domain_suspend(VbDomainList *list, VbDomainObj *dom, const char *owner,
                           GError **error);
gboolean vb_domain_resume(VbDomainList *list, VbDomainObj *dom, const char *owner,
                          GError **error);
char *vb_domain_qemu_monitor_command(VbDomainList *list, VbDomainObj *dom, const char *json,
                                     const char *owner, GError **error);
guint vb_domain_autodestroy_owner_gone(VbDomainList *list, const char *owner);

/* Long operations (domain-save.c, domain-restore.c, domain-dump.c): each
 * returns its running job record once the checks passed; worker threads. */
VbJob *vb_domain_save(VbDomainList *list, VbDomainObj *dom, const char *path, const char *xml,
                      guint flags, const char *owner, guint32 uid, GError **error);
VbJob *vb_domain_managed_save(VbDomainList *list, VbDomainObj *dom, guint flags,
                              const char *owner, GError **error);
gboolean vb_domain_managed_save_remove(VbDomainList *list, VbDomainObj *dom, GError **error);
typedef struct _VbRestoreImage VbRestoreImage;
VbRestoreImage *vb_restore_image_open(const char *path, guint32 uid, GError **error);
const char *vb_restore_image_get_name(VbRestoreImage *image);
const char *vb_restore_image_get_uuid(VbRestoreImage *image);
void vb_restore_image_free(VbRestoreImage *image);
VbJob *vb_domain_restore(VbDomainList *list, VbRestoreImage *image, const char *xml,
                         guint flags, const char *owner, GError **error);
VbJob *vb_domain_core_dump(VbDomainList *list, VbDomainObj *dom, const char *path,
                           guint flags, const char *owner, guint32 uid, GError **error);
/* domain-asyncjob.c */
GVariant *vb_domain_get_job_stats(VbDomainObj *dom, guint flags, VbJob **out_job);
gboolean vb_domain_abort_job(VbDomainList *list, VbDomainObj *dom, guint job_id,
                             const char *owner, GError **error);

G_END_DECLS
