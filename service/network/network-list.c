/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "domain-def.h"
#include "network-driver.h"
#include "network-list.h"
#include "store.h"
#include "vb-error.h"

/*
 * The network objects and their persistent definitions. Starting and
 * stopping a network (bridge, dnsmasq, nft rules) is network-driver.c's
 * part; this file keeps the objects' state in step with it.
 *
 * Locks: op_lock serializes what changes a network's life or definition
 * (define, create, start, destroy, update) and is held across the driver's
 * I/O; it is taken before list->lock, which is taken before a network's
 * lock (docs/threads.md). Readers (lookups, GetXMLDesc, leases) never take
 * op_lock.
 */

struct _VbNetworkList {
    GMutex op_lock;
    GMutex lock;
    VbNetworkDriver *driver;
    GHashTable *by_uuid; /* under lock: uuid -> VbNetworkObj (a reference) */
    GHashTable *by_name; /* under lock: name -> VbNetworkObj (borrowed) */
    const VbPaths *paths;
    VbNetworkPathFunc path_func;
    VbNetworkNotifyFunc notify;
    gpointer user_data;
};

/* ---- objects ---- */

static VbNetworkObj *
obj_new(VbNetworkDef *def, const char *path)
{
    VbNetworkObj *net = g_new0(VbNetworkObj, 1);

    net->ref = 1;
    g_mutex_init(&net->lock);
    vb_uuid_format(def->uuid, net->uuid_str);
    net->object_path = g_strdup(path);
    net->def = def;
    return net;
}

VbNetworkObj *
vb_network_obj_ref(VbNetworkObj *net)
{
    g_atomic_int_inc(&net->ref);
    return net;
}

void
vb_network_obj_unref(VbNetworkObj *net)
{
    if (net == NULL || !g_atomic_int_dec_and_test(&net->ref))
        return;
    vb_network_def_free(net->def);
    vb_network_def_free(net->live);
    g_free(net->object_path);
    g_mutex_clear(&net->lock);
    g_free(net);
}

char *
vb_network_obj_get_name(VbNetworkObj *net)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&net->lock);

    return g_strdup(net->def->name);
}

void
vb_network_obj_snapshot(VbNetworkObj *net, VbNetworkSnapshot *out)
{
    const VbNetworkDef *d;

    g_mutex_lock(&net->lock);
    d = net->live != NULL ? net->live : net->def;
    out->name = g_strdup(d->name);
    memcpy(out->uuid, net->uuid_str, sizeof(out->uuid));
    out->active = net->active;
    out->persistent = net->persistent;
    out->autostart = net->autostart;
    out->bridge = g_strdup(d->bridge != NULL ? d->bridge : "");
    g_mutex_unlock(&net->lock);
}

void
vb_network_snapshot_clear(VbNetworkSnapshot *s)
{
    g_clear_pointer(&s->name, g_free);
    g_clear_pointer(&s->bridge, g_free);
}

/* ---- the list ---- */

VbNetworkList *
vb_network_list_new(const VbPaths *paths, VbNetworkPathFunc path_func,
                    VbNetworkNotifyFunc notify, gpointer user_data)
{
    VbNetworkList *list = g_new0(VbNetworkList, 1);

    g_mutex_init(&list->op_lock);
    g_mutex_init(&list->lock);
    {
        g_autoptr(GMainContext) ctx = g_main_context_ref_thread_default();

        list->driver = vb_network_driver_new(paths, ctx);
    }
    list->by_uuid = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify)vb_network_obj_unref);
    list->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    list->paths = paths;
    list->path_func = path_func;
    list->notify = notify;
    list->user_data = user_data;
    return list;
}

void
vb_network_list_free(VbNetworkList *list)
{
    if (list == NULL)
        return;
    g_hash_table_destroy(list->by_name);
    g_hash_table_destroy(list->by_uuid);
    vb_network_driver_free(list->driver);
    g_mutex_clear(&list->lock);
    g_mutex_clear(&list->op_lock);
    g_free(list);
}

static void
notify(VbNetworkList *list, VbNetworkObj *net, VbNetworkNotifyKind kind, const char *event,
       const char *detail)
{
    if (list->notify != NULL)
        list->notify(net, kind, event, detail, list->user_data);
}

/* Under list->lock. */
static void
insert_locked(VbNetworkList *list, VbNetworkObj *net, const char *name)
{
    g_hash_table_insert(list->by_uuid, net->uuid_str, vb_network_obj_ref(net));
    g_hash_table_insert(list->by_name, g_strdup(name), net);
}

/* Under list->lock; @net stays alive for the caller's reference. */
static void
remove_locked(VbNetworkList *list, VbNetworkObj *net, const char *name)
{
    g_mutex_lock(&net->lock);
    net->removed = TRUE;
    g_mutex_unlock(&net->lock);
    g_hash_table_remove(list->by_name, name);
    g_hash_table_remove(list->by_uuid, net->uuid_str);
}

VbNetworkObj *
vb_network_list_find_by_name(VbNetworkList *list, const char *name, GError **error)
{
    VbNetworkObj *net;

    g_mutex_lock(&list->lock);
    net = g_hash_table_lookup(list->by_name, name);
    if (net != NULL)
        vb_network_obj_ref(net);
    g_mutex_unlock(&list->lock);
    if (net == NULL)
        g_set_error(error, VB_ERROR, VB_ERROR_NO_NETWORK, "no network with name '%s'", name);
    return net;
}

VbNetworkObj *
vb_network_list_find_by_uuid(VbNetworkList *list, const char *uuid, GError **error)
{
    unsigned char raw[16];
    char canon[37];
    VbNetworkObj *net = NULL;

    if (!vb_uuid_parse(uuid, raw)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "malformed uuid '%s' (expected 8-4-4-4-12 hexadecimal digits)", uuid);
        return NULL;
    }
    vb_uuid_format(raw, canon);
    g_mutex_lock(&list->lock);
    net = g_hash_table_lookup(list->by_uuid, canon);
    if (net != NULL)
        vb_network_obj_ref(net);
    g_mutex_unlock(&list->lock);
    if (net == NULL)
        g_set_error(error, VB_ERROR, VB_ERROR_NO_NETWORK, "no network with uuid '%s'", canon);
    return net;
}

#define PAIR(a, b, v) (!(flags & ((a) | (b))) || ((flags & (a)) && (v)) || ((flags & (b)) && !(v)))

/* Returns: (transfer full) (element-type VbNetworkObj): sorted by name. */
GPtrArray *
vb_network_list_collect(VbNetworkList *list, guint flags)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vb_network_obj_unref);
    GHashTableIter it;
    gpointer value;

    g_mutex_lock(&list->lock);
    g_hash_table_iter_init(&it, list->by_uuid);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        VbNetworkObj *net = value;
        gboolean ok;

        g_mutex_lock(&net->lock);
        ok = PAIR(VB_NETWORK_LIST_ACTIVE, VB_NETWORK_LIST_INACTIVE, net->active) &&
             PAIR(VB_NETWORK_LIST_PERSISTENT, VB_NETWORK_LIST_TRANSIENT, net->persistent) &&
             PAIR(VB_NETWORK_LIST_AUTOSTART, VB_NETWORK_LIST_NO_AUTOSTART, net->autostart);
        g_mutex_unlock(&net->lock);
        if (ok)
            g_ptr_array_add(out, vb_network_obj_ref(net));
    }
    g_mutex_unlock(&list->lock);
    return out;
}

/* ---- definitions ---- */

static gboolean
link_exists(const char *name)
{
    g_autofree char *p = g_build_filename("/sys/class/net", name, NULL);

    return g_file_test(p, G_FILE_TEST_EXISTS);
}

/* Whether a network other than @uuid uses @bridge. Under list->lock. */
static VbNetworkObj *
bridge_user_locked(VbNetworkList *list, const char *bridge, const char *uuid)
{
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, list->by_uuid);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        VbNetworkObj *other = value;
        gboolean same;

        if (strcmp(other->uuid_str, uuid) == 0)
            continue;
        g_mutex_lock(&other->lock);
        same = (other->def->bridge != NULL && strcmp(other->def->bridge, bridge) == 0) ||
               (other->live != NULL && other->live->bridge != NULL &&
                strcmp(other->live->bridge, bridge) == 0);
        g_mutex_unlock(&other->lock);
        if (same)
            return other;
    }
    return NULL;
}

/* libvirt's networkBridgeNameValidate and networkFindUnusedBridgeName, and
 * the bridge's MAC address (52:54:00:..., as libvirt writes it at define).
 * Under list->lock. */
static gboolean
assign_bridge_locked(VbNetworkList *list, VbNetworkDef *def, const char *uuid, GError **error)
{
    VbNetworkObj *other;

    if (!vb_network_def_has_bridge(def))
        return TRUE;
    if (def->bridge == NULL || strchr(def->bridge, '%') != NULL) {
        const char *tmpl = def->bridge != NULL ? def->bridge : "virbr%d";

        for (int n = 0; n < 256 && def->bridge == NULL; n++) {
            g_autofree char *name = NULL;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            name = g_strdup_printf(tmpl, n);
#pragma GCC diagnostic pop
            if (bridge_user_locked(list, name, uuid) == NULL && !link_exists(name))
                vb_network_def_set_bridge(def, name);
            else if (strchr(tmpl, '%') == NULL)
                break;
        }
        if (def->bridge == NULL || strchr(def->bridge, '%') != NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                        "no free bridge name for network '%s' from the template '%s'",
                        def->name, tmpl);
            return FALSE;
        }
    }
    other = bridge_user_locked(list, def->bridge, uuid);
    if (other != NULL) {
        g_autofree char *name = vb_network_obj_get_name(other);

        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                    "bridge name '%s' is already used by network '%s'; choose another "
                    "<bridge name=> or leave it out", def->bridge, name);
        return FALSE;
    }
    if (def->mac == NULL) {
        unsigned char r[16];

        vb_uuid_generate(r);
        def->mac = g_strdup_printf("52:54:00:%02x:%02x:%02x", r[0], r[1], r[2]);
    }
    return TRUE;
}

/*
 * libvirt's virNetworkObjAssignDef checks: a name and a UUID belong to one
 * network. Returns the existing object with the same name and UUID (to be
 * redefined) in @out_existing. Under list->lock.
 */
static gboolean
check_identity_locked(VbNetworkList *list, const VbNetworkDef *def, const char *uuid,
                      VbNetworkObj **out_existing, GError **error)
{
    VbNetworkObj *by_uuid = g_hash_table_lookup(list->by_uuid, uuid);
    VbNetworkObj *by_name = g_hash_table_lookup(list->by_name, def->name);

    if (by_uuid != NULL && by_uuid != by_name) {
        g_autofree char *other = vb_network_obj_get_name(by_uuid);

        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                    "network '%s' already exists with uuid %s; a network keeps its uuid",
                    other, uuid);
        return FALSE;
    }
    if (by_name != NULL && by_uuid == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                    "network '%s' is already defined with uuid %s", def->name,
                    by_name->uuid_str);
        return FALSE;
    }
    *out_existing = by_name;
    return TRUE;
}

static VbNetworkDef *
parse_checked(const char *xml, GError **error)
{
    g_autoptr(VbNetworkDef) def = vb_network_def_parse_string(xml, error);

    if (def == NULL)
        return NULL;
    if (def->forward_mode == VB_NETWORK_FORWARD_PRIVATE ||
        def->forward_mode == VB_NETWORK_FORWARD_VEPA ||
        def->forward_mode == VB_NETWORK_FORWARD_PASSTHROUGH ||
        def->forward_mode == VB_NETWORK_FORWARD_HOSTDEV) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "<forward mode='%s'> (a pool of host interfaces) is not supported; use "
                    "nat, route, open, bridge or no <forward>",
                    vb_network_forward_mode_to_string(def->forward_mode));
        return NULL;
    }
    def->uuid_given = TRUE;
    return g_steal_pointer(&def);
}

static gboolean
write_config(VbNetworkList *list, const VbNetworkDef *def, GError **error)
{
    g_autofree char *path = vb_paths_network_config(list->paths, def->name);
    g_autofree char *xml = vb_network_def_format(def);

    return vb_store_write_atomic(path, xml, -1, 0600, error);
}

/**
 * vb_network_define_xml:
 *
 * Defines (or redefines) a persistent network and writes its config.
 * Worker threads.
 *
 * Returns: (transfer full): the network.
 */
VbNetworkObj *
vb_network_define_xml(VbNetworkList *list, const char *xml, GError **error)
{
    g_autoptr(VbNetworkDef) def = parse_checked(xml, error);
    VbNetworkObj *existing = NULL;
    VbNetworkObj *net;
    char uuid[37];
    gboolean added = FALSE;

    if (def == NULL)
        return NULL;
    vb_uuid_format(def->uuid, uuid);
    g_mutex_lock(&list->op_lock);
    g_mutex_lock(&list->lock);
    if (!check_identity_locked(list, def, uuid, &existing, error) ||
        !assign_bridge_locked(list, def, uuid, error) || !write_config(list, def, error)) {
        g_mutex_unlock(&list->lock);
        g_mutex_unlock(&list->op_lock);
        return NULL;
    }
    if (existing != NULL) {
        net = vb_network_obj_ref(existing);
        g_mutex_lock(&net->lock);
        vb_network_def_free(net->def);
        net->def = g_steal_pointer(&def);
        net->persistent = TRUE;
        g_mutex_unlock(&net->lock);
    } else {
        g_autofree char *path = list->path_func(uuid);
        g_autofree char *name = g_strdup(def->name);

        net = obj_new(g_steal_pointer(&def), path);
        net->persistent = TRUE;
        insert_locked(list, net, name);
        added = TRUE;
    }
    g_mutex_unlock(&list->lock);
    g_mutex_unlock(&list->op_lock);
    notify(list, net, added ? VB_NETWORK_NOTIFY_ADDED : VB_NETWORK_NOTIFY_CHANGED, "defined",
           added ? "added" : "updated");
    return net;
}

/* "ADDRESS/PREFIX" of the running networks other than @except. Under list->lock. */
static char **
active_subnets_locked(VbNetworkList *list, VbNetworkObj *except)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, list->by_uuid);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        VbNetworkObj *other = value;

        if (other == except)
            continue;
        g_mutex_lock(&other->lock);
        if (other->active && other->live != NULL) {
            for (guint i = 0; i < other->live->ips->len; i++) {
                const VbNetworkIp *ip = g_ptr_array_index(other->live->ips, i);

                g_ptr_array_add(out, g_strdup_printf("%s/%u", ip->address,
                                                     vb_network_ip_prefix(ip)));
            }
        }
        g_mutex_unlock(&other->lock);
    }
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&out), FALSE);
}

/**
 * vb_network_create_xml:
 *
 * NetworkCreateXML: a transient network, started at once; it joins the
 * list only once it runs. Worker threads.
 */
VbNetworkObj *
vb_network_create_xml(VbNetworkList *list, const char *xml, GError **error)
{
    g_autoptr(VbNetworkDef) def = parse_checked(xml, error);
    g_auto(GStrv) subnets = NULL;
    g_autofree char *path = NULL;
    g_autofree char *name = NULL;
    VbNetworkObj *existing = NULL;
    VbNetworkObj *net;
    VbNetworkDef *live;
    char uuid[37];

    if (def == NULL)
        return NULL;
    vb_uuid_format(def->uuid, uuid);
    g_mutex_lock(&list->op_lock);
    g_mutex_lock(&list->lock);
    if (!check_identity_locked(list, def, uuid, &existing, error)) {
        g_mutex_unlock(&list->lock);
        g_mutex_unlock(&list->op_lock);
        return NULL;
    }
    if (existing != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                    "network '%s' already exists (uuid %s); start it with Start, or create "
                    "the transient network with another name and uuid", def->name, uuid);
        g_mutex_unlock(&list->lock);
        g_mutex_unlock(&list->op_lock);
        return NULL;
    }
    if (!assign_bridge_locked(list, def, uuid, error)) {
        g_mutex_unlock(&list->lock);
        g_mutex_unlock(&list->op_lock);
        return NULL;
    }
    subnets = active_subnets_locked(list, NULL);
    g_mutex_unlock(&list->lock);
    if (!vb_network_driver_check(list->driver, def, (const char *const *)subnets, error) ||
        !vb_network_driver_start(list->driver, def, error)) {
        g_mutex_unlock(&list->op_lock);
        return NULL;
    }
    live = vb_network_def_copy(def, NULL);
    name = g_strdup(def->name);
    path = list->path_func(uuid);
    net = obj_new(g_steal_pointer(&def), path);
    net->live = live;
    net->active = TRUE;
    g_mutex_lock(&list->lock);
    insert_locked(list, net, name);
    g_mutex_unlock(&list->lock);
    g_mutex_unlock(&list->op_lock);
    notify(list, net, VB_NETWORK_NOTIFY_ADDED, "started", "");
    return net;
}

/**
 * vb_network_undefine:
 *
 * Removes the persistent config and autostart link; an inactive network
 * leaves the list, a running one becomes transient. Worker threads.
 */
gboolean
vb_network_undefine(VbNetworkList *list, VbNetworkObj *net, GError **error)
{
    g_autofree char *name = NULL;
    g_autofree char *config = NULL;
    g_autofree char *autostart = NULL;
    gboolean active;

    g_mutex_lock(&list->lock);
    g_mutex_lock(&net->lock);
    if (net->removed || !net->persistent) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "network '%s' is not persistent",
                    net->def->name);
        g_mutex_unlock(&net->lock);
        g_mutex_unlock(&list->lock);
        return FALSE;
    }
    name = g_strdup(net->def->name);
    active = net->active;
    g_mutex_unlock(&net->lock);
    config = vb_paths_network_config(list->paths, name);
    autostart = vb_paths_network_autostart(list->paths, name);
    if (!vb_store_remove(autostart, error) || !vb_store_remove(config, error)) {
        g_mutex_unlock(&list->lock);
        return FALSE;
    }
    g_mutex_lock(&net->lock);
    net->persistent = FALSE;
    net->autostart = FALSE;
    g_mutex_unlock(&net->lock);
    if (!active)
        remove_locked(list, net, name);
    g_mutex_unlock(&list->lock);
    notify(list, net, active ? VB_NETWORK_NOTIFY_CHANGED : VB_NETWORK_NOTIFY_REMOVED,
           "undefined", "removed");
    return TRUE;
}

/* Starts @net; list->op_lock held. */
static gboolean
start_op(VbNetworkList *list, VbNetworkObj *net, GError **error)
{
    g_autoptr(VbNetworkDef) live = NULL;
    g_auto(GStrv) subnets = NULL;

    g_mutex_lock(&list->lock);
    g_mutex_lock(&net->lock);
    if (net->removed) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_NETWORK, "network '%s' no longer exists",
                    net->def->name);
    } else if (net->active) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "network '%s' is already active",
                    net->def->name);
    } else {
        live = vb_network_def_copy(net->def, error);
    }
    g_mutex_unlock(&net->lock);
    if (live == NULL || !assign_bridge_locked(list, live, net->uuid_str, error)) {
        g_mutex_unlock(&list->lock);
        return FALSE;
    }
    subnets = active_subnets_locked(list, net);
    g_mutex_unlock(&list->lock);
    if (!vb_network_driver_check(list->driver, live, (const char *const *)subnets, error) ||
        !vb_network_driver_start(list->driver, live, error))
        return FALSE;
    g_mutex_lock(&net->lock);
    vb_network_def_free(net->live);
    net->live = g_steal_pointer(&live);
    net->active = TRUE;
    g_mutex_unlock(&net->lock);
    notify(list, net, VB_NETWORK_NOTIFY_CHANGED, "started", "");
    return TRUE;
}

/**
 * vb_network_start:
 *
 * Starts a defined network (network-driver.c: bridge, addresses, nft
 * chains, dnsmasq, status file); on failure nothing is left. Worker
 * threads.
 */
gboolean
vb_network_start(VbNetworkList *list, VbNetworkObj *net, GError **error)
{
    gboolean ok;

    g_mutex_lock(&list->op_lock);
    ok = start_op(list, net, error);
    g_mutex_unlock(&list->op_lock);
    return ok;
}

/**
 * vb_network_destroy:
 *
 * Stops a running network; a transient one leaves the list. Worker threads.
 */
gboolean
vb_network_destroy(VbNetworkList *list, VbNetworkObj *net, GError **error)
{
    g_autoptr(VbNetworkDef) live = NULL;
    g_autofree char *name = NULL;
    gboolean transient;

    g_mutex_lock(&list->op_lock);
    g_mutex_lock(&net->lock);
    name = g_strdup(net->def->name);
    if (net->removed) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_NETWORK, "network '%s' no longer exists",
                    name);
    } else if (!net->active || net->live == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "network '%s' is not active",
                    name);
    } else {
        live = vb_network_def_copy(net->live, error);
    }
    g_mutex_unlock(&net->lock);
    if (live == NULL) {
        g_mutex_unlock(&list->op_lock);
        return FALSE;
    }
    vb_network_driver_stop(list->driver, live, NULL);
    g_mutex_lock(&list->lock);
    g_mutex_lock(&net->lock);
    net->active = FALSE;
    g_clear_pointer(&net->live, vb_network_def_free);
    transient = !net->persistent;
    g_mutex_unlock(&net->lock);
    if (transient)
        remove_locked(list, net, name);
    g_mutex_unlock(&list->lock);
    g_mutex_unlock(&list->op_lock);
    notify(list, net, transient ? VB_NETWORK_NOTIFY_REMOVED : VB_NETWORK_NOTIFY_CHANGED,
           "stopped", "destroyed");
    return TRUE;
}

/**
 * vb_network_set_autostart:
 *
 * The autostart symlink (libvirt's), only for persistent networks. Worker
 * threads.
 */
gboolean
vb_network_set_autostart(VbNetworkList *list, VbNetworkObj *net, gboolean autostart,
                         GError **error)
{
    g_autofree char *name = NULL;
    g_autofree char *link = NULL;
    g_autofree char *config = NULL;
    gboolean persistent, current;

    g_mutex_lock(&list->lock);
    g_mutex_lock(&net->lock);
    name = g_strdup(net->def->name);
    persistent = net->persistent && !net->removed;
    current = net->autostart;
    g_mutex_unlock(&net->lock);
    if (!persistent) {
        g_mutex_unlock(&list->lock);
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "cannot set autostart for transient network '%s'", name);
        return FALSE;
    }
    if (current == autostart) {
        g_mutex_unlock(&list->lock);
        return TRUE;
    }
    link = vb_paths_network_autostart(list->paths, name);
    config = vb_paths_network_config(list->paths, name);
    if (autostart) {
        if (symlink(config, link) < 0 && errno != EEXIST) {
            int e = errno;

            g_mutex_unlock(&list->lock);
            g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot create autostart link '%s': %s",
                        link, g_strerror(e));
            return FALSE;
        }
    } else if (!vb_store_remove(link, error)) {
        g_mutex_unlock(&list->lock);
        return FALSE;
    }
    g_mutex_lock(&net->lock);
    net->autostart = autostart;
    g_mutex_unlock(&net->lock);
    g_mutex_unlock(&list->lock);
    notify(list, net, VB_NETWORK_NOTIFY_CHANGED, NULL, NULL);
    return TRUE;
}

/* GetXMLDesc: the running definition, or with INACTIVE the persistent one. */
char *
vb_network_get_xml_desc(VbNetworkObj *net, guint flags, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&net->lock);
    const VbNetworkDef *d = net->def;

    if (flags & ~VB_NETWORK_XML_INACTIVE) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "GetXMLDesc: unsupported flags 0x%x",
                    flags & ~VB_NETWORK_XML_INACTIVE);
        return NULL;
    }
    if (!(flags & VB_NETWORK_XML_INACTIVE) && net->live != NULL)
        d = net->live;
    return vb_network_def_format(d);
}

/**
 * vb_network_update:
 *
 * libvirt's virNetworkUpdate: AFFECT_CONFIG changes the definition (and
 * writes it), AFFECT_LIVE the running network (dnsmasq's hosts files
 * rewritten, dnsmasq re-reads them; the status file). Both are checked
 * before anything changes. Worker threads.
 */
gboolean
vb_network_update(VbNetworkList *list, VbNetworkObj *net, guint command, guint section,
                  int index, const char *xml, guint flags, GError **error)
{
    g_autoptr(VbNetworkDef) copy = NULL;
    g_autoptr(VbNetworkDef) live = NULL;
    g_autofree char *name = NULL;
    gboolean active, persistent, ok = FALSE;

    if (flags & ~(VB_NETWORK_UPDATE_AFFECT_LIVE | VB_NETWORK_UPDATE_AFFECT_CONFIG)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "Update: unsupported flags 0x%x",
                    flags & ~(VB_NETWORK_UPDATE_AFFECT_LIVE | VB_NETWORK_UPDATE_AFFECT_CONFIG));
        return FALSE;
    }
    g_mutex_lock(&list->op_lock);
    g_mutex_lock(&net->lock);
    name = g_strdup(net->def->name);
    active = net->active && net->live != NULL;
    persistent = net->persistent && !net->removed;
    if (flags == 0)
        flags = active ? VB_NETWORK_UPDATE_AFFECT_LIVE : VB_NETWORK_UPDATE_AFFECT_CONFIG;
    if (net->removed) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_NETWORK, "network '%s' no longer exists",
                    name);
    } else if ((flags & VB_NETWORK_UPDATE_AFFECT_LIVE) && !active) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "network '%s' is not active: its live definition cannot change", name);
    } else if ((flags & VB_NETWORK_UPDATE_AFFECT_CONFIG) && !persistent) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "network '%s' is transient: it has no persistent definition", name);
    } else {
        ok = TRUE;
        if (flags & VB_NETWORK_UPDATE_AFFECT_CONFIG)
            ok = (copy = vb_network_def_copy(net->def, error)) != NULL;
        if (ok && (flags & VB_NETWORK_UPDATE_AFFECT_LIVE))
            ok = (live = vb_network_def_copy(net->live, error)) != NULL;
    }
    g_mutex_unlock(&net->lock);
    if (!ok)
        goto out;
    ok = FALSE;
    if (copy != NULL && (!vb_network_def_update(copy, command, section, index, xml, flags, error) ||
                         !vb_network_def_validate(copy, error)))
        goto out;
    if (live != NULL && (!vb_network_def_update(live, command, section, index, xml, flags, error) ||
                         !vb_network_def_validate(live, error)))
        goto out;
    if (live != NULL && !vb_network_driver_update(list->driver, live, error))
        goto out;
    g_mutex_lock(&list->lock);
    if (copy != NULL && !write_config(list, copy, error)) {
        g_mutex_unlock(&list->lock);
        goto out;
    }
    g_mutex_lock(&net->lock);
    if (copy != NULL) {
        vb_network_def_free(net->def);
        net->def = g_steal_pointer(&copy);
    }
    if (live != NULL) {
        vb_network_def_free(net->live);
        net->live = g_steal_pointer(&live);
    }
    g_mutex_unlock(&net->lock);
    g_mutex_unlock(&list->lock);
    ok = TRUE;
out:
    g_mutex_unlock(&list->op_lock);
    if (ok)
        notify(list, net, VB_NETWORK_NOTIFY_CHANGED, NULL, NULL);
    return ok;
}

/**
 * vb_network_list_load:
 *
 * Reads every persistent network config at start-up; a config that does
 * not parse, names another network than its file, or repeats a UUID is
 * logged and skipped. Main thread, before the bus name is owned.
 */
guint
vb_network_list_load(VbNetworkList *list)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) entries = NULL;
    guint loaded = 0;

    vb_store_remove_stale_temps(list->paths->network_config_dir);
    entries = vb_store_read_dir(list->paths->network_config_dir, ".xml", &error);
    if (entries == NULL) {
        g_warning("cannot load network configs: %s", error->message);
        return 0;
    }
    for (guint i = 0; i < entries->len; i++) {
        VbStoreEntry *e = entries->pdata[i];
        g_autoptr(GError) err = NULL;
        g_autoptr(VbNetworkDef) def = parse_checked(e->contents, &err);
        g_autofree char *base = g_path_get_basename(e->path);
        g_autofree char *path = NULL;
        g_autofree char *autostart = NULL;
        g_autofree char *name = NULL;
        VbNetworkObj *net;
        char uuid[37];

        if (def == NULL) {
            g_warning("skipping network config '%s': %s", e->path, err->message);
            continue;
        }
        if (strlen(base) != strlen(def->name) + 4 || !g_str_has_prefix(base, def->name)) {
            g_warning("skipping network config '%s': it defines network '%s', expected in "
                      "'%s.xml'", e->path, def->name, def->name);
            continue;
        }
        vb_uuid_format(def->uuid, uuid);
        g_mutex_lock(&list->lock);
        if (g_hash_table_contains(list->by_uuid, uuid)) {
            g_mutex_unlock(&list->lock);
            g_warning("skipping network config '%s': uuid %s is already used", e->path, uuid);
            continue;
        }
        name = g_strdup(def->name);
        path = list->path_func(uuid);
        autostart = vb_paths_network_autostart(list->paths, name);
        net = obj_new(g_steal_pointer(&def), path);
        net->persistent = TRUE;
        net->autostart = g_file_test(autostart, G_FILE_TEST_EXISTS);
        insert_locked(list, net, name);
        g_mutex_unlock(&list->lock);
        notify(list, net, VB_NETWORK_NOTIFY_ADDED, NULL, NULL);
        vb_network_obj_unref(net);
        loaded++;
    }
    return loaded;
}

/* ---- what domains see of a network ---- */

void
vb_network_port_clear(VbNetworkPort *port)
{
    g_clear_pointer(&port->network, g_free);
    g_clear_pointer(&port->bridge, g_free);
    memset(port, 0, sizeof(*port));
}

/**
 * vb_network_list_port_lookup:
 * @name: the network's name (<source network=>)
 * @out: (out caller-allocates): the network's bridge, MTU and forward mode;
 *   vb_network_port_clear() it
 *
 * What a tap for <interface type='network'> is attached to. Any thread.
 *
 * Returns: FALSE with NoNetwork when no network has that name, with
 *   OperationInvalid when it is not running.
 */
gboolean
vb_network_list_port_lookup(VbNetworkList *list, const char *name, VbNetworkPort *out,
                            GError **error)
{
    g_autoptr(VbNetworkObj) net = vb_network_list_find_by_name(list, name, error);
    const VbNetworkDef *def;

    memset(out, 0, sizeof(*out));
    if (net == NULL)
        return FALSE;
    g_mutex_lock(&net->lock);
    def = net->live;
    if (!net->active || def == NULL) {
        g_mutex_unlock(&net->lock);
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "network '%s' is not active; start it first (virtbusctl net-start %s)",
                    name, name);
        return FALSE;
    }
    out->network = g_strdup(def->name);
    memcpy(out->uuid, net->uuid_str, sizeof(out->uuid));
    out->bridge = g_strdup(def->bridge);
    out->mtu = def->mtu;
    out->forward_mode = def->forward_present ? def->forward_mode : VB_NETWORK_FORWARD_NONE;
    g_mutex_unlock(&net->lock);
    if (out->bridge == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "network '%s' has no bridge to attach an interface to", name);
        vb_network_port_clear(out);
        return FALSE;
    }
    return TRUE;
}

/**
 * vb_network_list_get_leases:
 * @mac: (nullable): only the leases of this MAC (canonical, lower case)
 *
 * The DHCP leases dnsmasq gave on a running network. Worker threads.
 *
 * Returns: (transfer full) (element-type VbDnsmasqLease): the leases, or
 *   NULL with OperationInvalid when the network is not running.
 */
GPtrArray *
vb_network_list_get_leases(VbNetworkList *list, VbNetworkObj *net, const char *mac,
                           GError **error)
{
    g_autofree char *name = NULL;
    gboolean active;

    g_mutex_lock(&net->lock);
    active = net->active && !net->removed;
    name = g_strdup(net->live != NULL ? net->live->name : net->def->name);
    g_mutex_unlock(&net->lock);
    if (!active) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE, "network '%s' is not active",
                    name);
        return NULL;
    }
    return vb_network_driver_get_leases(list->driver, name, mac, error);
}

/* ---- service start: reconnect, default network, autostart ---- */

/**
 * vb_network_list_reconnect:
 *
 * Takes back the networks a previous service left running (their status
 * files; network-driver.c adopts bridge and dnsmasq, adds their nft chains
 * again). Nothing else of the host is read or changed: chains or links no
 * status file names are not ours to remove. A running network without a
 * persistent config joins the list as transient. Main thread, after
 * vb_network_list_load(), before the bus name is owned.
 *
 * Returns: how many networks run.
 */
guint
vb_network_list_reconnect(VbNetworkList *list)
{
    g_autoptr(GPtrArray) lives = vb_network_driver_reconnect(list->driver);
    guint n = 0;

    for (guint i = 0; i < lives->len; i++) {
        VbNetworkDef *live = lives->pdata[i];
        g_autoptr(VbNetworkObj) net = NULL;
        char uuid[37];
        gboolean added = FALSE;

        vb_uuid_format(live->uuid, uuid);
        g_mutex_lock(&list->lock);
        net = g_hash_table_lookup(list->by_uuid, uuid);
        if (net != NULL) {
            vb_network_obj_ref(net);
        } else if (!g_hash_table_contains(list->by_name, live->name)) {
            g_autofree char *path = list->path_func(uuid);
            VbNetworkDef *def = vb_network_def_copy(live, NULL);

            if (def != NULL) {
                net = obj_new(def, path);
                insert_locked(list, net, live->name);
                added = TRUE;
            }
        }
        if (net != NULL) {
            g_mutex_lock(&net->lock);
            vb_network_def_free(net->live);
            net->live = g_steal_pointer(&lives->pdata[i]);
            net->active = TRUE;
            g_mutex_unlock(&net->lock);
            n++;
        } else {
            g_warning("running network '%s' (uuid %s) clashes with a defined network of that "
                      "name; left alone", live->name, uuid);
        }
        g_mutex_unlock(&list->lock);
        if (net != NULL)
            notify(list, net, added ? VB_NETWORK_NOTIFY_ADDED : VB_NETWORK_NOTIFY_CHANGED, NULL,
                   NULL);
    }
    return n;
}

/**
 * vb_network_list_autostart:
 *
 * Starts the persistent networks marked autostart that do not run; a
 * failure is logged. Main thread at service start (blocks while dnsmasq
 * starts), after vb_network_list_reconnect().
 *
 * Returns: how many started.
 */
guint
vb_network_list_autostart(VbNetworkList *list)
{
    g_autoptr(GPtrArray) nets = vb_network_list_collect(
        list, VB_NETWORK_LIST_INACTIVE | VB_NETWORK_LIST_PERSISTENT | VB_NETWORK_LIST_AUTOSTART);
    guint n = 0;

    for (guint i = 0; i < nets->len; i++) {
        VbNetworkObj *net = nets->pdata[i];
        g_autoptr(GError) error = NULL;
        g_autofree char *name = vb_network_obj_get_name(net);

        if (vb_network_start(list, net, &error)) {
            g_message("autostarted network '%s'", name);
            n++;
        } else {
            g_warning("cannot autostart network '%s': %s", name, error->message);
        }
    }
    return n;
}

/**
 * vb_network_list_ensure_default:
 *
 * On the service's first start (no marker file `network-default` in the
 * data directory yet) defines libvirt's `default` network on the first free
 * subnet (192.168.122.0/24, else 192.168.1xx.0/24; routes and addresses of
 * the host and other networks' subnets count) and marks it autostart, as
 * libvirt's packaging does. Once done (or when a network named `default`
 * exists), never again: an undefined default stays undefined. Main thread at
 * service start, before vb_network_list_autostart().
 *
 * Returns: %TRUE when the default network was defined now.
 */
gboolean
vb_network_list_ensure_default(VbNetworkList *list)
{
    g_autofree char *marker = g_build_filename(list->paths->data_dir, "network-default", NULL);
    g_autoptr(GPtrArray) used = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) all = NULL;
    g_autoptr(VbNetworkObj) existing = NULL;
    g_autoptr(VbNetworkObj) net = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) host = NULL;
    g_autofree char *xml = NULL;
    gboolean done = FALSE;

    if (g_file_test(marker, G_FILE_TEST_EXISTS))
        return FALSE;
    existing = vb_network_list_find_by_name(list, "default", NULL);
    if (existing == NULL) {
        host = vb_network_driver_host_subnets();
        for (guint i = 0; host[i] != NULL; i++)
            g_ptr_array_add(used, g_strdup(host[i]));
        all = vb_network_list_collect(list, 0);
        for (guint i = 0; i < all->len; i++) {
            VbNetworkObj *o = all->pdata[i];

            g_mutex_lock(&o->lock);
            for (guint j = 0; j < o->def->ips->len; j++) {
                const VbNetworkIp *ip = g_ptr_array_index(o->def->ips, j);

                g_ptr_array_add(used, g_strdup_printf("%s/%u", ip->address,
                                                      vb_network_ip_prefix(ip)));
            }
            g_mutex_unlock(&o->lock);
        }
        g_ptr_array_add(used, NULL);
        xml = vb_network_default_xml((const char *const *)used->pdata);
        if (xml == NULL) {
            g_warning("no default network: every subnet 192.168.122.0/24 and "
                      "192.168.100-254.0/24 is in use on this host");
        } else if ((net = vb_network_define_xml(list, xml, &error)) == NULL ||
                   !vb_network_set_autostart(list, net, TRUE, &error)) {
            g_warning("cannot define the default network: %s", error->message);
            return FALSE;
        } else {
            g_message("defined the default network (autostart)");
            done = TRUE;
        }
    }
    if (!vb_store_write_atomic(marker, "", 0, 0644, &error))
        g_warning("cannot write '%s': %s", marker, error->message);
    return done;
}

/**
 * vb_network_list_get_dnsmasq_pid:
 *
 * Returns: the pid of network @name's dnsmasq, 0 when none runs.
 */
GPid
vb_network_list_get_dnsmasq_pid(VbNetworkList *list, const char *name)
{
    return vb_network_driver_get_dnsmasq_pid(list->driver, name);
}
