/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "domain-def.h"
#include "qemu-caps.h"
#include "qemu-monitor.h"
#include "qemu-net.h"
#include "qemu-process.h"

G_BEGIN_DECLS

typedef enum {
    VB_DOMAIN_STATE_NOSTATE,
    VB_DOMAIN_STATE_RUNNING,
    VB_DOMAIN_STATE_BLOCKED,
    VB_DOMAIN_STATE_PAUSED,
    VB_DOMAIN_STATE_SHUTDOWN,
    VB_DOMAIN_STATE_SHUTOFF,
    VB_DOMAIN_STATE_CRASHED,
    VB_DOMAIN_STATE_PMSUSPENDED,
    VB_DOMAIN_STATE_LAST
} VbDomainState;

/* One table of reasons for every state: the bus shows them as strings. */
typedef enum {
    VB_DOMAIN_REASON_UNKNOWN,
    VB_DOMAIN_REASON_BOOTED,
    VB_DOMAIN_REASON_USER,
    VB_DOMAIN_REASON_UNPAUSED,
    VB_DOMAIN_REASON_SHUTDOWN,
    VB_DOMAIN_REASON_DESTROYED,
    VB_DOMAIN_REASON_CRASHED,
    VB_DOMAIN_REASON_MIGRATED,
    VB_DOMAIN_REASON_SAVED,
    VB_DOMAIN_REASON_RESTORED,
    VB_DOMAIN_REASON_FAILED,
    VB_DOMAIN_REASON_STARTING_UP,
    VB_DOMAIN_REASON_SHUTTING_DOWN,
    VB_DOMAIN_REASON_PANICKED,
    VB_DOMAIN_REASON_SAVING,  /* paused: a save is writing its memory */
    VB_DOMAIN_REASON_MIGRATION, /* paused: migrating (outgoing, or waiting for the stream) */
    /* issue 13, part memev */
    VB_DOMAIN_REASON_IOERROR,  /* paused: a disk error with error_policy stop */
    VB_DOMAIN_REASON_WATCHDOG, /* paused: the watchdog fired with action pause */
    VB_DOMAIN_REASON_WAKEUP,   /* running: woken from PM suspend */
    /* issue 15 */
    VB_DOMAIN_REASON_SNAPSHOT,      /* paused: an internal snapshot is being taken */
    VB_DOMAIN_REASON_FROM_SNAPSHOT, /* running or paused: reverted to a snapshot */
    VB_DOMAIN_REASON_LAST
} VbDomainReason;

const char *vb_domain_state_to_string(VbDomainState state);
int vb_domain_state_from_string(const char *str);
const char *vb_domain_reason_to_string(VbDomainReason reason);
int vb_domain_reason_from_string(const char *str);

typedef struct _VbDomainObj VbDomainObj;
typedef struct _VbBlockOp VbBlockOp; /* domain-blockops.c (issue 15, part blockjob) */

/* Synchronous job types (one at a time per domain). */
typedef enum {
    VB_JOB_NONE,
    VB_JOB_QUERY,
    VB_JOB_DESTROY,
    VB_JOB_SUSPEND,
    VB_JOB_MODIFY,
    VB_JOB_ABORT,
    VB_JOB_MIGRATION_OP,
    VB_JOB_ASYNC_NESTED, /* taken by the async job to enter the monitor */
    VB_JOB_LAST
} VbJobType;

#define VB_JOB_MASK(type) (1u << (type))

/* Asynchronous (long) job types (one at a time per domain). */
typedef enum {
    VB_ASYNC_JOB_NONE,
    VB_ASYNC_JOB_MIGRATION_OUT,
    VB_ASYNC_JOB_MIGRATION_IN, /* also a restore: an incoming migration from a file */
    VB_ASYNC_JOB_SAVE,
    VB_ASYNC_JOB_DUMP,
    VB_ASYNC_JOB_SNAPSHOT,
    VB_ASYNC_JOB_BLOCK, /* issue 15, part blockjob: BlockPull, BlockCommit */
    VB_ASYNC_JOB_LAST
} VbAsyncJobType;

const char *vb_job_type_to_string(VbJobType type);
int vb_job_type_from_string(const char *str);
const char *vb_async_job_type_to_string(VbAsyncJobType type);
int vb_async_job_type_from_string(const char *str);

typedef struct _VbJob VbJob; /* the record of an async job the bus shows (domain-jobrec.c) */

typedef struct {
    VbJobType active;  /* under lock */
    char *method;      /* under lock: the API call that holds it */
    char *owner;       /* under lock: its caller's bus name, or NULL (internal) */
    gint64 since;      /* under lock: monotonic µs */
    guint waiters;     /* under lock: sync and async callers waiting */
    GCond cond;        /* signalled when a sync or async job ends */

    VbAsyncJobType async;   /* under lock */
    char *async_method;     /* under lock: the API call that started it */
    char *async_owner;      /* under lock: its caller's bus name, or NULL */
    gint64 async_since;     /* under lock: monotonic µs */
    guint mask;             /* under lock: VB_JOB_MASK()s of the sync jobs allowed meanwhile */
    const char *phase;      /* under lock: static string, "none" when idle */
    gboolean abort_requested; /* under lock: AbortJob/Cancel seen; honoured when possible */
    gboolean transferring;  /* under lock: the data transfer runs (an abort acts at once) */
    gboolean was_running;   /* under lock: the vCPUs ran when the async job began */
    gboolean held;          /* under lock: a migration job kept between bus calls (no
                               thread runs it): the end of the run ends it */
    gboolean owner_watched; /* under lock: the async owner leaving the bus abandons the
                               job (a client-driven migration) */
    gboolean spice_migrated; /* under lock: SPICE_MIGRATE_COMPLETED seen (cond signalled) */
    const char *owned_event; /* under lock: "STOP" or "RESUME" while a Suspend or Resume
                                holds the job: it sets the state at that event itself,
                                which is then not queued (issue 16, domain-ops.c) */
    gboolean own_run_state; /* under lock: the sync job holder pauses and resumes the guest
                               itself and sets the state (a live snapshot, issue 15): STOP
                               and RESUME pass without a job, so that the events after them
                               (JOB_STATUS_CHANGE) reach the waiting holder */
    gboolean abort_on_error; /* under lock: a guest I/O error aborts the async job
                                (migration ABORT_ON_ERROR) */
    gboolean io_error;       /* under lock: ... and one did */
    gboolean run_on_postcopy; /* under lock: an incoming migration whose guest is to run:
                                 QEMU's switch to post-copy resumes it at once */
    guint migration_events;  /* under lock: MIGRATION events seen (cond signalled) */
    char *temp_path;        /* under lock: a partial file the job writes, for recovery */
    VbJob *record;          /* under lock: the running job's record (a reference) */
    VbJob *last;            /* under lock: the last completed job's record, or NULL */
} VbDomainJob;

/* A QMP event or the monitor's end, queued to the domain's event worker. */
typedef struct {
    char *name;        /* event name, or NULL for EOF / process exit */
    JsonObject *data;  /* nullable */
    gint64 timestamp;  /* QEMU's, µs since the epoch */
    guint64 run;       /* the run it belongs to: stale events are dropped */
} VbDomainEvent;

/* A thread of a run: a vCPU (id = its index) or an iothread (id = its iothread id). */
typedef struct {
    guint id;
    int tid;
} VbThreadId;

/*
 * The runtime domain. Fields marked "under lock" are read and written with
 * @lock held; the lock is never held across disk I/O, QEMU or bus calls.
 */
struct _VbDomainObj {
    gint refcount;
    GMutex lock;

    char uuid_str[37];      /* immutable */
    char *object_path;      /* immutable */

    VbDomainDef *def;       /* under lock: the current (live, when active) definition */
    VbDomainDef *new_def;   /* under lock: persistent definition for the next start */
    VbDomainState state;    /* under lock */
    VbDomainReason reason;  /* under lock */
    int id;                 /* under lock: -1 when inactive */
    gboolean persistent;    /* under lock */
    gboolean autostart;     /* under lock */
    gboolean removed;       /* under lock: gone from the list; calls fail with NoDomain */
    gboolean starting;      /* under lock: a start runs (it holds the job and copied
                               @def): DefineXML sets @new_def, Undefine leaves it
                               transient, as for an active domain */
    gboolean has_managed_save; /* under lock: <save_dir>/<name>.save exists */

    VbDomainJob job;

    /* runtime, all under lock; set while active */
    VbQemuProcess *proc;
    VbQemuMonitor *mon;
    gpointer mon_ctx;       /* the monitor callbacks' context (domain-process.c) */
    VbQemuCaps *caps;       /* the capabilities it was started with */
    char *runtime_dir;
    char *monitor_path;
    char *pidfile;
    guint taint;            /* VbTaintFlags */
    int display_port;       /* allocated autoport display port, or -1 */
    int websocket_port;     /* allocated VNC websocket port (websocket='-1'), or -1 */
    int migration_port;     /* incoming migration port of the run, or -1 */
    gpointer migration;     /* under lock: the migration's state (service/migration/) */
    GDestroyNotify migration_free;
    char *autodestroy_owner; /* bus name whose departure destroys it, or NULL */
    gboolean fake_reboot;   /* a Reboot asked for: reset at the next guest power-off */
    gboolean got_shutdown;  /* a SHUTDOWN event was seen in this run */
    gboolean destroying;    /* a Destroy is killing it: the stop reason is destroyed */
    gboolean stopping;      /* teardown in progress */
    VbDomainReason pause_reason; /* reason for the next STOP event */
    gint64 resumed_at;      /* wall-clock µs the service last let the vCPUs run:
                               STOP events QEMU sent before it are stale */
    gint64 paused_at;       /* wall-clock µs of the last Suspend: RESUME events QEMU sent
                               before it are stale (issue 13, part misc) */
    gint64 state_since;     /* monotonic µs of the last state change */
    guint64 run;            /* increases with every start; 0 never ran */

    /* helper processes of the run (issue 10, part helpers), under lock */
    GPtrArray *helpers;     /* nullable; VbDomainHelperRun* (domain-helpers.c) */

    /* event queue, under lock */
    GQueue events;          /* VbDomainEvent* */
    gboolean events_running;

    /* threads of the run (issue 10, part cpu), under lock; NULL when inactive */
    GArray *vcpu_tids;      /* VbThreadId */
    GArray *iothread_tids;  /* VbThreadId */
    /* issue 10, part live */
    GStrv unsupported;      /* under lock: what the last define holds that a start would
                               not act on ("<elem> at line N: why"); never NULL */
    /* block jobs and the domain's condition (issue 11, part nbd) */
    GCond cond;             /* with @lock: broadcast when a block job changes, an abort is
                               asked or the run ends (vb_domain_obj_wait_until()) */
    GHashTable *block_jobs; /* under lock: QEMU job id -> VbBlockJob* of the current run,
                               filled by the events; NULL when none was seen */
    VbBlockOp *block_op;    /* under lock: the running BlockPull/BlockCommit, owned by its
                               job thread (issue 15, part blockjob); NULL when none */
    int nbd_port;           /* under lock: the NBD server's port of an incoming storage
                               copy (from the migration range), or -1 */
    /* interfaces (issue 12, part interfaces) */
    GPtrArray *nets;        /* under lock: VbQemuNetPrep* of the run, one per <interface>;
                               NULL when inactive (domain-net.c) */
    /* guest agent (issue 12, part addresses): libvirt's agent job, independent of the
     * sync and async jobs (a guest that does not answer holds no monitor call up); one at
     * a time, waiters on job.cond (domain-agent.c) */
    gboolean agent_job;     /* under lock */
    char *agent_job_method; /* under lock: the API call that holds it */
    char *agent_job_owner;  /* under lock: its caller's bus name, or NULL */
    /* guest agent state (issue 13, part agent; domain-agent-ops.c) */
    gboolean agent_connected; /* under lock: the guest has the agent channel open
                                 (VSERPORT_CHANGE, query-chardev at start and reconnect) */
    gboolean agent_frozen;    /* under lock: FSFreeze froze file systems and no FSThaw
                                 came yet; in the status XML, thawed at reconnect */
    /* devices while running (issue 13, part hotplug; domain-hotplug.c) */
    char *unplug_alias;       /* under lock: the device a DetachDevice waits for, or NULL */
    int unplug_status;        /* under lock: VbUnplugStatus of @unplug_alias */
    GHashTable *unplug_nodes; /* under lock: alias -> top block node of a disk whose
                                 unplug was asked and not finished; NULL when none */
    /* vCPU unplug (issue 13, part memev, second session; domain-memev.c) */
    guint64 vcpus_unplugged_run; /* under lock: the run @vcpus_unplugged counts for */
    guint vcpus_unplugged;       /* under lock: vCPUs unplugged in that run */
    /* perf events (issue 13, part vcpuio; domain-perf.c) */
    GHashTable *disk_chains; /* under lock: target dev -> the <backingStore> chain (XML) QEMU
                                runs the disk on, for the live XML (domain-chain.c); of the
                                current run, NULL before the first */
    GHashTable *perf; /* under lock: libvirt's event name -> GArray of perf_event_open fds
                         (one per QEMU thread, inherit); unref closes them; NULL when none */
    /* disk errors (issue 13, part guest2; domain-guest2-peek.c) */
    guint64 disk_errors_run; /* under lock: the run @disk_errors counts for */
    GHashTable *disk_errors; /* under lock: disk alias -> libvirt's error code of the last
                                BLOCK_IO_ERROR in that run; NULL when none */
    /* crash-safe attach (issue 13, part netupd; domain-hotplug.c, domain-status.c) */
    VbDomainDef *attach_pending_def; /* under lock: while an AttachDevice sends the device
                                        to QEMU, the live definition with it, written to
                                        the status file instead of @def; else NULL */
    char *attach_pending_alias;      /* under lock: that device's alias */
    /* the run's cgroup (issue 14, part cgroup; domain-cgroup.c), under lock */
    int cgroup_mode;       /* VbCgroupMode QEMU was placed with; NONE when not placed */
    GStrv cgroup_dirs;     /* direct: the directories made for the run (v2: one; v1: one
                              per controller); NULL otherwise */
    char *cgroup_unit;     /* machined/systemd: the scope's unit name; NULL otherwise */
    /* issue 14, part devns (domain-devns.c), under lock: this run's QEMU has a private
     * /dev; hot-plugged host devices are made in it (kept in the status file) */
    gboolean private_dev;
    /* issue 15, part snapbus: the snapshots (domain-snapshot.c), loaded on first use;
       used only with the domain's job held */
    struct _VbSnapshotStore *snapshots;
};

/* A block job of QEMU as its events told (domain-blockjob.c). */
typedef enum {
    VB_BLOCK_JOB_RUNNING,
    VB_BLOCK_JOB_READY,     /* BLOCK_JOB_READY (a mirror is in sync) */
    VB_BLOCK_JOB_COMPLETED, /* BLOCK_JOB_COMPLETED without error */
    VB_BLOCK_JOB_CANCELLED, /* BLOCK_JOB_CANCELLED */
    VB_BLOCK_JOB_FAILED,    /* BLOCK_JOB_COMPLETED with an error */
} VbBlockJobState;

typedef struct {
    char *id;
    VbBlockJobState state;
    char *status;         /* QEMU's last JOB_STATUS_CHANGE status, nullable */
    char *error;          /* the error QEMU reported (BLOCK_JOB_ERROR/COMPLETED), nullable */
} VbBlockJob;

/* Why vb_domain_block_jobs_wait_locked() returned. */
typedef enum {
    VB_BLOCK_WAIT_DONE,    /* every job is ready, or has ended, as asked */
    VB_BLOCK_WAIT_ENDED,   /* waiting for ready: a job ended first */
    VB_BLOCK_WAIT_TIMEOUT, /* the deadline passed */
    VB_BLOCK_WAIT_ABORT,   /* the domain's job was asked to abort */
    VB_BLOCK_WAIT_GONE,    /* the run ended (or is ending) */
} VbBlockWait;

/* What the bus shows of a domain, copied under the lock. */
typedef struct {
    char *name;
    char uuid[37];
    int id;
    const char *state;
    const char *reason;
    gboolean active;
    gboolean persistent;
    gboolean autostart;
    guint64 memory_kib;
    guint vcpus;
    char *autodestroy_owner; /* "" when none */
    char *migration_owner;   /* the client driving a migration of it, "" when none */
    GStrv tainted;
    char *job_method;        /* "" when idle */
    guint job_id;            /* the running async job's record id, 0 when none */
    gboolean has_managed_save;
    GStrv unsupported;
    gboolean agent_connected; /* issue 13, part agent */
    guint64 current_memory_kib; /* issue 13, part memev: the balloon's size (live) */
    gint64 start_time;          /* issue 17: when its QEMU started (µs since the epoch), 0 */
} VbDomainSnapshot;

VbDomainObj *vb_domain_obj_new(VbDomainDef *def, const char *object_path);
VbDomainObj *vb_domain_obj_ref(VbDomainObj *dom);
void vb_domain_obj_unref(VbDomainObj *dom);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbDomainObj, vb_domain_obj_unref)

gboolean vb_domain_obj_is_active(VbDomainObj *dom);
char *vb_domain_obj_get_name(VbDomainObj *dom);
void vb_domain_obj_snapshot(VbDomainObj *dom, VbDomainSnapshot *out_snap);
void vb_domain_snapshot_clear(VbDomainSnapshot *snap);
gboolean vb_domain_obj_check_alive(VbDomainObj *dom, GError **error);
void vb_domain_obj_set_not_running_error(VbDomainObj *dom, const char *method,
                                         GError **error);
void vb_domain_obj_set_state(VbDomainObj *dom, VbDomainState state, VbDomainReason reason);
GStrv vb_domain_taint_to_strv(guint taint);
void vb_domain_event_free(VbDomainEvent *ev);

/* domain-blockjob.c (issue 11, part nbd) */
gboolean vb_domain_block_job_event(VbDomainObj *dom, const VbDomainEvent *ev);
void vb_domain_block_job_forget_locked(VbDomainObj *dom, const char *id);
void vb_domain_block_job_seed_locked(VbDomainObj *dom, const char *id, VbBlockJobState state,
                                     const char *error); /* issue 15, part bjrestart */
const VbBlockJob *vb_domain_block_job_get_locked(VbDomainObj *dom, const char *id);
gboolean vb_domain_block_job_ended(VbBlockJobState state);
void vb_domain_obj_broadcast(VbDomainObj *dom);
gboolean vb_domain_obj_wait_until(VbDomainObj *dom, gint64 end_time);
VbBlockWait vb_domain_block_jobs_wait_locked(VbDomainObj *dom, const char *const *ids,
                                             gboolean until_ready, gint64 deadline,
                                             gboolean abortable, const VbBlockJob **out_job);

/* domain-agent.c (issue 12, part addresses) */
gboolean vb_domain_agent_job_begin(VbDomainObj *dom, const char *method, const char *owner,
                                   guint timeout_s, GError **error);
void vb_domain_agent_job_end(VbDomainObj *dom);

/* domain-job.c */
gboolean vb_domain_job_begin(VbDomainObj *dom, VbJobType type, const char *method,
                             const char *owner, guint timeout_s, guint max_queued,
                             GError **error);
gboolean vb_domain_job_begin_event(VbDomainObj *dom, const char *method, guint timeout_s,
                                   GError **error);
gboolean vb_domain_job_begin_nested(VbDomainObj *dom, guint timeout_s, GError **error);
void vb_domain_job_end(VbDomainObj *dom);
guint vb_async_job_default_mask(VbAsyncJobType type);
gboolean vb_domain_async_job_begin(VbDomainObj *dom, VbAsyncJobType type, const char *method,
                                   const char *owner, guint timeout_s, guint max_queued,
                                   GError **error);
void vb_domain_async_job_set_phase(VbDomainObj *dom, const char *phase);
void vb_domain_async_job_end(VbDomainObj *dom);
void vb_domain_async_job_end_locked(VbDomainObj *dom);

/* What GetControlInfo reports. */
typedef struct {
    const char *state;  /* "ok", "job" (a call holds the job), "occupied" (waiting for QEMU) */
    char *job;          /* the job's type and method, or NULL */
    char *owner;        /* the bus name of the call holding it, or NULL */
    gint64 since;       /* monotonic µs the state began, 0 when ok */
    guint waiters;      /* calls queued for the job */
    char *async_job;    /* the running async job's type and method, or NULL */
    char *async_owner;  /* the bus name that started it, or NULL */
    gint64 async_since; /* monotonic µs it began, 0 when none */
    const char *async_phase; /* its phase, "none" when none */
} VbDomainControlInfo;

void vb_domain_get_control_info(VbDomainObj *dom, VbDomainControlInfo *out_info);
void vb_domain_control_info_clear(VbDomainControlInfo *info);

/* ---- the record of an async job, as the bus shows it (domain-jobrec.c) ---- */

typedef enum {
    VB_JOB_NOTIFY_ADDED,     /* a new job: export it */
    VB_JOB_NOTIFY_CHANGED,   /* phase or progress changed */
    VB_JOB_NOTIFY_COMPLETED, /* final state: flush, Completed, answer waiters */
} VbJobNotifyKind;

/* Any thread, no lock held; the bus queues it to the main context. */
typedef void (*VbJobNotifyFunc)(VbJob *job, VbJobNotifyKind kind, gpointer user_data);

/* What the bus shows of a job, copied under the job's lock. */
typedef struct {
    guint id;                 /* from an atomic counter, never reused in a run */
    VbAsyncJobType type;
    const char *operation;    /* "save", "restore", "dump", ... */
    char *domain_uuid;
    char *domain_path;
    char *started_by;         /* "" when internal */
    const char *phase;
    double progress;          /* 0..1 */
    guint64 data_total;
    guint64 data_processed;
    guint64 data_remaining;
    guint64 time_elapsed_ms;
    gboolean cancelable;
    gboolean completed;
    gboolean cancelled;
    GError *error;            /* set when completed and failed */
    GVariant *result;         /* a{sv}, set when completed successfully */
    GVariant *stats;          /* a{sv}: the latest statistics (GetJobStats) */
} VbJobInfo;

void vb_job_ids_init(const char *path);
VbJob *vb_job_new(VbDomainObj *dom, VbAsyncJobType type, const char *operation,
                  const char *started_by);
VbJob *vb_job_ref(VbJob *job);
void vb_job_unref(VbJob *job);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbJob, vb_job_unref)
guint vb_job_get_id(VbJob *job);
gboolean vb_job_is_completed(VbJob *job);
void vb_job_get_info(VbJob *job, VbJobInfo *out_info);
void vb_job_info_clear(VbJobInfo *info);
void vb_job_set_phase(VbJob *job, const char *phase, gboolean cancelable);
void vb_job_set_progress(VbJob *job, guint64 total, guint64 processed, guint64 remaining,
                         GVariant *stats);
void vb_job_complete(VbJob *job, GVariant *result, const GError *error, gboolean cancelled);
GVariant *vb_job_stats(VbJob *job, gboolean completed);

G_END_DECLS
