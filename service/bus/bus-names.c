/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "bus-names.h"

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
