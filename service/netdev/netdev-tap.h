/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Tap and macvtap devices for QEMU's `-netdev tap,fds=...`, and vhost-net.
 * File descriptors returned here are O_CLOEXEC: whoever starts QEMU passes
 * them on explicitly. Any thread; acts in the calling thread's network
 * namespace; errors are %VB_ERROR naming the device and the kernel's reason.
 */

#include <glib.h>

G_BEGIN_DECLS

/**
 * VbNetdevTapFlags:
 * @VB_NETDEV_TAP_VNET_HDR: IFF_VNET_HDR (what QEMU's virtio-net and vhost want)
 * @VB_NETDEV_TAP_PERSIST: keep the device after its last fd is closed (an
 *   administrator's tap for `managed='no'`); without it the device goes away
 *   with its last fd, as libvirt's taps for QEMU do
 *
 * Flags of vb_netdev_tap_create() and vb_netdev_tap_open().
 */
typedef enum {
    VB_NETDEV_TAP_VNET_HDR = 1 << 0,
    VB_NETDEV_TAP_PERSIST = 1 << 1,
} VbNetdevTapFlags;

/* libvirt's name templates */
#define VB_NETDEV_TAP_TEMPLATE "vnet%d"
#define VB_NETDEV_MACVTAP_TEMPLATE "macvtap%d"

/**
 * VbNetdevMacvtapMode:
 * @VB_NETDEV_MACVTAP_VEPA: `mode='vepa'` (libvirt's default)
 * @VB_NETDEV_MACVTAP_PRIVATE: `mode='private'`
 * @VB_NETDEV_MACVTAP_BRIDGE: `mode='bridge'`
 * @VB_NETDEV_MACVTAP_PASSTHROUGH: `mode='passthrough'`
 * @VB_NETDEV_MACVTAP_LAST: the count
 *
 * The `<source mode>` of `<interface type='direct'>`.
 */
typedef enum {
    VB_NETDEV_MACVTAP_VEPA,
    VB_NETDEV_MACVTAP_PRIVATE,
    VB_NETDEV_MACVTAP_BRIDGE,
    VB_NETDEV_MACVTAP_PASSTHROUGH,
    VB_NETDEV_MACVTAP_LAST
} VbNetdevMacvtapMode;

const char *vb_netdev_macvtap_mode_to_string(VbNetdevMacvtapMode mode);
int vb_netdev_macvtap_mode_from_string(const char *str);

gboolean vb_netdev_tap_create(const char *name, guint queues, VbNetdevTapFlags flags,
                              char **out_name, int *out_fds, GError **error);
gboolean vb_netdev_tap_open(const char *name, guint queues, VbNetdevTapFlags flags, int *out_fds,
                            GError **error);
gboolean vb_netdev_tap_set_host_mac(const char *name, const guint8 *guest_mac, GError **error);
gboolean vb_netdev_tap_plug(const char *name, const char *bridge, guint mtu, GError **error);
gboolean vb_netdev_tap_delete(const char *name, GError **error);

gboolean vb_netdev_macvtap_create(const char *name, const char *lower, VbNetdevMacvtapMode mode,
                                  const guint8 *mac, char **out_name, GError **error);
gboolean vb_netdev_macvtap_open(const char *name, guint queues, gboolean vnet_hdr, int *out_fds,
                                GError **error);
gboolean vb_netdev_macvtap_delete(const char *name, GError **error);

gboolean vb_netdev_vhost_check(GError **error);
gboolean vb_netdev_vhost_open(guint count, int *out_fds, GError **error);

void vb_netdev_close_fds(int *fds, guint count);

G_END_DECLS
