/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Multicast lists and receive flags of a device (issue 13, part netupd), as libvirt's
 * virNetDevAddMulti/DelMulti, virNetDevGetMcastList, virNetDevSetPromiscuous,
 * virNetDevSetRcvMulti/AllMulti: ioctls on an AF_INET datagram socket of the calling
 * thread's namespace, and /proc/net/dev_mcast (per namespace).
 */
#include "config.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netdev-link.h"
#include "netdev-mcast.h"
#include "vb-error.h"

static gboolean
ifreq_init(struct ifreq *ifr, const char *ifname, GError **error)
{
    if (!vb_netdev_name_check(ifname, error))
        return FALSE;
    memset(ifr, 0, sizeof(*ifr));
    g_strlcpy(ifr->ifr_name, ifname, sizeof(ifr->ifr_name));
    return TRUE;
}

/* one ioctl on a fresh socket; FALSE with @error naming @what */
static gboolean
dev_ioctl(unsigned long req, struct ifreq *ifr, const char *what, GError **error)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int saved;

    if (fd < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "cannot open a socket for %s: %s", what,
                    g_strerror(errno));
        return FALSE;
    }
    if (ioctl(fd, req, ifr) < 0) {
        saved = errno;
        close(fd);
        g_set_error(error, VB_ERROR, saved == ENODEV ? VB_ERROR_INVALID_ARG : VB_ERROR_FAILED,
                    "cannot %s of network device '%s': %s", what, ifr->ifr_name,
                    g_strerror(saved));
        return FALSE;
    }
    close(fd);
    return TRUE;
}

/**
 * vb_netdev_mcast_list:
 * @ifname: the device
 *
 * The multicast MACs added to @ifname from user space (the "global" entries of
 * /proc/net/dev_mcast; the kernel's own, such as an IPv6 all-nodes address, are left
 * out), as libvirt reads a macvtap's table.
 *
 * Returns: (transfer full) (element-type utf8): "01:00:5e:..." strings, or %NULL with @error
 */
GPtrArray *
vb_netdev_mcast_list(const char *ifname, GError **error)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GPtrArray *out;

    if (!vb_netdev_name_check(ifname, error))
        return NULL;
    if (!g_file_get_contents("/proc/net/dev_mcast", &text, NULL, error)) {
        vb_error_convert(error);
        return NULL;
    }
    out = g_ptr_array_new_with_free_func(g_free);
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) f = g_strsplit_set(g_strstrip(lines[i]), " \t", -1);
        g_autoptr(GPtrArray) tok = g_ptr_array_new();
        const char *hex;
        GString *mac;

        for (guint k = 0; f[k] != NULL; k++) {
            if (*f[k] != '\0')
                g_ptr_array_add(tok, f[k]);
        }
        /* index name users global address */
        if (tok->len < 5 || strcmp(g_ptr_array_index(tok, 1), ifname) != 0 ||
            strcmp(g_ptr_array_index(tok, 3), "0") == 0)
            continue;
        hex = g_ptr_array_index(tok, 4);
        if (strlen(hex) != 12)
            continue;
        mac = g_string_new(NULL);
        for (guint k = 0; k < 12; k += 2)
            g_string_append_printf(mac, "%s%c%c", k > 0 ? ":" : "", g_ascii_tolower(hex[k]),
                                   g_ascii_tolower(hex[k + 1]));
        g_ptr_array_add(out, g_string_free(mac, FALSE));
    }
    return out;
}

static gboolean
mcast_change(const char *ifname, const char *mac, gboolean add, GError **error)
{
    struct ifreq ifr;
    guint8 bytes[VB_NETDEV_MAC_LEN];

    if (!ifreq_init(&ifr, ifname, error))
        return FALSE;
    if (!vb_netdev_mac_parse(mac, bytes)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "'%s' is not a MAC address", mac);
        return FALSE;
    }
    ifr.ifr_hwaddr.sa_family = AF_UNSPEC;
    memcpy(ifr.ifr_hwaddr.sa_data, bytes, VB_NETDEV_MAC_LEN);
    return dev_ioctl(add ? SIOCADDMULTI : SIOCDELMULTI, &ifr,
                     add ? "add a multicast address" : "delete a multicast address", error);
}

/**
 * vb_netdev_mcast_add:
 * @mac: "01:00:5e:01:02:03"
 *
 * Adds a multicast MAC to @ifname's filter (SIOCADDMULTI), as libvirt's virNetDevAddMulti.
 */
gboolean
vb_netdev_mcast_add(const char *ifname, const char *mac, GError **error)
{
    return mcast_change(ifname, mac, TRUE, error);
}

/**
 * vb_netdev_mcast_del:
 *
 * Deletes a multicast MAC added with vb_netdev_mcast_add() (SIOCDELMULTI).
 */
gboolean
vb_netdev_mcast_del(const char *ifname, const char *mac, GError **error)
{
    return mcast_change(ifname, mac, FALSE, error);
}

/**
 * vb_netdev_link_get_flags:
 * @out_flags: (out): IFF_* of @ifname (SIOCGIFFLAGS)
 */
gboolean
vb_netdev_link_get_flags(const char *ifname, guint *out_flags, GError **error)
{
    struct ifreq ifr;

    if (!ifreq_init(&ifr, ifname, error) ||
        !dev_ioctl(SIOCGIFFLAGS, &ifr, "read the flags", error))
        return FALSE;
    *out_flags = (guint)(unsigned short)ifr.ifr_flags;
    return TRUE;
}

/**
 * vb_netdev_link_set_flag:
 * @flag: IFF_PROMISC, IFF_MULTICAST or IFF_ALLMULTI
 *
 * Sets or clears one flag of @ifname (SIOCGIFFLAGS, SIOCSIFFLAGS), as libvirt's
 * virNetDevSetIFFlag; a flag already as asked is left alone.
 */
gboolean
vb_netdev_link_set_flag(const char *ifname, guint flag, gboolean on, GError **error)
{
    struct ifreq ifr;
    guint flags;

    if (!ifreq_init(&ifr, ifname, error) ||
        !dev_ioctl(SIOCGIFFLAGS, &ifr, "read the flags", error))
        return FALSE;
    flags = (guint)(unsigned short)ifr.ifr_flags;
    if (((flags & flag) != 0) == (on != FALSE))
        return TRUE;
    ifr.ifr_flags = (short)(on ? (flags | flag) : (flags & ~flag));
    return dev_ioctl(SIOCSIFFLAGS, &ifr, "set the flags", error);
}
