/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>

#include "netdev-link.h"
#include "netdev-netlink.h"
#include "netdev-priv.h"
#include "netdev-tap.h"
#include "vb-error.h"

#define TUN_PATH "/dev/net/tun"
#define VHOST_PATH "/dev/vhost-net"
#define NAME_TRIES 4096
#define MAX_QUEUES 256

static const char *const macvtap_modes[] = {"vepa", "private", "bridge", "passthrough"};
G_STATIC_ASSERT(G_N_ELEMENTS(macvtap_modes) == VB_NETDEV_MACVTAP_LAST);

/* Counters of generated names, as libvirt keeps them: a freed vnet3 is not
 * handed out again at once, so a late event about the old one is not
 * mistaken for the new one. */
static gint tap_counter = -1;
static gint macvtap_counter = -1;

/**
 * vb_netdev_macvtap_mode_to_string:
 * @mode: a mode
 *
 * Returns: libvirt's name of @mode ("vepa", ...).
 */
const char *
vb_netdev_macvtap_mode_to_string(VbNetdevMacvtapMode mode)
{
    g_return_val_if_fail(mode < VB_NETDEV_MACVTAP_LAST, NULL);
    return macvtap_modes[mode];
}

/**
 * vb_netdev_macvtap_mode_from_string:
 * @str: libvirt's `<source mode>` value
 *
 * Returns: the mode, or -1.
 */
int
vb_netdev_macvtap_mode_from_string(const char *str)
{
    return vb_enum_lookup(macvtap_modes, VB_NETDEV_MACVTAP_LAST, str);
}

/**
 * vb_netdev_close_fds:
 * @fds: (array length=count): descriptors, -1 entries skipped
 * @count: how many
 *
 * Closes the descriptors and sets them to -1.
 */
void
vb_netdev_close_fds(int *fds, guint count)
{
    for (guint i = 0; i < count; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}

/* A template has exactly one "%d" and no other '%'. */
static gboolean
name_is_template(const char *name, GError **error)
{
    const char *p = strchr(name, '%');

    if (p == NULL)
        return FALSE;
    if (p[1] == 'd' && strchr(p + 2, '%') == NULL && strlen(name) + 3 < IFNAMSIZ)
        return TRUE;
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                "invalid network device name template '%s': it needs exactly one %%d and "
                "room for the number",
                name);
    return FALSE;
}

static char *
name_from_template(const char *tmpl, gint *counter)
{
    int n = g_atomic_int_add(counter, 1) + 1;
    const char *p = strchr(tmpl, '%');

    if (n < 0) {
        g_atomic_int_set(counter, 0);
        n = 0;
    }
    return g_strdup_printf("%.*s%d%s", (int)(p - tmpl), tmpl, n, p + 2);
}

static int
queues_check(const char *what, const char *name, guint queues, GError **error)
{
    if (queues == 0 || queues > MAX_QUEUES) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "%s '%s': %u queues asked, from 1 to %d are possible", what, name, queues,
                    MAX_QUEUES);
        return -1;
    }
    return 0;
}

/* Opens @queues fds of tap @name with TUNSETIFF; errno on failure. */
static int
tap_open_queues(const char *name, guint queues, short flags, int *fds, char **out_reason)
{
    for (guint i = 0; i < queues; i++)
        fds[i] = -1;
    for (guint i = 0; i < queues; i++) {
        struct ifreq ifr = {0};
        int e;

        fds[i] = open(TUN_PATH, O_RDWR | O_CLOEXEC);
        if (fds[i] < 0) {
            e = errno;
            *out_reason = g_strdup_printf("%s: %s", TUN_PATH, g_strerror(e));
            vb_netdev_close_fds(fds, queues);
            return e;
        }
        g_strlcpy(ifr.ifr_name, name, sizeof(ifr.ifr_name));
        /* only the first open creates; the others attach as queues */
        ifr.ifr_flags = i == 0 ? flags : (short)(flags & ~IFF_TUN_EXCL);
        if (ioctl(fds[i], TUNSETIFF, &ifr) < 0) {
            e = errno;
            *out_reason = g_strdup_printf("TUNSETIFF: %s", g_strerror(e));
            vb_netdev_close_fds(fds, queues);
            return e;
        }
    }
    return 0;
}

static gboolean
tap_persist(const char *name, int fd, gboolean on, GError **error)
{
    if (ioctl(fd, TUNSETPERSIST, on ? 1 : 0) < 0) {
        vb_netdev_set_error(error, errno, NULL, "cannot make tap device '%s' %s", name,
                            on ? "persistent" : "transient");
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_netdev_tap_create:
 * @name: the tap's name, or a template with one "%d" (libvirt's "vnet%d")
 * @queues: how many queues (fds); above 1 the tap is IFF_MULTI_QUEUE
 * @flags: #VbNetdevTapFlags
 * @out_name: (out) (transfer full) (optional): the name of the new tap
 * @out_fds: (out caller-allocates) (array length=queues): one fd per queue
 * @error: return location; %VB_ERROR_EXISTS when @name is in use
 *
 * Creates a new tap device (IFF_TAP | IFF_NO_PI, never attaching to an
 * existing one) and opens its queues. The tap is down and not on a bridge:
 * see vb_netdev_tap_set_host_mac() and vb_netdev_tap_plug().
 *
 * Returns: %TRUE on success; on failure nothing is left behind.
 */
gboolean
vb_netdev_tap_create(const char *name, guint queues, VbNetdevTapFlags flags, char **out_name,
                     int *out_fds, GError **error)
{
    g_autoptr(GError) tmpl_err = NULL;
    gboolean tmpl;
    short tflags = IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL;

    if (name == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "cannot create a tap device without a name or template");
        return FALSE;
    }
    tmpl = name_is_template(name, &tmpl_err);
    if (tmpl_err) {
        g_propagate_error(error, g_steal_pointer(&tmpl_err));
        return FALSE;
    }
    if (queues_check("cannot create tap device", name, queues, error) < 0)
        return FALSE;
    if (!tmpl && !vb_netdev_name_check(name, error))
        return FALSE;
    if (flags & VB_NETDEV_TAP_VNET_HDR)
        tflags |= IFF_VNET_HDR;
    if (queues > 1)
        tflags |= IFF_MULTI_QUEUE;

    for (int tries = 0; tries < (tmpl ? NAME_TRIES : 1); tries++) {
        g_autofree char *cand = tmpl ? name_from_template(name, &tap_counter) : g_strdup(name);
        g_autofree char *reason = NULL;
        int e;

        if (tmpl && vb_netdev_link_exists(cand))
            continue;
        if (!tmpl && vb_netdev_link_exists(cand)) {
            g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                        "cannot create tap device '%s': a network device of that name exists",
                        cand);
            return FALSE;
        }
        e = tap_open_queues(cand, queues, tflags, out_fds, &reason);
        if (e == EBUSY && tmpl)
            continue;
        if (e == ENOENT || e == ENODEV) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "cannot create tap device '%s': %s (the kernel has no tun driver)", cand,
                        reason);
            return FALSE;
        }
        if (e != 0) {
            vb_netdev_set_error(error, e, reason, "cannot create tap device '%s'", cand);
            return FALSE;
        }
        if ((flags & VB_NETDEV_TAP_PERSIST) && !tap_persist(cand, out_fds[0], TRUE, error)) {
            vb_netdev_close_fds(out_fds, queues);
            return FALSE;
        }
        g_debug("created tap device %s with %u queue(s)", cand, queues);
        if (out_name)
            *out_name = g_steal_pointer(&cand);
        return TRUE;
    }
    g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                "cannot create a tap device from '%s': no free name after %d tries", name,
                NAME_TRIES);
    return FALSE;
}

/**
 * vb_netdev_tap_open:
 * @name: an existing tap (`<target dev='...' managed='no'/>`)
 * @queues: how many queues to open
 * @flags: #VbNetdevTapFlags (%VB_NETDEV_TAP_PERSIST is ignored)
 * @out_fds: (out caller-allocates) (array length=queues): one fd per queue
 * @error: return location; %VB_ERROR_INVALID_ARG when @name does not exist or
 *   is not a tap
 *
 * Opens a tap device someone else made; never creates one.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_tap_open(const char *name, guint queues, VbNetdevTapFlags flags, int *out_fds,
                   GError **error)
{
    VbNetdevLink l;
    short tflags = IFF_TAP | IFF_NO_PI;
    g_autofree char *reason = NULL;
    int e;

    if (!vb_netdev_name_check(name, error) ||
        queues_check("cannot open tap device", name, queues, error) < 0)
        return FALSE;
    if (!vb_netdev_link_exists(name)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "tap device '%s' does not exist (with managed='no' it must be created "
                    "beforehand)",
                    name);
        return FALSE;
    }
    if (!vb_netdev_link_lookup(name, &l, error))
        return FALSE;
    if (!g_str_equal(l.kind, "tun")) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "network device '%s' is not a tap device (it is a '%s' device)", name,
                    l.kind[0] ? l.kind : "physical");
        return FALSE;
    }
    if (flags & VB_NETDEV_TAP_VNET_HDR)
        tflags |= IFF_VNET_HDR;
    if (queues > 1)
        tflags |= IFF_MULTI_QUEUE;
    e = tap_open_queues(name, queues, tflags, out_fds, &reason);
    if (e != 0) {
        vb_netdev_set_error(error, e, reason,
                            e == EINVAL ? "cannot open tap device '%s' (is it a tun device, or "
                                          "made with a different multi_queue setting?)"
                                        : "cannot open tap device '%s'",
                            name);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_netdev_tap_set_host_mac:
 * @name: a tap
 * @guest_mac: (array fixed-size=6): the guest's MAC (`<mac address>`)
 * @error: return location; %VB_ERROR_INVALID_ARG for a guest MAC starting
 *   with 0xFE, which libvirt reserves for the host side
 *
 * Gives the tap the guest's MAC with the first byte 0xFE, as libvirt does:
 * a bridge takes the lowest MAC of its ports, and 0xFE keeps it from taking
 * a guest's.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_tap_set_host_mac(const char *name, const guint8 *guest_mac, GError **error)
{
    guint8 mac[VB_NETDEV_MAC_LEN];

    if (guest_mac[0] == 0xfe) {
        g_autofree char *s = vb_netdev_mac_format(guest_mac);

        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "cannot use MAC address %s for tap device '%s': a first byte of 0xFE is "
                    "reserved for the host side",
                    s, name);
        return FALSE;
    }
    memcpy(mac, guest_mac, sizeof(mac));
    mac[0] = 0xfe;
    return vb_netdev_link_set_mac(name, mac, error);
}

/**
 * vb_netdev_tap_plug:
 * @name: a tap (or any link)
 * @bridge: (nullable): the bridge to attach it to
 * @mtu: the MTU, 0 for the bridge's (`<mtu size>` of the interface)
 * @error: return location
 *
 * Sets the MTU, attaches the tap to @bridge and brings it up, in libvirt's
 * order.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_tap_plug(const char *name, const char *bridge, guint mtu, GError **error)
{
    if (mtu == 0 && bridge) {
        VbNetdevLink br;

        if (!vb_netdev_link_lookup(bridge, &br, error))
            return FALSE;
        mtu = br.mtu;
    }
    if (mtu && !vb_netdev_link_set_mtu(name, mtu, error))
        return FALSE;
    if (bridge && !vb_netdev_link_set_master(name, bridge, error))
        return FALSE;
    return vb_netdev_link_set_up(name, TRUE, error);
}

/**
 * vb_netdev_tap_delete:
 * @name: a tap
 * @error: return location
 *
 * Deletes a tap, also a persistent one or one whose fds QEMU still holds.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_tap_delete(const char *name, GError **error)
{
    VbNetdevLink l;

    if (!vb_netdev_link_lookup(name, &l, error))
        return FALSE;
    if (!g_str_equal(l.kind, "tun")) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "cannot delete tap device '%s': it is a '%s' device", name,
                    l.kind[0] ? l.kind : "physical");
        return FALSE;
    }
    return vb_netdev_link_delete(name, error);
}

static const guint32 macvlan_mode_values[] = {MACVLAN_MODE_VEPA, MACVLAN_MODE_PRIVATE,
                                              MACVLAN_MODE_BRIDGE, MACVLAN_MODE_PASSTHRU};
G_STATIC_ASSERT(G_N_ELEMENTS(macvlan_mode_values) == VB_NETDEV_MACVTAP_LAST);

static int
macvtap_new(const char *name, int lower, VbNetdevMacvtapMode mode, const guint8 *mac,
            char **out_reason)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    g_autoptr(VbNlMsg) msg =
        vb_nl_msg_new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
    gsize linkinfo, data;

    vb_nl_msg_put_str(msg, IFLA_IFNAME, name);
    vb_nl_msg_put_u32(msg, IFLA_LINK, lower);
    if (mac)
        vb_nl_msg_put(msg, IFLA_ADDRESS, mac, VB_NETDEV_MAC_LEN);
    linkinfo = vb_nl_msg_nest_start(msg, IFLA_LINKINFO);
    vb_nl_msg_put_str(msg, IFLA_INFO_KIND, "macvtap");
    data = vb_nl_msg_nest_start(msg, IFLA_INFO_DATA);
    vb_nl_msg_put_u32(msg, IFLA_MACVLAN_MODE, macvlan_mode_values[mode]);
    vb_nl_msg_nest_end(msg, data);
    vb_nl_msg_nest_end(msg, linkinfo);
    return vb_nl_request(msg, out_reason);
}

/**
 * vb_netdev_macvtap_create:
 * @name: (nullable): the name or a template with "%d"; %NULL for libvirt's
 *   "macvtap%d"
 * @lower: the host device it sits on (`<source dev>`)
 * @mode: the macvtap mode
 * @mac: (nullable) (array fixed-size=6): the guest's MAC, which the macvtap
 *   carries (the guest's frames leave the lower device with it)
 * @out_name: (out) (transfer full) (optional): the new device's name
 * @error: return location
 *
 * Creates a macvtap device on @lower (down; bring it up with
 * vb_netdev_link_set_up() and open it with vb_netdev_macvtap_open()). In
 * passthrough mode the kernel allows one macvtap per lower device, and the
 * lower device takes @mac: the caller saves the lower device's MAC before
 * (vb_netdev_link_lookup()) and restores it after deleting the macvtap, as
 * libvirt does with its saved net config.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_macvtap_create(const char *name, const char *lower, VbNetdevMacvtapMode mode,
                         const guint8 *mac, char **out_name, GError **error)
{
    g_autoptr(GError) tmpl_err = NULL;
    const char *n = name ? name : VB_NETDEV_MACVTAP_TEMPLATE;
    gboolean tmpl = name_is_template(n, &tmpl_err);
    int lindex;

    if (tmpl_err) {
        g_propagate_error(error, g_steal_pointer(&tmpl_err));
        return FALSE;
    }
    if ((guint)mode >= VB_NETDEV_MACVTAP_LAST) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "unknown macvtap mode %d", mode);
        return FALSE;
    }
    if (!tmpl && !vb_netdev_name_check(n, error))
        return FALSE;
    lindex = vb_netdev_link_index(lower, error);
    if (lindex < 0)
        return FALSE;
    for (int tries = 0; tries < (tmpl ? NAME_TRIES : 1); tries++) {
        g_autofree char *cand = tmpl ? name_from_template(n, &macvtap_counter) : g_strdup(n);
        g_autofree char *reason = NULL;
        int e;

        if (tmpl && vb_netdev_link_exists(cand))
            continue;
        e = macvtap_new(cand, lindex, mode, mac, &reason);
        if (e == EEXIST && tmpl)
            continue;
        if (e != 0) {
            vb_netdev_set_error(error, e, reason,
                                "cannot create macvtap device '%s' on '%s' "
                                "in mode %s",
                                cand, lower, macvtap_modes[mode]);
            return FALSE;
        }
        /* passthrough inherits the lower device's MAC at creation; setting it
         * now gives the lower device the guest's MAC, as libvirt does */
        if (mode == VB_NETDEV_MACVTAP_PASSTHROUGH && mac &&
            !vb_netdev_link_set_mac(cand, mac, error)) {
            vb_netdev_link_delete(cand, NULL);
            return FALSE;
        }
        if (out_name)
            *out_name = g_steal_pointer(&cand);
        return TRUE;
    }
    g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                "cannot create a macvtap device from '%s': no free name after %d tries", n,
                NAME_TRIES);
    return FALSE;
}

static int
macvtap_open_one(const char *path, gboolean vnet_hdr, gboolean multi, char **out_reason)
{
    struct ifreq ifr = {0};
    int fd = -1, e;

    /* the node appears with the device; give udev-less setups a moment, as libvirt does */
    for (int i = 0; i < 10; i++) {
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd >= 0 || errno != ENOENT)
            break;
        g_usleep(100 * 1000);
    }
    if (fd < 0) {
        e = errno;
        *out_reason = g_strdup_printf("%s: %s", path, g_strerror(e));
        return -e;
    }
    if (ioctl(fd, TUNGETIFF, &ifr) < 0)
        goto fail;
    ifr.ifr_flags = (ifr.ifr_flags & ~(IFF_VNET_HDR | IFF_MULTI_QUEUE)) |
                    (vnet_hdr ? IFF_VNET_HDR : 0) | (multi ? IFF_MULTI_QUEUE : 0);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        goto fail;
    return fd;
fail:
    e = errno;
    *out_reason = g_strdup_printf("%s: %s", path, g_strerror(e));
    close(fd);
    return -e;
}

/**
 * vb_netdev_macvtap_open:
 * @name: a macvtap device
 * @queues: how many fds (queues) to open on its /dev/tapN
 * @vnet_hdr: set IFF_VNET_HDR on each
 * @out_fds: (out caller-allocates) (array length=queues): the fds
 * @error: return location
 *
 * Opens /dev/tap<ifindex> of a macvtap @queues times, as libvirt does.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_macvtap_open(const char *name, guint queues, gboolean vnet_hdr, int *out_fds,
                       GError **error)
{
    VbNetdevLink l;
    g_autofree char *path = NULL;

    if (queues_check("cannot open macvtap device", name, queues, error) < 0)
        return FALSE;
    if (!vb_netdev_link_lookup(name, &l, error))
        return FALSE;
    if (!g_str_equal(l.kind, "macvtap")) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "network device '%s' is not a macvtap device", name);
        return FALSE;
    }
    path = g_strdup_printf("/dev/tap%d", l.ifindex);
    for (guint i = 0; i < queues; i++)
        out_fds[i] = -1;
    for (guint i = 0; i < queues; i++) {
        g_autofree char *reason = NULL;
        int fd = macvtap_open_one(path, vnet_hdr, queues > 1, &reason);

        if (fd < 0) {
            vb_netdev_close_fds(out_fds, queues);
            vb_netdev_set_error(error, -fd, reason, "cannot open macvtap device '%s'", name);
            return FALSE;
        }
        out_fds[i] = fd;
    }
    return TRUE;
}

/**
 * vb_netdev_macvtap_delete:
 * @name: a macvtap device
 * @error: return location
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_macvtap_delete(const char *name, GError **error)
{
    VbNetdevLink l;

    if (!vb_netdev_link_lookup(name, &l, error))
        return FALSE;
    if (!g_str_equal(l.kind, "macvtap")) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "cannot delete macvtap device '%s': it is a '%s' device", name,
                    l.kind[0] ? l.kind : "physical");
        return FALSE;
    }
    return vb_netdev_link_delete(name, error);
}

/**
 * vb_netdev_vhost_check:
 * @error: return location; %VB_ERROR_NOT_SUPPORTED when /dev/vhost-net is
 *   missing (kernel without vhost_net), or the open's reason
 *
 * Tells whether vhost-net can be used (for `<driver name='vhost'>` and the
 * default vhost=on of virtio-net).
 *
 * Returns: %TRUE when /dev/vhost-net opens.
 */
gboolean
vb_netdev_vhost_check(GError **error)
{
    int fd;

    return vb_netdev_vhost_open(1, &fd, error) ? (close(fd), TRUE) : FALSE;
}

/**
 * vb_netdev_vhost_open:
 * @count: how many fds (one per queue)
 * @out_fds: (out caller-allocates) (array length=count): the fds
 * @error: return location (see vb_netdev_vhost_check())
 *
 * Opens /dev/vhost-net @count times, for QEMU's `vhostfds=`.
 *
 * Returns: %TRUE on success.
 */
gboolean
vb_netdev_vhost_open(guint count, int *out_fds, GError **error)
{
    if (queues_check("cannot open", VHOST_PATH, count, error) < 0)
        return FALSE;
    for (guint i = 0; i < count; i++)
        out_fds[i] = -1;
    for (guint i = 0; i < count; i++) {
        out_fds[i] = open(VHOST_PATH, O_RDWR | O_CLOEXEC);
        if (out_fds[i] < 0) {
            int e = errno;

            vb_netdev_close_fds(out_fds, count);
            g_set_error(error, VB_ERROR, e == ENOENT ? VB_ERROR_NOT_SUPPORTED : VB_ERROR_FAILED,
                        "vhost-net is not usable: %s: %s%s", VHOST_PATH, g_strerror(e),
                        e == ENOENT ? " (the kernel has no vhost_net module loaded)" : "");
            return FALSE;
        }
    }
    return TRUE;
}
