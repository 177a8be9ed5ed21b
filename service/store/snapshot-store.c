/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A domain's snapshots on disk and as a tree (issue 15, part snapxml). Every change is
 * written before the in-memory tree changes, each file atomically (vb_store_write_atomic),
 * so what is on disk is always a set of whole snapshot files; see docs/snapshots.md for
 * what a crash between two files of one change leaves.
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "snapshot-store.h"
#include "store.h"
#include "vb-error.h"

struct _VbSnapshotStore {
    char *dir;
    char uuid[37];
    GHashTable *defs; /* name -> VbSnapshotDef*, owned */
    char *current;    /* nullable; a key of ->defs */
    GPtrArray *skipped; /* char* paths of files that could not be loaded, NULL-terminated */
};

/**
 * vb_snapshot_store_dir:
 * @snapshot_root: the service's snapshot directory (VbPaths.snapshot_dir)
 * @domain_uuid: the domain's UUID, canonical form
 *
 * Returns: (transfer full): the directory of the domain's snapshot files
 */
char *
vb_snapshot_store_dir(const char *snapshot_root, const char *domain_uuid)
{
    return g_build_filename(snapshot_root, domain_uuid, NULL);
}

void
vb_snapshot_store_free(VbSnapshotStore *store)
{
    if (store == NULL)
        return;
    g_free(store->dir);
    g_hash_table_unref(store->defs);
    g_free(store->current);
    g_ptr_array_unref(store->skipped);
    g_free(store);
}

static char *
file_of(const VbSnapshotStore *store, const char *name)
{
    g_autofree char *base = g_strconcat(name, ".xml", NULL);

    return g_build_filename(store->dir, base, NULL);
}

/* the stored copy: the libvirt-style internal XML with <active>, secrets included */
static gboolean
write_def(VbSnapshotStore *store, const VbSnapshotDef *def, GError **error)
{
    g_autofree char *xml = NULL;
    g_autofree char *path = NULL;

    xml = vb_snapshot_def_format(def, VB_SNAPSHOT_FORMAT_INTERNAL | VB_SNAPSHOT_FORMAT_SECURE,
                                 error);
    if (xml == NULL)
        return FALSE;
    if (g_mkdir_with_parents(store->dir, 0700) < 0) {
        int saved = errno;

        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot create directory '%s': %s",
                    store->dir, g_strerror(saved));
        return FALSE;
    }
    path = file_of(store, def->name);
    return vb_store_write_atomic(path, xml, -1, 0600, error);
}

static gboolean
uuid_matches(const VbSnapshotStore *store, const VbSnapshotDef *def)
{
    char str[37];

    if (def->dom != NULL) {
        vb_uuid_format(def->dom->uuid, str);
        return strcmp(str, store->uuid) == 0;
    }
    return def->dom_uuid == NULL || g_ascii_strcasecmp(def->dom_uuid, store->uuid) == 0;
}

static const char *
parent_of(const VbSnapshotStore *store, const char *name)
{
    const VbSnapshotDef *def = g_hash_table_lookup(store->defs, name);

    return def != NULL ? def->parent_name : NULL;
}

/* whether @ancestor is @name or above it; the parent chains are acyclic (checked at load) */
static gboolean
is_ancestor(const VbSnapshotStore *store, const char *ancestor, const char *name)
{
    guint steps = g_hash_table_size(store->defs) + 1;

    for (const char *p = name; p != NULL && steps > 0; p = parent_of(store, p), steps--) {
        if (strcmp(p, ancestor) == 0)
            return TRUE;
    }
    return FALSE;
}

static void
link_tree(VbSnapshotStore *store)
{
    GHashTableIter it;
    gpointer key;
    gpointer value;
    guint n = g_hash_table_size(store->defs);

    /* a missing parent makes a root, as libvirt does */
    g_hash_table_iter_init(&it, store->defs);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        VbSnapshotDef *def = value;

        if (def->parent_name != NULL && (!g_hash_table_contains(store->defs, def->parent_name) ||
                                         strcmp(def->parent_name, def->name) == 0)) {
            g_warning("snapshot '%s' of domain %s: parent '%s' not found; taken as a root",
                      def->name, store->uuid, def->parent_name);
            g_clear_pointer(&def->parent_name, g_free);
        }
    }
    /* a cycle (hand-edited files) is broken where it is found */
    g_hash_table_iter_init(&it, store->defs);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        VbSnapshotDef *def = value;
        const char *p = def->parent_name;
        guint steps = 0;

        while (p != NULL && steps <= n) {
            p = parent_of(store, p);
            steps++;
        }
        if (p != NULL) {
            g_warning("snapshot '%s' of domain %s: its parents form a cycle; taken as a root",
                      def->name, store->uuid);
            g_clear_pointer(&def->parent_name, g_free);
        }
    }
}

static void
skip_file(VbSnapshotStore *store, const char *path, const char *why)
{
    g_warning("skipping snapshot file '%s': %s", path, why);
    g_ptr_array_insert(store->skipped, store->skipped->len - 1, g_strdup(path));
}

static void
load_entry(VbSnapshotStore *store, const VbStoreEntry *entry)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(VbSnapshotDef) def = NULL;
    g_autofree char *base = g_path_get_basename(entry->path);
    g_autofree char *expected = NULL;

    def = vb_snapshot_def_parse_string(entry->contents, VB_SNAPSHOT_PARSE_INTERNAL, &local);
    if (def == NULL) {
        skip_file(store, entry->path, local->message);
        return;
    }
    expected = g_strconcat(def->name, ".xml", NULL);
    if (strcmp(base, expected) != 0) {
        g_autofree char *why = g_strdup_printf("it holds snapshot '%s', not '%.*s'",
                                               def->name, (int)strlen(base) - 4, base);
        skip_file(store, entry->path, why);
        return;
    }
    if (!uuid_matches(store, def)) {
        skip_file(store, entry->path, "its domain has another UUID");
        return;
    }
    if (def->current) {
        if (store->current != NULL) {
            g_warning("snapshots '%s' and '%s' of domain %s are both marked current; keeping "
                      "'%s'", store->current, def->name, store->uuid, store->current);
            def->current = FALSE;
        } else {
            store->current = g_strdup(def->name);
        }
    }
    g_hash_table_insert(store->defs, def->name, def);
    def = NULL;
}

/**
 * vb_snapshot_store_load:
 * @snapshot_root: the service's snapshot directory (VbPaths.snapshot_dir)
 * @domain_uuid: the domain's UUID
 * @error: VB_ERROR_INVALID_ARG for a bad UUID, VB_ERROR_IO when the directory cannot be read
 *
 * Loads every <name>.xml of the domain's directory after removing what interrupted
 * writes left. A file that does not parse, whose name is not its snapshot's name, or
 * whose domain has another UUID is logged, listed by vb_snapshot_store_get_skipped() and
 * left in place; it is not fatal. A missing directory is an empty store.
 *
 * Returns: (transfer full): the store, or %NULL
 */
VbSnapshotStore *
vb_snapshot_store_load(const char *snapshot_root, const char *domain_uuid, GError **error)
{
    g_autoptr(VbSnapshotStore) store = g_new0(VbSnapshotStore, 1);
    g_autoptr(GPtrArray) entries = NULL;
    unsigned char raw[16];

    store->defs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify)vb_snapshot_def_free);
    store->skipped = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(store->skipped, NULL);
    if (domain_uuid == NULL || !vb_uuid_parse(domain_uuid, raw)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "invalid domain UUID '%s'",
                    domain_uuid != NULL ? domain_uuid : "");
        return NULL;
    }
    vb_uuid_format(raw, store->uuid);
    store->dir = vb_snapshot_store_dir(snapshot_root, store->uuid);
    vb_store_remove_stale_temps(store->dir);
    entries = vb_store_read_dir(store->dir, ".xml", error);
    if (entries == NULL)
        return NULL;
    for (guint i = 0; i < entries->len; i++)
        load_entry(store, g_ptr_array_index(entries, i));
    link_tree(store);
    return g_steal_pointer(&store);
}

guint
vb_snapshot_store_count(const VbSnapshotStore *store)
{
    return g_hash_table_size(store->defs);
}

/**
 * vb_snapshot_store_lookup:
 *
 * Returns: (transfer none) (nullable): the snapshot @name; valid until the store changes
 */
const VbSnapshotDef *
vb_snapshot_store_lookup(const VbSnapshotStore *store, const char *name)
{
    return name != NULL ? g_hash_table_lookup(store->defs, name) : NULL;
}

/**
 * vb_snapshot_store_get_current:
 *
 * Returns: (transfer none) (nullable): the name of the current snapshot
 */
const char *
vb_snapshot_store_get_current(const VbSnapshotStore *store)
{
    return store->current;
}

/**
 * vb_snapshot_store_get_skipped:
 *
 * Returns: (transfer none): NULL-terminated paths of the files vb_snapshot_store_load()
 *   skipped
 */
const char *const *
vb_snapshot_store_get_skipped(const VbSnapshotStore *store)
{
    return (const char *const *)store->skipped->pdata;
}

static gboolean
no_snapshot(const char *name, GError **error)
{
    g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "no snapshot named '%s'", name);
    return FALSE;
}

/* rewrites @name with <active> @on, then records it */
static gboolean
mark_current(VbSnapshotStore *store, const char *name, gboolean on, GError **error)
{
    VbSnapshotDef *def = g_hash_table_lookup(store->defs, name);
    gboolean was = def->current;

    def->current = on;
    if (!write_def(store, def, error)) {
        def->current = was;
        return FALSE;
    }
    if (on) {
        g_free(store->current);
        store->current = g_strdup(def->name);
    } else if (g_strcmp0(store->current, name) == 0) {
        g_clear_pointer(&store->current, g_free);
    }
    return TRUE;
}

/**
 * vb_snapshot_store_set_current:
 * @name: (nullable): the new current snapshot, or %NULL for none
 *
 * The old current snapshot's file is rewritten first (<active>0), then the new one's: a
 * crash in between leaves no current snapshot, never two.
 */
gboolean
vb_snapshot_store_set_current(VbSnapshotStore *store, const char *name, GError **error)
{
    g_autofree char *old = g_strdup(store->current);

    if (name != NULL && !g_hash_table_contains(store->defs, name))
        return no_snapshot(name, error);
    if (g_strcmp0(old, name) == 0)
        return TRUE;
    if (old != NULL && !mark_current(store, old, FALSE, error))
        return FALSE;
    return name == NULL || mark_current(store, name, TRUE, error);
}

/**
 * vb_snapshot_store_add:
 * @def: (transfer full): a snapshot, new or replacing the one of its name (a redefinition)
 * @make_current: whether it becomes the current snapshot (a replaced current one stays so)
 * @error: VB_ERROR_INVALID_ARG (name, unknown parent, a parent below itself, another
 *     domain's UUID), VB_ERROR_IO
 *
 * Writes the snapshot's file, then records it. A replaced snapshot keeps its children.
 */
gboolean
vb_snapshot_store_add(VbSnapshotStore *store, VbSnapshotDef *def, gboolean make_current,
                      GError **error)
{
    g_autoptr(VbSnapshotDef) owned = def;
    const VbSnapshotDef *existing;

    if (!vb_snapshot_name_validate(def->name, error))
        return FALSE;
    if (!uuid_matches(store, def)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "snapshot '%s' belongs to another domain: its UUID must be %s", def->name,
                    store->uuid);
        return FALSE;
    }
    if (def->parent_name != NULL) {
        if (!vb_snapshot_name_validate(def->parent_name, error))
            return FALSE;
        if (!g_hash_table_contains(store->defs, def->parent_name)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "parent '%s' of snapshot '%s' does not exist", def->parent_name,
                        def->name);
            return FALSE;
        }
        if (is_ancestor(store, def->name, def->parent_name)) {
            g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                        "snapshot '%s' cannot have '%s' as its parent: that one descends "
                        "from it", def->name, def->parent_name);
            return FALSE;
        }
    }
    existing = g_hash_table_lookup(store->defs, def->name);
    if (make_current && store->current != NULL && strcmp(store->current, def->name) != 0 &&
        !mark_current(store, store->current, FALSE, error))
        return FALSE;
    def->current = make_current || (existing != NULL && existing->current);
    if (!write_def(store, def, error))
        return FALSE;
    if (def->current) {
        g_free(store->current);
        store->current = g_strdup(def->name);
    }
    g_hash_table_replace(store->defs, def->name, g_steal_pointer(&owned));
    return TRUE;
}

static int
compare_by_time(gconstpointer a, gconstpointer b, gpointer data)
{
    const VbSnapshotStore *store = data;
    const VbSnapshotDef *da = g_hash_table_lookup(store->defs, *(char *const *)a);
    const VbSnapshotDef *db = g_hash_table_lookup(store->defs, *(char *const *)b);

    if (da->creation_time != db->creation_time)
        return da->creation_time < db->creation_time ? -1 : 1;
    return strcmp(da->name, db->name);
}

/**
 * vb_snapshot_store_list_children:
 * @name: (nullable): a snapshot, or %NULL for the roots
 *
 * Returns: (transfer full): names (char*) of the direct children, oldest first
 */
GPtrArray *
vb_snapshot_store_list_children(const VbSnapshotStore *store, const char *name)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, store->defs);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        const VbSnapshotDef *def = value;

        if (g_strcmp0(def->parent_name, name) == 0)
            g_ptr_array_add(out, g_strdup(def->name));
    }
    g_ptr_array_sort_with_data(out, compare_by_time, (gpointer)store);
    return out;
}

/* parents before children, siblings oldest first: breadth first from @name's children */
static GPtrArray *
walk_below(const VbSnapshotStore *store, const char *name)
{
    GPtrArray *out = vb_snapshot_store_list_children(store, name);

    for (guint i = 0; i < out->len; i++) {
        g_autoptr(GPtrArray) ch = vb_snapshot_store_list_children(store, out->pdata[i]);

        for (guint j = 0; j < ch->len; j++)
            g_ptr_array_add(out, g_steal_pointer(&ch->pdata[j]));
    }
    return out;
}

/**
 * vb_snapshot_store_list_descendants:
 * @name: a snapshot
 *
 * Returns: (transfer full): names of every snapshot below @name, parents first
 */
GPtrArray *
vb_snapshot_store_list_descendants(const VbSnapshotStore *store, const char *name)
{
    return walk_below(store, name);
}

/**
 * vb_snapshot_store_topological:
 *
 * Returns: (transfer full): every snapshot's name, each after its parent (libvirt's
 *   topological order, the order to redefine them in)
 */
GPtrArray *
vb_snapshot_store_topological(const VbSnapshotStore *store)
{
    return walk_below(store, NULL);
}

static gboolean
remove_one(VbSnapshotStore *store, const char *name, GError **error)
{
    g_autofree char *path = file_of(store, name);

    if (!vb_store_remove(path, error))
        return FALSE;
    if (g_strcmp0(store->current, name) == 0)
        g_clear_pointer(&store->current, g_free);
    g_hash_table_remove(store->defs, name);
    return TRUE;
}

/**
 * vb_snapshot_store_remove:
 * @name: a snapshot
 * @flags: #VbSnapshotRemoveFlags
 * @error: VB_ERROR_INVALID_ARG for an unknown name, VB_ERROR_IO
 *
 * Removes the snapshot's metadata (not its disk or memory images). Without
 * %VB_SNAPSHOT_REMOVE_CHILDREN its children move up to its parent (their files are
 * rewritten first); with it the subtree goes, leaves first. When the current snapshot is
 * removed its parent (if any) becomes current, as in libvirt.
 */
gboolean
vb_snapshot_store_remove(VbSnapshotStore *store, const char *name, guint flags,
                         GError **error)
{
    g_autofree char *target = g_strdup(name);
    g_autofree char *parent = NULL;
    g_autoptr(GPtrArray) below = NULL;
    gboolean current_gone;
    VbSnapshotDef *def = g_hash_table_lookup(store->defs, name);

    if (def == NULL)
        return no_snapshot(name, error);
    parent = g_strdup(def->parent_name);
    below = (flags & VB_SNAPSHOT_REMOVE_CHILDREN) ? walk_below(store, target)
                                                  : vb_snapshot_store_list_children(store,
                                                                                    target);
    current_gone = g_strcmp0(store->current, target) == 0;
    for (guint i = below->len; i > 0; i--) {
        const char *child = below->pdata[i - 1];

        if (flags & VB_SNAPSHOT_REMOVE_CHILDREN) {
            current_gone |= g_strcmp0(store->current, child) == 0;
            if (!remove_one(store, child, error))
                return FALSE;
        } else {
            VbSnapshotDef *cdef = g_hash_table_lookup(store->defs, child);
            char *old = cdef->parent_name;

            cdef->parent_name = g_strdup(parent);
            if (!write_def(store, cdef, error)) {
                g_free(cdef->parent_name);
                cdef->parent_name = old;
                return FALSE;
            }
            g_free(old);
        }
    }
    if (!remove_one(store, target, error))
        return FALSE;
    if (current_gone && parent != NULL)
        return mark_current(store, parent, TRUE, error);
    return TRUE;
}

/**
 * vb_snapshot_store_remove_all:
 *
 * Removes every snapshot file and the domain's snapshot directory (for undefine). Files
 * that were skipped at load are removed too.
 */
gboolean
vb_snapshot_store_remove_all(VbSnapshotStore *store, GError **error)
{
    g_autoptr(GPtrArray) names = walk_below(store, NULL);

    /* leaves first: a crash halfway leaves a smaller tree, not orphans */
    for (guint i = names->len; i > 0; i--) {
        if (!remove_one(store, names->pdata[i - 1], error))
            return FALSE;
    }
    for (guint i = 0; i + 1 < store->skipped->len; i++) {
        if (!vb_store_remove(store->skipped->pdata[i], error))
            return FALSE;
    }
    g_ptr_array_remove_range(store->skipped, 0, store->skipped->len - 1);
    vb_store_remove_stale_temps(store->dir);
    if (g_rmdir(store->dir) < 0 && errno != ENOENT) {
        int saved = errno;

        g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot remove directory '%s': %s",
                    store->dir, g_strerror(saved));
        return FALSE;
    }
    return TRUE;
}
