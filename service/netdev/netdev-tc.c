/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "netdev-link.h"
#include "netdev-priv.h"
#include "netdev-tc.h"
#include "vb-error.h"

/* iproute2's words for a module the kernel lacks (qdisc, classifier, action) */
static gboolean
tc_missing_module(const char *err)
{
    return err && (strstr(err, "kind is unknown") || strstr(err, "classifier not found") ||
                   strstr(err, "Failed to load TC action module") ||
                   strstr(err, "Unknown filter") || strstr(err, "Unknown qdisc"));
}

/* Runs tc; on failure the error names the device and carries tc's words. */
static gboolean
tc_run(const char *ifname, const char *const *argv, char **out_stderr, GError **error)
{
    g_autofree char *err = NULL;
    g_autofree char *cmd = g_strjoinv(" ", (char **)argv);
    int status = 0;

    if (!vb_netdev_run_tool(argv, NULL, NULL, &err, &status, error))
        return FALSE;
    if (status != 0) {
        g_set_error(error, VB_ERROR,
                    tc_missing_module(err) ? VB_ERROR_NOT_SUPPORTED : VB_ERROR_FAILED,
                    "cannot set bandwidth on network device '%s': '%s' failed: %s", ifname, cmd,
                    err && *err ? err : "no reason given");
        if (out_stderr)
            *out_stderr = g_steal_pointer(&err);
        return FALSE;
    }
    return TRUE;
}

static gboolean
rate_check(const char *ifname, const char *dir, const VbNetdevRate *r, GError **error)
{
    if (r && r->average == 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "bandwidth on '%s': <%s> needs an 'average' above 0", ifname, dir);
        return FALSE;
    }
    if (r && r->peak && r->peak < r->average) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "bandwidth on '%s': <%s> peak %" G_GUINT64_FORMAT
                    " is below its average %" G_GUINT64_FORMAT,
                    ifname, dir, r->peak, r->average);
        return FALSE;
    }
    return TRUE;
}

/* The traffic the host sends out of @ifname: htb root + class 1:1. */
static gboolean
shape_egress(const char *ifname, const VbNetdevRate *tx, GError **error)
{
    g_autofree char *average = g_strdup_printf("%" G_GUINT64_FORMAT "kbps", tx->average);
    g_autofree char *peak = g_strdup_printf("%" G_GUINT64_FORMAT "kbps", tx->peak);
    g_autofree char *burst = g_strdup_printf("%" G_GUINT64_FORMAT "kb", tx->burst);
    /* libvirt's quantum: the rate's bytes per MTU-sized packet, at least 1 */
    g_autofree char *quantum =
        g_strdup_printf("%" G_GUINT64_FORMAT, MAX(tx->average * 1024 / 8 / 1500, 1));
    const char *root[] = {"tc",     "qdisc", "add", "dev",     ifname, "root",
                          "handle", "1:",    "htb", "default", "1",    NULL};
    const char *cls[20] = {"tc", "class",   "add", "dev", ifname, "parent",
                           "1:", "classid", "1:1", "htb", "rate", average};
    const char *sfq[] = {"tc",     "qdisc", "add", "dev",     ifname, "parent", "1:1",
                         "handle", "2:",    "sfq", "perturb", "10",   NULL};
    const char *fw[] = {"tc",  "filter",   "add",    "dev",  ifname, "parent",
                        "1:0", "protocol", "all",    "prio", "1",    "handle",
                        "1",   "fw",       "flowid", "1",    NULL};
    int n = 12;
    g_autoptr(GError) soft = NULL;

    if (tx->peak) {
        cls[n++] = "ceil";
        cls[n++] = peak;
    }
    if (tx->burst) {
        cls[n++] = "burst";
        cls[n++] = burst;
    }
    cls[n++] = "quantum";
    cls[n++] = quantum;
    cls[n] = NULL;
    if (!tc_run(ifname, root, NULL, error) || !tc_run(ifname, cls, NULL, error))
        return FALSE;
    /* sfq only shares the class fairly between flows and the fw filter only
     * restates the default class: without those modules the rate still holds */
    if (!tc_run(ifname, sfq, NULL, &soft)) {
        if (soft->code != VB_ERROR_NOT_SUPPORTED) {
            g_propagate_error(error, g_steal_pointer(&soft));
            return FALSE;
        }
        g_info("%s; the class keeps its default queue", soft->message);
        g_clear_error(&soft);
    }
    if (!tc_run(ifname, fw, NULL, &soft)) {
        if (soft->code != VB_ERROR_NOT_SUPPORTED) {
            g_propagate_error(error, g_steal_pointer(&soft));
            return FALSE;
        }
        g_info("%s; the htb default class takes all traffic", soft->message);
    }
    return TRUE;
}

/* The traffic the host receives on @ifname: ingress qdisc + u32 police. */
static gboolean
police_ingress(const char *ifname, const VbNetdevRate *rx, GError **error)
{
    g_autofree char *average = g_strdup_printf("%" G_GUINT64_FORMAT "kbps", rx->average);
    /* tc keeps the burst in bytes in a 32-bit field */
    g_autofree char *burst = g_strdup_printf(
        "%" G_GUINT64_FORMAT "kb", rx->burst ? rx->burst : MIN(rx->average, G_MAXUINT / 1024));
    const char *ingress[] = {"tc", "qdisc", "add", "dev", ifname, "ingress", NULL};
    const char *police[] = {
        "tc",  "filter", "add",  "dev",  ifname,   "parent", "ffff:", "protocol", "all",
        "u32", "match",  "u32",  "0",    "0",      "police", "rate",  average,    "burst",
        burst, "mtu",    "64kb", "drop", "flowid", ":1",     NULL};
    g_autoptr(GError) err = NULL;

    if (!tc_run(ifname, ingress, NULL, error))
        return FALSE;
    if (!tc_run(ifname, police, NULL, &err)) {
        if (err->code == VB_ERROR_NOT_SUPPORTED)
            g_prefix_error(&err, "outbound bandwidth needs the kernel's tc police action "
                                 "(act_police): ");
        g_propagate_error(error, g_steal_pointer(&err));
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_netdev_bandwidth_set:
 * @ifname: the host side device (tap, macvtap, bridge)
 * @inbound: (nullable): `<inbound>`: traffic towards the guest
 * @outbound: (nullable): `<outbound>`: traffic from the guest
 * @swapped: %TRUE when the guest's receive is the device's transmit (taps,
 *   as libvirt passes for every type but `direct`); %FALSE for macvtap
 * @error: return location; %VB_ERROR_NOT_SUPPORTED when the kernel lacks a
 *   tc module the shape needs (act_police for the policed direction)
 *
 * Replaces the device's shaping with libvirt's: the direction the device
 * transmits gets `htb` root 1: with class 1:1 (rate, ceil, burst,
 * quantum), an `sfq` leaf 2: and an `fw` filter; the direction it receives
 * gets the `ingress` qdisc with a `u32` filter policing at the average rate
 * (burst defaults to the average's worth, mtu 64kb, drop). On failure the
 * device is left without shaping.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_bandwidth_set(const char *ifname, const VbNetdevRate *inbound,
                        const VbNetdevRate *outbound, gboolean swapped, GError **error)
{
    const VbNetdevRate *tx = swapped ? inbound : outbound;
    const VbNetdevRate *rx = swapped ? outbound : inbound;

    if (!rate_check(ifname, "inbound", inbound, error) ||
        !rate_check(ifname, "outbound", outbound, error))
        return FALSE;
    if (!vb_netdev_bandwidth_clear(ifname, error))
        return FALSE;
    if ((tx && !shape_egress(ifname, tx, error)) || (rx && !police_ingress(ifname, rx, error))) {
        vb_netdev_bandwidth_clear(ifname, NULL);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_netdev_bandwidth_clear:
 * @ifname: a device
 * @error: return location; only set when the device does not exist or tc
 *   cannot be run
 *
 * Deletes the root and ingress qdiscs (the device's own defaults stay), as
 * libvirt does; a device without shaping is left alone.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_bandwidth_clear(const char *ifname, GError **error)
{
    const char *root[] = {"tc", "qdisc", "del", "dev", ifname, "root", NULL};
    const char *ingress[] = {"tc", "qdisc", "del", "dev", ifname, "ingress", NULL};
    int status;

    if (!vb_netdev_name_check(ifname, error))
        return FALSE;
    if (!vb_netdev_link_exists(ifname)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "cannot clear bandwidth of network device '%s': it does not exist", ifname);
        return FALSE;
    }
    /* a failing delete means there was nothing to delete */
    if (!vb_netdev_run_tool(root, NULL, NULL, NULL, &status, error) ||
        !vb_netdev_run_tool(ingress, NULL, NULL, NULL, &status, error))
        return FALSE;
    return TRUE;
}
