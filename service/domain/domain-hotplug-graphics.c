/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A running display's password (issue 13): what QMP's set_password and expire_password
 * take, at start and through UpdateDevice, as libvirt's qemuDomainChangeGraphicsPasswords
 * and qemuDomainChangeGraphics.
 *
 * - At start the password of every VNC and SPICE display with passwd= goes over QMP
 *   before the guest runs (never on the command line, where ps shows it), with its
 *   connected= action and its passwdValidTo (expire_password: "never", "now" or the time).
 * - UpdateDevice LIVE of a <graphics> changes only these; a change of listen address,
 *   port, autoport, TLS port or keymap is NotSupported with libvirt's words. The live
 *   definition keeps the new password (the status file has it; GetXMLDesc shows it with
 *   SECURE only).
 */

#include "config.h"

#include <string.h>

#include "domain-def-hotplug.h"
#include "domain-hotplug-priv.h"
#include "domain-list-priv.h"
#include "vb-error.h"
#include "vb-log.h"

/**
 * vb_domain_graphics_auth_apply:
 * @mon: the domain's monitor
 * @auth: a display's password settings
 * @timeout_ms: for each QMP command
 *
 * set_password (with connected= when given) then expire_password: "now" for an empty
 * password or a passwdValidTo in the past, the time for one in the future, else "never".
 */
gboolean
vb_domain_graphics_auth_apply(VbQemuMonitor *mon, const VbGraphicsAuth *auth, guint timeout_ms,
                              GError **error)
{
    g_autoptr(JsonNode) r = NULL;
    g_autoptr(JsonNode) r2 = NULL;
    g_autofree char *when = NULL;
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "protocol", auth->protocol);
    json_object_set_string_member(args, "password", auth->passwd);
    if (auth->connected != NULL)
        json_object_set_string_member(args, "connected", auth->connected);
    r = vb_qemu_monitor_command(mon, "set_password", args, timeout_ms, error);
    if (r == NULL) {
        g_prefix_error(error, "set_password (%s): ", auth->protocol);
        return FALSE;
    }
    if (auth->passwd[0] == '\0' ||
        (auth->expires && auth->valid_to <= g_get_real_time() / G_USEC_PER_SEC))
        when = g_strdup("now");
    else if (auth->expires)
        when = g_strdup_printf("%" G_GINT64_FORMAT, auth->valid_to);
    else
        when = g_strdup("never");
    args = json_object_new();
    json_object_set_string_member(args, "protocol", auth->protocol);
    json_object_set_string_member(args, "time", when);
    r2 = vb_qemu_monitor_command(mon, "expire_password", args, timeout_ms, error);
    if (r2 == NULL) {
        g_prefix_error(error, "expire_password (%s): ", auth->protocol);
        return FALSE;
    }
    return TRUE;
}

/* the <listen> children of a display */
static GPtrArray *
listens_of(const VbDeviceDef *dev)
{
    GPtrArray *out = g_ptr_array_new();
    GPtrArray *ch = dev->extra.children;

    for (guint i = 0; ch != NULL && i < ch->len; i++) {
        VbRawElem *raw = g_ptr_array_index(ch, i);

        if (strcmp(raw->name, "listen") == 0)
            g_ptr_array_add(out, raw);
    }
    return out;
}

/* libvirt's checks of qemuDomainChangeGraphics on the listen addresses; what the update
 * leaves out keeps its value */
static gboolean
check_listens(const VbDeviceDef *was, const VbDeviceDef *neu, GError **error)
{
    static const char *const keys[] = { "address", "network", "socket" };
    g_autoptr(GPtrArray) a = listens_of(was);
    g_autoptr(GPtrArray) b = listens_of(neu);
    const char *type = neu->type;

    if (neu->listen != NULL && g_strcmp0(neu->listen, was->listen) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "cannot change listen address setting on '%s' graphics", type);
        return FALSE;
    }
    if (b->len == 0)
        return TRUE;
    if (a->len != b->len) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "cannot change the number of listen addresses on '%s' graphics", type);
        return FALSE;
    }
    for (guint i = 0; i < b->len; i++) {
        g_autofree char *ta = vb_raw_elem_get_attr(g_ptr_array_index(a, i), "type");
        g_autofree char *tb = vb_raw_elem_get_attr(g_ptr_array_index(b, i), "type");

        if (g_strcmp0(ta != NULL ? ta : "address", tb != NULL ? tb : "address") != 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "cannot change the type of listen address on '%s' graphics", type);
            return FALSE;
        }
        for (guint k = 0; k < G_N_ELEMENTS(keys); k++) {
            g_autofree char *va = vb_raw_elem_get_attr(g_ptr_array_index(a, i), keys[k]);
            g_autofree char *vbb = vb_raw_elem_get_attr(g_ptr_array_index(b, i), keys[k]);

            if (vbb != NULL && g_strcmp0(va, vbb) != 0) {
                g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "cannot change listen %s setting on '%s' graphics",
                            k == 2 ? "socket" : "address", type);
                return FALSE;
            }
        }
    }
    return TRUE;
}

/* ports and keymap, as libvirt: what the update gives must be what runs */
static gboolean
check_ports(const VbDeviceDef *was, const VbDeviceDef *neu, GError **error)
{
    const char *type = neu->type;
    const char *tls = vb_extra_get_attr(&neu->extra, "tlsPort");
    const char *keymap = vb_extra_get_attr(&neu->extra, "keymap");
    gboolean was_auto = was->autoport == 1 || was->port < 0;

    if ((neu->autoport >= 0 && (neu->autoport == 1) != was_auto) ||
        (neu->autoport != 1 && neu->port > 0 && neu->port != was->port) ||
        (neu->autoport != 1 && tls != NULL && strcmp(tls, "-1") != 0 &&
         g_strcmp0(tls, vb_extra_get_attr(&was->extra, "tlsPort")) != 0)) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "cannot change port settings on %s graphics", type);
        return FALSE;
    }
    if (keymap != NULL && g_strcmp0(keymap, vb_extra_get_attr(&was->extra, "keymap")) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "cannot change keymap setting on %s graphics", type);
        return FALSE;
    }
    return TRUE;
}

/* whether QEMU must be told (libvirt's rule: a lifetime was or is set, the action
 * changed or is "disconnect", or the password differs) */
static gboolean
auth_changes(const VbGraphicsAuth *a, const VbGraphicsAuth *b)
{
    return a->expires || b->expires || g_strcmp0(a->connected, b->connected) != 0 ||
           g_strcmp0(b->connected, "disconnect") == 0 || g_strcmp0(a->passwd, b->passwd) != 0;
}

/**
 * vb_domain_hotplug_update_graphics:
 * @dom: the running domain, with the modify job
 * @mon: its monitor
 * @live: a copy of its live definition (@old is in it; taken out)
 * @run: the run @live was copied from
 * @old: the display to change
 * @xml: the display as it is to be
 *
 * libvirt's qemuDomainChangeGraphics.
 */
gboolean
vb_domain_hotplug_update_graphics(VbDomainObj *dom, VbQemuMonitor *mon, VbDomainDef *live,
                                  guint64 run, VbDeviceDef *old, const char *xml,
                                  GError **error)
{
    g_auto(VbGraphicsAuth) a = { 0 };
    g_auto(VbGraphicsAuth) b = { 0 };
    GPtrArray *devs = live->priv->devices;
    VbDeviceDef *was = NULL, *neu;
    gboolean ok;
    guint idx;

    if (!g_ptr_array_find(devs, old, &idx))
        return vb_error_ensure(error);
    was = vb_domain_def_steal_device(live, old);
    neu = vb_domain_def_hotplug_parse(live, xml, error);
    ok = neu != NULL && check_listens(was, neu, error) && check_ports(was, neu, error);
    if (ok && was->passwd != NULL && neu->passwd == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "the password of a running %s display cannot be removed (QEMU keeps "
                    "asking for one); give a new passwd=, or passwd='' to lock the display",
                    neu->type);
        ok = FALSE;
    }
    if (ok && neu->passwd != NULL) {
        vb_graphics_auth_get(was, &a);
        vb_graphics_auth_get(neu, &b);
        if (a.protocol == NULL)
            a.protocol = g_strdup(neu->type);
        ok = !auth_changes(&a, &b) || vb_domain_graphics_auth_apply(mon, &b, 30000, error);
    }
    if (ok) {
        g_mutex_lock(&dom->lock);
        if (dom->id >= 0 && dom->run == run && idx < dom->def->priv->devices->len) {
            VbDeviceDef *cur = g_ptr_array_index(dom->def->priv->devices, idx);

            if (cur->kind == VB_DEV_GRAPHICS && g_strcmp0(cur->type, neu->type) == 0)
                vb_graphics_auth_copy_to(cur, neu);
        }
        g_mutex_unlock(&dom->lock);
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "%s display: password %s", neu->type,
                      auth_changes(&a, &b) ? "changed" : "unchanged");
    }
    vb_device_def_free(was);
    return ok;
}
