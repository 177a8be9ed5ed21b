/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-domain cgroups (issue 14, part cgroup; docs/resources.md). By cgroup_mode:
 *
 * - machined: systemd-machined's CreateMachine (org.freedesktop.machine1) with the name
 *   qemu-<id>-<name>, class vm, QEMU as leader and the limits as scope properties; machined
 *   makes machine-qemu\x2d<id>\x2d<name>.scope in the partition's slice.
 * - systemd: the same scope through org.freedesktop.systemd1 StartTransientUnit.
 * - direct: a cgroup the service makes: cgroup v2 under /sys/fs/cgroup/<partition>/, or,
 *   where the controllers are cgroup v1 hierarchies (a hybrid host, this build machine),
 *   one directory per controller below the service's own placement; removed after QEMU
 *   exits.
 * - none: nothing; the limits are listed in the domain's Unsupported property.
 *
 * A scope is no child of virtbusd's unit, so the VM keeps running when the service
 * restarts; the status XML remembers the scope or the directories (vb_domain_cgroup_format).
 * Per-thread CPU quotas (<cputune> period/quota, emulator_*, iothread_*) need a cgroup per
 * thread, which is not made: they are listed as not applied in every mode.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "domain-cgroup.h"
#include "domain-list-priv.h"
#include "vb-error.h"
#include "vb-log.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP2_MAGIC 0x63677270
#define CGROUP1_MAGIC 0x27e0eb

static int resolved_mode = VB_CGROUP_MODE_NONE;

static gboolean
is_fs(const char *path, long magic)
{
    struct statfs st;

    return statfs(path, &st) == 0 && (long)st.f_type == magic;
}

/* cgroup v2 with the controllers at /sys/fs/cgroup, else v1 hierarchies (hybrid) */
static gboolean
unified(void)
{
    return is_fs(CGROUP_ROOT, CGROUP2_MAGIC);
}

static gboolean
name_on_system_bus(const char *name)
{
    g_autoptr(GDBusConnection) bus = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, NULL);
    g_autoptr(GVariant) r = NULL;
    gboolean has = FALSE;

    if (bus == NULL)
        return FALSE;
    r = g_dbus_connection_call_sync(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                    "org.freedesktop.DBus", "NameHasOwner",
                                    g_variant_new("(s)", name), G_VARIANT_TYPE("(b)"),
                                    G_DBUS_CALL_FLAGS_NONE, 2000, NULL, NULL);
    if (r != NULL)
        g_variant_get(r, "(b)", &has);
    /* machined is bus-activated: an activatable name counts too */
    if (!has) {
        g_autoptr(GVariant) names = g_dbus_connection_call_sync(
            bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
            "ListActivatableNames", NULL, G_VARIANT_TYPE("(as)"), G_DBUS_CALL_FLAGS_NONE, 2000,
            NULL, NULL);
        g_autofree const char **list = NULL;

        if (names != NULL) {
            g_variant_get(names, "(^a&s)", &list);
            has = g_strv_contains(list, name);
        }
    }
    return has;
}

static gboolean
systemd_is_init(void)
{
    return g_file_test("/run/systemd/system", G_FILE_TEST_IS_DIR);
}

static gboolean
direct_possible(void)
{
    if (unified())
        return access(CGROUP_ROOT "/cgroup.subtree_control", W_OK) == 0;
    return is_fs(CGROUP_ROOT "/memory", CGROUP1_MAGIC) && access(CGROUP_ROOT "/memory", W_OK) == 0;
}

/**
 * vb_domain_cgroup_init:
 * @configured_mode: the cgroup_mode setting (VbCgroupMode)
 *
 * Resolves "auto" (machined if org.freedesktop.machine1 is on the system bus, else systemd
 * if systemd is PID 1, else direct if the cgroup tree is writable, else none) and keeps the
 * mode for the run of the service. Main thread, at start-up, before any domain starts.
 */
void
vb_domain_cgroup_init(int configured_mode)
{
    int mode = configured_mode < 0 ? VB_CGROUP_MODE_NONE : configured_mode;

    if (mode == VB_CGROUP_MODE_AUTO) {
        if (name_on_system_bus("org.freedesktop.machine1"))
            mode = VB_CGROUP_MODE_MACHINED;
        else if (systemd_is_init())
            mode = VB_CGROUP_MODE_SYSTEMD;
        else if (direct_possible())
            mode = VB_CGROUP_MODE_DIRECT;
        else
            mode = VB_CGROUP_MODE_NONE;
        g_message("cgroup_mode auto: using %s", vb_cgroup_mode_to_string(mode));
    }
    resolved_mode = mode;
}

/** vb_domain_cgroup_mode: the mode vb_domain_cgroup_init() settled on */
VbCgroupMode
vb_domain_cgroup_mode(void)
{
    return resolved_mode;
}

/**
 * vb_domain_cgroup_machine_name:
 *
 * Returns: (transfer full): "qemu-<id>-<name>" with only letters, digits and "-_." of the
 *   name kept, at most 64 characters (libvirt's machine name)
 */
char *
vb_domain_cgroup_machine_name(int id, const char *name)
{
    g_autoptr(GString) s = g_string_new(NULL);

    g_string_printf(s, "qemu-%d-", id);
    for (const char *p = name; *p != '\0' && s->len < 64; p++) {
        if (g_ascii_isalnum(*p) || strchr("-_.", *p) != NULL)
            g_string_append_c(s, *p);
    }
    while (s->len > 0 && strchr("-.", s->str[s->len - 1]) != NULL)
        g_string_truncate(s, s->len - 1);
    return g_string_free(g_steal_pointer(&s), FALSE);
}

/* systemd's unit name escaping of one path segment */
static void
escape_unit(GString *s, const char *part)
{
    for (const char *p = part; *p != '\0'; p++) {
        if (g_ascii_isalnum(*p) || *p == ':' || *p == '_' || (*p == '.' && p != part))
            g_string_append_c(s, *p);
        else
            g_string_append_printf(s, "\\x%02x", (guchar)*p);
    }
}

/** vb_domain_cgroup_scope_name: "machine-qemu\x2d1\x2dvm.scope" for "qemu-1-vm" */
char *
vb_domain_cgroup_scope_name(const char *machine_name)
{
    GString *s = g_string_new("machine-");

    escape_unit(s, machine_name);
    g_string_append(s, ".scope");
    return g_string_free(s, FALSE);
}

/** vb_domain_cgroup_slice_name: "/machine" -> "machine.slice", "/a/b" -> "a-b.slice" */
char *
vb_domain_cgroup_slice_name(const char *partition)
{
    g_auto(GStrv) parts = g_strsplit(partition + (partition[0] == '/'), "/", -1);
    GString *s = g_string_new(NULL);

    for (guint i = 0; parts[i] != NULL; i++) {
        if (*parts[i] == '\0')
            continue;
        if (s->len > 0)
            g_string_append_c(s, '-');
        escape_unit(s, parts[i]);
    }
    if (s->len == 0)
        g_string_append(s, "machine");
    g_string_append(s, ".slice");
    return g_string_free(s, FALSE);
}

static gboolean
per_thread(VbTuneItem item)
{
    return item == VB_TUNE_PERIOD || item == VB_TUNE_QUOTA || item == VB_TUNE_EMULATOR_PERIOD ||
           item == VB_TUNE_EMULATOR_QUOTA || item == VB_TUNE_IOTHREAD_PERIOD ||
           item == VB_TUNE_IOTHREAD_QUOTA;
}

/* ---- what a mode cannot apply ---- */

static void
add_entry(GStrvBuilder *b, const char *parent, const char *elem, int line, const char *why)
{
    g_autofree char *what = elem != NULL ? g_strdup_printf("<%s><%s>", parent, elem)
                                         : g_strdup_printf("<%s>", parent);
    g_autofree char *e = line > 0 ? g_strdup_printf("%s at line %d: %s", what, line, why)
                                  : g_strdup_printf("%s: %s", what, why);

    g_strv_builder_add(b, e);
}

/* which direct-mode controller file an item needs, NULL when there is none */
static const char *
direct_file(VbTuneItem item, gboolean v2, const char **out_ctrl)
{
    static const char *const v2_files[VB_TUNE_LAST] = {
        "memory.max", "memory.high", "memory.swap.max", "memory.low", "cpu.weight", NULL,
        NULL, "cpu.max", "cpu.max", NULL, NULL, NULL, NULL, "io.weight",
    };
    static const char *const v1_files[VB_TUNE_LAST] = {
        "memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.memsw.limit_in_bytes",
        NULL, "cpu.shares", NULL, NULL, "cpu.cfs_period_us", "cpu.cfs_quota_us", NULL, NULL,
        NULL, NULL, "blkio.weight",
    };

    *out_ctrl = item <= VB_TUNE_MIN_GUARANTEE   ? "memory"
                : item == VB_TUNE_BLKIO_WEIGHT ? (v2 ? "io" : "blkio")
                                               : "cpu";
    return v2 ? v2_files[item] : v1_files[item];
}

/* v1: the directory of @ctrl's hierarchy the service itself is in */
static char *
v1_own_dir(const char *ctrl)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents("/proc/self/cgroup", &text, NULL, NULL))
        return NULL;
    lines = g_strsplit(text, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], ":", 3);
        g_auto(GStrv) ctrls = NULL;

        if (g_strv_length(f) != 3)
            continue;
        ctrls = g_strsplit(f[1], ",", -1);
        if (g_strv_contains((const char *const *)ctrls, ctrl))
            return g_build_filename(CGROUP_ROOT, ctrl, f[2], NULL);
    }
    return NULL;
}

/* whether direct mode can write @file of @ctrl on this host */
static gboolean
direct_has(const char *ctrl, const char *file, gboolean v2)
{
    g_autofree char *path = NULL;
    g_autofree char *ctrls = NULL;
    g_auto(GStrv) list = NULL;

    if (!v2) {
        g_autofree char *own = v1_own_dir(ctrl);

        if (own == NULL)
            return FALSE;
        path = g_build_filename(own, file, NULL);
        /* blkio.weight is gone with CFQ; BFQ has its own */
        if (g_str_equal(file, "blkio.weight") && !g_file_test(path, G_FILE_TEST_EXISTS)) {
            g_free(path);
            path = g_build_filename(own, "blkio.bfq.weight", NULL);
        }
        return g_file_test(path, G_FILE_TEST_EXISTS);
    }
    if (!g_file_get_contents(CGROUP_ROOT "/cgroup.controllers", &ctrls, NULL, NULL))
        return FALSE;
    list = g_strsplit_set(g_strstrip(ctrls), " ", -1);
    return g_strv_contains((const char *const *)list, ctrl);
}

/**
 * vb_domain_cgroup_unsupported:
 * @def: a definition parsed from the caller's document (its lines are the caller's)
 * @b: receives "<memtune><hard_limit> at line N: why" for each limit the resolved mode
 *   does not apply
 *
 * Called at define (domain-defaults.c), so Unsupported names what a start would not apply.
 */
void
vb_domain_cgroup_unsupported(const VbDomainDef *def, GStrvBuilder *b)
{
    const VbDomainTune *t = vb_domain_def_get_tune(def);
    int mode = resolved_mode;
    gboolean v2 = mode == VB_CGROUP_MODE_DIRECT && unified();

    for (guint i = 0; i < VB_TUNE_LAST; i++) {
        const char *ctrl, *file;
        g_autofree char *why = NULL;

        if (!VB_TUNE_HAS(t, i))
            continue;
        if (mode == VB_CGROUP_MODE_NONE) {
            why = g_strdup("not applied: cgroup_mode is none");
        } else if (per_thread(i)) {
            why = g_strdup("not applied: a per-thread CPU quota needs a cgroup per thread; "
                           "use global_period and global_quota");
        } else if (mode == VB_CGROUP_MODE_DIRECT) {
            file = direct_file(i, v2, &ctrl);
            if (file == NULL)
                why = g_strdup_printf("not applied: cgroup v1 has no such limit");
            else if (!direct_has(ctrl, file, v2))
                why = g_strdup_printf("not applied: the %s controller has no %s on this host",
                                      ctrl, file);
        }
        if (why != NULL)
            add_entry(b, vb_tune_item_parent(i), vb_tune_item_element(i), t->line[i], why);
    }
    if (t->devices->len > 0 && mode == VB_CGROUP_MODE_NONE)
        add_entry(b, "blkiotune", "device", t->devices_line, "not applied: cgroup_mode is none");
    if (t->partition != NULL && mode == VB_CGROUP_MODE_NONE)
        add_entry(b, "resource", "partition", t->partition_line,
                  "not applied: cgroup_mode is none");
}

/* ---- direct ---- */

static gboolean
write_file(const char *dir, const char *file, const char *value, GError **error)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;
    int err;

    if (fd < 0) {
        err = errno;
        g_set_error(error, VB_ERROR, err == ENOENT ? VB_ERROR_NOT_SUPPORTED : VB_ERROR_IO,
                    "cannot write '%s' to %s: %s", value, path, g_strerror(err));
        return FALSE;
    }
    n = write(fd, value, strlen(value));
    err = errno;
    close(fd);
    if (n < 0) {
        g_set_error(error, VB_ERROR, err == EINVAL || err == ERANGE ? VB_ERROR_INVALID_ARG
                                                                     : VB_ERROR_IO,
                    "cannot write '%s' to %s: %s", value, path, g_strerror(err));
        return FALSE;
    }
    return TRUE;
}

static char *
bytes_or(gint64 kib, const char *unlimited)
{
    if (kib >= VB_TUNE_MEMORY_UNLIMITED)
        return g_strdup(unlimited);
    return g_strdup_printf("%" G_GUINT64_FORMAT, (guint64)kib * 1024);
}

typedef struct {
    const char *ctrl;
    const char *file;
    char *value;
    char *what;   /* "<memtune><hard_limit>" for messages */
} CgWrite;

static void
cg_write_free(CgWrite *w)
{
    g_free(w->value);
    g_free(w->what);
    g_free(w);
}

static void
add_write(GPtrArray *out, const char *ctrl, const char *file, char *value, const char *what)
{
    CgWrite *w = g_new0(CgWrite, 1);

    w->ctrl = ctrl;
    w->file = file;
    w->value = value;
    w->what = g_strdup(what);
    g_ptr_array_add(out, w);
}

static gboolean
device_numbers(const char *path, char **out, GError **error)
{
    struct stat st;

    if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "<blkiotune><device>: '%s' is not a block device on this host", path);
        return FALSE;
    }
    *out = g_strdup_printf("%u:%u", major(st.st_rdev), minor(st.st_rdev));
    return TRUE;
}

static gboolean
device_writes(const VbDomainTune *t, gboolean v2, GPtrArray *out, GError **error)
{
    for (guint i = 0; i < t->devices->len; i++) {
        const VbBlkioDevice *d = g_ptr_array_index(t->devices, i);
        g_autofree char *mm = NULL;
        const guint64 vals[] = { d->read_bytes_sec, d->write_bytes_sec, d->read_iops_sec,
                                 d->write_iops_sec };
        static const char *const v2_keys[] = { "rbps", "wbps", "riops", "wiops" };
        static const char *const v1_files[] = {
            "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
            "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device" };

        if (!device_numbers(d->path, &mm, error))
            return FALSE;
        add_write(out, v2 ? "io" : "blkio", v2 ? "io.weight" : "blkio.weight_device",
                  g_strdup_printf("%s %u", mm, d->weight != 0 ? d->weight : (v2 ? 100 : 0)),
                  "<blkiotune><device><weight>");
        if (v2) {
            GString *s = g_string_new(mm);

            for (guint k = 0; k < 4; k++) {
                if (vals[k] != 0)
                    g_string_append_printf(s, " %s=%" G_GUINT64_FORMAT, v2_keys[k], vals[k]);
                else
                    g_string_append_printf(s, " %s=max", v2_keys[k]);
            }
            add_write(out, "io", "io.max", g_string_free(s, FALSE), "<blkiotune><device>");
            continue;
        }
        for (guint k = 0; k < 4; k++)
            add_write(out, "blkio", v1_files[k],
                      g_strdup_printf("%s %" G_GUINT64_FORMAT, mm, vals[k]), "<blkiotune><device>");
    }
    return TRUE;
}

/* the files to write for @items of @t (and the devices), in an order the kernel takes */
static gboolean
build_writes(const VbDomainTune *t, guint32 items, gboolean devices, gboolean v2,
             gboolean strict, GPtrArray *out, GError **error)
{
    const gint64 *v = t->v;
    guint32 set = t->set & items;

#define HAS(i) ((set & (1u << (i))) != 0)
    if (HAS(VB_TUNE_HARD_LIMIT))
        add_write(out, "memory", v2 ? "memory.max" : "memory.limit_in_bytes",
                  bytes_or(v[VB_TUNE_HARD_LIMIT], v2 ? "max" : "-1"), "<memtune><hard_limit>");
    if (HAS(VB_TUNE_SOFT_LIMIT))
        add_write(out, "memory", v2 ? "memory.high" : "memory.soft_limit_in_bytes",
                  bytes_or(v[VB_TUNE_SOFT_LIMIT], v2 ? "max" : "-1"), "<memtune><soft_limit>");
    if (HAS(VB_TUNE_SWAP_HARD_LIMIT)) {
        gint64 swap = v[VB_TUNE_SWAP_HARD_LIMIT];

        /* libvirt's swap_hard_limit is memory + swap; cgroup v2 limits the swap alone */
        if (v2 && swap < VB_TUNE_MEMORY_UNLIMITED && VB_TUNE_HAS(t, VB_TUNE_HARD_LIMIT) &&
            v[VB_TUNE_HARD_LIMIT] < VB_TUNE_MEMORY_UNLIMITED)
            swap -= v[VB_TUNE_HARD_LIMIT];
        add_write(out, "memory", v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes",
                  bytes_or(swap, v2 ? "max" : "-1"), "<memtune><swap_hard_limit>");
    }
    if (HAS(VB_TUNE_MIN_GUARANTEE) && (v2 || strict)) {
        if (!v2) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "<memtune><min_guarantee> cannot be applied: cgroup v1 has no "
                        "memory.low");
            return FALSE;
        }
        add_write(out, "memory", "memory.low", bytes_or(v[VB_TUNE_MIN_GUARANTEE], "max"),
                  "<memtune><min_guarantee>");
    }
    if (HAS(VB_TUNE_SHARES)) {
        if (v2 && v[VB_TUNE_SHARES] > VB_TUNE_WEIGHT_MAX) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "<cputune><shares> %" G_GINT64_FORMAT " is above cgroup v2's cpu.weight "
                        "maximum %d", v[VB_TUNE_SHARES], VB_TUNE_WEIGHT_MAX);
            return FALSE;
        }
        /* <shares>0</shares> (libvirt keeps it) is the lowest weight: cgroup v1's kernel
         * takes 0 as its minimum, v2's cpu.weight starts at 1 */
        add_write(out, "cpu", v2 ? "cpu.weight" : "cpu.shares",
                  g_strdup_printf("%" G_GINT64_FORMAT,
                                  v2 ? MAX(v[VB_TUNE_SHARES], 1) : v[VB_TUNE_SHARES]),
                  "<cputune><shares>");
    }
    if (HAS(VB_TUNE_GLOBAL_PERIOD) || HAS(VB_TUNE_GLOBAL_QUOTA)) {
        gint64 period = VB_TUNE_HAS(t, VB_TUNE_GLOBAL_PERIOD) ? v[VB_TUNE_GLOBAL_PERIOD] : 100000;
        gint64 quota = VB_TUNE_HAS(t, VB_TUNE_GLOBAL_QUOTA) ? v[VB_TUNE_GLOBAL_QUOTA] : -1;

        if (v2) {
            add_write(out, "cpu", "cpu.max",
                      quota < 0 ? g_strdup_printf("max %" G_GINT64_FORMAT, period)
                                : g_strdup_printf("%" G_GINT64_FORMAT " %" G_GINT64_FORMAT,
                                                  quota, period),
                      "<cputune><global_quota>");
        } else {
            add_write(out, "cpu", "cpu.cfs_period_us", g_strdup_printf("%" G_GINT64_FORMAT, period),
                      "<cputune><global_period>");
            add_write(out, "cpu", "cpu.cfs_quota_us", g_strdup_printf("%" G_GINT64_FORMAT, quota),
                      "<cputune><global_quota>");
        }
    }
    if (HAS(VB_TUNE_BLKIO_WEIGHT))
        add_write(out, v2 ? "io" : "blkio", v2 ? "io.weight" : "blkio.weight",
                  g_strdup_printf(v2 ? "default %" G_GINT64_FORMAT : "%" G_GINT64_FORMAT,
                                  v[VB_TUNE_BLKIO_WEIGHT]),
                  "<blkiotune><weight>");
#undef HAS
    return !devices || device_writes(t, v2, out, error);
}

/* the directory of @ctrl among @dirs (v1: one per controller; v2: the only one) */
static const char *
dir_for(const char *const *dirs, const char *ctrl, gboolean v2)
{
    g_autofree char *prefix = g_strconcat(CGROUP_ROOT "/", ctrl, "/", NULL);

    for (guint i = 0; dirs != NULL && dirs[i] != NULL; i++) {
        if (v2 || g_str_has_prefix(dirs[i], prefix))
            return dirs[i];
    }
    return NULL;
}

/*
 * @strict: a controller or file this host lacks is an error (a live change); at the start
 * it is skipped, since Unsupported listed it at define
 */
static gboolean
apply_writes(const char *const *dirs, gboolean v2, gboolean strict, GPtrArray *writes,
             GError **error)
{
    for (guint i = 0; i < writes->len; i++) {
        const CgWrite *w = g_ptr_array_index(writes, i);
        const char *dir = dir_for(dirs, w->ctrl, v2);
        const char *file = w->file;
        g_autofree char *bfq = NULL;

        if (dir == NULL && !strict) {
            g_debug("%s not applied: no %s controller", w->what, w->ctrl);
            continue;
        }
        if (dir == NULL) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "%s cannot be applied: no %s controller on this host", w->what, w->ctrl);
            return FALSE;
        }
        if (!v2 && g_str_has_prefix(file, "blkio.weight")) {
            g_autofree char *plain = g_build_filename(dir, file, NULL);

            /* blkio.weight is gone with CFQ; BFQ has its own */
            bfq = g_strdup_printf("blkio.bfq.%s", file + strlen("blkio."));
            if (!g_file_test(plain, G_FILE_TEST_EXISTS))
                file = bfq;
        }
        if (!strict) {
            g_autofree char *fpath = g_build_filename(dir, file, NULL);

            if (!g_file_test(fpath, G_FILE_TEST_EXISTS)) {
                g_debug("%s not applied: %s has no %s", w->what, dir, file);
                continue;
            }
        }
        if (!write_file(dir, file, w->value, error)) {
            g_prefix_error(error, "%s cannot be applied: ", w->what);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
mkdir_p(const char *path, GError **error)
{
    if (g_mkdir_with_parents(path, 0755) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot create cgroup %s: %s", path,
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/* v2: @level hands the memory, cpu and io controllers it has down to its children */
static gboolean
enable_controllers(const char *level, GError **error)
{
    g_autofree char *path = g_build_filename(level, "cgroup.controllers", NULL);
    g_autofree char *ctrls = NULL;
    g_auto(GStrv) list = NULL;
    g_autoptr(GString) want = g_string_new(NULL);

    if (!g_file_get_contents(path, &ctrls, NULL, NULL))
        return TRUE;
    list = g_strsplit_set(g_strstrip(ctrls), " ", -1);
    for (guint k = 0; list[k] != NULL; k++) {
        if (g_str_equal(list[k], "memory") || g_str_equal(list[k], "cpu") ||
            g_str_equal(list[k], "io"))
            g_string_append_printf(want, "%s+%s", want->len > 0 ? " " : "", list[k]);
    }
    return want->len == 0 || write_file(level, "cgroup.subtree_control", want->str, error);
}

/* v2: from the root down to @dir's parent, each level hands its controllers down */
static gboolean
v2_make(const char *dir, GError **error)
{
    g_autofree char *parent = g_path_get_dirname(dir);
    g_auto(GStrv) parts = g_strsplit(parent + strlen(CGROUP_ROOT), "/", -1);
    g_autoptr(GString) level = g_string_new(CGROUP_ROOT);

    if (!enable_controllers(level->str, error))
        return FALSE;
    for (guint i = 0; parts[i] != NULL; i++) {
        if (*parts[i] == '\0')
            continue;
        g_string_append_printf(level, "/%s", parts[i]);
        if (!mkdir_p(level->str, error) || !enable_controllers(level->str, error))
            return FALSE;
    }
    return mkdir_p(dir, error);
}

static GStrv
direct_dirs(const char *partition, const char *machine, gboolean v2, GError **error)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    static const char *const ctrls[] = { "memory", "cpu", "blkio", NULL };

    if (v2) {
        g_autofree char *dir = g_build_filename(CGROUP_ROOT, partition, machine, NULL);

        g_strv_builder_add(b, dir);
        return g_strv_builder_end(b);
    }
    for (guint i = 0; ctrls[i] != NULL; i++) {
        g_autofree char *own = v1_own_dir(ctrls[i]);
        g_autofree char *mnt = g_build_filename(CGROUP_ROOT, ctrls[i], NULL);
        g_autofree char *dir = NULL;

        if (own == NULL || !is_fs(mnt, CGROUP1_MAGIC))
            continue;
        dir = g_build_filename(own, partition, machine, NULL);
        g_strv_builder_add(b, dir);
    }
    if (!is_fs(CGROUP_ROOT "/memory", CGROUP1_MAGIC) && !is_fs(CGROUP_ROOT "/cpu", CGROUP1_MAGIC)) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "cgroup_mode direct: %s is neither a cgroup v2 tree nor holds cgroup v1 "
                    "hierarchies", CGROUP_ROOT);
        return NULL;
    }
    return g_strv_builder_end(b);
}

static void
remove_dirs(const char *const *dirs)
{
    for (guint i = 0; dirs != NULL && dirs[i] != NULL; i++) {
        /* the exited QEMU may take a moment to leave the cgroup */
        for (guint tries = 0; tries < 50; tries++) {
            if (rmdir(dirs[i]) == 0 || errno == ENOENT)
                break;
            if (errno != EBUSY) {
                g_warning("cannot remove cgroup %s: %s", dirs[i], g_strerror(errno));
                break;
            }
            g_usleep(20000);
        }
    }
}

static gboolean
direct_attach(const VbDomainTune *t, const char *machine, pid_t pid, GStrv *out_dirs,
              GError **error)
{
    gboolean v2 = unified();
    g_auto(GStrv) dirs = direct_dirs(vb_domain_tune_partition(t), machine, v2, error);
    g_autoptr(GPtrArray) writes = g_ptr_array_new_with_free_func((GDestroyNotify)cg_write_free);
    g_autofree char *pid_str = g_strdup_printf("%d", (int)pid);

    if (dirs == NULL)
        return FALSE;
    if (!build_writes(t, G_MAXUINT32, TRUE, v2, FALSE, writes, error))
        return FALSE;
    for (guint i = 0; dirs[i] != NULL; i++) {
        if (!(v2 ? v2_make(dirs[i], error) : mkdir_p(dirs[i], error)))
            goto fail;
    }
    if (!apply_writes((const char *const *)dirs, v2, FALSE, writes, error))
        goto fail;
    for (guint i = 0; dirs[i] != NULL; i++) {
        if (!write_file(dirs[i], "cgroup.procs", pid_str, error)) {
            g_prefix_error(error, "cannot move QEMU into its cgroup: ");
            goto fail;
        }
    }
    *out_dirs = g_steal_pointer(&dirs);
    return TRUE;
fail:
    remove_dirs((const char *const *)dirs);
    return FALSE;
}

/* ---- machined / systemd ---- */

static void
add_dev_props(GVariantBuilder *props, const VbDomainTune *t)
{
    static const char *const names[] = { "IOReadBandwidthMax", "IOWriteBandwidthMax",
                                         "IOReadIOPSMax", "IOWriteIOPSMax", "IODeviceWeight" };

    for (guint k = 0; k < G_N_ELEMENTS(names); k++) {
        GVariantBuilder list;
        gboolean any = FALSE;

        g_variant_builder_init(&list, G_VARIANT_TYPE("a(st)"));
        for (guint i = 0; i < t->devices->len; i++) {
            const VbBlkioDevice *d = g_ptr_array_index(t->devices, i);
            const guint64 vals[] = { d->read_bytes_sec, d->write_bytes_sec, d->read_iops_sec,
                                     d->write_iops_sec, d->weight };

            if (vals[k] == 0)
                continue;
            g_variant_builder_add(&list, "(st)", d->path, vals[k]);
            any = TRUE;
        }
        if (any)
            g_variant_builder_add(props, "(sv)", names[k], g_variant_builder_end(&list));
        else
            g_variant_builder_clear(&list);
    }
}

static guint64
bytes_prop(gint64 kib)
{
    return kib >= VB_TUNE_MEMORY_UNLIMITED ? G_MAXUINT64 : (guint64)kib * 1024;
}

/* the scope properties of @items of @t: systemd's resource-control names */
static void
add_unit_props(GVariantBuilder *props, const VbDomainTune *t, guint32 items, gboolean devices)
{
    guint32 set = t->set & items;
    const gint64 *v = t->v;

    if (set & (1u << VB_TUNE_HARD_LIMIT))
        g_variant_builder_add(props, "(sv)", "MemoryMax",
                              g_variant_new_uint64(bytes_prop(v[VB_TUNE_HARD_LIMIT])));
    if (set & (1u << VB_TUNE_SOFT_LIMIT))
        g_variant_builder_add(props, "(sv)", "MemoryHigh",
                              g_variant_new_uint64(bytes_prop(v[VB_TUNE_SOFT_LIMIT])));
    if (set & (1u << VB_TUNE_SWAP_HARD_LIMIT)) {
        gint64 swap = v[VB_TUNE_SWAP_HARD_LIMIT];

        if (swap < VB_TUNE_MEMORY_UNLIMITED && VB_TUNE_HAS(t, VB_TUNE_HARD_LIMIT) &&
            v[VB_TUNE_HARD_LIMIT] < VB_TUNE_MEMORY_UNLIMITED)
            swap -= v[VB_TUNE_HARD_LIMIT];
        g_variant_builder_add(props, "(sv)", "MemorySwapMax",
                              g_variant_new_uint64(bytes_prop(swap)));
    }
    if (set & (1u << VB_TUNE_MIN_GUARANTEE))
        g_variant_builder_add(props, "(sv)", "MemoryLow",
                              g_variant_new_uint64(bytes_prop(v[VB_TUNE_MIN_GUARANTEE])));
    if (set & (1u << VB_TUNE_SHARES))
        g_variant_builder_add(props, "(sv)", "CPUWeight",
                              g_variant_new_uint64((guint64)CLAMP(v[VB_TUNE_SHARES], 1,
                                                                  10000)));
    if (set & ((1u << VB_TUNE_GLOBAL_QUOTA) | (1u << VB_TUNE_GLOBAL_PERIOD))) {
        gint64 period = VB_TUNE_HAS(t, VB_TUNE_GLOBAL_PERIOD) ? v[VB_TUNE_GLOBAL_PERIOD] : 100000;
        gint64 quota = VB_TUNE_HAS(t, VB_TUNE_GLOBAL_QUOTA) ? v[VB_TUNE_GLOBAL_QUOTA] : -1;

        g_variant_builder_add(props, "(sv)", "CPUQuotaPerSecUSec",
                              g_variant_new_uint64(quota < 0 ? G_MAXUINT64
                                                             : (guint64)quota * 1000000 /
                                                                   (guint64)period));
        g_variant_builder_add(props, "(sv)", "CPUQuotaPeriodUSec",
                              g_variant_new_uint64((guint64)period));
    }
    if (set & (1u << VB_TUNE_BLKIO_WEIGHT))
        g_variant_builder_add(props, "(sv)", "IOWeight",
                              g_variant_new_uint64((guint64)v[VB_TUNE_BLKIO_WEIGHT]));
    if (devices)
        add_dev_props(props, t);
}

static GDBusConnection *
system_bus(GError **error)
{
    g_autoptr(GError) local = NULL;
    GDBusConnection *bus = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, &local);

    if (bus == NULL)
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "cgroup_mode needs the system bus: %s", local->message);
    return bus;
}

static gboolean
bus_error(GError *local, const char *what, GError **error)
{
    g_dbus_error_strip_remote_error(local);
    g_set_error(error, VB_ERROR, VB_ERROR_FAILED, "%s: %s", what, local->message);
    g_error_free(local);
    return FALSE;
}

/* The scope is ordered Before= the service: at the host's shutdown systemd stops the
 * service first (it stops the guests, on_host_shutdown, and waits for them) and the scope
 * after it. (After= would stop the scope, QEMU with SIGTERM, before the service.) */
static void
add_order(GVariantBuilder *props)
{
    g_variant_builder_add(props, "(sv)", "Before",
                          g_variant_new_strv((const char *const[]){ "virtbusd.service", NULL },
                                             1));
}

/* StartTransientUnit answers when the job is queued: QEMU is in the scope once it ran */
static gboolean
wait_in_unit(pid_t pid, const char *unit, GError **error)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cgroup", (int)pid);
    g_autofree char *needle = g_strconcat("/", unit, NULL);
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        g_autofree char *text = NULL;

        if (!g_file_get_contents(path, &text, NULL, NULL))
            break;
        if (strstr(text, needle) != NULL)
            return TRUE;
        g_usleep(20000);
    }
    g_set_error(error, VB_ERROR, VB_ERROR_FAILED,
                "QEMU (pid %d) did not get into the scope %s within 10 s", (int)pid, unit);
    return FALSE;
}

static gboolean
machined_attach(const VbDomainTune *t, const char *machine, const char *uuid, pid_t pid,
                GError **error)
{
    g_autoptr(GDBusConnection) bus = system_bus(error);
    g_autofree char *slice = vb_domain_cgroup_slice_name(vb_domain_tune_partition(t));
    g_autoptr(GVariant) r = NULL;
    GVariantBuilder props, id;
    GError *local = NULL;
    guint hex[16];

    if (bus == NULL)
        return FALSE;
    g_variant_builder_init(&id, G_VARIANT_TYPE("ay"));
    if (sscanf(uuid, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
               &hex[0], &hex[1], &hex[2], &hex[3], &hex[4], &hex[5], &hex[6], &hex[7], &hex[8],
               &hex[9], &hex[10], &hex[11], &hex[12], &hex[13], &hex[14], &hex[15]) == 16) {
        for (guint i = 0; i < 16; i++)
            g_variant_builder_add(&id, "y", (guchar)hex[i]);
    }
    g_variant_builder_init(&props, G_VARIANT_TYPE("a(sv)"));
    g_variant_builder_add(&props, "(sv)", "Slice", g_variant_new_string(slice));
    add_order(&props);
    add_unit_props(&props, t, G_MAXUINT32, TRUE);
    r = g_dbus_connection_call_sync(bus, "org.freedesktop.machine1", "/org/freedesktop/machine1",
                                    "org.freedesktop.machine1.Manager", "CreateMachine",
                                    g_variant_new("(s@ayssusa(sv))", machine,
                                                  g_variant_builder_end(&id), "virtbus", "vm",
                                                  (guint32)pid, "", &props),
                                    G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, 30000, NULL,
                                    &local);
    if (r == NULL)
        return bus_error(local, "systemd-machined CreateMachine", error);
    return TRUE;
}

static gboolean
systemd_attach(const VbDomainTune *t, const char *unit, const char *name, pid_t pid,
               GError **error)
{
    g_autoptr(GDBusConnection) bus = system_bus(error);
    g_autofree char *slice = vb_domain_cgroup_slice_name(vb_domain_tune_partition(t));
    g_autofree char *desc = g_strdup_printf("virtbus domain %s", name);
    g_autoptr(GVariant) r = NULL;
    GVariantBuilder props, pids;
    GError *local = NULL;

    if (bus == NULL)
        return FALSE;
    g_variant_builder_init(&pids, G_VARIANT_TYPE("au"));
    g_variant_builder_add(&pids, "u", (guint32)pid);
    g_variant_builder_init(&props, G_VARIANT_TYPE("a(sv)"));
    g_variant_builder_add(&props, "(sv)", "Description", g_variant_new_string(desc));
    g_variant_builder_add(&props, "(sv)", "Slice", g_variant_new_string(slice));
    g_variant_builder_add(&props, "(sv)", "PIDs", g_variant_builder_end(&pids));
    add_order(&props);
    add_unit_props(&props, t, G_MAXUINT32, TRUE);
    r = g_dbus_connection_call_sync(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                    "org.freedesktop.systemd1.Manager", "StartTransientUnit",
                                    g_variant_new("(ssa(sv)a(sa(sv)))", unit, "fail", &props,
                                                  NULL),
                                    G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, 30000, NULL,
                                    &local);
    if (r == NULL)
        return bus_error(local, "systemd StartTransientUnit", error);
    return wait_in_unit(pid, unit, error);
}

/**
 * vb_domain_cgroup_attach:
 * @pid: QEMU's pid, before it runs guest code (started with -S)
 *
 * Puts the run's QEMU into its cgroup by the resolved cgroup_mode and applies the limits of
 * the live definition; records the scope or directories in @dom (the caller writes the
 * status). Worker thread, with the start's job; takes dom->lock briefly.
 *
 * Returns: whether QEMU is placed (always with mode none); else a named error saying what
 *   could not be applied
 */
gboolean
vb_domain_cgroup_attach(VbDomainObj *dom, pid_t pid, GError **error)
{
    int mode = resolved_mode;
    g_autoptr(VbDomainTune) t = NULL;
    g_autofree char *name = NULL;
    g_autofree char *machine = NULL;
    g_autofree char *unit = NULL;
    g_auto(GStrv) dirs = NULL;
    char uuid[37];
    gboolean ok = TRUE;

    if (mode == VB_CGROUP_MODE_NONE)
        return TRUE;
    g_mutex_lock(&dom->lock);
    t = vb_domain_tune_copy(vb_domain_def_get_tune(dom->def));
    name = g_strdup(dom->def->name);
    machine = vb_domain_cgroup_machine_name(dom->id, dom->def->name);
    memcpy(uuid, dom->uuid_str, sizeof(uuid));
    g_mutex_unlock(&dom->lock);
    unit = vb_domain_cgroup_scope_name(machine);
    if (mode == VB_CGROUP_MODE_DIRECT)
        ok = direct_attach(t, machine, pid, &dirs, error);
    else if (mode == VB_CGROUP_MODE_MACHINED)
        ok = machined_attach(t, machine, uuid, pid, error);
    else if (mode == VB_CGROUP_MODE_SYSTEMD)
        ok = systemd_attach(t, unit, name, pid, error);
    if (!ok)
        return FALSE;
    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, name, "QEMU (pid %d) placed by cgroup_mode %s in %s",
                  (int)pid, vb_cgroup_mode_to_string(mode),
                  dirs != NULL && dirs[0] != NULL ? dirs[0] : unit);
    g_mutex_lock(&dom->lock);
    dom->cgroup_mode = mode;
    g_strfreev(dom->cgroup_dirs);
    dom->cgroup_dirs = g_steal_pointer(&dirs);
    g_free(dom->cgroup_unit);
    dom->cgroup_unit = mode == VB_CGROUP_MODE_DIRECT ? NULL : g_steal_pointer(&unit);
    g_mutex_unlock(&dom->lock);
    return TRUE;
}

/* AttachProcessesToUnit (systemd 238): one more process into the run's scope */
static gboolean
unit_join(const char *unit, pid_t pid, GError **error)
{
    g_autoptr(GDBusConnection) bus = system_bus(error);
    g_autoptr(GVariant) r = NULL;
    GVariantBuilder pids;
    GError *local = NULL;

    if (bus == NULL)
        return FALSE;
    g_variant_builder_init(&pids, G_VARIANT_TYPE("au"));
    g_variant_builder_add(&pids, "u", (guint32)pid);
    r = g_dbus_connection_call_sync(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                    "org.freedesktop.systemd1.Manager", "AttachProcessesToUnit",
                                    g_variant_new("(ssau)", unit, "", &pids), NULL,
                                    G_DBUS_CALL_FLAGS_NONE, 30000, NULL, &local);
    if (r == NULL)
        return bus_error(local, "systemd AttachProcessesToUnit", error);
    return wait_in_unit(pid, unit, error);
}

/**
 * vb_domain_cgroup_join:
 * @pid: a helper of the run (swtpm, virtiofsd, passt, swtpm_setup), before its exec
 *
 * Puts @pid into the cgroup or scope vb_domain_cgroup_attach() made for the run's QEMU (the
 * helpers start in QEMU's launch hook, after its attach). Nothing to do without one
 * (cgroup_mode none). Worker thread, with the start's job; takes dom->lock briefly.
 *
 * Returns: whether @pid is placed; else a named error
 */
gboolean
vb_domain_cgroup_join(VbDomainObj *dom, pid_t pid, GError **error)
{
    g_auto(GStrv) dirs = NULL;
    g_autofree char *unit = NULL;
    g_autofree char *pid_str = g_strdup_printf("%d", (int)pid);
    int mode;

    g_mutex_lock(&dom->lock);
    mode = dom->cgroup_mode;
    dirs = g_strdupv(dom->cgroup_dirs);
    unit = g_strdup(dom->cgroup_unit);
    g_mutex_unlock(&dom->lock);
    if (mode == VB_CGROUP_MODE_NONE)
        return TRUE;
    if (mode == VB_CGROUP_MODE_DIRECT) {
        for (guint i = 0; dirs != NULL && dirs[i] != NULL; i++) {
            if (!write_file(dirs[i], "cgroup.procs", pid_str, error)) {
                g_prefix_error(error, "cannot move the helper into the domain's cgroup: ");
                return FALSE;
            }
        }
        return TRUE;
    }
    if (unit == NULL)
        return TRUE;
    return unit_join(unit, pid, error);
}

/**
 * vb_domain_cgroup_remove:
 *
 * After QEMU exited: removes the directories direct mode made (a scope goes away by itself
 * when its last process is gone) and forgets the placement. Worker or event thread; takes
 * dom->lock briefly.
 */
void
vb_domain_cgroup_remove(VbDomainObj *dom)
{
    g_auto(GStrv) dirs = NULL;

    g_mutex_lock(&dom->lock);
    dirs = g_steal_pointer(&dom->cgroup_dirs);
    g_clear_pointer(&dom->cgroup_unit, g_free);
    dom->cgroup_mode = VB_CGROUP_MODE_NONE;
    g_mutex_unlock(&dom->lock);
    remove_dirs((const char *const *)dirs);
}

/**
 * vb_domain_cgroup_set_live:
 * @tune: the new live values
 * @items: 1 << VbTuneItem of the items that changed
 * @devices: whether the <blkiotune> devices changed
 *
 * Writes the changed limits into the run's cgroup files, or SetUnitProperties on its scope.
 * Worker thread, with a modify job; takes dom->lock briefly.
 *
 * Returns: whether they were applied; NotSupported when the run has no cgroup
 */
gboolean
vb_domain_cgroup_set_live(VbDomainObj *dom, const VbDomainTune *tune, guint32 items,
                          gboolean devices, GError **error)
{
    g_auto(GStrv) dirs = NULL;
    g_autofree char *unit = NULL;
    int mode;

    for (guint i = 0; i < VB_TUNE_LAST; i++) {
        if ((items & (1u << i)) && per_thread(i)) {
            g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                        "<cputune><%s> cannot be changed while the domain runs: a per-thread "
                        "CPU quota needs a cgroup per thread; use global_period and global_quota",
                        vb_tune_item_element(i));
            return FALSE;
        }
    }
    g_mutex_lock(&dom->lock);
    mode = dom->cgroup_mode;
    dirs = g_strdupv(dom->cgroup_dirs);
    unit = g_strdup(dom->cgroup_unit);
    g_mutex_unlock(&dom->lock);
    if (mode == VB_CGROUP_MODE_NONE) {
        g_set_error(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                    "the domain's QEMU has no cgroup of its own (cgroup_mode is none when it "
                    "started): live resource limits cannot be applied; use the CONFIG flag");
        return FALSE;
    }
    if (mode == VB_CGROUP_MODE_DIRECT) {
        gboolean v2 = dirs != NULL && dirs[0] != NULL && unified();
        g_autoptr(GPtrArray) writes = g_ptr_array_new_with_free_func(
            (GDestroyNotify)cg_write_free);

        return build_writes(tune, items, devices, v2, TRUE, writes, error) &&
               apply_writes((const char *const *)dirs, v2, TRUE, writes, error);
    }
    {
        g_autoptr(GDBusConnection) bus = system_bus(error);
        g_autoptr(GVariant) r = NULL;
        GVariantBuilder props;
        GError *local = NULL;

        if (bus == NULL)
            return FALSE;
        g_variant_builder_init(&props, G_VARIANT_TYPE("a(sv)"));
        add_unit_props(&props, tune, items, devices);
        r = g_dbus_connection_call_sync(bus, "org.freedesktop.systemd1",
                                        "/org/freedesktop/systemd1",
                                        "org.freedesktop.systemd1.Manager", "SetUnitProperties",
                                        g_variant_new("(sba(sv))", unit, TRUE, &props), NULL,
                                        G_DBUS_CALL_FLAGS_NONE, 30000, NULL, &local);
        if (r == NULL)
            return bus_error(local, "systemd SetUnitProperties", error);
    }
    return TRUE;
}

/** vb_domain_cgroup_format: <cgroup mode= unit=><dir path=/></cgroup>; under dom->lock */
void
vb_domain_cgroup_format(VbDomainObj *dom, GString *buf)
{
    g_autofree char *unit = NULL;

    if (dom->cgroup_mode == VB_CGROUP_MODE_NONE)
        return;
    g_string_append_printf(buf, "  <cgroup mode='%s'", vb_cgroup_mode_to_string(dom->cgroup_mode));
    if (dom->cgroup_unit != NULL) {
        unit = g_markup_escape_text(dom->cgroup_unit, -1);
        g_string_append_printf(buf, " unit='%s'", unit);
    }
    g_string_append(buf, ">\n");
    for (guint i = 0; dom->cgroup_dirs != NULL && dom->cgroup_dirs[i] != NULL; i++) {
        g_autofree char *esc = g_markup_escape_text(dom->cgroup_dirs[i], -1);

        g_string_append_printf(buf, "    <dir path='%s'/>\n", esc);
    }
    g_string_append(buf, "  </cgroup>\n");
}

/**
 * vb_domain_cgroup_forget:
 * @mode: (nullable): the status XML's mode word
 * @dirs: (nullable): its directories
 *
 * A run whose QEMU ended while the service was down: removes the directories direct mode
 * made for it (only those under /sys/fs/cgroup). Worker or start-up thread.
 */
void
vb_domain_cgroup_forget(const char *mode, const char *const *dirs)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    g_auto(GStrv) mine = NULL;

    if (g_strcmp0(mode, "direct") != 0)
        return;
    for (guint i = 0; dirs != NULL && dirs[i] != NULL; i++) {
        if (g_str_has_prefix(dirs[i], CGROUP_ROOT "/") && strstr(dirs[i], "/../") == NULL)
            g_strv_builder_add(b, dirs[i]);
    }
    mine = g_strv_builder_end(b);
    remove_dirs((const char *const *)mine);
}

/**
 * vb_domain_cgroup_adopt:
 * @mode: the status XML's mode word
 * @unit: (nullable): the scope
 * @dirs: (nullable): the directories (only those under /sys/fs/cgroup are taken)
 *
 * A restarted service takes over the placement of a run it reconnects to. Takes dom->lock.
 */
void
vb_domain_cgroup_adopt(VbDomainObj *dom, const char *mode, const char *unit,
                       const char *const *dirs)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    int m = VB_CGROUP_MODE_NONE;

    for (int i = VB_CGROUP_MODE_MACHINED; i < VB_CGROUP_MODE_LAST; i++) {
        if (g_strcmp0(mode, vb_cgroup_mode_to_string(i)) == 0)
            m = i;
    }
    for (guint i = 0; dirs != NULL && dirs[i] != NULL; i++) {
        if (g_str_has_prefix(dirs[i], CGROUP_ROOT "/") && strstr(dirs[i], "/../") == NULL)
            g_strv_builder_add(b, dirs[i]);
    }
    g_mutex_lock(&dom->lock);
    dom->cgroup_mode = m;
    g_strfreev(dom->cgroup_dirs);
    dom->cgroup_dirs = g_strv_builder_end(b);
    g_free(dom->cgroup_unit);
    dom->cgroup_unit = m != VB_CGROUP_MODE_DIRECT && m != VB_CGROUP_MODE_NONE ? g_strdup(unit)
                                                                               : NULL;
    g_mutex_unlock(&dom->lock);
}
