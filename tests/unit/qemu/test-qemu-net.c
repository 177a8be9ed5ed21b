/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host side of <interface> (service/qemu/qemu-net-prepare.c) against the real kernel,
 * and what QEMU inherits (vb_qemu_process_spawn_fds()). The program moves itself into a
 * fresh network namespace first (unshare(CLONE_NEWNET)), so every bridge, tap and macvtap
 * it makes dies with it. Needs root (as the rest of the suite).
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "domain-def.h"
#include "netdev-link.h"
#include "netdev-tap.h"
#include "qemu-net.h"
#include "qemu-process.h"
#include "vb-error.h"

static VbDomainDef *
def_with(const char *interfaces)
{
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>vm</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
        "<memory>65536</memory><os><type arch='x86_64' machine='pc'>hvm</type></os>"
        "<devices>%s</devices></domain>", interfaces);
    g_autoptr(GError) error = NULL;
    VbDomainDef *def = vb_domain_def_parse_string(xml, 0, &error);

    g_assert_no_error(error);
    return def;
}

static VbNetdevLink
link_of(const char *name)
{
    VbNetdevLink l;
    g_autoptr(GError) error = NULL;

    g_assert_true(vb_netdev_link_lookup(name, &l, &error));
    g_assert_no_error(error);
    return l;
}

static gboolean
resolve(const char *network, VbQemuNetPort *out, gpointer data, GError **error)
{
    if (strcmp(network, "default") != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_NETWORK, "network '%s' is not active",
                    network);
        return FALSE;
    }
    out->bridge = g_strdup(data);
    out->mtu = 1400;
    return TRUE;
}

static void
test_bridge_and_network(void)
{
    g_autoptr(GError) error = NULL;
    VbNetdevBridgeOptions opts = { 0 };
    g_autoptr(VbDomainDef) def = def_with(
        "<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='tbr0'/>"
        "<model type='virtio'/><driver queues='2'/></interface>"
        "<interface type='network'><mac address='52:54:00:00:00:02'/>"
        "<source network='default'/><model type='e1000'/></interface>"
        "<interface type='network'><mac address='52:54:00:00:00:03'/>"
        "<source network='other'/></interface>");
    VbQemuNetPrep *p0, *p1, *p2;
    VbNetdevLink l;
    g_autofree char *mac = NULL;

    g_assert_true(vb_netdev_bridge_create("tbr0", &opts, &error));
    g_assert_cmpuint(vb_qemu_net_count(def), ==, 3);
    p0 = vb_qemu_net_prepare_one(def, 0, resolve, (gpointer) "tbr0", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(p0->ifname, ==, "vnet0");
    g_assert_cmpstr(p0->alias, ==, "net0");
    g_assert_cmpuint(p0->tapfds->len, ==, 2);
    g_assert_true(p0->managed);
    l = link_of("vnet0");
    g_assert_cmpstr(l.master_name, ==, "tbr0");
    g_assert_true(l.up);
    mac = vb_netdev_mac_format(l.mac);
    g_assert_cmpstr(mac, ==, "fe:54:00:00:00:01");
    p1 = vb_qemu_net_prepare_one(def, 1, resolve, (gpointer) "tbr0", &error);
    g_assert_no_error(error);
    g_assert_cmpstr(p1->ifname, ==, "vnet1");
    g_assert_cmpstr(p1->bridge, ==, "tbr0");
    g_assert_cmpuint(p1->mtu, ==, 1400);
    g_assert_cmpuint(link_of("vnet1").mtu, ==, 1400);
    /* the resolver's error, named by interface */
    p2 = vb_qemu_net_prepare_one(def, 2, resolve, (gpointer) "tbr0", &error);
    g_assert_null(p2);
    g_assert_error(error, VB_ERROR, VB_ERROR_NO_NETWORK);
    g_assert_nonnull(strstr(error->message, "net2"));
    g_clear_error(&error);
    /* fds at 3.. in interface order */
    {
        g_autoptr(GPtrArray) preps = g_ptr_array_new();
        g_autoptr(GArray) src = g_array_new(FALSE, FALSE, sizeof(int));
        g_autoptr(GArray) dst = g_array_new(FALSE, FALSE, sizeof(int));

        g_ptr_array_add(preps, p0);
        g_ptr_array_add(preps, p1);
        vb_qemu_net_fd_map(preps, src, dst);
        g_assert_cmpuint(dst->len, ==, 3);
        g_assert_cmpint(g_array_index(dst, int, 0), ==, 3);
        g_assert_cmpint(g_array_index(dst, int, 2), ==, 5);
        g_assert_cmpint(g_array_index(src, int, 2), ==, g_array_index(p1->tapfds, int, 0));
    }
    /* a tap goes with its last fd */
    vb_qemu_net_release(p0);
    vb_qemu_net_prep_free(p0);
    vb_qemu_net_prep_free(p1);
    g_assert_false(vb_netdev_link_exists("vnet0"));
    g_assert_false(vb_netdev_link_exists("vnet1"));
    g_assert_true(vb_netdev_bridge_delete("tbr0", &error));
}

static void
test_failures_leave_nothing(void)
{
    g_autoptr(GError) error = NULL;
    VbNetdevBridgeOptions opts = { 0 };
    g_autoptr(VbDomainDef) def = def_with(
        "<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='nobr'/>"
        "</interface>"
        "<interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='tbr1'/>"
        "<bandwidth><outbound average='100'/></bandwidth><target dev='mytap'/></interface>"
        "<interface type='bridge'><mac address='52:54:00:00:00:03'/><source bridge='tbr1'/>"
        "<model type='virtio'/><driver name='vhost'/></interface>");

    g_assert_true(vb_netdev_bridge_create("tbr1", &opts, &error));
    g_assert_null(vb_qemu_net_prepare_one(def, 0, NULL, NULL, &error));
    g_assert_error(error, VB_ERROR, VB_ERROR_INVALID_ARG);
    g_assert_nonnull(strstr(error->message, "'nobr'"));
    g_clear_error(&error);
    /* act_police may be missing: then refused, and the tap is gone */
    {
        VbQemuNetPrep *p = vb_qemu_net_prepare_one(def, 1, NULL, NULL, &error);

        if (p == NULL) {
            g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
            g_assert_false(vb_netdev_link_exists("mytap"));
            g_clear_error(&error);
        } else {
            g_assert_cmpstr(p->ifname, ==, "mytap");
            vb_qemu_net_release(p);
            vb_qemu_net_prep_free(p);
            g_assert_false(vb_netdev_link_exists("mytap"));
        }
    }
    if (!g_file_test("/dev/vhost-net", G_FILE_TEST_EXISTS)) {
        g_assert_null(vb_qemu_net_prepare_one(def, 2, NULL, NULL, &error));
        g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
        g_assert_nonnull(strstr(error->message, "vhost"));
        g_clear_error(&error);
        g_assert_false(vb_netdev_link_exists("vnet0"));
    }
    g_assert_true(vb_netdev_bridge_delete("tbr1", &error));
}

static void
test_ethernet_and_direct(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDomainDef) def = def_with(
        "<interface type='ethernet'><mac address='52:54:00:00:00:01'/>"
        "<target dev='admtap' managed='no'/><model type='virtio'/></interface>"
        "<interface type='direct'><mac address='52:54:00:00:00:02'/>"
        "<source dev='tveth0' mode='bridge'/><target dev='macvtap7'/></interface>"
        "<interface type='ethernet'><mac address='52:54:00:00:00:03'/>"
        "<target dev='vnet9'/><mtu size='1300'/></interface>");
    int fd = -1;
    VbQemuNetPrep *p;

    /* an administrator's persistent tap */
    g_assert_true(vb_netdev_tap_create("admtap", 1, VB_NETDEV_TAP_PERSIST, NULL, &fd, &error));
    close(fd);
    p = vb_qemu_net_prepare_one(def, 0, NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(p->ifname, ==, "admtap");
    g_assert_false(p->managed);
    g_assert_cmpuint(p->tapfds->len, ==, 1);
    vb_qemu_net_release(p);
    vb_qemu_net_prep_free(p);
    g_assert_true(vb_netdev_link_exists("admtap"));
    g_assert_true(vb_netdev_tap_delete("admtap", &error));

    /* a macvtap on a veth: the generated name given is generated again */
    g_assert_true(vb_netdev_veth_create("tveth0", "tveth1", &error));
    p = vb_qemu_net_prepare_one(def, 1, NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(p->kind, ==, "macvtap");
    g_assert_true(g_str_has_prefix(p->ifname, "macvtap"));
    g_assert_cmpstr(link_of(p->ifname).kind, ==, "macvtap");
    g_assert_cmpuint(p->tapfds->len, ==, 1);
    vb_qemu_net_release(p);
    g_assert_false(vb_netdev_link_exists(p->ifname));
    vb_qemu_net_prep_free(p);

    /* vnet9 is a generated name: the tap is vnetN, first free; on no bridge, up, MTU */
    p = vb_qemu_net_prepare_one(def, 2, NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_true(g_str_has_prefix(p->ifname, "vnet"));
    g_assert_cmpuint(link_of(p->ifname).mtu, ==, 1300);
    g_assert_cmpint(link_of(p->ifname).master, ==, 0);
    g_assert_true(link_of(p->ifname).up);
    vb_qemu_net_prep_free(p);
    g_assert_true(vb_netdev_link_delete("tveth0", &error));
}

/* QEMU gets the fds it is given at their numbers, and no other */
static void
test_spawn_fds(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("vbt-net-XXXXXX", &error);
    g_autofree char *log = g_build_filename(dir, "log", NULL);
    const char *argv[] = { "/bin/sh", "-c",
                           "echo via5 >&5; ls /proc/$$/fd",
                           NULL };
    int pipefd[2];
    int stray = open("/dev/null", O_RDONLY); /* not O_CLOEXEC: must not reach the child */
    int logfd = open(log, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    int target = 5;
    g_autoptr(VbQemuProcess) proc = NULL;
    g_autofree char *out = NULL;
    char buf[16] = { 0 };

    g_assert_cmpint(pipe2(pipefd, O_CLOEXEC), ==, 0);
    proc = vb_qemu_process_spawn_fds(argv, dir, logfd, &pipefd[1], &target, 1, NULL, NULL,
                                     NULL, &error);
    g_assert_no_error(error);
    close(pipefd[1]);
    g_assert_true(vb_qemu_process_wait(proc, 10000));
    g_assert_cmpint(read(pipefd[0], buf, sizeof(buf) - 1), ==, 5);
    g_assert_cmpstr(buf, ==, "via5\n");
    g_assert_true(g_file_get_contents(log, &out, NULL, NULL));
    g_assert_cmpstr(out, ==, "0\n1\n2\n5\n"); /* the shell's fds, listed by ls */
    close(pipefd[0]);
    close(stray);
    close(logfd);
    g_unlink(log);
    g_rmdir(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (unshare(CLONE_NEWNET) < 0)
        g_error("unshare(CLONE_NEWNET): %s (needs root)", g_strerror(errno));
    g_test_add_func("/qemu-net/bridge-and-network", test_bridge_and_network);
    g_test_add_func("/qemu-net/failures-leave-nothing", test_failures_leave_nothing);
    g_test_add_func("/qemu-net/ethernet-and-direct", test_ethernet_and_direct);
    g_test_add_func("/qemu-net/spawn-fds", test_spawn_fds);
    return g_test_run();
}
