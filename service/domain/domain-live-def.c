/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The live definition of a start: what is resolved for this run and shown in the live XML
 * while the persistent definition keeps what the user wrote (it is set aside first, as a
 * running domain's is):
 * - <os firmware='efi'> and the NVRAM default (qemu-firmware.c);
 * - on a new start, the memory sizes aligned as libvirt's qemuDomainAlignMemorySizes() does
 *   (domain-def-memalign.c); a restore, an incoming migration and a start from an internal
 *   snapshot keep the sizes of their saved state.
 */
#include "config.h"

#include "domain-list-priv.h"
#include "domain-def-cpu.h"
#include "qemu-helpers.h"
#include "vb-error.h"

/**
 * vb_domain_use_live_def:
 * @def: the definition the run uses (copied)
 * @what: what it is, for the error ("the incoming definition")
 *
 * Makes a copy of @def the domain's live definition; the persistent one is set aside as a
 * running domain's is (a failed start makes it the definition again).
 */
gboolean
vb_domain_use_live_def(VbDomainObj *dom, const VbDomainDef *def, const char *what,
                       GError **error)
{
    VbDomainDef *copy = vb_domain_def_copy(def);

    if (copy == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INTERNAL, "cannot copy %s", what);
        return FALSE;
    }
    g_mutex_lock(&dom->lock);
    if (dom->persistent && dom->new_def == NULL)
        dom->new_def = g_steal_pointer(&dom->def);
    vb_domain_def_free(dom->def);
    dom->def = copy;
    g_mutex_unlock(&dom->lock);
    return TRUE;
}

/* @filled (or the error) of one step; the definition changes when it is set */
static gboolean
take(VbDomainDef **def, VbDomainDef *filled, GError *local, gboolean *changed, GError **error)
{
    if (filled == NULL && local != NULL) {
        g_propagate_error(error, local);
        return FALSE;
    }
    if (filled != NULL) {
        vb_domain_def_free(*def);
        *def = filled;
        *changed = TRUE;
    }
    return TRUE;
}

/**
 * vb_domain_start_live_defaults:
 * @def: (inout): the definition being started (a copy of the domain's)
 * @align_memory: a new start (not a restore, an incoming migration or a snapshot's state)
 *
 * Resolves the run's firmware and NVRAM and aligns its memory; when that changes @def, it
 * becomes the domain's live definition too.
 */
gboolean
vb_domain_start_live_defaults(VbDomainList *list, VbDomainObj *dom, VbDomainDef **def,
                              VbQemuCaps *caps, gboolean align_memory, GError **error)
{
    g_autofree char *base = g_strconcat((*def)->name, "_VARS.fd", NULL);
    g_autofree char *nvram = g_build_filename(list->paths->nvram_dir, base, NULL);
    GError *local = NULL;
    VbDomainDef *filled;
    gboolean changed = FALSE;

    filled = vb_qemu_firmware_fill(*def, caps, nvram, &local);
    if (filled == NULL && local == NULL)
        filled = vb_qemu_firmware_default_nvram(*def, nvram, &local);
    if (!take(def, filled, local, &changed, error))
        return FALSE;
    if (align_memory) {
        filled = vb_domain_def_with_aligned_memory(*def, &local);
        if (!take(def, filled, local, &changed, error))
            return FALSE;
    }
    return !changed ||
           vb_domain_use_live_def(dom, *def, "the definition resolved for the start", error);
}
