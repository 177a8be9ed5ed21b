/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * A D-Bus connection to another host's bus, the way `busctl -H` makes one:
 * `ssh -xT HOST env SYSTEMD_LOG_TARGET=console systemd-stdio-bridge
 * [-pADDRESS]` and a GDBusConnection
 * over the child's stdin/stdout. Used by virtbusctl (-H, --connect) and by
 * the service's peer-to-peer migration driver. GLib/GIO only.
 *
 * URIs:
 *   ssh://[USER@]HOST[:PORT][/][?PARAM=VALUE&...]
 *     bus=ADDRESS       the remote bus (unix:path=... or unix:abstract=...);
 *                       default: the remote system bus
 *     keyfile=PATH      ssh -i PATH                         (trusted only)
 *     known_hosts=PATH  ssh -o UserKnownHostsFile=PATH      (trusted only)
 *     no_verify=1       ssh -o StrictHostKeyChecking=no     (trusted only)
 *   unix:path=PATH, unix:abstract=NAME   a bus on this machine, connected
 *                                        directly
 */

/* Seconds for ssh's connect, authentication and the D-Bus handshake. */
#define VB_REMOTE_DEFAULT_TIMEOUT 20

typedef enum {
    VB_REMOTE_URI_SSH,
    VB_REMOTE_URI_ADDRESS,
} VbRemoteUriKind;

typedef struct {
    VbRemoteUriKind kind;
    char *user;        /* nullable */
    char *host;        /* IPv6 without brackets */
    guint port;        /* 0: ssh's default */
    char *bus;         /* ssh: remote bus address, nullable; address: the address */
    char *keyfile;     /* nullable */
    char *known_hosts; /* nullable */
    gboolean no_verify;
} VbRemoteUri;

typedef struct {
    /* The caller may use keyfile, known_hosts and no_verify (virtbusctl run by
     * its user). The service passes FALSE: a caller of the system service must
     * not make root's ssh read files of the caller's choosing. */
    gboolean trusted;
    /* ssh -F FILE (the service's ssh_config setting, virtbusctl --ssh-config);
     * nullable */
    const char *ssh_config;
    /* seconds; 0: VB_REMOTE_DEFAULT_TIMEOUT */
    guint timeout;
    /* ssh's keepalive (ServerAliveInterval, ServerAliveCountMax): ssh ends, and
     * the connection closes, when the other host stops answering for
     * interval x count seconds (a cut network); 0: ssh's own settings */
    guint keepalive_interval;
    guint keepalive_count;
    /* ssh gets SIGTERM when the calling THREAD ends (PR_SET_PDEATHSIG): only
     * for a thread that lives as long as the process (virtbusctl's main) */
    gboolean die_with_caller;
} VbRemoteOptions;

VbRemoteUri *vb_remote_uri_parse(const char *uri, gboolean trusted, GError **error);
gboolean vb_remote_check_uri(const char *uri, gboolean trusted, GError **error);
char *vb_remote_uri_host(const char *uri);
void vb_remote_uri_free(VbRemoteUri *uri);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbRemoteUri, vb_remote_uri_free)

char *vb_remote_uri_display(const VbRemoteUri *uri);
GStrv vb_remote_ssh_argv(const VbRemoteUri *uri, const VbRemoteOptions *opts);
GStrv vb_remote_ssh_argv_command(const VbRemoteUri *uri, const VbRemoteOptions *opts,
                                 const char *const *command);

GDBusConnection *vb_remote_connect(const char *uri, const VbRemoteOptions *opts,
                                   GCancellable *cancellable, GError **error);
char *vb_remote_lost_reason(GDBusConnection *connection);
GPid vb_remote_get_ssh_pid(GDBusConnection *connection);
void vb_remote_close(GDBusConnection *connection);

/* Another command on the host of an ssh:// URI, its stdin from a descriptor
 * (the ssh data path of a tunnelled migration, migration-p2p.c). */
typedef struct _VbRemoteCommand VbRemoteCommand;
VbRemoteCommand *vb_remote_command_spawn(const char *uri, const VbRemoteOptions *opts,
                                         const char *const *command, int stdin_fd,
                                         GError **error);
GPid vb_remote_command_get_pid(VbRemoteCommand *rc);
gboolean vb_remote_command_wait(VbRemoteCommand *rc, guint ms);
void vb_remote_command_end(VbRemoteCommand *rc, guint grace_ms);
gboolean vb_remote_command_check(VbRemoteCommand *rc, GError **error);
void vb_remote_command_free(VbRemoteCommand *rc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbRemoteCommand, vb_remote_command_free)

G_END_DECLS
