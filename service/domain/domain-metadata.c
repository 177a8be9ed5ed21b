/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Title, description and <metadata> (issue 13, part console): GetMetadata and SetMetadata
 * as libvirt 9.0's qemuDomainGetMetadata/qemuDomainSetMetadata, with the flags
 * AFFECT_CURRENT (0), LIVE (1), CONFIG (2). A live change goes into the running
 * definition and the status XML, a config change into the persistent definition and its
 * file. Takes no job (libvirt takes a modify job for a live change; nothing here talks to
 * QEMU): define_lock serializes it with define/undefine, the domain's lock guards the
 * definitions. Worker threads.
 */
#include "config.h"

#include "domain-console.h"
#include "domain-def-console.h"
#include "domain-list-priv.h"
#include "store.h"
#include "vb-error.h"

/* Under dom->lock: resolves CURRENT and checks LIVE/CONFIG against the domain's state. */
static gboolean
resolve_flags(VbDomainObj *dom, guint flags, gboolean *out_live, gboolean *out_config,
              GError **error)
{
    gboolean active = dom->id >= 0;

    if ((flags & VB_DOMAIN_AFFECT_LIVE) && (flags & VB_DOMAIN_AFFECT_CONFIG) && out_live == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                            "flags LIVE and CONFIG are mutually exclusive here");
        return FALSE;
    }
    if (flags == VB_DOMAIN_AFFECT_CURRENT)
        flags = active ? VB_DOMAIN_AFFECT_LIVE : VB_DOMAIN_AFFECT_CONFIG;
    if ((flags & VB_DOMAIN_AFFECT_LIVE) && !active) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "domain '%s' is not running: there is no live definition to use; use "
                    "CONFIG", dom->def->name);
        return FALSE;
    }
    if ((flags & VB_DOMAIN_AFFECT_CONFIG) && !dom->persistent) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_STATE,
                    "transient domain '%s' has no persistent definition; use LIVE",
                    dom->def->name);
        return FALSE;
    }
    if (out_live != NULL)
        *out_live = (flags & VB_DOMAIN_AFFECT_LIVE) != 0;
    *out_config = (flags & VB_DOMAIN_AFFECT_CONFIG) != 0;
    return TRUE;
}

/* Under dom->lock: the persistent definition (the pending one of a running domain). */
static VbDomainDef *
persistent_def(VbDomainObj *dom)
{
    return dom->new_def != NULL ? dom->new_def : dom->def;
}

/**
 * vb_domain_get_metadata:
 * @type: VB_METADATA_*
 * @uri: (nullable): ELEMENT's namespace
 * @flags: AFFECT_LIVE or AFFECT_CONFIG (not both), or CURRENT
 *
 * Returns: (transfer full) (nullable): the text or element
 */
char *
vb_domain_get_metadata(VbDomainObj *dom, int type, const char *uri, guint flags,
                       GError **error)
{
    gboolean config = FALSE;
    char *out = NULL;

    g_mutex_lock(&dom->lock);
    if (resolve_flags(dom, flags, NULL, &config, error))
        out = vb_domain_def_get_metadata(config ? persistent_def(dom) : dom->def, type, uri,
                                         error);
    g_mutex_unlock(&dom->lock);
    return out;
}

static gboolean
write_config(VbDomainList *list, const VbDomainDef *def, GError **error)
{
    g_autofree char *xml = NULL;
    g_autofree char *path = vb_paths_domain_config(list->paths, def->name);

    xml = vb_domain_def_format(def, VB_DOMAIN_DEF_FORMAT_INACTIVE | VB_DOMAIN_DEF_FORMAT_SECURE,
                               error);
    return xml != NULL && vb_store_write_atomic(path, xml, -1, 0600, error);
}

/**
 * vb_domain_set_metadata:
 * @metadata: (nullable): the new value; %NULL or "" removes it
 * @key: (nullable): ELEMENT's namespace prefix
 * @uri: (nullable): ELEMENT's namespace
 * @flags: AFFECT_LIVE and/or AFFECT_CONFIG, or CURRENT
 *
 * Changes the title, description or a <metadata> element; the config file is written
 * before the persistent definition changes in memory, so a failed write changes nothing.
 * With LIVE and CONFIG, a domain that stopped between the two steps keeps the config
 * change and the call fails with OperationInvalid.
 * Publishes the change (Title and Description properties). Worker threads.
 */
gboolean
vb_domain_set_metadata(VbDomainList *list, VbDomainObj *dom, int type, const char *metadata,
                       const char *key, const char *uri, guint flags, GError **error)
{
    g_autoptr(GMutexLocker) define_locker = g_mutex_locker_new(&list->define_lock);
    g_autoptr(VbDomainDef) new_persistent = NULL;
    gboolean live = FALSE, config = FALSE, ok = TRUE;

    if (!vb_domain_obj_check_alive(dom, error))
        return FALSE;
    g_mutex_lock(&dom->lock);
    if (!resolve_flags(dom, flags, &live, &config, error)) {
        g_mutex_unlock(&dom->lock);
        return FALSE;
    }
    /* the persistent one is changed on a copy, written, then swapped in */
    if (config)
        new_persistent = vb_domain_def_copy(persistent_def(dom));
    g_mutex_unlock(&dom->lock);
    if (config && new_persistent == NULL) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_INTERNAL,
                            "cannot copy the persistent definition");
        return FALSE;
    }
    if (new_persistent != NULL &&
        (!vb_domain_def_set_metadata(new_persistent, type, metadata, key, uri, error) ||
         !write_config(list, new_persistent, error)))
        return FALSE;

    g_mutex_lock(&dom->lock);
    /* the live one in place: the change touches no runtime state and fails before it
     * changes anything (an XML fragment is parsed, nothing more) */
    if (live && dom->id >= 0)
        ok = vb_domain_def_set_metadata(dom->def, type, metadata, key, uri, error);
    else if (live)
        ok = resolve_flags(dom, VB_DOMAIN_AFFECT_LIVE, &live, &config, error);
    if (new_persistent != NULL && dom->new_def != NULL) {
        vb_domain_def_free(dom->new_def);
        dom->new_def = g_steal_pointer(&new_persistent);
    } else if (new_persistent != NULL) {
        vb_domain_def_free(dom->def);
        dom->def = g_steal_pointer(&new_persistent);
    }
    g_mutex_unlock(&dom->lock);
    if (!ok) {
        vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
        return FALSE;
    }
    if (live) {
        g_autoptr(GError) err = NULL;

        if (!vb_domain_status_save(list, dom, &err))
            g_warning("%s", err->message);
    }
    vb_domain_list_notify(list, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    return TRUE;
}
