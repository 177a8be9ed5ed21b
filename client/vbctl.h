/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "vb-dbus-generated.h"
#include "vbctl-migrate.h"

G_BEGIN_DECLS

#define VBCTL_BUS_NAME "org.virtbus.Virt1"
#define VBCTL_MANAGER_PATH "/org/virtbus/Virt1"

/* Exit codes: 0 success, 1 the operation failed, 2 the command line was wrong. */
#define VBCTL_EXIT_FAILURE 1
#define VBCTL_EXIT_USAGE 2

/* Every option of every command; a command's table names the ones it takes. */
/* the guest agent's commands (issue 13, part agent; vbctl-agent.c) */
typedef struct {
    char *mode;     /* shutdown/reboot --mode acpi,agent, or NULL */
    char *source;   /* domhostname --source agent|lease, or NULL */
    char *time;     /* domtime --time SECONDS, or NULL */
    gboolean now;   /* domtime --now */
    gboolean sync;  /* domtime --sync */
    gboolean encrypted; /* set-user-password --encrypted */
    gboolean async; /* qemu-agent-command --async */
    gboolean block; /* qemu-agent-command --block */
    gboolean user, os, timezone, hostname, filesystem, interface; /* guestinfo groups */
    gboolean disk; /* guestinfo --disk (issue 13, part misc) */
} VbctlAgentFlags;

/* guest calls (issue 13, part guest2; vbctl-guest2.c) */
typedef struct {
    char *minimum;      /* domfstrim --minimum BYTES, or NULL */
    char *mountpoint;   /* domfstrim --mountpoint PATH, or NULL */
    char *cpulist;      /* guestvcpus --cpulist LIST, or NULL */
    gboolean enable;    /* guestvcpus --enable */
    gboolean disable;   /* guestvcpus --disable */
    gint duration;      /* dompmsuspend --duration SECONDS */
    gboolean guest;     /* setvcpus --guest */
    gboolean print_xml; /* change-media --print-xml */
} VbctlGuest2Flags;

/* snapshots (issue 15, part snapbus; vbctl-snapshot.c) */
typedef struct {
    char *description;      /* snapshot-create-as --description TEXT, or NULL */
    gboolean disk_only;     /* snapshot-create-as --disk-only */
    gboolean no_metadata;   /* snapshot-create-as --no-metadata */
    gboolean reuse_external; /* snapshot-create-as --reuse-external */
    gboolean quiesce;       /* snapshot-create-as --quiesce */
    gboolean halt;          /* snapshot-create-as --halt */
    char *diskspec;         /* snapshot-create-as --diskspec "SPEC [SPEC...]", or NULL */
    char *memspec;          /* snapshot-create-as --memspec [file=]PATH[,snapshot=KIND] */
    gboolean live;          /* snapshot-create-as --live */
    gboolean redefine;      /* snapshot-create --redefine */
    gboolean current;       /* snapshot-create --current */
    gboolean validate;      /* snapshot-create, snapshot-create-as --validate */
    gboolean tree;          /* snapshot-list --tree */
    gboolean roots;         /* snapshot-list --roots */
    gboolean name;          /* snapshot-list, snapshot-current --name */
    gboolean force;         /* snapshot-revert --force */
    gboolean running;       /* snapshot-revert --running */
    gboolean paused;        /* snapshot-revert --paused */
    gboolean reset_nvram;   /* snapshot-revert --reset-nvram */
    gboolean children;      /* snapshot-delete --children */
    gboolean children_only; /* snapshot-delete --children-only */
    gboolean metadata;      /* snapshot-delete --metadata */
} VbctlSnapshotFlags;
/* block jobs (issue 15, part blockjob; vbctl-blockjob.c) */
typedef struct {
    char *bandwidth;  /* --bandwidth N (MiB/s, bytes/s with --bytes), or NULL */
    char *base;       /* blockcommit --base PATH, or NULL */
    char *top;        /* blockcommit --top PATH, or NULL */
    gboolean bytes;   /* --bytes */
    gboolean shallow; /* blockcommit --shallow */
    gboolean active;  /* blockcommit --active */
    gboolean info;    /* blockjob --info */
    gboolean abort;   /* blockjob --abort */
    gboolean pivot;   /* blockjob, blockcopy, blockcommit --pivot */
    gboolean async;   /* blockjob --async */
    char *format;     /* blockcopy --format raw|qcow2, or NULL */
    gboolean reuse_external; /* blockcopy --reuse-external */
    gboolean wait;           /* blockcopy, blockcommit --active: --wait until ready */
    gboolean finish;         /* blockcopy --finish: end a ready copy without pivot */
    gboolean keep_overlay;   /* blockcommit --active --keep-overlay: the same */
} VbctlBlockFlags;

typedef struct {
    gboolean all;
    gboolean inactive;
    gboolean json;
    gboolean names_only;
    gboolean migratable;
    gboolean security_info;
    gboolean disable;
    gboolean paused;
    gboolean autodestroy;
    gboolean graceful;
    gboolean reason;
    gboolean loop;
    gboolean pretty;
    gboolean running;
    gboolean compress;
    gboolean no_progress;
    gboolean completed;
    gboolean state_running;
    gboolean state_paused;
    gboolean state_shutoff;
    gboolean state_other;
    gboolean persistent;
    gboolean validate;
    gboolean nvram;
    gboolean keep_nvram;
    gboolean tpm;
    gboolean keep_tpm;
    gboolean transient;
    gboolean with_managed_save;
    gint timeout;   /* seconds, -1 when not given */
    char *xml_file; /* --xml FILE, or NULL */
    char *mac;      /* net-dhcp-leases --mac MAC, or NULL */
    /* migrate and migrate-* (issue 11, part client; vbctl-migrate.c) */
    VbctlMigrateFlags migrate;
    /* domifaddr (issue 12, part addresses; vbctl-ifaddr.c) */
    char *ifaddr_source;    /* --source lease|agent|arp, or NULL */
    char *ifaddr_interface; /* --interface NAME, or NULL */
    gboolean ifaddr_full;
    /* the guest agent (issue 13, part agent; vbctl-agent.c) */
    VbctlAgentFlags agent;
    /* statistics (issue 13, part stats; vbctl-stats.c) */
    gboolean stats_state;
    gboolean stats_cpu_total;
    gboolean stats_balloon;
    gboolean stats_vcpu;
    gboolean stats_interface;
    gboolean stats_block;
    gboolean stats_perf;
    gboolean stats_iothread;
    gboolean stats_memory;
    gboolean stats_dirtyrate;
    gboolean stats_nowait;
    gboolean stats_backing;
    gboolean stats_enforce;
    gboolean stats_list_active;
    gboolean stats_list_inactive;
    gboolean stats_details;
    gboolean stats_total;
    gboolean stats_live;
    gboolean stats_config;
    gboolean stats_current;
    gint stats_period; /* dommemstat --period N, -1 when not given */
    /* console and display (issue 13, part console; vbctl-console.c, vbctl-display.c) */
    gboolean console_force;
    gboolean console_safe;
    char *console_devname; /* console --devname ALIAS, or NULL */
    char *key_codeset;     /* send-key --codeset NAME, or NULL (linux) */
    gint key_holdtime;     /* send-key --holdtime MS, 0 when not given */
    gint screen;           /* screenshot --screen N */
    char *display_type;    /* domdisplay --type vnc|spice, or NULL */
    gint display_index;    /* display-stream --index N, -1: the first VNC or SPICE one */
    gboolean display_skip_auth; /* display-stream --skip-auth */
    gboolean meta_live;    /* desc, metadata --live */
    gboolean meta_config;  /* desc, metadata --config */
    gboolean meta_title;   /* desc --title */
    gboolean meta_remove;  /* metadata --remove */
    char *meta_key;        /* metadata --key KEY */
    char *meta_set;        /* metadata --set XML */
    /* memory, vCPUs and events (issue 13, part memev; vbctl-memev.c, vbctl-event.c) */
    gboolean mem_live;    /* setmem, setmaxmem --live */
    gboolean mem_config;  /* --config */
    gboolean mem_current; /* --current */
    gboolean timestamp;   /* event --timestamp */
    gboolean vcpu_maximum; /* setvcpus --maximum */
    /* devices while running (issue 13, part hotplug; vbctl-hotplug.c) */
    gboolean dev_live;       /* attach-device, ... --live */
    gboolean dev_config;     /* --config */
    gboolean dev_current;    /* --current */
    gboolean dev_persistent; /* --persistent */
    gboolean dev_force;      /* update-device --force */
    gboolean media_eject;    /* change-media --eject */
    gboolean media_insert;   /* --insert */
    gboolean media_update;   /* --update */
    gboolean media_block;    /* --block */
    /* vCPU count, IOThreads (issue 13, part vcpuio; vbctl-vcpuio.c) */
    gboolean count_maximum; /* vcpucount --maximum */
    gboolean count_active;  /* vcpucount --active */
    gboolean count_guest;   /* vcpucount --guest */
    char *perf_enable;      /* perf --enable a,b */
    char *perf_disable;     /* perf --disable a,b */
    /* guest calls (issue 13, part guest2; vbctl-guest2.c) */
    VbctlGuest2Flags guest2;
    /* snapshots (issue 15, part snapbus; vbctl-snapshot.c) */
    VbctlSnapshotFlags snapshot;
    /* block jobs (issue 15, part blockjob; vbctl-blockjob.c) */
    VbctlBlockFlags block;
} VbctlFlags;

typedef struct {
    GDBusConnection *connection; /* NULL when the bus was not reachable (see bus_error) */
    char *bus_description;       /* "the system bus", "the bus at ADDRESS", ... */
    gboolean remote;             /* over ssh (-H, --connect ssh://): see vb_remote_close() */
    GError *bus_error;           /* why connection is NULL, for commands that go on without */
    VbDBusManager *manager; /* created on first use by vbctl_manager() */
    VbctlFlags flags;
    char **args; /* positional arguments after the command, NULL-terminated */
    guint n_args;
} VbctlContext;

typedef gboolean (*VbctlCommandFunc)(VbctlContext *ctx, GError **error);

/* vbctl-commands.c */
gboolean vbctl_cmd_list(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_define(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_undefine(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_dumpxml(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_info(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_autostart(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_capabilities(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_version(VbctlContext *ctx, GError **error);
char *vbctl_read_definition(const char *file, GError **error);

/* vbctl-memev.c (issue 13, part memev) */
gboolean vbctl_cmd_setmem(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_setmaxmem(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_vcpupin(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_iothreadpin(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_setvcpus(VbctlContext *ctx, GError **error);
/* also used by vbctl-vcpuio.c: "0-3,^2" / "r" to a host CPU map, a map to "0-2,5" */
GVariant *vbctl_parse_cpulist(const char *text, GError **error);
gboolean vbctl_cpulist_fill(const char *text, guint limit, GArray *map);
GVariant *vbctl_cpumap_variant(const GArray *map);
char *vbctl_format_cpumap(GVariant *map);

/* vbctl-vcpuio.c (issue 13, part vcpuio) */
gboolean vbctl_cmd_vcpucount(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_iothreadinfo(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_iothreadadd(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_iothreaddel(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_emulatorpin(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_perf(VbctlContext *ctx, GError **error);

/* vbctl-tune.c (issue 14, part cgroup) */
gboolean vbctl_cmd_memtune(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_schedinfo(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_blkiotune(VbctlContext *ctx, GError **error);

/* vbctl-blockjob.c (issue 15, part blockjob) */
gboolean vbctl_cmd_blockpull(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_blockcommit(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_blockjob(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_blockcopy(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_blockresize(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domblkthreshold(VbctlContext *ctx, GError **error);

/* vbctl-net.c (issue 12) */
gboolean vbctl_cmd_net_list(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_net_define(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_net_undefine(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_net_start(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_net_destroy(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_net_dumpxml(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_net_info(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_net_autostart(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_net_dhcp_leases(VbctlContext *ctx, GError **error);

/* vbctl-ifaddr.c (issue 12, part addresses) */
gboolean vbctl_cmd_domifaddr(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domiflist(VbctlContext *ctx, GError **error);
int vbctl_ifaddr_source_from_string(const char *str);
GPtrArray *vbctl_domiflist_rows(const char *xml, GError **error);

/* vbctl-agent.c (issue 13, part agent) */
int vbctl_power_mode_flags(const char *mode, GError **error);
/* issue 13, part guest2 (vbctl-guest2.c) */
gboolean vbctl_cmd_domfstrim(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_guestvcpus(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_dompmsuspend(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_dompmwakeup(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domblkerror(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domrename(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domfsfreeze(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domfsthaw(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domfsinfo(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domtime(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domhostname(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_guestinfo(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_set_user_password(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_qemu_agent_command(VbctlContext *ctx, GError **error);
/* vbctl-snapshot.c (issue 15, part snapbus) */
gboolean vbctl_cmd_snapshot_create_as(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_snapshot_create(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_snapshot_list(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_snapshot_info(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_snapshot_dumpxml(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_snapshot_revert(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_snapshot_delete(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_snapshot_current(VbctlContext *ctx, GError **error);
/* vbctl-stats.c (issue 13, part stats) */
gboolean vbctl_cmd_domstats(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domblklist(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domblkinfo(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domblkstat(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domifstat(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_dommemstat(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_vcpuinfo(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_cpu_stats(VbctlContext *ctx, GError **error);
GPtrArray *vbctl_domblklist_rows(const char *xml, GError **error);

/* vbctl-lifecycle.c */
gboolean vbctl_cmd_start(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_create(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_shutdown(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_reboot(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_reset(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_destroy(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_suspend(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_resume(VbctlContext *ctx, GError **error);

/* vbctl-state.c */
gboolean vbctl_cmd_domstate(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domcontrol(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domid(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_qemu_monitor_command(VbctlContext *ctx, GError **error);

/* vbctl-event.c */
gboolean vbctl_cmd_event(VbctlContext *ctx, GError **error);
gboolean vbctl_wait_autodestroy(VbctlContext *ctx, VbDBusDomain *domain, GError **error);

/* vbctl-save.c */
gboolean vbctl_cmd_save(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_restore(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_managedsave(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_managedsave_remove(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_dump(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domjobabort(VbctlContext *ctx, GError **error);

/* vbctl-jobinfo.c */
gboolean vbctl_cmd_domjobinfo(VbctlContext *ctx, GError **error);

/* vbctl-job.c */
GVariant *vbctl_run_job(VbctlContext *ctx, GDBusProxy *proxy, const char *method,
                        GVariant *parameters, GError **error);
/* What to do once a job is "ready" (a block copy or an active commit mirroring). */
typedef gboolean (*VbctlJobReadyFunc)(VbctlContext *ctx, gpointer data, GError **error);
GVariant *vbctl_run_job_until_ready(VbctlContext *ctx, GDBusProxy *proxy, const char *method,
                                    GVariant *parameters, VbctlJobReadyFunc ready,
                                    gpointer ready_data, GError **error);

/* vbctl-tunnel.c (internal: the ssh data path of a tunnelled migration) */
gboolean vbctl_cmd_migrate_tunnel_attach(VbctlContext *ctx, GError **error);

/* vbctl-migrate.c */
gboolean vbctl_migrate_check_args(const char *command, VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_migrate(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_migrate_setspeed(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_migrate_getspeed(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_migrate_setmaxdowntime(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_migrate_getmaxdowntime(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_migrate_postcopy(VbctlContext *ctx, GError **error);

/* vbctl-console.c */
gboolean vbctl_cmd_console(VbctlContext *ctx, GError **error);
int vbctl_open_stream(VbDBusDomain *domain, const char *dev_name, guint flags,
                      gboolean channel, GError **error);

/* vbctl-display.c (issue 13, part console) */
gboolean vbctl_cmd_vncdisplay(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_domdisplay(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_display_stream(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_screenshot(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_send_key(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_inject_nmi(VbctlContext *ctx, GError **error);
/* vbctl-hotplug.c (issue 13, part hotplug) */
gboolean vbctl_cmd_attach_device(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_detach_device(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_detach_device_alias(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_update_device(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_change_media(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_desc(VbctlContext *ctx, GError **error);
gboolean vbctl_cmd_metadata(VbctlContext *ctx, GError **error);

/* vbctl-bus.c */
GDBusConnection *vbctl_connect(gboolean session, const char *address, const char *description,
                               GError **error);
void vbctl_set_service_missing_error(VbctlContext *ctx, GError **error);
gboolean vbctl_ensure_properties(GDBusProxy *proxy, GError **error);
VbDBusManager *vbctl_manager(VbctlContext *ctx, GError **error);
VbDBusDomain *vbctl_lookup_domain(VbctlContext *ctx, const char *name_or_uuid,
                                  gboolean load_properties, GError **error);
VbDBusDomain *vbctl_domain_proxy(VbctlContext *ctx, const char *path, gboolean load_properties,
                                 GError **error);
GVariant *vbctl_call_mutating(GDBusProxy *proxy, const char *method, GVariant *parameters,
                              const GVariantType *reply_type, GError **error);
gboolean vbctl_set_property(GDBusProxy *proxy, const char *property, GVariant *value,
                            GError **error);

G_END_DECLS
