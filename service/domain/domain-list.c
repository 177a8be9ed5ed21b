/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "domain-list.h"
#include "domain-cgroup.h"
#include "domain-list-priv.h"
#include "domain-shutdown.h"
#include "store.h"
#include "vb-error.h"
#include "vb-log.h"

static void
stub_free(VbDomainStub *stub)
{
    g_free(stub->name);
    g_free(stub);
}

/**
 * vb_domain_list_new:
 * @paths: (transfer none): outlives the list
 * @config: (transfer none): settings; outlive the list
 * @path_func: builds the object path of a domain from its uuid
 * @notify: told of every change, from the thread that made it
 */
VbDomainList *
vb_domain_list_new(const VbPaths *paths, const VbConfig *config, VbDomainPathFunc path_func,
                   VbDomainNotifyFunc notify, gpointer user_data)
{
    VbDomainList *list = g_new0(VbDomainList, 1);

    list->config = config;
    /* events of one domain are handled in order by one task at a time;
     * several domains' events in parallel */
    list->event_pool = g_thread_pool_new(vb_domain_events_run, list, 4, FALSE, NULL);
    g_mutex_init(&list->lock);
    g_mutex_init(&list->define_lock);
    g_mutex_init(&list->ports_lock);
    g_cond_init(&list->job_threads_cond);
    list->by_uuid = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify)vb_domain_obj_unref);
    list->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    list->stubs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify)stub_free);
    list->stub_names = g_hash_table_new(g_str_hash, g_str_equal);
    list->paths = paths;
    list->path_func = path_func;
    list->notify = notify;
    list->notify_data = user_data;
    vb_domain_cgroup_init(config->cgroup_mode); /* issue 14, part cgroup: resolves "auto" */
    return list;
}

void
vb_domain_list_free(VbDomainList *list)
{
    if (list == NULL)
        return;
    /* async job threads stop at their next step and leave QEMU as it is:
     * the next start of the service recovers their jobs */
    g_atomic_int_set(&list->shutting_down, TRUE);
    g_mutex_lock(&list->lock);
    while (list->job_threads > 0)
        g_cond_wait(&list->job_threads_cond, &list->lock);
    g_mutex_unlock(&list->lock);
    /* no monitor or process-exit callback may run on a freed list: stop
     * them (QEMU keeps running), then let queued events finish */
    {
        g_autoptr(GPtrArray) all = vb_domain_list_collect_loaded(list, 0);

        for (guint i = 0; i < all->len; i++)
            vb_domain_process_detach(all->pdata[i]);
    }
    g_thread_pool_free(list->event_pool, FALSE, TRUE);
    if (list->used_ports != NULL)
        g_hash_table_destroy(list->used_ports);
    g_hash_table_destroy(list->by_name);
    g_hash_table_destroy(list->by_uuid);
    g_hash_table_destroy(list->stub_names);
    g_hash_table_destroy(list->stubs);
    vb_qemu_dac_free(list->dac); /* issue 14, part dac */
    g_mutex_clear(&list->lock);
    g_mutex_clear(&list->define_lock);
    g_mutex_clear(&list->ports_lock);
    g_cond_clear(&list->job_threads_cond);
    g_free(list);
}

void
vb_domain_list_notify(VbDomainList *list, VbDomainObj *dom, VbDomainNotifyKind kind,
                      const char *event, const char *detail)
{
    if (list->notify != NULL)
        list->notify(dom, kind, event, detail, list->notify_data);
    vb_domain_host_shutdown_update(); /* issue 14, part cgroup: the logind inhibitor */
}

/**
 * vb_domain_list_set_job_notify:
 * @notify: told of every new job, change and completion, from the
 *   thread that made it
 *
 * Call before any job runs.
 */
void
vb_domain_list_set_job_notify(VbDomainList *list, VbJobNotifyFunc notify, gpointer user_data)
{
    list->job_notify = notify;
    list->job_notify_data = user_data;
}

void
vb_domain_list_job_notify(VbDomainList *list, VbJob *job, VbJobNotifyKind kind)
{
    if (list->job_notify != NULL)
        list->job_notify(job, kind, list->job_notify_data);
}

/* Whether the service is stopping: async job threads must stop too. */
gboolean
vb_domain_list_shutting_down(VbDomainList *list)
{
    /* atomic, not under a lock: callers may hold a domain's lock */
    return g_atomic_int_get(&list->shutting_down);
}

/* Returns: (transfer full): <save_dir>/<name>.save, the managed save image. */
char *
vb_domain_managed_save_path(VbDomainList *list, const char *name)
{
    g_autofree char *file = g_strconcat(name, ".save", NULL);

    return g_build_filename(list->paths->save_dir, file, NULL);
}

/* Under list->lock. */
void
vb_domain_list_insert(VbDomainList *list, VbDomainObj *dom, const char *name)
{
    g_hash_table_insert(list->by_uuid, dom->uuid_str, vb_domain_obj_ref(dom));
    g_hash_table_insert(list->by_name, g_strdup(name), dom);
}

/* Under list->lock: whether a domain, loaded or a stub, has @name. */
gboolean
vb_domain_list_has_name_locked(VbDomainList *list, const char *name)
{
    return g_hash_table_contains(list->by_name, name) ||
           g_hash_table_contains(list->stub_names, name);
}

/* Under list->lock: whether a domain, loaded or a stub, has @uuid (canonical). */
gboolean
vb_domain_list_has_uuid_locked(VbDomainList *list, const char *uuid)
{
    return g_hash_table_contains(list->by_uuid, uuid) || g_hash_table_contains(list->stubs, uuid);
}

/**
 * vb_domain_list_insert_stub:
 * @dom: an inactive persistent domain, not in the list, that nothing else will change
 *
 * Keeps only the stub of @dom in the list (issue 16): the caller publishes it (ADDED)
 * and drops it. Under list->lock, with define_lock held (or at start-up).
 */
void
vb_domain_list_insert_stub(VbDomainList *list, VbDomainObj *dom)
{
    VbDomainStub *stub = g_new0(VbDomainStub, 1);

    g_mutex_lock(&dom->lock);
    stub->name = g_strdup(dom->def->name);
    stub->autostart = dom->autostart;
    stub->has_managed_save = dom->has_managed_save;
    g_mutex_unlock(&dom->lock);
    memcpy(stub->uuid_str, dom->uuid_str, sizeof(stub->uuid_str));
    stub->serial = ++list->stub_serial;
    g_hash_table_insert(list->stubs, stub->uuid_str, stub);
    g_hash_table_insert(list->stub_names, stub->name, stub);
}

/**
 * vb_domain_list_drop_stub_locked:
 *
 * Forgets the stub of @uuid if it is called @name (a define replaces it when its config
 * cannot be loaded). Under list->lock, with define_lock held.
 *
 * Returns: whether it was dropped
 */
gboolean
vb_domain_list_drop_stub_locked(VbDomainList *list, const char *uuid, const char *name)
{
    VbDomainStub *stub = g_hash_table_lookup(list->stubs, uuid);

    if (stub == NULL || !g_str_equal(stub->name, name))
        return FALSE;
    g_hash_table_remove(list->stub_names, stub->name);
    g_hash_table_remove(list->stubs, uuid);
    return TRUE;
}

/* what a person can do about a config that cannot be loaded */
#define STUB_WAY_OUT "put the file back, or define the domain again with DefineXML"

/*
 * Reads the config of a stub: a domain object like the one load_configs() made of it.
 * Disk I/O: never the main thread.
 */
static VbDomainObj *
stub_read(VbDomainList *list, const char *name, const char *uuid, gboolean autostart,
          gboolean has_managed_save, GError **error)
{
    g_autofree char *config = vb_paths_domain_config(list->paths, name);
    g_autofree char *xml = NULL;
    g_autofree char *path = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(VbDomainDef) def = NULL;
    char found[37];
    VbDomainObj *dom;

    /* a FIFO or a device put there would block this worker: regular files only, as at
     * start-up (vb_store_read_dir()) */
    if (!g_file_test(config, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO,
                    "cannot load the definition of domain '%s': '%s' is missing or not a "
                    "regular file (" STUB_WAY_OUT ")", name, config);
        return NULL;
    }
    if (!g_file_get_contents(config, &xml, NULL, &local)) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO,
                    "cannot load the definition of domain '%s': %s (" STUB_WAY_OUT ")", name,
                    local->message);
        return NULL;
    }
    def = vb_domain_def_parse_string(xml, VB_DOMAIN_DEF_PARSE_INACTIVE, &local);
    if (def == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO,
                    "cannot load the definition of domain '%s' from '%s': %s (" STUB_WAY_OUT
                    ")", name, config, local->message);
        return NULL;
    }
    vb_uuid_format(def->uuid, found);
    if (!g_str_equal(def->name, name) || !g_str_equal(found, uuid)) {
        g_set_error(error, VB_ERROR, VB_ERROR_IO,
                    "cannot load the definition of domain '%s' (uuid %s): '%s' now defines "
                    "domain '%s' (uuid %s); it was changed behind the service's back ("
                    STUB_WAY_OUT ")", name, uuid, config, def->name, found);
        return NULL;
    }
    path = list->path_func(uuid);
    dom = vb_domain_obj_new(g_steal_pointer(&def), path);
    dom->persistent = TRUE;
    dom->autostart = autostart;
    dom->has_managed_save = has_managed_save;
    dom->unsupported = vb_domain_unsupported_load(list, name);
    return dom;
}

/*
 * Returns: (transfer full): the loaded domain of @uuid (canonical), its stub loaded
 *   first (the object replaces the stub in the list), or %NULL with NoDomain or IO.
 *   Disk I/O when it is a stub: worker threads (or start-up) only.
 */
static VbDomainObj *
find_loading(VbDomainList *list, const char *uuid, GError **error)
{
    g_autofree char *name = NULL;
    VbDomainStub *stub;
    VbDomainObj *dom;
    gboolean autostart, managed_save;
    guint serial;

    g_mutex_lock(&list->lock);
    dom = g_hash_table_lookup(list->by_uuid, uuid);
    if (dom != NULL || (stub = g_hash_table_lookup(list->stubs, uuid)) == NULL) {
        if (dom != NULL)
            vb_domain_obj_ref(dom);
        g_mutex_unlock(&list->lock);
        if (dom == NULL)
            g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN,
                        "no domain with matching uuid '%s'", uuid);
        return dom;
    }
    name = g_strdup(stub->name);
    serial = stub->serial;
    autostart = stub->autostart;
    managed_save = stub->has_managed_save;
    g_mutex_unlock(&list->lock);

    /* outside the lock: the main thread takes it. A config of a stub does not change
     * (what changes a domain loads it first), so two threads loading the same stub read
     * the same definition, and the first to come back wins. */
    dom = stub_read(list, name, uuid, autostart, managed_save, error);
    if (dom == NULL)
        return NULL;
    g_mutex_lock(&list->lock);
    stub = g_hash_table_lookup(list->stubs, uuid);
    if (stub != NULL && stub->serial == serial) {
        g_hash_table_remove(list->stub_names, name);
        g_hash_table_remove(list->stubs, uuid);
        vb_domain_list_insert(list, dom, name);
    } else {
        /* another thread loaded it first (or it changed since): take what is there */
        vb_domain_obj_unref(dom);
        dom = g_hash_table_lookup(list->by_uuid, uuid);
        if (dom != NULL)
            vb_domain_obj_ref(dom);
    }
    g_mutex_unlock(&list->lock);
    if (dom == NULL)
        g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN, "no domain with matching uuid '%s'",
                    uuid);
    return dom;
}

/**
 * vb_domain_list_load_stub:
 * @uuid: canonical
 *
 * Loads the stub of @uuid, if it is one, so that the tables hold its object. Callers
 * that look @uuid up under list->lock call it first, with define_lock held (no new stub
 * can appear before they take list->lock). Disk I/O: worker threads only.
 *
 * Returns: %FALSE when a stub's config could not be loaded (@error set)
 */
gboolean
vb_domain_list_load_stub(VbDomainList *list, const char *uuid, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(VbDomainObj) dom = find_loading(list, uuid, &local);

    if (dom == NULL && !g_error_matches(local, VB_ERROR, VB_ERROR_NO_DOMAIN)) {
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    return TRUE;
}

void
vb_domain_def_warn_unknown(const VbDomainDef *def)
{
    g_autoptr(GString) names = NULL;

    if (def->unknown_elements == NULL || def->unknown_elements->len == 0)
        return;
    names = g_string_new(NULL);
    for (guint i = 0; i < def->unknown_elements->len; i++) {
        if (i > 0)
            g_string_append(names, ", ");
        g_string_append_printf(names, "<%s>", (char *)def->unknown_elements->pdata[i]);
    }
    VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, def->name,
                  "keeping elements virtbus does not act on yet: %s", names->str);
}

/* issue 13, part guest2: configs newest first (stable for equal times) */
static gint
newest_first(gconstpointer a, gconstpointer b)
{
    const VbStoreEntry *ea = *(VbStoreEntry *const *)a;
    const VbStoreEntry *eb = *(VbStoreEntry *const *)b;
    GStatBuf sa, sb;
    gint64 ta, tb;

    if (g_stat(ea->path, &sa) != 0 || g_stat(eb->path, &sb) != 0)
        return 0;
    ta = (gint64)sa.st_mtim.tv_sec * G_GINT64_CONSTANT(1000000000) + sa.st_mtim.tv_nsec;
    tb = (gint64)sb.st_mtim.tv_sec * G_GINT64_CONSTANT(1000000000) + sb.st_mtim.tv_nsec;
    return ta > tb ? -1 : ta < tb ? 1 : 0;
}

/**
 * vb_domain_list_load_configs:
 *
 * Loads every persistent config of the config directory. A file that
 * cannot be read or parsed, whose name does not match the domain's, or
 * whose name or UUID is already taken, is logged and skipped. Call once
 * at start-up, before the bus name is owned.
 *
 * Returns: the number of domains loaded.
 */
guint
vb_domain_list_load_configs(VbDomainList *list)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) entries = NULL;
    guint loaded = 0;
    const char *const dirs[] = { list->paths->config_dir, list->paths->autostart_dir,
                                 list->paths->run_dir,    list->paths->data_dir,
                                 list->paths->caps_dir,   list->paths->save_dir,
                                 list->paths->snapshot_dir, list->paths->nvram_dir };

    /* what writes interrupted by a crash left (status temps hold secrets) */
    for (gsize i = 0; i < G_N_ELEMENTS(dirs); i++)
        vb_store_remove_stale_temps(dirs[i]);
    {
        /* before the reconnection takes block jobs back as new jobs */
        g_autofree char *ids = g_build_filename(list->paths->run_dir, "job-ids", NULL);

        vb_job_ids_init(ids);
    }
    entries = vb_store_read_dir(list->paths->config_dir, ".xml", &error);

    if (entries == NULL) {
        g_warning("cannot load domain configs: %s", error->message);
        return 0;
    }
    g_ptr_array_sort(entries, newest_first); /* issue 13, part guest2: Rename */
    for (guint i = 0; i < entries->len; i++) {
        VbStoreEntry *e = entries->pdata[i];
        g_autoptr(GError) err = NULL;
        g_autoptr(VbDomainDef) def = NULL;
        g_autofree char *base = g_path_get_basename(e->path);
        g_autofree char *path = NULL;
        g_autofree char *autostart = NULL;
        char uuid[37];
        VbDomainObj *dom;

        def = vb_domain_def_parse_string(e->contents, VB_DOMAIN_DEF_PARSE_INACTIVE, &err);
        if (def == NULL) {
            g_warning("skipping config '%s': %s", e->path, err->message);
            continue;
        }
        if (strlen(base) != strlen(def->name) + 4 || !g_str_has_prefix(base, def->name)) {
            g_warning("skipping config '%s': it defines domain '%s', expected in '%s.xml'",
                      e->path, def->name, def->name);
            continue;
        }
        vb_uuid_format(def->uuid, uuid);
        if (g_hash_table_contains(list->stubs, uuid)) {
            /* issue 13, part guest2: a Rename writes the new config before it removes the
             * old one; newest first, so an older config of the same uuid under another
             * name is what a crash between the two steps left */
            VbDomainStub *kept = g_hash_table_lookup(list->stubs, uuid);
            const char *kept_name = kept->name;

            if (!g_str_equal(kept_name, def->name) && vb_store_remove(e->path, NULL))
                g_warning("removed config '%s': an older config of domain '%s' (uuid %s), "
                          "left by an interrupted Rename", e->path, kept_name, uuid);
            else
                g_warning("skipping config '%s': uuid %s is already used", e->path, uuid);
            continue;
        }
        vb_domain_def_warn_unknown(def);
        path = list->path_func(uuid);
        autostart = vb_paths_domain_autostart(list->paths, def->name);
        {
            g_autofree char *name = g_strdup(def->name);

            dom = vb_domain_obj_new(g_steal_pointer(&def), path);
            dom->persistent = TRUE;
            dom->unsupported = vb_domain_unsupported_load(list, name);
            dom->autostart = g_file_test(autostart, G_FILE_TEST_EXISTS);
            {
                g_autofree char *image = vb_domain_managed_save_path(list, name);

                dom->has_managed_save = g_file_test(image, G_FILE_TEST_EXISTS);
            }
            /* issue 16: only its stub is kept; running ones are loaded by the
             * reconnection, the others by the first call that needs more */
            g_mutex_lock(&list->lock);
            vb_domain_list_insert_stub(list, dom);
            g_mutex_unlock(&list->lock);
        }
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_ADDED, NULL, NULL);
        vb_domain_obj_unref(dom);
        loaded++;
    }
    return loaded;
}

/**
 * vb_domain_list_find_by_name:
 *
 * Returns: (transfer full): the domain called @name, or %NULL with
 *   NoDomain (or IO: its config could not be loaded). Loads a stub (issue 16): disk
 *   I/O, worker threads only; vb_domain_list_identify() does without.
 */
VbDomainObj *
vb_domain_list_find_by_name(VbDomainList *list, const char *name, GError **error)
{
    VbDomainObj *dom;
    VbDomainStub *stub;
    char uuid[37];

    g_mutex_lock(&list->lock);
    dom = g_hash_table_lookup(list->by_name, name);
    if (dom != NULL) {
        vb_domain_obj_ref(dom);
        g_mutex_unlock(&list->lock);
        return dom;
    }
    stub = g_hash_table_lookup(list->stub_names, name);
    if (stub != NULL)
        memcpy(uuid, stub->uuid_str, sizeof(uuid));
    g_mutex_unlock(&list->lock);
    if (stub == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN, "no domain with matching name '%s'",
                    name);
        return NULL;
    }
    return find_loading(list, uuid, error);
}

/* The canonical form of @uuid, or %FALSE with InvalidArgument. */
static gboolean
canonical_uuid(const char *uuid, char canon[37], GError **error)
{
    unsigned char raw[16];

    if (!vb_uuid_parse(uuid, raw)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "'%s' is not a valid UUID", uuid);
        return FALSE;
    }
    vb_uuid_format(raw, canon);
    return TRUE;
}

/**
 * vb_domain_list_find_by_uuid:
 * @uuid: a uuid in any case, with dashes
 *
 * Returns: (transfer full): the domain, or %NULL with NoDomain (or IO: its config could
 *   not be loaded), or InvalidArgument for a malformed uuid. Loads a stub (issue 16):
 *   disk I/O, worker threads only; vb_domain_list_peek_by_uuid() and
 *   vb_domain_list_identify() do without.
 */
VbDomainObj *
vb_domain_list_find_by_uuid(VbDomainList *list, const char *uuid, GError **error)
{
    char canon[37];

    if (!canonical_uuid(uuid, canon, error))
        return NULL;
    return find_loading(list, canon, error);
}

/**
 * vb_domain_list_peek_by_uuid:
 * @uuid: a uuid in any case, with dashes
 *
 * Returns: (transfer full) (nullable): the domain if it is loaded (never a stub's:
 *   %NULL for a stub, an unknown or a malformed uuid). Any thread, no I/O.
 */
VbDomainObj *
vb_domain_list_peek_by_uuid(VbDomainList *list, const char *uuid)
{
    char canon[37];
    VbDomainObj *dom;

    if (!canonical_uuid(uuid, canon, NULL))
        return NULL;
    g_mutex_lock(&list->lock);
    dom = g_hash_table_lookup(list->by_uuid, canon);
    if (dom != NULL)
        vb_domain_obj_ref(dom);
    g_mutex_unlock(&list->lock);
    return dom;
}

/**
 * vb_domain_list_find_for_reading:
 * @uuid: canonical
 *
 * Returns: (transfer full): the loaded domain of @uuid, or for a stub an object read from
 *   its config that is NOT put in the list (for reading its definition once, as
 *   GetAllDomainStats does for every domain, without loading them all), or %NULL with
 *   NoDomain or IO. Disk I/O: worker threads only.
 */
VbDomainObj *
vb_domain_list_find_for_reading(VbDomainList *list, const char *uuid, GError **error)
{
    g_autofree char *name = NULL;
    VbDomainStub *stub;
    VbDomainObj *dom;
    gboolean autostart = FALSE, managed_save = FALSE;

    g_mutex_lock(&list->lock);
    dom = g_hash_table_lookup(list->by_uuid, uuid);
    if (dom != NULL) {
        vb_domain_obj_ref(dom);
    } else if ((stub = g_hash_table_lookup(list->stubs, uuid)) != NULL) {
        name = g_strdup(stub->name);
        autostart = stub->autostart;
        managed_save = stub->has_managed_save;
    }
    g_mutex_unlock(&list->lock);
    if (dom != NULL)
        return dom;
    if (name == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN, "no domain with matching uuid '%s'",
                    uuid);
        return NULL;
    }
    return stub_read(list, name, uuid, autostart, managed_save, error);
}

void
vb_domain_id_free(VbDomainId *id)
{
    if (id == NULL)
        return;
    g_free(id->name);
    g_free(id);
}

/**
 * vb_domain_list_identify:
 * @name: (nullable): a name, or
 * @uuid: (nullable): a uuid in any case
 * @out: (out caller-allocates): its name (free it) and canonical uuid
 *
 * Finds a domain, loaded or a stub, without loading it. Any thread, no I/O.
 *
 * Returns: %FALSE with NoDomain, or InvalidArgument for a malformed uuid
 */
gboolean
vb_domain_list_identify(VbDomainList *list, const char *name, const char *uuid,
                        VbDomainId *out, GError **error)
{
    char canon[37];
    VbDomainObj *dom;
    VbDomainStub *stub;

    out->name = NULL;
    if (uuid != NULL && !canonical_uuid(uuid, canon, error))
        return FALSE;
    g_mutex_lock(&list->lock);
    dom = name != NULL ? g_hash_table_lookup(list->by_name, name)
                       : g_hash_table_lookup(list->by_uuid, canon);
    stub = name != NULL ? g_hash_table_lookup(list->stub_names, name)
                        : g_hash_table_lookup(list->stubs, canon);
    if (dom != NULL) {
        memcpy(out->uuid_str, dom->uuid_str, sizeof(out->uuid_str));
        g_mutex_lock(&dom->lock);
        out->name = g_strdup(dom->def->name);
        g_mutex_unlock(&dom->lock);
    } else if (stub != NULL) {
        memcpy(out->uuid_str, stub->uuid_str, sizeof(out->uuid_str));
        out->name = g_strdup(stub->name);
    }
    g_mutex_unlock(&list->lock);
    if (out->name != NULL)
        return TRUE;
    if (name != NULL)
        g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN, "no domain with matching name '%s'",
                    name);
    else
        g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN, "no domain with matching uuid '%s'",
                    canon);
    return FALSE;
}

#define PAIR(a, b, v) (!(flags & (a)) || (flags & (b)) || (v)) && \
                      (!(flags & (b)) || (flags & (a)) || !(v))
static gboolean
list_filter_match(VbDomainObj *dom, guint flags)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&dom->lock);
    gboolean active = dom->id >= 0;

    return PAIR(VB_LIST_ACTIVE, VB_LIST_INACTIVE, active) &&
           PAIR(VB_LIST_PERSISTENT, VB_LIST_TRANSIENT, dom->persistent) &&
           PAIR(VB_LIST_AUTOSTART, VB_LIST_NO_AUTOSTART, dom->autostart);
}

/* A stub is inactive and persistent. */
static gboolean
stub_filter_match(const VbDomainStub *stub, guint flags)
{
    return PAIR(VB_LIST_ACTIVE, VB_LIST_INACTIVE, FALSE) &&
           PAIR(VB_LIST_PERSISTENT, VB_LIST_TRANSIENT, TRUE) &&
           PAIR(VB_LIST_AUTOSTART, VB_LIST_NO_AUTOSTART, stub->autostart);
}
#undef PAIR

static int
compare_by_name(gconstpointer a, gconstpointer b)
{
    VbDomainObj *da = *(VbDomainObj *const *)a;
    VbDomainObj *db = *(VbDomainObj *const *)b;
    g_autofree char *na = vb_domain_obj_get_name(da);
    g_autofree char *nb = vb_domain_obj_get_name(db);

    return strcmp(na, nb);
}

static int
compare_ids(gconstpointer a, gconstpointer b)
{
    const VbDomainId *ia = *(VbDomainId *const *)a;
    const VbDomainId *ib = *(VbDomainId *const *)b;

    return strcmp(ia->name, ib->name);
}

/**
 * vb_domain_list_collect_ids:
 * @flags: VbListFlags filter
 *
 * Returns: (transfer full) (element-type VbDomainId): the name and uuid of the matching
 *   domains, loaded or stubs, sorted by name. Any thread, no I/O.
 */
GPtrArray *
vb_domain_list_collect_ids(VbDomainList *list, guint flags)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vb_domain_id_free);
    GHashTableIter iter;
    gpointer value;

    /* both tables in one hold of the lock: a stub loaded meanwhile is seen once */
    g_mutex_lock(&list->lock);
    g_hash_table_iter_init(&iter, list->by_uuid);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        VbDomainObj *dom = value;
        VbDomainId *id;

        if (!list_filter_match(dom, flags)) /* list->lock, then the domain's: the order */
            continue;
        id = g_new(VbDomainId, 1);
        id->name = vb_domain_obj_get_name(dom);
        memcpy(id->uuid_str, dom->uuid_str, sizeof(id->uuid_str));
        g_ptr_array_add(out, id);
    }
    g_hash_table_iter_init(&iter, list->stubs);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        const VbDomainStub *stub = value;
        VbDomainId *id;

        if (!stub_filter_match(stub, flags))
            continue;
        id = g_new(VbDomainId, 1);
        id->name = g_strdup(stub->name);
        memcpy(id->uuid_str, stub->uuid_str, sizeof(id->uuid_str));
        g_ptr_array_add(out, id);
    }
    g_mutex_unlock(&list->lock);
    g_ptr_array_sort(out, compare_ids);
    return out;
}

/**
 * vb_domain_list_collect_loaded:
 * @flags: VbListFlags filter
 *
 * Returns: (transfer full) (element-type VbDomainObj): references to the
 *   matching loaded domains (no stub: every active domain is loaded), sorted by name.
 *   Any thread, no I/O.
 */
GPtrArray *
vb_domain_list_collect_loaded(VbDomainList *list, guint flags)
{
    GPtrArray *all = g_ptr_array_new_with_free_func((GDestroyNotify)vb_domain_obj_unref);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vb_domain_obj_unref);
    GHashTableIter iter;
    gpointer value;

    g_mutex_lock(&list->lock);
    g_hash_table_iter_init(&iter, list->by_uuid);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        g_ptr_array_add(all, vb_domain_obj_ref(value));
    g_mutex_unlock(&list->lock);

    for (guint i = 0; i < all->len; i++) {
        if (list_filter_match(all->pdata[i], flags))
            g_ptr_array_add(out, vb_domain_obj_ref(all->pdata[i]));
    }
    g_ptr_array_unref(all);
    g_ptr_array_sort(out, compare_by_name);
    return out;
}

/**
 * vb_domain_list_collect:
 * @flags: VbListFlags filter
 *
 * Returns: (transfer full) (element-type VbDomainObj): references to the
 *   matching domains, sorted by name; the stubs among them are loaded (one that cannot
 *   be is logged and left out). Disk I/O: worker threads only.
 */
GPtrArray *
vb_domain_list_collect(VbDomainList *list, guint flags)
{
    g_autoptr(GPtrArray) ids = vb_domain_list_collect_ids(list, flags);
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)vb_domain_obj_unref);

    for (guint i = 0; i < ids->len; i++) {
        const VbDomainId *id = ids->pdata[i];
        g_autoptr(GError) error = NULL;
        VbDomainObj *dom = find_loading(list, id->uuid_str, &error);

        if (dom == NULL) {
            if (!g_error_matches(error, VB_ERROR, VB_ERROR_NO_DOMAIN))
                VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, id->name, "%s", error->message);
            continue;
        }
        /* its state may have changed since it was matched */
        if (list_filter_match(dom, flags))
            g_ptr_array_add(out, dom);
        else
            vb_domain_obj_unref(dom);
    }
    return out;
}

/**
 * vb_domain_list_remove:
 *
 * Takes @dom out of the list (a transient domain that stopped): later
 * lookups fail, and callers still holding it or waiting for its job get
 * NoDomain. Any thread.
 */
void
vb_domain_list_remove(VbDomainList *list, VbDomainObj *dom)
{
    g_mutex_lock(&list->lock);
    g_mutex_lock(&dom->lock);
    dom->removed = TRUE;
    if (g_hash_table_lookup(list->by_name, dom->def->name) == dom)
        g_hash_table_remove(list->by_name, dom->def->name);
    g_cond_broadcast(&dom->job.cond);
    g_mutex_unlock(&dom->lock);
    vb_domain_obj_ref(dom);
    g_hash_table_remove(list->by_uuid, dom->uuid_str);
    g_mutex_unlock(&list->lock);
    vb_domain_obj_unref(dom);
}

guint
vb_domain_list_count(VbDomainList *list)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&list->lock);

    return g_hash_table_size(list->by_uuid) + g_hash_table_size(list->stubs);
}

static gpointer
autostart_thread(gpointer data)
{
    VbDomainList *list = data;
    g_autoptr(GPtrArray) doms = vb_domain_list_collect(list, VB_LIST_AUTOSTART |
                                                             VB_LIST_INACTIVE);

    for (guint i = 0; i < doms->len && !vb_domain_list_shutting_down(list); i++) {
        VbDomainObj *dom = doms->pdata[i];
        g_autoptr(GError) error = NULL;
        g_autofree char *name = vb_domain_obj_get_name(dom);
        gboolean autostart;

        /* changed since it was collected? */
        g_mutex_lock(&dom->lock);
        autostart = dom->autostart && dom->id < 0 && !dom->removed;
        g_mutex_unlock(&dom->lock);
        if (!autostart)
            continue;
        VB_LOG_DOMAIN(G_LOG_LEVEL_MESSAGE, name, "autostarting");
        /* a managed save image is restored, as Start does */
        if (!vb_domain_start(list, dom, 0, NULL, &error))
            VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, name, "autostart failed: %s", error->message);
    }
    g_mutex_lock(&list->lock);
    list->job_threads--;
    g_cond_broadcast(&list->job_threads_cond);
    g_mutex_unlock(&list->lock);
    return NULL;
}

/**
 * vb_domain_list_autostart:
 *
 * Starts every inactive domain marked autostart (restoring its managed
 * save image when it has one), one after the other on a thread of its
 * own, so the service answers calls meanwhile. A failure is logged and
 * the next domain started. Call once, when the service owns its name.
 */
void
vb_domain_list_autostart(VbDomainList *list)
{
    g_mutex_lock(&list->lock);
    list->job_threads++; /* vb_domain_list_free() waits for it */
    g_mutex_unlock(&list->lock);
    g_thread_unref(g_thread_new("vb-autostart", autostart_thread, list));
}
