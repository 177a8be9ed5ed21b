/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* cgroup_mode (issue 14, part cgroup; docs/resources.md) */
typedef enum {
    VB_CGROUP_MODE_NONE,
    VB_CGROUP_MODE_AUTO,
    VB_CGROUP_MODE_MACHINED,
    VB_CGROUP_MODE_SYSTEMD,
    VB_CGROUP_MODE_DIRECT,
    VB_CGROUP_MODE_LAST
} VbCgroupMode;
const char *vb_cgroup_mode_to_string(VbCgroupMode mode);

/* on_host_shutdown (issue 14, part cgroup): what a logind PrepareForShutdown does */
typedef enum {
    VB_HOST_SHUTDOWN_NONE,
    VB_HOST_SHUTDOWN_SHUTDOWN,
    VB_HOST_SHUTDOWN_MANAGEDSAVE,
} VbHostShutdownAction;

/* The service's settings (keyfile, group [virtbusd]); defaults in data/virtbusd.conf. */
typedef struct {
    guint worker_threads;     /* size of the worker pool */
    guint job_wait_timeout;   /* seconds a call waits for a domain's job */
    guint max_queued;         /* callers waiting for a job; 0 = unlimited */
    guint migration_port_min;
    guint migration_port_max;
    guint vnc_port_min;
    guint vnc_port_max;
    guint job_grace_period;   /* seconds a completed Job stays on the bus */
    char *migration_host;     /* nullable: address the destination gives to sources */
    char *migration_address;  /* nullable: address an incoming migration listens on */
    char *ssh_config;         /* nullable: ssh -F file for connections to other hosts */
    guint keepalive_interval; /* seconds between ssh keepalives to other hosts; 0: none */
    guint keepalive_count;    /* unanswered keepalives before the connection is lost */
    /* the ssh data path of a tunnelled migration (issue 11, part tunnel2): the program the
     * destination host runs as `PROGRAM migrate-tunnel-attach` (virtbusctl) */
    char *tunnel_command;
    /* virtual networks (issue 12, part driver): define libvirt's `default` network (autostart)
     * on the first start; -1 until main.c resolves "auto" (on for the system service at /) */
    int default_network;
    /* the guest agent (issue 12, part addresses) */
    guint agent_timeout;      /* seconds an agent command may take (connect, sync, reply) */
    /* the user and group QEMU runs as (issue 14, part dac); NULL: the service's own.
     * main.c sets "virtbus-qemu" for the system service at / when they are not set */
    char *qemu_user;
    char *qemu_group;
    /* issue 14, part cgroup */
    int cgroup_mode;          /* VbCgroupMode; -1 unset; "auto" is resolved at start-up */
    int on_host_shutdown;     /* VbHostShutdownAction; -1 unset (main.c resolves it) */
    guint shutdown_timeout;   /* seconds a guest has to shut down before it is destroyed */
    /* confinement (issue 14, part launch): QEMU's -sandbox on (1) or not (0); a private mount
     * namespace with a minimal /dev (1, the default), resolved to 0 by main.c unless root and
     * not session */
    int seccomp_sandbox;
    int namespaces;
} VbConfig;

void vb_config_init_defaults(VbConfig *config);
void vb_config_clear(VbConfig *config);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VbConfig, vb_config_clear)
gboolean vb_config_load(VbConfig *config, const char *path, gboolean must_exist,
                        GError **error);

G_END_DECLS
