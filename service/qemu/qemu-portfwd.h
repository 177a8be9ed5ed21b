/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * <interface type='user'> with <portForward>, <backend type='passt'> and <ip> (issue 12,
 * part portfwd): read once from the kept children, then turned into SLIRP's "hostfwd" rules
 * (the default backend) or into passt's command line (qemu-helpers.c starts passt; QEMU
 * gets -netdev stream on its socket).
 */

#include <glib.h>

#include "domain-def.h"

G_BEGIN_DECLS

/**
 * VbQemuPortRange:
 * @start: first host port (1..65535)
 * @end: last host port, 0 for @start only
 * @to: guest port @start maps to, 0 for the same ports
 * @exclude: a passt exclusion (`~`)
 */
typedef struct {
    guint start;
    guint end;
    guint to;
    gboolean exclude;
} VbQemuPortRange;

/**
 * VbQemuPortForward:
 * @udp: proto='udp' (else tcp)
 * @address: nullable: the host address to bind (IPv4 or IPv6, as written)
 * @ipv6: @address is an IPv6 address
 * @dev: nullable: the host interface to bind
 * @ranges: (element-type VbQemuPortRange): empty means all ports (passt only)
 */
typedef struct {
    gboolean udp;
    char *address;
    gboolean ipv6;
    char *dev;
    GArray *ranges;
} VbQemuPortForward;

/**
 * VbQemuUserNet:
 * @passt: <backend type='passt'>
 * @log_file: nullable: <backend logFile=>
 * @source_dev: nullable: <source dev=> (passt's --interface)
 * @ipv4, @ipv6: nullable: the guest's <ip address=> per family
 * @prefix4, @prefix6: their prefix, 0 when not given
 * @forwards: (element-type VbQemuPortForward): the <portForward> elements in order
 *
 * What a type='user' interface asks for beyond plain SLIRP.
 */
typedef struct {
    gboolean passt;
    char *log_file;
    char *source_dev;
    char *ipv4;
    guint prefix4;
    char *ipv6;
    guint prefix6;
    GPtrArray *forwards;
} VbQemuUserNet;

void vb_qemu_user_net_free(VbQemuUserNet *u);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VbQemuUserNet, vb_qemu_user_net_free)

VbQemuUserNet *vb_qemu_user_net_read(const VbDeviceDef *dev, char **out_problem);
char **vb_qemu_user_net_hostfwd(const VbQemuUserNet *u, char **out_problem);
char **vb_qemu_user_net_passt_argv(const VbQemuUserNet *u, const char *passt,
                                   const char *socket, const char *log_file, guint mtu);
char *vb_qemu_user_net_passt_socket(const char *runtime_dir, const char *alias);
char *vb_qemu_passt_binary(void);

G_END_DECLS
