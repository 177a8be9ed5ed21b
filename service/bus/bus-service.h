/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "auth.h"
#include "domain-list.h"
#include "network-list.h"
#include "vb-caller.h"
#include "vb-config.h"
#include "vb-dbus-generated.h"
#include "vb-paths.h"

G_BEGIN_DECLS

typedef struct _VbBusService VbBusService;
typedef struct _VbBusCall VbBusCall;
typedef struct _VbBusSnapshots VbBusSnapshots; /* issue 15, part snapbus */

/* Runs on a worker thread (or the main thread for .inline_ entries). */
typedef GVariant *(*VbBusWorkerFunc)(VbBusCall *call, GError **error);

/* bus-migration.c */
GVariant *vb_bus_migrate_begin(VbBusCall *call, GError **error);
GVariant *vb_bus_migrate_perform(VbBusCall *call, GError **error);
GVariant *vb_bus_migrate_confirm(VbBusCall *call, GError **error);
GVariant *vb_bus_migrate(VbBusCall *call, GError **error);
GVariant *vb_bus_migrate_start_postcopy(VbBusCall *call, GError **error);
GVariant *vb_bus_migrate_set_max_speed(VbBusCall *call, GError **error);
GVariant *vb_bus_migrate_get_max_speed(VbBusCall *call, GError **error);
GVariant *vb_bus_migrate_set_max_downtime(VbBusCall *call, GError **error);
GVariant *vb_bus_migrate_get_max_downtime(VbBusCall *call, GError **error);
GVariant *vb_bus_migrate_prepare(VbBusCall *call, GError **error);
GVariant *vb_bus_migrate_finish(VbBusCall *call, GError **error);
GVariant *vb_bus_migrate_prepare_tunnel(VbBusCall *call, GError **error);
GVariant *vb_bus_migrate_tunnel_data(VbBusCall *call, GError **error);
GVariant *vb_bus_migrate_tunnel_end(VbBusCall *call, GError **error);
GVariant *vb_bus_migrate_tunnel_attach(VbBusCall *call, GError **error);
void vb_bus_migrate_tunnel_prepare(VbBusCall *call);
void vb_bus_migrate_prepare_details(VbBusCall *call);
void vb_bus_migrate_finish_details(VbBusCall *call);
/*
 * Optional, runs on a worker thread before authorization: works out what
 * the call is about (e.g. the domain named in DefineXML's XML) for the
 * polkit details, and may keep the result in call->prepared. It must not
 * change any state; if it cannot tell, it adds nothing.
 */
typedef void (*VbBusPrepareFunc)(VbBusCall *call);

typedef struct {
    const char *method;     /* D-Bus member name, or "Set:<Property>" */
    const char *action;     /* polkit action */
    gboolean inline_;       /* cheap, never blocks: run on the main thread */
    VbBusWorkerFunc func;
    VbBusPrepareFunc prepare; /* nullable */
    gboolean deferred;      /* inline only: func may keep the call (returns NULL without
                               an error) and answer it later with vb_bus_call_return() */
    const char *also_action; /* nullable: checked too, after @action, with the same details
                                (CreateXML brings a definition: define as well as manage) */
    gboolean path_detail;   /* the first argument is a path the caller names: passed to
                               polkit as the detail "path" */
    /*
     * Nullable: runs on a worker thread AFTER the caller passed the checks
     * on the call's arguments, for every caller (root too): opens what the
     * call names (once; the method uses what it keeps in call->prepared),
     * sets the details and actions of a second round of checks (e.g. the
     * domain a save image holds), or sets call->load_error. Nothing of a
     * caller's file is read before the first round passed.
     */
    VbBusPrepareFunc load;
} VbBusMethod;

typedef enum {
    VB_BUS_STEP_PREPARE, /* the worker runs method->prepare, then the checks */
    VB_BUS_STEP_LOAD,    /* the worker runs method->load, then the second checks */
    VB_BUS_STEP_RUN,     /* the worker runs the method */
} VbBusStep;

/*
 * One incoming call on its way: caller lookup → authorization → worker
 * → reply on the main context. Either @invocation or @message is set
 * (property writes are taken from the connection's filter as messages).
 */
struct _VbBusCall {
    VbBusService *service;
    const VbBusMethod *method;
    GDBusMethodInvocation *invocation; /* nullable */
    GDBusMessage *message;             /* nullable */
    GVariant *parameters;
    VbCaller *caller;
    VbDomainObj *dom;                  /* nullable: the target domain, referenced */
    char *load_uuid;                   /* nullable: a domain kept as a stub (issue 16):
                                          loaded into @dom on a worker before the method
                                          runs; detail_domain/detail_uuid name it */
    VbNetworkObj *net;                 /* nullable: the target network, referenced */
    VbJob *job;                        /* nullable: the target job (Job methods), referenced */
    const char *action;                /* may be raised from method->action (SECURE) */
    const char *also_action;           /* nullable: checked after @action, same details */
    char *detail_domain;               /* nullable: set by a prepare function */
    char *detail_uuid;                 /* nullable: set by a prepare function */
    char *detail_path;                 /* nullable: the path the call names */
    char *detail_network;              /* nullable: a network a Manager call names (with
                                        * detail_uuid), set by a prepare function */
    gpointer prepared;                 /* nullable: kept by a prepare function */
    GDestroyNotify prepared_free;
    VbBusStep step;                    /* what the next worker run does */
    gboolean loaded;                   /* method->load has run */
    GError *load_error;                /* nullable: method->load failed */
    GUnixFDList *out_fds;              /* nullable: descriptors the reply carries (its "h"
                                          values index them); set by the method
                                          (issue 13, part console) */
    /* issue 16: monotonic times of the call's way through the service, for the debug
     * line of the log domain "virtbus-calls" (0: the call did not pass there) */
    gint64 t_new, t_checked, t_run, t_ran;
};

struct _VbBusService {
    GMainContext *main_context;
    GDBusConnection *connection;
    GDBusObjectManagerServer *object_manager;
    VbDBusManager *manager;
    GHashTable *domain_objects; /* main thread: object path -> VbDBusObjectSkeleton, for
                                   jobs, networks and snapshots (the object manager's) */
    GHashTable *object_cache;   /* main thread: object path -> serialized a{sa{sv}} of
                                   those */
    GHashTable *domain_exports; /* domain object path -> VbBusDomainExport (issue 16,
                                   bus-domain-export.c); changed by the main thread under
                                   export_lock, read under it from any thread */
    GMutex export_lock;         /* a leaf: the table above and each export's properties */
    guint domain_subtree_id;
    VbDomainList *domains;
    VbNetworkList *networks;
    VbAuth *auth;
    VbPaths *paths;
    VbConfig config;
    GThreadPool *workers;
    char *host_uuid;

    GHashTable *autodestroy;    /* main thread: owner bus name -> OwnerWatch */
    GThreadPool *aux_pool;      /* autodestroy work */

    GMutex publish_lock;        /* the domain properties and signals are published
                                   under it, by the main thread or, for a run-state
                                   change, by the thread that made it (issue 16) */
    GMutex callers_lock;
    GHashTable *callers;        /* under callers_lock: unique name -> VbCallerEntry (uid,
                                   pid, read checks passed per object and verb) */
    GHashTable *shared_reads;   /* under callers_lock: "path\nverb" of the read checks
                                   passed by callers every check passes for (one set) */
    guint name_owner_sub;
    guint filter_id;
    GSource *trim_source;       /* main thread: the pending idle trim of the heap, or NULL */
    gboolean loading;           /* main thread: the start-up's domains are being exported,
                                   before the name is owned: no InterfacesAdded (issue 16) */
    gint stopping;              /* atomic: set by vb_bus_service_free(); notifications
                                   from domain/ threads are dropped from then on */
    VbBusSnapshots *snapshots;  /* issue 15, part snapbus: snapshot object paths */
};

/* bus-service.c */
VbBusService *vb_bus_service_new(VbPaths *paths, const VbConfig *config, VbAuth *auth,
                                 GError **error);
gboolean vb_bus_service_start(VbBusService *service, GDBusConnection *connection,
                              GError **error);
void vb_bus_service_free(VbBusService *service);
void vb_bus_service_autostart(VbBusService *service);
#define VB_BUS_TRIM_DELAY_S 2
void vb_bus_service_note_activity(VbBusService *service);
void vb_bus_service_queue(VbBusService *service, GSourceFunc func, gpointer data);

/* bus-dispatch.c */
void vb_bus_dispatch(VbBusService *service, const VbBusMethod *method,
                     GDBusMethodInvocation *invocation, GDBusMessage *message,
                     GVariant *parameters, VbDomainObj *dom);
void vb_bus_dispatch_domain(VbBusService *service, const VbBusMethod *method,
                            GDBusMethodInvocation *invocation, GDBusMessage *message,
                            GVariant *parameters, const char *path, gboolean load);
void vb_bus_dispatch_job(VbBusService *service, const VbBusMethod *method,
                         GDBusMethodInvocation *invocation, GDBusMessage *message,
                         GVariant *parameters, VbJob *job);
void vb_bus_dispatch_network(VbBusService *service, const VbBusMethod *method,
                             GDBusMethodInvocation *invocation, GDBusMessage *message,
                             GVariant *parameters, VbNetworkObj *net);
void vb_bus_call_return(VbBusCall *call, GVariant *value, GError *error);
const char *vb_bus_owner(VbBusCall *call);
GVariant *vb_bus_job_reply(VbJob *job);
gboolean vb_bus_check_flags(guint32 flags, guint32 allowed, const char *method,
                            GError **error);
const VbBusMethod *vb_bus_method_lookup(const VbBusMethod *table, gsize n, const char *name);
void vb_bus_worker_run(gpointer data, gpointer user_data);

/* bus-caller.c */
typedef void (*VbCallerReady)(VbCaller *caller, GError *error, gpointer user_data);
void vb_bus_caller_lookup(VbBusService *service, const char *sender, VbCallerReady ready,
                          gpointer user_data);
gboolean vb_bus_caller_read_allowed(VbBusService *service, const char *sender, const char *path,
                                    const char *verb);
void vb_bus_caller_set_read_allowed(VbBusService *service, const char *sender, const char *path,
                                    const char *verb);
void vb_bus_callers_forget_path(VbBusService *service, const char *path);
void vb_bus_callers_watch(VbBusService *service);

/* bus-manager.c */
extern const VbBusMethod vb_bus_manager_methods[];
extern const gsize vb_bus_manager_n_methods;

/* bus-domain-export.c (issue 16): domain objects without a GObject each */
typedef struct _VbBusDomainExport VbBusDomainExport;
typedef struct {
    char *path;
    GVariant *props; /* the Domain interface's published properties, a{sv} */
} VbBusDomainExported;
GHashTable *vb_bus_domain_exports_new(void);
gboolean vb_bus_domain_exports_start(VbBusService *service, GError **error);
void vb_bus_domain_exports_stop(VbBusService *service);
GVariant *vb_bus_domain_props_new(VbDomainObj *dom, char **out_autodestroy_owner,
                                  char **out_migration_owner);
void vb_bus_domain_export_add(VbBusService *service, const char *path, GVariant *props,
                              const char *autodestroy_owner, const char *migration_owner);
gboolean vb_bus_domain_export_publish(VbBusService *service, VbDomainObj *dom);
void vb_bus_domain_export_remove(VbBusService *service, const char *path);
gboolean vb_bus_domain_export_set_state(VbBusService *service, VbDomainObj *dom,
                                        const char *state, const char *reason);
GVariant *vb_bus_domain_export_props(VbBusService *service, const char *path);
gboolean vb_bus_domain_export_exists(VbBusService *service, const char *path);
GPtrArray *vb_bus_domain_exports_snapshot(VbBusService *service);
void vb_bus_domain_exported_free(gpointer data);
void vb_bus_domain_emit(VbBusService *service, const char *path, const char *iface,
                        const char *signal, GVariant *params);

/* bus-domain.c */
void vb_bus_domain_notify(VbDomainObj *dom, VbDomainNotifyKind kind, const char *event,
                          const char *detail, gpointer user_data);
extern const VbBusMethod vb_bus_domain_methods[];
extern const gsize vb_bus_domain_n_methods;

/* bus-network.c */
char *vb_bus_network_path(const char *uuid);
void vb_bus_network_notify(VbNetworkObj *net, VbNetworkNotifyKind kind, const char *event,
                           const char *detail, gpointer user_data);
extern const VbBusMethod vb_bus_network_methods[];
extern const gsize vb_bus_network_n_methods;
GVariant *vb_bus_network_define_xml(VbBusCall *call, GError **error);
GVariant *vb_bus_network_create_xml(VbBusCall *call, GError **error);
GVariant *vb_bus_network_lookup_by_name(VbBusCall *call, GError **error);
void vb_bus_network_lookup_prepare(VbBusCall *call);
void vb_bus_network_xml_prepare(VbBusCall *call);
GVariant *vb_bus_network_lookup_by_uuid(VbBusCall *call, GError **error);
GVariant *vb_bus_list_networks(VbBusCall *call, GError **error);

/* bus-job.c */
void vb_bus_job_notify(VbJob *job, VbJobNotifyKind kind, gpointer user_data);
extern const VbBusMethod vb_bus_job_methods[];
extern const gsize vb_bus_job_n_methods;

/* bus-stats.c (issue 13, part stats) */
GVariant *vb_bus_stats_get_stats(VbBusCall *call, GError **error);
GVariant *vb_bus_stats_memory_stats(VbBusCall *call, GError **error);
GVariant *vb_bus_stats_set_memory_stats_period(VbBusCall *call, GError **error);
GVariant *vb_bus_stats_interface_stats(VbBusCall *call, GError **error);
GVariant *vb_bus_stats_block_stats(VbBusCall *call, GError **error);
GVariant *vb_bus_stats_get_block_info(VbBusCall *call, GError **error);
GVariant *vb_bus_stats_get_cpu_stats(VbBusCall *call, GError **error);
GVariant *vb_bus_stats_get_all_domain_stats(VbBusCall *call, GError **error);
void vb_bus_stats_fini(void);
/* bus-console.c (issue 13, part console) */
GVariant *vb_bus_open_console(VbBusCall *call, GError **error);
GVariant *vb_bus_open_channel(VbBusCall *call, GError **error);
GVariant *vb_bus_open_graphics_fd(VbBusCall *call, GError **error);
GVariant *vb_bus_screenshot(VbBusCall *call, GError **error);
GVariant *vb_bus_send_key(VbBusCall *call, GError **error);
GVariant *vb_bus_inject_nmi(VbBusCall *call, GError **error);
GVariant *vb_bus_send_process_signal(VbBusCall *call, GError **error);
GVariant *vb_bus_get_metadata(VbBusCall *call, GError **error);
GVariant *vb_bus_set_metadata(VbBusCall *call, GError **error);
GVariant *vb_bus_set_title(VbBusCall *call, GError **error);
GVariant *vb_bus_set_description(VbBusCall *call, GError **error);
void vb_bus_console_add_props(GVariantBuilder *b, VbDomainObj *dom);
/* bus-memev.c (issue 13, part memev) */
gboolean vb_bus_memev_emit(VbBusService *service, const char *path, const char *event,
                           const char *detail);
GVariant *vb_bus_memev_set_memory(VbBusCall *call, GError **error);
GVariant *vb_bus_memev_set_max_memory(VbBusCall *call, GError **error);
GVariant *vb_bus_memev_pin_vcpu(VbBusCall *call, GError **error);
GVariant *vb_bus_memev_pin_iothread(VbBusCall *call, GError **error);
GVariant *vb_bus_memev_get_vcpu_pin_info(VbBusCall *call, GError **error);
GVariant *vb_bus_memev_set_vcpus(VbBusCall *call, GError **error);
/* bus-vcpuio.c (issue 13, part vcpuio) */
GVariant *vb_bus_vcpuio_get_vcpus(VbBusCall *call, GError **error);
GVariant *vb_bus_vcpuio_get_iothread_info(VbBusCall *call, GError **error);
GVariant *vb_bus_vcpuio_add_iothread(VbBusCall *call, GError **error);
GVariant *vb_bus_vcpuio_del_iothread(VbBusCall *call, GError **error);
GVariant *vb_bus_vcpuio_pin_emulator(VbBusCall *call, GError **error);
GVariant *vb_bus_vcpuio_get_emulator_pin_info(VbBusCall *call, GError **error);
GVariant *vb_bus_vcpuio_get_perf_events(VbBusCall *call, GError **error);
GVariant *vb_bus_vcpuio_set_perf_events(VbBusCall *call, GError **error);
/* bus-tune.c (issue 14, part cgroup) */
GVariant *vb_bus_tune_get_memory(VbBusCall *call, GError **error);
GVariant *vb_bus_tune_set_memory(VbBusCall *call, GError **error);
GVariant *vb_bus_tune_get_scheduler(VbBusCall *call, GError **error);
GVariant *vb_bus_tune_set_scheduler(VbBusCall *call, GError **error);
GVariant *vb_bus_tune_get_blkio(VbBusCall *call, GError **error);
GVariant *vb_bus_tune_set_blkio(VbBusCall *call, GError **error);
/* bus-hotplug.c (issue 13, part hotplug) */
GVariant *vb_bus_attach_device(VbBusCall *call, GError **error);
GVariant *vb_bus_detach_device(VbBusCall *call, GError **error);
GVariant *vb_bus_detach_device_alias(VbBusCall *call, GError **error);
GVariant *vb_bus_update_device(VbBusCall *call, GError **error);
gboolean vb_bus_hotplug_emit(VbBusService *service, const char *path, const char *event,
                             const char *detail);

/* bus-guest2.c (issue 13, part guest2) */
GVariant *vb_bus_guest2_fstrim(VbBusCall *call, GError **error);
GVariant *vb_bus_guest2_get_guest_vcpus(VbBusCall *call, GError **error);
GVariant *vb_bus_guest2_set_guest_vcpus(VbBusCall *call, GError **error);
GVariant *vb_bus_guest2_pm_suspend(VbBusCall *call, GError **error);
GVariant *vb_bus_guest2_pm_wakeup(VbBusCall *call, GError **error);
GVariant *vb_bus_guest2_get_disk_errors(VbBusCall *call, GError **error);
GVariant *vb_bus_guest2_rename(VbBusCall *call, GError **error);
GVariant *vb_bus_guest2_memory_peek(VbBusCall *call, GError **error);
GVariant *vb_bus_guest2_block_peek(VbBusCall *call, GError **error);
/* bus-blockjob.c (issue 15, part blockjob) */
GVariant *vb_bus_get_block_job_info(VbBusCall *call, GError **error);
GVariant *vb_bus_block_job_set_speed(VbBusCall *call, GError **error);
GVariant *vb_bus_block_job_abort(VbBusCall *call, GError **error);
GVariant *vb_bus_block_pull(VbBusCall *call, GError **error);
GVariant *vb_bus_block_commit(VbBusCall *call, GError **error);
GVariant *vb_bus_block_copy(VbBusCall *call, GError **error);
GVariant *vb_bus_block_resize(VbBusCall *call, GError **error);
GVariant *vb_bus_set_block_threshold(VbBusCall *call, GError **error);

/* bus-snapshot.c (issue 15, part snapbus) */
VbBusSnapshots *vb_bus_snapshots_new(void);
void vb_bus_snapshots_free(VbBusSnapshots *snapshots);
void vb_bus_snapshots_load_all(VbBusService *service);
extern const VbBusMethod vb_bus_snapshot_methods[];
extern const gsize vb_bus_snapshot_n_methods;
VbDomainObj *vb_bus_snapshot_skeleton_get_domain(VbDBusSnapshot *iface);
GVariant *vb_bus_snapshot_create_xml(VbBusCall *call, GError **error);
GVariant *vb_bus_snapshot_list(VbBusCall *call, GError **error);
GVariant *vb_bus_snapshot_lookup_by_name(VbBusCall *call, GError **error);
GVariant *vb_bus_snapshot_current(VbBusCall *call, GError **error);
gboolean vb_bus_snapshot_undefine(VbBusCall *call, guint flags, GError **error);

/* bus-autodestroy.c */
void vb_bus_autodestroy_init(VbBusService *service);
void vb_bus_autodestroy_fini(VbBusService *service);
void vb_bus_autodestroy_add(VbBusService *service, const char *owner);
void vb_bus_autodestroy_remove(VbBusService *service, const char *owner);

/* bus-readfilter.c */
typedef void (*VbBusReadableDone)(VbBusCall *call, GHashTable *readable, gpointer user_data);
gboolean vb_bus_call_filters_reads(VbBusCall *call);
void vb_bus_filter_readable(VbBusCall *call, const char *verb, GHashTable *objects,
                            VbBusReadableDone done, gpointer user_data);
GHashTable *vb_bus_read_details_new(const char *name, const char *uuid);
GHashTable *vb_bus_read_details_of(VbDomainObj *dom);

/* bus-properties.c */
GDBusMessage *vb_bus_properties_filter(GDBusConnection *connection, GDBusMessage *message,
                                       gboolean incoming, gpointer user_data);


G_END_DECLS
