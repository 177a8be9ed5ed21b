/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * passt's command line and SLIRP's hostfwd rules for <interface type='user'> (issue 12, part
 * portfwd): the helpers plan of a definition (vb_qemu_helpers_plan()) must give libvirt's
 * passt arguments (qemu_passt.c: --tcp-ports/--udp-ports specs, --address/--netmask,
 * --interface, --mtu, --log-file), and vb_qemu_user_net_hostfwd() one rule per port.
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "domain-def-priv.h"
#include "qemu-helpers.h"
#include "qemu-portfwd.h"
#include "vb-error.h"

static VbDomainDef *
parse_with(const char *interfaces)
{
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'><name>pf</name>"
        "<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
        "<memory unit='KiB'>219136</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
        "<devices>%s</devices></domain>", interfaces);
    g_autoptr(GError) error = NULL;
    VbDomainDef *def = vb_domain_def_parse_string(xml, 0, &error);

    g_assert_no_error(error);
    return def;
}

static GPtrArray *
plan(const VbDomainDef *def, GError **error)
{
    VbQemuHelperParams p = { .runtime_dir = "/run/rt", .swtpm_dir = "/var/swtpm",
                             .log_dir = "/var/log/q" };

    return vb_qemu_helpers_plan(def, &p, error);
}

/* the arguments after the binary, "-f --runas U:G" checked and dropped */
static char *
args_of(const VbQemuHelper *h)
{
    g_autofree char *runas = g_strdup_printf("%u:%u", (guint)geteuid(), (guint)getegid());
    g_autofree char *bin = g_find_program_in_path("passt");

    g_assert_cmpstr(h->argv[0], ==, bin);
    g_assert_cmpstr(h->argv[1], ==, "-f");
    g_assert_cmpstr(h->argv[2], ==, "--runas");
    g_assert_cmpstr(h->argv[3], ==, runas);
    return g_strjoinv(" ", h->argv + 4);
}

static void
test_passt_argv(void)
{
    g_autoptr(VbDomainDef) def = NULL;
    g_autoptr(GPtrArray) helpers = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *a0 = NULL;
    g_autofree char *a1 = NULL;
    g_autofree char *passt = g_find_program_in_path("passt");
    const VbQemuHelper *h;

    if (passt == NULL) {
        g_test_skip("passt is not installed");
        return;
    }
    def = parse_with(
        "<interface type='network'><source network='default'/>"
        "<mac address='52:54:00:00:00:01'/></interface>"
        "<interface type='user'><mac address='52:54:00:00:00:57'/>"
        "<source dev='eth0'/>"
        "<ip address='172.17.2.4' family='ipv4' prefix='24'/>"
        "<ip address='2001:db8:ac10:fd01::feed' family='ipv6'/>"
        "<portForward proto='tcp' address='2001:db8:ac10:fd01::1:10'>"
        "<range start='22' to='2022'/><range start='1000' end='1050'/>"
        "<range start='1020' exclude='yes'/><range start='1030' end='1040' exclude='yes'/>"
        "</portForward>"
        "<portForward proto='udp' address='1.2.3.4' dev='eth0'>"
        "<range start='5000' end='5020' to='6000'/><range start='5010' end='5015' "
        "exclude='no'/></portForward>"
        "<portForward proto='tcp'><range start='80'/></portForward>"
        "<portForward proto='udp'/>"
        "<model type='virtio'/><backend type='passt' logFile='/var/log/loglogloglog'/>"
        "<mtu size='1400'/></interface>"
        "<interface type='user'><mac address='52:54:00:00:00:58'/>"
        "<backend type='passt'/></interface>"
        "<interface type='user'><mac address='52:54:00:00:00:59'/>"
        "<portForward proto='tcp'><range start='2222' to='22'/></portForward></interface>");
    helpers = plan(def, &error);
    g_assert_no_error(error);
    /* one passt per passt interface; the SLIRP one has none */
    g_assert_cmpuint(helpers->len, ==, 2);
    h = g_ptr_array_index(helpers, 0);
    g_assert_cmpint(h->kind, ==, VB_QEMU_HELPER_PASST);
    g_assert_cmpstr(vb_qemu_helper_kind_to_string(h->kind), ==, "passt");
    g_assert_cmpstr(h->id, ==, "net1");
    g_assert_cmpstr(h->socket, ==, "/run/rt/net1-passt.sock");
    g_assert_cmpstr(h->log_path, ==, "/var/log/loglogloglog");
    a0 = args_of(h);
    g_assert_cmpstr(a0, ==,
                    "--one-off --socket /run/rt/net1-passt.sock --mtu 1400 --interface eth0 "
                    "--log-file /var/log/loglogloglog --address 172.17.2.4 --netmask 24 "
                    "--address 2001:db8:ac10:fd01::feed "
                    "--tcp-ports 2001:db8:ac10:fd01::1:10/22:2022,1000-1050,~1020,~1030-1040 "
                    "--udp-ports 1.2.3.4%eth0/5000-5020:6000-6020,5010-5015 "
                    "--tcp-ports 80 --udp-ports all");
    h = g_ptr_array_index(helpers, 1);
    g_assert_cmpstr(h->id, ==, "net2");
    g_assert_cmpstr(h->log_path, ==, "/var/log/q/pf-net2-passt.log");
    a1 = args_of(h);
    g_assert_cmpstr(a1, ==, "--one-off --socket /run/rt/net2-passt.sock "
                            "--log-file /var/log/q/pf-net2-passt.log");
}

static void
test_hostfwd(void)
{
    g_autoptr(VbDomainDef) def = parse_with(
        "<interface type='user'><mac address='52:54:00:00:00:59'/>"
        "<portForward proto='tcp'><range start='2222' to='22'/>"
        "<range start='8000' end='8002'/></portForward>"
        "<portForward proto='udp' address='10.1.2.3'><range start='53' end='54' to='5353'/>"
        "</portForward></interface>");
    VbDeviceDef *dev = NULL;
    g_autoptr(VbQemuUserNet) u = NULL;
    g_autofree char *why = NULL;
    g_auto(GStrv) rules = NULL;
    g_autofree char *all = NULL;
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len && dev == NULL; i++) {
        if (((VbDeviceDef *)g_ptr_array_index(devs, i))->kind == VB_DEV_INTERFACE)
            dev = g_ptr_array_index(devs, i);
    }
    g_assert_nonnull(dev);
    u = vb_qemu_user_net_read(dev, &why);
    g_assert_null(why);
    g_assert_nonnull(u);
    g_assert_false(u->passt);
    rules = vb_qemu_user_net_hostfwd(u, &why);
    g_assert_null(why);
    all = g_strjoinv(" ", rules);
    g_assert_cmpstr(all, ==, "tcp::2222-:22 tcp::8000-:8000 tcp::8001-:8001 tcp::8002-:8002 "
                             "udp:10.1.2.3:53-:5353 udp:10.1.2.3:54-:5354");
}

static void
test_passt_errors(void)
{
    g_autoptr(VbDomainDef) def = parse_with(
        "<interface type='user'><mac address='52:54:00:00:00:58'/>"
        "<portForward proto='tcp' dev='eth0'><range start='22'/></portForward>"
        "<backend type='passt'/></interface>");
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) helpers = plan(def, &error);

    g_assert_null(helpers);
    g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
    g_assert_nonnull(strstr(error->message, "<interface> devices/interface[1]: "
                                            "<portForward dev='eth0'> needs address= with "
                                            "passt"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/portfwd/passt-argv", test_passt_argv);
    g_test_add_func("/portfwd/hostfwd", test_hostfwd);
    g_test_add_func("/portfwd/passt-errors", test_passt_errors);
    return g_test_run();
}
