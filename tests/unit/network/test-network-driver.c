/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The network driver's mapping of a network definition to dnsmasq's
 * configuration: libvirt network XML for the inputs of the dnsmasq goldens
 * (tests/data/dnsmasq/, libvirt 9.0's networkxml2confdata shapes) gives the
 * same files; lease units, DNS switches, isolation; dnsmasq file names of
 * network names that are not file names. No host changes (the driver's
 * start and stop are tested in tests/integration/test_network_driver.py).
 */
#include "config.h"

#include <string.h>

#include "network-driver.h"
#include "vb-error.h"

#define STATE "/var/lib/virtbus/network/dnsmasq"

typedef struct {
    const char *golden;
    const char *xml;
} Case;

static const Case cases[] = {
    {"nat", "<network><name>default</name><forward/><bridge name='virbr0'/>"
            "<ip address='192.168.122.1' netmask='255.255.255.0'><dhcp>"
            "<range start='192.168.122.2' end='192.168.122.254'/>"
            "<host mac='00:16:3e:77:e2:ed' name='a.example.com' ip='192.168.122.10'/>"
            "<host mac='00:16:3e:3e:a9:1a' name='b.example.com' ip='192.168.122.11'/>"
            "</dhcp></ip>"
            "<ip address='192.168.123.1' netmask='255.255.255.0'/>"
            "<ip family='ipv6' address='2001:db8:ac10:fe01::1' prefix='64'/>"
            "<ip family='ipv6' address='2001:db8:ac10:fd01::1' prefix='64'/>"
            "<ip family='ipv4' address='10.24.10.1'/></network>"},
    {"isolated-mtu", "<network><name>private</name><bridge name='virbr2'/><mtu size='9000'/>"
                     "<ip address='192.168.152.1' netmask='255.255.255.0'><dhcp>"
                     "<range start='192.168.152.2' end='192.168.152.254'/></dhcp></ip>"
                     "</network>"},
    {"forwarders", "<network><name>default</name><forward/><bridge name='virbr0'/>"
                   "<domain name='example.com' localOnly='yes'/><dns>"
                   "<forwarder addr='8.8.8.8'/><forwarder addr='8.8.4.4'/>"
                   "<forwarder domain='example.com' addr='192.168.1.1'/>"
                   "<forwarder domain='www.example.com'/></dns>"
                   "<ip address='192.168.122.1' netmask='255.255.255.0'/></network>"},
    {"dhcp6-hosts", "<network><name>local</name><forward mode='route' dev='eth1'/>"
                    "<bridge name='virbr1'/>"
                    "<ip address='192.168.122.1' netmask='255.255.255.0'><dhcp>"
                    "<host mac='00:16:3e:77:e2:ed' name='a.example.com' ip='192.168.122.10'/>"
                    "<host mac='00:16:3e:3e:a9:1a' name='b.example.com' ip='192.168.122.11'/>"
                    "</dhcp></ip>"
                    "<ip family='ipv6' address='2001:db8:ac10:fd01::1' prefix='64'><dhcp>"
                    "<host id='0:4:7e:7d:f0:7d:a8:bc:c5:d2:13:32:11:ed:16:ea:84:63' "
                    "ip='2001:db8:ac10:fd01::1:20'/>"
                    "<host name='paul' ip='2001:db8:ac10:fd01::1:21'/>"
                    "<host id='0:3:0:1:0:16:3e:11:22:33' name='peter.xyz' "
                    "ip='2001:db8:ac10:fd01::1:22'/>"
                    "<host id='0:3:0:1:0:16:3e:44:55:33' ip='2001:db8:ac10:fd01::1:23'/>"
                    "<host id='0:1:0:1:18:aa:62:fe:0:16:3e:44:55:66' name='badbob' "
                    "ip='2001:db8:ac10:fd01::1:24'/>"
                    "</dhcp></ip></network>"},
};

static void
check_file(const char *name, const char *suffix, const char *text)
{
    g_autofree char *base = g_strdup_printf("%s.%s", name, suffix);
    g_autofree char *path = g_build_filename(g_getenv("VB_TEST_DATA"), "dnsmasq", base, NULL);
    g_autofree char *want = NULL;

    g_assert_true(g_file_get_contents(path, &want, NULL, NULL));
    g_assert_cmpstr(text, ==, want);
}

static VbDnsmasqFiles *
generate(const char *xml)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbNetworkDef) def = vb_network_def_parse_string(xml, &error);
    g_autoptr(VbDnsmasqConfig) cfg = NULL;
    VbDnsmasqFiles *files;

    g_assert_no_error(error);
    if (def->bridge == NULL)
        vb_network_def_set_bridge(def, "virbr0");
    cfg = vb_network_dnsmasq_config(def);
    g_assert_true(vb_dnsmasq_config_needed(cfg));
    files = vb_dnsmasq_config_generate(cfg, STATE, &error);
    g_assert_no_error(error);
    return files;
}

static void
test_golden(gconstpointer data)
{
    const Case *c = data;
    g_autoptr(VbDnsmasqFiles) files = generate(c->xml);

    check_file(c->golden, "conf", files->conf);
    check_file(c->golden, "hostsfile", files->hostsfile);
    check_file(c->golden, "addnhosts", files->addnhosts);
}

/* libvirt's default network, as the first start defines it */
static void
test_default_network(void)
{
    g_autofree char *xml = vb_network_default_xml(NULL);
    g_autoptr(VbDnsmasqFiles) files = generate(xml);

    check_file("default", "conf", files->conf);
    check_file("default", "hostsfile", files->hostsfile);
}

static VbDnsmasqConfig *
map(const char *xml)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbNetworkDef) def = vb_network_def_parse_string(xml, &error);

    g_assert_no_error(error);
    vb_network_def_set_bridge(def, "vbr9");
    return vb_network_dnsmasq_config(def);
}

static void
test_fields(void)
{
    g_autoptr(VbDnsmasqConfig) a = map(
        "<network><name>n</name><forward mode='nat'/>"
        "<dns enable='yes' forwardPlainNames='no'>"
        "<host ip='10.9.0.5'><hostname>www</hostname><hostname>web</hostname></host></dns>"
        "<ip address='10.9.0.1' prefix='24'><dhcp>"
        "<range start='10.9.0.10' end='10.9.0.20'><lease expiry='2' unit='hours'/></range>"
        "<range start='10.9.0.30' end='10.9.0.40'><lease expiry='0'/></range>"
        "<host mac='52:54:00:00:00:01' ip='10.9.0.2'><lease expiry='300' unit='seconds'/></host>"
        "<host mac='52:54:00:00:00:02' ip='10.9.0.3'/>"
        "</dhcp></ip></network>");
    g_autoptr(VbDnsmasqConfig) b = map(
        "<network><name>iso</name><dns enable='no'/><ip address='10.8.0.1' prefix='24'/>"
        "</network>");
    VbDnsmasqSubnet *s;
    VbDnsmasqRange *r;
    VbDnsmasqDhcpHost *h;
    VbDnsmasqDnsHost *dh;

    g_assert_cmpstr(a->network, ==, "n");
    g_assert_cmpstr(a->bridge, ==, "vbr9");
    g_assert_false(a->isolated);
    g_assert_cmpint(a->dns_enable, ==, VB_DNSMASQ_YES);
    g_assert_cmpint(a->forward_plain_names, ==, VB_DNSMASQ_NO);
    g_assert_cmpuint(a->dns_hosts->len, ==, 1);
    dh = a->dns_hosts->pdata[0];
    g_assert_cmpstr(dh->ip, ==, "10.9.0.5");
    g_assert_cmpuint(g_strv_length(dh->names), ==, 2);
    g_assert_cmpuint(a->subnets->len, ==, 1);
    s = a->subnets->pdata[0];
    g_assert_cmpstr(s->address, ==, "10.9.0.1");
    g_assert_cmpuint(s->prefix, ==, 24);
    g_assert_cmpuint(s->ranges->len, ==, 2);
    r = s->ranges->pdata[0];
    g_assert_cmpint(r->lease.unit, ==, VB_DNSMASQ_LEASE_HOURS);
    g_assert_cmpuint(r->lease.expiry, ==, 2);
    r = s->ranges->pdata[1];
    g_assert_cmpint(r->lease.unit, ==, VB_DNSMASQ_LEASE_MINUTES); /* libvirt's default unit */
    g_assert_cmpuint(r->lease.expiry, ==, 0);                      /* infinite */
    h = s->hosts->pdata[0];
    g_assert_cmpint(h->lease.unit, ==, VB_DNSMASQ_LEASE_SECONDS);
    g_assert_cmpuint(h->lease.expiry, ==, 300);
    h = s->hosts->pdata[1];
    g_assert_cmpint(h->lease.unit, ==, VB_DNSMASQ_LEASE_DEFAULT);
    g_assert_true(vb_dnsmasq_config_needed(a));

    g_assert_true(b->isolated);
    g_assert_cmpint(b->dns_enable, ==, VB_DNSMASQ_NO);
    g_assert_false(vb_dnsmasq_config_needed(b)); /* no DHCP, no DNS: no dnsmasq */
}

static void
test_file_names(void)
{
    static const char *const pairs[][2] = {
        {"default", "default"},
        {"my-net_1.x", "my-net_1.x"},
        {"default\"with\"quotes\"", "default_22with_22quotes_22"},
        {".hidden", "_2ehidden"},
        {"a b/c", "a_20b_2fc"},
    };

    for (guint i = 0; i < G_N_ELEMENTS(pairs); i++) {
        g_autofree char *got = vb_network_dnsmasq_name(pairs[i][0]);

        g_assert_cmpstr(got, ==, pairs[i][1]);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *name = g_strdup_printf("/network-driver/golden/%s", cases[i].golden);

        g_test_add_data_func(name, &cases[i], test_golden);
    }
    g_test_add_func("/network-driver/default-network", test_default_network);
    g_test_add_func("/network-driver/fields", test_fields);
    g_test_add_func("/network-driver/file-names", test_file_names);
    return g_test_run();
}
