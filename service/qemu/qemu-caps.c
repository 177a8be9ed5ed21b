/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "qemu-caps.h"
#include "qemu-command.h"
#include "store.h"
#include "vb-error.h"

/*
 * QEMU capabilities: probed over QMP (qemu-caps-probe.c), serialised by
 * qemu-caps-xml.c, cached here twice: in memory (path -> caps) and on disk
 * as <cache_dir>/<basename>.xml. Both are keyed by the binary's path,
 * size and mtime, so an upgraded binary is probed again.
 */

static GMutex cache_lock;
static GHashTable *cache; /* under cache_lock: path -> VbQemuCaps* */

static void
machine_free(VbQemuMachine *m)
{
    g_free(m->name);
    g_free(m->alias);
    g_free(m);
}

/**
 * vb_qemu_caps_new:
 *
 * Returns: (transfer full): empty caps (all sets allocated) for a caller to fill in.
 */
VbQemuCaps *
vb_qemu_caps_new(void)
{
    VbQemuCaps *caps = g_new0(VbQemuCaps, 1);

    caps->refcount = 1;
    caps->sandbox = -1;
    caps->machines = g_ptr_array_new_with_free_func((GDestroyNotify)machine_free);
    caps->commands = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    caps->events = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    caps->devices = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    caps->tcg_cpu_models = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    caps->tcg_cpu_features = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    caps->cpu_features = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    caps->audiodevs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return caps;
}

/**
 * vb_qemu_caps_ref: (skip)
 */
VbQemuCaps *
vb_qemu_caps_ref(VbQemuCaps *caps)
{
    g_atomic_int_inc(&caps->refcount);
    return caps;
}

/**
 * vb_qemu_caps_unref: (skip)
 */
void
vb_qemu_caps_unref(VbQemuCaps *caps)
{
    if (caps == NULL || !g_atomic_int_dec_and_test(&caps->refcount))
        return;
    g_free(caps->binary);
    g_free(caps->xml);
    g_free(caps->arch);
    g_free(caps->package);
    g_clear_pointer(&caps->machines, g_ptr_array_unref);
    g_clear_pointer(&caps->commands, g_hash_table_unref);
    g_clear_pointer(&caps->events, g_hash_table_unref);
    g_clear_pointer(&caps->devices, g_hash_table_unref);
    g_clear_pointer(&caps->tcg_cpu_models, g_hash_table_unref);
    g_clear_pointer(&caps->tcg_cpu_features, g_hash_table_unref);
    g_clear_pointer(&caps->cpu_features, g_hash_table_unref);
    g_clear_pointer(&caps->audiodevs, g_hash_table_unref);
    g_free(caps);
}

/**
 * vb_qemu_caps_has_device:
 *
 * Returns: whether @caps lists the device type @device. Any thread.
 */
gboolean
vb_qemu_caps_has_device(const VbQemuCaps *caps, const char *device)
{
    return caps->devices != NULL && g_hash_table_contains(caps->devices, device);
}

/**
 * vb_qemu_caps_has_command:
 *
 * Returns: whether @caps lists the QMP command @command. Any thread.
 */
gboolean
vb_qemu_caps_has_command(const VbQemuCaps *caps, const char *command)
{
    return caps->commands != NULL && g_hash_table_contains(caps->commands, command);
}

/**
 * vb_qemu_caps_has_event:
 *
 * Returns: whether @caps lists the QMP event @event. Any thread.
 */
gboolean
vb_qemu_caps_has_event(const VbQemuCaps *caps, const char *event)
{
    return caps->events != NULL && g_hash_table_contains(caps->events, event);
}

/**
 * vb_qemu_caps_find_machine:
 * @name: (nullable): a machine type or alias; NULL: the default machine
 *
 * Returns: (transfer none) (nullable): the machine (canonical name in ->name).
 */
const VbQemuMachine *
vb_qemu_caps_find_machine(const VbQemuCaps *caps, const char *name)
{
    for (guint i = 0; caps->machines != NULL && i < caps->machines->len; i++) {
        const VbQemuMachine *m = caps->machines->pdata[i];

        if (name == NULL ? m->is_default
                         : g_strcmp0(m->name, name) == 0 || g_strcmp0(m->alias, name) == 0)
            return m;
    }
    return NULL;
}

static char *
cache_file(const char *cache_dir, const char *binary)
{
    g_autofree char *base = g_path_get_basename(binary);
    g_autofree char *name = g_strconcat(base, ".xml", NULL);

    return g_build_filename(cache_dir, name, NULL);
}

static gboolean
matches(const VbQemuCaps *caps, const char *binary, const GStatBuf *st)
{
    return g_strcmp0(caps->binary, binary) == 0 && caps->size == (gint64)st->st_size &&
           caps->mtime == (gint64)st->st_mtime && caps->sandbox >= 0 &&
           /* written before the CPU models (or all the features QEMU knows) were probed:
            * probe again */
           (!caps->tcg_available || (g_hash_table_size(caps->tcg_cpu_models) > 0 &&
                                     g_hash_table_size(caps->cpu_features) > 0));
}

static VbQemuCaps *
load_cached(const char *path, const char *binary, const GStatBuf *st)
{
    g_autofree char *xml = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(VbQemuCaps) caps = NULL;

    if (!g_file_get_contents(path, &xml, NULL, NULL))
        return NULL;
    caps = vb_qemu_caps_from_xml(xml, &error);
    if (caps == NULL) {
        g_warning("ignoring %s: %s", path, error->message);
        return NULL;
    }
    return matches(caps, binary, st) ? g_steal_pointer(&caps) : NULL;
}

static void
remember(VbQemuCaps *caps)
{
    g_mutex_lock(&cache_lock);
    if (cache == NULL)
        cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify)vb_qemu_caps_unref);
    g_hash_table_replace(cache, g_strdup(caps->binary), vb_qemu_caps_ref(caps));
    g_mutex_unlock(&cache_lock);
}

/**
 * vb_qemu_caps_get:
 * @binary: absolute path of a qemu-system-* binary
 * @cache_dir: (nullable): where <basename>.xml files are kept; NULL: memory only
 *
 * Returns the caps of @binary from memory, else from @cache_dir, else by
 * probing it (then written to both). A binary whose size or mtime changed
 * is probed again. Two threads asking at once may both probe; the result
 * is the same. Blocking (a probe takes ~100 ms): worker threads only.
 *
 * Returns: (transfer full): the caps, or NULL with VB_ERROR_QEMU.
 */
VbQemuCaps *
vb_qemu_caps_get(const char *binary, const char *cache_dir, GError **error)
{
    g_autofree char *file = cache_dir != NULL ? cache_file(cache_dir, binary) : NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *xml = NULL;
    VbQemuCaps *caps = NULL;
    GStatBuf st;

    g_return_val_if_fail(binary != NULL, NULL);
    if (g_stat(binary, &st) < 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_QEMU, "QEMU binary %s: %s", binary,
                    g_strerror(errno));
        return NULL;
    }
    g_mutex_lock(&cache_lock);
    if (cache != NULL)
        caps = g_hash_table_lookup(cache, binary);
    caps = caps != NULL && matches(caps, binary, &st) ? vb_qemu_caps_ref(caps) : NULL;
    g_mutex_unlock(&cache_lock);
    if (caps != NULL)
        return caps;

    caps = file != NULL ? load_cached(file, binary, &st) : NULL;
    if (caps == NULL) {
        caps = vb_qemu_caps_probe(binary, error);
        if (caps == NULL)
            return NULL;
        xml = vb_qemu_caps_to_xml(caps);
        if (file != NULL && !vb_store_write_atomic(file, xml, -1, 0600, &local))
            g_warning("cannot cache the capabilities of %s: %s", binary, local->message);
    }
    remember(caps);
    return caps;
}

static int
compare_paths(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/**
 * vb_qemu_caps_find_binaries:
 *
 * Returns: (transfer full) (element-type utf8): absolute paths of the
 *   qemu-system-* programs found on PATH, sorted, no duplicate names.
 */
GPtrArray *
vb_qemu_caps_find_binaries(void)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    const char *env = g_getenv("PATH");
    g_auto(GStrv) dirs = g_strsplit(env != NULL ? env : "/usr/bin:/bin", ":", -1);
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (guint i = 0; dirs[i] != NULL; i++) {
        g_autoptr(GDir) d = *dirs[i] == '/' ? g_dir_open(dirs[i], 0, NULL) : NULL;
        const char *name;

        while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
            g_autofree char *path = NULL;

            if (!g_str_has_prefix(name, "qemu-system-") || g_hash_table_contains(seen, name))
                continue;
            path = g_build_filename(dirs[i], name, NULL);
            if (!g_file_test(path, G_FILE_TEST_IS_EXECUTABLE))
                continue;
            g_hash_table_add(seen, g_strdup(name));
            g_ptr_array_add(out, g_steal_pointer(&path));
        }
    }
    g_ptr_array_sort(out, compare_paths);
    return out;
}

/**
 * vb_qemu_caps_default_binary:
 * @arch: e.g. "x86_64"
 *
 * Returns: (transfer full) (nullable): the first qemu-system-@arch on PATH.
 */
char *
vb_qemu_caps_default_binary(const char *arch)
{
    g_autofree char *name = NULL;

    if (arch == NULL || *arch == '\0' || strchr(arch, '/') != NULL)
        return NULL;
    name = g_strconcat("qemu-system-", arch, NULL);
    return g_find_program_in_path(name);
}

static guint
wordsize(const char *arch)
{
    static const char *const small[] = { "i386", "arm", "mips", "mipsel", "ppc", "riscv32",
                                         "sh4", "sh4eb", "sparc", "xtensa", "xtensaeb",
                                         "m68k", "microblaze", "microblazeel", "or1k",
                                         "avr", "rx", "tricore", "cris", "hppa", NULL };

    return arch != NULL && g_strv_contains(small, arch) ? 32 : 64;
}

static void
append_machines(GString *xml, const VbQemuCaps *caps)
{
    for (guint i = 0; i < caps->machines->len; i++) {
        const VbQemuMachine *m = caps->machines->pdata[i];
        g_autofree char *name = g_markup_escape_text(m->name, -1);

        if (g_strcmp0(m->name, "none") == 0)
            continue;
        g_string_append_printf(xml, "      <machine maxCpus='%u'%s>%s</machine>\n",
                               m->max_cpus, m->deprecated ? " deprecated='yes'" : "", name);
        if (m->alias != NULL) {
            g_autofree char *alias = g_markup_escape_text(m->alias, -1);

            g_string_append_printf(xml,
                                   "      <machine canonical='%s' maxCpus='%u'>%s</machine>\n",
                                   name, m->max_cpus, alias);
        }
    }
}

static void
append_guest(GString *xml, const char *path, const char *cache_dir)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(VbQemuCaps) caps = vb_qemu_caps_get(path, cache_dir, &error);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *esc_path = g_markup_escape_text(path, -1);
    g_autofree char *arch = g_markup_escape_text(
        caps != NULL ? caps->arch : base + strlen("qemu-system-"), -1);

    if (caps == NULL)
        g_warning("listing %s without its capabilities: %s", path, error->message);
    g_string_append_printf(xml, "  <guest>\n    <os_type>hvm</os_type>\n"
                                "    <arch name='%s'>\n      <wordsize>%u</wordsize>\n"
                                "      <emulator>%s</emulator>\n",
                           arch, wordsize(arch), esc_path);
    if (caps != NULL)
        append_machines(xml, caps);
    if (caps == NULL || caps->tcg_available)
        g_string_append(xml, "      <domain type='qemu'/>\n");
    if (caps != NULL && caps->kvm_available)
        g_string_append(xml, "      <domain type='kvm'/>\n");
    g_string_append(xml, "    </arch>\n  </guest>\n");
}

/**
 * vb_qemu_caps_host_xml:
 * @host_uuid: the host's stable UUID
 * @cache_dir: (nullable): the caps cache directory (paths->caps_dir)
 *
 * One <guest> per qemu-system-* binary on PATH (sorted by path), each
 * probed or taken from the caches. A binary that fails to probe is listed
 * with its emulator path only. Blocking: worker threads only.
 *
 * Returns: (transfer full): the capabilities document.
 */
char *
vb_qemu_caps_host_xml(const char *host_uuid, const char *cache_dir, GError **error)
{
    g_autoptr(GString) xml = g_string_new("<capabilities>\n  <host>\n");
    g_autoptr(GPtrArray) bins = vb_qemu_caps_find_binaries();
    g_autofree char *uuid = g_markup_escape_text(host_uuid != NULL ? host_uuid : "", -1);
    struct utsname u;

    uname(&u);
    g_string_append_printf(xml, "    <uuid>%s</uuid>\n    <cpu>\n      <arch>%s</arch>\n"
                                "    </cpu>\n  </host>\n",
                           uuid, u.machine);
    for (guint i = 0; i < bins->len; i++)
        append_guest(xml, bins->pdata[i], cache_dir);
    g_string_append(xml, "</capabilities>\n");
    return g_string_free(g_steal_pointer(&xml), FALSE);
}

/**
 * vb_hugetlbfs_free:
 * @m: (nullable): a mount
 */
void
vb_hugetlbfs_free(VbHugetlbfs *m)
{
    if (m == NULL)
        return;
    g_free(m->path);
    g_free(m);
}

static guint64
default_hugepage_kib(void)
{
    g_autofree char *meminfo = NULL;
    const char *line;

    if (!g_file_get_contents("/proc/meminfo", &meminfo, NULL, NULL))
        return 0;
    line = strstr(meminfo, "Hugepagesize:");
    return line != NULL ? g_ascii_strtoull(line + strlen("Hugepagesize:"), NULL, 10) : 0;
}

static guint64
parse_pagesize(const char *opts, guint64 default_kib)
{
    g_auto(GStrv) parts = g_strsplit(opts, ",", -1);

    for (guint i = 0; parts[i] != NULL; i++) {
        char *end = NULL;
        guint64 v;

        if (!g_str_has_prefix(parts[i], "pagesize="))
            continue;
        v = g_ascii_strtoull(parts[i] + strlen("pagesize="), &end, 10);
        switch (g_ascii_toupper(*end)) {
        case 'K': return v;
        case 'M': return v * 1024;
        case 'G': return v * 1024 * 1024;
        default: return v / 1024;
        }
    }
    return default_kib;
}

/**
 * vb_hugetlbfs_find:
 *
 * Reads the host's hugetlbfs mounts from /proc/mounts (blocking, small: workers).
 *
 * Returns: (transfer full): VbHugetlbfs*, possibly empty
 */
GPtrArray *
vb_hugetlbfs_find(void)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vb_hugetlbfs_free);
    g_autofree char *mounts = NULL;
    g_auto(GStrv) lines = NULL;
    guint64 def_kib = default_hugepage_kib();

    if (!g_file_get_contents("/proc/mounts", &mounts, NULL, NULL))
        return out;
    lines = g_strsplit(mounts, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], " ", -1);
        VbHugetlbfs *m;

        if (g_strv_length(f) < 4 || strcmp(f[2], "hugetlbfs") != 0 || strchr(f[1], '\\'))
            continue;
        m = g_new0(VbHugetlbfs, 1);
        m->path = g_strdup(f[1]);
        m->size_kib = parse_pagesize(f[3], def_kib);
        m->is_default = m->size_kib == def_kib;
        g_ptr_array_add(out, m);
    }
    return out;
}
