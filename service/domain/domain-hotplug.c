/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Devices while running (issue 13, part hotplug), as libvirt 9.0's qemu_hotplug.c:
 *
 * - AttachDevice parses the device against a copy of the live definition (defaults,
 *   alias, PCI address as a define gives them), builds its options with the command-line
 *   builder (vb_qemu_command_hotplug()) and sends them (blockdev-add, device_add), taking
 *   back what was added when a later step fails. CONFIG adds it to a copy of the
 *   persistent definition, written like DefineXML writes it, then swapped in.
 * - DetachDevice sends device_del and waits up to 5 s for DEVICE_DELETED; the removal
 *   (blockdev-del of the disk's nodes, the live definition, the status file, the
 *   DeviceRemoved signal) then finishes here, or later in the event worker when the guest
 *   takes longer (the call succeeds: the device goes when the guest releases it).
 *   DetachDeviceAlias does not wait (libvirt's async detach).
 * - UpdateDevice changes the medium of a cdrom or floppy (blockdev-open-tray,
 *   blockdev-remove-medium, blockdev-add + blockdev-insert-medium, blockdev-close-tray).
 *
 * Every call takes the domain's modify job and talks to QEMU without the domain lock.
 * Worker threads. The events (DEVICE_DELETED, ...) and the reconnect after a service
 * restart are in domain-hotplug-events.c.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "domain-agent.h"
#include "domain-def-hotplug.h"
#include "domain-hotplug-net.h"
#include "domain-hotplug.h"
#include "domain-hotplug-priv.h"
#include "domain-list-priv.h"
#include "domain-memdev.h"
#include "domain-memev.h"
#include "qemu-hotplug.h"
#include "store.h"
#include "vb-error.h"
#include "vb-log.h"

#define QMP_TIMEOUT_MS 30000
#define TRAY_TIMEOUT_MS 10000

/* ---- flags and definitions ---- */

/* Under dom->lock: libvirt's virDomainObjUpdateModificationImpact. */
static gboolean
resolve_flags(VbDomainObj *dom, guint flags, gboolean *out_live, gboolean *out_config,
              GError **error)
{
    gboolean active = dom->id >= 0 && !dom->stopping;

    flags &= VB_DOMAIN_DEVICE_MODIFY_LIVE | VB_DOMAIN_DEVICE_MODIFY_CONFIG;
    if (flags == 0)
        flags = active ? VB_DOMAIN_DEVICE_MODIFY_LIVE : VB_DOMAIN_DEVICE_MODIFY_CONFIG;
    if ((flags & VB_DOMAIN_DEVICE_MODIFY_LIVE) && !active) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' is not running: there is no live definition to change; "
                    "use CONFIG", dom->def->name);
        return FALSE;
    }
    if ((flags & VB_DOMAIN_DEVICE_MODIFY_CONFIG) && !dom->persistent) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "transient domain '%s' has no persistent definition; use LIVE",
                    dom->def->name);
        return FALSE;
    }
    *out_live = (flags & VB_DOMAIN_DEVICE_MODIFY_LIVE) != 0;
    *out_config = (flags & VB_DOMAIN_DEVICE_MODIFY_CONFIG) != 0;
    return TRUE;
}

typedef enum {
    CONFIG_ATTACH,
    CONFIG_DETACH,
    CONFIG_DETACH_ALIAS,
    CONFIG_UPDATE,
} ConfigOp;

/* The change on @def (a copy): FALSE with an error when it does not apply. */
static gboolean
config_change(VbDomainDef *def, ConfigOp op, const char *arg, GError **error)
{
    VbDeviceDef *dev;

    switch (op) {
    case CONFIG_ATTACH:
        if (vb_domain_memdev_is_memory(arg)) /* issue 13, part memcfg */
            return vb_domain_memdev_config_attach(def, arg, error);
        return vb_domain_def_hotplug_parse(def, arg, error) != NULL;
    case CONFIG_DETACH:
        if (vb_domain_memdev_is_memory(arg))
            return vb_domain_memdev_config_detach(def, arg, error);
        dev = vb_domain_def_hotplug_match(def, arg, error);
        return dev != NULL && vb_domain_def_remove_device(def, dev);
    case CONFIG_DETACH_ALIAS:
        dev = vb_domain_def_find_alias(def, arg);
        if (dev == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "no device found with alias %s",
                        arg);
            return FALSE;
        }
        if (vb_domain_memdev_is_memory_dev(dev)) {
            vb_domain_memdev_config_remove(def, dev);
            return TRUE;
        }
        return vb_domain_def_remove_device(def, dev);
    case CONFIG_UPDATE: {
        VbDeviceDef *old, *neu;

        if (vb_domain_memdev_is_memory(arg)) {
            /* libvirt changes only a virtio-mem's <requested> size (issue 13, memcfg) */
            g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                                "updating a <memory> device is not supported; detach it and "
                                "attach the new one");
            return FALSE;
        }
        /* the new device replaces the one it matches, as a whole */
        old = vb_domain_def_hotplug_match(def, arg, error);
        if (old == NULL)
            return FALSE;
        old = vb_domain_def_steal_device(def, old);
        neu = vb_domain_def_hotplug_parse(def, arg, error);
        if (neu == NULL) {
            vb_device_def_free(old);
            return FALSE;
        }
        vb_device_def_free(old);
        return TRUE;
    }
    }
    return FALSE;
}

typedef struct {
    ConfigOp op;
    const char *arg;
} ConfigChange;

static gboolean
config_change_cb(VbDomainDef *def, gpointer data, GError **error)
{
    const ConfigChange *c = data;

    return config_change(def, c->op, c->arg, error);
}

/* CONFIG: the change on the persistent definition; with @dry_run only checked. */
static gboolean
config_apply(VbDomainList *list, VbDomainObj *dom, ConfigOp op, const char *arg,
             gboolean dry_run, GError **error)
{
    ConfigChange c = { op, arg };

    return vb_domain_persistent_update(list, dom, config_change_cb, &c, dry_run, error);
}

/* ---- the running QEMU ---- */

typedef struct {
    VbQemuMonitor *mon;
    VbQemuCaps *caps;
    VbDomainDef *live; /* a copy of the live definition */
    char *runtime_dir;
    char *monitor_path;
    int id;
    guint64 run;
} Live;

static void
live_clear(Live *l)
{
    g_clear_pointer(&l->mon, vb_qemu_monitor_unref);
    g_clear_pointer(&l->caps, vb_qemu_caps_unref);
    g_clear_pointer(&l->live, vb_domain_def_free);
    g_clear_pointer(&l->runtime_dir, g_free);
    g_clear_pointer(&l->monitor_path, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Live, live_clear)

/* With the job: what a live change needs of the run. */
static gboolean
live_get(VbDomainObj *dom, Live *l, gboolean copy, const char *method, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    if (dom->id < 0 || dom->mon == NULL || dom->stopping || dom->caps == NULL) {
        vb_domain_obj_set_not_running_error(dom, method, error);
        return FALSE;
    }
    l->mon = vb_qemu_monitor_ref(dom->mon);
    l->caps = vb_qemu_caps_ref(dom->caps);
    l->runtime_dir = g_strdup(dom->runtime_dir);
    l->monitor_path = g_strdup(dom->monitor_path);
    l->id = dom->id;
    l->run = dom->run;
    if (copy && (l->live = vb_domain_def_copy(dom->def)) == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the live definition");
        return FALSE;
    }
    return TRUE;
}

JsonNode *
vb_domain_hotplug_qmp(VbQemuMonitor *mon, const char *cmd, JsonObject *args, GError **error)
{
    return vb_qemu_monitor_command(mon, cmd, args, QMP_TIMEOUT_MS, error);
}

/* The N of libvirt-N-format / libvirt-N-storage, or 0. */
static guint
node_index(const char *node)
{
    const char *p;
    guint64 v;

    if (node == NULL || !g_str_has_prefix(node, "libvirt-"))
        return 0;
    p = node + strlen("libvirt-");
    if (!g_ascii_isdigit(*p))
        return 0;
    v = g_ascii_strtoull(p, NULL, 10);
    return v <= G_MAXINT ? (guint)v : 0;
}

static JsonArray *
named_nodes(VbQemuMonitor *mon, JsonNode **holder, GError **error)
{
    JsonObject *args = json_object_new();

    json_object_set_boolean_member(args, "flat", TRUE);
    *holder = vb_domain_hotplug_qmp(mon, "query-named-block-nodes", args, error);
    if (*holder == NULL)
        return NULL;
    if (!JSON_NODE_HOLDS_ARRAY(*holder)) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU,
                            "query-named-block-nodes did not return a list");
        return NULL;
    }
    return json_node_get_array(*holder);
}

/* The first N of libvirt-N-* that no block node of QEMU uses. */
static int
next_node_index(VbQemuMonitor *mon, GError **error)
{
    g_autoptr(JsonNode) holder = NULL;
    JsonArray *nodes = named_nodes(mon, &holder, error);
    guint max = 0;

    if (nodes == NULL)
        return -1;
    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonNode *n = json_array_get_element(nodes, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        const char *name = o != NULL && json_object_has_member(o, "node-name")
                               ? json_object_get_string_member(o, "node-name") : NULL;

        max = MAX(max, node_index(name));
    }
    if (max >= G_MAXINT / 2) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_QEMU, "no block node name is left");
        return -1;
    }
    return (int)max + 1;
}

/* The top block node of the disk device @alias (query-block "qdev"), or NULL. */
static char *
disk_top_node(VbQemuMonitor *mon, const char *alias)
{
    g_autoptr(JsonNode) r = vb_domain_hotplug_qmp(mon, "query-block", NULL, NULL);
    g_autofree char *prefix = g_strdup_printf("/machine/peripheral/%s/", alias);
    JsonArray *a = r != NULL && JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;

    for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        const char *qdev = o != NULL && json_object_has_member(o, "qdev")
                               ? json_object_get_string_member(o, "qdev") : NULL;
        JsonObject *ins;

        if (qdev == NULL || (strcmp(qdev, alias) != 0 && !g_str_has_prefix(qdev, prefix)))
            continue;
        if (!json_object_has_member(o, "inserted"))
            return NULL;
        ins = json_object_get_object_member(o, "inserted");
        return ins != NULL && json_object_has_member(ins, "node-name")
                   ? g_strdup(json_object_get_string_member(ins, "node-name")) : NULL;
    }
    return NULL;
}

static void
blockdev_del(VbDomainObj *dom, VbQemuMonitor *mon, const char *node)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "node-name", node);
    r = vb_domain_hotplug_qmp(mon, "blockdev-del", args, &error);
    if (r == NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "cannot delete block node %s: %s",
                      node, error->message);
}

/*
 * The nodes of a disk's images, the top one first (libvirt's
 * qemuBlockStorageSourceChainDetach): libvirt-N-format and -storage, then N+1 ... down
 * the backing chain, as the command line named them.
 */
static void
delete_disk_nodes(VbDomainObj *dom, VbQemuMonitor *mon, const char *top)
{
    g_autoptr(JsonNode) holder = NULL;
    JsonArray *nodes;
    guint n = node_index(top);
    gint64 depth = 0;

    if (n == 0 || !g_str_has_suffix(top, "-format")) {
        blockdev_del(dom, mon, top);
        return;
    }
    nodes = named_nodes(mon, &holder, NULL);
    for (guint i = 0; nodes != NULL && i < json_array_get_length(nodes); i++) {
        JsonNode *e = json_array_get_element(nodes, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;

        if (o != NULL && json_object_has_member(o, "node-name") &&
            g_strcmp0(json_object_get_string_member(o, "node-name"), top) == 0 &&
            json_object_has_member(o, "backing_file_depth"))
            depth = json_object_get_int_member(o, "backing_file_depth");
    }
    for (gint64 k = 0; k <= depth && k < 64; k++) {
        g_autofree char *format = g_strdup_printf("libvirt-%u-format", n + (guint)k);
        g_autofree char *storage = g_strdup_printf("libvirt-%u-storage", n + (guint)k);

        blockdev_del(dom, mon, format);
        blockdev_del(dom, mon, storage);
    }
}

/*
 * The top node of a disk whose device is gone but whose nodes QEMU still has, when the
 * node was not noted at the unplug (the service restarted since): the libvirt-N-format
 * node of the disk's image @path that no device of query-block holds. NULL if none.
 */
static char *
orphan_disk_top(VbQemuMonitor *mon, const char *path)
{
    g_autoptr(JsonNode) holder = NULL;
    g_autoptr(JsonNode) blocks = NULL;
    g_autoptr(GHashTable) held = g_hash_table_new(g_str_hash, g_str_equal);
    JsonArray *nodes, *b;

    if (path == NULL)
        return NULL;
    blocks = vb_domain_hotplug_qmp(mon, "query-block", NULL, NULL);
    b = blocks != NULL && JSON_NODE_HOLDS_ARRAY(blocks) ? json_node_get_array(blocks) : NULL;
    for (guint i = 0; b != NULL && i < json_array_get_length(b); i++) {
        JsonNode *n = json_array_get_element(b, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        JsonObject *ins = o != NULL && json_object_has_member(o, "inserted")
                              ? json_object_get_object_member(o, "inserted") : NULL;

        if (ins != NULL && json_object_has_member(ins, "node-name"))
            g_hash_table_add(held, (gpointer)json_object_get_string_member(ins, "node-name"));
    }
    if (b == NULL)
        return NULL; /* without query-block, a held node could be taken for an orphan */
    nodes = named_nodes(mon, &holder, NULL);
    for (guint i = 0; nodes != NULL && i < json_array_get_length(nodes); i++) {
        JsonNode *e = json_array_get_element(nodes, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *name = o != NULL && json_object_has_member(o, "node-name")
                               ? json_object_get_string_member(o, "node-name") : NULL;
        const char *file = o != NULL && json_object_has_member(o, "file")
                               ? json_object_get_string_member(o, "file") : NULL;

        if (node_index(name) != 0 && g_str_has_suffix(name, "-format") &&
            g_strcmp0(file, path) == 0 && !g_hash_table_contains(held, name))
            return g_strdup(name);
    }
    return NULL;
}

/*
 * Fault injection for the crash-safety tests (issue 13, part netupd): with
 * VIRTBUS_TEST_HOTPLUG_KILL=@point in its environment the service SIGKILLs itself there
 * ("device_add": the backends are in QEMU, the device not yet; "status": QEMU has the
 * device, the live definition not yet). Never set outside tests.
 */
static void
test_kill_point(const char *point)
{
    vb_test_kill_point("VIRTBUS_TEST_HOTPLUG_KILL", point);
}

/* What was sent, to take back. */
typedef struct {
    char *cmd;  /* "blockdev-add", "device_add", ... */
    char *name; /* its node-name or id */
} Added;

static void
added_free(Added *a)
{
    g_free(a->cmd);
    g_free(a->name);
    g_free(a);
}

static void
rollback(VbDomainObj *dom, VbQemuMonitor *mon, GPtrArray *added)
{
    for (guint i = added->len; i > 0; i--) {
        const Added *a = g_ptr_array_index(added, i - 1);
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) r = NULL;
        JsonObject *args = json_object_new();
        const char *cmd;

        if (strcmp(a->cmd, "blockdev-add") == 0) {
            cmd = "blockdev-del";
            json_object_set_string_member(args, "node-name", a->name);
        } else {
            cmd = strcmp(a->cmd, "netdev_add") == 0    ? "netdev_del"
                  : strcmp(a->cmd, "object-add") == 0  ? "object-del"
                  : strcmp(a->cmd, "chardev-add") == 0 ? "chardev-remove"
                                                       : "device_del";
            json_object_set_string_member(args, "id", a->name);
        }
        r = vb_domain_hotplug_qmp(mon, cmd, args, &error);
        if (r == NULL)
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "rollback: %s %s failed: %s",
                          cmd, a->name, error->message);
    }
}

/*
 * Sends the options of vb_qemu_command_hotplug() in order; on failure takes back what
 * was added and returns FALSE.
 */
static gboolean
send_options(VbDomainObj *dom, VbQemuMonitor *mon, GPtrArray *opts, char **out_pty,
             GError **error)
{
    g_autoptr(GPtrArray) added = g_ptr_array_new_with_free_func((GDestroyNotify)added_free);

    for (guint i = 0; i + 1 < opts->len; i += 2) {
        const char *opt = g_ptr_array_index(opts, i);
        const char *json = g_ptr_array_index(opts, i + 1);
        gboolean chardev = strcmp(opt, "-chardev") == 0;
        g_autoptr(JsonNode) parsed = chardev ? NULL : json_from_string(json, NULL);
        g_autoptr(JsonNode) r = NULL;
        JsonObject *args;
        const char *cmd, *key;
        Added *a;

        if (chardev) {
            /* the one option the builder writes as QemuOpts */
            args = vb_qemu_chardev_opts_to_qmp(json, error);
            if (args == NULL) {
                rollback(dom, mon, added);
                return FALSE;
            }
            parsed = json_node_init_object(json_node_alloc(), args);
            json_object_unref(args);
        }
        if (parsed == NULL || !JSON_NODE_HOLDS_OBJECT(parsed)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INTERNAL, "bad %s option: %s", opt, json);
            rollback(dom, mon, added);
            return FALSE;
        }
        if (chardev)
            cmd = "chardev-add", key = "id";
        else if (strcmp(opt, "-blockdev") == 0)
            cmd = "blockdev-add", key = "node-name";
        else if (strcmp(opt, "-netdev") == 0)
            cmd = "netdev_add", key = "id";
        else if (strcmp(opt, "-object") == 0)
            cmd = "object-add", key = "id";
        else
            cmd = "device_add", key = "id";
        if (strcmp(cmd, "device_add") == 0)
            test_kill_point("device_add"); /* issue 13, part netupd */
        args = json_node_dup_object(parsed);
        a = g_new0(Added, 1);
        a->cmd = g_strdup(cmd);
        a->name = g_strdup(json_object_has_member(args, key)
                               ? json_object_get_string_member(args, key) : "");
        r = vb_domain_hotplug_qmp(mon, cmd, args, error);
        if (r == NULL) {
            g_prefix_error(error, "%s: ", cmd);
            added_free(a);
            rollback(dom, mon, added);
            return FALSE;
        }
        /* chardev-add of a pty answers with its path (issue 13, part memcfg) */
        if (chardev && out_pty != NULL && JSON_NODE_HOLDS_OBJECT(r) &&
            json_object_has_member(json_node_get_object(r), "pty")) {
            g_free(*out_pty);
            *out_pty = g_strdup(json_object_get_string_member(json_node_get_object(r), "pty"));
        }
        g_ptr_array_add(added, a);
    }
    return TRUE;
}

/* The number of devices per kind, to see what address assignment added. */
static guint
count_kind(const VbDomainDef *def, VbDeviceKind kind)
{
    GPtrArray *devs = def->priv->devices;
    guint n = 0;

    for (guint i = 0; i < devs->len; i++)
        n += ((const VbDeviceDef *)g_ptr_array_index(devs, i))->kind == kind;
    return n;
}

/* Whether a device of @def other than @dev has @alias. */
static gboolean
alias_taken(const VbDomainDef *def, const VbDeviceDef *dev, const char *alias)
{
    GPtrArray *devs = def->priv->devices;

    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);
        g_autofree char *a = d != dev ? vb_domain_def_device_alias(def, d) : NULL;

        if (g_strcmp0(a, alias) == 0)
            return TRUE;
    }
    return FALSE;
}

/*
 * Crash-safe attach (issue 13, part netupd): before QEMU gets anything of the device, the
 * status file is written with the live definition that has it (and its alias marked
 * pending; an interface's host side joins the run's record), atomically as every status
 * change. A service killed before the end finds it there: vb_domain_hotplug_reconnect_
 * pending() adopts it when QEMU has the device, else removes it with its backends.
 * With the job, no lock. @prep (nullable) is taken (recorded in dom->nets) on success.
 */
static gboolean
pending_begin(VbDomainList *list, VbDomainObj *dom, const VbDomainDef *live, guint64 run,
              const char *alias, VbQemuNetPrep **prep, gboolean *out_recorded,
              GError **error)
{
    VbDomainDef *copy = vb_domain_def_copy(live);

    if (copy == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the live definition");
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    if (dom->id < 0 || dom->run != run) {
        g_mutex_unlock(&dom->lock);
        vb_domain_def_free(copy);
        vb_domain_obj_set_not_running_error(dom, "AttachDevice", error);
        return FALSE;
    }
    vb_domain_def_set_live(copy, dom->id);
    g_clear_pointer(&dom->attach_pending_def, vb_domain_def_free);
    g_free(dom->attach_pending_alias);
    dom->attach_pending_def = copy;
    dom->attach_pending_alias = g_strdup(alias);
    if (*prep != NULL) /* QEMU holds the fds (getfd): the service's copies are closed */
        vb_hotplug_net_commit(dom, g_steal_pointer(prep));
    *out_recorded = TRUE;
    g_mutex_unlock(&dom->lock);
    return vb_domain_status_save(list, dom, error);
}

static void save_status(VbDomainList *list, VbDomainObj *dom);

/* Under dom->lock: the attach is over (the device joined @def, or QEMU has nothing of it). */
static void
pending_end(VbDomainObj *dom)
{
    g_clear_pointer(&dom->attach_pending_def, vb_domain_def_free);
    g_clear_pointer(&dom->attach_pending_alias, g_free);
}

/* With the job: the device on the running QEMU and in the live definition. */
static gboolean
attach_live(VbDomainList *list, VbDomainObj *dom, const char *xml, char **out_alias,
            GError **error)
{
    g_auto(Live) l = { 0 };
    g_autoptr(GHashTable) disks = NULL;
    g_autoptr(GPtrArray) opts = NULL;
    g_autoptr(GPtrArray) nets = NULL;
    g_autoptr(GPtrArray) fdnames = NULL;
    g_autofree char *alias = NULL;
    g_autofree char *pty = NULL;
    VbQemuCommandParams params = { 0 };
    VbQemuNetPrep *prep = NULL;
    VbDeviceDef *dev;
    guint controllers;
    gboolean recorded = FALSE, link_down = FALSE;
    int node;

    if (vb_domain_memdev_is_memory(xml)) { /* a dimm (issue 13, parts memev, memcfg) */
        if (!live_get(dom, &l, FALSE, "AttachDevice", error))
            return FALSE;
        params.id = l.id;
        params.monitor_path = l.monitor_path;
        params.pidfile = "";
        params.runtime_dir = l.runtime_dir;
        params.vnc_port = -1;
        return vb_domain_memdev_attach(list, dom, l.mon, l.caps, &params, xml, out_alias,
                                       error);
    }
    if (!live_get(dom, &l, TRUE, "AttachDevice", error))
        return FALSE;
    controllers = count_kind(l.live, VB_DEV_CONTROLLER);
    dev = vb_domain_def_hotplug_parse(l.live, xml, error);
    if (dev == NULL)
        return FALSE;
    /* libvirt's qemuDomainAttachWatchdog: one watchdog */
    if (dev->kind == VB_DEV_WATCHDOG && count_kind(l.live, VB_DEV_WATCHDOG) > 1) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                            "domain already has a watchdog");
        return FALSE;
    }
    if (dev->kind != VB_DEV_CONTROLLER && count_kind(l.live, VB_DEV_CONTROLLER) != controllers) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "the <%s> needs a controller the running domain does not have (one "
                    "would be added); attach the <controller> first",
                    vb_device_def_describe(dev));
        return FALSE;
    }
    if (dev->kind == VB_DEV_DISK && vb_device_def_has_child(dev, "iotune")) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "attaching a disk with <iotune> to a running domain is not "
                            "supported; attach it without and use the block tuning later");
        return FALSE;
    }
    alias = vb_domain_def_device_alias(l.live, dev);
    if (alias == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "the <%s> gets no device name; it cannot be attached",
                    vb_device_def_describe(dev));
        return FALSE;
    }
    if (alias_taken(l.live, dev, alias)) {
        /* a positional name (net1) that a device keeps after others before it went */
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "the name %s the <%s> would get is taken by a device of the running "
                    "domain; give it a user alias (<alias name='ua-...'/>)", alias,
                    vb_device_def_describe(dev));
        return FALSE;
    }
    if (dev->kind == VB_DEV_INTERFACE && !vb_hotplug_net_check_mac(l.live, dev, error))
        return FALSE;
    if (dev->kind == VB_DEV_DISK && (!vb_qemu_disk_prepare_one(dev, &disks, error) ||
                                     !vb_domain_dac_hold_disk(list, dom, dev, disks, error)))
        return FALSE; /* issue 14, part dac: QEMU's user opens the image */
    node = next_node_index(l.mon, error);
    if (node < 0)
        return FALSE;
    /* an interface's host side (tap, macvtap, bridge port) by the start path's code */
    if (dev->kind == VB_DEV_INTERFACE &&
        (prep = vb_hotplug_net_prepare(list, l.live, dev, &nets, error)) == NULL)
        return FALSE;
    params.id = l.id;
    params.monitor_path = l.monitor_path;
    params.pidfile = "";
    params.runtime_dir = l.runtime_dir;
    params.vnc_port = -1;
    params.disks = disks;
    params.nets = nets;
    opts = vb_qemu_command_hotplug(l.live, l.caps, &params, dev, node, error);
    if (opts == NULL || !vb_domain_devns_add(dom, opts, error) || /* issue 14, part devns */
        (prep != NULL && !vb_hotplug_net_pass_fds(l.mon, prep, opts, &fdnames, error)))
        goto fail;
    if (dev->kind == VB_DEV_WATCHDOG) {
        /* libvirt's qemuDomainAttachWatchdog: the action first (QEMU's names are
         * libvirt's; 'dump' was refused by the builder) */
        g_autoptr(JsonNode) r = NULL;
        JsonObject *args = json_object_new();

        json_object_set_string_member(args, "watchdog",
                                      dev->action != NULL ? dev->action : "reset");
        r = vb_domain_hotplug_qmp(l.mon, "set-action", args, error);
        if (r == NULL) {
            g_prefix_error(error, "set-action: ");
            goto fail;
        }
    }
    link_down = prep != NULL && prep->link_down;
    if (!pending_begin(list, dom, l.live, l.run, alias, &prep, &recorded, error)) {
        vb_hotplug_net_closefds(l.mon, fdnames);
        goto fail;
    }
    if (!send_options(dom, l.mon, opts, &pty, error)) {
        vb_hotplug_net_closefds(l.mon, fdnames);
        goto fail;
    }
    if (link_down) {
        /* <link state='down'>: as at start (libvirt's qemuDomainAttachNetDevice) */
        g_autoptr(JsonNode) r = NULL;
        g_autoptr(GError) err = NULL;
        JsonObject *args = json_object_new();

        json_object_set_string_member(args, "name", alias);
        json_object_set_boolean_member(args, "up", FALSE);
        r = vb_domain_hotplug_qmp(l.mon, "set_link", args, &err);
        if (r == NULL)
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                          "interface %s: cannot set its link down: %s", alias, err->message);
    }
    test_kill_point("status"); /* issue 13, part netupd */

    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 && dom->run == l.run) {
        vb_domain_def_insert_device(dom->def, vb_domain_def_steal_device(l.live, dev));
        if (pty != NULL) {
            g_autofree char *label = g_strconcat("char", alias, NULL);

            /* where OpenConsole/OpenChannel find it, as after a start */
            vb_domain_def_set_chardev_pty(dom->def, label, pty);
        }
        vb_domain_def_set_live(dom->def, dom->id);
    }
    pending_end(dom); /* the caller writes the status file */
    g_mutex_unlock(&dom->lock);
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "device %s attached", alias);
    *out_alias = g_steal_pointer(&alias);
    return TRUE;

fail:
    if (prep != NULL) {
        /* nothing of it stays on the host: the tap goes with its last fd */
        vb_qemu_net_release(prep);
        vb_qemu_net_prep_free(prep);
    }
    if (dev->kind == VB_DEV_DISK) /* issue 14, part devns: its node leaves QEMU's /dev */
        vb_domain_devns_drop(dom, dev->source_path);
    if (recorded) {
        /* QEMU has nothing of it (send_options took back what it added) */
        gboolean current;

        g_mutex_lock(&dom->lock);
        pending_end(dom);
        current = dom->id >= 0 && dom->run == l.run;
        g_mutex_unlock(&dom->lock);
        if (dev->kind == VB_DEV_INTERFACE)
            vb_hotplug_net_release(dom, alias);
        if (current)
            save_status(list, dom);
    }
    return FALSE;
}

static gboolean
begin(VbDomainList *list, VbDomainObj *dom, const char *method, const char *owner,
      GError **error)
{
    return vb_domain_obj_check_alive(dom, error) &&
           vb_domain_job_begin(dom, VB_JOB_MODIFY, method, owner,
                               list->config->job_wait_timeout, list->config->max_queued,
                               error);
}

static gboolean
flags_of(VbDomainObj *dom, guint flags, gboolean *live, gboolean *config, GError **error)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);

    return resolve_flags(dom, flags, live, config, error);
}

static void
save_status(VbDomainList *list, VbDomainObj *dom)
{
    g_autoptr(GError) error = NULL;

    if (!vb_domain_status_save(list, dom, &error))
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "%s", error->message);
}

/**
 * vb_domain_attach_device:
 * @xml: one device element
 * @flags: VB_DOMAIN_DEVICE_MODIFY_LIVE and/or _CONFIG, or 0 (current)
 *
 * libvirt's qemuDomainAttachDeviceLiveAndConfig: the config change is checked first,
 * the running QEMU gets the device next, the persistent definition changes last.
 */
gboolean
vb_domain_attach_device(VbDomainList *list, VbDomainObj *dom, const char *xml, guint flags,
                        const char *owner, GError **error)
{
    g_autofree char *alias = NULL;
    gboolean live = FALSE, config = FALSE, ok;

    if (!begin(list, dom, "AttachDevice", owner, error))
        return FALSE;
    ok = flags_of(dom, flags, &live, &config, error) &&
         (!config || config_apply(list, dom, CONFIG_ATTACH, xml, TRUE, error)) &&
         (!live || attach_live(list, dom, xml, &alias, error));
    if (ok && live)
        save_status(list, dom);
    if (ok && config && !config_apply(list, dom, CONFIG_ATTACH, xml, FALSE, error)) {
        ok = FALSE;
        if (live)
            g_prefix_error(error, "the device was attached to the running domain, but the "
                                  "persistent definition was not changed: ");
    }
    vb_domain_job_end(dom);
    if (alias != NULL)
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, VB_DOMAIN_DEVICE_ADDED_EVENT,
                              alias);
    else if (ok)
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    return ok;
}

/*
 * With the job: the second half of an unplug, after DEVICE_DELETED: the disk's block
 * nodes, the live definition, the status file, DeviceRemoved (libvirt's
 * qemuDomainRemoveDevice).
 */
void
vb_domain_hotplug_finish_removal(VbDomainList *list, VbDomainObj *dom, const char *alias)
{
    vb_domain_hotplug_remove_device(list, dom, alias, TRUE);
}

/* A device's backend @prefix@alias deleted with @cmd; a failure is logged ("cannot @what"). */
static void
delete_backend(VbDomainObj *dom, VbQemuMonitor *mon, const char *cmd, const char *prefix,
               const char *alias, const char *what)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) r = NULL;
    g_autofree char *id = g_strconcat(prefix, alias, NULL);
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "id", id);
    r = vb_domain_hotplug_qmp(mon, cmd, args, &err);
    if (r == NULL)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str, "cannot %s %s: %s", what, id,
                      err->message);
}

/*
 * With the job: as vb_domain_hotplug_finish_removal(); with @notify FALSE no DeviceRemoved
 * (an attach that never finished: the device was never in the live XML; issue 13, part
 * netupd).
 */
void
vb_domain_hotplug_remove_device(VbDomainList *list, VbDomainObj *dom, const char *alias,
                                gboolean notify)
{
    g_autoptr(VbQemuMonitor) mon = NULL;
    g_autofree char *top = NULL;
    g_autofree char *disk_path = NULL;
    VbDeviceDef *dev;
    gboolean disk, net, rng, chan;

    g_mutex_lock(&dom->lock);
    dev = dom->id >= 0 ? vb_domain_def_find_alias(dom->def, alias) : NULL;
    if (dom->unplug_nodes != NULL) {
        gpointer key = NULL;

        if (g_hash_table_steal_extended(dom->unplug_nodes, alias, &key, (gpointer *)&top))
            g_free(key);
    }
    if (dev == NULL) {
        g_mutex_unlock(&dom->lock);
        return;
    }
    disk = dev->kind == VB_DEV_DISK;
    disk_path = disk ? g_strdup(dev->source_path) : NULL;
    net = dev->kind == VB_DEV_INTERFACE;
    rng = dev->kind == VB_DEV_RNG;
    chan = dev->kind == VB_DEV_CHANNEL || dev->kind == VB_DEV_SERIAL ||
           dev->kind == VB_DEV_CONSOLE;
    mon = dom->mon != NULL ? vb_qemu_monitor_ref(dom->mon) : NULL;
    g_mutex_unlock(&dom->lock);

    if (chan && mon != NULL)
        delete_backend(dom, mon, "chardev-remove", "char", alias, "remove chardev");
    if (rng && mon != NULL)
        delete_backend(dom, mon, "object-del", "obj", alias, "delete object");
    if (net && mon != NULL)
        delete_backend(dom, mon, "netdev_del", "host", alias, "delete netdev");
    if (net)
        vb_hotplug_net_release(dom, alias); /* the tap, macvtap, bridge port */
    if (disk && top == NULL && mon != NULL)
        top = orphan_disk_top(mon, disk_path); /* noted before a service restart */
    if (disk && top != NULL && mon != NULL)
        delete_disk_nodes(dom, mon, top);
    else if (disk)
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, dom->uuid_str,
                      "the block nodes of %s are not known; they stay in QEMU", alias);

    g_mutex_lock(&dom->lock);
    dev = dom->id >= 0 ? vb_domain_def_find_alias(dom->def, alias) : NULL;
    if (dev != NULL)
        vb_domain_def_remove_device(dom->def, dev);
    g_mutex_unlock(&dom->lock);
    if (dev == NULL)
        return;
    save_status(list, dom);
    if (disk)
        vb_domain_devns_drop(dom, disk_path); /* issue 14, part devns */
    /* an agent channel that went: AgentConnected follows (query-chardev) */
    if (chan && mon != NULL)
        vb_domain_agent_refresh(list, dom, mon, VB_AGENT_REASON_CHANNEL);
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "device %s removed", alias);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED,
                          notify ? VB_DOMAIN_DEVICE_REMOVED_EVENT : NULL,
                          notify ? alias : NULL);
}

/* Under dom->lock: whether libvirt lets this device be unplugged (qemuDomainDetachPrep*). */
gboolean
vb_domain_hotplug_check_detachable(const VbDeviceDef *dev, GError **error)
{
    switch (dev->kind) {
    case VB_DEV_DISK:
        if (g_strcmp0(dev->device, "cdrom") == 0 || g_strcmp0(dev->device, "floppy") == 0) {
            if (g_strcmp0(dev->device, "cdrom") == 0 &&
                (g_strcmp0(dev->bus, "usb") == 0 || g_strcmp0(dev->bus, "scsi") == 0))
                return TRUE;
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "disk device type '%s' cannot be detached", dev->device);
            return FALSE;
        }
        if (g_strcmp0(dev->bus, "virtio") != 0 && g_strcmp0(dev->bus, "usb") != 0 &&
            g_strcmp0(dev->bus, "scsi") != 0) {
            g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                                "This type of disk cannot be hot unplugged");
            return FALSE;
        }
        return TRUE;
    case VB_DEV_RNG:
        return TRUE;
    case VB_DEV_SERIAL:
        if (g_strcmp0(dev->target_type, "pci-serial") == 0 ||
            g_strcmp0(dev->target_type, "usb-serial") == 0)
            return TRUE;
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "serial target type '%s' cannot be hot unplugged (pci-serial and "
                    "usb-serial can)",
                    dev->target_type != NULL ? dev->target_type : "isa-serial");
        return FALSE;
    case VB_DEV_CONSOLE:
        /* a virtio console, like a channel (issue 13, part memcfg) */
        if (g_strcmp0(dev->target_type, "virtio") == 0)
            return TRUE;
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "console target type '%s' cannot be hot unplugged (virtio can)",
                    dev->target_type != NULL ? dev->target_type : "serial");
        return FALSE;
    case VB_DEV_CONTROLLER:
        /* libvirt's qemuDomainDetachPrepController */
        if (g_strcmp0(dev->type, "scsi") != 0) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "'%s' controller cannot be hot unplugged.",
                        dev->type != NULL ? dev->type : "");
            return FALSE;
        }
        return TRUE;
    case VB_DEV_WATCHDOG:
        if (g_strcmp0(dev->model, "i6300esb") == 0)
            return TRUE;
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "hot unplug of watchdog of model %s is not supported (only i6300esb, "
                    "as libvirt)", dev->model != NULL ? dev->model : "");
        return FALSE;
    case VB_DEV_CHANNEL:
        if (g_strcmp0(dev->target_type, "virtio") == 0)
            return TRUE;
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "live detach of a non-virtio <channel> is not supported");
        return FALSE;
    case VB_DEV_INPUT:
        if (g_strcmp0(dev->bus, "usb") == 0 || g_strcmp0(dev->bus, "virtio") == 0)
            return TRUE;
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "live detach of <input bus='%s'> is not supported (usb and virtio are)",
                    dev->bus != NULL ? dev->bus : "ps2");
        return FALSE;
    case VB_DEV_INTERFACE:
        /* the host side (tap, macvtap) is released after the unplug (vb_qemu_net_release) */
        if (g_strcmp0(dev->type, "user") == 0 || vb_hotplug_net_is_tap(dev))
            return TRUE;
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "live detach of <interface type='%s'> is not supported (user, network, "
                    "bridge, ethernet and direct are)", dev->type != NULL ? dev->type : "");
        return FALSE;
    default:
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "live detach of device '%s' is not supported", vb_device_def_describe(dev));
        return FALSE;
    }
}

/* Under dom->lock: a SCSI controller with disks on it (libvirt's
 * qemuDomainControllerIsBusy). */
static gboolean
controller_busy(const VbDomainDef *def, const VbDeviceDef *dev, GError **error)
{
    GPtrArray *devs = def->priv->devices;

    if (dev->kind != VB_DEV_CONTROLLER)
        return FALSE;
    for (guint i = 0; i < devs->len; i++) {
        const VbDeviceDef *d = g_ptr_array_index(devs, i);

        if (d->kind == VB_DEV_DISK && g_strcmp0(d->bus, "scsi") == 0 &&
            d->addr.type == VB_ADDR_DRIVE && d->addr.controller == dev->index) {
            g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
                                "device cannot be detached: device is busy");
            return TRUE;
        }
    }
    return FALSE;
}

/*
 * With the job: device_del of the device that @xml (or @alias) names; with @wait, waits
 * for DEVICE_DELETED up to the unplug timeout and finishes the removal when it came.
 */
static gboolean
detach_live(VbDomainList *list, VbDomainObj *dom, const char *xml, const char *alias_in,
            gboolean wait, GError **error)
{
    g_auto(Live) l = { 0 };
    g_autofree char *alias = NULL;
    g_autofree char *top = NULL;
    g_autoptr(JsonNode) r = NULL;
    VbDeviceDef *dev;
    JsonObject *args;
    gboolean disk;
    int status;

    if (!live_get(dom, &l, FALSE, wait ? "DetachDevice" : "DetachDeviceAlias", error))
        return FALSE;
    /* a dimm (issue 13, part memev) */
    if (xml != NULL ? vb_domain_memdev_is_memory(xml) : g_str_has_prefix(alias_in, "dimm"))
        return vb_domain_memdev_detach(list, dom, l.mon, xml, alias_in, wait, error);
    g_mutex_lock(&dom->lock);
    if (xml != NULL)
        dev = vb_domain_def_hotplug_match(dom->def, xml, error);
    else if ((dev = vb_domain_def_find_alias(dom->def, alias_in)) == NULL)
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "no device found with alias %s",
                    alias_in);
    if (dev == NULL || !vb_domain_hotplug_check_detachable(dev, error) ||
        controller_busy(dom->def, dev, error)) {
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    alias = vb_domain_def_device_alias(dom->def, dev);
    disk = dev->kind == VB_DEV_DISK;
    g_mutex_unlock(&dom->lock);
    if (alias == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "Cannot detach a device with no alias");
        return FALSE;
    }
    /* the disk's nodes, while QEMU still names them by the device */
    if (disk)
        top = disk_top_node(l.mon, alias);

    g_mutex_lock(&dom->lock);
    if (top != NULL) {
        if (dom->unplug_nodes == NULL)
            dom->unplug_nodes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_hash_table_replace(dom->unplug_nodes, g_strdup(alias), g_strdup(top));
    }
    if (wait) {
        g_free(dom->unplug_alias);
        dom->unplug_alias = g_strdup(alias);
        dom->unplug_status = VB_UNPLUG_WAITING;
    }
    g_mutex_unlock(&dom->lock);

    args = json_object_new();
    json_object_set_string_member(args, "id", alias);
    r = vb_domain_hotplug_qmp(l.mon, "device_del", args, error);
    if (r == NULL) {
        g_mutex_lock(&dom->lock);
        g_clear_pointer(&dom->unplug_alias, g_free);
        if (dom->unplug_nodes != NULL)
            g_hash_table_remove(dom->unplug_nodes, alias);
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    if (!wait)
        return TRUE;

    g_mutex_lock(&dom->lock);
    {
        gint64 end = g_get_monotonic_time() + VB_DOMAIN_UNPLUG_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

        while (dom->unplug_status == VB_UNPLUG_WAITING && g_get_monotonic_time() < end) {
            if (!vb_domain_obj_wait_until(dom, end))
                break;
        }
    }
    status = dom->unplug_status;
    g_clear_pointer(&dom->unplug_alias, g_free);
    dom->unplug_status = VB_UNPLUG_WAITING;
    g_mutex_unlock(&dom->lock);

    if (status == VB_UNPLUG_DELETED) {
        vb_domain_hotplug_finish_removal(list, dom, alias);
    } else if (status == VB_UNPLUG_REJECTED) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_FAILED,
                            "unplug of device was rejected by the guest");
        return FALSE;
    } else {
        /* libvirt's answer too: the device goes when the guest releases it */
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str,
                      "device %s: unplug requested; the guest has not released it yet",
                      alias);
    }
    return TRUE;
}

/**
 * vb_domain_hotplug_unplug_wait:
 * @mon: the domain's monitor
 * @alias: the device's id in QEMU (vcpu2, dimm0, ...)
 *
 * With the domain's modify job, no lock held: device_del of @alias and a wait of up to
 * the unplug timeout for its DEVICE_DELETED (libvirt's qemuDomainDeleteDevice +
 * qemuDomainWaitForDeviceRemoval), through the same wake-up as DetachDevice. The caller
 * finishes the removal of what is not a listed device (vCPUs, memory). Worker thread.
 *
 * Returns: VB_UNPLUG_DELETED, VB_UNPLUG_REJECTED, VB_UNPLUG_WAITING (timed out), or -1
 *   with @error when device_del failed
 */
int
vb_domain_hotplug_unplug_wait(VbDomainObj *dom, VbQemuMonitor *mon, const char *alias,
                              GError **error)
{
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args = json_object_new();
    gint64 end;
    int status;

    g_mutex_lock(&dom->lock);
    g_free(dom->unplug_alias);
    dom->unplug_alias = g_strdup(alias);
    dom->unplug_status = VB_UNPLUG_WAITING;
    g_mutex_unlock(&dom->lock);

    json_object_set_string_member(args, "id", alias);
    r = vb_domain_hotplug_qmp(mon, "device_del", args, error);

    g_mutex_lock(&dom->lock);
    end = g_get_monotonic_time() + VB_DOMAIN_UNPLUG_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
    while (r != NULL && dom->unplug_status == VB_UNPLUG_WAITING &&
           g_get_monotonic_time() < end) {
        if (!vb_domain_obj_wait_until(dom, end))
            break;
    }
    status = r != NULL ? dom->unplug_status : -1;
    g_clear_pointer(&dom->unplug_alias, g_free);
    dom->unplug_status = VB_UNPLUG_WAITING;
    g_mutex_unlock(&dom->lock);
    return status;
}

static gboolean
detach(VbDomainList *list, VbDomainObj *dom, const char *xml, const char *alias, guint flags,
       const char *owner, GError **error)
{
    const char *method = xml != NULL ? "DetachDevice" : "DetachDeviceAlias";
    ConfigOp op = xml != NULL ? CONFIG_DETACH : CONFIG_DETACH_ALIAS;
    const char *arg = xml != NULL ? xml : alias;
    gboolean live = FALSE, config = FALSE, ok;

    if (!begin(list, dom, method, owner, error))
        return FALSE;
    ok = flags_of(dom, flags, &live, &config, error) &&
         (!config || config_apply(list, dom, op, arg, TRUE, error)) &&
         (!live || detach_live(list, dom, xml, alias, xml != NULL, error)) &&
         (!config || config_apply(list, dom, op, arg, FALSE, error));
    vb_domain_job_end(dom);
    if (ok && config)
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    return ok;
}

/**
 * vb_domain_detach_device:
 * @xml: the device, as far as needed to find it (a disk's <target dev>, a MAC, an alias)
 * @flags: VB_DOMAIN_DEVICE_MODIFY_LIVE and/or _CONFIG, or 0 (current)
 *
 * libvirt's qemuDomainDetachDeviceLiveAndConfig: waits up to 5 s for the guest.
 */
gboolean
vb_domain_detach_device(VbDomainList *list, VbDomainObj *dom, const char *xml, guint flags,
                        const char *owner, GError **error)
{
    return detach(list, dom, xml, NULL, flags, owner, error);
}

/**
 * vb_domain_detach_device_alias:
 * @alias: the device's alias (virtio-disk1, ua-NAME, ...)
 *
 * libvirt's qemuDomainDetachDeviceAlias: asks for the unplug and returns; the removal
 * finishes (DeviceRemoved) when QEMU reports DEVICE_DELETED.
 */
gboolean
vb_domain_detach_device_alias(VbDomainList *list, VbDomainObj *dom, const char *alias,
                              guint flags, const char *owner, GError **error)
{
    if (alias == NULL || *alias == '\0') {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG, "the alias is empty");
        return FALSE;
    }
    return detach(list, dom, NULL, alias, flags, owner, error);
}

/* ---- UpdateDevice: the medium of a cdrom or floppy ---- */

static gboolean
tray_open(VbQemuMonitor *mon, const char *alias, gboolean *out_open, gboolean *out_has_tray)
{
    g_autoptr(JsonNode) r = vb_domain_hotplug_qmp(mon, "query-block", NULL, NULL);
    g_autofree char *prefix = g_strdup_printf("/machine/peripheral/%s/", alias);
    JsonArray *a = r != NULL && JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;

    for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        const char *qdev = o != NULL && json_object_has_member(o, "qdev")
                               ? json_object_get_string_member(o, "qdev") : NULL;

        if (qdev == NULL || (strcmp(qdev, alias) != 0 && !g_str_has_prefix(qdev, prefix)))
            continue;
        *out_has_tray = json_object_has_member(o, "tray_open");
        *out_open = *out_has_tray && json_object_get_boolean_member(o, "tray_open");
        return TRUE;
    }
    return FALSE;
}

static gboolean
tray_cmd(VbQemuMonitor *mon, const char *cmd, const char *alias, int force, GError **error)
{
    g_autoptr(JsonNode) r = NULL;
    JsonObject *args = json_object_new();

    json_object_set_string_member(args, "id", alias);
    if (force >= 0)
        json_object_set_boolean_member(args, "force", force != 0);
    r = vb_domain_hotplug_qmp(mon, cmd, args, error);
    if (r == NULL)
        g_prefix_error(error, "%s: ", cmd);
    return r != NULL;
}

/* With the job: libvirt's qemuDomainChangeMediaBlockdev. */
static gboolean
change_media(VbDomainList *list, VbDomainObj *dom, const char *xml, gboolean force,
             GError **error)
{
    g_auto(Live) l = { 0 };
    g_autoptr(GHashTable) disks = NULL;
    g_autoptr(GPtrArray) opts = NULL;
    g_autofree char *alias = NULL;
    g_autofree char *old_top = NULL;
    g_autofree char *new_top = NULL;
    g_autofree char *bus = NULL;
    g_autofree char *device = NULL;
    g_autofree char *old_path = NULL;
    VbQemuCommandParams params = { 0 };
    VbDeviceDef *old, *neu;
    gboolean is_open = FALSE, has_tray = FALSE, media;
    int node = 0;

    if (!live_get(dom, &l, TRUE, "UpdateDevice", error))
        return FALSE;
    old = vb_domain_def_hotplug_match(l.live, xml, error);
    if (old == NULL)
        return FALSE;
    if (old->kind == VB_DEV_INTERFACE) /* issue 13, part netupd */
        return vb_hotplug_net_update(list, dom, l.mon, l.run, l.live, old, xml, error);
    if (old->kind == VB_DEV_GRAPHICS)
        return vb_domain_hotplug_update_graphics(dom, l.mon, l.live, l.run, old, xml, error);
    if (old->kind != VB_DEV_DISK ||
        (g_strcmp0(old->device, "cdrom") != 0 && g_strcmp0(old->device, "floppy") != 0)) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "live update of <%s> is not supported; only the medium of a cdrom or "
                    "floppy, an interface's link and a display's password change while the "
                    "domain runs", vb_device_def_describe(old));
        return FALSE;
    }
    alias = vb_domain_def_device_alias(l.live, old);
    old_path = g_strdup(old->source_path);
    bus = g_strdup(old->bus);
    device = g_strdup(old->device);
    vb_device_def_free(vb_domain_def_steal_device(l.live, old));
    neu = vb_domain_def_hotplug_parse(l.live, xml, error);
    if (neu == NULL)
        return FALSE;
    if (g_strcmp0(neu->bus, bus) != 0 || g_strcmp0(neu->device, device) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "only the medium of %s can change while the domain runs, not its bus "
                    "or device type", alias);
        return FALSE;
    }
    media = neu->source.present;
    if (media && (!vb_qemu_disk_prepare_one(neu, &disks, error) ||
                  !vb_domain_dac_hold_disk(list, dom, neu, disks, error)))
        return FALSE; /* issue 14, part dac: QEMU's user opens the medium */
    if (media) {
        GPtrArray *nodes_only;

        node = next_node_index(l.mon, error);
        if (node < 0)
            return FALSE;
        params.id = l.id;
        params.monitor_path = l.monitor_path;
        params.pidfile = "";
        params.runtime_dir = l.runtime_dir;
        params.vnc_port = -1;
        params.disks = disks;
        opts = vb_qemu_command_hotplug(l.live, l.caps, &params, neu, node, error);
        if (opts == NULL)
            return FALSE;
        /* the nodes only: the device is there */
        nodes_only = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i + 1 < opts->len; i += 2) {
            if (strcmp(g_ptr_array_index(opts, i), "-blockdev") != 0)
                continue;
            g_ptr_array_add(nodes_only, g_strdup(g_ptr_array_index(opts, i)));
            g_ptr_array_add(nodes_only, g_strdup(g_ptr_array_index(opts, i + 1)));
        }
        g_ptr_array_unref(opts);
        opts = nodes_only;
        new_top = g_strdup_printf("libvirt-%d-format", node);
        if (!vb_domain_devns_add(dom, opts, error)) /* issue 14, part devns */
            return FALSE;
    }

    old_top = disk_top_node(l.mon, alias);
    if (!tray_open(l.mon, alias, &is_open, &has_tray)) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "QEMU has no drive %s", alias);
        return FALSE;
    }
    if (has_tray && !is_open) {
        gint64 end = g_get_monotonic_time() + TRAY_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

        if (!tray_cmd(l.mon, "blockdev-open-tray", alias, force ? 1 : 0, error))
            return FALSE;
        while (tray_open(l.mon, alias, &is_open, &has_tray) && !is_open &&
               g_get_monotonic_time() < end)
            g_usleep(50 * G_TIME_SPAN_MILLISECOND);
        if (!is_open) {
            g_set_error(error, VB_ERROR, VB_ERROR_OPERATION_TIMEOUT,
                        "timed out waiting to open the tray of '%s' (the guest locks it; "
                        "use FORCE)", alias);
            return FALSE;
        }
    }
    if (!tray_cmd(l.mon, "blockdev-remove-medium", alias, -1, error))
        return FALSE;
    if (old_top != NULL)
        delete_disk_nodes(dom, l.mon, old_top);
    if (media) {
        g_autoptr(JsonNode) r = NULL;
        JsonObject *args;

        if (!send_options(dom, l.mon, opts, NULL, error))
            return FALSE;
        args = json_object_new();
        json_object_set_string_member(args, "id", alias);
        json_object_set_string_member(args, "node-name", new_top);
        r = vb_domain_hotplug_qmp(l.mon, "blockdev-insert-medium", args, error);
        if (r == NULL) {
            g_prefix_error(error, "blockdev-insert-medium: ");
            delete_disk_nodes(dom, l.mon, new_top);
            return FALSE;
        }
    }
    if (has_tray && !tray_cmd(l.mon, "blockdev-close-tray", alias, -1, error))
        return FALSE;

    g_mutex_lock(&dom->lock);
    if (dom->id >= 0 && dom->run == l.run) {
        VbDeviceDef *cur = vb_domain_def_find_alias(dom->def, alias);

        if (cur != NULL)
            vb_domain_def_remove_device(dom->def, cur);
        vb_domain_def_insert_device(dom->def, vb_domain_def_steal_device(l.live, neu));
        vb_domain_def_set_live(dom->def, dom->id);
    }
    g_mutex_unlock(&dom->lock);
    vb_domain_devns_drop(dom, old_path); /* issue 14, part devns: unless still named */
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, dom->uuid_str, "medium of %s %s", alias,
                  media ? "changed" : "ejected");
    return TRUE;
}

/**
 * vb_domain_update_device:
 * @xml: the whole device as it is to be
 * @flags: LIVE and/or CONFIG, or 0 (current); FORCE ejects a medium the guest locked
 *
 * libvirt's qemuDomainUpdateDeviceFlags: live, only a cdrom's or floppy's medium
 * changes; CONFIG replaces the matching device of the persistent definition.
 */
gboolean
vb_domain_update_device(VbDomainList *list, VbDomainObj *dom, const char *xml, guint flags,
                        const char *owner, GError **error)
{
    gboolean live = FALSE, config = FALSE, ok;

    if (!begin(list, dom, "UpdateDevice", owner, error))
        return FALSE;
    ok = flags_of(dom, flags, &live, &config, error) &&
         (!config || config_apply(list, dom, CONFIG_UPDATE, xml, TRUE, error)) &&
         (!live || change_media(list, dom, xml, (flags & VB_DOMAIN_DEVICE_MODIFY_FORCE) != 0,
                                error));
    if (ok && live)
        save_status(list, dom);
    if (ok && config)
        ok = config_apply(list, dom, CONFIG_UPDATE, xml, FALSE, error);
    vb_domain_job_end(dom);
    if (ok)
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    return ok;
}
