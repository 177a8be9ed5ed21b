/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <sys/socket.h>

#include "domain-agent.h"
#include "domain-def-guest.h"
#include "netdev-ip.h"
#include "test-domain-fixture.h"
#include "vb-error.h"

/*
 * InterfaceAddresses without QEMU (issue 12, part addresses): the interfaces a definition
 * has, where its guest agent channel's socket is, the ARP source's matching, and the agent
 * job's rules (one at a time, beside the sync job).
 */

static VbDomainDef *
parse(const char *devices)
{
    return vb_test_domain_def("ifvm", "3d0c6c1e-7a55-4b1e-9a53-7c9bd1a0c0f2", devices);
}

static void
test_ifaces(void)
{
    g_autoptr(VbDomainDef) def = parse(
        "<interface type='network'><mac address='52:54:00:AA:00:01'/>"
        "<source network='default'/><target dev='vnet3'/><model type='virtio'/></interface>"
        "<interface type='bridge'><source bridge='br0'/><model type='e1000e'/></interface>"
        "<interface type='user'><mac address='52:54:00:aa:00:03'/></interface>");
    g_autoptr(GPtrArray) ifaces = vb_domain_def_get_ifaces(def);
    const VbDomainIface *i;

    g_assert_cmpuint(ifaces->len, ==, 3);
    i = g_ptr_array_index(ifaces, 0);
    g_assert_cmpstr(i->type, ==, "network");
    g_assert_cmpstr(i->mac, ==, "52:54:00:aa:00:01");
    g_assert_cmpstr(i->source, ==, "default");
    g_assert_cmpstr(i->target_dev, ==, "vnet3");
    g_assert_cmpstr(i->model, ==, "virtio");
    i = g_ptr_array_index(ifaces, 1);
    g_assert_cmpstr(i->source, ==, "br0");
    g_assert_null(i->target_dev);
    g_assert_cmpstr(i->model, ==, "e1000e");
    i = g_ptr_array_index(ifaces, 2);
    g_assert_cmpstr(i->type, ==, "user");
    g_assert_null(i->source);
}

static void
check_agent(const char *devices, const char *runtime_dir, const char *want, const char *err)
{
    g_autoptr(VbDomainDef) def = parse(devices);
    g_autoptr(GError) error = NULL;
    g_autofree char *path = vb_domain_def_find_agent_socket(def, runtime_dir, &error);

    if (want != NULL) {
        g_assert_no_error(error);
        g_assert_cmpstr(path, ==, want);
    } else {
        g_assert_null(path);
        g_assert_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED);
        g_assert_nonnull(strstr(error->message, "QEMU guest agent is not configured"));
        g_assert_nonnull(strstr(error->message, err));
    }
}

static void
test_agent_socket(void)
{
    const char *ctl = "<controller type='virtio-serial' index='0'/>";
    g_autofree char *bind = g_strconcat(ctl, "<channel type='unix'><source mode='bind' "
                                        "path='/run/x/qga.sock'/><target type='virtio' "
                                        "name='org.qemu.guest_agent.0'/></channel>", NULL);
    g_autofree char *gen = g_strconcat(ctl, "<channel type='unix'><target type='virtio' "
                                       "name='org.qemu.guest_agent.0'/></channel>", NULL);
    g_autofree char *conn = g_strconcat(ctl, "<channel type='unix'><source mode='connect' "
                                        "path='/tmp/c.sock'/><target type='virtio' "
                                        "name='org.qemu.guest_agent.0'/></channel>", NULL);
    g_autofree char *pty = g_strconcat(ctl, "<channel type='pty'><target type='virtio' "
                                       "name='org.qemu.guest_agent.0'/></channel>", NULL);
    g_autofree char *other = g_strconcat(ctl, "<channel type='unix'><target type='virtio' "
                                         "name='org.example.other'/></channel>", NULL);

    check_agent(bind, "/run/dom", "/run/x/qga.sock", NULL);
    /* no <source path>: the start made it in the runtime directory */
    check_agent(gen, "/run/dom", "/run/dom/org.qemu.guest_agent.0", NULL);
    check_agent(conn, "/run/dom", NULL, "mode='connect'");
    check_agent(pty, "/run/dom", NULL, "type 'pty'");
    check_agent(other, "/run/dom", NULL, "add <channel");
    check_agent("", "/run/dom", NULL, "add <channel");
}

static void
add_neigh(GArray *a, int family, const char *ip, const char *mac)
{
    VbNetdevNeigh n = { .family = family };

    g_strlcpy(n.ip, ip, sizeof(n.ip));
    g_strlcpy(n.mac, mac, sizeof(n.mac));
    g_strlcpy(n.ifname, "br0", sizeof(n.ifname));
    g_array_append_val(a, n);
}

static void
test_arp_match(void)
{
    g_autoptr(VbDomainDef) def = parse(
        "<interface type='bridge'><mac address='52:54:00:aa:00:01'/><source bridge='br0'/>"
        "<target dev='vnet0'/></interface>"
        "<interface type='bridge'><mac address='52:54:00:aa:00:02'/><source bridge='br0'/>"
        "</interface>");
    g_autoptr(GPtrArray) ifaces = vb_domain_def_get_ifaces(def);
    g_autoptr(GArray) neigh = g_array_new(FALSE, TRUE, sizeof(VbNetdevNeigh));
    g_autoptr(GPtrArray) out = NULL;
    const VbGuestInterface *gi;
    const VbGuestIPAddress *a;

    add_neigh(neigh, AF_INET, "192.168.5.10", "52:54:00:AA:00:01");
    add_neigh(neigh, AF_INET, "192.168.5.11", "52:54:00:aa:00:01");
    add_neigh(neigh, AF_INET6, "fe80::5054:ff:feaa:1", "52:54:00:aa:00:01");
    add_neigh(neigh, AF_INET, "192.168.5.1", "52:54:00:ff:ff:ff");
    out = vb_domain_ifaddr_match_neighbours(ifaces, neigh);
    /* one entry per IPv4 neighbour with the interface's MAC, as libvirt */
    g_assert_cmpuint(out->len, ==, 2);
    gi = g_ptr_array_index(out, 0);
    g_assert_cmpstr(gi->name, ==, "vnet0");
    g_assert_cmpstr(gi->hwaddr, ==, "52:54:00:aa:00:01");
    g_assert_cmpuint(gi->addrs->len, ==, 1);
    a = &g_array_index(gi->addrs, VbGuestIPAddress, 0);
    g_assert_cmpstr(a->addr, ==, "192.168.5.10");
    g_assert_cmpuint(a->type, ==, 0);
    g_assert_cmpuint(a->prefix, ==, 0);
    gi = g_ptr_array_index(out, 1);
    g_assert_cmpstr(g_array_index(gi->addrs, VbGuestIPAddress, 0).addr, ==, "192.168.5.11");
}

typedef struct {
    VbDomainObj *dom;
    gboolean ok;
    GError *error;
    gint64 elapsed;
} AgentWaiter;

static gpointer
agent_waiter(gpointer data)
{
    AgentWaiter *w = data;
    gint64 t0 = g_get_monotonic_time();

    w->ok = vb_domain_agent_job_begin(w->dom, "Second", ":1.8", 1, &w->error);
    w->elapsed = g_get_monotonic_time() - t0;
    if (w->ok)
        vb_domain_agent_job_end(w->dom);
    return NULL;
}

static void
test_agent_job(void)
{
    g_autoptr(VbDomainObj) dom = vb_domain_obj_new(parse(""), "/test/ifvm");
    g_autoptr(GError) error = NULL;
    AgentWaiter w = { dom };
    GThread *t;

    g_assert_true(vb_domain_agent_job_begin(dom, "InterfaceAddresses", ":1.7", 1, &error));
    /* the sync job is not held up by the agent */
    g_assert_true(vb_domain_job_begin(dom, VB_JOB_SUSPEND, "Suspend", ":1.5", 1, 0, &error));
    vb_domain_job_end(dom);
    /* a second agent job waits, then gives up naming the holder */
    t = g_thread_new("agent-waiter", agent_waiter, &w);
    g_thread_join(t);
    g_assert_false(w.ok);
    g_assert_error(w.error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT);
    g_assert_nonnull(strstr(w.error->message, "held by InterfaceAddresses from :1.7"));
    g_assert_cmpint(w.elapsed, >=, 900 * 1000);
    g_clear_error(&w.error);
    /* ... and gets it as soon as the first ends */
    t = g_thread_new("agent-waiter", agent_waiter, &w);
    g_usleep(100 * 1000);
    vb_domain_agent_job_end(dom);
    g_thread_join(t);
    g_assert_true(w.ok);
    g_assert_cmpint(w.elapsed, <, 900 * 1000);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/domain/ifaddr/interfaces-of-a-definition", test_ifaces);
    g_test_add_func("/domain/ifaddr/agent-socket-or-not-configured", test_agent_socket);
    g_test_add_func("/domain/ifaddr/arp-matches-ipv4-neighbours-by-mac", test_arp_match);
    g_test_add_func("/domain/ifaddr/agent-job-beside-the-sync-job", test_agent_job);
    return g_test_run();
}
