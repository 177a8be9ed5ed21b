/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * <interface type='user'> beyond plain SLIRP (issue 12, part portfwd), read from the kept
 * children the way libvirt 9.x reads them (virDomainNetPortForwardDefParseXML,
 * virDomainNetBackendParseXML, qemuValidateDomainDeviceDefNetwork):
 *
 *   <source dev='eth0'/>                       passt: --interface
 *   <ip address='192.0.2.2' prefix='24'/>      one IPv4 and one IPv6 at most
 *   <portForward proto='tcp|udp' address= dev=>
 *     <range start='N' end='M' to='T' exclude='yes|no'/>
 *   </portForward>
 *   <backend type='passt' logFile='/path'/>
 *
 * With passt the forwards become --tcp-ports/--udp-ports specs exactly as libvirt's
 * qemuPasstStart() writes them. With the default backend (SLIRP; libvirt refuses
 * <portForward> there) each forwarded port becomes a "hostfwd" rule
 * "tcp:ADDR:HOSTPORT-:GUESTPORT"; what SLIRP cannot express (exclusions, dev=, IPv6, all
 * ports) is refused with a message that points at the passt backend.
 */
#include "config.h"

#include <gio/gio.h>
#include <libxml/tree.h>
#include <string.h>
#include <unistd.h>

#include "domain-def-priv.h"
#include "qemu-portfwd.h"

/* SLIRP opens one listening socket per forwarded port: more is a job for passt */
#define HOSTFWD_MAX_PORTS 256

/* g_strv_builder_take() is GLib 2.80 */
static void
strv_take(GStrvBuilder *b, char *s)
{
    g_strv_builder_add(b, s);
    g_free(s);
}

void
vb_qemu_user_net_free(VbQemuUserNet *u)
{
    if (u == NULL)
        return;
    g_free(u->log_file);
    g_free(u->source_dev);
    g_free(u->ipv4);
    g_free(u->ipv6);
    g_clear_pointer(&u->forwards, g_ptr_array_unref);
    g_free(u);
}

static void
forward_free(VbQemuPortForward *f)
{
    g_free(f->address);
    g_free(f->dev);
    g_array_unref(f->ranges);
    g_free(f);
}

/* Sets *problem and returns FALSE. */
static gboolean G_GNUC_PRINTF(2, 3)
problem(char **out, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    *out = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return FALSE;
}

/* Refuses attributes of @node outside @ok. */
static gboolean
only_attrs(xmlNode *node, const char *const ok[], char **out)
{
    for (xmlAttr *a = node->properties; a != NULL; a = a->next) {
        if (!g_strv_contains(ok, (const char *)a->name))
            return problem(out, "<%s %s=> is not supported", (const char *)node->name,
                           (const char *)a->name);
    }
    return TRUE;
}

static gboolean
port_attr(xmlNode *node, const char *name, guint *value, char **out)
{
    g_autofree char *v = vb_xml_prop(node, name);
    guint64 n = 0;

    *value = 0;
    if (v == NULL)
        return TRUE;
    if (!g_ascii_string_to_unsigned(v, 10, 1, 65535, &n, NULL))
        return problem(out, "<%s %s='%s'>: expected a port number from 1 to 65535",
                       (const char *)node->name, name, v);
    *value = (guint)n;
    return TRUE;
}

/* A canonical IP address (libvirt's virSocketAddrFormat()), or a problem. */
static gboolean
ip_attr(xmlNode *node, const char *name, char **out_addr, gboolean *out_v6, char **out)
{
    g_autofree char *v = vb_xml_prop(node, name);
    g_autoptr(GInetAddress) a = NULL;

    *out_addr = NULL;
    if (v == NULL)
        return TRUE;
    a = g_inet_address_new_from_string(v);
    if (a == NULL)
        return problem(out, "invalid address '%s' in <%s>", v, (const char *)node->name);
    *out_addr = g_inet_address_to_string(a);
    *out_v6 = g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV6;
    return TRUE;
}

static gboolean
read_range(xmlNode *node, VbQemuPortForward *f, char **out)
{
    static const char *const ok[] = { "start", "end", "to", "exclude", NULL };
    g_autofree char *exclude = vb_xml_prop(node, "exclude");
    VbQemuPortRange r = { 0 };

    if (!only_attrs(node, ok, out) || !port_attr(node, "start", &r.start, out) ||
        !port_attr(node, "end", &r.end, out) || !port_attr(node, "to", &r.to, out))
        return FALSE;
    if (exclude != NULL && strcmp(exclude, "yes") != 0 && strcmp(exclude, "no") != 0)
        return problem(out, "<range exclude='%s'>: yes or no", exclude);
    r.exclude = g_strcmp0(exclude, "yes") == 0;
    if (r.start == 0)
        return problem(out, "the <range> of a <portForward> needs start=");
    if (r.end != 0 && r.end < r.start)
        return problem(out, "<range start='%u' end='%u'>: end is below start", r.start,
                       r.end);
    if (r.to != 0 && r.end != 0 && r.to + (r.end - r.start) > 65535)
        return problem(out, "<range start='%u' end='%u' to='%u'>: the guest ports go beyond "
                       "65535", r.start, r.end, r.to);
    if (r.exclude && r.to != 0)
        return problem(out, "<range exclude='yes'> cannot have to=");
    g_array_append_val(f->ranges, r);
    return TRUE;
}

static gboolean
read_forward(xmlNode *node, VbQemuUserNet *u, char **out)
{
    static const char *const ok[] = { "proto", "address", "dev", NULL };
    VbQemuPortForward *f = g_new0(VbQemuPortForward, 1);
    g_autofree char *proto = vb_xml_prop(node, "proto");

    f->ranges = g_array_new(FALSE, TRUE, sizeof(VbQemuPortRange));
    g_ptr_array_add(u->forwards, f);
    if (!only_attrs(node, ok, out))
        return FALSE;
    if (proto == NULL)
        return problem(out, "<portForward> needs proto= (tcp or udp)");
    if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
        return problem(out, "<portForward proto='%s'>: tcp or udp", proto);
    f->udp = strcmp(proto, "udp") == 0;
    if (!ip_attr(node, "address", &f->address, &f->ipv6, out))
        return FALSE;
    f->dev = vb_xml_prop(node, "dev");
    if (f->dev != NULL && (*f->dev == '\0' || strlen(f->dev) >= 16 ||
                           strpbrk(f->dev, "/%, \t\n") != NULL))
        return problem(out, "<portForward dev='%s'>: not an interface name", f->dev);
    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!vb_xml_is(c, "range"))
            return problem(out, "<portForward><%s> is not supported", (const char *)c->name);
        if (!read_range(c, f, out))
            return FALSE;
    }
    return TRUE;
}

static gboolean
read_ip(xmlNode *node, VbQemuUserNet *u, char **out)
{
    static const char *const ok[] = { "address", "prefix", "family", "peer", NULL };
    g_autofree char *addr = NULL;
    g_autofree char *prefix = vb_xml_prop(node, "prefix");
    g_autofree char *family = vb_xml_prop(node, "family");
    g_autofree char *peer = vb_xml_prop(node, "peer");
    gboolean v6 = FALSE;
    guint64 p = 0;

    if (!only_attrs(node, ok, out) || !ip_attr(node, "address", &addr, &v6, out))
        return FALSE;
    if (addr == NULL)
        return problem(out, "<ip> needs address=");
    if (peer != NULL)
        return problem(out, "<ip peer=> (a peer address for the guest) is not supported "
                       "with type 'user'");
    if (family != NULL && strcmp(family, v6 ? "ipv6" : "ipv4") != 0)
        return problem(out, "<ip address='%s' family='%s'>: the address is %s", addr, family,
                       v6 ? "ipv6" : "ipv4");
    if (prefix != NULL && !g_ascii_string_to_unsigned(prefix, 10, 0, v6 ? 128 : 32, &p, NULL))
        return problem(out, "<ip prefix='%s'>: not a prefix length", prefix);
    if (v6) {
        if (u->ipv6 != NULL)
            return problem(out, "only one IPv6 <ip> per interface is allowed");
        if (p != 0 && p != 64)
            return problem(out, "<ip prefix='%u'>: an IPv6 prefix must be 64",
                           (guint)p);
        u->ipv6 = g_steal_pointer(&addr);
        u->prefix6 = (guint)p;
    } else {
        if (u->ipv4 != NULL)
            return problem(out, "only one IPv4 <ip> per interface is allowed");
        if (p != 0 && (p < 4 || p > 27))
            return problem(out, "<ip prefix='%u'>: an IPv4 prefix must be from 4 to 27",
                           (guint)p);
        u->ipv4 = g_steal_pointer(&addr);
        u->prefix4 = (guint)p;
    }
    return TRUE;
}

static gboolean
read_backend(xmlNode *node, VbQemuUserNet *u, char **out)
{
    static const char *const ok[] = { "type", "logFile", "tap", "vhost", NULL };
    g_autofree char *type = vb_xml_prop(node, "type");
    g_autofree char *tap = vb_xml_prop(node, "tap");
    g_autofree char *vhost = vb_xml_prop(node, "vhost");

    if (!only_attrs(node, ok, out))
        return FALSE;
    if (type != NULL && strcmp(type, "passt") != 0 && strcmp(type, "default") != 0)
        return problem(out, "<backend type='%s'> is not supported (default or passt)", type);
    if (tap != NULL || vhost != NULL)
        return problem(out, "<backend %s=> names a tap device: type 'user' has none",
                       tap != NULL ? "tap" : "vhost");
    for (xmlNode *c = node->children; c != NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE)
            return problem(out, "<backend><%s> is not supported", (const char *)c->name);
    }
    u->passt = g_strcmp0(type, "passt") == 0;
    u->log_file = vb_xml_prop(node, "logFile");
    if (u->log_file != NULL && !g_path_is_absolute(u->log_file))
        return problem(out, "<backend logFile='%s'>: an absolute path is needed",
                       u->log_file);
    return TRUE;
}

/**
 * vb_qemu_user_net_read:
 * @dev: an <interface type='user'>
 * @out_problem: gets what cannot run, without naming the interface (the caller does)
 *
 * Reads <source dev>, <ip>, <route>, <portForward> and <backend>. The caller checks
 * that no other child is there.
 *
 * Returns: (transfer full): the settings, or %NULL with @out_problem set.
 */
VbQemuUserNet *
vb_qemu_user_net_read(const VbDeviceDef *dev, char **out_problem)
{
    g_autoptr(VbQemuUserNet) u = g_new0(VbQemuUserNet, 1);
    GPtrArray *ch = dev->extra.children;
    gboolean ok = TRUE;

    u->forwards = g_ptr_array_new_with_free_func((GDestroyNotify)forward_free);
    u->source_dev = g_strdup(vb_extra_get_attr(&dev->source.extra, "dev"));
    for (guint i = 0; ok && ch != NULL && i < ch->len; i++) {
        const VbRawElem *raw = g_ptr_array_index(ch, i);
        gboolean pf = strcmp(raw->name, "portForward") == 0;
        gboolean ip = strcmp(raw->name, "ip") == 0;
        gboolean be = strcmp(raw->name, "backend") == 0;
        xmlDoc *doc;
        xmlNode *root;

        if (strcmp(raw->name, "route") == 0)
            return problem(out_problem, "<route> is not supported with type 'user' (a "
                           "guest-side route cannot be set)"), NULL;
        if (!pf && !ip && !be)
            continue;
        doc = vb_raw_elem_parse(raw);
        root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
        if (root == NULL)
            ok = problem(out_problem, "cannot read <%s>", raw->name);
        else if (pf)
            ok = read_forward(root, u, out_problem);
        else if (ip)
            ok = read_ip(root, u, out_problem);
        else
            ok = read_backend(root, u, out_problem);
        if (doc != NULL)
            xmlFreeDoc(doc);
    }
    if (!ok)
        return NULL;
    if (!u->passt && u->source_dev != NULL)
        return problem(out_problem, "<source dev=> needs <backend type='passt'/>"), NULL;
    if (u->passt) {
        for (guint i = 0; i < u->forwards->len; i++) {
            const VbQemuPortForward *f = g_ptr_array_index(u->forwards, i);

            /* passt 2023-03 takes an interface only after an address ("ADDR%DEV/") */
            if (f->dev != NULL && f->address == NULL)
                return problem(out_problem, "<portForward dev='%s'> needs address= with "
                               "passt", f->dev), NULL;
        }
    }
    return g_steal_pointer(&u);
}

/**
 * vb_qemu_user_net_hostfwd:
 * @u: a SLIRP interface's settings
 * @out_problem: gets what SLIRP cannot do
 *
 * Returns: (transfer full): SLIRP's hostfwd rules ("tcp:ADDR:HOSTPORT-:GUESTPORT"), one per
 *   forwarded port, or %NULL with @out_problem set. An empty vector without forwards.
 */
char **
vb_qemu_user_net_hostfwd(const VbQemuUserNet *u, char **out_problem)
{
    static const char *hint = ": use <backend type='passt'/>";
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    guint count = 0;

    for (guint i = 0; i < u->forwards->len; i++) {
        const VbQemuPortForward *f = g_ptr_array_index(u->forwards, i);

        if (f->ranges->len == 0)
            return problem(out_problem, "<portForward> without <range> forwards every port: "
                           "SLIRP cannot%s", hint), NULL;
        if (f->dev != NULL)
            return problem(out_problem, "<portForward dev=>: SLIRP cannot bind to an "
                           "interface%s", hint), NULL;
        if (f->ipv6)
            return problem(out_problem, "<portForward address='%s'>: SLIRP in QEMU 7.2 "
                           "forwards IPv4 only%s", f->address, hint), NULL;
        for (guint k = 0; k < f->ranges->len; k++) {
            const VbQemuPortRange *r = &g_array_index(f->ranges, VbQemuPortRange, k);
            guint last = r->end != 0 ? r->end : r->start;

            if (r->exclude)
                return problem(out_problem, "<range exclude='yes'>: SLIRP cannot exclude "
                               "ports%s", hint), NULL;
            count += last - r->start + 1;
            if (count > HOSTFWD_MAX_PORTS)
                return problem(out_problem, "<portForward>: more than %d ports: SLIRP "
                               "opens a socket per port%s", HOSTFWD_MAX_PORTS, hint), NULL;
            for (guint p = r->start; p <= last; p++) {
                guint to = (r->to != 0 ? r->to : r->start) + (p - r->start);

                strv_take(b, g_strdup_printf("%s:%s:%u-:%u", f->udp ? "udp" : "tcp",
                                                       f->address != NULL ? f->address : "",
                                                       p, to));
            }
        }
    }
    return g_strv_builder_end(b);
}

/* one --tcp-ports/--udp-ports spec, as libvirt's qemuPasstStart() writes it */
static char *
passt_spec(const VbQemuPortForward *f)
{
    GString *s = g_string_new(NULL);

    if (f->address != NULL) {
        g_string_append(s, f->address);
        if (f->dev != NULL)
            g_string_append_printf(s, "%%%s", f->dev);
        g_string_append_c(s, '/');
    }
    if (f->ranges->len == 0)
        g_string_append(s, "all");
    for (guint k = 0; k < f->ranges->len; k++) {
        const VbQemuPortRange *r = &g_array_index(f->ranges, VbQemuPortRange, k);

        if (k > 0)
            g_string_append_c(s, ',');
        if (r->exclude)
            g_string_append_c(s, '~');
        g_string_append_printf(s, "%u", r->start);
        if (r->end != 0)
            g_string_append_printf(s, "-%u", r->end);
        if (r->to != 0) {
            g_string_append_printf(s, ":%u", r->to);
            if (r->end != 0)
                g_string_append_printf(s, "-%u", r->end + r->to - r->start);
        }
    }
    return g_string_free(s, FALSE);
}

/**
 * vb_qemu_user_net_passt_argv:
 * @u: a passt interface's settings
 * @passt: the binary
 * @socket: the socket passt makes and QEMU connects to
 * @log_file: passt's log (<backend logFile=> or the service's default)
 * @mtu: <mtu size>, 0 when unset
 *
 * libvirt's arguments (qemuPasstStart()) without --mac-addr (that is passt's own MAC, not
 * the guest's; libvirt 9.2 dropped it) and with what a child of the service needs:
 * `-f` (stay in the foreground: the service tracks the pid) and `--runas UID:GID` of the
 * service, the user QEMU runs as (passt started as root otherwise drops to nobody before
 * it binds the socket, and nobody cannot enter the service's 0700 runtime directory).
 *
 * Returns: (transfer full): the command line.
 */
char **
vb_qemu_user_net_passt_argv(const VbQemuUserNet *u, const char *passt, const char *socket,
                            const char *log_file, guint mtu)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();

    g_strv_builder_add_many(b, passt, "-f", "--runas", NULL);
    strv_take(b, g_strdup_printf("%u:%u", (guint)geteuid(), (guint)getegid()));
    g_strv_builder_add_many(b, "--one-off", "--socket", socket, NULL);
    if (mtu > 0) {
        g_strv_builder_add(b, "--mtu");
        strv_take(b, g_strdup_printf("%u", mtu));
    }
    if (u->source_dev != NULL)
        g_strv_builder_add_many(b, "--interface", u->source_dev, NULL);
    g_strv_builder_add_many(b, "--log-file", log_file, NULL);
    if (u->ipv4 != NULL) {
        g_strv_builder_add_many(b, "--address", u->ipv4, NULL);
        if (u->prefix4 > 0) {
            g_strv_builder_add(b, "--netmask");
            strv_take(b, g_strdup_printf("%u", u->prefix4));
        }
    }
    if (u->ipv6 != NULL)
        g_strv_builder_add_many(b, "--address", u->ipv6, NULL);
    for (guint i = 0; i < u->forwards->len; i++) {
        const VbQemuPortForward *f = g_ptr_array_index(u->forwards, i);

        g_strv_builder_add(b, f->udp ? "--udp-ports" : "--tcp-ports");
        strv_take(b, passt_spec(f));
    }
    return g_strv_builder_end(b);
}

/**
 * vb_qemu_user_net_passt_socket:
 * @runtime_dir: the domain's runtime directory
 * @alias: the interface's alias (net0)
 *
 * Returns: (transfer full): RUNDIR/net0-passt.sock
 */
char *
vb_qemu_user_net_passt_socket(const char *runtime_dir, const char *alias)
{
    g_autofree char *base = g_strconcat(alias, "-passt.sock", NULL);

    return g_build_filename(runtime_dir, base, NULL);
}

/**
 * vb_qemu_passt_binary:
 *
 * Returns: (transfer full) (nullable): passt from PATH (Debian's passt package).
 */
char *
vb_qemu_passt_binary(void)
{
    return g_find_program_in_path("passt");
}
