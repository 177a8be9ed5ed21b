/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "vbctl-output.h"
#include "vbctl.h"

/*
 * A guest's interfaces (issue 12, part addresses): domifaddr (Domain.InterfaceAddresses)
 * and domiflist (the <interface>s of the domain's XML), with virsh's output.
 */

/* GetXMLDesc INACTIVE (libvirt's value) */
#define XML_INACTIVE 2u

static const char *const sources[] = { "lease", "agent", "arp", NULL };

/**
 * vbctl_ifaddr_source_from_string:
 * @str: (nullable): --source's value
 *
 * Returns: the InterfaceAddresses source (lease when @str is NULL), or -1
 */
int
vbctl_ifaddr_source_from_string(const char *str)
{
    if (str == NULL)
        return 0;
    for (int i = 0; sources[i] != NULL; i++) {
        if (strcmp(sources[i], str) == 0)
            return i;
    }
    return -1;
}

static void
print_iface(const char *name, const char *hwaddr, GVariantIter *addrs, gboolean full)
{
    guint32 prefix;
    const char *addr, *type;
    gboolean first = TRUE;

    if (g_variant_iter_n_children(addrs) == 0) {
        g_print(" %-10s %-17s    %-12s %s\n", name, *hwaddr != '\0' ? hwaddr : "N/A", "N/A",
                "N/A");
        return;
    }
    while (g_variant_iter_next(addrs, "(&su&s)", &addr, &prefix, &type)) {
        g_autofree char *cell = g_strdup_printf("%-12s %s/%u", type, addr, prefix);

        /* virsh does not repeat the name and MAC without --full */
        if (full || first)
            g_print(" %-10s %-17s    %s\n", name, hwaddr, cell);
        else
            g_print(" %-10s %-17s    %s\n", "-", "-", cell);
        first = FALSE;
    }
}

/**
 * vbctl_cmd_domifaddr:
 *
 * `domifaddr NAME|UUID [--interface NAME] [--full] [--source lease|agent|arp]`: the
 * addresses of a running domain's interfaces, as `virsh domifaddr` prints them.
 */
gboolean
vbctl_cmd_domifaddr(VbctlContext *ctx, GError **error)
{
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    int source = vbctl_ifaddr_source_from_string(ctx->flags.ifaddr_source);
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GVariantIter) iter = NULL;
    GVariantIter *addrs;
    const char *name, *hwaddr;

    if (domain == NULL)
        return FALSE;
    /* the agent source needs the attach action: the call may ask interactively */
    reply = vbctl_call_mutating(G_DBUS_PROXY(domain), "InterfaceAddresses",
                                g_variant_new("(u)", (guint32)source),
                                G_VARIANT_TYPE("(a(ssa(sus)))"), error);
    if (reply == NULL)
        return FALSE;
    g_print(" %-10s %-20s %-8s     %s\n%s%s\n", _("Name"), _("MAC address"), _("Protocol"),
            _("Address"), "-------------------------------------------------",
            "------------------------------");
    g_variant_get(reply, "(a(ssa(sus)))", &iter);
    while (g_variant_iter_next(iter, "(&s&sa(sus))", &name, &hwaddr, &addrs)) {
        if (ctx->flags.ifaddr_interface == NULL ||
            strcmp(ctx->flags.ifaddr_interface, name) == 0)
            print_iface(name, hwaddr, addrs, ctx->flags.ifaddr_full);
        g_variant_iter_free(addrs);
    }
    return TRUE;
}

/* ---- domiflist: <interface>s of the XML ---- */

static void
set_once(char **slot, const char *value)
{
    if (*slot == NULL && value != NULL)
        *slot = g_strdup(value);
}

static void
scan_start(GMarkupParseContext *pc, const char *element, const char **names,
           const char **values, gpointer data, GError **error)
{
    VbctlXmlScan *s = data;
    const GSList *stack = g_markup_parse_context_get_element_stack(pc);

    s->depth++;
    if (s->cur == NULL) {
        /* domain/devices/interface */
        if (strcmp(element, "interface") == 0 && s->depth == 3 && stack->next != NULL &&
            strcmp(stack->next->data, "devices") == 0) {
            s->cur = g_new0(char *, s->n_cols + 1);
            s->item_depth = s->depth;
            set_once(&s->cur[1], vbctl_xml_attr(names, values, "type"));
        }
        return;
    }
    if (s->depth != s->item_depth + 1)
        return;
    if (strcmp(element, "source") == 0) {
        /* virsh: bridge | dev | network | name | path, the first in that order */
        static const char *const keys[] = { "bridge", "dev", "network", "name", "path", NULL };

        for (guint i = 0; keys[i] != NULL; i++)
            set_once(&s->cur[2], vbctl_xml_attr(names, values, keys[i]));
    } else if (strcmp(element, "target") == 0) {
        set_once(&s->cur[0], vbctl_xml_attr(names, values, "dev"));
    } else if (strcmp(element, "model") == 0) {
        set_once(&s->cur[3], vbctl_xml_attr(names, values, "type"));
    } else if (strcmp(element, "mac") == 0) {
        set_once(&s->cur[4], vbctl_xml_attr(names, values, "address"));
    }
}

/**
 * vbctl_domiflist_rows:
 * @xml: a domain's XML
 *
 * Returns: (transfer full) (element-type GStrv) (nullable): one row per <interface>:
 *   Interface (target dev), Type, Source, Model, MAC, "-" for what is missing
 */
GPtrArray *
vbctl_domiflist_rows(const char *xml, GError **error)
{
    static const char *const fill[] = { "-", "", "-", "-", "-" };

    return vbctl_xml_scan_rows(xml, scan_start, G_N_ELEMENTS(fill), fill, error);
}

/**
 * vbctl_cmd_domiflist:
 *
 * `domiflist NAME|UUID [--inactive]`: the columns of `virsh domiflist`, from the live XML
 * of a running domain (its taps' names) or the definition.
 */
gboolean
vbctl_cmd_domiflist(VbctlContext *ctx, GError **error)
{
    static const char *const headers[] = { N_("Interface"), N_("Type"), N_("Source"),
                                           N_("Model"), N_("MAC") };
    g_autoptr(VbDBusDomain) domain = vbctl_lookup_domain(ctx, ctx->args[0], FALSE, error);
    g_autofree char *xml = NULL;
    g_autoptr(GPtrArray) rows = NULL;

    if (domain == NULL ||
        !vb_dbus_domain_call_get_xmldesc_sync(domain, ctx->flags.inactive ? XML_INACTIVE : 0,
                                              &xml, NULL, error))
        return FALSE;
    rows = vbctl_domiflist_rows(xml, error);
    if (rows == NULL)
        return FALSE;
    vbctl_print_rows(headers, G_N_ELEMENTS(headers), 0, rows);
    return TRUE;
}
