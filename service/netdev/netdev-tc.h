/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Traffic shaping for `<bandwidth>` with the `tc` tool, in libvirt's shapes:
 * an htb root qdisc and class (with an sfq leaf and an fw filter) for the
 * traffic the host sends out of the device, an ingress qdisc with a u32
 * police filter for the traffic it receives. Any thread; runs in the calling
 * thread's network namespace.
 */

#include <glib.h>

G_BEGIN_DECLS

/**
 * VbNetdevRate:
 * @average: average rate in kilobytes per second (required, > 0)
 * @peak: peak rate in kilobytes per second, 0 for none
 * @burst: burst size in kilobytes, 0 for the default
 *
 * One direction of `<bandwidth>` (`<inbound>` or `<outbound>`), in
 * libvirt's units.
 */
typedef struct {
    guint64 average;
    guint64 peak;
    guint64 burst;
} VbNetdevRate;

gboolean vb_netdev_bandwidth_set(const char *ifname, const VbNetdevRate *inbound,
                                 const VbNetdevRate *outbound, gboolean swapped, GError **error);
gboolean vb_netdev_bandwidth_clear(const char *ifname, GError **error);

G_END_DECLS
