/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host side of a run's interfaces (issue 12, part interfaces): the taps, macvtaps,
 * Open vSwitch ports and tc shaping made before QEMU starts (qemu-net-prepare.c), kept in
 * dom->nets and recorded in the status XML (<netdev alias= type= kind= name= managed=
 * bridge= ovs=>) so that a restarted service knows them, and released when the run ends
 * however it ends (teardown after a stop or crash, a failed start, a service restart that
 * finds QEMU gone). A tap made for QEMU is not persistent: it goes with QEMU's last fd;
 * what outlives QEMU (a macvtap, an Open vSwitch port, a passthrough lower device's MAC) is
 * undone by vb_qemu_net_release().
 */
#include "config.h"

#include "domain-list-priv.h"
#include "vb-error.h"
#include "vb-log.h"

/**
 * vb_domain_list_set_net_resolver:
 * @resolve: looks up a running network for <interface type='network'>
 *
 * The seam to the network driver (set by the bus service, which owns both lists). Call
 * before any domain starts.
 */
void
vb_domain_list_set_net_resolver(VbDomainList *list, VbQemuNetResolveFunc resolve,
                                gpointer user_data)
{
    list->net_resolve = resolve;
    list->net_resolve_data = user_data;
}

static void
add_prep(VbDomainObj *dom, VbQemuNetPrep *prep)
{
    g_mutex_lock(&dom->lock);
    if (dom->nets == NULL)
        dom->nets = g_ptr_array_new_with_free_func((GDestroyNotify)vb_qemu_net_prep_free);
    g_ptr_array_add(dom->nets, prep);
    g_mutex_unlock(&dom->lock);
}

/**
 * vb_domain_net_prepare:
 * @def: the definition QEMU will run
 *
 * Does the host side of every interface of @def, in order, recording each in @dom (and the
 * status XML) as soon as it exists. On failure what was made so far stays recorded: the
 * caller's rollback releases it (vb_domain_net_release()). With the job held, no lock.
 */
gboolean
vb_domain_net_prepare(VbDomainList *list, VbDomainObj *dom, const VbDomainDef *def,
                      GError **error)
{
    guint n = vb_qemu_net_count(def);

    for (guint i = 0; i < n; i++) {
        VbQemuNetPrep *prep = vb_qemu_net_prepare_one(def, i, list->net_resolve,
                                                      list->net_resolve_data, error);

        if (prep == NULL)
            return FALSE;
        add_prep(dom, prep);
        if (prep->ifname != NULL && !vb_domain_status_save(list, dom, error))
            return FALSE;
    }
    return TRUE;
}

/**
 * vb_domain_net_fds:
 *
 * The fds QEMU gets for the interfaces and the numbers it sees them at.
 */
void
vb_domain_net_fds(VbDomainObj *dom, GArray *source_fds, GArray *target_fds)
{
    g_mutex_lock(&dom->lock);
    vb_qemu_net_fd_map(dom->nets, source_fds, target_fds);
    g_mutex_unlock(&dom->lock);
}

/**
 * vb_domain_net_close_fds:
 *
 * Closes the service's copies of the interfaces' fds once QEMU holds its own: the taps
 * then live as long as QEMU.
 */
void
vb_domain_net_close_fds(VbDomainObj *dom)
{
    g_mutex_lock(&dom->lock);
    for (guint i = 0; dom->nets != NULL && i < dom->nets->len; i++)
        vb_qemu_net_prep_close_fds(g_ptr_array_index(dom->nets, i));
    g_mutex_unlock(&dom->lock);
}

/**
 * vb_domain_net_release:
 *
 * Undoes the host side of every interface of the run and forgets it (QEMU is gone, or
 * never started). With the job held (or at start-up), no lock.
 */
void
vb_domain_net_release(VbDomainObj *dom)
{
    g_autoptr(GPtrArray) nets = NULL;

    g_mutex_lock(&dom->lock);
    nets = g_steal_pointer(&dom->nets);
    g_mutex_unlock(&dom->lock);
    for (guint i = nets != NULL ? nets->len : 0; i > 0; i--)
        vb_qemu_net_release(g_ptr_array_index(nets, i - 1));
}

static void
attr(GString *buf, const char *name, const char *value)
{
    g_autofree char *esc = NULL;

    if (value == NULL)
        return;
    esc = g_markup_escape_text(value, -1);
    g_string_append_printf(buf, " %s='%s'", name, esc);
}

/**
 * vb_domain_net_format:
 *
 * The <netdev> lines of the status XML, one per interface with a host device. Under
 * dom->lock.
 */
void
vb_domain_net_format(VbDomainObj *dom, GString *buf)
{
    for (guint i = 0; dom->nets != NULL && i < dom->nets->len; i++) {
        const VbQemuNetPrep *p = g_ptr_array_index(dom->nets, i);

        if (p->ifname == NULL)
            continue;
        g_string_append(buf, "  <netdev");
        attr(buf, "alias", p->alias);
        attr(buf, "type", p->type);
        attr(buf, "kind", p->kind);
        attr(buf, "name", p->ifname);
        attr(buf, "managed", p->managed ? "yes" : "no");
        attr(buf, "bridge", p->bridge);
        if (p->ovs)
            attr(buf, "ovs", "yes");
        attr(buf, "lower", p->lower);
        attr(buf, "lowerMac", p->lower_mac);
        g_string_append(buf, "/>\n");
    }
}

/**
 * vb_domain_net_adopt:
 *
 * At start-up: takes back one <netdev> of a status XML, so that the end of the run (or
 * the clean-up of a run whose QEMU is gone) releases it.
 */
void
vb_domain_net_adopt(VbDomainObj *dom, const char *alias, const char *type, const char *kind,
                    const char *name, gboolean managed, const char *bridge, gboolean ovs,
                    const char *lower, const char *lower_mac)
{
    VbQemuNetPrep *prep = g_new0(VbQemuNetPrep, 1);

    prep->alias = g_strdup(alias);
    prep->type = g_strdup(type);
    prep->kind = g_strdup(kind);
    prep->ifname = g_strdup(name);
    prep->managed = managed;
    prep->bridge = g_strdup(bridge);
    prep->ovs = ovs;
    prep->lower = g_strdup(lower);
    prep->lower_mac = g_strdup(lower_mac);
    add_prep(dom, prep);
}
