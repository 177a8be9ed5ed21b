/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A device's receive filter as the kernel holds it (issue 13, part netupd): the multicast
 * MACs added to it (SIOCADDMULTI/SIOCDELMULTI; the "global" entries of
 * /proc/net/dev_mcast, libvirt's virNetDevGetMcastList) and its IFF_PROMISC,
 * IFF_MULTICAST and IFF_ALLMULTI flags. What libvirt syncs from a guest's rx filter to
 * its macvtap. Any thread; the calling thread's network namespace.
 */

#include <glib.h>

G_BEGIN_DECLS

GPtrArray *vb_netdev_mcast_list(const char *ifname, GError **error);
gboolean vb_netdev_mcast_add(const char *ifname, const char *mac, GError **error);
gboolean vb_netdev_mcast_del(const char *ifname, const char *mac, GError **error);
gboolean vb_netdev_link_get_flags(const char *ifname, guint *out_flags, GError **error);
gboolean vb_netdev_link_set_flag(const char *ifname, guint flag, gboolean on, GError **error);

G_END_DECLS
