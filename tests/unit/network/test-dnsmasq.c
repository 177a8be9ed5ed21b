/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dnsmasq's files for a network (exact text against goldens in
 * tests/data/dnsmasq/, which follow libvirt 9.0's networkxml2confdata for
 * the same inputs), validation errors and the lease file parser.
 * VB_TEST_REGENERATE=1 rewrites the goldens.
 */
#include "config.h"

#include <string.h>

#include "network-dnsmasq.h"
#include "vb-error.h"

#define STATE "/var/lib/virtbus/network/dnsmasq"

typedef struct {
    const char *name;
    VbDnsmasqConfig *(*make)(void);
} Golden;

static void
check_file(const char *name, const char *suffix, const char *text)
{
    g_autofree char *base = g_strdup_printf("%s.%s", name, suffix);
    g_autofree char *path = g_build_filename(g_getenv("VB_TEST_DATA"), "dnsmasq", base, NULL);
    g_autofree char *want = NULL;

    if (g_getenv("VB_TEST_REGENERATE")) {
        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        return;
    }
    if (!g_file_get_contents(path, &want, NULL, NULL))
        want = g_strdup("");
    g_assert_cmpstr(text, ==, want);
}

static void
test_golden(gconstpointer data)
{
    const Golden *golden = data;
    const char *name = golden->name;
    g_autoptr(VbDnsmasqConfig) cfg = golden->make();
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDnsmasqFiles) files = vb_dnsmasq_config_generate(cfg, STATE, &error);

    g_assert_no_error(error);
    g_assert_nonnull(files);
    check_file(name, "conf", files->conf);
    check_file(name, "hostsfile", files->hostsfile);
    check_file(name, "addnhosts", files->addnhosts);
}

/* libvirt's nat-network.xml */
static VbDnsmasqConfig *
make_nat(void)
{
    VbDnsmasqConfig *c = vb_dnsmasq_config_new("default", "virbr0");
    VbDnsmasqSubnet *s = vb_dnsmasq_config_add_subnet(c, "192.168.122.1", 24);

    vb_dnsmasq_subnet_add_range(s, "192.168.122.2", "192.168.122.254");
    vb_dnsmasq_subnet_add_host(s, "00:16:3e:77:e2:ed", NULL, "192.168.122.10", "a.example.com");
    vb_dnsmasq_subnet_add_host(s, "00:16:3e:3e:a9:1a", NULL, "192.168.122.11", "b.example.com");
    vb_dnsmasq_config_add_subnet(c, "192.168.123.1", 24);
    vb_dnsmasq_config_add_subnet(c, "2001:db8:ac10:fe01::1", 64);
    vb_dnsmasq_config_add_subnet(c, "2001:db8:ac10:fd01::1", 64);
    vb_dnsmasq_config_add_subnet(c, "10.24.10.1", 8);
    return c;
}

/* nat-network-dns-hosts.xml, plus a second entry on one address */
static VbDnsmasqConfig *
make_dns_hosts(void)
{
    VbDnsmasqConfig *c = vb_dnsmasq_config_new("default", "virbr0");
    const char *n1[] = {"host", "gateway", NULL};
    const char *n2[] = {"printer", NULL};
    const char *n3[] = {"v6host", NULL};

    c->domain = g_strdup("example.com");
    c->forward_plain_names = VB_DNSMASQ_NO;
    vb_dnsmasq_config_add_dns_host(c, "192.168.122.1", n1);
    vb_dnsmasq_config_add_dns_host(c, "192.168.122.20", n2);
    vb_dnsmasq_config_add_dns_host(c, "192.168.122.1", n2);
    vb_dnsmasq_config_add_dns_host(c, "2001:db8::0:5", n3);
    vb_dnsmasq_config_add_subnet(c, "192.168.122.1", 24);
    return c;
}

/* dhcp6host-routed-network.xml: static-only DHCP on both families */
static VbDnsmasqConfig *
make_dhcp6_hosts(void)
{
    VbDnsmasqConfig *c = vb_dnsmasq_config_new("local", "virbr1");
    VbDnsmasqSubnet *s = vb_dnsmasq_config_add_subnet(c, "192.168.122.1", 24);
    VbDnsmasqSubnet *s6 = vb_dnsmasq_config_add_subnet(c, "2001:db8:ac10:fd01::1", 64);

    vb_dnsmasq_subnet_add_host(s, "00:16:3e:77:e2:ed", NULL, "192.168.122.10", "a.example.com");
    vb_dnsmasq_subnet_add_host(s, "00:16:3e:3e:a9:1a", NULL, "192.168.122.11", "b.example.com");
    vb_dnsmasq_subnet_add_host(s6, NULL, "0:4:7e:7d:f0:7d:a8:bc:c5:d2:13:32:11:ed:16:ea:84:63",
                               "2001:db8:ac10:fd01::1:20", NULL);
    vb_dnsmasq_subnet_add_host(s6, NULL, NULL, "2001:db8:ac10:fd01::1:21", "paul");
    vb_dnsmasq_subnet_add_host(s6, NULL, "0:3:0:1:0:16:3e:11:22:33", "2001:db8:ac10:fd01::1:22",
                               "peter.xyz");
    vb_dnsmasq_subnet_add_host(s6, NULL, "0:3:0:1:0:16:3e:44:55:33", "2001:db8:ac10:fd01::1:23",
                               NULL);
    vb_dnsmasq_subnet_add_host(s6, NULL, "0:1:0:1:18:aa:62:fe:0:16:3e:44:55:66",
                               "2001:db8:ac10:fd01::1:24", "badbob");
    return c;
}

/* leasetime-hours.xml plus minutes, seconds and infinite, and an IPv6 range */
static VbDnsmasqConfig *
make_lease_times(void)
{
    VbDnsmasqConfig *c = vb_dnsmasq_config_new("default", "virbr0");
    VbDnsmasqSubnet *s = vb_dnsmasq_config_add_subnet(c, "192.168.122.1", 24);
    VbDnsmasqSubnet *s6 = vb_dnsmasq_config_add_subnet(c, "2001:db8:ac10:fd01::1", 64);
    VbDnsmasqRange *r = vb_dnsmasq_subnet_add_range(s, "192.168.122.2", "192.168.122.254");

    r->lease = (VbDnsmasqLeaseTime){VB_DNSMASQ_LEASE_HOURS, 1};
    vb_dnsmasq_subnet_add_host(s, "00:16:3e:77:e2:ed", NULL, "192.168.122.10", "a.example.com")
        ->lease = (VbDnsmasqLeaseTime){VB_DNSMASQ_LEASE_HOURS, 2};
    vb_dnsmasq_subnet_add_host(s, "00:16:3e:3e:a9:1a", NULL, "192.168.122.11", NULL)->lease =
        (VbDnsmasqLeaseTime){VB_DNSMASQ_LEASE_MINUTES, 45};
    vb_dnsmasq_subnet_add_host(s, NULL, NULL, "192.168.122.12", "byname")->lease =
        (VbDnsmasqLeaseTime){VB_DNSMASQ_LEASE_SECONDS, 600};
    vb_dnsmasq_subnet_add_host(s, "00:16:3e:3e:a9:1c", NULL, "192.168.122.13", "forever")->lease =
        (VbDnsmasqLeaseTime){VB_DNSMASQ_LEASE_HOURS, 0};
    /* no address: left out of the hostsfile, as libvirt does */
    vb_dnsmasq_subnet_add_host(s, "00:16:3e:3e:a9:1d", NULL, NULL, "noip");
    vb_dnsmasq_subnet_add_range(s6, "2001:db8:ac10:fd01::1:10", "2001:db8:ac10:fd01::1:ff")->lease =
        (VbDnsmasqLeaseTime){VB_DNSMASQ_LEASE_MINUTES, 0};
    return c;
}

/* isolated-network.xml with an MTU */
static VbDnsmasqConfig *
make_isolated_mtu(void)
{
    VbDnsmasqConfig *c = vb_dnsmasq_config_new("private", "virbr2");
    VbDnsmasqSubnet *s = vb_dnsmasq_config_add_subnet(c, "192.168.152.1", 24);

    c->isolated = TRUE;
    c->mtu = 9000;
    vb_dnsmasq_subnet_add_range(s, "192.168.152.2", "192.168.152.254");
    return c;
}

/* nat-network-dns-forwarders.xml with a local-only domain */
static VbDnsmasqConfig *
make_forwarders(void)
{
    VbDnsmasqConfig *c = vb_dnsmasq_config_new("default", "virbr0");

    vb_dnsmasq_config_add_forwarder(c, NULL, "8.8.8.8");
    vb_dnsmasq_config_add_forwarder(c, NULL, "8.8.4.4");
    vb_dnsmasq_config_add_forwarder(c, "example.com", "192.168.1.1");
    vb_dnsmasq_config_add_forwarder(c, "www.example.com", NULL);
    c->domain = g_strdup("example.com");
    c->domain_local_only = TRUE;
    vb_dnsmasq_config_add_subnet(c, "192.168.122.1", 24);
    return c;
}

/* routed-network-no-dns.xml, plus DHCP on a /16 (netmask, lease max) */
static VbDnsmasqConfig *
make_no_dns(void)
{
    VbDnsmasqConfig *c = vb_dnsmasq_config_new("local", "virbr1");
    VbDnsmasqSubnet *s = vb_dnsmasq_config_add_subnet(c, "10.1.0.1", 16);
    const char *n[] = {"ignored", NULL};

    c->dns_enable = VB_DNSMASQ_NO;
    c->forward_plain_names = VB_DNSMASQ_NO; /* no DNS: no domain-needed */
    vb_dnsmasq_config_add_forwarder(c, NULL, "8.8.8.8");
    vb_dnsmasq_config_add_dns_host(c, "10.1.0.5", n);
    vb_dnsmasq_subnet_add_range(s, "10.1.0.10", "10.1.2.9");
    vb_dnsmasq_subnet_add_range(s, "10.1.200.0", "10.1.200.255");
    return c;
}

/* the plain libvirt default network */
static VbDnsmasqConfig *
make_default(void)
{
    VbDnsmasqConfig *c = vb_dnsmasq_config_new("default", "virbr0");
    VbDnsmasqSubnet *s = vb_dnsmasq_config_add_subnet(c, "192.168.122.1", 24);

    vb_dnsmasq_subnet_add_range(s, "192.168.122.2", "192.168.122.254");
    return c;
}

static void
expect_error(VbDnsmasqConfig *c, int code, const char *fragment)
{
    g_autoptr(VbDnsmasqConfig) owned = c;
    g_autoptr(GError) error = NULL;
    g_autoptr(VbDnsmasqFiles) files = vb_dnsmasq_config_generate(c, STATE, &error);

    g_assert_null(files);
    g_assert_error(error, VB_ERROR, code);
    if (!strstr(error->message, fragment))
        g_error("message '%s' lacks '%s'", error->message, fragment);
}

static void
test_invalid(void)
{
    VbDnsmasqConfig *c;
    VbDnsmasqSubnet *s;
    const char *bad_name[] = {"a\nb", NULL};
    const char *no_names[] = {NULL};

    c = make_default();
    s = g_ptr_array_index(c->subnets, 0);
    vb_dnsmasq_subnet_add_range(s, "192.168.123.2", "192.168.123.9");
    expect_error(c, VB_ERROR_INVALID_ARG, "not entirely within the network 192.168.122.1/24");

    c = make_default();
    vb_dnsmasq_subnet_add_range(g_ptr_array_index(c->subnets, 0), "192.168.122.9", "192.168.122.3");
    expect_error(c, VB_ERROR_INVALID_ARG, "is reversed");

    c = make_default();
    vb_dnsmasq_subnet_add_range(g_ptr_array_index(c->subnets, 0), "192.168.122.0", "192.168.122.3");
    expect_error(c, VB_ERROR_INVALID_ARG, "is the network address");

    c = make_default();
    vb_dnsmasq_subnet_add_range(g_ptr_array_index(c->subnets, 0), "192.168.122.3",
                                "192.168.122.255");
    expect_error(c, VB_ERROR_INVALID_ARG, "is the broadcast address");

    c = vb_dnsmasq_config_new("big", "virbr9");
    vb_dnsmasq_subnet_add_range(vb_dnsmasq_config_add_subnet(c, "10.0.0.1", 8), "10.0.0.2",
                                "10.2.0.1");
    expect_error(c, VB_ERROR_INVALID_ARG, "too large");

    c = make_default();
    vb_dnsmasq_subnet_add_range(vb_dnsmasq_config_add_subnet(c, "192.168.5.1", 24), "192.168.5.2",
                                "192.168.5.9");
    expect_error(c, VB_ERROR_NOT_SUPPORTED, "for IPv4, DHCP can be given on one <ip> only");

    c = make_default();
    vb_dnsmasq_subnet_add_host(g_ptr_array_index(c->subnets, 0), "00:16:3e:77:e2", NULL,
                               "192.168.122.9", NULL);
    expect_error(c, VB_ERROR_INVALID_ARG, "is not a MAC address");

    c = make_default();
    vb_dnsmasq_subnet_add_host(g_ptr_array_index(c->subnets, 0), "00:16:3e:77:e2:01", NULL,
                               "192.168.122.9", "evil\nport=0");
    expect_error(c, VB_ERROR_INVALID_ARG, "is not a valid host name");

    c = make_default();
    vb_dnsmasq_subnet_add_host(g_ptr_array_index(c->subnets, 0), "00:16:3e:77:e2:01", NULL,
                               "10.0.0.9", NULL);
    expect_error(c, VB_ERROR_INVALID_ARG, "DHCP host address '10.0.0.9' is not in the network");

    c = make_default();
    vb_dnsmasq_subnet_add_host(g_ptr_array_index(c->subnets, 0), NULL, NULL, "192.168.122.9", NULL);
    expect_error(c, VB_ERROR_INVALID_ARG, "needs a mac or a name");

    c = make_default();
    vb_dnsmasq_config_add_dns_host(c, "192.168.122.9", bad_name);
    expect_error(c, VB_ERROR_INVALID_ARG, "is not a valid host name");

    c = make_default();
    vb_dnsmasq_config_add_dns_host(c, "192.168.122.9", no_names);
    expect_error(c, VB_ERROR_INVALID_ARG, "has no hostname");

    c = make_default();
    vb_dnsmasq_config_add_forwarder(c, NULL, "8.8.8");
    expect_error(c, VB_ERROR_INVALID_ARG, "DNS forwarder");

    c = make_default();
    g_free(c->bridge);
    c->bridge = g_strdup("a-bridge-name-too-long");
    expect_error(c, VB_ERROR_INVALID_ARG, "is not a valid interface name");

    c = make_default();
    g_free(c->network);
    c->network = g_strdup("../etc");
    expect_error(c, VB_ERROR_INVALID_ARG, "cannot name dnsmasq's files");

    c = make_default();
    g_free(c->domain);
    c->domain = g_strdup("exa mple.com");
    expect_error(c, VB_ERROR_INVALID_ARG, "network 'default': 'exa mple.com' is not a valid");

    c = vb_dnsmasq_config_new("p", "virbr9");
    vb_dnsmasq_config_add_subnet(c, "192.168.1.1", 33);
    expect_error(c, VB_ERROR_INVALID_ARG, "invalid prefix 33");
}

static void
test_needed(void)
{
    g_autoptr(VbDnsmasqConfig) c = vb_dnsmasq_config_new("n", "virbr9");
    VbDnsmasqSubnet *s;

    g_assert_true(vb_dnsmasq_config_needed(c)); /* DNS */
    c->dns_enable = VB_DNSMASQ_NO;
    s = vb_dnsmasq_config_add_subnet(c, "192.168.1.1", 24);
    g_assert_false(vb_dnsmasq_config_needed(c));
    vb_dnsmasq_subnet_add_host(s, "52:54:00:00:00:01", NULL, "192.168.1.5", NULL);
    g_assert_true(vb_dnsmasq_config_needed(c));
}

static const char LEASES[] =
    "1764470000 52:54:00:aa:bb:01 10.77.0.10 static1 01:52:54:00:aa:bb:01\n"
    "0 52:54:00:AA:BB:02 10.77.0.120 * *\n"
    "1000 52:54:00:aa:bb:03 10.77.0.121 old *\n"
    "garbage line\n"
    "1764470000 52:54:00:aa:bb:04 not-an-ip x *\n"
    "duid 00:01:00:01:2c:11:22:33:52:54:00:00:00:99\n"
    "1764470500 12345 2001:db8::1:20 v6host 00:03:00:01:52:54:00:aa:bb:05\n"
    "1764470500 T77 2001:db8::1:21 * 00:04:aa:bb\n";

static void
test_leases(void)
{
    g_autoptr(VbDnsmasqConfig) c = vb_dnsmasq_config_new("n", "vbbr0");
    g_autoptr(GPtrArray) all = NULL;
    g_autoptr(GPtrArray) one = NULL;
    g_autoptr(GPtrArray) v6 = NULL;
    g_autoptr(GPtrArray) none = NULL;
    g_autoptr(GVariant) v = NULL;
    VbDnsmasqLease *l;
    const char *s;
    gint64 x;
    guint32 u;
    gint32 i;

    vb_dnsmasq_config_add_subnet(c, "10.77.0.1", 24);
    vb_dnsmasq_config_add_subnet(c, "2001:db8::1", 64);
    all = vb_dnsmasq_leases_parse(c, LEASES, NULL, 1764400000);
    g_assert_cmpuint(all->len, ==, 4); /* expired, garbage and bad address left out */
    l = g_ptr_array_index(all, 0);
    g_assert_cmpstr(l->iface, ==, "vbbr0");
    g_assert_cmpint(l->expirytime, ==, 1764470000);
    g_assert_cmpuint(l->type, ==, 0);
    g_assert_cmpstr(l->mac, ==, "52:54:00:aa:bb:01");
    g_assert_null(l->iaid);
    g_assert_cmpstr(l->ipaddr, ==, "10.77.0.10");
    g_assert_cmpuint(l->prefix, ==, 24);
    g_assert_cmpstr(l->hostname, ==, "static1");
    g_assert_cmpstr(l->clientid, ==, "01:52:54:00:aa:bb:01");
    l = g_ptr_array_index(all, 1);
    g_assert_cmpint(l->expirytime, ==, 0); /* infinite: never expires */
    g_assert_cmpstr(l->mac, ==, "52:54:00:aa:bb:02");
    g_assert_null(l->hostname);
    g_assert_null(l->clientid);
    l = g_ptr_array_index(all, 2);
    g_assert_cmpuint(l->type, ==, 1);
    g_assert_cmpstr(l->iaid, ==, "12345");
    g_assert_cmpstr(l->ipaddr, ==, "2001:db8::1:20");
    g_assert_cmpuint(l->prefix, ==, 64);
    g_assert_cmpstr(l->mac, ==, "52:54:00:aa:bb:05"); /* from the DUID-LL */
    g_assert_cmpstr(l->clientid, ==, "00:03:00:01:52:54:00:aa:bb:05");
    l = g_ptr_array_index(all, 3);
    g_assert_cmpstr(l->iaid, ==, "77");
    g_assert_null(l->mac);

    /* the MAC filter: any case; IPv6 leases match by their DUID's MAC */
    one = vb_dnsmasq_leases_parse(c, LEASES, "52:54:00:aa:BB:02", 1764400000);
    g_assert_cmpuint(one->len, ==, 1);
    g_assert_cmpstr(((VbDnsmasqLease *)g_ptr_array_index(one, 0))->ipaddr, ==, "10.77.0.120");
    v6 = vb_dnsmasq_leases_parse(c, LEASES, "52:54:00:aa:bb:05", 0);
    g_assert_cmpuint(v6->len, ==, 1);
    none = vb_dnsmasq_leases_parse(c, "", NULL, 0);
    g_assert_cmpuint(none->len, ==, 0);

    v = g_variant_ref_sink(vb_dnsmasq_lease_to_variant(g_ptr_array_index(all, 0)));
    g_assert_true(g_variant_lookup(v, "iface", "&s", &s));
    g_assert_cmpstr(s, ==, "vbbr0");
    g_assert_true(g_variant_lookup(v, "expirytime", "x", &x));
    g_assert_cmpint(x, ==, 1764470000);
    g_assert_true(g_variant_lookup(v, "type", "i", &i));
    g_assert_cmpint(i, ==, 0);
    g_assert_true(g_variant_lookup(v, "prefix", "u", &u));
    g_assert_cmpuint(u, ==, 24);
    g_assert_true(g_variant_lookup(v, "mac", "&s", &s));
    g_assert_true(g_variant_lookup(v, "ipaddr", "&s", &s));
    g_assert_true(g_variant_lookup(v, "hostname", "&s", &s));
    g_assert_true(g_variant_lookup(v, "clientid", "&s", &s));
    g_assert_false(g_variant_lookup(v, "iaid", "&s", &s));
}

static const Golden goldens[] = {
    {"nat", make_nat},
    {"dns-hosts", make_dns_hosts},
    {"dhcp6-hosts", make_dhcp6_hosts},
    {"lease-times", make_lease_times},
    {"isolated-mtu", make_isolated_mtu},
    {"forwarders", make_forwarders},
    {"no-dns", make_no_dns},
    {"default", make_default},
};

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(goldens); i++) {
        g_autofree char *path = g_strdup_printf("/network/dnsmasq/conf/%s", goldens[i].name);
        g_test_add_data_func(path, &goldens[i], test_golden);
    }
    g_test_add_func("/network/dnsmasq/invalid-input-named-errors", test_invalid);
    g_test_add_func("/network/dnsmasq/needed", test_needed);
    g_test_add_func("/network/dnsmasq/leases-parse-filter", test_leases);
    return g_test_run();
}
