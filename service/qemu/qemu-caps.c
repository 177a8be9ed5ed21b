/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "qemu-caps.h"
#include "vb-error.h"

/*
 * Minimal capabilities until the QMP probe lands: the QEMU system
 * emulators on PATH and the machine types each lists with
 * `-machine help`. Results are cached per binary (path, size, mtime).
 */

typedef struct {
    char *path;
    gint64 size;
    gint64 mtime;
    char *machines_xml;
} CachedBinary;

static GMutex cache_lock;
static GHashTable *cache; /* under cache_lock: path -> CachedBinary */

static void
cached_binary_free(CachedBinary *c)
{
    g_free(c->path);
    g_free(c->machines_xml);
    g_free(c);
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
 *   qemu-system-* programs found on PATH, sorted, no duplicates.
 */
GPtrArray *
vb_qemu_caps_find_binaries(void)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    const char *env = g_getenv("PATH");
    g_auto(GStrv) dirs = g_strsplit(env != NULL ? env : "/usr/bin:/bin", ":", -1);
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (guint i = 0; dirs[i] != NULL; i++) {
        g_autoptr(GDir) d = g_dir_open(dirs[i], 0, NULL);
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

static char *
probe_machines(const char *path)
{
    const char *argv[] = { path, "-machine", "help", NULL };
    g_autofree char *out = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GString) xml = g_string_new(NULL);
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                      NULL, &status, NULL) ||
        !g_spawn_check_wait_status(status, NULL))
        return g_strdup("");
    lines = g_strsplit(out, "\n", -1);
    for (guint i = 1; lines[i] != NULL; i++) {
        g_autofree char *name = NULL;
        const char *alias;
        char *sp = strchr(lines[i], ' ');

        if (sp == NULL || sp == lines[i])
            continue;
        name = g_markup_escape_text(lines[i], sp - lines[i]);
        alias = strstr(sp, "(alias of ");
        if (alias != NULL) {
            g_autofree char *canon = g_strndup(alias + 10, strcspn(alias + 10, ")"));
            g_autofree char *esc = g_markup_escape_text(canon, -1);

            g_string_append_printf(xml, "      <machine canonical='%s'>%s</machine>\n", esc,
                                   name);
        } else {
            g_string_append_printf(xml, "      <machine%s>%s</machine>\n",
                                   strstr(sp, "(default)") != NULL ? " default='yes'" : "",
                                   name);
        }
    }
    return g_string_free(g_steal_pointer(&xml), FALSE);
}

static char *
machines_for(const char *path)
{
    GStatBuf st;
    gboolean have = g_stat(path, &st) == 0;
    gint64 size = have ? (gint64)st.st_size : -1;
    gint64 mtime = have ? (gint64)st.st_mtime : -1;
    CachedBinary *c;
    char *xml;

    g_mutex_lock(&cache_lock);
    if (cache == NULL)
        cache = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                      (GDestroyNotify)cached_binary_free);
    c = g_hash_table_lookup(cache, path);
    if (c != NULL && c->size == size && c->mtime == mtime) {
        xml = g_strdup(c->machines_xml);
        g_mutex_unlock(&cache_lock);
        return xml;
    }
    g_mutex_unlock(&cache_lock);

    xml = probe_machines(path);
    c = g_new0(CachedBinary, 1);
    c->path = g_strdup(path);
    c->size = size;
    c->mtime = mtime;
    c->machines_xml = g_strdup(xml);
    g_mutex_lock(&cache_lock);
    g_hash_table_replace(cache, c->path, c);
    g_mutex_unlock(&cache_lock);
    return xml;
}

/**
 * vb_qemu_caps_host_xml:
 * @host_uuid: the host's stable UUID
 *
 * Blocking (runs each new QEMU binary once): worker threads only.
 *
 * Returns: (transfer full): the capabilities document.
 */
char *
vb_qemu_caps_host_xml(const char *host_uuid, GError **error)
{
    g_autoptr(GString) xml = g_string_new("<capabilities>\n  <host>\n");
    g_autoptr(GPtrArray) bins = vb_qemu_caps_find_binaries();
    struct utsname u;

    uname(&u);
    g_string_append_printf(xml, "    <uuid>%s</uuid>\n    <cpu>\n      <arch>%s</arch>\n"
                                "    </cpu>\n  </host>\n",
                           host_uuid, u.machine);
    for (guint i = 0; i < bins->len; i++) {
        const char *path = bins->pdata[i];
        g_autofree char *base = g_path_get_basename(path);
        g_autofree char *machines = machines_for(path);
        g_autofree char *esc_path = g_markup_escape_text(path, -1);
        g_autofree char *esc_arch = g_markup_escape_text(base + strlen("qemu-system-"), -1);

        g_string_append_printf(xml, "  <guest>\n    <os_type>hvm</os_type>\n"
                                    "    <arch name='%s'>\n      <emulator>%s</emulator>\n%s"
                                    "      <domain type='qemu'/>\n    </arch>\n  </guest>\n",
                               esc_arch, esc_path, machines);
    }
    g_string_append(xml, "</capabilities>\n");
    return g_string_free(g_steal_pointer(&xml), FALSE);
}
