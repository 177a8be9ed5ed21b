/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Readers of the guest agent's replies (issue 13, part agent): guest-get-time,
 * guest-get-fsinfo, guest-get-users, guest-get-osinfo, guest-get-timezone,
 * guest-get-host-name, turned into what the bus returns, with libvirt's typed-parameter
 * names for GetGuestInfo (qemuAgentGetUsers, qemuAgentGetOSInfo, ...). A reply of the wrong
 * shape is AgentCommandFailed naming what is missing; unknown members are ignored.
 */
#include "config.h"

#include <string.h>

#include "qemu-agent.h"
#include "vb-error.h"

static void
malformed(GError **error, const char *command, const char *what)
{
    g_set_error(error, VB_ERROR, VB_ERROR_AGENT_COMMAND,
                "QEMU guest agent sent a malformed reply to '%s': %s", command, what);
}

/* The object at @i, or NULL (json_array_get_object_element() is critical on others). */
static JsonObject *
obj_at(JsonArray *arr, guint i)
{
    JsonNode *n = json_array_get_element(arr, i);

    return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static gboolean
get_int(JsonObject *o, const char *name, gint64 *out)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    if (n == NULL || !JSON_NODE_HOLDS_VALUE(n))
        return FALSE;
    if (json_node_get_value_type(n) == G_TYPE_INT64)
        *out = json_node_get_int(n);
    else if (json_node_get_value_type(n) == G_TYPE_DOUBLE)
        *out = (gint64)json_node_get_double(n);
    else
        return FALSE;
    return TRUE;
}

static const char *
get_str(JsonObject *o, const char *name)
{
    JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

    if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(n);
}

/**
 * vb_qemu_agent_parse_time:
 * @ret: the "return" of guest-get-time (nanoseconds since the epoch)
 *
 * Returns: whether it was an integer; then *out_seconds and *out_nseconds are set
 */
gboolean
vb_qemu_agent_parse_time(JsonNode *ret, gint64 *out_seconds, guint *out_nseconds,
                         GError **error)
{
    gint64 ns;

    if (ret == NULL || !JSON_NODE_HOLDS_VALUE(ret) ||
        json_node_get_value_type(ret) != G_TYPE_INT64) {
        malformed(error, "guest-get-time", "not an integer");
        return FALSE;
    }
    ns = json_node_get_int(ret);
    *out_seconds = ns / 1000000000;
    *out_nseconds = (guint)(ns % 1000000000);
    if (ns < 0 && *out_nseconds != 0) {
        /* libvirt divides the same way; keep nseconds in 0..999999999 */
        *out_seconds -= 1;
        *out_nseconds = (guint)(ns % 1000000000 + 1000000000);
    }
    return TRUE;
}

/**
 * vb_qemu_agent_parse_host_name:
 * @ret: the "return" of guest-get-host-name
 *
 * Returns: (transfer full) (nullable): the "host-name"
 */
char *
vb_qemu_agent_parse_host_name(JsonNode *ret, GError **error)
{
    const char *h = ret != NULL && JSON_NODE_HOLDS_OBJECT(ret)
                        ? get_str(json_node_get_object(ret), "host-name") : NULL;

    if (h == NULL) {
        malformed(error, "guest-get-host-name", "no 'host-name'");
        return NULL;
    }
    return g_strdup(h);
}

/**
 * vb_guest_fs_free:
 * @fs: (nullable): a file system
 */
void
vb_guest_fs_free(VbGuestFS *fs)
{
    if (fs == NULL)
        return;
    g_free(fs->mountpoint);
    g_free(fs->name);
    g_free(fs->fstype);
    g_strfreev(fs->devices);
    g_strfreev(fs->serials);
    g_strfreev(fs->buses);
    if (fs->addrs != NULL)
        g_array_unref(fs->addrs);
    g_free(fs);
}

/**
 * vb_qemu_agent_parse_disk_addr:
 * @d: (nullable): a GuestDiskAddress of guest-get-fsinfo or guest-get-disks
 * @addr: (out): its pci-controller (has_pci when complete) and bus, target, unit (0 when
 *   absent or out of range)
 */
void
vb_qemu_agent_parse_disk_addr(JsonObject *d, VbGuestDiskAddr *addr)
{
    JsonNode *pn = d != NULL ? json_object_get_member(d, "pci-controller") : NULL;
    gint64 v[4], b = 0, t = 0, u = 0;

    memset(addr, 0, sizeof(*addr));
    if (pn != NULL && JSON_NODE_HOLDS_OBJECT(pn)) {
        JsonObject *pc = json_node_get_object(pn);

        addr->has_pci = get_int(pc, "domain", &v[0]) && get_int(pc, "bus", &v[1]) &&
                        get_int(pc, "slot", &v[2]) && get_int(pc, "function", &v[3]);
        for (guint k = 0; addr->has_pci && k < 4; k++)
            addr->has_pci = v[k] >= 0 && v[k] <= G_MAXUINT16;
        if (addr->has_pci) {
            addr->pci_domain = (guint)v[0];
            addr->pci_bus = (guint)v[1];
            addr->pci_slot = (guint)v[2];
            addr->pci_function = (guint)v[3];
        }
    }
    if (get_int(d, "bus", &b) && get_int(d, "target", &t) && get_int(d, "unit", &u) &&
        b >= 0 && t >= 0 && u >= 0 && b <= G_MAXUINT16 && t <= G_MAXUINT16 && u <= G_MAXUINT16) {
        addr->bus = (guint)b;
        addr->target = (guint)t;
        addr->unit = (guint)u;
    }
}

static gboolean
parse_fs_disks(VbGuestFS *fs, JsonObject *o, GError **error)
{
    JsonNode *n = json_object_get_member(o, "disk");
    JsonArray *arr;
    g_autoptr(GPtrArray) devs = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) serials = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) buses = g_ptr_array_new_with_free_func(g_free);

    if (n == NULL || !JSON_NODE_HOLDS_ARRAY(n)) {
        malformed(error, "guest-get-fsinfo", "a file system without 'disk'");
        return FALSE;
    }
    arr = json_node_get_array(n);
    fs->addrs = g_array_new(FALSE, TRUE, sizeof(VbGuestDiskAddr));
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *d = obj_at(arr, i);
        const char *dev = get_str(d, "dev");
        const char *bus = get_str(d, "bus-type");
        VbGuestDiskAddr addr = { 0 };

        vb_qemu_agent_parse_disk_addr(d, &addr);
        if (d == NULL) {
            malformed(error, "guest-get-fsinfo", "a disk that is not an object");
            return FALSE;
        }
        g_ptr_array_add(devs, g_strdup(dev != NULL ? dev : ""));
        g_ptr_array_add(serials, g_strdup(get_str(d, "serial") != NULL ? get_str(d, "serial")
                                                                         : ""));
        g_ptr_array_add(buses, g_strdup(bus != NULL ? bus : ""));
        g_array_append_val(fs->addrs, addr);
    }
    g_ptr_array_add(devs, NULL);
    g_ptr_array_add(serials, NULL);
    g_ptr_array_add(buses, NULL);
    fs->devices = (GStrv)g_ptr_array_free(g_steal_pointer(&devs), FALSE);
    fs->serials = (GStrv)g_ptr_array_free(g_steal_pointer(&serials), FALSE);
    fs->buses = (GStrv)g_ptr_array_free(g_steal_pointer(&buses), FALSE);
    return TRUE;
}

/**
 * vb_qemu_agent_parse_fsinfo:
 * @ret: the "return" of guest-get-fsinfo
 *
 * Every mounted file system the agent reports, in its order (libvirt's qemuAgentGetFSInfo:
 * "name", "mountpoint", "type" and "disk" are required; sizes when the guest gives them).
 *
 * Returns: (transfer full) (element-type VbGuestFS) (nullable): the file systems
 */
GPtrArray *
vb_qemu_agent_parse_fsinfo(JsonNode *ret, GError **error)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)vb_guest_fs_free);
    JsonArray *arr;

    if (ret == NULL || !JSON_NODE_HOLDS_ARRAY(ret)) {
        malformed(error, "guest-get-fsinfo", "not an array");
        return NULL;
    }
    arr = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = obj_at(arr, i);
        g_autoptr(VbGuestFS) fs = g_new0(VbGuestFS, 1);
        const char *name = get_str(o, "name"), *mp = get_str(o, "mountpoint");
        const char *type = get_str(o, "type");
        gint64 total, used;

        if (name == NULL || mp == NULL || type == NULL) {
            malformed(error, "guest-get-fsinfo",
                      "a file system without 'name', 'mountpoint' or 'type'");
            return NULL;
        }
        fs->name = g_strdup(name);
        fs->mountpoint = g_strdup(mp);
        fs->fstype = g_strdup(type);
        if (get_int(o, "total-bytes", &total) && get_int(o, "used-bytes", &used) &&
            total >= 0 && used >= 0) {
            fs->total_bytes = (guint64)total;
            fs->used_bytes = (guint64)used;
            fs->has_sizes = TRUE;
        }
        if (!parse_fs_disks(fs, o, error))
            return NULL;
        g_ptr_array_add(out, g_steal_pointer(&fs));
    }
    return g_steal_pointer(&out);
}

/**
 * vb_qemu_agent_info_users:
 * @ret: the "return" of guest-get-users
 * @d: GetGuestInfo's dictionary: user.count, user.N.name, user.N.domain (Windows),
 *   user.N.login-time (ms since the epoch), as libvirt's qemuAgentGetUsers
 */
gboolean
vb_qemu_agent_info_users(JsonNode *ret, GVariantDict *d, GError **error)
{
    JsonArray *arr;
    guint n;

    if (ret == NULL || !JSON_NODE_HOLDS_ARRAY(ret)) {
        malformed(error, "guest-get-users", "not an array");
        return FALSE;
    }
    arr = json_node_get_array(ret);
    n = json_array_get_length(arr);
    g_variant_dict_insert(d, "user.count", "u", n);
    for (guint i = 0; i < n; i++) {
        JsonObject *o = obj_at(arr, i);
        const char *user = get_str(o, "user"), *dom = get_str(o, "domain");
        JsonNode *lt = o != NULL ? json_object_get_member(o, "login-time") : NULL;
        g_autofree char *k = NULL;

        if (user == NULL) {
            malformed(error, "guest-get-users", "an entry without 'user'");
            return FALSE;
        }
        k = g_strdup_printf("user.%u.name", i);
        g_variant_dict_insert(d, k, "s", user);
        if (dom != NULL) {
            g_free(k);
            k = g_strdup_printf("user.%u.domain", i);
            g_variant_dict_insert(d, k, "s", dom);
        }
        if (lt == NULL || !JSON_NODE_HOLDS_VALUE(lt) ||
            (json_node_get_value_type(lt) != G_TYPE_DOUBLE &&
             json_node_get_value_type(lt) != G_TYPE_INT64)) {
            malformed(error, "guest-get-users", "an entry without 'login-time'");
            return FALSE;
        }
        g_free(k);
        k = g_strdup_printf("user.%u.login-time", i);
        g_variant_dict_insert(d, k, "t", (guint64)(json_node_get_double(lt) * 1000));
    }
    return TRUE;
}

/**
 * vb_qemu_agent_info_os:
 * @ret: the "return" of guest-get-osinfo
 * @d: gets os.id, os.name, os.pretty-name, os.version, os.version-id, os.kernel-release,
 *   os.kernel-version, os.machine, os.variant, os.variant-id (those the guest gives)
 */
gboolean
vb_qemu_agent_info_os(JsonNode *ret, GVariantDict *d, GError **error)
{
    static const char *const keys[] = { "id", "name", "pretty-name", "version", "version-id",
                                        "kernel-release", "kernel-version", "machine",
                                        "variant", "variant-id" };
    JsonObject *o = ret != NULL && JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret)
                                                               : NULL;

    if (o == NULL) {
        malformed(error, "guest-get-osinfo", "not an object");
        return FALSE;
    }
    for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
        const char *v = get_str(o, keys[i]);
        g_autofree char *k = NULL;

        if (v == NULL)
            continue;
        k = g_strdup_printf("os.%s", keys[i]);
        g_variant_dict_insert(d, k, "s", v);
    }
    return TRUE;
}

/**
 * vb_qemu_agent_info_timezone:
 * @ret: the "return" of guest-get-timezone
 * @d: gets timezone.name (when the guest names it) and timezone.offset (seconds, int)
 */
gboolean
vb_qemu_agent_info_timezone(JsonNode *ret, GVariantDict *d, GError **error)
{
    JsonObject *o = ret != NULL && JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret)
                                                               : NULL;
    const char *zone = get_str(o, "zone");
    gint64 offset;

    if (o == NULL || !get_int(o, "offset", &offset) || offset < G_MININT32 ||
        offset > G_MAXINT32) {
        malformed(error, "guest-get-timezone", "no 'offset'");
        return FALSE;
    }
    if (zone != NULL)
        g_variant_dict_insert(d, "timezone.name", "s", zone);
    g_variant_dict_insert(d, "timezone.offset", "i", (gint32)offset);
    return TRUE;
}

/**
 * vb_qemu_agent_info_fs:
 * @fss: (element-type VbGuestFS): vb_qemu_agent_parse_fsinfo()'s result
 * @aliases: (nullable): per file system, its disks' targets in the domain ("vda", "" when
 *   none matched), or NULL (then the guest's device names)
 * @d: gets fs.count, fs.N.name, fs.N.mountpoint, fs.N.fstype, fs.N.total-bytes,
 *   fs.N.used-bytes, fs.N.disk.count, fs.N.disk.M.alias / .serial / .device
 */
void
vb_qemu_agent_info_fs(GPtrArray *fss, GStrv *aliases, GVariantDict *d)
{
    g_variant_dict_insert(d, "fs.count", "u", fss->len);
    for (guint i = 0; i < fss->len; i++) {
        const VbGuestFS *fs = g_ptr_array_index(fss, i);
        guint nd = fs->devices != NULL ? g_strv_length(fs->devices) : 0;
        g_autofree char *p = g_strdup_printf("fs.%u.", i);
        g_autofree char *k = NULL;

#define PUT(suffix, type, value) \
    do { \
        g_free(k); \
        k = g_strconcat(p, suffix, NULL); \
        g_variant_dict_insert(d, k, type, value); \
    } while (0)
        PUT("name", "s", fs->name);
        PUT("mountpoint", "s", fs->mountpoint);
        PUT("fstype", "s", fs->fstype);
        if (fs->has_sizes) {
            PUT("total-bytes", "t", fs->total_bytes);
            PUT("used-bytes", "t", fs->used_bytes);
        }
        PUT("disk.count", "u", nd);
        for (guint j = 0; j < nd; j++) {
            g_autofree char *dp = g_strdup_printf("disk.%u.", j);
            g_autofree char *alias = NULL;

            if (aliases != NULL)
                alias = g_strdup(aliases[i][j]); /* "" when no disk of the domain matched */
            else if (g_str_has_prefix(fs->devices[j], "/dev/"))
                alias = g_strdup(fs->devices[j] + 5);
            if (alias != NULL && *alias != '\0') {
                g_autofree char *s = g_strconcat(dp, "alias", NULL);

                PUT(s, "s", alias);
            }
            if (*fs->serials[j] != '\0') {
                g_autofree char *s = g_strconcat(dp, "serial", NULL);

                PUT(s, "s", fs->serials[j]);
            }
            if (*fs->devices[j] != '\0') {
                g_autofree char *s = g_strconcat(dp, "device", NULL);

                PUT(s, "s", fs->devices[j]);
            }
        }
#undef PUT
    }
}

/* ---- guest-get-disks (issue 13, part misc) ---- */

/**
 * vb_guest_disk_free:
 * @disk: (nullable): a disk of vb_qemu_agent_parse_disks()
 */
void
vb_guest_disk_free(VbGuestDisk *disk)
{
    if (disk == NULL)
        return;
    g_free(disk->name);
    g_strfreev(disk->dependencies);
    g_free(disk->serial);
    g_free(disk->bus_type);
    g_free(disk->alias);
    g_free(disk);
}

/**
 * vb_qemu_agent_parse_disks:
 * @ret: the "return" of guest-get-disks
 *
 * The guest's block devices, in the agent's order (libvirt's qemuAgentGetDisks: "name"
 * and "partition" are required; "dependencies", "address" and "alias" optional).
 *
 * Returns: (transfer full) (element-type VbGuestDisk) (nullable): the disks
 */
GPtrArray *
vb_qemu_agent_parse_disks(JsonNode *ret, GError **error)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)vb_guest_disk_free);
    JsonArray *arr;

    if (ret == NULL || !JSON_NODE_HOLDS_ARRAY(ret)) {
        malformed(error, "guest-get-disks", "not an array");
        return NULL;
    }
    arr = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = obj_at(arr, i);
        g_autoptr(VbGuestDisk) disk = g_new0(VbGuestDisk, 1);
        JsonNode *part = o != NULL ? json_object_get_member(o, "partition") : NULL;
        JsonNode *deps = o != NULL ? json_object_get_member(o, "dependencies") : NULL;
        JsonNode *addr = o != NULL ? json_object_get_member(o, "address") : NULL;

        if (get_str(o, "name") == NULL || part == NULL || !JSON_NODE_HOLDS_VALUE(part) ||
            json_node_get_value_type(part) != G_TYPE_BOOLEAN) {
            malformed(error, "guest-get-disks", "a disk without 'name' or 'partition'");
            return NULL;
        }
        disk->name = g_strdup(get_str(o, "name"));
        disk->partition = json_node_get_boolean(part);
        if (deps != NULL && JSON_NODE_HOLDS_ARRAY(deps)) {
            JsonArray *da = json_node_get_array(deps);
            g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);

            for (guint j = 0; j < json_array_get_length(da); j++) {
                JsonNode *n = json_array_get_element(da, j);

                if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
                    malformed(error, "guest-get-disks", "a dependency that is not a string");
                    return NULL;
                }
                g_ptr_array_add(names, g_strdup(json_node_get_string(n)));
            }
            g_ptr_array_add(names, NULL);
            disk->dependencies = (GStrv)g_ptr_array_free(g_steal_pointer(&names), FALSE);
        }
        if (addr != NULL && JSON_NODE_HOLDS_OBJECT(addr)) {
            JsonObject *a = json_node_get_object(addr);

            disk->has_address = TRUE;
            disk->serial = g_strdup(get_str(a, "serial"));
            disk->bus_type = g_strdup(get_str(a, "bus-type"));
            vb_qemu_agent_parse_disk_addr(a, &disk->addr);
        }
        disk->alias = g_strdup(get_str(o, "alias"));
        g_ptr_array_add(out, g_steal_pointer(&disk));
    }
    return g_steal_pointer(&out);
}
