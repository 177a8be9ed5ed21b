/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "bus-names.h"
#include "vb-error.h"

/**
 * vb_bus_domain_path:
 * @uuid: canonical uuid string
 *
 * Returns: (transfer full): /org/virtbus/Virt1/domain/<uuid> with '-'
 *   written as '_' (the only character of a uuid not allowed in a path).
 */
char *
vb_bus_domain_path(const char *uuid)
{
    char *path = g_strconcat(VB_BUS_DOMAIN_PATH_PREFIX, uuid, NULL);

    g_strdelimit(path + strlen(VB_BUS_DOMAIN_PATH_PREFIX), "-", '_');
    return path;
}

/**
 * vb_bus_domain_path_to_uuid:
 *
 * Returns: (transfer full) (nullable): the uuid string of a domain object
 *   path, or %NULL when @path is not one.
 */
char *
vb_bus_domain_path_to_uuid(const char *path)
{
    char *uuid;

    if (!g_str_has_prefix(path, VB_BUS_DOMAIN_PATH_PREFIX))
        return NULL;
    uuid = g_strdup(path + strlen(VB_BUS_DOMAIN_PATH_PREFIX));
    g_strdelimit(uuid, "_", '-');
    return uuid;
}

/* Returns: (transfer full): /org/virtbus/Virt1/job/<id>. */
char *
vb_bus_job_path(guint id)
{
    return g_strdup_printf(VB_BUS_JOB_PATH_PREFIX "%u", id);
}

/* @path without @prefix, when that is one path element (no '/'); else NULL */
static const char *
element_after(const char *path, const char *prefix)
{
    const char *rest;

    if (!g_str_has_prefix(path, prefix))
        return NULL;
    rest = path + strlen(prefix);
    return *rest != '\0' && strchr(rest, '/') == NULL ? rest : NULL;
}

/**
 * vb_bus_vanished_error:
 * @path: an object path at which the service exports no object
 *
 * The named error of a call on an object that is gone (undefined, deleted,
 * ended) or never was: NoDomain, NoSnapshot, NoJob or NoNetwork, by the kind
 * of object @path names (libvirt-dbus answers "Domain not found" the same
 * way), instead of GDBus's UnknownMethod. Any thread.
 *
 * Returns: %TRUE with @error set; %FALSE when @path names no kind of object
 *   of the service (GDBus's own answer is right then).
 */
gboolean
vb_bus_vanished_error(const char *path, GError **error)
{
    const char *rest;

    if (g_str_has_prefix(path, VB_BUS_DOMAIN_PATH_PREFIX)) {
        g_autofree char *uuid = g_strdup(path + strlen(VB_BUS_DOMAIN_PATH_PREFIX));
        char *slash = strchr(uuid, '/');

        if (slash == NULL && *uuid != '\0') {
            g_strdelimit(uuid, "_", '-');
            g_set_error(error, VB_ERROR, VB_ERROR_NO_DOMAIN,
                        "no domain with UUID %s: it was undefined, or never defined", uuid);
            return TRUE;
        }
        if (slash != NULL && slash != uuid && element_after(slash, "/snapshot/") != NULL) {
            *slash = '\0';
            g_strdelimit(uuid, "_", '-');
            g_set_error(error, VB_ERROR, VB_ERROR_NO_SNAPSHOT,
                        "no snapshot at %s: it was deleted, or domain %s was undefined", path,
                        uuid);
            return TRUE;
        }
        return FALSE;
    }
    rest = element_after(path, VB_BUS_JOB_PATH_PREFIX);
    if (rest != NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_NO_JOB,
                    "no job %s: it ended and its object was removed, or it never existed "
                    "(a job's object stays for a while after it ends)", rest);
        return TRUE;
    }
    rest = element_after(path, VB_BUS_NETWORK_PATH_PREFIX);
    if (rest != NULL) {
        g_autofree char *uuid = g_strdelimit(g_strdup(rest), "_", '-');

        g_set_error(error, VB_ERROR, VB_ERROR_NO_NETWORK,
                    "no network with UUID %s: it was undefined, or never defined", uuid);
        return TRUE;
    }
    return FALSE;
}
