/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "domain-list.h"
#include "qemu-dac.h"

G_BEGIN_DECLS

/*
 * Lock order: define_lock, then lock, then a domain's lock, then
 * ports_lock (a leaf: nothing is taken under it). @lock guards only the
 * two tables and is held for hash operations; the main thread may take
 * it. @define_lock serializes the changes that write configs to disk
 * (define, undefine, autostart) and is taken by workers only, so the main
 * thread never waits for disk I/O. See docs/threads.md.
 */
/*
 * An inactive persistent domain that nothing has asked for more than its name, uuid and
 * published properties since the service started (or since it was defined): all the
 * list keeps of it (issue 16). The first call that needs more loads its config into a
 * VbDomainObj (vb_domain_list_find_by_uuid()), which replaces the stub for good. A stub
 * is created only under define_lock (or at start-up, before anything else runs), and its
 * config is never changed while it is a stub: whatever changes a domain loads it first.
 */
typedef struct {
    char *name;
    char uuid_str[37];
    guint serial;               /* a new one for every stub: a stub loaded, freed and made
                                   again for the same uuid is not the one a loader saw */
    guint autostart : 1;
    guint has_managed_save : 1;
} VbDomainStub;

struct _VbDomainList {
    GMutex lock;
    GMutex define_lock;
    GHashTable *by_uuid; /* under lock: uuid string -> VbDomainObj (ref) */
    GHashTable *by_name; /* under lock: name -> VbDomainObj (borrowed from by_uuid) */
    GHashTable *stubs;   /* under lock: uuid string -> VbDomainStub (owned); never a uuid
                            that by_uuid holds */
    GHashTable *stub_names; /* under lock: name -> VbDomainStub (borrowed from stubs) */
    guint stub_serial;   /* under lock */
    const VbPaths *paths;
    VbDomainPathFunc path_func;
    VbDomainNotifyFunc notify;
    gpointer notify_data;
    const VbConfig *config;
    GThreadPool *event_pool; /* runs each domain's event queue, one task per domain */
    gint next_id;            /* atomic: runtime ids, never reused in a run */
    GMutex ports_lock;       /* a leaf lock: guards used_ports only */
    GHashTable *used_ports;  /* under ports_lock: ports held by our domains */
    VbJobNotifyFunc job_notify;
    gpointer job_notify_data;
    guint job_threads;       /* under lock: async job threads (and the autostart
                                thread) running */
    GCond job_threads_cond;  /* signalled when one ends */
    gint shutting_down;      /* atomic: job threads leave QEMU as it is and stop */
    /* interfaces (issue 12, part interfaces): the running networks, set by the bus */
    VbQemuNetResolveFunc net_resolve;
    gpointer net_resolve_data;
    /* issue 14, part dac: QEMU's ids (set at start-up) and the owner record */
    VbQemuIds qemu_ids;
    VbQemuDac *dac; /* NULL until vb_domain_list_setup_dac() */
};

void vb_domain_list_notify(VbDomainList *list, VbDomainObj *dom, VbDomainNotifyKind kind,
                           const char *event, const char *detail);
void vb_domain_list_insert(VbDomainList *list, VbDomainObj *dom, const char *name);
/* issue 16: stubs of inactive domains */
gboolean vb_domain_list_has_name_locked(VbDomainList *list, const char *name);
gboolean vb_domain_list_has_uuid_locked(VbDomainList *list, const char *uuid);
gboolean vb_domain_list_load_stub(VbDomainList *list, const char *uuid, GError **error);
void vb_domain_list_insert_stub(VbDomainList *list, VbDomainObj *dom);
gboolean vb_domain_list_drop_stub_locked(VbDomainList *list, const char *uuid, const char *name);
void vb_domain_list_remove(VbDomainList *list, VbDomainObj *dom);
void vb_domain_def_warn_unknown(const VbDomainDef *def);

/* domain-process.c */
void vb_domain_teardown(VbDomainList *list, VbDomainObj *dom, VbDomainReason reason);
void vb_domain_log_append(VbDomainList *list, const char *name, const char *text);

/* domain-live-def.c */
gboolean vb_domain_use_live_def(VbDomainObj *dom, const VbDomainDef *def, const char *what,
                                GError **error);
gboolean vb_domain_start_live_defaults(VbDomainList *list, VbDomainObj *dom, VbDomainDef **def,
                                       VbQemuCaps *caps, gboolean align_memory, GError **error);

/* domain-affinity.c */
gboolean vb_domain_threads_setup(const VbDomainDef *def, const char *name, VbQemuMonitor *mon,
                                 pid_t pid, JsonNode *cpus, GArray **out_vcpus,
                                 GArray **out_iothreads, GError **error);
void vb_domain_process_detach(VbDomainObj *dom);
gboolean vb_domain_process_reattach(VbDomainList *list, VbDomainObj *dom, pid_t pid,
                                    const char *monitor_path, GError **error);


/* domain-net.c (issue 12, part interfaces): the host side of the interfaces of a run */
gboolean vb_domain_net_prepare(VbDomainList *list, VbDomainObj *dom, const VbDomainDef *def,
                               GError **error);
void vb_domain_net_fds(VbDomainObj *dom, GArray *source_fds, GArray *target_fds);
void vb_domain_net_close_fds(VbDomainObj *dom);
void vb_domain_net_release(VbDomainObj *dom);
void vb_domain_net_format(VbDomainObj *dom, GString *buf);
void vb_domain_net_adopt(VbDomainObj *dom, const char *alias, const char *type,
                         const char *kind, const char *name, gboolean managed,
                         const char *bridge, gboolean ovs, const char *lower,
                         const char *lower_mac);

/* domain-helpers.c (issue 10, part helpers): swtpm, virtiofsd of a run */
typedef struct {
    char *kind; /* swtpm, virtiofsd */
    char *id;   /* tpm0, fs0 */
    char *socket;
    VbQemuProcess *proc;
} VbDomainHelperRun;
void vb_domain_helper_run_free(VbDomainHelperRun *run);
gboolean vb_domain_helpers_start(VbDomainList *list, VbDomainObj *dom, GPtrArray *helpers,
                                 const char *runtime_dir, int log_fd, GError **error);
void vb_domain_helpers_stop(VbDomainObj *dom);
void vb_domain_helpers_detach(VbDomainObj *dom);
void vb_domain_helpers_format(VbDomainObj *dom, GString *buf);
void vb_domain_helpers_adopt(VbDomainObj *dom, const char *kind, const char *id, pid_t pid,
                             const char *socket, const char *runtime_dir);
guint vb_domain_helpers_kill_leftovers(const char *runtime_dir, const char *name);

/* domain-dac.c (issue 14, part dac) */
gboolean vb_domain_dac_prepare(VbDomainList *list, VbDomainObj *dom, const VbDomainDef *def,
                               GHashTable *disks, const char *runtime_dir, GError **error);
void vb_domain_dac_release(VbDomainList *list, VbDomainObj *dom);
gboolean vb_domain_dac_prepare_helper(VbDomainList *list, const char *state_dir,
                                      const char *log_path, GError **error);
gboolean vb_domain_dac_hold_disk(VbDomainList *list, VbDomainObj *dom, const VbDeviceDef *disk,
                                 GHashTable *disks, GError **error);
gboolean vb_domain_dac_hold_image(VbDomainList *list, VbDomainObj *dom, const char *path,
                                  GError **error);
void vb_domain_dac_reconcile(VbDomainList *list);

/* domain-ports.c */
int vb_domain_ports_acquire(VbDomainList *list, guint min, guint max, GError **error);
void vb_domain_ports_release(VbDomainList *list, int port);

/* domain-status.c */
gboolean vb_domain_status_save(VbDomainList *list, VbDomainObj *dom, GError **error);
void vb_domain_status_remove(VbDomainList *list, VbDomainObj *dom);
char *vb_domain_status_path(VbDomainList *list, const char *name);
void vb_domain_status_append_attr(GString *buf, const char *name, const char *value);

void vb_domain_list_job_notify(VbDomainList *list, VbJob *job, VbJobNotifyKind kind);
gboolean vb_domain_list_shutting_down(VbDomainList *list);
char *vb_domain_managed_save_path(VbDomainList *list, const char *name);

/* domain-process.c: a start that restores (incoming != NULL: "-incoming defer") */
gboolean vb_domain_start_locked(VbDomainList *list, VbDomainObj *dom, guint flags,
                                const char *owner, gboolean incoming, GError **error);
/* issue 15: a start from a snapshot (domain-snapshot-start.c) */
typedef struct {
    const VbDomainDef *def; /* nullable: run this definition (the snapshot's <domain>) */
    const char *loadvm;     /* nullable: the internal snapshot QEMU loads (-loadvm) */
    gboolean from_snapshot; /* reason and Started/Suspended detail "from-snapshot" */
} VbStartExtra;
gboolean vb_domain_start_locked_full(VbDomainList *list, VbDomainObj *dom, guint flags,
                                     const char *owner, gboolean incoming,
                                     const VbStartExtra *extra, GError **error);

/* domain-restore.c, domain-save.c */
gboolean vb_domain_restore_managed(VbDomainList *list, VbDomainObj *dom, guint flags,
                                   const char *owner, GError **error);
gboolean vb_domain_managed_save_discard(VbDomainList *list, VbDomainObj *dom, GError **error);
/* issue 15, extrevert: a restore with the domain's job held (domain-restore.c) */
gboolean vb_restore_image_load_locked(VbDomainList *list, VbDomainObj *dom, VbRestoreImage *image,
                                      const VbDomainDef *run_def, gboolean run, GError **error);
const VbDomainDef *vb_restore_image_get_def(VbRestoreImage *image);

/* domain-asyncjob.c: the thread and helpers every async job uses */
/* domain-hotplug.c */
typedef gboolean (*VbDefChangeFunc)(VbDomainDef *def, gpointer data, GError **error);
gboolean vb_domain_persistent_update(VbDomainList *list, VbDomainObj *dom,
                                     VbDefChangeFunc change, gpointer data, gboolean dry_run,
                                     GError **error);

typedef gboolean (*VbAsyncJobBody)(VbDomainList *list, VbDomainObj *dom, VbJob *job,
                                   gpointer data, GVariant **out_result, GError **error);
VbJob *vb_domain_async_job_start(VbDomainList *list, VbDomainObj *dom, VbAsyncJobType type,
                                 const char *operation, const char *owner,
                                 VbAsyncJobBody body, gpointer data, GDestroyNotify data_free,
                                 gboolean wait);
typedef enum {
    VB_ASYNC_START_WAIT = 1 << 0,
    VB_ASYNC_START_KEEP = 1 << 1,
} VbAsyncStartFlags;
VbJob *vb_domain_async_job_start_full(VbDomainList *list, VbDomainObj *dom,
                                      VbAsyncJobType type, const char *operation,
                                      const char *owner, VbAsyncJobBody body, gpointer data,
                                      GDestroyNotify data_free, guint flags);
VbJob *vb_domain_async_job_add_record(VbDomainList *list, VbDomainObj *dom, VbAsyncJobType type,
                                      const char *operation, const char *owner);
void vb_domain_async_job_complete(VbDomainList *list, VbDomainObj *dom, VbJob *job,
                                  GVariant *result, const GError *error, gboolean cancelled);
void vb_domain_async_job_phase(VbDomainList *list, VbDomainObj *dom, VbJob *job,
                               const char *phase, gboolean cancelable);
void vb_domain_async_save_status(VbDomainList *list, VbDomainObj *dom);
VbQemuMonitor *vb_domain_async_begin_monitor(VbDomainList *list, VbDomainObj *dom,
                                             GError **error);
JsonNode *vb_domain_async_monitor(VbDomainList *list, VbDomainObj *dom, const char *cmd,
                                  JsonObject *args, int fd, GError **error);
gboolean vb_domain_async_check_abort(VbDomainObj *dom, GError **error);
GVariant *vb_domain_migration_stats(JsonObject *r, guint64 *out_total, guint64 *out_remaining);
/* A helper process that feeds QEMU's incoming stream (zstd -d of a restore). */
typedef struct {
    GPid pid;            /* 0: none */
    int err_fd;          /* read end of its stderr, or -1 */
    const char *image;   /* what it reads, for messages */
    gboolean exited;     /* reaped by the wait; @status is its wait status */
    int status;
} VbStreamFeeder;
gboolean vb_domain_async_wait_migration(VbDomainList *list, VbDomainObj *dom, VbJob *job,
                                        int progress_fd, VbStreamFeeder *feeder,
                                        GError **error);
gboolean vb_domain_async_wait_migration_full(VbDomainList *list, VbDomainObj *dom, VbJob *job,
                                             int progress_fd, VbStreamFeeder *feeder,
                                             JsonNode *(*send)(VbDomainList *, VbDomainObj *,
                                                               const char *, JsonObject *, int,
                                                               GError **),
                                             GError **error);

/* domain-ops.c: the job and the monitor of a running domain (domain-display.c,
 * domain-stats.c use it too) */
VbQemuMonitor *vb_domain_begin_running(VbDomainList *list, VbDomainObj *dom, VbJobType type,
                                       const char *method, const char *owner, GError **error);

/* domain-events.c */
void vb_domain_events_queue(VbDomainList *list, VbDomainObj *dom, VbDomainEvent *ev);
void vb_domain_events_run(gpointer data, gpointer user_data);

G_END_DECLS
