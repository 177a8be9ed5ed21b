/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "bus-names.h"
#include "bus-service.h"
#include "qemu-caps.h"
#include "vb-error.h"

/* Names the domain for polkit rules; the parsed definition is reused. */
static void
define_xml_prepare(VbBusCall *call)
{
    const char *xml;
    VbDomainDef *def;
    char uuid[37];

    g_variant_get(call->parameters, "(&su)", &xml, NULL);
    def = vb_domain_parse_config(xml, NULL);
    if (def == NULL)
        return; /* reported after authorization */
    vb_uuid_format(def->uuid, uuid);
    call->detail_domain = g_strdup(def->name);
    call->detail_uuid = g_strdup(uuid);
    call->prepared = def;
    call->prepared_free = (GDestroyNotify)vb_domain_def_free;
}

static GVariant *
define_xml(VbBusCall *call, GError **error)
{
    const char *xml;
    guint32 flags;
    g_autoptr(VbDomainObj) dom = NULL;

    g_variant_get(call->parameters, "(&su)", &xml, &flags);
    if (!vb_bus_check_flags(flags, VB_DEFINE_VALIDATE, "DefineXML", error))
        return NULL;
    /* parsed again here, on the worker: the defaults and Unsupported need the QEMU binary's
     * capabilities, which the prepare step (main thread) must not probe */
    /* a new domain is kept as a stub (issue 16): only its path is answered */
    dom = vb_domain_define_full(call->service->domains, xml, flags | VB_DEFINE_STUB, error);
    if (dom == NULL)
        return NULL;
    return g_variant_new("(o)", dom->object_path);
}

static GVariant *
create_xml(VbBusCall *call, GError **error)
{
    const char *xml;
    guint32 flags;
    g_autoptr(VbDomainObj) dom = NULL;

    g_variant_get(call->parameters, "(&su)", &xml, &flags);
    if (!vb_bus_check_flags(flags, VB_START_PAUSED | VB_START_AUTODESTROY | VB_START_VALIDATE,
                            "CreateXML", error))
        return NULL;
    dom = vb_domain_create_xml(call->service->domains, xml, flags,
                               vb_bus_owner(call), error);
    if (dom == NULL)
        return NULL;
    return g_variant_new("(o)", dom->object_path);
}

/* LookupByName, LookupByUUID: the path of the domain, loaded or kept as a stub (never
 * loaded for this: issue 16). */
static GVariant *
lookup(VbBusCall *call, GError **error)
{
    const char *key;
    gboolean by_name = g_str_equal(call->method->method, "LookupByName");
    g_autofree char *path = NULL;
    VbDomainId id = { 0 };

    g_variant_get(call->parameters, "(&s)", &key);
    if (!vb_domain_list_identify(call->service->domains, by_name ? key : NULL,
                                 by_name ? NULL : key, &id, error))
        return NULL;
    g_free(id.name);
    path = vb_bus_domain_path(id.uuid_str);
    return g_variant_new("(o)", path);
}

/* Names the domain a lookup finds, for polkit rules (worker thread, before
 * authorization); a name or uuid that finds nothing adds no details. */
static void
lookup_prepare(VbBusCall *call)
{
    const char *key;
    gboolean by_name = g_str_equal(call->method->method, "LookupByName");
    VbDomainId id = { 0 };

    g_variant_get(call->parameters, "(&s)", &key);
    if (!vb_domain_list_identify(call->service->domains, by_name ? key : NULL,
                                 by_name ? NULL : key, &id, NULL))
        return;
    call->detail_domain = g_steal_pointer(&id.name);
    call->detail_uuid = g_strdup(id.uuid_str);
}

/* The paths of @ids (VbDomainId, in their order) that are in @readable (all when NULL). */
static GVariant *
domain_paths(GPtrArray *ids, GHashTable *readable)
{
    GVariantBuilder b;

    g_variant_builder_init(&b, G_VARIANT_TYPE("ao"));
    for (guint i = 0; i < ids->len; i++) {
        g_autofree char *path = vb_bus_domain_path(((VbDomainId *)ids->pdata[i])->uuid_str);

        if (readable == NULL || g_hash_table_contains(readable, path))
            g_variant_builder_add(&b, "o", path);
    }
    return g_variant_new("(ao)", &b);
}

static void
list_readable(VbBusCall *call, GHashTable *readable, gpointer user_data)
{
    g_autoptr(GPtrArray) doms = user_data;

    vb_bus_call_return(call, domain_paths(doms, readable), NULL);
}

/* A caller polkit decides about gets the domains it may read (one read
 * check per domain, verb listdomains). */
static GVariant *
list_domains(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autoptr(GPtrArray) doms = NULL;
    GHashTable *objects;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, VB_LIST_ALL_FLAGS, "ListDomains", error))
        return NULL;
    doms = vb_domain_list_collect_ids(call->service->domains, flags);
    if (!vb_bus_call_filters_reads(call))
        return domain_paths(doms, NULL);
    objects = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                    (GDestroyNotify)g_hash_table_unref);
    for (guint i = 0; i < doms->len; i++) {
        const VbDomainId *id = doms->pdata[i];

        g_hash_table_insert(objects, vb_bus_domain_path(id->uuid_str),
                            vb_bus_read_details_new(id->name, id->uuid_str));
    }
    vb_bus_filter_readable(call, "listdomains", objects, list_readable,
                           g_steal_pointer(&doms));
    return NULL; /* kept: answered when the checks are done */
}

static GVariant *
get_capabilities(VbBusCall *call, GError **error)
{
    g_autofree char *xml = vb_qemu_caps_host_xml(call->service->host_uuid,
                                                 call->service->paths->caps_dir, error);

    if (xml == NULL)
        return NULL;
    return g_variant_new("(s)", xml);
}

/*
 * Restore, after the checks on its arguments (save, with the path): opens
 * the image once and reads its header (vb_restore_image_open(); a regular
 * file only, never blocking), then asks for the second round of checks
 * naming the domain the image holds: save, and define, since a restore
 * brings the definition the image (or the replacement XML) holds: its
 * emulator, disks and command line run as root.
 */
static void
restore_load(VbBusCall *call)
{
    const char *path;
    VbRestoreImage *image;

    g_variant_get(call->parameters, "(&s&su)", &path, NULL, NULL);
    image = vb_restore_image_open(path, call->caller->uid, &call->load_error);
    if (image == NULL)
        return;
    call->detail_domain = g_strdup(vb_restore_image_get_name(image));
    call->detail_uuid = g_strdup(vb_restore_image_get_uuid(image));
    call->prepared = image;
    call->prepared_free = (GDestroyNotify)vb_restore_image_free;
    call->action = VB_ACTION_SAVE;
    call->also_action = VB_ACTION_DEFINE;
}

static GVariant *
restore(VbBusCall *call, GError **error)
{
    const char *path, *xml;
    guint32 flags;
    g_autoptr(VbJob) job = NULL;
    g_autofree char *job_path = NULL;

    g_variant_get(call->parameters, "(&s&su)", &path, &xml, &flags);
    if (!vb_bus_check_flags(flags, VB_SAVE_BYPASS_CACHE | VB_SAVE_RUNNING | VB_SAVE_PAUSED,
                            "Restore", error))
        return NULL;
    if (call->prepared == NULL) {
        g_set_error(error, VB_ERROR, VB_ERROR_INTERNAL, "Restore: the image was not opened");
        return NULL;
    }
    job = vb_domain_restore(call->service->domains, g_steal_pointer(&call->prepared), xml,
                            flags, vb_bus_owner(call), error);
    if (job == NULL)
        return NULL;
    job_path = vb_bus_job_path(vb_job_get_id(job));
    return g_variant_new("(o)", job_path);
}

const VbBusMethod vb_bus_manager_methods[] = {
    { "DefineXML", VB_ACTION_DEFINE, FALSE, define_xml, define_xml_prepare },
    /* a new definition (emulator, disks, command line) that runs at once: both */
    { "CreateXML", VB_ACTION_MANAGE, FALSE, create_xml, define_xml_prepare,
      .also_action = VB_ACTION_DEFINE },
    { "LookupByName", VB_ACTION_READ, TRUE, lookup, lookup_prepare },
    { "LookupByUUID", VB_ACTION_READ, TRUE, lookup, lookup_prepare },
    { "ListDomains", VB_ACTION_READ, TRUE, list_domains, NULL, TRUE },
    { "GetCapabilities", VB_ACTION_READ, FALSE, get_capabilities },
    { "Restore", VB_ACTION_SAVE, FALSE, restore, .path_detail = TRUE, .load = restore_load },
    /* the XML runs on this host: define too, as for CreateXML (the details name the XML's
     * domain) */
    { "MigratePrepare", VB_ACTION_MIGRATE, FALSE, vb_bus_migrate_prepare,
      vb_bus_migrate_prepare_details, .also_action = VB_ACTION_DEFINE },
    /* define too with PERSIST_DEST or OFFLINE (vb_bus_dispatch()): it writes the definition
     * the cookie carries */
    { "MigrateFinish", VB_ACTION_MIGRATE, FALSE, vb_bus_migrate_finish,
      vb_bus_migrate_finish_details },
    /* tunnelled migration (issue 11, part tunnel): the data calls only queue, on the main
     * thread, and are answered from the tunnel's thread once written (deferred) */
    { "MigratePrepareTunnel", VB_ACTION_MIGRATE, FALSE, vb_bus_migrate_prepare_tunnel,
      vb_bus_migrate_prepare_details, .also_action = VB_ACTION_DEFINE },
    { "MigrateTunnelData", VB_ACTION_MIGRATE, TRUE, vb_bus_migrate_tunnel_data,
      vb_bus_migrate_tunnel_prepare, TRUE },
    { "MigrateTunnelEnd", VB_ACTION_MIGRATE, TRUE, vb_bus_migrate_tunnel_end,
      vb_bus_migrate_tunnel_prepare, TRUE },
    /* virtual networks (issue 12, bus-network.c) */
    /* the details name the network of the XML, or the one found (issue 14, part unit) */
    { "NetworkDefineXML", VB_ACTION_NETWORK, FALSE, vb_bus_network_define_xml,
      vb_bus_network_xml_prepare },
    { "NetworkCreateXML", VB_ACTION_NETWORK, FALSE, vb_bus_network_create_xml,
      vb_bus_network_xml_prepare },
    { "NetworkLookupByName", VB_ACTION_READ, TRUE, vb_bus_network_lookup_by_name,
      vb_bus_network_lookup_prepare },
    { "NetworkLookupByUUID", VB_ACTION_READ, TRUE, vb_bus_network_lookup_by_uuid,
      vb_bus_network_lookup_prepare },
    { "ListNetworks", VB_ACTION_READ, TRUE, vb_bus_list_networks },
    /* the ssh data path (issue 11, part tunnel2): hands a descriptor to the tunnel's thread */
    { "MigrateTunnelAttach", VB_ACTION_MIGRATE, TRUE, vb_bus_migrate_tunnel_attach,
      vb_bus_migrate_tunnel_prepare },
    /* statistics (issue 13, part stats; bus-stats.c): inline, answered when the records
     * collected on the stats pool are in */
    { "GetAllDomainStats", VB_ACTION_READ, TRUE, vb_bus_stats_get_all_domain_stats, NULL,
      TRUE },
};
const gsize vb_bus_manager_n_methods = G_N_ELEMENTS(vb_bus_manager_methods);
