/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "bus-errors.h"
#include "bus-names.h"
#include "bus-service.h"
#include "bus-skeleton.h"
#include "domain-agent.h"
#include "vb-error.h"

/* ---- publishing: the one path from domain/ changes to the bus ---- */

typedef struct {
    VbBusService *service;
    VbDomainObj *dom;   /* nullable: ADDED holds no object (the domain may be a stub) */
    VbDomainNotifyKind kind;
    char *event;
    char *detail;
    /* ADDED: what is exported, taken when the domain was added (issue 16) */
    char *path;
    GVariant *props;
    char *autodestroy_owner;
    char *migration_owner;
} Publish;

static gboolean
publish_on_main(gpointer data)
{
    Publish *p = data;
    VbBusService *service = p->service;
    const char *path = p->dom != NULL ? p->dom->object_path : p->path;
    gboolean exported = FALSE;

    vb_bus_service_note_activity(service);
    g_mutex_lock(&service->publish_lock);
    if (!g_atomic_int_get(&service->stopping)) {
        if (p->kind == VB_DOMAIN_NOTIFY_ADDED) {
            vb_bus_domain_export_add(service, path, p->props, p->autodestroy_owner,
                                     p->migration_owner);
            exported = TRUE;
        } else {
            exported = vb_bus_domain_export_publish(service, p->dom);
        }
    }
    if (exported) {
        /* properties first (published above), then the signal that announces them */
        if (p->event != NULL && g_str_equal(p->event, VB_DOMAIN_AGENT_EVENT)) {
            /* issue 13, part agent: AgentLifecycle(state, reason), detail "STATE REASON" */
            guint st = 0, why = 0;

            if (p->detail != NULL && sscanf(p->detail, "%u %u", &st, &why) == 2) {
                vb_bus_domain_emit(service, path, NULL, "AgentLifecycle",
                                   g_variant_new("(uu)", st, why));
                /* libvirt-dbus's name of the same event (issue 13, part misc) */
                vb_bus_domain_emit(service, path, NULL, "AgentEvent",
                                   g_variant_new("(uu)", st, why));
            }
        } else if (vb_bus_memev_emit(service, path, p->event, p->detail)) {
            /* issue 13, part memev: "signal:NAME", the parameters printed */
        } else if (p->event != NULL && vb_bus_hotplug_emit(service, path, p->event, p->detail)) {
            /* issue 13, part hotplug: DeviceAdded, DeviceRemoved, DeviceRemovalFailed */
        } else if (p->event != NULL) {
            vb_bus_domain_emit(service, path, NULL, "Lifecycle",
                               g_variant_new("(ss)", p->event,
                                             p->detail != NULL ? p->detail : ""));
        }
        if (p->kind == VB_DOMAIN_NOTIFY_REMOVED) {
            vb_bus_domain_export_remove(service, path);
            vb_bus_callers_forget_path(service, path);
        }
    }
    g_mutex_unlock(&service->publish_lock);
    vb_domain_obj_unref(p->dom);
    g_free(p->event);
    g_free(p->detail);
    g_free(p->path);
    g_clear_pointer(&p->props, g_variant_unref);
    g_free(p->autodestroy_owner);
    g_free(p->migration_owner);
    g_free(p);
    return G_SOURCE_REMOVE;
}

static void
queue_publish(VbBusService *service, VbDomainObj *dom, VbDomainNotifyKind kind,
              const char *event, const char *detail)
{
    Publish *p = g_new0(Publish, 1);

    p->service = service;
    if (kind == VB_DOMAIN_NOTIFY_ADDED) {
        /* the properties now, so the object need not live until the main thread runs:
         * a domain kept as a stub is dropped as soon as it is added */
        p->path = g_strdup(dom->object_path);
        p->props = vb_bus_domain_props_new(dom, &p->autodestroy_owner, &p->migration_owner);
    } else {
        p->dom = vb_domain_obj_ref(dom);
    }
    p->kind = kind;
    p->event = g_strdup(event);
    p->detail = g_strdup(detail);
    vb_bus_service_queue(service, publish_on_main, p);
}

/*
 * A change of the run state alone (Suspend, Resume, QEMU's STOP and RESUME), published
 * by the thread that made it (issue 16): State and StateReason replaced in the published
 * properties, PropertiesChanged and Lifecycle emitted from here, without the way to the
 * main thread and its full snapshot (the export's properties are swapped under
 * export_lock; emitting a signal is thread-safe). publish_lock orders this against the
 * main thread's publishing of the same object (properties before the signal, one
 * snapshot at a time). The main thread's full pass is queued first, still under the
 * lock, for anything else that changed with it.
 */
static void
publish_run_state(VbBusService *service, VbDomainObj *dom, const char *event,
                  const char *detail)
{
    VbDomainState state;
    VbDomainReason reason;

    g_mutex_lock(&service->publish_lock);
    if (g_atomic_int_get(&service->stopping)) {
        g_mutex_unlock(&service->publish_lock);
        return;
    }
    g_mutex_lock(&dom->lock);
    state = dom->state;
    reason = dom->reason;
    g_mutex_unlock(&dom->lock);
    if (!vb_bus_domain_export_set_state(service, dom, vb_domain_state_to_string(state),
                                        vb_domain_reason_to_string(reason))) {
        /* not exported yet (its export is queued): the main thread does it all */
        queue_publish(service, dom, VB_DOMAIN_NOTIFY_CHANGED, event, detail);
        g_mutex_unlock(&service->publish_lock);
        return;
    }
    queue_publish(service, dom, VB_DOMAIN_NOTIFY_CHANGED, NULL, NULL);
    vb_bus_domain_emit(service, dom->object_path, NULL, "Lifecycle",
                       g_variant_new("(ss)", event, detail != NULL ? detail : ""));
    g_mutex_unlock(&service->publish_lock);
}

/**
 * vb_bus_domain_notify:
 *
 * The VbDomainNotifyFunc of the service: queues the change to the main
 * context, where the object is exported, updated or removed and the
 * Lifecycle signal emitted; a run-state change is published at once
 * (publish_run_state()). Any thread.
 */
void
vb_bus_domain_notify(VbDomainObj *dom, VbDomainNotifyKind kind, const char *event,
                     const char *detail, gpointer user_data)
{
    VbBusService *service = user_data;

    if (g_atomic_int_get(&service->stopping))
        return;
    if (kind == VB_DOMAIN_NOTIFY_RUN_STATE) {
        g_return_if_fail(event != NULL);
        publish_run_state(service, dom, event, detail);
        return;
    }
    queue_publish(service, dom, kind, event, detail);
}

/* ---- methods ---- */

#define GET_XML_ALLOWED_FLAGS \
    (VB_DOMAIN_DEF_FORMAT_SECURE | VB_DOMAIN_DEF_FORMAT_INACTIVE | \
     VB_DOMAIN_DEF_FORMAT_MIGRATABLE)

static GVariant *
get_xml_desc(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autofree char *xml = NULL;

    g_variant_get(call->parameters, "(u)", &flags);
    if ((flags & ~GET_XML_ALLOWED_FLAGS) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    _("GetXMLDesc: unsupported flags 0x%x"), flags & ~GET_XML_ALLOWED_FLAGS);
        return NULL;
    }
    xml = vb_domain_get_xml(call->dom, flags, error);
    if (xml == NULL)
        return NULL;
    return g_variant_new("(s)", xml);
}

static GVariant *
undefine(VbBusCall *call, GError **error)
{
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if ((flags & ~VB_UNDEFINE_ALL_FLAGS) != 0) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, _("Undefine: unsupported flags 0x%x"),
                    flags & ~VB_UNDEFINE_ALL_FLAGS);
        return NULL;
    }
    /* issue 15, part snapbus: snapshot metadata first (refused without the flag) */
    if (!vb_bus_snapshot_undefine(call, flags, error) ||
        !vb_domain_undefine(call->service->domains, call->dom, flags, error))
        return NULL;
    return g_variant_new("()");
}

/* Set of Autostart: parameters are (ssv) of Properties.Set. */
static GVariant *
set_autostart(VbBusCall *call, GError **error)
{
    g_autoptr(GVariant) value = NULL;

    g_variant_get(call->parameters, "(&s&sv)", NULL, NULL, &value);
    if (!g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN)) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG,
                    _("Autostart must be a boolean, not '%s'"), g_variant_get_type_string(value));
        return NULL;
    }
    if (!vb_domain_set_autostart(call->service->domains, call->dom,
                                 g_variant_get_boolean(value), error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
start(VbBusCall *call, GError **error)
{
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, VB_START_PAUSED | VB_START_AUTODESTROY | VB_START_FORCE_BOOT |
                                       VB_START_RESET_NVRAM,
                     "Start", error) ||
        !vb_domain_start(call->service->domains, call->dom, flags, vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

/* Shutdown and Reboot: 0, ACPI_POWER_BTN (1), GUEST_AGENT (2) or both (issue 13) */
static GVariant *
shutdown(VbBusCall *call, GError **error)
{
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, VB_POWER_ACPI_POWER_BTN | VB_POWER_GUEST_AGENT, "Shutdown",
                            error) ||
        !vb_domain_shutdown_flags(call->service->domains, call->dom, flags, FALSE,
                                  vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
reboot(VbBusCall *call, GError **error)
{
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, VB_POWER_ACPI_POWER_BTN | VB_POWER_GUEST_AGENT, "Reboot",
                            error) ||
        !vb_domain_shutdown_flags(call->service->domains, call->dom, flags, TRUE,
                                  vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
reset(VbBusCall *call, GError **error)
{
    if (!vb_domain_reset(call->service->domains, call->dom, vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
destroy(VbBusCall *call, GError **error)
{
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, VB_DESTROY_GRACEFUL, "Destroy", error) ||
        !vb_domain_destroy(call->service->domains, call->dom, flags, vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
suspend(VbBusCall *call, GError **error)
{
    if (!vb_domain_suspend(call->service->domains, call->dom, vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
resume(VbBusCall *call, GError **error)
{
    if (!vb_domain_resume(call->service->domains, call->dom, vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
get_control_info(VbBusCall *call, GError **error)
{
    VbDomainControlInfo info;
    GVariantBuilder b;
    gint64 now = g_get_monotonic_time();

    vb_domain_get_control_info(call->dom, &info);
    g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&b, "{sv}", "state", g_variant_new_string(info.state));
    g_variant_builder_add(&b, "{sv}", "job", g_variant_new_string(info.job ? info.job : ""));
    g_variant_builder_add(&b, "{sv}", "owner",
                          g_variant_new_string(info.owner ? info.owner : ""));
    g_variant_builder_add(&b, "{sv}", "since", g_variant_new_int64(info.since));
    g_variant_builder_add(&b, "{sv}", "duration",
                          g_variant_new_uint64(info.since > 0 ? (guint64)(now - info.since)
                                                              : 0));
    g_variant_builder_add(&b, "{sv}", "waiters", g_variant_new_uint32(info.waiters));
    g_variant_builder_add(&b, "{sv}", "async_job",
                          g_variant_new_string(info.async_job ? info.async_job : ""));
    g_variant_builder_add(&b, "{sv}", "async_owner",
                          g_variant_new_string(info.async_owner ? info.async_owner : ""));
    g_variant_builder_add(&b, "{sv}", "async_phase", g_variant_new_string(info.async_phase));
    g_variant_builder_add(&b, "{sv}", "async_since", g_variant_new_int64(info.async_since));
    vb_domain_control_info_clear(&info);
    return g_variant_new("(a{sv})", &b);
}

static GVariant *
qemu_monitor_command(VbBusCall *call, GError **error)
{
    const char *json;
    g_autofree char *reply = NULL;

    g_variant_get(call->parameters, "(&s)", &json);
    reply = vb_domain_qemu_monitor_command(call->service->domains, call->dom, json,
                                           vb_bus_owner(call), error);
    if (reply == NULL)
        return NULL;
    return g_variant_new("(s)", reply);
}

/* InterfaceAddresses(u source) -> a(ssa(sus)): each address as (address, prefix,
 * "ipv4" | "ipv6"); issue 12, part addresses */
static GVariant *
interface_addresses(VbBusCall *call, GError **error)
{
    guint32 source;
    g_autoptr(GPtrArray) ifaces = NULL;
    GVariantBuilder b;

    g_variant_get(call->parameters, "(u)", &source);
    ifaces = vb_domain_interface_addresses(call->service->domains, call->service->networks,
                                           call->dom, source, vb_bus_owner(call), error);
    if (ifaces == NULL)
        return NULL;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a(ssa(sus))"));
    for (guint i = 0; i < ifaces->len; i++) {
        const VbGuestInterface *gi = g_ptr_array_index(ifaces, i);

        g_variant_builder_open(&b, G_VARIANT_TYPE("(ssa(sus))"));
        g_variant_builder_add(&b, "s", gi->name != NULL ? gi->name : "");
        g_variant_builder_add(&b, "s", gi->hwaddr != NULL ? gi->hwaddr : "");
        g_variant_builder_open(&b, G_VARIANT_TYPE("a(sus)"));
        for (guint j = 0; j < gi->addrs->len; j++) {
            const VbGuestIPAddress *a = &g_array_index(gi->addrs, VbGuestIPAddress, j);

            g_variant_builder_add(&b, "(sus)", a->addr, a->prefix,
                                  a->type == 0 ? "ipv4" : "ipv6");
        }
        g_variant_builder_close(&b);
        g_variant_builder_close(&b);
    }
    return g_variant_new("(a(ssa(sus)))", &b);
}

/* ---- the guest agent (issue 13, part agent) ---- */

static GVariant *
fs_freeze_thaw(VbBusCall *call, gboolean freeze, GError **error)
{
    g_autofree const char **mps = NULL;
    guint32 flags;
    int n;

    g_variant_get(call->parameters, "(^a&su)", &mps, &flags);
    if (!vb_bus_check_flags(flags, 0, freeze ? "FSFreeze" : "FSThaw", error))
        return NULL;
    n = freeze ? vb_domain_agent_freeze(call->service->domains, call->dom, mps,
                                        vb_bus_owner(call), error)
               : vb_domain_agent_thaw(call->service->domains, call->dom, mps,
                                      vb_bus_owner(call), error);
    if (n < 0)
        return NULL;
    return g_variant_new("(u)", (guint32)n);
}

static GVariant *
fs_freeze(VbBusCall *call, GError **error)
{
    return fs_freeze_thaw(call, TRUE, error);
}

static GVariant *
fs_thaw(VbBusCall *call, GError **error)
{
    return fs_freeze_thaw(call, FALSE, error);
}

/* GetFSInfo(u flags) -> a(sssas): mountpoint, name, fstype, disk aliases (libvirt-dbus) */
static GVariant *
get_fs_info(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autoptr(GPtrArray) fss = NULL;
    GStrv *aliases = NULL;
    GVariantBuilder b;
    GVariant *out;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, 0, "GetFSInfo", error))
        return NULL;
    fss = vb_domain_agent_fsinfo(call->service->domains, call->dom, vb_bus_owner(call),
                                 &aliases, error);
    if (fss == NULL)
        return NULL;
    g_variant_builder_init(&b, G_VARIANT_TYPE("a(sssas)"));
    for (guint i = 0; i < fss->len; i++) {
        const VbGuestFS *fs = g_ptr_array_index(fss, i);

        g_variant_builder_open(&b, G_VARIANT_TYPE("(sssas)"));
        g_variant_builder_add(&b, "s", fs->mountpoint);
        g_variant_builder_add(&b, "s", fs->name);
        g_variant_builder_add(&b, "s", fs->fstype);
        g_variant_builder_open(&b, G_VARIANT_TYPE("as"));
        /* libvirt's: the domain's disk targets, those that matched */
        for (guint j = 0; aliases[i][j] != NULL; j++) {
            if (*aliases[i][j] != '\0')
                g_variant_builder_add(&b, "s", aliases[i][j]);
        }
        g_variant_builder_close(&b);
        g_variant_builder_close(&b);
    }
    out = g_variant_new("(a(sssas))", &b);
    vb_domain_agent_aliases_free(aliases);
    return out;
}

static GVariant *
get_time(VbBusCall *call, GError **error)
{
    guint32 flags;
    gint64 sec;
    guint nsec;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, 0, "GetTime", error) ||
        !vb_domain_agent_get_time(call->service->domains, call->dom, vb_bus_owner(call), &sec,
                                  &nsec, error))
        return NULL;
    return g_variant_new("((tu))", (guint64)MAX(sec, 0), nsec);
}

#define VB_TIME_SYNC 1u

static GVariant *
set_time(VbBusCall *call, GError **error)
{
    guint64 sec;
    guint32 nsec, flags;

    g_variant_get(call->parameters, "(tuu)", &sec, &nsec, &flags);
    if (!vb_bus_check_flags(flags, VB_TIME_SYNC, "SetTime", error))
        return NULL;
    if (sec > G_MAXINT64) {
        g_set_error(error, VB_ERROR, VB_ERROR_INVALID_ARG, "SetTime: seconds out of range");
        return NULL;
    }
    if (!vb_domain_agent_set_time(call->service->domains, call->dom, (gint64)sec, nsec,
                                  (flags & VB_TIME_SYNC) != 0, vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

/* libvirt's VIR_DOMAIN_GET_HOSTNAME_LEASE (1) / AGENT (2); 0 is the agent */
static GVariant *
get_hostname(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autofree char *host = NULL;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, 3, "GetHostname", error))
        return NULL;
    if (flags & 1) {
        g_set_error_literal(error, VB_ERROR, VB_ERROR_NOT_SUPPORTED,
                            "GetHostname: the LEASE source (1) is not supported; use the "
                            "agent (0 or 2)");
        return NULL;
    }
    host = vb_domain_agent_hostname(call->service->domains, call->dom, vb_bus_owner(call),
                                    error);
    if (host == NULL)
        return NULL;
    return g_variant_new("(s)", host);
}

static GVariant *
get_guest_info(VbBusCall *call, GError **error)
{
    guint32 types, flags;
    g_autoptr(GVariant) info = NULL;

    g_variant_get(call->parameters, "(uu)", &types, &flags);
    if (!vb_bus_check_flags(flags, 0, "GetGuestInfo", error))
        return NULL;
    info = vb_domain_agent_guest_info(call->service->domains, call->dom, types,
                                      vb_bus_owner(call), error);
    if (info == NULL)
        return NULL;
    return g_variant_new("(@a{sv})", info);
}

#define VB_PASSWORD_ENCRYPTED 1u

static GVariant *
set_user_password(VbBusCall *call, GError **error)
{
    const char *user, *password;
    guint32 flags;

    g_variant_get(call->parameters, "(&s&su)", &user, &password, &flags);
    if (!vb_bus_check_flags(flags, VB_PASSWORD_ENCRYPTED, "SetUserPassword", error) ||
        !vb_domain_agent_set_password(call->service->domains, call->dom, user, password,
                                      (flags & VB_PASSWORD_ENCRYPTED) != 0, vb_bus_owner(call),
                                      error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
qemu_agent_command(VbBusCall *call, GError **error)
{
    const char *json;
    gint32 timeout;
    guint32 flags;
    g_autofree char *reply = NULL;

    g_variant_get(call->parameters, "(&siu)", &json, &timeout, &flags);
    if (!vb_bus_check_flags(flags, 0, "QemuAgentCommand", error))
        return NULL;
    reply = vb_domain_qemu_agent_command(call->service->domains, call->dom, json, timeout,
                                         vb_bus_owner(call), error);
    if (reply == NULL)
        return NULL;
    return g_variant_new("(s)", reply);
}

/* ---- jobs and long operations: each returns its Job object's path ---- */

#define SAVE_FLAGS (VB_SAVE_BYPASS_CACHE | VB_SAVE_RUNNING | VB_SAVE_PAUSED | VB_SAVE_COMPRESS)
#define DUMP_FLAGS (VB_DUMP_CRASH | VB_DUMP_LIVE | VB_DUMP_BYPASS_CACHE | VB_DUMP_RESET | \
                    VB_DUMP_MEMORY_ONLY)

static GVariant *
get_job_stats(VbBusCall *call, GError **error)
{
    guint32 flags;
    g_autoptr(VbJob) job = NULL;
    g_autoptr(GVariant) stats = NULL;
    GVariantDict d;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, VB_JOB_STATS_COMPLETED, "GetJobStats", error))
        return NULL;
    stats = vb_domain_get_job_stats(call->dom, flags, &job);
    g_variant_dict_init(&d, stats);
    if (job != NULL) {
        g_autofree char *path = vb_bus_job_path(vb_job_get_id(job));
        VbJobInfo info = { 0 };

        g_variant_dict_insert(&d, "job", "o", path);
        vb_job_get_info(job, &info);
        if (info.error != NULL) {
            g_autoptr(GError) copy = g_error_copy(info.error);

            vb_error_convert(&copy);
            g_variant_dict_insert(&d, "error_name", "s", vb_bus_error_name(copy->code));
        }
        vb_job_info_clear(&info);
    }
    return g_variant_new("(@a{sv})", g_variant_dict_end(&d));
}

static GVariant *
abort_job(VbBusCall *call, GError **error)
{
    if (!vb_domain_abort_job(call->service->domains, call->dom, 0, vb_bus_owner(call), error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
save(VbBusCall *call, GError **error)
{
    const char *path, *xml;
    guint32 flags;

    g_variant_get(call->parameters, "(&s&su)", &path, &xml, &flags);
    if (!vb_bus_check_flags(flags, SAVE_FLAGS, "Save", error))
        return NULL;
    return vb_bus_job_reply(vb_domain_save(call->service->domains, call->dom, path, xml, flags,
                                    vb_bus_owner(call), call->caller->uid, error));
}

static GVariant *
managed_save(VbBusCall *call, GError **error)
{
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, SAVE_FLAGS, "ManagedSave", error))
        return NULL;
    return vb_bus_job_reply(vb_domain_managed_save(call->service->domains, call->dom, flags,
                                            vb_bus_owner(call), error));
}

static GVariant *
managed_save_remove(VbBusCall *call, GError **error)
{
    guint32 flags;

    g_variant_get(call->parameters, "(u)", &flags);
    if (!vb_bus_check_flags(flags, 0, "ManagedSaveRemove", error) ||
        !vb_domain_managed_save_remove(call->service->domains, call->dom, error))
        return NULL;
    return g_variant_new("()");
}

static GVariant *
core_dump(VbBusCall *call, GError **error)
{
    const char *path;
    guint32 flags;

    g_variant_get(call->parameters, "(&su)", &path, &flags);
    if (!vb_bus_check_flags(flags, DUMP_FLAGS, "CoreDump", error))
        return NULL;
    return vb_bus_job_reply(vb_domain_core_dump(call->service->domains, call->dom, path, flags,
                                         vb_bus_owner(call), call->caller->uid, error));
}

const VbBusMethod vb_bus_domain_methods[] = {
    { "Start", VB_ACTION_MANAGE, FALSE, start },
    { "Shutdown", VB_ACTION_MANAGE, FALSE, shutdown },
    { "Reboot", VB_ACTION_MANAGE, FALSE, reboot },
    { "Reset", VB_ACTION_MANAGE, FALSE, reset },
    { "Destroy", VB_ACTION_MANAGE, FALSE, destroy },
    { "Suspend", VB_ACTION_MANAGE, FALSE, suspend },
    { "Resume", VB_ACTION_MANAGE, FALSE, resume },
    { "GetControlInfo", VB_ACTION_READ, TRUE, get_control_info },
    { "GetJobStats", VB_ACTION_READ, TRUE, get_job_stats },
    { "AbortJob", VB_ACTION_MANAGE, FALSE, abort_job },
    { "Save", VB_ACTION_SAVE, FALSE, save, .path_detail = TRUE },
    { "ManagedSave", VB_ACTION_SAVE, FALSE, managed_save },
    { "ManagedSaveRemove", VB_ACTION_SAVE, FALSE, managed_save_remove },
    { "CoreDump", VB_ACTION_SAVE, FALSE, core_dump, .path_detail = TRUE },
    { "MigrateBegin", VB_ACTION_MIGRATE, FALSE, vb_bus_migrate_begin },
    { "MigratePerform", VB_ACTION_MIGRATE, FALSE, vb_bus_migrate_perform },
    { "MigrateConfirm", VB_ACTION_MIGRATE, FALSE, vb_bus_migrate_confirm },
    { "Migrate", VB_ACTION_MIGRATE, FALSE, vb_bus_migrate },
    { "MigrateStartPostCopy", VB_ACTION_MIGRATE, FALSE, vb_bus_migrate_start_postcopy },
    { "MigrateSetMaxSpeed", VB_ACTION_MIGRATE, FALSE, vb_bus_migrate_set_max_speed },
    { "MigrateGetMaxSpeed", VB_ACTION_READ, FALSE, vb_bus_migrate_get_max_speed },
    { "MigrateSetMaxDowntime", VB_ACTION_MIGRATE, FALSE, vb_bus_migrate_set_max_downtime },
    { "MigrateGetMaxDowntime", VB_ACTION_READ, FALSE, vb_bus_migrate_get_max_downtime },
    { "QemuMonitorCommand", VB_ACTION_MONITOR, FALSE, qemu_monitor_command },
    { "InterfaceAddresses", VB_ACTION_READ, FALSE, interface_addresses },
    { "GetXMLDesc", VB_ACTION_READ, TRUE, get_xml_desc },
    { "Undefine", VB_ACTION_DEFINE, FALSE, undefine },
    /* issue 15, part snapbus */
    { "SnapshotCreateXML", VB_ACTION_SNAPSHOT, FALSE, vb_bus_snapshot_create_xml },
    { "ListSnapshots", VB_ACTION_READ, FALSE, vb_bus_snapshot_list },
    { "SnapshotLookupByName", VB_ACTION_READ, FALSE, vb_bus_snapshot_lookup_by_name },
    { "SnapshotCurrent", VB_ACTION_READ, FALSE, vb_bus_snapshot_current },
    { "Set:Autostart", VB_ACTION_DEFINE, FALSE, set_autostart },
    /* the guest agent (issue 13, part agent): talking to the guest is attach (libvirt asks
     * domain:write or fs_freeze / set_time / set_password), reading its clock and name is
     * read (libvirt: domain:read); a raw command has its own action */
    { "FSFreeze", VB_ACTION_ATTACH, FALSE, fs_freeze },
    { "FSThaw", VB_ACTION_ATTACH, FALSE, fs_thaw },
    { "GetFSInfo", VB_ACTION_ATTACH, FALSE, get_fs_info },
    { "GetTime", VB_ACTION_READ, FALSE, get_time },
    { "SetTime", VB_ACTION_ATTACH, FALSE, set_time },
    { "GetHostname", VB_ACTION_READ, FALSE, get_hostname },
    { "GetGuestInfo", VB_ACTION_ATTACH, FALSE, get_guest_info },
    { "SetUserPassword", VB_ACTION_ATTACH, FALSE, set_user_password },
    { "QemuAgentCommand", VB_ACTION_AGENT, FALSE, qemu_agent_command },
    /* statistics (issue 13, part stats; bus-stats.c) */
    { "GetStats", VB_ACTION_READ, FALSE, vb_bus_stats_get_stats },
    { "MemoryStats", VB_ACTION_READ, FALSE, vb_bus_stats_memory_stats },
    { "SetMemoryStatsPeriod", VB_ACTION_MANAGE, FALSE, vb_bus_stats_set_memory_stats_period },
    { "InterfaceStats", VB_ACTION_READ, FALSE, vb_bus_stats_interface_stats },
    { "BlockStats", VB_ACTION_READ, FALSE, vb_bus_stats_block_stats },
    { "GetBlockInfo", VB_ACTION_READ, FALSE, vb_bus_stats_get_block_info },
    { "GetCPUStats", VB_ACTION_READ, FALSE, vb_bus_stats_get_cpu_stats },
    /* issue 13, part console */
    { "OpenConsole", VB_ACTION_CONSOLE, FALSE, vb_bus_open_console },
    { "OpenChannel", VB_ACTION_CONSOLE, FALSE, vb_bus_open_channel },
    { "OpenGraphicsFD", VB_ACTION_CONSOLE, FALSE, vb_bus_open_graphics_fd },
    { "Screenshot", VB_ACTION_CONSOLE, FALSE, vb_bus_screenshot },
    { "SendKey", VB_ACTION_MANAGE, FALSE, vb_bus_send_key },
    { "InjectNMI", VB_ACTION_MANAGE, FALSE, vb_bus_inject_nmi },
    { "SendProcessSignal", VB_ACTION_MANAGE, TRUE, vb_bus_send_process_signal },
    { "GetMetadata", VB_ACTION_READ, TRUE, vb_bus_get_metadata },
    { "SetMetadata", VB_ACTION_DEFINE, FALSE, vb_bus_set_metadata },
    { "Set:Title", VB_ACTION_DEFINE, FALSE, vb_bus_set_title },
    { "Set:Description", VB_ACTION_DEFINE, FALSE, vb_bus_set_description },
    /* memory and vCPUs (issue 13, part memev; bus-memev.c) */
    { "SetMemory", VB_ACTION_MANAGE, FALSE, vb_bus_memev_set_memory },
    { "SetMaxMemory", VB_ACTION_DEFINE, FALSE, vb_bus_memev_set_max_memory },
    { "SetVcpus", VB_ACTION_MANAGE, FALSE, vb_bus_memev_set_vcpus },
    { "PinVcpu", VB_ACTION_MANAGE, FALSE, vb_bus_memev_pin_vcpu },
    { "PinIOThread", VB_ACTION_MANAGE, FALSE, vb_bus_memev_pin_iothread },
    { "GetVcpuPinInfo", VB_ACTION_READ, TRUE, vb_bus_memev_get_vcpu_pin_info },
    /* devices while running (issue 13, part hotplug; bus-hotplug.c) */
    { "AttachDevice", VB_ACTION_DEFINE, FALSE, vb_bus_attach_device },
    { "DetachDevice", VB_ACTION_DEFINE, FALSE, vb_bus_detach_device },
    { "DetachDeviceAlias", VB_ACTION_DEFINE, FALSE, vb_bus_detach_device_alias },
    { "UpdateDevice", VB_ACTION_DEFINE, FALSE, vb_bus_update_device },
    /* vCPU count, IOThreads, emulator threads (issue 13, part vcpuio; bus-vcpuio.c) */
    { "GetVcpus", VB_ACTION_READ, FALSE, vb_bus_vcpuio_get_vcpus },
    { "GetIOThreadInfo", VB_ACTION_READ, FALSE, vb_bus_vcpuio_get_iothread_info },
    { "AddIOThread", VB_ACTION_MANAGE, FALSE, vb_bus_vcpuio_add_iothread },
    { "DelIOThread", VB_ACTION_MANAGE, FALSE, vb_bus_vcpuio_del_iothread },
    { "PinEmulator", VB_ACTION_MANAGE, FALSE, vb_bus_vcpuio_pin_emulator },
    { "GetEmulatorPinInfo", VB_ACTION_READ, TRUE, vb_bus_vcpuio_get_emulator_pin_info },
    { "GetPerfEvents", VB_ACTION_READ, TRUE, vb_bus_vcpuio_get_perf_events },
    { "SetPerfEvents", VB_ACTION_MANAGE, FALSE, vb_bus_vcpuio_set_perf_events },
    /* guest calls a frontend makes (issue 13, part guest2; bus-guest2.c): agent calls as
     * the other agent calls, power as Shutdown, peeks as a raw monitor command (the
     * guest's memory and disks may hold secrets), Rename as a define */
    { "FSTrim", VB_ACTION_ATTACH, FALSE, vb_bus_guest2_fstrim },
    { "GetGuestVcpus", VB_ACTION_ATTACH, FALSE, vb_bus_guest2_get_guest_vcpus },
    { "SetGuestVcpus", VB_ACTION_ATTACH, FALSE, vb_bus_guest2_set_guest_vcpus },
    { "PMSuspendForDuration", VB_ACTION_MANAGE, FALSE, vb_bus_guest2_pm_suspend },
    { "PMWakeup", VB_ACTION_MANAGE, FALSE, vb_bus_guest2_pm_wakeup },
    { "GetDiskErrors", VB_ACTION_READ, FALSE, vb_bus_guest2_get_disk_errors },
    { "Rename", VB_ACTION_DEFINE, FALSE, vb_bus_guest2_rename },
    { "MemoryPeek", VB_ACTION_MONITOR, FALSE, vb_bus_guest2_memory_peek },
    { "BlockPeek", VB_ACTION_MONITOR, FALSE, vb_bus_guest2_block_peek },
    /* resource tuning (issue 14, part cgroup; bus-tune.c): a Set as SetMemory (manage),
     * with CONFIG also define (bus-dispatch.c) */
    { "GetMemoryParameters", VB_ACTION_READ, TRUE, vb_bus_tune_get_memory },
    { "SetMemoryParameters", VB_ACTION_MANAGE, FALSE, vb_bus_tune_set_memory },
    { "GetSchedulerParameters", VB_ACTION_READ, TRUE, vb_bus_tune_get_scheduler },
    { "SetSchedulerParameters", VB_ACTION_MANAGE, FALSE, vb_bus_tune_set_scheduler },
    { "GetBlkioParameters", VB_ACTION_READ, TRUE, vb_bus_tune_get_blkio },
    { "SetBlkioParameters", VB_ACTION_MANAGE, FALSE, vb_bus_tune_set_blkio },
    /* block jobs of a running domain (issue 15, part blockjob; bus-blockjob.c): changing
     * a running disk is manage, as Suspend; reading a job's progress is read */
    { "GetBlockJobInfo", VB_ACTION_READ, FALSE, vb_bus_get_block_job_info },
    { "BlockJobSetSpeed", VB_ACTION_MANAGE, FALSE, vb_bus_block_job_set_speed },
    { "BlockJobAbort", VB_ACTION_MANAGE, FALSE, vb_bus_block_job_abort },
    { "BlockPull", VB_ACTION_MANAGE, FALSE, vb_bus_block_pull },
    { "BlockCommit", VB_ACTION_MANAGE, FALSE, vb_bus_block_commit },
    { "BlockCopy", VB_ACTION_MANAGE, FALSE, vb_bus_block_copy },
    { "BlockResize", VB_ACTION_MANAGE, FALSE, vb_bus_block_resize },
    { "SetBlockThreshold", VB_ACTION_MANAGE, FALSE, vb_bus_set_block_threshold },
};
const gsize vb_bus_domain_n_methods = G_N_ELEMENTS(vb_bus_domain_methods);
