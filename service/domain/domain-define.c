/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "domain-list.h"
#include "domain-chain.h"
#include "domain-list-priv.h"
#include "qemu-helpers.h"
#include "store.h"
#include "vb-error.h"
#include "vb-log.h"

/* Finds the domains that already hold @def's uuid and name. Under list->lock, the stub
 * of @uuid loaded first (vb_domain_list_load_stub()); a stub holding the name is another
 * domain's. */
static gboolean
check_conflicts(VbDomainList *list, const VbDomainDef *def, const char *uuid,
                VbDomainObj **out_existing, GError **error)
{
    VbDomainObj *by_uuid = g_hash_table_lookup(list->by_uuid, uuid);
    VbDomainObj *by_name = g_hash_table_lookup(list->by_name, def->name);
    VbDomainStub *stub = g_hash_table_lookup(list->stub_names, def->name);

    if (stub != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                    "domain '%s' already exists with uuid %s", def->name, stub->uuid_str);
        return FALSE;
    }

    if (by_uuid != NULL) {
        g_autofree char *name = vb_domain_obj_get_name(by_uuid);

        if (!g_str_equal(name, def->name)) {
            g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                        "domain '%s' already exists with uuid %s", name, uuid);
            return FALSE;
        }
    }
    if (by_name != NULL && by_name != by_uuid) {
        g_set_error(error, VB_ERROR, VB_ERROR_EXISTS,
                    "domain '%s' already exists with uuid %s", def->name, by_name->uuid_str);
        return FALSE;
    }
    *out_existing = by_uuid != NULL ? vb_domain_obj_ref(by_uuid) : NULL;
    return TRUE;
}

static gboolean
write_config(VbDomainList *list, const VbDomainDef *def, GError **error)
{
    g_autofree char *xml = NULL;
    g_autofree char *path = vb_paths_domain_config(list->paths, def->name);

    xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_INACTIVE | VB_DOMAIN_DEF_FORMAT_SECURE,
                               error);
    if (xml == NULL)
        return FALSE;
    return vb_store_write_atomic(path, xml, -1, 0600, error);
}

/**
 * vb_domain_persistent_update:
 * @change: makes the change on a copy of the persistent definition (or fails)
 * @dry_run: only check that the change applies and the result can be formatted
 *
 * The change on a copy of the persistent definition (the pending one of a running
 * domain), written as DefineXML writes it (atomically), then swapped in: a failure changes
 * nothing. With the domain's job held.
 */
gboolean
vb_domain_persistent_update(VbDomainList *list, VbDomainObj *dom, VbDefChangeFunc change,
                            gpointer data, gboolean dry_run, GError **error)
{
    g_autoptr(GMutexLocker) define_locker = g_mutex_locker_new(&list->define_lock);
    g_autoptr(VbDomainDef) def = NULL;
    g_autofree char *xml = NULL;

    g_mutex_lock(&dom->lock);
    def = vb_domain_def_copy(dom->new_def != NULL ? dom->new_def : dom->def);
    g_mutex_unlock(&dom->lock);
    if (def == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the persistent definition");
        return FALSE;
    }
    def->priv->id = -1;
    if (!change(def, data, error))
        return FALSE;
    vb_domain_def_clear_runtime(def); /* as DefineXML stores it */
    if (dry_run) {
        xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_INACTIVE, error);
        return xml != NULL;
    }
    if (!write_config(list, def, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    if (dom->new_def != NULL) {
        vb_domain_def_free(dom->new_def);
        dom->new_def = g_steal_pointer(&def);
    } else if (dom->id < 0) {
        vb_domain_def_free(dom->def);
        dom->def = g_steal_pointer(&def);
    } else {
        /* a running persistent domain keeps its next definition aside */
        dom->new_def = g_steal_pointer(&def);
    }
    g_mutex_unlock(&dom->lock);
    return TRUE;
}

/**
 * vb_domain_define_xml:
 * @xml: domain XML from a caller
 *
 * Defines a persistent domain, or updates the one with the same name and
 * uuid: the config is written to disk first, then the in-memory domain
 * is changed, so a failed write changes nothing. An active domain keeps
 * its running definition; the new one applies at its next start.
 * Blocking: worker threads only.
 *
 * Returns: (transfer full): the domain, or %NULL with InvalidXML,
 *   AlreadyExists or IO.
 */
VbDomainObj *
vb_domain_define_xml(VbDomainList *list, const char *xml, GError **error)
{
    return vb_domain_define_full(list, xml, 0, error);
}

static VbDomainObj *define_def(VbDomainList *list, VbDomainDef *def_in,
                               const char *const *unsupported, guint flags, GError **error);

/**
 * vb_domain_define_full:
 * @xml: domain XML from a caller
 * @flags: VbDefineFlags: VALIDATE refuses a definition that holds settings a start would
 *   not act on (NotSupported naming each by its line)
 *
 * DefineXML: parses with the host's defaults (vb_domain_parse_define()), then defines.
 * Without VALIDATE, what is not acted on is kept in Domain.Unsupported (and next to the
 * config). Blocking: worker threads only.
 */
VbDomainObj *
vb_domain_define_full(VbDomainList *list, const char *xml, guint flags, GError **error)
{
    g_auto(GStrv) unsupported = NULL;
    VbDomainDef *def = vb_domain_parse_define(list, xml, &unsupported, error);

    if (def == NULL)
        return NULL;
    if ((flags & VB_DEFINE_VALIDATE) &&
        !vb_domain_unsupported_check((const char *const *)unsupported, def->name, error)) {
        vb_domain_def_free(def);
        return NULL;
    }
    return define_def(list, def, (const char *const *)unsupported, flags, error);
}

/**
 * vb_domain_parse_config:
 * @xml: domain XML from a caller
 *
 * Parses a persistent definition as DefineXML does. Any thread.
 *
 * Returns: (transfer full): the definition, or %NULL with InvalidXML.
 */
VbDomainDef *
vb_domain_parse_config(const char *xml, GError **error)
{
    VbDomainDef *def = vb_domain_def_parse_string(xml, VB_DOMAIN_DEF_PARSE_INACTIVE, error);

    /* device addresses, default models and MACs are fixed now and kept in
     * the config, so the guest's ABI never changes between starts */
    if (def != NULL && !vb_domain_def_assign_addresses(def, error))
        g_clear_pointer(&def, vb_domain_def_free);
    /* to a caller of DefineXML, a bad value is bad XML */
    if (def == NULL && error != NULL && *error != NULL && (*error)->domain == VB_ERROR &&
        (*error)->code == VB_ERROR_INVALID_ARG)
        (*error)->code = VB_ERROR_INVALID_XML;
    return def;
}

/*
 * libvirt's post-parse default (issue 10, part helpers): a read-only pflash loader without
 * an NVRAM path gets STATE_ROOT/nvram/NAME_VARS.fd, written to the config.
 */
static gboolean
fill_nvram_path(VbDomainList *list, VbDomainDef **def, GError **error)
{
    g_autofree char *base = g_strconcat((*def)->name, "_VARS.fd", NULL);
    g_autofree char *path = g_build_filename(list->paths->nvram_dir, base, NULL);
    g_autoptr(GError) local = NULL;
    VbDomainDef *filled = vb_qemu_firmware_default_nvram(*def, path, &local);

    if (filled == NULL && local != NULL) {
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    if (filled != NULL) {
        vb_domain_def_free(*def);
        *def = filled;
    }
    return TRUE;
}

/**
 * vb_domain_define:
 * @def: (transfer full): a parsed persistent definition
 *
 * Like vb_domain_define_xml(), for an already parsed definition.
 */
VbDomainObj *
vb_domain_define(VbDomainList *list, VbDomainDef *def_in, GError **error)
{
    return define_def(list, def_in, NULL, 0, error);
}

static VbDomainObj *
define_def(VbDomainList *list, VbDomainDef *def_in, const char *const *unsupported,
           guint flags, GError **error)
{
    g_autoptr(VbDomainDef) def = def_in;
    g_autoptr(GError) unsupported_err = NULL;
    g_autoptr(GError) load_err = NULL;
    g_autoptr(GMutexLocker) define_locker = NULL;
    VbDomainObj *existing = NULL;
    VbDomainObj *dom;
    char uuid[37];
    gboolean ok;

    vb_uuid_format(def->uuid, uuid);
    if (!fill_nvram_path(list, &def, error))
        return NULL;

    define_locker = g_mutex_locker_new(&list->define_lock);
    /* an update of a domain kept as a stub changes its loaded object (issue 16); one whose
     * config cannot be loaded any more is replaced by the new definition of the same name */
    if (!vb_domain_list_load_stub(list, uuid, &load_err)) {
        g_mutex_lock(&list->lock);
        ok = vb_domain_list_drop_stub_locked(list, uuid, def->name);
        g_mutex_unlock(&list->lock);
        if (!ok) {
            g_propagate_error(error, g_steal_pointer(&load_err));
            return NULL;
        }
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, def->name, "%s; the new definition replaces it",
                      load_err->message);
    }
    g_mutex_lock(&list->lock);
    ok = check_conflicts(list, def, uuid, &existing, error);
    g_mutex_unlock(&list->lock);
    if (!ok)
        return NULL;
    if (!write_config(list, def, error)) {
        g_clear_pointer(&existing, vb_domain_obj_unref);
        return NULL;
    }
    /* the config is what counts: a lost list is only a warning */
    if (!vb_domain_unsupported_save(list, def->name, unsupported, &unsupported_err))
        VB_LOG_DOMAIN(G_LOG_LEVEL_WARNING, uuid, "%s", unsupported_err->message);
    vb_domain_def_warn_unknown(def);

    if (existing != NULL) {
        dom = existing;
        g_mutex_lock(&dom->lock);
        /* a start that already copied the definition counts as active */
        if (dom->id >= 0 || dom->starting) {
            vb_domain_def_free(dom->new_def);
            dom->new_def = g_steal_pointer(&def);
        } else {
            vb_domain_def_free(dom->def);
            dom->def = g_steal_pointer(&def);
        }
        dom->persistent = TRUE;
        g_strfreev(dom->unsupported);
        dom->unsupported = g_strdupv((char **)unsupported);
        g_mutex_unlock(&dom->lock);
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, uuid, "definition updated");
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, "defined", "updated");
        return dom;
    }

    {
        g_autofree char *path = list->path_func(uuid);
        g_autofree char *name = g_strdup(def->name);

        dom = vb_domain_obj_new(g_steal_pointer(&def), path);
        dom->persistent = TRUE;
        dom->unsupported = g_strdupv((char **)unsupported);
        g_mutex_lock(&list->lock);
        /* issue 16: DefineXML keeps only the stub; the first call that needs more loads
         * the config just written */
        if (flags & VB_DEFINE_STUB)
            vb_domain_list_insert_stub(list, dom);
        else
            vb_domain_list_insert(list, dom, name);
        g_mutex_unlock(&list->lock);
        VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, name, "defined (uuid %s)", uuid);
    }
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_ADDED, "defined", "added");
    return dom;
}

/* rm -r of a directory the service owns (the TPM state); failures are logged */
static void
remove_tree(const char *path)
{
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    const char *e;

    while (d != NULL && (e = g_dir_read_name(d)) != NULL) {
        g_autofree char *p = g_build_filename(path, e, NULL);

        if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
            remove_tree(p);
        else if (g_unlink(p) < 0)
            g_warning("cannot remove '%s': %s", p, g_strerror(errno));
    }
    if (g_rmdir(path) < 0 && errno != ENOENT)
        g_warning("cannot remove '%s': %s", path, g_strerror(errno));
}

/*
 * libvirt's rules for the firmware files at undefine (issue 10, part helpers): an existing
 * NVRAM file needs NVRAM (remove it) or KEEP_NVRAM; the emulated TPM's state is removed
 * unless KEEP_TPM (only for an inactive domain: a running one keeps it). Under dom->lock.
 */
static gboolean
undefine_check_firmware(VbDomainList *list, VbDomainObj *dom, guint flags, char **out_nvram,
                        char **out_tpm_dir, GError **error)
{
    g_auto(VbDomainFirmware) fw = { 0 };
    const VbDomainDef *def = dom->new_def != NULL ? dom->new_def : dom->def;
    char uuid[37];

    if ((flags & VB_UNDEFINE_NVRAM) && (flags & VB_UNDEFINE_KEEP_NVRAM)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "Undefine: cannot both keep and delete the NVRAM (flags NVRAM and "
                    "KEEP_NVRAM)");
        return FALSE;
    }
    if ((flags & VB_UNDEFINE_TPM) && (flags & VB_UNDEFINE_KEEP_TPM)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    "Undefine: cannot both keep and delete the TPM state (flags TPM and "
                    "KEEP_TPM)");
        return FALSE;
    }
    vb_domain_def_get_firmware(def, &fw);
    /* whether the file exists is asked by the caller, without the lock */
    if (fw.nvram_path != NULL && !fw.nvram_other)
        *out_nvram = g_strdup(fw.nvram_path);
    vb_uuid_format(def->uuid, uuid);
    if (!(flags & VB_UNDEFINE_KEEP_TPM) && dom->id < 0 && !dom->starting)
        *out_tpm_dir = vb_qemu_tpm_state_root(list->paths->swtpm_dir, uuid);
    return TRUE;
}

/**
 * vb_domain_undefine:
 *
 * @flags: VbUndefineFlags: MANAGED_SAVE also removes the managed save
 *   image; without it a domain that has one is refused
 *
 * Removes the persistent config (and autostart link) of @dom. An inactive
 * domain leaves the list; an active one becomes transient. Blocking:
 * worker threads only.
 */
gboolean
vb_domain_undefine(VbDomainList *list, VbDomainObj *dom, guint flags, GError **error)
{
    g_autoptr(GMutexLocker) define_locker = g_mutex_locker_new(&list->define_lock);
    g_autofree char *name = NULL;
    g_autofree char *config = NULL;
    g_autofree char *autostart = NULL;
    g_autofree char *nvram = NULL;
    g_autofree char *tpm_dir = NULL;
    gboolean active;

    if (!vb_domain_obj_check_alive(dom, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    name = g_strdup(dom->def->name);
    if (!dom->persistent) {
        g_mutex_unlock(&dom->lock);
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "cannot undefine transient domain '%s'", name);
        return FALSE;
    }
    if (!undefine_check_firmware(list, dom, flags, &nvram, &tpm_dir, error)) {
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    if (dom->has_managed_save && !(flags & VB_UNDEFINE_MANAGED_SAVE)) {
        g_mutex_unlock(&dom->lock);
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' has a managed save image; remove it first "
                    "(ManagedSaveRemove) or undefine with flag MANAGED_SAVE (1)", name);
        return FALSE;
    }
    g_mutex_unlock(&dom->lock);

    if (nvram != NULL && !g_file_test(nvram, G_FILE_TEST_EXISTS))
        g_clear_pointer(&nvram, g_free);
    if (nvram != NULL && !(flags & (VB_UNDEFINE_NVRAM | VB_UNDEFINE_KEEP_NVRAM))) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "cannot undefine domain '%s' with NVRAM file '%s'; undefine with flag "
                    "NVRAM (4) to remove it or KEEP_NVRAM (8) to keep it", name, nvram);
        return FALSE;
    }
    if (!(flags & VB_UNDEFINE_NVRAM))
        g_clear_pointer(&nvram, g_free);

    if (flags & VB_UNDEFINE_MANAGED_SAVE) {
        g_autofree char *image = vb_domain_managed_save_path(list, name);

        if (!vb_store_remove(image, error))
            return FALSE;
        g_mutex_lock(&dom->lock);
        dom->has_managed_save = FALSE;
        g_mutex_unlock(&dom->lock);
    }

    autostart = vb_paths_domain_autostart(list->paths, name);
    config = vb_paths_domain_config(list->paths, name);
    if (!vb_store_remove(autostart, error) || !vb_store_remove(config, error) ||
        !vb_domain_unsupported_save(list, name, NULL, error))
        return FALSE;
    if (nvram != NULL && !vb_store_remove(nvram, error))
        return FALSE;
    if (tpm_dir != NULL)
        remove_tree(tpm_dir);

    g_mutex_lock(&list->lock);
    g_mutex_lock(&dom->lock);
    /* decided again under the lock: a start may have begun or failed
     * meanwhile (start_rollback() removes a domain left transient) */
    active = dom->id >= 0 || dom->starting;
    dom->persistent = FALSE;
    dom->autostart = FALSE;
    g_clear_pointer(&dom->new_def, vb_domain_def_free);
    if (!active) {
        dom->removed = TRUE;
        g_hash_table_remove(list->by_name, name);
    }
    g_mutex_unlock(&dom->lock);
    /* keep a reference for the notification while the table drops its own */
    vb_domain_obj_ref(dom);
    if (!active)
        g_hash_table_remove(list->by_uuid, dom->uuid_str);
    g_mutex_unlock(&list->lock);

    VB_LOG_DOMAIN(G_LOG_LEVEL_INFO, name, "undefined");
    vb_domain_list_notify(list, dom, active ? VB_DOMAIN_NOTIFY_CHANGED : VB_DOMAIN_NOTIFY_REMOVED,
           "undefined", "removed");
    vb_domain_obj_unref(dom);
    return TRUE;
}

/**
 * vb_domain_set_autostart:
 *
 * Persists whether @dom starts with the service, as a symlink to its
 * config in the autostart directory. Only persistent domains. Blocking:
 * worker threads only.
 */
gboolean
vb_domain_set_autostart(VbDomainList *list, VbDomainObj *dom, gboolean autostart,
                        GError **error)
{
    g_autoptr(GMutexLocker) define_locker = g_mutex_locker_new(&list->define_lock);
    g_autofree char *name = NULL;
    g_autofree char *link = NULL;
    gboolean persistent, current;

    if (!vb_domain_obj_check_alive(dom, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    name = g_strdup(dom->def->name);
    persistent = dom->persistent;
    current = dom->autostart;
    g_mutex_unlock(&dom->lock);

    if (!persistent) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "cannot set autostart for transient domain '%s'", name);
        return FALSE;
    }
    if (current == autostart)
        return TRUE;

    link = vb_paths_domain_autostart(list->paths, name);
    if (autostart) {
        g_autofree char *target = g_strconcat("../", name, ".xml", NULL);

        if (symlink(target, link) < 0 && errno != EEXIST) {
            g_set_error(error, VB_ERROR, VB_ERROR_IO, "cannot create autostart link '%s': %s",
                        link, g_strerror(errno));
            return FALSE;
        }
    } else if (!vb_store_remove(link, error)) {
        return FALSE;
    }

    g_mutex_lock(&dom->lock);
    dom->autostart = autostart;
    g_mutex_unlock(&dom->lock);
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    return TRUE;
}

/**
 * vb_domain_get_xml:
 * @flags: VbDomainDefFormatFlags
 *
 * Returns: (transfer full): the domain XML: the persistent definition
 *   with INACTIVE (when one is pending), else the current one.
 */
char *
vb_domain_get_xml(VbDomainObj *dom, guint flags, GError **error)
{
    g_autoptr(VbDomainDef) copy = NULL;

    g_mutex_lock(&dom->lock);
    if ((flags & VB_DOMAIN_DEF_FORMAT_INACTIVE) && dom->new_def != NULL)
        copy = vb_domain_def_copy(dom->new_def);
    else
        copy = vb_domain_def_copy(dom->def);
    /* the live XML names the images below each disk's (issue 15); the inactive and
     * migratable ones do not (a start reads those from the images) */
    if (copy != NULL && dom->id >= 0 &&
        !(flags & (VB_DOMAIN_DEF_FORMAT_INACTIVE | VB_DOMAIN_DEF_FORMAT_MIGRATABLE)))
        vb_domain_chains_apply_locked(dom, copy);
    g_mutex_unlock(&dom->lock);
    return vb_domain_def_format(copy, flags, error);
}
